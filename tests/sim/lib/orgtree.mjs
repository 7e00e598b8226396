// The fixture organisation as AWS Organizations shows it: its id, one root, a tree of OUs
// (Workloads with Prod and Dev below it, Sandbox, Security), every account placed in it by
// index (the central account, the ACTIVE workload accounts, the SUSPENDED and CLOSED extras, and
// a management account apart from the central one when --org-caller is not management), each
// account's tags, and who may read the tree. Deterministic for a --seed. Uses identity.mjs'
// Organisation and util.mjs.
import { digest, drawChars, pick, u32 } from './util.mjs';

const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** The management account when the central account is not it (--org-caller delegated|member). */
export const MANAGEMENT_ACCOUNT = '100000000001';
const SUSPENDED_BASE = 300000000000;
const CLOSED_BASE = 400000000000;
/** Paths of the OUs below the root, parents before children. */
const OU_PATHS = ['Root/Workloads', 'Root/Workloads/Prod', 'Root/Workloads/Dev', 'Root/Sandbox', 'Root/Security'];
/** Where the i-th workload account goes (i modulo the length), so that every OU holds some. */
const PLACEMENT = ['Root/Workloads/Prod', 'Root/Workloads/Dev', 'Root/Sandbox', 'Root/Security', 'Root/Workloads'];
const ENVIRONMENT = {
  Root: 'management',
  'Root/Workloads': 'shared',
  'Root/Workloads/Prod': 'production',
  'Root/Workloads/Dev': 'development',
  'Root/Sandbox': 'sandbox',
  'Root/Security': 'security',
};
const TEAMS = ['payments', 'platform', 'data', 'identity', 'growth'];
/** The service the central account is a delegated administrator for (--org-caller delegated). */
export const DELEGATED_SERVICE = 'member.org.stacksets.cloudformation.amazonaws.com';
// 2019-01-01 .. 2025-01-01 (epoch seconds), when the seeded accounts joined.
const JOINED_FROM = Date.UTC(2019, 0, 1) / 1000;
const JOINED_SPAN = Date.UTC(2025, 0, 1) / 1000 - JOINED_FROM;

function extraIds(base, count) {
  return Array.from({ length: count }, (_, i) => String(base + i + 1));
}

export class OrgTree {
  /** `org`: identity.mjs' Organisation; `opts`: { seed, orgCaller, suspendedAccounts, closedAccounts }. */
  constructor(org, opts) {
    this.seed = opts.seed;
    this.caller = opts.orgCaller;
    this.id = 'o-' + drawChars(LOWER_ALNUM, 10, this.seed, 'org-id');
    this.management = this.caller === 'management' ? org.central : MANAGEMENT_ACCOUNT;
    this.central = org.central;
    this.root = { Id: 'r-' + drawChars(LOWER_ALNUM, 4, this.seed, 'root-id'), Name: 'Root', path: 'Root' };
    this.root.Arn = `arn:aws:organizations::${this.management}:root/${this.id}/${this.root.Id}`;
    this.ous = OU_PATHS.map((path) => this.makeOu(path));
    this.containers = new Map([this.root, ...this.ous].map((c) => [c.Id, c]));
    this.suspended = extraIds(SUSPENDED_BASE, opts.suspendedAccounts);
    this.closed = extraIds(CLOSED_BASE, opts.closedAccounts);
    this.accounts = this.placeAccounts(org.accounts);
    this.byId = new Map(this.accounts.map((a) => [a.Id, a]));
  }

  makeOu(path) {
    const id = `ou-${this.root.Id.slice(2)}-${drawChars(LOWER_ALNUM, 8, this.seed, 'ou-id', path)}`;
    const parentPath = path.slice(0, path.lastIndexOf('/'));
    return {
      Id: id,
      Arn: `arn:aws:organizations::${this.management}:ou/${this.id}/${id}`,
      Name: path.slice(path.lastIndexOf('/') + 1),
      path,
      parentPath,
    };
  }

  containerByPath(path) {
    return path === 'Root' ? this.root : this.ous.find((ou) => ou.path === path);
  }

  /** Every account with its place: the management and central accounts at the root. */
  placeAccounts(workloads) {
    const entries = [[this.management, 'Root', 'ACTIVE', 'Management']];
    if (this.central !== this.management) entries.push([this.central, 'Root', 'ACTIVE', 'Central Ops']);
    workloads.forEach((id, i) => entries.push([id, PLACEMENT[i % PLACEMENT.length], 'ACTIVE', `workload-${String(i + 1).padStart(4, '0')}`]));
    this.suspended.forEach((id, i) => entries.push([id, PLACEMENT[(i + 2) % PLACEMENT.length], 'SUSPENDED', `suspended-${i + 1}`]));
    this.closed.forEach((id, i) => entries.push([id, PLACEMENT[(i + 3) % PLACEMENT.length], 'CLOSED', `closed-${i + 1}`]));
    const accounts = entries.map(([id, path, state, name]) => this.makeAccount(id, this.containerByPath(path), state, name));
    // AWS documents no order for its lists: a seeded one keeps clients from relying on any.
    const rank = (a) => u32(digest('account-order', this.seed, a.Id));
    return accounts.sort((a, b) => rank(a) - rank(b));
  }

  makeAccount(id, container, state, name) {
    const d = digest('joined', this.seed, id);
    const joinedMs = (JOINED_FROM + (u32(d) % JOINED_SPAN)) * 1000 + (u32(d, 4) % 1000);
    return {
      Id: id,
      Arn: `arn:aws:organizations::${this.management}:account/${this.id}/${id}`,
      Email: `aws+${id}@example.com`,
      Name: name,
      State: state,
      JoinedMethod: id === this.management ? 'INVITED' : 'CREATED',
      JoinedTimestamp: joinedMs / 1000,
      parent: container.Id,
      path: container.path,
    };
  }

  /** The OU path by id for the ready line: { "Root/Workloads/Prod": "ou-…" }. */
  ouIdsByPath() {
    return Object.fromEntries(this.ous.map((ou) => [ou.path, ou.Id]));
  }

  /** The OUs directly below a root or OU id, or null when no such parent exists. */
  childOus(parentId) {
    const parent = this.containers.get(parentId);
    return parent ? this.ous.filter((ou) => ou.parentPath === parent.path) : null;
  }

  /** The accounts directly in a root or OU id, or null when no such parent exists. */
  accountsIn(parentId) {
    return this.containers.has(parentId) ? this.accounts.filter((a) => a.parent === parentId) : null;
  }

  /** Tags of an account, OU or root id (accounts carry team, cost-center, environment), or null. */
  tagsOf(resourceId) {
    if (this.containers.has(resourceId)) return [];
    const account = this.byId.get(resourceId);
    if (!account) return null;
    const d = digest('tags', this.seed, resourceId);
    return [
      { Key: 'team', Value: pick(TEAMS, d, 0) },
      { Key: 'cost-center', Value: `CC-${1000 + (u32(d, 4) % 9000)}` },
      { Key: 'environment', Value: ENVIRONMENT[account.path] },
    ];
  }

  /** 'management', 'delegated' (a delegated administrator) or 'member' for a caller's account. */
  roleOf(account) {
    if (account === this.management) return 'management';
    if (account === this.central && this.caller === 'delegated') return 'delegated';
    return 'member';
  }

  /** The delegated administrators (the central account with --org-caller delegated), each with
   * the service it administers and since when (a day after it joined). */
  delegatedAdministrators() {
    if (this.caller !== 'delegated') return [];
    const account = this.byId.get(this.central);
    return [{ account, service: DELEGATED_SERVICE, since: account.JoinedTimestamp + 86400 }];
  }
}
