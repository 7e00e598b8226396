#!/usr/bin/env python3
"""credential_endpoints.py: the ECS container and EC2 instance metadata (IMDSv2) credential
endpoints on 127.0.0.1, serving one set of credentials, for end-to-end tests of the chain.

Usage: credential_endpoints.py ACCESS_KEY_ID SECRET SESSION_TOKEN EXPIRATION
Prints the port on stdout once listening; serves until killed.
  GET  /ecs/creds                         container credentials (needs Authorization: test-token)
  PUT  /latest/api/token                  an IMDSv2 token
  GET  /latest/meta-data/iam/security-credentials/       the role name (IMDSv2 token required)
  GET  /latest/meta-data/iam/security-credentials/ROLE   the credentials
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEY, SECRET, TOKEN, EXPIRATION = sys.argv[1:5]
ROLE = "opsrun-test-instance-role"
IMDS_TOKEN = "imds-token-123"
CREDS = {"AccessKeyId": KEY, "SecretAccessKey": SECRET, "Token": TOKEN, "Expiration": EXPIRATION}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/json"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):
        if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            self.reply(200, IMDS_TOKEN, "text/plain")
        else:
            self.reply(400, "bad token request", "text/plain")

    def do_GET(self):
        if self.path == "/ecs/creds":
            if self.headers.get("Authorization") != "test-token":
                self.reply(401, '{"message":"unauthorized"}')
            else:
                self.reply(200, json.dumps(dict(CREDS, RoleArn="arn:aws:iam::111111111111:role/task")))
            return
        prefix = "/latest/meta-data/iam/security-credentials/"
        if not self.path.startswith(prefix):
            self.reply(404, "not found", "text/plain")
        elif self.headers.get("X-aws-ec2-metadata-token") != IMDS_TOKEN:
            self.reply(401, "", "text/plain")
        elif self.path == prefix:
            self.reply(200, ROLE, "text/plain")
        elif self.path == prefix + ROLE:
            self.reply(200, json.dumps(dict(CREDS, Code="Success", Type="AWS-HMAC",
                                            LastUpdated="2026-01-01T00:00:00Z")))
        else:
            self.reply(404, "not found", "text/plain")


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
