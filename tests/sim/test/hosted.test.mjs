// HTTP tests of the hosted server's own behaviours: the -30001 answer for a session it does not
// know (at each HTTP status it may come with), sessions owned by the caller's user id, and the
// per-account request quota. Raw signed requests through helpers.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { assumeRole, counters, INITIALIZE, mcpPost, openSession, signingFetch, startSim } from './helpers.mjs';

const GONE = 'The provided SessionId was not found or has expired, please re-initialize your connection.';
const LIST = { jsonrpc: '2.0', id: 2, method: 'tools/list' };

async function withSim(flags, fn) {
  const sim = await startSim(flags);
  try {
    await fn(sim.ready);
  } finally {
    await sim.stop();
  }
}

for (const status of [200, 400, 404]) {
  test(`--session-expiry-error hosted: an expired or unknown session gets -30001 at HTTP ${status}`, () =>
    withSim(['--accounts', '1', '--session-expiry', '2', '--session-expiry-error', 'hosted', '--session-expiry-status', String(status)], async (ready) => {
      const creds = await assumeRole(ready, ready.accounts[0]);
      const session = await openSession(ready, creds);
      assert.equal((await mcpPost(ready, creds, LIST, { session })).status, 200);

      const expired = await mcpPost(ready, creds, { ...LIST, id: 'call-9' }, { session });
      assert.equal(expired.status, status);
      assert.equal(expired.headers.get('content-type'), 'application/json');
      assert.equal(expired.headers.get('mcp-session-id'), null);
      assert.deepEqual(expired.json, { jsonrpc: '2.0', error: { code: -30001, message: GONE }, id: 'call-9' });

      const unknown = await mcpPost(ready, creds, LIST, { session: 'no-such-session' });
      assert.deepEqual([unknown.status, unknown.json], [status, { jsonrpc: '2.0', error: { code: -30001, message: GONE }, id: 2 }]);
      const notification = await mcpPost(ready, creds, { jsonrpc: '2.0', method: 'notifications/initialized' }, { session });
      assert.deepEqual([notification.status, notification.json.id], [status, null]);
      const deleted = await signingFetch(creds)(ready.mcp, { method: 'DELETE', headers: { 'mcp-session-id': session } });
      assert.deepEqual([deleted.status, (await deleted.json()).error.code], [status, -30001]);

      const fresh = await openSession(ready, creds);
      assert.equal((await mcpPost(ready, creds, LIST, { session: fresh })).status, 200, 'a new initialize recovers');
      const c = await counters(ready);
      assert.equal(c.sessions_expired, 1);
      assert.equal(c.sessions_opened, 2);
    }));
}

test('--session-expiry-error hosted with --nonstandard-errors: result null beside the error, id still echoed', () =>
  withSim(['--accounts', '1', '--session-expiry-error', 'hosted', '--session-expiry-status', '200', '--nonstandard-errors'], async (ready) => {
    const creds = await assumeRole(ready, ready.accounts[0]);
    const unknown = await mcpPost(ready, creds, { ...LIST, id: 41 }, { session: 'no-such-session' });
    assert.deepEqual([unknown.status, unknown.json], [200, { jsonrpc: '2.0', id: 41, result: null, error: { code: -30001, message: GONE } }]);
  }));

test('without the flag a forgotten session is still the SDK 404 -32001; bad combinations are refused', async () => {
  await withSim(['--accounts', '1'], async (ready) => {
    const creds = await assumeRole(ready, ready.accounts[0]);
    const unknown = await mcpPost(ready, creds, LIST, { session: 'no-such-session' });
    assert.deepEqual([unknown.status, unknown.json], [404, { jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }]);
  });
  await assert.rejects(startSim(['--session-expiry-status', '200']), /needs --session-expiry-error hosted/);
  await assert.rejects(startSim(['--session-expiry-error', 'hosted', '--session-expiry-status', '500']), /expected 200, 400 or 404/);
  await assert.rejects(startSim(['--session-expiry-error', 'gone']), /expected standard or hosted/);
  await assert.rejects(startSim(['--mcp-rate-limit', '-1']), /expected >= 0/);
});

test("a session belongs to the caller's user id: a refreshed key of the same role session keeps it, another session name does not", () =>
  withSim(['--accounts', '1', '--session-expiry-error', 'hosted', '--session-expiry-status', '400'], async (ready) => {
    const account = ready.accounts[0];
    const first = await assumeRole(ready, account, { RoleSessionName: 'sweep' });
    const session = await openSession(ready, first);
    const refreshed = await assumeRole(ready, account, { RoleSessionName: 'sweep' });
    assert.notEqual(refreshed.accessKeyId, first.accessKeyId);
    assert.equal((await mcpPost(ready, refreshed, LIST, { session })).status, 200);

    const other = await assumeRole(ready, account, { RoleSessionName: 'botocore-session-1767225600' });
    const refused = await mcpPost(ready, other, LIST, { session });
    assert.deepEqual([refused.status, refused.json.error.code], [400, -30001]);
    assert.equal((await counters(ready)).session_identity_mismatch, 1);
  }));

/** Sends `n` tools/list at once on `session`; resolves to { ok, throttled: [answers], elapsedMs }. */
async function burst(ready, creds, session, n) {
  const started = Date.now();
  const answers = await Promise.all(Array.from({ length: n }, (_, i) => mcpPost(ready, creds, { ...LIST, id: i + 10 }, { session })));
  const elapsedMs = Date.now() - started;
  const ok = answers.filter((a) => a.status === 200).length;
  return { ok, throttled: answers.filter((a) => a.status !== 200), elapsedMs };
}

for (const rate of [3, 10]) {
  test(`--mcp-rate-limit ${rate}: a burst in one account gets about ${rate} answers and 429s, other accounts pass, the bucket refills`, () =>
    withSim(['--accounts', '2', '--mcp-rate-limit', String(rate)], async (ready) => {
      const [busy, quiet] = ready.accounts;
      const busyCreds = await assumeRole(ready, busy);
      const quietCreds = await assumeRole(ready, quiet);
      const busySession = await openSession(ready, busyCreds);
      const quietSession = await openSession(ready, quietCreds);
      await sleep(1100); // initialize and its notification took two tokens: let the bucket fill

      const n = rate * 2 + 5;
      const { ok, throttled, elapsedMs } = await burst(ready, busyCreds, busySession, n);
      // A full bucket holds `rate` tokens and gains one every 1000/rate ms of the burst.
      assert.ok(ok >= rate && ok <= rate + Math.ceil((elapsedMs * rate) / 1000) + 1, `${ok} of ${n} answered in ${elapsedMs} ms`);
      assert.ok(throttled.length > 0, `${n} requests in ${elapsedMs} ms were all answered`);
      for (const answer of throttled) {
        assert.equal(answer.status, 429);
        assert.equal(answer.headers.get('x-amzn-errortype'), 'ThrottlingException');
        assert.deepEqual(answer.json, { message: 'Rate exceeded' });
      }
      assert.equal((await mcpPost(ready, quietCreds, LIST, { session: quietSession })).status, 200, 'another account has its own quota');

      let c = await counters(ready);
      assert.deepEqual(c.quota_throttled, { total: throttled.length, by_account: { [busy]: throttled.length } });
      assert.deepEqual(c.throttled, { sts: 0, mcp: 0, organizations: 0 }, 'random throttling is counted apart');

      await sleep(1100);
      const spaced = [];
      for (let i = 0; i < rate + 2; i++) {
        spaced.push((await mcpPost(ready, busyCreds, LIST, { session: busySession })).status);
        await sleep(1000 / rate + 20);
      }
      assert.deepEqual(spaced, Array(rate + 2).fill(200), 'requests at the sustained rate all pass');
      c = await counters(ready);
      assert.equal(c.quota_throttled.total, throttled.length);
      assert.equal((await mcpPost(ready, busyCreds, INITIALIZE)).status, 200, 'initialize counts against the same quota and passes');
    }));
}
