#!/usr/bin/env node
// opsrun-sim: a loopback simulator of AWS STS, AWS Organizations, IAM Identity Center (SSO portal, SSO OIDC) and the hosted AWS MCP Server for opsrun's tests
// and demo. Listens on 127.0.0.1 (free ports), prints one JSON line on stdout when ready, logs
// only to stderr, and exits 0 on SIGTERM or SIGINT. Flags: see lib/options.mjs or --help.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { parseOptions, helpText } from './lib/options.mjs';
import { CredentialStore, Organisation, WEB_IDENTITY_ROLE } from './lib/identity.mjs';
import { Counters } from './lib/counters.mjs';
import { SessionIds } from './lib/sessionids.mjs';
import { Faults } from './lib/faults.mjs';
import { handleHook } from './lib/hooks.mjs';
import { makeWebIdentityToken, StsService } from './lib/sts.mjs';
import { McpService } from './lib/mcp.mjs';
import { OrganizationsService } from './lib/organizations.mjs';
import { SsoDirectory, ssoOidcService, ssoPortalService } from './lib/sso.mjs';
import { SHAPES } from './lib/boto3.mjs';
import { Sandbox } from './sandbox/sandbox.mjs';
import { makeClock } from './lib/util.mjs';
import { createTlsServer, makeTestPki, removeTestPki } from './lib/tls.mjs';

function fail(message) {
  process.stderr.write(`opsrun-sim: ${message}\n`);
  process.exit(2);
}

let opts;
let org;
try {
  opts = parseOptions(process.argv.slice(2));
  if (opts.help) {
    process.stdout.write(helpText());
    process.exit(0);
  }
  org = new Organisation(opts);
} catch (err) {
  fail(err.message);
}

const counters = new Counters();
const log = opts.log ? (line) => process.stderr.write(`opsrun-sim: ${line}\n`) : () => {};
const sandbox = new Sandbox({
  limitSeconds: opts.scriptTimeout,
  shapes: SHAPES,
  log: (line) => process.stderr.write(`opsrun-sim: ${line}\n`),
});
await sandbox.start().catch((err) => fail(`cannot start the Python sandbox: ${err.message}`));
let pki = null;
try {
  if (opts.tls) pki = makeTestPki();
  if (pki) process.on('exit', () => removeTestPki(pki)); // fail() too: nothing left in /tmp
} catch (err) {
  fail(`cannot make the test CA with openssl (--tls): ${err.stderr?.toString().trim() || err.message}`);
}
const sim = {
  opts,
  org,
  creds: new CredentialStore(org),
  counters,
  clock: makeClock(opts.skewSeconds),
  faults: new Faults(opts),
  sessionIds: new SessionIds(randomBytes(32)),
  sandbox,
  log,
};
const sts = new StsService(sim);
const mcp = new McpService(sim);
const organizations = new OrganizationsService(sim);
const sso = new SsoDirectory(sim);
const hookState = {
  counters,
  org,
  readyLine: null,
  defaultRegion: opts.region,
  extraCounters: () => ({ sessions_active: mcp.sessionCount }),
  sso,
};

function serve(endpoint, service) {
  const handle = (req, res) => {
    if (req.url.startsWith('/_sim/')) return handleHook(hookState, req, res);
    res.on('close', counters.begin(endpoint, req.method));
    counters.httpVersion(req.httpVersion);
    sim.log(`${endpoint} ${req.method} ${req.url}`);
    return service.handle(req, res).catch((err) => {
      process.stderr.write(`opsrun-sim: ${endpoint} ${req.method} ${req.url}: ${err.stack}\n`);
      if (res.headersSent) return res.destroy();
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      return res.end('opsrun-sim internal error\n');
    });
  };
  const server = pki ? createTlsServer(opts.tls, pki, endpoint, counters, handle) : http.createServer(handle);
  // Keep idle keep-alive connections as long as AWS front doors do, so clients reuse them.
  server.keepAliveTimeout = 60000;
  server.headersTimeout = 61000;
  return server;
}

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, backlog: 1024 }, () => resolve(server.address().port));
  });
}

const servers = [serve('sts', sts), serve('mcp', mcp), serve('organizations', organizations),
  serve('sso', ssoPortalService(sim, sso)), serve('sso_oidc', ssoOidcService(sim, sso))];
const [stsPort, mcpPort, organizationsPort, ssoPort, ssoOidcPort] = await Promise.all(servers.map(listen)).catch((err) => fail(`cannot listen: ${err.message}`));

const base = sim.creds.base;
const origin = (port) => `${pki ? 'https' : 'http'}://127.0.0.1:${port}`;
const ready = {
  sts: origin(stsPort),
  mcp: `${origin(mcpPort)}/mcp`,
  organizations: origin(organizationsPort),
  sso: origin(ssoPort),
  sso_oidc: origin(ssoOidcPort),
  ca_bundle: pki?.caFile,
  sso_role: opts.ssoRole,
  access_key_id: base.accessKeyId,
  secret_access_key: base.secretAccessKey,
  central_account: org.central,
  central_user_arn: org.userArn,
  accounts: org.accounts,
  denied: org.denied,
  hung: org.hung,
  region: opts.region,
  role_name: opts.roles[0],
  roles: opts.roles,
  web_identity_role_arn: `arn:aws:iam::${org.central}:role/${WEB_IDENTITY_ROLE}`,
  hub_role_arn: org.hub.roleArn ?? undefined,
  web_identity_token: makeWebIdentityToken(org.webIdentitySub, sim.clock()),
  ...organizations.readyFields(),
  counters: `${origin(mcpPort)}/_sim/counters`,
  pid: process.pid,
};
hookState.readyLine = ready;

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  for (const server of servers) {
    server.close();
    server.closeAllConnections();
  }
  sandbox.stop();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

process.stdout.write(JSON.stringify(ready) + '\n');
