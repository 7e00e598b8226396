#!/usr/bin/env python3
"""transport_server.py: a hostile HTTP(S) server on 127.0.0.1 for transport_test.sh. Prints its
port on the first line of stdout, then answers by path, whatever the method:

  /redirect        302 to /target on the same server (a client that follows it shows in the log)
  /target          200 {"jsonrpc":"2.0","id":1,"result":{}}
  /endless-json    200 application/json whose body never ends
  /endless-sse     200 text/event-stream of data lines that never end an event
  /endless-line    200 text/event-stream: one line that never ends
  /endless-xml     200 text/xml that never ends (an STS answer)
  /endless-headers 200 whose header lines never end
  /close-on-call   an MCP server that reads every tools/call, then closes the connection without
                   answering (initialize and the rest are answered on kept-alive connections)
  /sts-close-once  an STS endpoint that closes the connection on its first AssumeRole without
                   answering, and answers GetCallerIdentity and every later AssumeRole
  /huge-call       an MCP server that answers every tools/call with a JSON result of --max-bytes
                   bytes, streamed (initialize and the rest are answered as usual)
  anything else    200 {}

Every request is logged as "METHOD PATH" to --log (with the JSON-RPC method for /close-on-call
and /huge-call, the Action for /sts-close-once). Endless answers stop on their own after
--max-bytes bytes (default 1 GiB) or --max-seconds (default 60), and the whole server exits after
--lifetime seconds (default 300), so that nothing outlives the test. With --cert and --key it
speaks TLS with that (self-signed) certificate."""
import argparse
import json
import ssl
import time
import urllib.parse

from loopback_http import QuietHandler, serve

CHUNK = 64 * 1024


class Handler(QuietHandler):
    def _record(self, detail=""):
        with open(self.server.log_path, "a") as log:
            log.write(f"{self.command} {self.path}{detail}\n")

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _stream(self, status, content_type, first, piece, last=b""):
        """Sends `first`, then `piece` over and over in chunks until the limits, then `last`."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        deadline = time.monotonic() + self.server.max_seconds
        block = piece * max(1, CHUNK // len(piece))
        sent = 0
        try:
            data = first
            while sent < self.server.max_bytes and time.monotonic() < deadline:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                sent += len(data)
                data = block
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(last), last) if last else b"")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass
        self.close_connection = True

    def _endless_headers(self):
        self.send_response(200)
        self.flush_headers()  # the status line first: send_response only buffers it
        deadline = time.monotonic() + self.server.max_seconds
        sent, n = 0, 0
        try:
            while sent < self.server.max_bytes and time.monotonic() < deadline:
                line = b"X-Padding-%d: %s\r\n" % (n, b"p" * 1000)
                self.wfile.write(line)
                sent += len(line)
                n += 1
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass
        self.close_connection = True

    def _mcp(self, body, on_call):
        """An MCP server whose tools/call is on_call(message); the rest answered as usual."""
        message = json.loads(body or b"{}")
        self._record(f" {message.get('method')}")
        if message.get("method") == "tools/call":
            on_call(message)
        elif "id" not in message:
            self.send_body(202, [], b"")
        else:
            result = {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                      "serverInfo": {"name": "transport_server", "version": "1"}}
            reply = {"jsonrpc": "2.0", "id": message["id"],
                     "result": result if message.get("method") == "initialize" else {}}
            self.send_body(200, [("Content-Type", "application/json")], json.dumps(reply).encode())

    def _close_on_call(self, message):
        self.close_connection = True  # read, and never answered

    def _huge_call(self, message):
        first = b'{"jsonrpc":"2.0","id":%d,"result":{"content":[],"x":"' % message["id"]
        self._stream(200, "application/json", first, b"0123456789abcdef", last=b'"}}')

    def _sts_close_once(self, body):
        form = urllib.parse.parse_qs(body.decode())
        action = form.get("Action", [""])[0]
        self._record(f" {action}")
        if action == "AssumeRole" and not self.server.closed_an_assume_role:
            self.server.closed_an_assume_role = True
            self.close_connection = True  # read, and never answered
            return
        account = "111111111111"
        if action == "AssumeRole":
            account = form["RoleArn"][0].split(":")[4]
            expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
            result = (f"<Credentials><AccessKeyId>ASIAE2E</AccessKeyId><SecretAccessKey>s"
                      f"</SecretAccessKey><SessionToken>t</SessionToken><Expiration>{expires}"
                      f"</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROAE2E:o"
                      f"</AssumedRoleId><Arn>arn:aws:sts::{account}:assumed-role/r/o</Arn>"
                      f"</AssumedRoleUser>")
        else:
            result = (f"<Arn>arn:aws:iam::{account}:user/e2e</Arn><UserId>AIDAE2E</UserId>"
                      f"<Account>{account}</Account>")
        xml = (f'<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
               f"<{action}Result>{result}</{action}Result><ResponseMetadata><RequestId>1"
               f"</RequestId></ResponseMetadata></{action}Response>")
        self.send_body(200, [("Content-Type", "text/xml")], xml.encode())

    def _answer(self):
        body = self._read_body()
        path = self.path.split("?")[0]
        if path == "/close-on-call":
            self._mcp(body, self._close_on_call)
            return
        if path == "/huge-call":
            self._mcp(body, self._huge_call)
            return
        if path == "/sts-close-once":
            self._sts_close_once(body)
            return
        self._record()
        if path == "/redirect":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}/target")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/endless-json":
            self._stream(200, "application/json", b'{"jsonrpc":"2.0","id":1,"result":{"x":"',
                         b"0123456789abcdef")
        elif path == "/endless-sse":
            self._stream(200, "text/event-stream", b"id: 1\n", b"data: 0123456789abcdef\n")
        elif path == "/endless-line":
            self._stream(200, "text/event-stream", b"data: ", b"0123456789abcdef")
        elif path == "/endless-xml":
            self._stream(200, "text/xml", b"<AssumeRoleResponse><x>", b"0123456789abcdef")
        elif path == "/endless-headers":
            self._endless_headers()
        else:
            body = b'{"jsonrpc":"2.0","id":1,"result":{}}' if path == "/target" else b"{}"
            self.send_body(200, [("Content-Type", "application/json")], body)

    do_GET = do_POST = do_DELETE = do_PUT = _answer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--max-bytes", type=int, default=1 << 30)
    parser.add_argument("--max-seconds", type=float, default=60)
    parser.add_argument("--lifetime", type=float, default=300)
    args = parser.parse_args()
    wrap = None
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        wrap = lambda sock: context.wrap_socket(sock, server_side=True)  # noqa: E731
    serve(Handler, args.lifetime, wrap, log_path=args.log, max_bytes=args.max_bytes,
          max_seconds=args.max_seconds, closed_an_assume_role=False)


if __name__ == "__main__":
    main()
