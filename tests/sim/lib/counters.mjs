// What happened, for tests to assert on: GET /_sim/counters returns snapshot(), POST
// /_sim/reset calls reset(). Plain integers and per-key tallies; no dependencies.

function bump(map, key, by = 1) {
  map[key] = (map[key] ?? 0) + by;
}

export class Counters {
  constructor() {
    this.reset();
  }

  reset() {
    this.epoch = (this.epoch ?? 0) + 1;
    this.requests = { total: 0, sts: 0, mcp: 0, organizations: 0, sso: 0, sso_oidc: 0 };
    this.assumeRole = {};
    this.assumeRoleDenied = {};
    this.getCallerIdentity = 0;
    this.assumeRoleWithWebIdentity = 0;
    this.signatureFailures = { total: 0, by_reason: {}, by_endpoint: { sts: 0, mcp: 0, organizations: 0 } };
    this.sessionsOpened = 0;
    this.sessionsClosed = 0;
    this.sessionsExpired = 0;
    this.sessionIdentityMismatch = 0;
    this.toolCalls = { total: 0, by_account: {}, by_tool: {} };
    this.mcpRequestsByAccount = {};
    this.statelessRequests = { total: 0, by_method: {} };
    this.boto3Calls = {};
    this.boto3CallsByAccount = {};
    this.disabledRegionCalls = { total: 0, by_account: {} };
    this.throttled = { sts: 0, mcp: 0, organizations: 0 };
    this.quotaThrottled = { total: 0, by_account: {} };
    this.errors5xx = { sts: 0, mcp: 0, organizations: 0 };
    this.hungCalls = 0;
    this.tasksStarted = { total: 0, by_account: {} };
    this.taskPolls = { total: 0, by_account: {} };
    this.concurrent = { total: 0, sts: 0, mcp: 0, organizations: 0, sso: 0, sso_oidc: 0 };
    this.peak = { total: 0, sts: 0, mcp: 0, organizations: 0, sso: 0, sso_oidc: 0 };
    this.organizationsCalls = {};
    this.ssoCalls = {};
    this.ssoErrors = {};
    this.deletes = 0;
    this.concurrentDeletes = 0;
    this.peakConcurrentDeletes = 0;
    this.tls = { handshakes: 0, resumed: 0, by_endpoint: {}, by_protocol: {}, hooks: 0 };
    this.httpVersions = {};
  }

  /** A TLS handshake an endpoint completed (--tls): `protocol` is what ALPN chose ('h2',
   * 'http/1.1'), `resumed` whether the client resumed an earlier TLS session. Returns a mark for
   * tlsHandshakeForHook. */
  tlsHandshake(endpoint, protocol, resumed) {
    this.tls.handshakes++;
    if (resumed) this.tls.resumed++;
    bump(this.tls.by_endpoint, endpoint);
    bump(this.tls.by_protocol, protocol);
    return this.epoch;
  }

  /** The handshake (`mark` from tlsHandshake) of a connection whose first request was one of the
   * simulator's hooks (a test reading the counters): counted apart, not as the endpoint's. */
  tlsHandshakeForHook(endpoint, protocol, resumed, mark) {
    this.tls.hooks++;
    if (mark !== this.epoch) return; // counted before a reset: gone already
    this.tls.handshakes--;
    if (resumed) this.tls.resumed--;
    bump(this.tls.by_endpoint, endpoint, -1);
    bump(this.tls.by_protocol, protocol, -1);
  }

  /** A request (not a hook) and the HTTP version it came in ('1.1', '2.0'). */
  httpVersion(version) {
    bump(this.httpVersions, version);
  }

  /** Marks a request as in flight; returns the function that marks it done. MCP DELETEs (the
   * closing of sessions) are also counted apart. */
  begin(endpoint, method) {
    const isDelete = endpoint === 'mcp' && method === 'DELETE';
    this.requests.total++;
    this.requests[endpoint]++;
    this.concurrent.total++;
    this.concurrent[endpoint]++;
    this.peak.total = Math.max(this.peak.total, this.concurrent.total);
    this.peak[endpoint] = Math.max(this.peak[endpoint], this.concurrent[endpoint]);
    if (isDelete) {
      this.deletes++;
      this.peakConcurrentDeletes = Math.max(this.peakConcurrentDeletes, ++this.concurrentDeletes);
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.concurrent.total--;
      this.concurrent[endpoint]--;
      if (isDelete) this.concurrentDeletes--;
    };
  }

  signatureFailure(endpoint, reason) {
    this.signatureFailures.total++;
    this.signatureFailures.by_endpoint[endpoint]++;
    bump(this.signatureFailures.by_reason, reason);
  }

  assumeRoleCall(account) {
    bump(this.assumeRole, account);
  }

  assumeRoleDeniedCall(account) {
    bump(this.assumeRoleDenied, account);
  }

  /** A signed MCP request (any method, DELETE included) admitted from this account. */
  mcpRequest(account) {
    bump(this.mcpRequestsByAccount, account);
  }

  /** A request served by the stateless revision (--mcp-revision 2026-07-28 or both). */
  statelessRequest(account, method) {
    this.statelessRequests.total++;
    bump(this.statelessRequests.by_method, method);
  }

  toolCall(account, tool) {
    this.toolCalls.total++;
    bump(this.toolCalls.by_account, account);
    bump(this.toolCalls.by_tool, tool);
  }

  /** A request refused because its account used up its per-account quota (--mcp-rate-limit). */
  quotaThrottle(account) {
    this.quotaThrottled.total++;
    bump(this.quotaThrottled.by_account, account);
  }

  /** A tool call that outlived --working-after-ms and became a task. */
  taskStarted(account) {
    this.tasksStarted.total++;
    bump(this.tasksStarted.by_account, account);
  }

  /** An aws___get_tasks call whose arguments fit its schema. */
  taskPoll(account) {
    this.taskPolls.total++;
    bump(this.taskPolls.by_account, account);
  }

  /** An Organizations request naming an operation the endpoint serves (whatever its answer). */
  organizationsCall(operation) {
    bump(this.organizationsCalls, operation);
  }

  /** A GetRoleCredentials or CreateToken answered; `error` is its exception, if it failed. */
  ssoCall(operation, error) {
    bump(this.ssoCalls, operation);
    if (error) bump(this.ssoErrors, `${operation}.${error}`);
  }

  boto3Call(service, operation, account) {
    bump(this.boto3Calls, `${service}.${operation}`);
    bump((this.boto3CallsByAccount[account] ??= {}), `${service}.${operation}`);
  }

  /** A call_boto3 call refused because the caller's account has not enabled its Region. */
  disabledRegionCall(account) {
    this.disabledRegionCalls.total++;
    bump(this.disabledRegionCalls.by_account, account);
  }

  snapshot(extra = {}) {
    return {
      requests: { ...this.requests },
      assume_role: { ...this.assumeRole },
      assume_role_denied: { ...this.assumeRoleDenied },
      get_caller_identity: this.getCallerIdentity,
      assume_role_with_web_identity: this.assumeRoleWithWebIdentity,
      signature_failures: {
        total: this.signatureFailures.total,
        by_reason: { ...this.signatureFailures.by_reason },
        by_endpoint: { ...this.signatureFailures.by_endpoint },
      },
      sessions_opened: this.sessionsOpened,
      sessions_closed: this.sessionsClosed,
      sessions_expired: this.sessionsExpired,
      session_identity_mismatch: this.sessionIdentityMismatch,
      tool_calls: {
        total: this.toolCalls.total,
        by_account: { ...this.toolCalls.by_account },
        by_tool: { ...this.toolCalls.by_tool },
      },
      mcp_requests_by_account: { ...this.mcpRequestsByAccount },
      stateless_requests: { total: this.statelessRequests.total, by_method: { ...this.statelessRequests.by_method } },
      boto3_calls: { ...this.boto3Calls },
      boto3_calls_by_account: Object.fromEntries(Object.entries(this.boto3CallsByAccount).map(([account, calls]) => [account, { ...calls }])),
      disabled_region_calls: { total: this.disabledRegionCalls.total, by_account: { ...this.disabledRegionCalls.by_account } },
      throttled: { ...this.throttled },
      quota_throttled: { total: this.quotaThrottled.total, by_account: { ...this.quotaThrottled.by_account } },
      errors_5xx: { ...this.errors5xx },
      hung_calls: this.hungCalls,
      tasks_started: { total: this.tasksStarted.total, by_account: { ...this.tasksStarted.by_account } },
      task_polls: { total: this.taskPolls.total, by_account: { ...this.taskPolls.by_account } },
      concurrent_requests: { ...this.concurrent },
      peak_concurrent_requests: { ...this.peak },
      deletes: this.deletes,
      concurrent_deletes: this.concurrentDeletes,
      peak_concurrent_deletes: this.peakConcurrentDeletes,
      tls_handshakes: this.tls.handshakes,
      tls_resumed: this.tls.resumed,
      tls_handshakes_by_endpoint: { ...this.tls.by_endpoint },
      tls_handshakes_by_protocol: { ...this.tls.by_protocol },
      tls_hook_handshakes: this.tls.hooks,
      requests_by_http_version: { ...this.httpVersions },
      org_requests: this.requests.organizations,
      sso_calls: { ...this.ssoCalls },
      sso_errors: { ...this.ssoErrors },
      ...Object.fromEntries(Object.entries(this.organizationsCalls).map(([operation, n]) => [`org_${operation}`, n])),
      ...extra,
    };
  }
}

/**
 * The snapshots of several worker processes as one: numbers add up and tallies merge. A sum of
 * peaks bounds the peak of the whole from above (the workers' peaks need not coincide).
 */
export function sumSnapshots(snapshots) {
  const add = (sum, value) => {
    if (typeof value === 'number') return (sum ?? 0) + value;
    const merged = { ...sum };
    for (const [key, part] of Object.entries(value)) merged[key] = add(merged[key], part);
    return merged;
  };
  return snapshots.reduce(add, {});
}
