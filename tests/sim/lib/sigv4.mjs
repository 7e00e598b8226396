// SigV4 verification for both endpoints: parses the Authorization header, checks scope, clock
// and credentials, then recomputes the signature with @smithy/signature-v4 over the exact raw
// body bytes and only the headers the client signed. Returns an identity or a failure whose
// `reason` the STS and MCP front ends map onto their own wire errors.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { amzDate, parseAmzDate, REGION_IDS } from './util.mjs';

const ALGORITHM = 'AWS4-HMAC-SHA256';
const SKEW_MS = 5 * 60 * 1000;

export const MISMATCH_MESSAGE =
  'The request signature we calculated does not match the signature you provided. ' +
  'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';
export const INVALID_TOKEN_MESSAGE = 'The security token included in the request is invalid.';
export const EXPIRED_TOKEN_MESSAGE = 'The security token included in the request is expired';

/** node:crypto behind the hash interface smithy expects (`new C()` hashes, `new C(key)` HMACs). */
export class NodeSha256 {
  constructor(secret) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', secret);
  }
  update(data) {
    this.hash.update(data);
  }
  digest() {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
}

function failure(reason, message) {
  return { failure: { reason, message } };
}

/** Splits "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." into its parts. */
function parseAuthorization(header) {
  const space = header.indexOf(' ');
  const algorithm = space < 0 ? header : header.slice(0, space);
  const fields = {};
  for (const part of (space < 0 ? '' : header.slice(space + 1)).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return { algorithm, credential: fields.Credential, signedHeaders: fields.SignedHeaders, signature: fields.Signature };
}

function incompleteMessage(auth, header, hasDate) {
  const missing = [];
  if (!auth.credential) missing.push("Authorization header requires 'Credential' parameter.");
  if (!auth.signature) missing.push("Authorization header requires 'Signature' parameter.");
  if (!auth.signedHeaders) missing.push("Authorization header requires 'SignedHeaders' parameter.");
  if (!hasDate) missing.push("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  return missing.length ? `${missing.join(' ')} Authorization=${header}` : null;
}

/** The query string as smithy's request.query: decoded keys to a value or array of values. */
function parseQuery(rawQuery) {
  const query = {};
  if (!rawQuery) return query;
  for (const pair of rawQuery.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const key = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
    if (key in query) query[key] = [].concat(query[key], value);
    else query[key] = value;
  }
  return query;
}

function checkScope(scope, dateText, service, region) {
  if (scope.length !== 4) {
    return failure('incomplete', `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${scope.join('/')}'`);
  }
  const [day, scopeRegion, scopeService, terminator] = scope;
  if (day !== dateText.slice(0, 8)) {
    return failure('bad_scope', `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${day}' != '${dateText.slice(0, 8)}', from '${dateText}'.`);
  }
  if (region ? scopeRegion !== region : !REGION_IDS.has(scopeRegion)) {
    return failure('bad_scope', `Credential should be scoped to a valid region, not '${scopeRegion}'. `);
  }
  if (scopeService !== service) {
    return failure('bad_scope', `Credential should be scoped to correct service: '${service}'. `);
  }
  if (terminator !== 'aws4_request') {
    return failure('bad_scope', `Credential should be scoped with a valid terminator: 'aws4_request', not '${terminator}'. `);
  }
  return null;
}

function checkClock(dateMs, dateText, now) {
  if (dateMs < now - SKEW_MS) {
    return failure('clock_skew', `Signature expired: ${dateText} is now earlier than ${amzDate(now - SKEW_MS)} (${amzDate(now)} - 5 min.)`);
  }
  if (dateMs > now + SKEW_MS) {
    return failure('clock_skew', `Signature not yet current: ${dateText} is still later than ${amzDate(now + SKEW_MS)} (${amzDate(now)} + 5 min.)`);
  }
  return null;
}

function checkCredentials({ identity, reason }, now) {
  if (reason) return failure(reason, INVALID_TOKEN_MESSAGE);
  if (identity.expiration !== null && now >= identity.expiration) {
    return failure('expired_token', EXPIRED_TOKEN_MESSAGE);
  }
  return null;
}

async function expectedSignature(request, identity, signedNames, dateMs, region, service) {
  const headers = {};
  for (const name of signedNames) {
    const values = request.headers[name];
    if (values !== undefined) headers[name] = values.join(',');
  }
  const signer = new SignatureV4({
    credentials: { accessKeyId: identity.accessKeyId, secretAccessKey: identity.secretAccessKey },
    region,
    service,
    sha256: NodeSha256,
    applyChecksum: false,
    uriEscapePath: true,
  });
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: 'http:',
      hostname: '127.0.0.1',
      path: request.path,
      query: request.query,
      headers,
      body: request.body,
    },
    { signingDate: new Date(dateMs), signableHeaders: new Set(signedNames) },
  );
  return /Signature=([0-9a-f]+)/.exec(signed.headers.authorization)[1];
}

function sameHex(a, b) {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Verifies one request. `request`: { method, url (raw path and query), headers (name ->
 * array of values, lower-case names, as node's req.headersDistinct), body (Buffer) }.
 * `opts`: { service, region (required scope region, or '' for any valid region), now (ms),
 * lookup(accessKeyId, sessionToken or null) -> { identity } or { reason: 'unknown_key' | 'bad_token' } }. Resolves to { identity } or { failure: {reason, message} }.
 */
export async function verifySigV4(request, opts) {
  const header = request.headers.authorization?.[0];
  if (!header) return failure('missing_auth', 'Missing Authentication Token');
  const auth = parseAuthorization(header);
  if (auth.algorithm !== ALGORITHM) {
    return failure('incomplete', `Unsupported AWS 'algorithm': '${auth.algorithm}'`);
  }
  const dateText = request.headers['x-amz-date']?.[0];
  const incomplete = incompleteMessage(auth, header, Boolean(dateText || request.headers.date));
  if (incomplete) return failure('incomplete', incomplete);
  const dateMs = parseAmzDate(dateText);
  if (Number.isNaN(dateMs)) {
    return failure('incomplete', `Date must be in ISO-8601 'basic format'. Got '${dateText ?? ''}'. See http://en.wikipedia.org/wiki/ISO_8601`);
  }
  const [accessKeyId, ...scope] = auth.credential.split('/');
  const scopeFailure = checkScope(scope, dateText, opts.service, opts.region);
  if (scopeFailure) return scopeFailure;
  const signedNames = auth.signedHeaders.split(';');
  if (!signedNames.includes('host')) {
    return failure('incomplete', "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  }
  const skew = checkClock(dateMs, dateText, opts.now);
  if (skew) return skew;
  const found = opts.lookup(accessKeyId, request.headers['x-amz-security-token']?.[0] ?? null);
  const credentialFailure = checkCredentials(found, opts.now);
  if (credentialFailure) return credentialFailure;
  const { identity } = found;

  const split = request.url.indexOf('?');
  let path;
  let query;
  try {
    path = decodeURIComponent(split < 0 ? request.url : request.url.slice(0, split));
    query = parseQuery(split < 0 ? '' : request.url.slice(split + 1));
  } catch {
    return failure('signature_mismatch', MISMATCH_MESSAGE);
  }
  const bodyHash = createHash('sha256').update(request.body).digest('hex');
  const claimed = request.headers['x-amz-content-sha256']?.[0];
  if (signedNames.includes('x-amz-content-sha256') && claimed !== bodyHash) {
    // smithy would trust the header's hash; the service must not, or a body could be swapped.
    return failure('body_hash_mismatch', MISMATCH_MESSAGE);
  }
  const expected = await expectedSignature(
    { method: request.method, path, query, headers: request.headers, body: request.body },
    identity,
    signedNames,
    dateMs,
    scope[1],
    opts.service,
  );
  if (!sameHex(expected, auth.signature)) return failure('signature_mismatch', MISMATCH_MESSAGE);
  return { identity };
}
