// What every signed endpoint does before its own protocol: hold the answer for the injected
// latency, read the body, check SigV4, apply the per-account quota, then draw the throttling and
// 5xx faults. Each endpoint sends a refusal in its own wire form; REFUSALS lists the forms side
// by side. Uses sigv4.mjs and faults via `sim`.
import { verifySigV4 } from './sigv4.mjs';
import { holdResponse, readBody } from './util.mjs';

const MISMATCH = {
  sts: [403, 'SignatureDoesNotMatch', null],
  mcp: [403, 'InvalidSignatureException', null],
  organizations: [400, 'InvalidSignatureException', null],
};
const BAD_KEY = {
  sts: [403, 'InvalidClientTokenId', null],
  mcp: [403, 'UnrecognizedClientException', null],
  organizations: [400, 'UnrecognizedClientException', null],
};

/**
 * Every refusal as STS sends it ([status, <Code>, message]), as the MCP endpoint sends it
 * ([status, x-amzn-ErrorType, message]) and as Organizations sends it ([status, __type,
 * message]); a null message is the verifier's own text.
 */
export const REFUSALS = {
  too_large: {
    sts: [413, 'RequestEntityTooLarge', 'Request body too large'],
    mcp: [413, 'RequestEntityTooLargeException', 'Request Entity Too Large'],
    organizations: [413, 'RequestEntityTooLargeException', 'Request Entity Too Large'],
  },
  missing_auth: {
    sts: [403, 'MissingAuthenticationToken', 'Request is missing Authentication Token'],
    mcp: [401, 'MissingAuthenticationTokenException', null],
    organizations: [400, 'MissingAuthenticationTokenException', 'Request is missing Authentication Token'],
  },
  incomplete: { sts: [400, 'IncompleteSignature', null], mcp: [403, 'IncompleteSignatureException', null], organizations: [400, 'IncompleteSignatureException', null] },
  bad_scope: MISMATCH,
  clock_skew: MISMATCH,
  signature_mismatch: MISMATCH,
  body_hash_mismatch: MISMATCH,
  unknown_key: BAD_KEY,
  bad_token: BAD_KEY,
  expired_token: { sts: [400, 'ExpiredToken', null], mcp: [403, 'ExpiredTokenException', null], organizations: [400, 'ExpiredTokenException', null] },
  throttle: {
    sts: [400, 'Throttling', 'Rate exceeded'],
    mcp: [429, 'ThrottlingException', 'Rate exceeded'],
    organizations: [400, 'TooManyRequestsException', "AWS Organizations can't complete your request because another request is already in progress. Try again later."],
  },
  500: {
    sts: [500, 'InternalFailure', 'The request processing has failed because of an unknown error, exception or failure.'],
    mcp: [500, 'InternalServerException', 'Internal server error'],
    organizations: [500, 'ServiceException', "Organizations can't complete your request because of an internal service error. Try again later."],
  },
  503: {
    sts: [503, 'ServiceUnavailable', 'The request has failed due to a temporary failure of the server.'],
    mcp: [503, 'ServiceUnavailableException', 'Service unavailable'],
    organizations: [503, 'ServiceUnavailableException', 'Service Unavailable'],
  },
};

function refuse(endpoint, kind, message) {
  const [status, code, fixed] = REFUSALS[kind][endpoint];
  return { refusal: { status, code, message: fixed ?? message } };
}

/**
 * Admits one request on `endpoint` ('sts' | 'mcp' | 'organizations') and holds its answer (`res`) for the
 * endpoint's latency. The request is judged as of the moment its answer leaves, as if it had
 * waited the whole latency first. `opts`: { service, region (scope region required, '' for
 * any), signed(body) (false when the request needs no signature) }. Resolves to { body,
 * identity } (identity null when unsigned) or { refusal: {status, code, message} }; counts
 * signature failures, quota and random throttles, and 5xx.
 */
export async function admit(sim, endpoint, req, res, { service, region, signed = () => true }) {
  const { creds, counters, clock, faults } = sim;
  const latency = faults.latency(endpoint);
  holdResponse(res, latency);
  let body;
  try {
    body = await readBody(req);
  } catch {
    return refuse(endpoint, 'too_large');
  }
  let identity = null;
  if (signed(body)) {
    const judgedAt = clock() + latency;
    const verdict = await verifySigV4(
      { method: req.method, url: req.url, headers: req.headersDistinct, body },
      { service, region, now: judgedAt, lookup: (key, token) => creds.check(key, token) },
    );
    if (verdict.failure) {
      counters.signatureFailure(endpoint, verdict.failure.reason);
      return refuse(endpoint, verdict.failure.reason, verdict.failure.message);
    }
    identity = verdict.identity;
    if (faults.overQuota(endpoint, identity.account, judgedAt)) {
      counters.quotaThrottle(identity.account);
      return refuse(endpoint, 'throttle');
    }
  }
  const fault = faults.decide(endpoint);
  if (fault === 'throttle') {
    counters.throttled[endpoint]++;
    return refuse(endpoint, 'throttle');
  }
  if (fault) {
    counters.errors5xx[endpoint]++;
    return refuse(endpoint, fault);
  }
  return { body, identity };
}
