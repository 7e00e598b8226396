"""loopback_http.py: what the test servers of tests/e2e share (transport_server.py,
secrets_proxy.py): a threaded HTTP/1.1 server on 127.0.0.1 that prints its port on the first line
of stdout, exits by itself after `lifetime` seconds, and ignores clients that hang up."""
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_body(self, status, headers, body):
        """A whole answer: the status, (name, value) headers, Content-Length and the body."""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's 5 overflows under tests' dozens of connections at once

    def handle_error(self, request, client_address):
        pass  # clients that refuse a certificate or hang up are part of the tests


def serve(handler, lifetime, wrap=None, **attributes):
    """Serves `handler` on a free port of 127.0.0.1 with `attributes` set on the server (and its
    socket passed through `wrap`, e.g. for TLS) until `lifetime` seconds have passed."""
    server = Server(("127.0.0.1", 0), handler)
    for name, value in attributes.items():
        setattr(server, name, value)
    if wrap:
        server.socket = wrap(server.socket)
    threading.Timer(lifetime, lambda: os._exit(0)).start()
    print(server.server_port, flush=True)
    sys.stdout.close()
    server.serve_forever()
