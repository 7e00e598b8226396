// smithy.mjs: @smithy/signature-v4 as the differential test and the benchmark drive it: loading
// it (with a clear message when npm ci has not run), and a case of diff.mjs's format turned into
// smithy's HttpRequest and options. The mapping's reasons are the numbered notes in diff.mjs.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

export async function loadSmithy() {
  if (!existsSync(join(here, "node_modules", "@smithy", "signature-v4"))) {
    console.error("tests/sigv4-diff/node_modules is missing: @smithy/signature-v4 is not installed.\n" +
      "Run scripts/setup.sh (it runs npm ci in tests/sigv4-diff), then run the test again.");
    process.exit(1);
  }
  const { SignatureV4 } = await import("@smithy/signature-v4");
  const { Hash } = await import("@smithy/hash-node");
  const { escapeUriPath } = await import("@smithy/core/protocols");
  // Records the canonical request smithy hashes, to compare it line by line with opsrun's.
  class RecordingSigner extends SignatureV4 {
    createCanonicalRequest(...args) {
      this.lastCanonical = super.createCanonicalRequest(...args);
      return this.lastCanonical;
    }
  }
  return { SignatureV4, RecordingSigner, sha256: Hash.bind(null, "sha256"), escapeUriPath };
}

// smithy's view of a case (see the numbered notes at the top of diff.mjs).
export function smithyRequest(c, escapeUriPath) {
  const { input } = c;
  const grouped = new Map();
  for (const [name, value] of input.headers) {
    const lower = name.toLowerCase();
    if (!grouped.has(lower)) grouped.set(lower, []);
    grouped.get(lower).push(value);
  }
  const headers = {};
  for (const [name, values] of grouped) {
    headers[name] = values.length === 1 ? values[0]
      : values.map((v) => v.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, "")).join(",");
  }
  const query = {};
  for (const [key, value] of c.decodedQuery) {
    if (!(key in query)) query[key] = value;
    else query[key] = [].concat(query[key], value);
  }
  const unsigned = input.payload_hash === "UNSIGNED-PAYLOAD";
  return {
    method: input.method,
    protocol: "https:",
    hostname: headers.host,
    path: input.normalize ? input.path : escapeUriPath(input.path),
    query,
    headers,
    body: unsigned ? Readable.from([]) : c.body.length ? c.body : undefined,
    names: new Set(grouped.keys()),
  };
}

// A smithy signer for the case's credentials, region and service, the request and the signing
// options. `Signer` is SignatureV4 or a subclass.
export function smithyCase(c, lib, Signer = lib.RecordingSigner) {
  const { input } = c;
  const { names, ...request } = smithyRequest(c, lib.escapeUriPath);
  const signer = new Signer({
    credentials: {
      accessKeyId: input.access_key_id,
      secretAccessKey: input.secret_access_key,
      sessionToken: input.omit_session_token ? undefined : input.session_token,
    },
    region: input.region,
    service: input.service,
    sha256: lib.sha256,
    uriEscapePath: input.normalize,
    applyChecksum: input.content_sha256 ?? false,
  });
  const options = {
    signingDate: new Date(input.time * 1000),
    signableHeaders: names,
    unhoistableHeaders: new Set([...names].filter((n) => n.startsWith("x-amz-"))),
    expiresIn: input.expires,
  };
  return { signer, request, options };
}

// Signs a case; returns smithy's signed request and the canonical request it hashed.
export async function signWithSmithy(c, lib) {
  const { signer, request, options } = smithyCase(c, lib);
  const signed = c.input.mode === "query"
    ? await signer.presign(request, options)
    : await signer.sign(request, options);
  return { signed, canonical: signer.lastCanonical };
}
