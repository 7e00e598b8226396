// diff.mjs: the SigV4 differential test. Generates requests from a seeded PRNG, signs each with
// opsrun (the sigv4_sign_requests driver, JSON lines over a pipe) and with @smithy/signature-v4,
// and requires identical canonical requests, signatures and added headers or query parameters.
//
// Usage: node tests/sigv4-diff/diff.mjs --signer PATH [--count N] [--seed N] [--verbose]
//
// Where smithy's API or semantics differ from AWS's test suite (which opsrun follows), this script
// maps one onto the other as an HTTP layer would, and says so here rather than hiding it:
//  1. Repeated headers. smithy's HeaderBag holds one value per name. As an HTTP stack does when it
//     folds repeated fields (RFC 9110 5.3), the script trims each value (SP, HTAB, CR, LF) and
//     joins them with ",". opsrun receives the headers unjoined and must produce the same line.
//  2. Unsignable headers. smithy never signs authorization, user-agent, expect, connection,
//     proxy-*, sec-* and a few more unless told to; opsrun signs every header the caller passes
//     (the caller decides). The script passes smithy signableHeaders = every name it generated.
//  3. Generated headers. smithy drops any Date header; a given x-amz-content-sha256 header becomes
//     smithy's payload hash; a given X-Amz-Security-Token header would be doubled. opsrun signs
//     Date like any header and ignores the others when it generates them. None are generated here.
//  4. Presigning hoists every x-amz-* header into the query in smithy; AWS's suite (and opsrun)
//     keeps headers as headers. The script passes smithy unhoistableHeaders = all x-amz-* names.
//  5. S3-style paths (normalize=false). smithy's uriEscapePath=false uses the path exactly as
//     given, already encoded; opsrun encodes once (the suite's get-space-unnormalized case). The
//     script gives smithy escapeUriPath(path), smithy's own encoder, so both encode once.
//  6. Query strings. smithy takes a decoded query bag; opsrun takes the raw query string and
//     decodes it. The generator knows both: it builds decoded parameters, then writes each
//     character raw or percent-encoded (upper or lower hex) at random. '+' is a literal plus in
//     both (this is a URI, not a form). A '%' not followed by two hex digits is literal in opsrun.
//  7. Token added after signing (omit_session_token). smithy has no such option; its equivalent
//     is signing without the token, which is what the script does, then it checks that opsrun
//     still returns the token for the caller to send.
//  8. UNSIGNED-PAYLOAD. smithy uses it for a streaming body; the script gives smithy a Readable.
//  9. Header whitespace. smithy and opsrun trim and collapse runs of SP, HTAB, CR and LF. Other
//     whitespace (VT, FF, NBSP) is not generated, because signers disagree on it: botocore's
//     str.split() collapses all of it, aws-c-auth trims VT and FF at the ends and collapses only
//     SP inside (a tab run stays). AWS's documentation speaks only of "sequential spaces".
import { spawn } from "node:child_process";

import { loadSmithy, signWithSmithy } from "./smithy.mjs";

function parseArgs(argv) {
  const args = { signer: null, count: 2400, seed: 20150830, verbose: false };
  for (let i = 2; i < argv.length; i++) {
    if (argv[i] === "--signer") args.signer = argv[++i];
    else if (argv[i] === "--count") args.count = Number(argv[++i]);
    else if (argv[i] === "--seed") args.seed = Number(argv[++i]);
    else if (argv[i] === "--verbose") args.verbose = true;
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!args.signer) throw new Error("--signer PATH (the sigv4_sign_requests program) is required");
  return args;
}

// mulberry32: small, fast and the same on every machine for a given seed.
function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  return {
    int,
    chance: (p) => next() < p,
    pick: (list) => list[int(list.length)],
  };
}

const METHODS = ["GET", "GET", "POST", "POST", "PUT", "DELETE", "HEAD", "PATCH"];
const HOSTS = ["example.amazonaws.com", "sts.us-west-2.amazonaws.com", "aws-mcp.us-east-1.api.aws",
  "my-bucket.s3.eu-west-1.amazonaws.com", "localhost:8443"];
const REGIONS = ["us-east-1", "us-west-2", "eu-west-3", "ap-southeast-2", "cn-north-1"];
const SERVICES = ["service", "sts", "s3", "execute-api", "aws-mcp", "lambda"];
const SEGMENTS = ["a", "b", "docs", "mcp", "v1", "ሴ", "café", "日本語", "😀", "space here",
  " lead", "a+b", "a%20b", "%2F", "%zz", "$delete", "!'()*", "@:,;=", "~_.-", "A-Z_09", "", "",
  ".", ".", "..", "..", "...", ".hidden", "x.y", "semi;colon", "[v]", "{x}", "\"q\"", "<>",
  "back\\slash", "^|`", "#frag"];
const QUERY_KEYS = ["Param", "Param1", "a", "A", "b", "Action", "Version", "ሴ", "key space", "k+y",
  "k~y", "", "Zed", "über", "list[]", "x.y", "X-Custom", "amp;", "a=b"];
const QUERY_VALUES = ["", "", "value", "Value", "value1", "a b", "ü", "/", "1+1", "=eq", "50%",
  "%zz", "ሴ", "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request", "true", "0", "a,b",
  "~._-", "!*'()", "😀 x"];
const HEADER_NAMES = ["Content-Type", "content-type", "X-Custom", "x-custom", "X-CUSTOM",
  "My-Header1", "Accept", "Content-Length", "User-Agent", "X-Amz-Meta-Owner", "x-amz-meta-owner",
  "X-Amz-Target", "Mcp-Session-Id", "Traceparent", "If-None-Match", "Range", "Expect",
  "Content-MD5", "X-Forwarded-For", "Cache-Control", "Proxy-Authorization", "Sec-Fetch-Mode"];
const HEADER_VALUES = ["value", "application/json", "  leading", "trailing  ", "in   ner  runs",
  "tab\there", "a\t \t b", "", "   ", "café", "a,b", "x=1; y=2", "folded\r\n  line", "two\nlines",
  "AWS4-HMAC-SHA256", "\"etag\"", "bytes=0-99", "*/*", "00-4bf92f3577b34da6a3ce929d0e0e4736-01"];
const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

function randomText(r, alphabet, min, max) {
  let s = "";
  const len = min + r.int(max - min + 1);
  for (let i = 0; i < len; i++) s += alphabet[r.int(alphabet.length)];
  return s;
}

function randomPath(r) {
  if (r.chance(0.08)) return "/";
  const parts = [];
  const n = 1 + r.int(5);
  for (let i = 0; i < n; i++) parts.push(r.pick(SEGMENTS).replace("#", "%23"));
  let path = "/" + parts.join("/");
  if (r.chance(0.25)) path += "/";
  if (r.chance(0.05)) path = path.replace("/", "//");
  return path;
}

// Writes one decoded query key or value the way a client might have: each character raw (when
// that is unambiguous) or percent-encoded in upper or lower case hex. A '%' not followed by a hex
// digit may stay raw: opsrun must keep it literal, as smithy's decoded string has it.
function rawQueryText(r, text) {
  const chars = [...text];
  let out = "";
  chars.forEach((ch, i) => {
    const mustEncode = ch === "&" || ch === "=" || ch === "#";
    const percentMayStay = ch === "%" && !/^[0-9A-Fa-f]$/.test(chars[i + 1] ?? "");
    if (ch === "%" && !(percentMayStay && r.chance(0.7))) {
      out += "%25";
    } else if (ch === "%" || (!mustEncode && r.chance(0.6))) {
      out += ch;
    } else {
      for (const byte of Buffer.from(ch, "utf8")) {
        const hex = byte.toString(16).padStart(2, "0");
        out += "%" + (r.chance(0.5) ? hex.toUpperCase() : hex);
      }
    }
  });
  return out;
}

function randomQuery(r) {
  const params = [];
  const parts = [];
  const n = r.chance(0.3) ? 0 : 1 + r.int(6);
  for (let i = 0; i < n; i++) {
    const key = i > 0 && r.chance(0.25) ? params[r.int(params.length)][0] : r.pick(QUERY_KEYS);
    // An empty part is no parameter at all ("a=1&&b=2"), so an empty key keeps its '='.
    const noEquals = key !== "" && r.chance(0.1);
    const value = noEquals ? "" : r.pick(QUERY_VALUES);
    params.push([key, value]);
    parts.push(rawQueryText(r, key) + (noEquals ? "" : "=" + rawQueryText(r, value)));
    if (r.chance(0.05)) parts.push(""); // an empty part: "a=1&&b=2"
  }
  return { raw: parts.join("&"), params };
}

function randomHeaders(r, host) {
  const headers = [[r.chance(0.5) ? "Host" : "host", host]];
  const n = r.int(8);
  for (let i = 0; i < n; i++) headers.push([r.pick(HEADER_NAMES), r.pick(HEADER_VALUES)]);
  // shuffle so that Host is not always first and repeated names interleave
  for (let i = headers.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [headers[i], headers[j]] = [headers[j], headers[i]];
  }
  return headers;
}

function randomBody(r) {
  switch (r.int(5)) {
    case 0:
      return Buffer.alloc(0);
    case 1:
      return Buffer.from(JSON.stringify({ jsonrpc: "2.0", id: r.int(1000), method: "tools/call",
        params: { name: "call_aws", arguments: { cli_command: "aws sts get-caller-identity" } } }));
    case 2:
      return Buffer.from("Action=AssumeRole&Version=2011-06-15&RoleSessionName=caf\u00e9 \u1234\n");
    case 3:
      return Buffer.from(Array.from({ length: r.int(300) }, () => r.int(256)));
    default:
      return Buffer.from(randomText(r, BASE64 + " \n\t{}[]\":,", 0, 2000));
  }
}

// One generated case: `input` is the JSON line for opsrun's driver, `decodedQuery` what smithy
// gets for the query.
function generate(r, id, secrets) {
  const host = r.pick(HOSTS);
  const query = randomQuery(r);
  const body = randomBody(r);
  const mode = r.chance(0.6) ? "header" : "query";
  const token = r.chance(0.5) ? randomText(r, BASE64 + "=", 16, 1200) : undefined;
  const secret = r.pick(secrets);
  const input = {
    id,
    method: r.pick(METHODS),
    path: randomPath(r),
    query: query.raw,
    headers: randomHeaders(r, host),
    body_hex: body.toString("hex"),
    access_key_id: secret.id,
    secret_access_key: secret.secret,
    region: r.pick(REGIONS),
    service: r.pick(SERVICES),
    // a few days, so the driver's key cache sees hits and misses
    time: 1440938160 + r.int(4) * 86400 + r.int(86400),
    mode,
    expires: 1 + r.int(604800),
    normalize: r.chance(0.75),
    content_sha256: r.chance(0.3),
    omit_session_token: token !== undefined && r.chance(0.25),
  };
  if (token !== undefined) input.session_token = token;
  if (r.chance(0.1)) input.payload_hash = "UNSIGNED-PAYLOAD";
  return { input, decodedQuery: query.params, body };
}

function firstDifference(a, b) {
  const la = a.split("\n"), lb = b.split("\n");
  for (let i = 0; i < Math.max(la.length, lb.length); i++)
    if (la[i] !== lb[i]) return `line ${i + 1}: opsrun ${JSON.stringify(la[i])} smithy ${JSON.stringify(lb[i])}`;
  return "none";
}

// Returns the list of differences between opsrun's result and smithy's signed request.
function compare(c, ours, theirs) {
  const problems = [];
  const { input } = c;
  if (ours.error) return [`opsrun failed: ${ours.error}`];
  if (ours.canonical_request !== theirs.canonical)
    problems.push(`canonical requests differ at ${firstDifference(ours.canonical_request, theirs.canonical)}`);
  const token = input.session_token;
  if (input.mode === "header") {
    const h = theirs.signed.headers;
    const added = Object.fromEntries(ours.headers.map(([n, v]) => [n.toLowerCase(), v]));
    if (!h.authorization.endsWith(`Signature=${ours.signature}`)) problems.push("signatures differ");
    if (added.authorization !== h.authorization) problems.push(`Authorization: ${added.authorization} vs ${h.authorization}`);
    if (added["x-amz-date"] !== h["x-amz-date"]) problems.push("X-Amz-Date differs");
    if (added["x-amz-security-token"] !== token) problems.push("X-Amz-Security-Token missing or wrong");
    if (input.content_sha256 && added["x-amz-content-sha256"] !== h["x-amz-content-sha256"])
      problems.push("x-amz-content-sha256 differs");
  } else {
    const q = theirs.signed.query;
    const added = Object.fromEntries(ours.query.map(([n, v]) => [n, decodeURIComponent(v)]));
    if (q["X-Amz-Signature"] !== ours.signature) problems.push("signatures differ");
    for (const name of ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders"])
      if (added[name] !== q[name]) problems.push(`${name}: ${added[name]} vs ${q[name]}`);
    if (added["X-Amz-Security-Token"] !== token) problems.push("X-Amz-Security-Token missing or wrong");
    if (ours.headers.length) problems.push("query mode returned headers");
  }
  return problems;
}

// Runs the driver over all the cases at once (one process, one signer) and returns its results.
function signWithOpsrun(signer, cases) {
  return new Promise((resolve, reject) => {
    const child = spawn(signer, [], { stdio: ["pipe", "pipe", "inherit"] });
    const chunks = [];
    child.stdout.on("data", (d) => chunks.push(d));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`${signer} exited with ${code}`));
      const lines = Buffer.concat(chunks).toString("utf8").trim().split("\n");
      resolve(lines.map((line) => JSON.parse(line)));
    });
    child.stdin.end(cases.map((c) => JSON.stringify(c.input)).join("\n") + "\n");
  });
}

async function main() {
  const args = parseArgs(process.argv);
  const lib = await loadSmithy();
  const r = prng(args.seed);
  const secrets = Array.from({ length: 6 }, () => ({
    id: "AKIA" + randomText(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16, 16),
    secret: randomText(r, BASE64, 40, 40),
  }));
  const cases = Array.from({ length: args.count }, (_, i) => generate(r, i, secrets));
  const results = await signWithOpsrun(args.signer, cases);
  if (results.length !== cases.length)
    throw new Error(`the driver answered ${results.length} of ${cases.length} cases`);

  let passed = 0, failed = 0;
  const tally = { header: 0, query: 0, token: 0, omitted: 0, unnormalized: 0, unsigned: 0 };
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i];
    const theirs = await signWithSmithy(c, lib);
    const problems = compare(c, results[i], theirs);
    tally[c.input.mode]++;
    if (c.input.session_token) tally.token++;
    if (c.input.omit_session_token) tally.omitted++;
    if (!c.input.normalize) tally.unnormalized++;
    if (c.input.payload_hash) tally.unsigned++;
    if (problems.length === 0) {
      passed++;
      continue;
    }
    failed++;
    if (failed <= 10 || args.verbose) {
      console.log(`case ${i} differs:\n  ${problems.join("\n  ")}\n  input ${JSON.stringify(c.input)}`);
      console.log(`  opsrun canonical request:\n${results[i].canonical_request}\n  smithy canonical request:\n${theirs.canonical}`);
    }
  }
  console.log(`sigv4 differential (seed ${args.seed}): ${cases.length} requests, ` +
    `${tally.header} header mode, ${tally.query} presigned, ${tally.token} with a session token ` +
    `(${tally.omitted} added after signing), ${tally.unnormalized} S3-style paths, ` +
    `${tally.unsigned} UNSIGNED-PAYLOAD`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(`sigv4_differential: ${e.stack || e}`);
  process.exit(1);
});
