// --workers: several worker processes on one port per endpoint. Each test holds connections
// known (through GET /_sim/worker) to reach two different workers, and checks that what one
// worker issued (temporary credentials, MCP sessions) another accepts, that a DELETEd session is
// refused by every worker, that the counters add up over the workers, and that stopping the
// ready line's pid stops them all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { assumeRole, baseCreds, counters, INITIALIZE, MCP_HEADERS, mcpPost, signingFetch, startSim, sts, xmlField } from './helpers.mjs';

/** A fetch over one kept-alive connection of its own, so that one worker answers all it sends. */
function connection() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const send = (url, init = {}) => new Promise((resolve, reject) => {
    const headers = Object.fromEntries(new Headers(init.headers));
    const req = http.request(String(url), { method: init.method ?? 'GET', headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve(new Response(Buffer.concat(chunks), { status: res.statusCode, headers: res.headers })));
    });
    req.on('error', reject);
    req.end(init.body);
  });
  return { agent, send };
}

/** Two connections to `origin` answered by two different workers: [{ send, worker, pid }, …]. */
async function twoWorkers(origin) {
  const found = new Map();
  for (let i = 0; i < 20 && found.size < 2; i++) {
    const { agent, send } = connection();
    const { worker, pid } = await (await send(`${origin}/_sim/worker`)).json();
    if (found.has(worker)) agent.destroy();
    else found.set(worker, { send, worker, pid, close: () => agent.destroy() });
  }
  assert.equal(found.size, 2, `connections to ${origin} reached one worker only`);
  return [...found.values()];
}

function deleteSession(ready, creds, session, send) {
  return signingFetch(creds, { send })(ready.mcp, { method: 'DELETE', headers: { ...MCP_HEADERS, 'mcp-session-id': session } });
}

const LIST_REGIONS = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'aws___list_regions', arguments: {} } };

test('--workers 2: credentials and sessions one worker issued are good at the other; a DELETE ends a session everywhere; counters add up', async (t) => {
  const sim = await startSim(['--workers', '2', '--accounts', '3']);
  t.after(() => sim.stop());
  const { ready } = sim;
  const [stsA, stsB] = await twoWorkers(ready.sts);
  const [mcpA, mcpB] = await twoWorkers(ready.mcp.replace(/\/mcp$/, ''));
  t.after(() => [stsA, stsB, mcpA, mcpB].forEach((c) => c.close()));
  assert.notEqual(stsA.pid, stsB.pid);
  assert.ok(![stsA.pid, stsB.pid].includes(ready.pid), "the ready line's pid is the primary's");

  const account = ready.accounts[0];
  const creds = await assumeRole(ready, account, {}, baseCreds(ready), { send: stsA.send });
  const who = await sts(ready, creds, { Action: 'GetCallerIdentity' }, { send: stsB.send });
  assert.equal(who.status, 200, who.text);
  assert.equal(xmlField(who.text, 'Arn'), `arn:aws:sts::${account}:assumed-role/CentralOpsTargetRole/test`);
  const tampered = await sts(ready, { ...creds, sessionToken: creds.sessionToken.replace(/.(?==*$)/, (c) => (c === 'A' ? 'B' : 'A')) }, { Action: 'GetCallerIdentity' }, { send: stsB.send });
  assert.equal(xmlField(tampered.text, 'Code'), 'InvalidClientTokenId', `a token with one character changed is refused: ${tampered.status} ${tampered.text}`);

  const init = await mcpPost(ready, creds, INITIALIZE, { fetchOpts: { send: mcpA.send } });
  assert.equal(init.status, 200, init.text);
  const session = init.headers.get('mcp-session-id');
  const call = await mcpPost(ready, creds, LIST_REGIONS, { session, fetchOpts: { send: mcpB.send } });
  assert.equal(call.status, 200, call.text);
  assert.match(call.json.result.content[0].text, /us-east-1/);

  const other = await assumeRole(ready, ready.accounts[1], { RoleSessionName: 'other' }, baseCreds(ready), { send: stsB.send });
  const stolen = await mcpPost(ready, other, LIST_REGIONS, { session, fetchOpts: { send: mcpB.send } });
  assert.equal(stolen.status, 404, 'another caller cannot use the session at another worker either');

  const closed = await deleteSession(ready, creds, session, mcpB.send);
  assert.equal(closed.status, 200);
  for (const { send, worker } of [mcpA, mcpB]) {
    const after = await mcpPost(ready, creds, LIST_REGIONS, { session, fetchOpts: { send } });
    assert.equal(after.status, 404, `worker ${worker} refuses the DELETEd session`);
  }

  const c = await counters(ready);
  assert.equal(c.requests.sts, 4, 'two AssumeRole, a GetCallerIdentity and a refused one, over both workers');
  assert.deepEqual(c.assume_role, { [account]: 1, [ready.accounts[1]]: 1 });
  assert.equal(c.get_caller_identity, 1);
  assert.equal(c.signature_failures.by_reason.bad_token, 1);
  assert.equal(c.requests.mcp, 6);
  assert.equal(c.sessions_opened, 1);
  assert.equal(c.sessions_closed, 1);
  assert.equal(c.sessions_active, 0);
  assert.equal(c.session_identity_mismatch, 1);
  assert.equal(c.tool_calls.total, 1);
  await fetch(ready.counters.replace(/counters$/, 'reset'), { method: 'POST' });
  const zero = await counters(ready);
  assert.equal(zero.requests.total, 0, 'a reset reaches every worker');
});

test('--workers 2: stopping the ready line pid stops every worker', async () => {
  const sim = await startSim(['--workers', '2', '--accounts', '1']);
  const pair = await twoWorkers(sim.ready.sts);
  pair.forEach((c) => c.close());
  assert.deepEqual(await sim.stop(), { code: 0, signal: null });
  for (const { pid } of pair) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `worker ${pid} is gone`);
  }
});

test('--workers refuses the flags whose state one process keeps', () => {
  for (const flags of [['--mcp-rate-limit', '3'], ['--session-expiry', '2'], ['--throttle-rate', '0.1'], ['--working-after-ms', '10']]) {
    const run = spawnSync(process.execPath, [fileURLToPath(new URL('../server.mjs', import.meta.url)), '--workers', '2', ...flags], { encoding: 'utf8' });
    assert.equal(run.status, 2);
    assert.match(run.stderr, new RegExp(`^opsrun-sim: --workers 2: ${flags[0]}.* needs a single worker`));
  }
});
