#!/usr/bin/env python3
"""deadline_server.py: loopback MCP endpoints for deadline_test.sh, each answering by path:

  /hang       reads every request and never answers it (a server that accepts and hangs)
  /mcp        a minimal MCP server: initialize (with a session id), notifications (202),
              tools/list (one tool, "echo"), DELETE (200)
  /sse-retry  as /mcp, but tools/list is answered by an event stream that names its first event
              (id: 1), asks the client to wait 999999999 ms before resuming (retry:) and ends
              without the reply; a resuming GET is never answered

Every request is logged as "METHOD PATH JSONRPC-METHOD" to --log. The server prints its port on
the first line of stdout and exits by itself after --lifetime seconds (default 120)."""
import argparse
import json
import time

from loopback_http import QuietHandler, serve

TOOLS = {"tools": [{"name": "echo", "description": "Echoes.", "inputSchema": {"type": "object"}}]}


class Handler(QuietHandler):
    def _record(self, method):
        with open(self.server.log_path, "a") as log:
            log.write(f"{self.command} {self.path} {method}\n")

    def _hang(self):
        time.sleep(self.server.hang_seconds)
        self.close_connection = True

    def _json(self, message_id, result, headers=()):
        body = json.dumps({"jsonrpc": "2.0", "id": message_id, "result": result}).encode()
        self.send_body(200, [("Content-Type", "application/json"), *headers], body)

    def _initialize(self, message):
        result = {"protocolVersion": message["params"]["protocolVersion"], "capabilities": {},
                  "serverInfo": {"name": "deadline_server", "version": "1"}}
        self._json(message["id"], result, [("Mcp-Session-Id", "deadline-1")])

    def _stream_without_reply(self):
        body = b"id: 1\nretry: 999999999\ndata:\n\n"
        self.send_body(200, [("Content-Type", "text/event-stream")], body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path == "/hang":  # whatever was sent: an MCP message, an STS query
            self._record("-")
            self._hang()
            return
        message = json.loads(body or b"{}")
        method = message.get("method")
        self._record(method)
        if method == "initialize":
            self._initialize(message)
        elif "id" not in message:
            self.send_body(202, [], b"")
        elif method == "tools/list" and self.path == "/sse-retry":
            self._stream_without_reply()
        elif method == "tools/list":
            self._json(message["id"], TOOLS)
        else:
            body = json.dumps({"jsonrpc": "2.0", "id": message["id"],
                               "error": {"code": -32601, "message": "Method not found"}})
            self.send_body(200, [("Content-Type", "application/json")], body.encode())

    def do_GET(self):
        self._record("-")
        self._hang()

    def do_DELETE(self):
        self._record("-")
        self.send_body(200, [], b"")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True)
    parser.add_argument("--lifetime", type=float, default=120)
    args = parser.parse_args()
    serve(Handler, args.lifetime, log_path=args.log, hang_seconds=args.lifetime)


if __name__ == "__main__":
    main()
