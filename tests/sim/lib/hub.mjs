// The hub role of --hub-account: role OpsHub in that account trusts the central account's
// principals (with --hub-external-id, only when that ExternalId is given), and the workload
// roles then trust only OpsHub's sessions, so reaching a workload account takes a chain of two
// AssumeRole calls (central user -> OpsHub -> workload role). Used by identity.mjs.

export const HUB_ROLE = 'OpsHub';

export class Hub {
  /** `account`: the hub account's id ('' for none); `central`: the central account's id. */
  constructor({ account, externalId, central }) {
    this.account = account || null;
    this.externalId = externalId || null;
    this.central = central;
    this.roleArn = this.account ? `arn:aws:iam::${this.account}:role/${HUB_ROLE}` : null;
  }

  get enabled() {
    return this.account !== null;
  }

  isHubRole(account, roleName) {
    return this.enabled && account === this.account && roleName === HUB_ROLE;
  }

  /** Whether OpsHub's trust lets `caller` assume it: principals of the central account. */
  trustsForHub(caller, externalId) {
    if (caller.account !== this.central) return false;
    return !this.externalId || externalId === this.externalId;
  }

  /** Whether `caller` is a session of OpsHub, the only principal workload roles trust. */
  isHubSession(caller) {
    return caller.kind === 'assumed-role' && caller.account === this.account && caller.roleName === HUB_ROLE;
  }

  /** OpsHub's trust policy document (IAM ListRoles' shape). */
  trustPolicy() {
    const statement = { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${this.central}:root` }, Action: 'sts:AssumeRole' };
    if (this.externalId) statement.Condition = { StringEquals: { 'sts:ExternalId': this.externalId } };
    return { Version: '2012-10-17', Statement: [statement] };
  }
}
