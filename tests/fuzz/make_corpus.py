#!/usr/bin/env python3
"""make_corpus.py: writes the seed corpora of tests/fuzz (corpus/NAME/*), a few well-formed
inputs per target in each target's input format (see the comment at the top of fuzz_NAME.c), so
that a short run starts from the shapes servers and users really send. Run it again after
changing a format; the files are committed."""
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

ASSUME_OK = b"""<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>ASIAEXAMPLE</AccessKeyId>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY</SecretAccessKey>
      <SessionToken>IQoJb3JpZ2luX2VjE+abc/def
        ==</SessionToken>
      <Expiration>2026-11-24T06:24:05.123Z</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <AssumedRoleId>AROAEXAMPLE:opsrun-222222222222</AssumedRoleId>
      <Arn>arn:aws:sts::222222222222:assumed-role/OpsReadOnly/opsrun-222222222222</Arn>
    </AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>
"""

IDENTITY_OK = b"""<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>arn:aws:iam::111111111111:user/ops</Arn>
    <UserId>AIDAEXAMPLE</UserId>
    <Account>111111111111</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>
"""

WEB_OK = ASSUME_OK.replace(b"AssumeRoleResponse", b"AssumeRoleWithWebIdentityResponse").replace(
    b"AssumeRoleResult", b"AssumeRoleWithWebIdentityResult")

STS_ERROR = b"""<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>AccessDenied</Code>
    <Message>User: arn:aws:iam::111111111111:user/ops is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::222222222222:role/OpsReadOnly</Message>
  </Error>
  <RequestId>uuid</RequestId>
</ErrorResponse>
"""

# fuzz_sts: byte 0 = action (0 AssumeRole, 1 GetCallerIdentity, 2 web identity) + 3 * status index
# of {200, 200, 200, 200, 400, 403, 500, 503, 302, 429, 404, 0}; byte 1 'F' fails the transport.
STS = {
    "assume_ok": bytes([0, ord("-")]) + ASSUME_OK,
    "identity_ok": bytes([1, ord("-")]) + IDENTITY_OK,
    "web_ok": bytes([2, ord("-")]) + WEB_OK,
    "assume_denied": bytes([0 + 3 * 5, ord("-")]) + STS_ERROR,
    "throttled": bytes([1 + 3 * 4, ord("-")]) + STS_ERROR.replace(b"AccessDenied", b"Throttling"),
    "server_error": bytes([0 + 3 * 6, ord("-")]) + b"<html>Internal error</html>",
    "not_xml": bytes([1, ord("-")]) + b"{\"message\": \"not xml\"}",
    "transport": bytes([0, ord("F")]),
}

SSE = {
    "mcp_stream": b"id: 7-0\ndata:\n\n: opsrun-sim\n\nevent: message\nid: 7-1\n"
                  b"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n"
                  b"event: message\nid: 7-2\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n\n",
    "line_endings": b"data: a\r\ndata: b\rdata: c\n\r\nretry: 2500\nid: x\n\n",
    "bom_and_fields": b"\xef\xbb\xbfevent: ping\ndata\ndata:  two spaces\nid\nretry: 12a\n\n",
    "unfinished": b"data: {\"partial\": tr",
}

INI = {
    "config": b"""[default]
region = us-east-1
output=json
[profile ops]
role_arn = arn:aws:iam::222222222222:role/Ops
source_profile = default ; inline comment
credential_source = Environment
# a comment
[profile\tTabbed]
s3 =
  addressing_style = path
  max_concurrent_requests = 20
[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = us-east-1
[services local]
sts =
  endpoint_url = http://127.0.0.1:1
[profile continued]
credential_process = /bin/echo
  continued line
""",
    "credentials": b"""[default]
aws_access_key_id = AKIDEXAMPLE
aws_secret_access_key = wJalrXUtnFEMI/K7MDENG
aws_session_token = FwoGZXIvYXdzEXAMPLE
[  ops  ]
AWS_ACCESS_KEY_ID=OPS
; comment
""",
    "malformed": b"[profile unterminated\nkey\n  = value\n[]\n",
}

REGISTRY = {
    "valid": b"""{
  "defaults": { "role_name": "DefaultRole", "regions": ["us-east-1"],
                "session_duration": 7200, "external_id": "x-1", "tags": { "owner": "ops", "team": "core" } },
  "accounts": [
    { "id": "111111111111", "name": "Central", "environment": "ops", "role": "central" },
    { "id": "222222222222", "name": "Production", "environment": "prod",
      "role": "workload", "role_name": "OpsReadOnly", "external_id": "x-123",
      "regions": ["us-east-1", "eu-west-1"], "session_duration": 900,
      "tags": { "team": "payments" } },
    { "id": "333333333333", "name": "Staging", "environment": "staging" }
  ]
}
""",
    "minimal": b'{"accounts": [{"id": "200000000001", "name": "a"}]}',
    "bad_id": b'{"accounts": [{"id": "12345", "name": "a"}]}',
    "two_centrals": b'{"accounts": [{"id": "111111111111", "name": "a", "role": "central"},'
                    b' {"id": "222222222222", "name": "b", "role": "central"}]}',
    "not_json": b'{"accounts": [',
    "chain": b"""{
  "defaults": { "role_chain": ["arn:aws:iam::111111111111:role/OpsHub", "OpsReadOnly"],
                "regions": "enabled" },
  "accounts": [
    { "id": "222222222222", "name": "Production", "external_id": "x-123" },
    { "id": "333333333333", "name": "Staging", "role_chain": [
        { "role": "arn:aws:iam::111111111111:role/OpsHub", "external_id": "hub-1" },
        { "role": "arn:aws:iam::333333333333:role/path/Ops", "external_id": "x-3" } ] },
    { "id": "444444444444", "name": "Gone", "exclude": true }
  ]
}
""",
    "overlay": b'{"source": "organizations", "defaults": {"tags": {"team": "ops"}},'
               b' "accounts": [{"id": "222222222222", "role_name": "R"},'
               b' {"id": "333333333333", "exclude": true}]}',
}


def mcp_answer(status, kind, body, session=None):
    head = f"{status} {kind}" + (f" {session}" if session else "")
    return head.encode() + b"\n" + body


INIT = (b'{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{},'
        b'"serverInfo":{"name":"sim","version":"1"}}}')
TOOL_RESULT = (b'{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"hi"}],'
               b'"structuredContent":{"status":"success"}}}')


def mcp(flags, *answers):
    return bytes([flags]) + b"\n%%\n".join(answers)


MCP = {
    "json": mcp(0, mcp_answer(200, "j", INIT, "s-1"), mcp_answer(202, "j", b""),
                mcp_answer(200, "j", TOOL_RESULT), mcp_answer(200, "j", b"")),
    "sse_with_ping": mcp(0x20, mcp_answer(200, "s", b"data: " + INIT + b"\n\n", "s-2"),
                         mcp_answer(202, "j", b""),
                         mcp_answer(200, "s", b"id: 2-0\ndata:\n\n: c\n\nevent: message\ndata: "
                                    b'{"jsonrpc":"2.0","id":"p1","method":"ping"}\n\n'
                                    b"event: message\ndata: " + TOOL_RESULT + b"\n\n"),
                         mcp_answer(202, "j", b"")),
    "resume": mcp(0x40, mcp_answer(200, "j", INIT, "s-3"), mcp_answer(202, "j", b""),
                  mcp_answer(200, "s", b"retry: 0\nid: 2-0\ndata:\n\n"),
                  mcp_answer(200, "s", b"id: 2-1\ndata: " + TOOL_RESULT + b"\n\n")),
    "rpc_error": mcp(0, mcp_answer(200, "j", INIT, "s-4"), mcp_answer(202, "j", b""),
                     mcp_answer(200, "j", b'{"jsonrpc":"2.0","id":"","result":null,"error":'
                                b'{"code":-32602,"message":"Unknown tool: x"}}')),
    "expired_then_throttled": mcp(1, mcp_answer(200, "j", INIT, "s-5"), mcp_answer(202, "j", b""),
                                  mcp_answer(404, "j", b'{"jsonrpc":"2.0","error":{"code":-32001,'
                                             b'"message":"Session not found"},"id":null}'),
                                  mcp_answer(429, "j", b'{"message":"Rate exceeded"}')),
    "two_identities": mcp(0x07, mcp_answer(200, "j", INIT, "s-6"),
                          mcp_answer(403, "x", b'{"message":"The security token included in the '
                                     b'request is invalid."}')),
}

# fuzz_sigv4: flags (bit 0 query mode, bits 1-3 signing flags, bit 4 session token, bit 5
# unsigned payload, bit 6 region, bit 7 adds Host), a time byte, then method, path, query,
# "name:value" headers, an empty line and the body.
SIGV4 = {
    "get": bytes([0x80, 0]) + b"GET\n/path/to/../x//y\nb=2&a=1&a=0&c\nX-Amz-Meta:  a   b  \n"
                              b"x-amz-meta:second\n\n",
    "post": bytes([0x92, 9]) + b"POST\n/\n\nContent-Type:application/x-www-form-urlencoded\n\n"
                               b"Action=GetCallerIdentity&Version=2011-06-15",
    "presigned": bytes([0xB1, 200]) + b"GET\n/bucket/k%20ey\nprefix=a%2Fb\n\n",
    "no_host": bytes([0x04, 1]) + b"PUT\n\n\nhost:h\nempty:\n\nbody",
}


# fuzz_boto3: a byte code (see s_value in fuzz_boto3.c): op = byte % 15.
def b_int8(v):
    return bytes([3, v & 0xff])


def b_str(s):
    return bytes([7, len(s)]) + s


def b_dict(*pairs):
    out = bytes([10, len(pairs)])
    for key, value in pairs:
        out += bytes([0, len(key)]) + key + value
    return out


def b_list(*items):
    return bytes([9, len(items)]) + b"".join(items)


BOTO3 = {
    "filters": b_dict((b"Filters", b_list(b_dict((b"Name", b_str(b"instance-state-name")),
                                                 (b"Values", b_list(b_str(b"running")))))),
                      (b"MaxResults", b_int8(5))),
    "scalars": b_list(bytes([0]), bytes([1]), bytes([2, 1]), bytes([4]) + struct.pack(">q", -2**63),
                      bytes([5]) + struct.pack(">d", 0.1), bytes([6, 0xff, 0xf8]),
                      bytes([8, 3, 0x00, 0xd8, 0x00, 0x10, 0xff, 0xff, 0x00, 0x00, 0xe9])),
    "hostile": b_dict((b"x", b_str(b"'); import os #\\\n\x00\x7f\xc3\xa9")),
                      (b"y\xff", b_int8(1))),
    "shared_and_cycle": b_list(b_dict((b"a", b_int8(1))), bytes([11, 0]), bytes([11, 1])),
    "deep": bytes([12, 70, 0, 3, 1]),
    "mixed_keys": bytes([10, 2, 220, 1, 3, 4, 0, 1]) + b"k" + b_int8(2),
}

CORPORA = {"sts": STS, "sse": SSE, "ini": INI, "registry": REGISTRY, "mcp": MCP, "sigv4": SIGV4,
           "boto3": BOTO3}
# fuzz_sse reads two flag bytes first (piece size, stop after N events)
CORPORA["sse"] = {name: bytes([3, 0]) + data for name, data in SSE.items()}


def main():
    for target, seeds in CORPORA.items():
        directory = os.path.join(HERE, "corpus", target)
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory)
        for name, data in seeds.items():
            with open(os.path.join(directory, name), "wb") as f:
                f.write(data)
    print(f"{sum(len(s) for s in CORPORA.values())} seeds in {len(CORPORA)} corpora")


if __name__ == "__main__":
    main()
