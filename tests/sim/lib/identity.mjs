// The fixture organisation (central account, its IAM user `ops`, N workload accounts and their
// roles, which accounts deny or hang) and the store of every access key the simulator knows.
// Uses util.mjs for deterministic ids.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { digest, drawChars, SECRET_CHARS, UPPER_ALNUM } from './util.mjs';
import { Hub, HUB_ROLE } from './hub.mjs';

export const CENTRAL_ACCOUNT = '111111111111';
export const CENTRAL_USER = 'ops';
export const WEB_IDENTITY_ROLE = 'OpsWebIdentityRole';
export const WEB_IDENTITY_ISSUER = 'https://oidc.opsrun-sim.local';
export const WEB_IDENTITY_AUDIENCE = 'sts.amazonaws.com';
/** Who a denying role trusts instead of the central account (so its trust refuses `ops`). */
export const FOREIGN_ACCOUNT = '999999999999';

function workloadId(index) {
  return String(200000000000 + index + 1);
}

/** Chooses denied and hung accounts: explicit ids, or counts taken from the end of the list. */
function selectFaulty(accounts, deny, hang) {
  const known = new Set(accounts);
  const checked = (ids, what) => {
    for (const id of ids) {
      if (!known.has(id)) throw new Error(`--${what}-accounts: ${id} is not a workload account`);
    }
    return ids;
  };
  let denied;
  if (deny.ids) {
    denied = checked(deny.ids, 'deny');
  } else {
    if (deny.count > accounts.length) throw new Error('--deny-accounts: more than --accounts');
    denied = deny.count ? accounts.slice(-deny.count) : [];
  }
  let hung;
  if (hang.ids) {
    hung = checked(hang.ids, 'hang');
  } else {
    const end = deny.ids ? accounts.length : accounts.length - deny.count;
    if (hang.count > end) throw new Error('--hang-accounts: not enough accounts left beside the denied ones');
    hung = accounts.slice(end - hang.count, end);
  }
  return { denied, hung };
}

export class Organisation {
  constructor(opts) {
    this.seed = opts.seed;
    this.central = CENTRAL_ACCOUNT;
    this.accounts = Array.from({ length: opts.accounts }, (_, i) => workloadId(i));
    this.workloads = new Set(this.accounts);
    const { denied, hung } = selectFaulty(this.accounts, opts.denyAccounts, opts.hangAccounts);
    this.denied = denied;
    this.hung = hung;
    this.deniedSet = new Set(denied);
    this.hungSet = new Set(hung);
    this.roleNames = opts.roles;
    this.roleSet = new Set(opts.roles);
    this.maxSessionDuration = opts.maxSessionDuration;
    this.externalId = opts.externalId;
    this.hub = new Hub({ account: opts.hubAccount, externalId: opts.hubExternalId, central: CENTRAL_ACCOUNT });
    this.webIdentitySub = opts.webIdentitySub;
    // Resource counts every account has (null: seeded per account, see inventory.mjs).
    this.instancesPerRegion = opts.instancesPerRegion ?? null;
    this.objectsPerBucket = opts.objectsPerBucket ?? null;
    this.userArn = `arn:aws:iam::${CENTRAL_ACCOUNT}:user/${CENTRAL_USER}`;
    this.userId = 'AIDA' + drawChars(UPPER_ALNUM, 17, this.seed, 'user-id');
  }

  isKnownAccount(account) {
    return account === this.central || this.workloads.has(account) || account === this.hub.account;
  }

  /** Role names that exist in an account (the ones STS can be asked to assume). */
  rolesOf(account) {
    const own = account === this.central ? [WEB_IDENTITY_ROLE] : this.workloads.has(account) ? this.roleNames : [];
    return this.hub.isHubRole(account, HUB_ROLE) ? [...own, HUB_ROLE] : own;
  }

  hasRole(account, roleName) {
    if (this.hub.isHubRole(account, roleName)) return true;
    if (account === this.central) return roleName === WEB_IDENTITY_ROLE;
    return this.workloads.has(account) && this.roleSet.has(roleName);
  }

  roleId(account, roleName) {
    return 'AROA' + drawChars(UPPER_ALNUM, 17, this.seed, 'role-id', account, roleName);
  }

  roleMaxSession(account, roleName) {
    return account === this.central && roleName === WEB_IDENTITY_ROLE ? 3600 : this.maxSessionDuration;
  }

  /**
   * Whether a role's trust policy lets `caller` assume it: a workload role only principals of the
   * central account (with --hub-account, only sessions of the hub role), never for a denied
   * account, and with the ExternalId when one is required; the hub role as hub.mjs says.
   */
  trustsForAssumeRole(caller, account, roleName, externalId) {
    if (this.hub.isHubRole(account, roleName)) return this.hub.trustsForHub(caller, externalId);
    if (!this.workloads.has(account) || !this.roleSet.has(roleName)) return false;
    if (this.deniedSet.has(account)) return false;
    if (this.hub.enabled ? !this.hub.isHubSession(caller) : caller.account !== this.central) return false;
    if (this.externalId && externalId !== this.externalId) return false;
    return true;
  }

  /** The trust policy document IAM ListRoles shows for a role (boto3 decodes it to a dict). */
  trustPolicy(account, roleName) {
    if (account === this.central && roleName === WEB_IDENTITY_ROLE) {
      return {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { Federated: `arn:aws:iam::${CENTRAL_ACCOUNT}:oidc-provider/oidc.opsrun-sim.local` },
            Action: 'sts:AssumeRoleWithWebIdentity',
            Condition: { StringEquals: { 'oidc.opsrun-sim.local:sub': this.webIdentitySub } },
          },
        ],
      };
    }
    if (this.hub.isHubRole(account, roleName)) return this.hub.trustPolicy();
    const trusted = this.deniedSet.has(account) ? `arn:aws:iam::${FOREIGN_ACCOUNT}:root`
      : this.hub.enabled ? this.hub.roleArn : `arn:aws:iam::${CENTRAL_ACCOUNT}:root`;
    const statement = { Effect: 'Allow', Principal: { AWS: trusted }, Action: 'sts:AssumeRole' };
    if (this.externalId) statement.Condition = { StringEquals: { 'sts:ExternalId': this.externalId } };
    return { Version: '2012-10-17', Statement: [statement] };
  }
}

// Temporary credentials carry their own proof, so that any worker process of the simulator
// (server.mjs --workers) accepts what another issued without a shared store: the key id ends
// with a keyed tag of its body, the secret is a keyed digest of the key id, and the session token
// is its claims (who, until when) with a keyed MAC, in base64 as real tokens are. The key is the
// credential master secret drawn from the seed. Our assumption: real tokens are encrypted blobs.
const TOKEN_PREFIX = 'IQoJb3JpZ2luX2VjE';
const KEY_BODY = 10;
const KEY_TAG = 6;
const MAC_BYTES = 32;
// 289 bytes are 388 base64 characters ending in '==': a ~400-character token, as AWS sends.
const TOKEN_BYTES = 289;

/**
 * Every access key the simulator accepts: the base user's long-term key and each temporary key
 * it, or another worker of the same seed, has issued. An identity is { accessKeyId,
 * secretAccessKey, sessionToken, expiration (epoch ms or null), account, arn, userId, kind:
 * 'user' | 'assumed-role', roleName, sessionName }.
 */
export class CredentialStore {
  /** `issuer`: what sets this process's key ids apart from other workers' (0 when alone). */
  constructor(org, issuer = 0) {
    this.seed = org.seed;
    this.issuer = issuer;
    this.issued = 0;
    // Role sessions already proven (issued here or checked once), by key id: proving a token
    // again costs HMACs on every request, the simulator's CPU that benchmarks would measure.
    this.proven = new Map();
    this.master = digest('credential-master', this.seed);
    this.base = {
      accessKeyId: 'AKIA' + drawChars(UPPER_ALNUM, 16, this.seed, 'base-key'),
      secretAccessKey: drawChars(SECRET_CHARS, 40, this.seed, 'base-secret'),
      sessionToken: null,
      expiration: null,
      account: org.central,
      arn: org.userArn,
      userId: org.userId,
      kind: 'user',
    };
  }

  /** HMAC-SHA256 of the parts joined by '|', under the credential master secret. */
  mac(...parts) {
    return createHmac('sha256', this.master).update(parts.join('|')).digest();
  }

  keyTag(body) {
    return drawChars(UPPER_ALNUM, KEY_TAG, this.mac('key', body).toString('hex'));
  }

  isIssuedKey(accessKeyId) {
    if (!/^ASIA[A-Z2-7]{16}$/.test(accessKeyId)) return false;
    const body = accessKeyId.slice(4, 4 + KEY_BODY);
    return accessKeyId.slice(4 + KEY_BODY) === this.keyTag(body);
  }

  /**
   * The identity a key and the session token sent with it stand for: { identity }, or { reason }
   * ('unknown_key' or 'bad_token', as sigv4.mjs names the failures). `token`: null when none.
   */
  check(accessKeyId, token) {
    if (accessKeyId === this.base.accessKeyId) return token === null ? { identity: this.base } : { reason: 'bad_token' };
    const proven = this.proven.get(accessKeyId);
    if (proven && proven.sessionToken === token) return { identity: proven };
    if (!this.isIssuedKey(accessKeyId)) return { reason: 'unknown_key' };
    const claims = token === null ? null : this.readToken(token);
    if (!claims || claims[0] !== accessKeyId) return { reason: 'bad_token' };
    return { identity: this.remember(this.roleSession(claims, token)) };
  }

  remember(identity) {
    this.proven.set(identity.accessKeyId, identity);
    return identity;
  }

  /** Issues temporary credentials for an assumed role; `expiration` is epoch ms. */
  issueRoleSession({ account, roleName, roleId, sessionName, expiration }) {
    const body = drawChars(UPPER_ALNUM, KEY_BODY, this.seed, 'temp-key', this.issuer, ++this.issued);
    const claims = ['ASIA' + body + this.keyTag(body), account, roleName, roleId, sessionName, expiration];
    return this.remember(this.roleSession(claims, this.writeToken(claims)));
  }

  roleSession([accessKeyId, account, roleName, roleId, sessionName, expiration], sessionToken) {
    return {
      accessKeyId,
      secretAccessKey: drawChars(SECRET_CHARS, 40, this.mac('secret', accessKeyId).toString('hex')),
      sessionToken,
      expiration,
      account,
      arn: `arn:aws:sts::${account}:assumed-role/${roleName}/${sessionName}`,
      userId: `${roleId}:${sessionName}`,
      kind: 'assumed-role',
      roleName,
      sessionName,
    };
  }

  /** The claims' JSON and its MAC, padded with keyed bytes to a real token's length. */
  writeToken(claims) {
    const json = Buffer.from(JSON.stringify(claims));
    const used = 2 + json.length + MAC_BYTES;
    const size = Math.max(TOKEN_BYTES, used + ((TOKEN_BYTES - used) % 3 + 3) % 3);
    const blob = Buffer.alloc(size);
    blob.writeUInt16BE(json.length, 0);
    json.copy(blob, 2);
    this.mac('token', json).copy(blob, 2 + json.length);
    for (let at = used, round = 0; at < size; round++) at += this.mac('fill', claims[0], round).copy(blob, at);
    return TOKEN_PREFIX + blob.toString('base64');
  }

  /** The claims of a token this store's master secret wrote, else null: the whole token must
   * be the one writeToken gives for them, MAC and padding included. */
  readToken(token) {
    if (!token.startsWith(TOKEN_PREFIX)) return null;
    const blob = Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64');
    if (blob.length < 2) return null;
    let claims;
    try {
      claims = JSON.parse(blob.subarray(2, 2 + blob.readUInt16BE(0)).toString('utf8'));
    } catch {
      return null;
    }
    if (!Array.isArray(claims) || claims.length !== 6) return null;
    const expected = Buffer.from(this.writeToken(claims));
    const given = Buffer.from(token);
    return expected.length === given.length && timingSafeEqual(expected, given) ? claims : null;
  }
}
