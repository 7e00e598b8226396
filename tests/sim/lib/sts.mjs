// The STS endpoint (Query protocol, 2011-06-15): AssumeRole, GetCallerIdentity and
// AssumeRoleWithWebIdentity with AWS's XML bodies, and its ErrorResponse for signature,
// validation, trust, throttling and 5xx failures. Uses frontdoor.mjs and identity.mjs.
import { admit } from './frontdoor.mjs';
import { WEB_IDENTITY_AUDIENCE, WEB_IDENTITY_ISSUER, WEB_IDENTITY_ROLE } from './identity.mjs';
import { isoSeconds, requestId, xmlEscape } from './util.mjs';

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const VERSION = '2011-06-15';

class StsError extends Error {
  constructor(status, code, message, type = 'Sender') {
    super(message);
    this.status = status;
    this.code = code;
    this.type = type;
  }
}

/** Pretty XML as STS sends it: two-space indentation, one element per line. */
function xml(node, depth = 0) {
  const pad = '  '.repeat(depth);
  const [name, content, attrs = ''] = node;
  if (!Array.isArray(content)) return `${pad}<${name}${attrs}>${xmlEscape(content)}</${name}>`;
  return [`${pad}<${name}${attrs}>`, ...content.filter(Boolean).map((c) => xml(c, depth + 1)), `${pad}</${name}>`].join('\n');
}

function responseXml(action, result, rid) {
  return xml([`${action}Response`, [[`${action}Result`, result], ['ResponseMetadata', [['RequestId', rid]]]], ` xmlns="${NS}"`]) + '\n';
}

function errorXml(err, rid) {
  return xml(['ErrorResponse', [['Error', [['Type', err.type], ['Code', err.code], ['Message', err.message]]], ['RequestId', rid]], ` xmlns="${NS}"`]) + '\n';
}

function validationError(problems) {
  const n = problems.length;
  return new StsError(400, 'ValidationError', `${n} validation error${n > 1 ? 's' : ''} detected: ${problems.join('; ')}`);
}

/** AWS's member-constraint checks, in the order STS reports them. */
function checkMembers(params, members) {
  const problems = [];
  for (const [name, field, check] of members) {
    const v = params.get(name);
    if (v === null) {
      if (check.required) problems.push(`Value null at '${field}' failed to satisfy constraint: Member must not be null`);
      continue;
    }
    if (check.min !== undefined && [...v].length < check.min) {
      problems.push(`Value '${v}' at '${field}' failed to satisfy constraint: Member must have length greater than or equal to ${check.min}`);
    } else if (check.max !== undefined && [...v].length > check.max) {
      problems.push(`Value '${v}' at '${field}' failed to satisfy constraint: Member must have length less than or equal to ${check.max}`);
    } else if (check.pattern && !new RegExp(`^${check.pattern}$`).test(v)) {
      problems.push(`Value '${v}' at '${field}' failed to satisfy constraint: Member must satisfy regular expression pattern: ${check.pattern}`);
    } else if (check.duration) {
      const n = Number(v);
      if (!/^-?\d+$/.test(v)) problems.push(`Value '${v}' at '${field}' failed to satisfy constraint: Member must be a number`);
      else if (n < 900) problems.push(`Value '${v}' at '${field}' failed to satisfy constraint: Member must have value greater than or equal to 900`);
      else if (n > 43200) problems.push(`Value '${v}' at '${field}' failed to satisfy constraint: Member must have value less than or equal to 43200`);
    }
  }
  if (problems.length) throw validationError(problems);
}

const ROLE_ARN = ['RoleArn', 'roleArn', { required: true, min: 20, max: 2048 }];
const SESSION_NAME = ['RoleSessionName', 'roleSessionName', { required: true, min: 2, max: 64, pattern: '[\\w+=,.@-]*' }];
const DURATION = ['DurationSeconds', 'durationSeconds', { duration: true }];

/** arn:aws:iam::ACCOUNT:role/[path/]NAME -> { account, roleName }, or a ValidationError. */
function parseRoleArn(arn) {
  const m = /^arn:aws[a-z-]*:iam::(\d{12}):role\/(?:[\x21-\x7e]*\/)?([\w+=,.@-]+)$/.exec(arn);
  if (!m) throw new StsError(400, 'ValidationError', `${arn} is invalid`);
  return { account: m[1], roleName: m[2] };
}

function credentialsXml(identity) {
  return ['Credentials', [
    ['AccessKeyId', identity.accessKeyId],
    ['SecretAccessKey', identity.secretAccessKey],
    ['SessionToken', identity.sessionToken],
    ['Expiration', isoSeconds(identity.expiration)],
  ]];
}

function assumedRoleUserXml(identity) {
  return ['AssumedRoleUser', [['AssumedRoleId', identity.userId], ['Arn', identity.arn]]];
}

function base64urlJson(text) {
  const s = Buffer.from(text, 'base64url').toString('utf8');
  const v = JSON.parse(s);
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
  return v;
}

/** A token AssumeRoleWithWebIdentity accepts: JWT-shaped, iss/aud/sub/exp as documented. */
export function makeWebIdentityToken(sub, nowMs, lifetimeSeconds = 86400) {
  const enc = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const iat = Math.floor(nowMs / 1000);
  const header = { alg: 'RS256', kid: 'opsrun-sim', typ: 'JWT' };
  const payload = { iss: WEB_IDENTITY_ISSUER, sub, aud: WEB_IDENTITY_AUDIENCE, iat, exp: iat + lifetimeSeconds };
  return `${enc(header)}.${enc(payload)}.${Buffer.from('opsrun-sim-unsigned').toString('base64url')}`;
}

/** Query parameters from the URL and, for a form POST, the body. */
function queryParams(req, body) {
  const split = req.url.indexOf('?');
  const params = new URLSearchParams(split < 0 ? '' : req.url.slice(split + 1));
  if (req.method === 'POST' && /^application\/x-www-form-urlencoded/i.test(req.headers['content-type'] ?? '')) {
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params.append(k, v);
  }
  return params;
}

export class StsService {
  /** `sim`: { opts, org, creds, counters, clock, faults, log }. */
  constructor(sim) {
    this.sim = sim;
  }

  issue(account, roleName, sessionName, durationSeconds) {
    const { opts, org, creds, clock } = this.sim;
    const lifetime = opts.credentialLifetime || durationSeconds;
    return creds.issueRoleSession({
      account,
      roleName,
      roleId: org.roleId(account, roleName),
      sessionName,
      expiration: clock() + lifetime * 1000,
    });
  }

  requestedDuration(params, max, chained) {
    const requested = params.get('DurationSeconds') === null ? 3600 : Number(params.get('DurationSeconds'));
    if (chained && requested > 3600) {
      throw new StsError(400, 'ValidationError', 'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.');
    }
    if (requested > max) {
      throw new StsError(400, 'ValidationError', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
    }
    return requested;
  }

  assumeRole(params, caller) {
    const { org, counters } = this.sim;
    // Every AssumeRole naming an account counts, even one that then fails validation.
    const named = /^arn:aws[a-z-]*:iam::(\d{12}):role\//.exec(params.get('RoleArn') ?? '')?.[1];
    if (named) counters.assumeRoleCall(named);
    checkMembers(params, [
      ROLE_ARN,
      SESSION_NAME,
      DURATION,
      ['ExternalId', 'externalId', { min: 2, max: 1224, pattern: '[\\w+=,.@:\\/-]*' }],
    ]);
    const roleArn = params.get('RoleArn');
    const { account, roleName } = parseRoleArn(roleArn);
    if (!org.trustsForAssumeRole(caller, account, roleName, params.get('ExternalId'))) {
      counters.assumeRoleDeniedCall(account);
      throw new StsError(403, 'AccessDenied', `User: ${caller.arn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`);
    }
    const duration = this.requestedDuration(params, org.roleMaxSession(account, roleName), caller.kind === 'assumed-role');
    const identity = this.issue(account, roleName, params.get('RoleSessionName'), duration);
    const result = [credentialsXml(identity), assumedRoleUserXml(identity)];
    if (params.get('SourceIdentity') !== null) result.push(['SourceIdentity', params.get('SourceIdentity')]);
    return result;
  }

  getCallerIdentity(caller) {
    this.sim.counters.getCallerIdentity++;
    return [['Arn', caller.arn], ['UserId', caller.userId], ['Account', caller.account]];
  }

  assumeRoleWithWebIdentity(params) {
    const { org, counters, clock } = this.sim;
    counters.assumeRoleWithWebIdentity++;
    checkMembers(params, [ROLE_ARN, SESSION_NAME, ['WebIdentityToken', 'webIdentityToken', { required: true, min: 4, max: 20000 }], DURATION]);
    let claims;
    try {
      const parts = params.get('WebIdentityToken').split('.');
      if (parts.length !== 3) throw new Error('not three parts');
      base64urlJson(parts[0]);
      claims = base64urlJson(parts[1]);
    } catch {
      throw new StsError(400, 'InvalidIdentityToken', 'The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)');
    }
    if (claims.iss !== WEB_IDENTITY_ISSUER) {
      throw new StsError(400, 'InvalidIdentityToken', `No OpenIDConnect provider found in your account for ${claims.iss}`);
    }
    if (claims.aud !== WEB_IDENTITY_AUDIENCE) throw new StsError(400, 'InvalidIdentityToken', 'Incorrect token audience');
    const now = Math.floor(clock() / 1000);
    if (typeof claims.exp === 'number' && claims.exp <= now) {
      throw new StsError(400, 'ExpiredTokenException', `Token expired: current date/time ${now} must be before the expiration date/time ${claims.exp}`);
    }
    const roleArn = params.get('RoleArn');
    const { account, roleName } = parseRoleArn(roleArn);
    if (account !== org.central || roleName !== WEB_IDENTITY_ROLE || claims.sub !== org.webIdentitySub) {
      throw new StsError(403, 'AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity');
    }
    const duration = this.requestedDuration(params, org.roleMaxSession(account, roleName), false);
    const identity = this.issue(account, roleName, params.get('RoleSessionName'), duration);
    return [
      credentialsXml(identity),
      ['SubjectFromWebIdentityToken', claims.sub],
      assumedRoleUserXml(identity),
      ['Provider', WEB_IDENTITY_ISSUER.replace(/^https:\/\//, '')],
      ['Audience', claims.aud],
    ];
  }

  /** Runs one action for an authenticated (or, for web identity, anonymous) caller. */
  dispatch(action, params, caller) {
    if (params.get('Version') !== VERSION) action = null;
    if (action === 'AssumeRole') return this.assumeRole(params, caller);
    if (action === 'GetCallerIdentity') return this.getCallerIdentity(caller);
    if (action === 'AssumeRoleWithWebIdentity') return this.assumeRoleWithWebIdentity(params);
    throw new StsError(400, 'InvalidAction', `Could not find operation ${params.get('Action')} for version ${params.get('Version') ?? 'NO_VERSION_SPECIFIED'}`);
  }

  send(res, status, body, rid) {
    res.writeHead(status, {
      'Content-Type': 'text/xml',
      'Content-Length': Buffer.byteLength(body),
      'x-amzn-RequestId': rid,
      Date: new Date(this.sim.clock()).toUTCString(),
    });
    res.end(body);
  }

  fail(res, err, rid) {
    this.send(res, err.status, errorXml(err, rid), rid);
  }

  async handle(req, res) {
    const rid = requestId();
    let params;
    const admitted = await admit(this.sim, 'sts', req, res, {
      service: 'sts',
      region: this.sim.opts.stsRegion,
      signed: (body) => {
        params = queryParams(req, body);
        return params.get('Action') !== 'AssumeRoleWithWebIdentity';
      },
    });
    if (admitted.refusal) {
      const { status, code, message } = admitted.refusal;
      return this.fail(res, new StsError(status, code, message, status >= 500 ? 'Receiver' : 'Sender'), rid);
    }
    const action = params.get('Action');
    const caller = admitted.identity;
    try {
      if (!action) throw new StsError(400, 'MissingAction', 'Missing Action');
      const result = this.dispatch(action, params, caller);
      this.sim.log(`sts ${action} ok`);
      return this.send(res, 200, responseXml(action, result, rid), rid);
    } catch (err) {
      if (!(err instanceof StsError)) throw err;
      this.sim.log(`sts ${action} ${err.code}`);
      return this.fail(res, err, rid);
    }
  }
}
