// The AWS Organizations endpoint (AWS JSON 1.1, target prefix AWSOrganizationsV20161128): the
// read operations over orgtree.mjs' organisation with AWS's shapes, who may call them, paging
// (MaxResults, opaque NextToken, optional empty pages) and AWS's error bodies. Uses frontdoor.mjs
// for latency, SigV4 (service organizations, region us-east-1), the rate limit and the faults.
import { admit } from './frontdoor.mjs';
import { OrgTree } from './orgtree.mjs';
import { digest, requestId } from './util.mjs';

const TARGET_PREFIX = 'AWSOrganizationsV20161128.';
const CONTENT_TYPE = 'application/x-amz-json-1.1';
const SIGNING_REGION = 'us-east-1';
const MAX_RESULTS = { min: 1, max: 20 };
const PARENT_ID = /^(r-[0-9a-z]{4,32})$|^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$/;
const TAGGABLE_ID = /^(r-[0-9a-z]{4,32})$|^(\d{12})$|^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$|^(p-[0-9a-zA-Z_]{8,128})$|^(rp-[0-9a-zA-Z_]{4,128})$/;
const SERVICE_PRINCIPAL = /^[\w+=,.@-]{1,128}$/;
/** The Status AWS sent beside State until it retired Status (a closed account showed SUSPENDED). */
const LEGACY_STATUS = { ACTIVE: 'ACTIVE', SUSPENDED: 'SUSPENDED', PENDING_CLOSURE: 'PENDING_CLOSURE', CLOSED: 'SUSPENDED' };
/** InvalidInputException's Reason values used here and their wording in the API reference. */
const REASONS = {
  INPUT_REQUIRED: 'You must include a value for all required parameters.',
  INVALID_PATTERN: "You provided a value that doesn't match the required pattern.",
  MAX_VALUE_EXCEEDED: 'You provided a numeric parameter that has a larger value than allowed.',
  MIN_VALUE_EXCEEDED: 'You provided a numeric parameter that has a smaller value than allowed.',
  INVALID_NEXT_TOKEN: 'Get the value for the NextToken parameter from the response to a previous call of the operation.',
};
const DENIED_MESSAGE = "You don't have permissions to access this resource.";
/** Front-door refusals that are Organizations' own modelled errors, whose member is `Message`
 * (the others are the front door's, with `message`). */
const MODELLED_REFUSALS = new Set(['TooManyRequestsException', 'ServiceException']);
/** Timestamps, which AWS sends as epoch seconds in Java's double notation (1.631121728678E9). */
const TIMESTAMP_FIELDS = /"(JoinedTimestamp|DelegationEnabledDate)":(\d+(?:\.\d+)?)/g;

/** An error to answer; `text` is its message, null for the bodies AWS sends without one. */
class OrgError extends Error {
  constructor(status, type, text, extra = {}) {
    super(text ?? type);
    this.text = text;
    this.status = status;
    this.type = type;
    this.extra = extra;
  }
}

function invalidInput(reason) {
  return new OrgError(400, 'InvalidInputException', REASONS[reason], { Reason: reason });
}

/** A number as Java's Double.toString writes one of 10^7 or more: 1.631121728678E9. */
function javaDouble(text) {
  const [whole, fraction = ''] = text.split('.');
  const digits = (whole + fraction).replace(/0+$/, '');
  return `${digits[0]}.${digits.slice(1) || '0'}E${whole.length - 1}`;
}

function jsonBody(value) {
  return JSON.stringify(value).replace(TIMESTAMP_FIELDS, (_, name, n) => `"${name}":${javaDouble(n)}`);
}

/** A request member of the given JSON type, or undefined; a wrong type is a SerializationException. */
function member(input, name, type) {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  const fits = type === 'integer' ? Number.isInteger(value) : typeof value === type;
  if (!fits) throw new OrgError(400, 'SerializationException', `Unexpected value type for ${name}`);
  return value;
}

function requiredId(input, name, pattern) {
  const value = member(input, name, 'string');
  if (value === undefined) throw invalidInput('INPUT_REQUIRED');
  if (!pattern.test(value)) throw invalidInput('INVALID_PATTERN');
  return value;
}

function maxResults(input) {
  const value = member(input, 'MaxResults', 'integer');
  if (value !== undefined && value < MAX_RESULTS.min) throw invalidInput('MIN_VALUE_EXCEEDED');
  if (value !== undefined && value > MAX_RESULTS.max) throw invalidInput('MAX_VALUE_EXCEEDED');
  return value;
}

/**
 * Opaque page tokens: the operation and its scope (parent or resource id), the offset of the
 * next item, whether the next page is an empty one, and a seeded check so that a token of
 * another listing or an edited one is refused as AWS refuses a bad token.
 */
class PageTokens {
  constructor(seed) {
    this.seed = seed;
  }

  check(body) {
    return digest('org-token', this.seed, body).toString('hex').slice(0, 16);
  }

  encode(listing, offset, empty) {
    const body = `${listing}|${offset}|${empty ? 1 : 0}`;
    return Buffer.from(`${body}|${this.check(body)}`).toString('base64');
  }

  /** { offset, empty } of a token for `listing`, else an InvalidInputException. */
  decode(listing, token) {
    const parts = Buffer.from(token, 'base64').toString('utf8').split('|');
    const check = parts.pop();
    const body = parts.join('|');
    const [offset, empty] = parts.slice(-2);
    if (check !== this.check(body) || parts.slice(0, -2).join('|') !== listing) throw invalidInput('INVALID_NEXT_TOKEN');
    return { offset: Number(offset), empty: empty === '1' };
  }
}

export class OrganizationsService {
  /** `sim`: { opts, org, counters, clock, faults, log }. */
  constructor(sim) {
    this.sim = sim;
    this.tree = new OrgTree(sim.org, sim.opts);
    this.tokens = new PageTokens(sim.opts.seed);
    this.operations = {
      DescribeOrganization: () => ({ Organization: this.organization() }),
      ListRoots: (input) => this.page('Roots', [this.tree.root], input, (r) => this.rootShape(r)),
      ListOrganizationalUnitsForParent: (input) => this.listForParent('OrganizationalUnits', input, (id) => this.tree.childOus(id), ({ Id, Arn, Name }) => ({ Id, Arn, Name })),
      ListAccountsForParent: (input) => this.listForParent('Accounts', input, (id) => this.tree.accountsIn(id), (a) => this.accountShape(a)),
      ListAccounts: (input) => this.page('Accounts', this.tree.accounts, input, (a) => this.accountShape(a)),
      ListTagsForResource: (input) => this.listTags(input),
      ListDelegatedAdministrators: (input) => this.listDelegatedAdministrators(input),
    };
  }

  /** The ready line's part: the root, the OUs by path, the extra accounts, the management account. */
  readyFields() {
    const { tree } = this;
    return {
      org_root: tree.root.Id,
      org_ous: tree.ouIdsByPath(),
      suspended_accounts: tree.suspended,
      closed_accounts: tree.closed,
      management_account: tree.management,
    };
  }

  organization() {
    const manager = this.tree.byId.get(this.tree.management);
    return {
      Id: this.tree.id,
      Arn: `arn:aws:organizations::${manager.Id}:organization/${this.tree.id}`,
      FeatureSet: 'ALL',
      MasterAccountArn: manager.Arn,
      MasterAccountId: manager.Id,
      MasterAccountEmail: manager.Email,
      AvailablePolicyTypes: [{ Type: 'SERVICE_CONTROL_POLICY', Status: 'ENABLED' }],
    };
  }

  rootShape({ Id, Arn, Name }) {
    return { Id, Arn, Name, PolicyTypes: [{ Type: 'SERVICE_CONTROL_POLICY', Status: 'ENABLED' }] };
  }

  accountShape({ Id, Arn, Email, Name, State, JoinedMethod, JoinedTimestamp }) {
    const shape = { Id, Arn, Email, Name, State, JoinedMethod, JoinedTimestamp };
    if (this.sim.opts.orgLegacyStatus) shape.Status = LEGACY_STATUS[State];
    return shape;
  }

  /**
   * One page of `items` under `key`, with NextToken while more remain. A page holds at most
   * MaxResults and at most --org-page-size items; with --org-empty-pages every page that leaves
   * items behind is followed by an empty page that carries a token. `scope` (a parent or
   * resource id) tells one listing's tokens from another's.
   */
  page(key, items, input, shape, scope = '') {
    const { orgPageSize, orgEmptyPages } = this.sim.opts;
    const listing = `${key}|${scope}`;
    const size = Math.min(maxResults(input) ?? orgPageSize, orgPageSize);
    const token = member(input, 'NextToken', 'string');
    const at = token === undefined ? { offset: 0, empty: false } : this.tokens.decode(listing, token);
    if (at.offset > items.length) throw invalidInput('INVALID_NEXT_TOKEN');
    if (at.empty) return { [key]: [], NextToken: this.tokens.encode(listing, at.offset, false) };
    const end = Math.min(at.offset + size, items.length);
    const result = { [key]: items.slice(at.offset, end).map(shape) };
    if (end < items.length) result.NextToken = this.tokens.encode(listing, end, orgEmptyPages);
    return result;
  }

  listForParent(key, input, childrenOf, shape) {
    const parent = requiredId(input, 'ParentId', PARENT_ID);
    const children = childrenOf(parent);
    if (children === null) throw new OrgError(400, 'ParentNotFoundException', "We can't find a root or OU with the ParentId that you specified.");
    return this.page(key, children, input, shape, parent);
  }

  listTags(input) {
    const resource = requiredId(input, 'ResourceId', TAGGABLE_ID);
    const tags = this.tree.tagsOf(resource);
    if (tags === null) throw new OrgError(400, 'TargetNotFoundException', "We can't find a root, OU, account, or policy with the TargetId that you specified.");
    return this.page('Tags', tags, input, (tag) => tag, resource);
  }

  listDelegatedAdministrators(input) {
    const service = member(input, 'ServicePrincipal', 'string');
    if (service !== undefined && !SERVICE_PRINCIPAL.test(service)) throw invalidInput('INVALID_PATTERN');
    const admins = this.tree.delegatedAdministrators().filter((d) => service === undefined || d.service === service);
    const shape = ({ account, since }) => ({ ...this.accountShape(account), DelegationEnabledDate: since });
    return this.page('DelegatedAdministrators', admins, input, shape, service);
  }

  /**
   * Whether the caller's account may call `operation`: the management account and a delegated
   * administrator may read everything; any member account may call DescribeOrganization only.
   */
  authorize(operation, caller) {
    if (operation === 'DescribeOrganization' || this.tree.roleOf(caller.account) !== 'member') return;
    throw new OrgError(400, 'AccessDeniedException', DENIED_MESSAGE);
  }

  /** The operation an X-Amz-Target names, or an UnknownOperationException. */
  operationOf(req) {
    const target = req.headers['x-amz-target'] ?? '';
    const name = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : '';
    if (!Object.hasOwn(this.operations, name)) throw new OrgError(400, 'UnknownOperationException', null);
    return name;
  }

  parse(body) {
    if (body.length === 0) return {};
    let input;
    try {
      input = JSON.parse(body.toString('utf8'));
    } catch {
      throw new OrgError(400, 'SerializationException', null);
    }
    if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new OrgError(400, 'SerializationException', null);
    return input;
  }

  send(res, status, text, rid) {
    res.writeHead(status, {
      'Content-Type': CONTENT_TYPE,
      'Content-Length': Buffer.byteLength(text),
      'x-amzn-RequestId': rid,
      Date: new Date(this.sim.clock()).toUTCString(),
    });
    res.end(text);
  }

  /** An error as AWS JSON services send theirs: __type, and the message when there is one. */
  fail(res, { status, type, text, extra }, messageKey, rid) {
    const body = { __type: type, ...(text === null ? {} : { [messageKey]: text }), ...extra };
    this.send(res, status, JSON.stringify(body), rid);
  }

  async handle(req, res) {
    const rid = requestId();
    const admitted = await admit(this.sim, 'organizations', req, res, { service: 'organizations', region: SIGNING_REGION });
    if (admitted.refusal) {
      const { status, code, message } = admitted.refusal;
      return this.fail(res, { status, type: code, text: message, extra: {} }, MODELLED_REFUSALS.has(code) ? 'Message' : 'message', rid);
    }
    let operation = null;
    try {
      operation = this.operationOf(req);
      this.sim.counters.organizationsCall(operation);
      const input = this.parse(admitted.body);
      this.authorize(operation, admitted.identity);
      const result = this.operations[operation](input);
      this.sim.log(`organizations ${operation} ok`);
      return this.send(res, 200, jsonBody(result), rid);
    } catch (err) {
      if (!(err instanceof OrgError)) throw err;
      this.sim.log(`organizations ${operation ?? req.headers['x-amz-target']} ${err.type}`);
      return this.fail(res, err, 'Message', rid);
    }
  }
}
