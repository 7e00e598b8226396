#!/usr/bin/env python3
"""secrets_proxy.py: a recording HTTP proxy on 127.0.0.1 for secrets_test.sh. It forwards every
request to --upstream (the simulator's STS or MCP endpoint) and the answer back unchanged, and
appends to --secrets, one per line, every secret that crossed it: the SigV4 signature of each
Authorization header, each X-Amz-Security-Token sent, and the SecretAccessKey and SessionToken of
each STS answer, i.e. the credentials opsrun was issued and holds. Prints its port on the first
line of stdout; exits after --lifetime seconds (default 600)."""
import argparse
import http.client
import re
import threading
import urllib.parse

from loopback_http import QuietHandler, serve

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer",
              "upgrade", "proxy-connection", "accept-encoding"}
XML_SECRETS = re.compile(rb"<(SecretAccessKey|SessionToken)>\s*([^<]*?)\s*</\1>", re.S)
SIGNATURE = re.compile(r"Signature=([0-9a-f]{64})")
LOCK = threading.Lock()


class Handler(QuietHandler):
    def _keep(self, values):
        values = [v.decode() if isinstance(v, bytes) else v for v in values if v]
        if values:
            with LOCK, open(self.server.secrets_path, "a") as f:
                for v in values:
                    f.write(re.sub(r"\s+", "", v) + "\n")

    def _forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        found = SIGNATURE.findall(self.headers.get("Authorization") or "")
        found.append(self.headers.get("X-Amz-Security-Token"))
        upstream = self.server.upstream
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        try:
            # Host stays the proxy's: it is what opsrun signed
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            answer = conn.getresponse()
            data = answer.read()
            headers = answer.getheaders()
            status = answer.status
        finally:
            conn.close()
        found += [m[1] for m in XML_SECRETS.findall(data)]
        self._keep(found)
        self.send_body(status, [(n, v) for n, v in headers if n.lower() not in HOP_BY_HOP], data)

    do_GET = do_POST = do_DELETE = do_PUT = _forward


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--secrets", required=True)
    parser.add_argument("--lifetime", type=float, default=600)
    args = parser.parse_args()
    serve(Handler, args.lifetime, upstream=urllib.parse.urlsplit(args.upstream),
          secrets_path=args.secrets)


if __name__ == "__main__":
    main()
