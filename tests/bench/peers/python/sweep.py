#!/usr/bin/python3
"""sweep.py: the sweep of tests/bench/sweep.sh written with boto3 and threads, to measure opsrun
against. For each account of a registry file, on a ThreadPoolExecutor of --concurrency
workers: STS AssumeRole from the environment's credentials into the account's role, then an MCP
session as that role (initialize, notifications/initialized, tools/call aws___list_regions)
over Streamable HTTP with `requests`, every request SigV4-signed by botocore (service aws-mcp,
the operating region, as opsrun signs), and the session DELETEd. Every account must succeed:
failures are listed on stderr, exit 1. Prints "sweep seconds S" (the pool's wall time).
Usage: sweep.py --registry FILE --sts URL --mcp URL --role-name NAME --concurrency C
Credentials and region: botocore's usual chain (AWS_ACCESS_KEY_ID..., AWS_REGION).
Debian's python3-boto3 and python3-requests: run it with /usr/bin/python3.
"""
import argparse
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

PROTOCOL_VERSION = "2025-11-25"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("registry", "sts", "mcp", "role-name"):
        parser.add_argument("--" + name, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    return parser.parse_args()


class McpSession:
    """One MCP session over Streamable HTTP, each request signed with `credentials`."""

    def __init__(self, http, url, credentials, region):
        self.http = http
        self.url = url
        self.signer = SigV4Auth(credentials, "aws-mcp", region)
        self.headers = {"Accept": "application/json, text/event-stream"}
        self.next_id = 0

    def send(self, method, body=None):
        headers = dict(self.headers)
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        request = AWSRequest(method=method, url=self.url, data=data, headers=headers)
        self.signer.add_auth(request)
        response = self.http.request(method, self.url, data=data, headers=dict(request.headers))
        response.raise_for_status()
        return response

    def request(self, method, params):
        self.next_id += 1
        message = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        response = self.send("POST", message)
        reply = reply_to(response, self.next_id)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error'].get('message')}")
        return response, reply["result"]

    def notify(self, method):
        self.send("POST", {"jsonrpc": "2.0", "method": method})

    def open(self):
        response, result = self.request(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "bench-peer-python", "version": "1.0.0"},
            },
        )
        self.headers["Mcp-Session-Id"] = response.headers["Mcp-Session-Id"]
        self.headers["MCP-Protocol-Version"] = result["protocolVersion"]
        self.notify("notifications/initialized")

    def call_tool(self, name, arguments):
        return self.request("tools/call", {"name": name, "arguments": arguments})[1]

    def close(self):
        self.send("DELETE")


def reply_to(response, request_id):
    """The JSON-RPC reply to request_id: the body, or a message event of an SSE stream."""
    if not response.headers.get("Content-Type", "").startswith("text/event-stream"):
        return response.json()
    for event in response.text.split("\n\n"):
        data = "\n".join(line[5:].lstrip() for line in event.splitlines() if line.startswith("data:"))
        if data:
            message = json.loads(data)
            if message.get("id") == request_id:
                return message
    raise RuntimeError(f"no reply to request {request_id} in the event stream")


def main():
    args = parse_args()
    with open(args.registry, encoding="utf-8") as file:
        accounts = json.load(file)["accounts"]
    # boto3 clients are thread-safe; its connection pool as wide as the thread pool.
    sts = boto3.client("sts", endpoint_url=args.sts, config=Config(max_pool_connections=args.concurrency))
    region = sts.meta.region_name
    session_name = f"bench-python-{int(time.time())}"
    local = threading.local()  # a requests.Session (a connection pool) per worker thread

    def sweep_account(account):
        role = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account['id']}:role/{args.role_name}", RoleSessionName=session_name
        )["Credentials"]
        credentials = Credentials(role["AccessKeyId"], role["SecretAccessKey"], role["SessionToken"])
        if not hasattr(local, "http"):
            local.http = requests.Session()
        mcp = McpSession(local.http, args.mcp, credentials, region)
        mcp.open()
        try:
            result = mcp.call_tool("aws___list_regions", {})
            text = "".join(item["text"] for item in result["content"] if item["type"] == "text")
            if result.get("isError") or not text:
                raise RuntimeError(f"aws___list_regions: {text or 'no text'}")
        finally:
            mcp.close()

    def outcome(account):
        try:
            sweep_account(account)
            return None
        except Exception as error:  # every account's failure is reported, none stops the sweep
            return f"{account['id']}: {error}"

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        failures = [failure for failure in pool.map(outcome, accounts) if failure]
    seconds = time.monotonic() - started
    for failure in failures:
        print(f"sweep.py: {failure}", file=sys.stderr)
    print(f"sweep seconds {seconds:.3f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
