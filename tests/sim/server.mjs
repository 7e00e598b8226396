#!/usr/bin/env node
// opsrun-sim: a loopback simulator of AWS STS, AWS Organizations, IAM Identity Center (SSO portal, SSO OIDC) and the hosted AWS MCP Server for opsrun's tests
// and demo. Listens on 127.0.0.1 (free ports), prints one JSON line on stdout when ready, logs
// only to stderr, and exits 0 on SIGTERM or SIGINT. Flags: see lib/options.mjs or --help.
// With --workers N (node:cluster, lib/workers.mjs) N worker processes serve STS, MCP and
// Organizations on shared ports, and the primary process serves SSO (whose sign-ins change with
// every use) and carries what the workers share: the counters, their reset, ended MCP sessions.
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { parseOptions, helpText } from './lib/options.mjs';
import { CredentialStore, Organisation, WEB_IDENTITY_ROLE } from './lib/identity.mjs';
import { Counters, sumSnapshots } from './lib/counters.mjs';
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
import { createTlsServer, loadTestPki, makeTestPki, removeTestPki } from './lib/tls.mjs';
import { forkWorkers, Link } from './lib/workers.mjs';

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

// 'alone' serves every endpoint; with --workers, the 'primary' serves SSO, each 'worker' the rest.
const role = opts.workers === 1 ? 'alone' : cluster.isPrimary ? 'primary' : 'worker';
const workerNumber = role === 'worker' ? Number(process.env.OPSRUN_SIM_WORKER) : 0;
const counters = new Counters();
const log = opts.log ? (line) => process.stderr.write(`opsrun-sim: ${line}\n`) : () => {};
const sim = {
  opts,
  org,
  creds: new CredentialStore(org, workerNumber),
  counters,
  clock: makeClock(opts.skewSeconds),
  faults: new Faults(opts),
  log,
};
// The primary asks its workers (fleet); a worker asks the primary (link).
let fleet = null;
let link = null;
if (role === 'worker') {
  link = new Link(process, {
    snapshot: () => snapshot(),
    reset: () => counters.reset(),
    ended: (id) => mcp.endedElsewhere(id),
  });
}
// Session ids are signed with a secret of this run, the same in every worker.
const sessionSecret = role === 'worker' ? Buffer.from(process.env.OPSRUN_SIM_SESSION_SECRET, 'hex') : randomBytes(32);
sim.sessionIds = new SessionIds(sessionSecret, link ? (id) => link.ask('ended', id) : undefined);
if (role !== 'primary') {
  sim.sandbox = new Sandbox({
    limitSeconds: opts.scriptTimeout,
    shapes: SHAPES,
    log: (line) => process.stderr.write(`opsrun-sim: ${line}\n`),
  });
  await sim.sandbox.start().catch((err) => fail(`cannot start the Python sandbox: ${err.message}`));
}
// --tls: the primary (or the one process) makes the test CA; workers serve its certificate.
let pki = null;
try {
  if (opts.tls && role === 'worker') pki = loadTestPki(process.env.OPSRUN_SIM_TLS_DIR);
  else if (opts.tls) pki = makeTestPki();
  if (pki && role !== 'worker') process.on('exit', () => removeTestPki(pki)); // fail() too: nothing left in /tmp
} catch (err) {
  fail(`cannot make or read the test CA (--tls): ${err.stderr?.toString().trim() || err.message}`);
}
const sts = new StsService(sim);
const mcp = new McpService(sim);
const organizations = new OrganizationsService(sim);
const sso = role === 'worker' ? null : new SsoDirectory(sim);
let ready = null;
const snapshot = () => counters.snapshot({ sessions_active: mcp.sessionCount });
const hooks = {
  org,
  defaultRegion: opts.region,
  counters: snapshot,
  reset: () => counters.reset(),
  config: () => ready,
  ssoLogin: (where) => sso.login(where),
  worker: () => ({ worker: workerNumber, pid: process.pid }),
};
if (role === 'primary') {
  hooks.counters = async () => sumSnapshots([snapshot(), ...(await fleet.askAll('snapshot'))]);
  hooks.reset = () => Promise.all([counters.reset(), fleet.askAll('reset')]);
} else if (role === 'worker') {
  for (const name of ['counters', 'reset', 'config', 'ssoLogin']) hooks[name] = (body) => link.ask(name, body);
}

function serve(endpoint, service) {
  const handle = (req, res) => {
    if (req.url.startsWith('/_sim/')) return handleHook(hooks, req, res);
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

// A worker's servers, listened to in this order in every worker, share their ports (cluster
// pairs the n-th listen of each worker); the primary's are its own.
const servers = [
  ...(role === 'primary' ? [] : [serve('sts', sts), serve('mcp', mcp), serve('organizations', organizations)]),
  ...(role === 'worker' ? [] : [serve('sso', ssoPortalService(sim, sso)), serve('sso_oidc', ssoOidcService(sim, sso))]),
];
const ports = await Promise.all(servers.map(listen)).catch((err) => fail(`cannot listen: ${err.message}`));

let stopping = false;
async function stop(status = 0) {
  if (stopping) return;
  stopping = true;
  for (const server of servers) {
    server.close();
    server.closeAllConnections();
  }
  sim.sandbox?.stop();
  await fleet?.stop();
  process.exit(status);
}
process.on('SIGTERM', () => stop());
process.on('SIGINT', () => stop());

if (role === 'worker') {
  process.on('disconnect', () => stop()); // the primary is gone
  await link.ask('listening', ports);
} else {
  let stsPort, mcpPort, organizationsPort, ssoPort, ssoOidcPort;
  if (role === 'alone') {
    [stsPort, mcpPort, organizationsPort, ssoPort, ssoOidcPort] = ports;
  } else {
    const { counters: gather, reset, config, ssoLogin } = hooks;
    const env = { OPSRUN_SIM_SESSION_SECRET: sessionSecret.toString('hex'), OPSRUN_SIM_TLS_DIR: pki?.dir ?? '' };
    fleet = forkWorkers(opts.workers, env, {
      counters: gather,
      reset,
      config,
      ssoLogin,
      ended: (id) => fleet.askAll('ended', id),
    }, (what) => {
      process.stderr.write(`opsrun-sim: ${what}; stopping\n`);
      stop(1);
    });
    [ssoPort, ssoOidcPort] = ports;
    [stsPort, mcpPort, organizationsPort] = await fleet.ready.catch((err) => fail(err.message));
  }
  announceReady({ stsPort, mcpPort, organizationsPort, ssoPort, ssoOidcPort });
}

/** Prints the ready line (the `pid` is this process's: stopping it stops every worker). */
function announceReady({ stsPort, mcpPort, organizationsPort, ssoPort, ssoOidcPort }) {
  const base = sim.creds.base;
  const origin = (port) => `${pki ? 'https' : 'http'}://127.0.0.1:${port}`;
  ready = {
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
  process.stdout.write(JSON.stringify(ready) + '\n');
}
