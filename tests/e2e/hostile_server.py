#!/usr/bin/env python3
"""hostile_server.py: a loopback STS and MCP server whose answers are well formed but hostile,
for hostile_test.sh (issue 14: failures must be labelled for what they are, and nothing a server
sends may reach the terminal or the next request unchecked). Prints its port on the first line of
stdout; every request is logged to --log as "METHOD PATH [detail]". By path:

  /sts-expired    STS whose AssumeRole answers with credentials that expired an hour ago
  /mcp/MODE       an MCP server (initialize, notifications/initialized, DELETE as usual) whose
                  tools/call answer depends on MODE:
    ping          an event stream that sends a ping request first and waits (3 s at most) for
                  its answer before sending the result, "ping answered" or "ping not answered"
    long-id       an event stream with a first event "first-1", then one whose id is 1 MiB long,
                  then closed: the resumption (GET) is answered with the result
    control-id    the same with an id holding an escape sequence and a control byte
    deep          a JSON result whose structuredContent nests 1,500 arrays deep
    other-id      a JSON reply whose id is not the request's (1000 more)
    forge         a JSON-RPC error whose message holds newlines, a JSON log line and escape
                  sequences
    bad-utf8      HTTP 400 with a text body that is not UTF-8 (bytes 0xff 0xfe)

The resumption GET is logged with repr(Last-Event-ID) cut to 60 characters and its length; the
answer to the ping as "ping answered". The server exits by itself after --lifetime seconds."""
import argparse
import json
import threading
import time
import urllib.parse

from loopback_http import QuietHandler, serve

PING_WAIT_SECONDS = 3
DEEP = 1500


class Handler(QuietHandler):
    def _record(self, detail=""):
        with self.server.log_lock, open(self.server.log_path, "a") as log:
            log.write(f"{self.command} {self.path}{detail}\n")

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json(self, status, message, extra_headers=()):
        body = json.dumps(message).encode()
        self.send_body(status, [("Content-Type", "application/json"), *extra_headers], body)

    def _stream_start(self):
        """An event stream whose end is the end of the connection."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def _event(self, data=b"", event_id=None):
        chunk = b""
        if event_id is not None:
            chunk += b"id: " + event_id + b"\n"
        chunk += b"data: " + data + b"\n\n"
        self.wfile.write(chunk)
        self.wfile.flush()

    @staticmethod
    def _result(request_id, text):
        return {"jsonrpc": "2.0", "id": request_id,
                "result": {"content": [{"type": "text", "text": text}]}}

    # --- STS --------------------------------------------------------------------------------

    def _sts(self, body):
        form = urllib.parse.parse_qs(body.decode())
        action = form.get("Action", [""])[0]
        self._record(f" {action}")
        account = "111111111111"
        if action == "AssumeRole":
            account = form["RoleArn"][0].split(":")[4]
            expired = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
            result = (f"<Credentials><AccessKeyId>ASIAEXPIRED</AccessKeyId><SecretAccessKey>s"
                      f"</SecretAccessKey><SessionToken>t</SessionToken><Expiration>{expired}"
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

    # --- MCP --------------------------------------------------------------------------------

    def _tools_call(self, mode, request_id):
        if mode == "ping":
            self._stream_start()
            self._event(json.dumps({"jsonrpc": "2.0", "id": "srv-ping-1", "method": "ping"})
                        .encode(), b"p-1")
            answered = self.server.ping_answered.wait(PING_WAIT_SECONDS)
            text = "ping answered" if answered else "ping not answered"
            self._event(json.dumps(self._result(request_id, text)).encode(), b"p-2")
        elif mode in ("long-id", "control-id"):
            self.server.pending_id = request_id
            hostile = b"x" * (1 << 20) if mode == "long-id" else b"bad\x1b[31m\x01id"
            self._stream_start()
            self._event(event_id=b"first-1")
            self._event(event_id=hostile)
        elif mode == "deep":  # as text: Python's json nests no deeper than its recursion limit
            nested = "[" * DEEP + "]" * DEEP
            body = (f'{{"jsonrpc":"2.0","id":{request_id},"result":{{"content":[],'
                    f'"structuredContent":{{"deep":{nested}}}}}}}')
            self.send_body(200, [("Content-Type", "application/json")], body.encode())
        elif mode == "other-id":
            self._json(200, self._result(request_id + 1000, "an answer to another request"))
        elif mode == "forge":
            message = ("denied\n2099-01-01T00:00:00.000Z ERROR [999999999999] forged text line\n"
                       '{"time":"2099-01-01T00:00:00.000Z","level":"error","message":"forged"}'
                       "\r\x1b[2K\x1b[31mred\x1b[0m")
            self._json(200, {"jsonrpc": "2.0", "id": request_id,
                             "error": {"code": -32000, "message": message}})
        elif mode == "bad-utf8":
            self.send_body(400, [("Content-Type", "text/plain")],
                           b"bad \xff\xfe bytes\nforged line")
        else:
            self._json(200, self._result(request_id, "ok"))

    def _mcp_post(self, mode, body):
        message = json.loads(body or b"{}")
        method = message.get("method")
        if method is None and message.get("id") == "srv-ping-1":
            self._record(" ping answered")
            self.server.ping_answered.set()
            self.send_body(202, [], b"")
            return
        self._record(f" {method}")
        if method == "initialize":
            result = {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
                      "serverInfo": {"name": "hostile", "version": "1"}}
            self._json(200, {"jsonrpc": "2.0", "id": message["id"], "result": result},
                       [("Mcp-Session-Id", "hostile-session")])
        elif "id" not in message:
            self.send_body(202, [], b"")
        elif method == "tools/call":
            self._tools_call(mode, message["id"])
        else:
            self._json(200, {"jsonrpc": "2.0", "id": message["id"], "result": {}})

    def _mcp_resume(self):
        last = self.headers.get("Last-Event-ID")
        self._record(f" Last-Event-ID {last!r:.60} length {len(last or '')}")
        self._stream_start()
        text = f"resumed after {last}"
        self._event(json.dumps(self._result(self.server.pending_id, text)).encode(), b"r-1")

    def do_POST(self):
        body = self._read_body()
        if self.path == "/sts-expired":
            self._sts(body)
        elif self.path.startswith("/mcp/"):
            self._mcp_post(self.path[len("/mcp/"):], body)
        else:
            self._record()
            self.send_body(404, [], b"")

    def do_GET(self):
        if self.path.startswith("/mcp/"):
            self._mcp_resume()
        else:
            self._record()
            self.send_body(404, [], b"")

    def do_DELETE(self):
        self._record()
        self.send_body(200, [], b"")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--lifetime", type=float, default=240)
    args = parser.parse_args()
    serve(Handler, args.lifetime, log_path=args.log, log_lock=threading.Lock(),
          ping_answered=threading.Event(), pending_id=0)


if __name__ == "__main__":
    main()
