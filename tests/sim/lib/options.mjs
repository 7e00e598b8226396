// Command-line flags of the simulator: one table drives parsing, defaults and --help, so the
// help text and the parser cannot drift apart. tests/sim/README.md repeats this table.

const FLAGS = [
  ['accounts', 'N', 5, 'workload accounts 200000000001.. (1-100000)', 'int'],
  ['seed', 'S', '1', 'seed of keys, data and randomised faults', 'string'],
  ['region', 'R', 'us-east-1', 'MCP signing region and default AWS_REGION for call_boto3', 'string'],
  ['sts-region', 'R', '', 'STS signing region required (default: any valid AWS region)', 'string'],
  ['skew-seconds', 'S', 0, "offset of the simulator's clock (Date header, signature time check)", 'int'],
  ['roles', 'LIST', 'CentralOpsTargetRole', 'role names present in every workload account (comma-separated)', 'list'],
  ['max-session-duration', 'S', 3600, 'MaxSessionDuration of every workload role (3600-43200)', 'int'],
  ['external-id', 'X', '', 'workload roles require this sts:ExternalId (default: none required)', 'string'],
  ['hub-account', 'ID', '', 'role OpsHub in account ID trusts the central account; workload roles then trust only its sessions', 'string'],
  ['hub-external-id', 'X', '', 'OpsHub requires this sts:ExternalId (default: none required)', 'string'],
  ['credential-lifetime', 'S', 0, 'lifetime of issued credentials, overriding DurationSeconds (0: use it)', 'int'],
  ['web-identity-sub', 'SUB', 'system:serviceaccount:ops:opsrun', 'JWT `sub` accepted by AssumeRoleWithWebIdentity', 'string'],
  ['sts-latency-ms', 'MS[-MS]', '0', 'each STS answer leaves MS after its request came in (fixed, or a seeded uniform range)', 'range'],
  ['mcp-latency-ms', 'MS[-MS]', '0', 'each MCP answer leaves MS after its request came in', 'range'],
  ['throttle-rate', 'F', 0, 'fraction of signed requests throttled on every endpoint', 'rate'],
  ['sts-throttle-rate', 'F', null, 'STS only: fraction answered 400 Throttling "Rate exceeded"', 'rate'],
  ['mcp-throttle-rate', 'F', null, 'MCP only: fraction answered HTTP 429', 'rate'],
  ['error-rate', 'F', 0, 'fraction of signed requests answered 500/503 on every endpoint', 'rate'],
  ['sts-error-rate', 'F', null, 'STS only: fraction answered InternalFailure 500 / ServiceUnavailable 503', 'rate'],
  ['mcp-error-rate', 'F', null, 'MCP only: fraction answered 500 / 503', 'rate'],
  ['sse', '', false, 'answer MCP requests as text/event-stream instead of JSON', 'bool'],
  ['mcp-revision', 'REV', '2025-11-25', 'MCP revision served: 2025-11-25 (sessions, as the hosted server), 2026-07-28 (stateless only) or both', 'string'],
  ['session-expiry', 'N', 0, 'an MCP session serves N requests after initialize, then is forgotten (0: never)', 'int'],
  ['session-expiry-error', 'KIND', 'standard', 'a forgotten session is answered: standard (404, -32001) or hosted (-30001)', 'string'],
  ['session-expiry-status', 'CODE', null, 'HTTP status of the hosted answer: 200, 400 or 404 (default 404)', 'int'],
  ['mcp-rate-limit', 'N', 0, 'MCP requests per second per account, as a token bucket of N (0: no limit)', 'int'],
  ['deny-accounts', 'N|IDS', '', "the last N accounts (or these ids): the role's trust refuses the central principal", 'accounts'],
  ['hang-accounts', 'N|IDS', '', 'N accounts before the denied ones (or these ids): MCP tool calls never answer', 'accounts'],
  ['tools-page-size', 'N', 3, 'tools per tools/list page', 'int'],
  ['nonstandard-errors', '', false, 'JSON-RPC errors come back as {"jsonrpc","id":"","result":null,"error"}', 'bool'],
  ['script-timeout', 'S', 30, 'aws___run_script time limit: a script still running after S seconds fails', 'int'],
  ['working-after-ms', 'MS', null, 'an aws___run_script still running after MS answers "working" with a task_id (default: never)', 'int'],
  ['task-expiry-seconds', 'S', 300, 'a task is forgotten S seconds after it finished', 'int'],
  ['boto3-latency-ms', 'MS', 0, 'each call_boto3 answer reaches the script MS after the call', 'int'],
  ['instances-per-region', 'N', null, 'EC2 instances in every account and region (default: 0-4, seeded)', 'int'],
  ['objects-per-bucket', 'N', null, 'S3 objects in every bucket (default: 0-6, seeded)', 'int'],
  ['opt-in-rate', 'F', 0.3, 'fraction of the opt-in Regions (af-south-1, ap-east-1, ...) each account has enabled, seeded', 'rate'],
  ['empty-page', '', false, 'a paginated result of 2+ pages answers an empty page (no items, a next token) after its first', 'bool'],
  ['org-caller', 'KIND', 'management', 'the central account is the management account, a delegated administrator, or a member', 'string'],
  ['suspended-accounts', 'N', 1, 'SUSPENDED accounts 300000000001.. in the organisation (0-10000)', 'int'],
  ['closed-accounts', 'N', 1, 'CLOSED accounts 400000000001.. in the organisation (0-10000)', 'int'],
  ['org-page-size', 'N', 20, 'most items on an Organizations page (1-20; MaxResults may ask fewer)', 'int'],
  ['org-empty-pages', '', false, 'each Organizations page that leaves items behind is followed by an empty page with a NextToken', 'bool'],
  ['org-legacy-status', '', false, 'accounts carry the retired Status beside State, as AWS sent them until 2026-09-09', 'bool'],
  ['org-latency-ms', 'MS[-MS]', '0', 'each Organizations answer leaves MS after its request came in', 'range'],
  ['org-throttle-rate', 'F', null, 'Organizations only: fraction answered 400 TooManyRequestsException', 'rate'],
  ['org-error-rate', 'F', null, 'Organizations only: fraction answered 500 ServiceException / 503', 'rate'],
  ['org-rate-limit', 'N', 0, 'Organizations requests per second per caller account, as a token bucket of N (0: no limit)', 'int'],
  ['sso-role', 'NAME', 'AWSAdministratorAccess', "the permission set assigned to the SSO user in the central account", 'string'],
  ['sso-token-lifetime', 'S', 3600, 'lifetime of SSO access tokens (login and CreateToken)', 'int'],
  ['sso-session-lifetime', 'S', 28800, 'an SSO sign-in ends S seconds after login: its refresh tokens stop working', 'int'],
  ['sso-registration-lifetime', 'S', 7776000, 'lifetime of the SSO OIDC client registration a login makes', 'int'],
  ['tls', 'MODE', '', 'serve every endpoint over TLS (https://) with a test CA made at start-up: h2 (HTTP/2 and HTTP/1.1 over ALPN) or http1.1 (HTTP/1.1 only)', 'string'],
  ['workers', 'N', 1, 'worker processes serving STS, MCP and Organizations on shared ports (1-64), a benchmarking aid', 'int'],
  ['log', '', false, 'one line per request on stderr', 'bool'],
  ['help', '', false, 'print this help and exit', 'bool'],
];

export function helpText() {
  const rows = FLAGS.map(([name, arg, def, text]) => {
    const left = `--${name}${arg ? ' ' + arg : ''}`;
    const shown = def === '' || def === null || def === false ? '' : ` [${def}]`;
    return `  ${left.padEnd(28)} ${text}${shown}`;
  });
  return [
    'usage: node tests/sim/server.mjs [flags]',
    'Loopback simulator of AWS STS, AWS Organizations and the AWS MCP Server. Prints one JSON line on stdout when',
    'ready (see tests/sim/README.md), logs only to stderr, exits 0 on SIGTERM or SIGINT.',
    '',
    ...rows,
    '',
  ].join('\n');
}

function convert(kind, name, text) {
  const fail = (what) => {
    throw new Error(`--${name}: ${what}, got '${text}'`);
  };
  switch (kind) {
    case 'int': {
      if (!/^-?\d+$/.test(text)) fail('expected an integer');
      return Number(text);
    }
    case 'rate': {
      const f = Number(text);
      if (text === '' || !Number.isFinite(f) || f < 0 || f > 1) fail('expected a fraction 0..1');
      return f;
    }
    case 'range': {
      const m = /^(\d+)(?:-(\d+))?$/.exec(text);
      if (!m || (m[2] !== undefined && +m[2] < +m[1])) fail('expected MS or MIN-MAX');
      return { min: +m[1], max: m[2] === undefined ? +m[1] : +m[2] };
    }
    case 'list':
      return text.split(',').map((s) => s.trim()).filter(Boolean);
    case 'accounts': {
      if (text === '') return { count: 0 };
      if (/^\d{1,6}$/.test(text)) return { count: Number(text) };
      const ids = text.split(',').map((s) => s.trim());
      if (!ids.every((id) => /^\d{12}$/.test(id))) fail('expected a count or 12-digit account ids');
      return { ids };
    }
    default:
      return text;
  }
}

/** Parses argv (without node and script) into an options object keyed by camelCase names. */
export function parseOptions(argv) {
  const byName = new Map(FLAGS.map((f) => [f[0], f]));
  const given = new Map();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/s.exec(arg);
    if (!m || !byName.has(m[1])) throw new Error(`unknown argument '${arg}' (see --help)`);
    const [name, , , , kind] = byName.get(m[1]);
    if (kind === 'bool') {
      if (m[2] !== undefined) throw new Error(`--${name} takes no value`);
      given.set(name, true);
      continue;
    }
    let value = m[2];
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new Error(`--${name} needs a value`);
      value = argv[++i];
    }
    given.set(name, convert(kind, name, value));
  }
  const opts = {};
  for (const [name, , def, , kind] of FLAGS) {
    const key = name.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    opts[key] = given.has(name) ? given.get(name) : kind === 'bool' || def === null ? def : convert(kind, name, String(def));
  }
  opts.stsThrottleRate ??= opts.throttleRate;
  opts.mcpThrottleRate ??= opts.throttleRate;
  opts.stsErrorRate ??= opts.errorRate;
  opts.mcpErrorRate ??= opts.errorRate;
  opts.orgThrottleRate ??= opts.throttleRate;
  opts.orgErrorRate ??= opts.errorRate;
  validateSessionExpiry(opts);
  opts.sessionExpiryStatus ??= 404;
  validate(opts);
  validateOrganizations(opts);
  validateWorkers(opts);
  if (!['2025-11-25', '2026-07-28', 'both'].includes(opts.mcpRevision)) throw new Error('--mcp-revision: expected 2025-11-25, 2026-07-28 or both');
  return opts;
}

function validate(opts) {
  if (opts.accounts < 1 || opts.accounts > 100000) throw new Error('--accounts: expected 1..100000');
  if (opts.maxSessionDuration < 3600 || opts.maxSessionDuration > 43200) {
    throw new Error('--max-session-duration: expected 3600..43200');
  }
  if (opts.credentialLifetime < 0) throw new Error('--credential-lifetime: expected >= 0');
  if (opts.sessionExpiry < 0) throw new Error('--session-expiry: expected >= 0');
  if (opts.mcpRateLimit < 0) throw new Error('--mcp-rate-limit: expected >= 0');
  if (opts.toolsPageSize < 1) throw new Error('--tools-page-size: expected >= 1');
  if (opts.roles.length === 0) throw new Error('--roles: expected at least one role name');
  if (opts.hubAccount !== '' && !/^\d{12}$/.test(opts.hubAccount)) throw new Error('--hub-account: expected a 12-digit account id');
  if (opts.tls !== '' && !['h2', 'http1.1'].includes(opts.tls)) throw new Error('--tls: expected h2 or http1.1');
  if (opts.scriptTimeout < 1) throw new Error('--script-timeout: expected >= 1');
  if (opts.workingAfterMs !== null && opts.workingAfterMs < 0) throw new Error('--working-after-ms: expected >= 0');
  if (opts.taskExpirySeconds < 1) throw new Error('--task-expiry-seconds: expected >= 1');
  if (opts.boto3LatencyMs < 0) throw new Error('--boto3-latency-ms: expected >= 0');
  if (opts.instancesPerRegion !== null && (opts.instancesPerRegion < 0 || opts.instancesPerRegion > 10000)) {
    throw new Error('--instances-per-region: expected 0..10000');
  }
  for (const name of ['ssoTokenLifetime', 'ssoSessionLifetime', 'ssoRegistrationLifetime']) {
    if (opts[name] < 1) throw new Error(`--${name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}: expected >= 1`);
  }
  if (opts.objectsPerBucket !== null && (opts.objectsPerBucket < 0 || opts.objectsPerBucket > 10000)) {
    throw new Error('--objects-per-bucket: expected 0..10000');
  }
}

function validateOrganizations(opts) {
  if (!['management', 'delegated', 'member'].includes(opts.orgCaller)) throw new Error('--org-caller: expected management, delegated or member');
  if (opts.suspendedAccounts < 0 || opts.suspendedAccounts > 10000) throw new Error('--suspended-accounts: expected 0..10000');
  if (opts.closedAccounts < 0 || opts.closedAccounts > 10000) throw new Error('--closed-accounts: expected 0..10000');
  if (opts.orgPageSize < 1 || opts.orgPageSize > 20) throw new Error('--org-page-size: expected 1..20');
  if (opts.orgRateLimit < 0) throw new Error('--org-rate-limit: expected >= 0');
}

function validateSessionExpiry({ sessionExpiryError, sessionExpiryStatus }) {
  if (!['standard', 'hosted'].includes(sessionExpiryError)) throw new Error('--session-expiry-error: expected standard or hosted');
  if (sessionExpiryStatus === null) return;
  if (sessionExpiryError !== 'hosted') throw new Error('--session-expiry-status: needs --session-expiry-error hosted');
  if (![200, 400, 404].includes(sessionExpiryStatus)) throw new Error('--session-expiry-status: expected 200, 400 or 404');
}

// Flags whose state one process keeps and several workers would each keep apart (a count of a
// session's requests, a token bucket, a stream of random faults, a task list): refused with
// --workers, whose purpose is benchmarks without them. [flag, whether it is in use].
const ONE_PROCESS_FLAGS = [
  ['session-expiry', (o) => o.sessionExpiry > 0],
  ['mcp-rate-limit', (o) => o.mcpRateLimit > 0],
  ['org-rate-limit', (o) => o.orgRateLimit > 0],
  ['throttle-rate (or an endpoint\'s)', (o) => o.stsThrottleRate + o.mcpThrottleRate + o.orgThrottleRate > 0],
  ['error-rate (or an endpoint\'s)', (o) => o.stsErrorRate + o.mcpErrorRate + o.orgErrorRate > 0],
  ['working-after-ms', (o) => o.workingAfterMs !== null],
];

function validateWorkers(opts) {
  if (opts.workers < 1 || opts.workers > 64) throw new Error('--workers: expected 1..64');
  if (opts.workers === 1) return;
  for (const [flag, inUse] of ONE_PROCESS_FLAGS) {
    if (inUse(opts)) throw new Error(`--workers ${opts.workers}: --${flag} needs a single worker (each would keep its own count); leave out one of them`);
  }
}
