// IAM Identity Center for one user: the SSO portal's GetRoleCredentials (service "sso",
// rest-json) and SSO OIDC's CreateToken with the refresh_token grant (service "sso-oidc",
// rest-json), each unsigned, on its own port; and what `aws sso login` leaves in the token cache,
// for the test hook POST /_sim/sso/login. The user is assigned one permission set (--sso-role)
// in the central account; the credentials the portal issues come from the CredentialStore, so
// STS and the MCP endpoint accept them. Evidence and assumptions: tests/sim/README.md.
import { drawChars, isoSeconds, readBody, requestId, SECRET_CHARS } from './util.mjs';

const JSON_TYPE = 'application/json';
/** The portal's user, the session name of the roles it assumes. */
export const SSO_USER = 'ops@example.com';
/** The OAuth `error` of each CreateToken exception (the API reference's members). */
const OAUTH_ERRORS = {
  InvalidRequestException: 'invalid_request',
  InvalidClientException: 'invalid_client',
  InvalidGrantException: 'invalid_grant',
  UnsupportedGrantTypeException: 'unsupported_grant_type',
};
const OAUTH_STATUS = { InvalidClientException: 401 };

function send(res, status, body, errorType) {
  const text = JSON.stringify(body);
  const headers = { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(text), 'x-amzn-RequestId': requestId() };
  if (errorType) headers['x-amzn-ErrorType'] = errorType;
  res.writeHead(status, headers);
  res.end(text);
}

class SsoError extends Error {
  constructor(status, type, message) {
    super(message ?? '');
    this.status = status;
    this.type = type;
  }
}

/**
 * The user's sign-in: client registrations, access tokens and refresh tokens, with their
 * lifetimes from the options (seconds): ssoTokenLifetime (access tokens), ssoSessionLifetime
 * (the sign-in, after which no refresh works), ssoRegistrationLifetime (client registrations).
 */
export class SsoDirectory {
  constructor(sim) {
    this.sim = sim;
    this.clients = new Map(); // clientId -> { secret, expires }
    this.accessTokens = new Map(); // token -> { expires }
    this.refreshTokens = new Map(); // token -> { clientId, sessionEnds }
    this.issued = 0;
    this.role = sim.opts.ssoRole;
    this.roleName = `AWSReservedSSO_${this.role}_${drawChars('0123456789abcdef', 16, sim.org.seed, 'sso-role', this.role)}`;
  }

  draw(prefix, n, what) {
    return prefix + drawChars(SECRET_CHARS.replace(/[+/]/g, ''), n, this.sim.org.seed, 'sso', what, ++this.issued);
  }

  issueTokens(clientId, sessionEnds) {
    const now = this.sim.clock();
    const accessToken = this.draw('aoa', 120, 'access');
    const refreshToken = this.draw('aor', 120, 'refresh');
    const expires = now + this.sim.opts.ssoTokenLifetime * 1000;
    this.accessTokens.set(accessToken, { expires });
    this.refreshTokens.set(refreshToken, { clientId, sessionEnds });
    return { accessToken, refreshToken, expires };
  }

  /** What `aws sso login` writes to ~/.aws/sso/cache/HEX.json: a new client and a new sign-in. */
  login({ startUrl, region }) {
    const now = this.sim.clock();
    const clientId = this.draw('', 22, 'client-id');
    const client = { secret: this.draw('eyJraWQiOiJrZXktMTU2', 300, 'client-secret'), expires: now + this.sim.opts.ssoRegistrationLifetime * 1000 };
    this.clients.set(clientId, client);
    const tokens = this.issueTokens(clientId, now + this.sim.opts.ssoSessionLifetime * 1000);
    return {
      startUrl,
      region,
      accessToken: tokens.accessToken,
      expiresAt: isoSeconds(tokens.expires),
      clientId,
      clientSecret: client.secret,
      registrationExpiresAt: isoSeconds(client.expires),
      refreshToken: tokens.refreshToken,
    };
  }

  /** CreateToken, refresh_token grant; the old refresh token is spent (rotation). */
  refresh(input) {
    const now = this.sim.clock();
    for (const name of ['clientId', 'clientSecret', 'grantType']) {
      if (typeof input[name] !== 'string' || input[name] === '') throw new SsoError(400, 'InvalidRequestException', `${name} is required`);
    }
    if (input.grantType !== 'refresh_token') throw new SsoError(400, 'UnsupportedGrantTypeException', null);
    const client = this.clients.get(input.clientId);
    if (!client || client.secret !== input.clientSecret || client.expires <= now) throw new SsoError(401, 'InvalidClientException', null);
    const grant = this.refreshTokens.get(input.refreshToken);
    if (!grant || grant.clientId !== input.clientId || grant.sessionEnds <= now) throw new SsoError(400, 'InvalidGrantException', null);
    this.refreshTokens.delete(input.refreshToken);
    const tokens = this.issueTokens(input.clientId, grant.sessionEnds);
    return { accessToken: tokens.accessToken, tokenType: 'Bearer', expiresIn: this.sim.opts.ssoTokenLifetime, refreshToken: tokens.refreshToken };
  }

  /** GetRoleCredentials: a session of the permission set's role for a valid access token. */
  roleCredentials(token, accountId, roleName) {
    const now = this.sim.clock();
    if (!accountId || !roleName) throw new SsoError(400, 'InvalidRequestException', 'role_name and account_id are required');
    const held = token ? this.accessTokens.get(token) : undefined;
    if (!held || held.expires <= now) throw new SsoError(401, 'UnauthorizedException', 'Session token not found or invalid');
    if (accountId !== this.sim.org.central || roleName !== this.role) throw new SsoError(403, 'ForbiddenException', 'No access');
    const lifetime = this.sim.opts.credentialLifetime || 3600;
    const identity = this.sim.creds.issueRoleSession({
      account: accountId,
      roleName: this.roleName,
      roleId: this.sim.org.roleId(accountId, this.roleName),
      sessionName: SSO_USER,
      expiration: now + lifetime * 1000,
    });
    return {
      roleCredentials: {
        accessKeyId: identity.accessKeyId,
        secretAccessKey: identity.secretAccessKey,
        sessionToken: identity.sessionToken,
        expiration: identity.expiration,
      },
    };
  }
}

/** The portal's refusal body: `{"message"}`. */
function portalError(err) {
  return [err.status, { message: err.message }];
}

/** SSO OIDC's refusal body: the OAuth `error`, and `error_description` when there is one. */
function oidcError(err) {
  const answer = { error: OAUTH_ERRORS[err.type] };
  if (err.message) answer.error_description = err.message;
  return [OAUTH_STATUS[err.type] ?? err.status, answer];
}

function parseJson(body) {
  try {
    return JSON.parse(body.toString('utf8') || '{}') ?? {};
  } catch {
    throw new SsoError(400, 'InvalidRequestException', 'The request body is not valid JSON');
  }
}

/**
 * One endpoint serving one operation at `method path`: `operate(req, url)` gives the answer or
 * throws an SsoError, which `refusal(err)` turns into [status, body]; both are counted.
 */
class SsoEndpoint {
  constructor(sim, { method, path, operation, operate, refusal }) {
    Object.assign(this, { sim, method, path, operation, operate, refusal });
  }

  async handle(req, res) {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (req.method !== this.method || url.pathname !== this.path) {
      return send(res, 404, { message: 'Not Found' }, 'UnknownOperationException');
    }
    try {
      const answer = await this.operate(req, url);
      this.sim.counters.ssoCall(this.operation);
      return send(res, 200, answer);
    } catch (err) {
      if (!(err instanceof SsoError)) throw err;
      this.sim.counters.ssoCall(this.operation, err.type);
      const [status, body] = this.refusal(err);
      return send(res, status, body, err.type);
    }
  }
}

/** The portal endpoint: GET /federation/credentials (GetRoleCredentials). */
export function ssoPortalService(sim, directory) {
  return new SsoEndpoint(sim, {
    method: 'GET',
    path: '/federation/credentials',
    operation: 'GetRoleCredentials',
    operate: (req, url) => directory.roleCredentials(req.headers['x-amz-sso_bearer_token'], url.searchParams.get('account_id'), url.searchParams.get('role_name')),
    refusal: portalError,
  });
}

/** The SSO OIDC endpoint: POST /token (CreateToken). */
export function ssoOidcService(sim, directory) {
  return new SsoEndpoint(sim, {
    method: 'POST',
    path: '/token',
    operation: 'CreateToken',
    operate: async (req) => directory.refresh(parseJson(await readBody(req, 64 * 1024))),
    refusal: oidcError,
  });
}
