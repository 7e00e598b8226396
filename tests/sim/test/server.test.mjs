// End-to-end tests of the simulator over HTTP: STS wire shapes, MCP sessions through the
// official SDK client (JSON and SSE), every fault flag, counters and shutdown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  assumeRole, baseCreds, counters, INITIALIZE, mcpPost, openSession, runScriptCall, signingFetch, startSim, sts, xmlField,
} from './helpers.mjs';

const EC2_SCRIPT = "result = await call_boto3(service_name='ec2', operation_name='DescribeInstances', region_name=None, params={})\nresult";

async function withSim(flags, fn) {
  const sim = await startSim(flags);
  try {
    await fn(sim.ready, sim);
  } finally {
    await sim.stop();
  }
}

async function sdkClient(ready, creds, region) {
  const transport = new StreamableHTTPClientTransport(new URL(ready.mcp), { fetch: signingFetch(creds, { region }) });
  const client = new Client({ name: 'sim-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

test('STS answers AWS XML shapes and errors', () =>
  withSim(['--accounts', '3', '--deny-accounts', '1'], async (ready) => {
    const who = await sts(ready, baseCreds(ready), { Action: 'GetCallerIdentity' });
    assert.equal(who.status, 200);
    assert.match(who.text, /^<GetCallerIdentityResponse xmlns="https:\/\/sts\.amazonaws\.com\/doc\/2011-06-15\/">\n  <GetCallerIdentityResult>\n    <Arn>arn:aws:iam::111111111111:user\/ops<\/Arn>/);
    assert.match(who.headers.get('x-amzn-requestid'), /^[0-9a-f-]{36}$/);

    const creds = await assumeRole(ready, ready.accounts[0]);
    assert.match(creds.accessKeyId, /^ASIA[A-Z2-7]{16}$/);
    assert.match(creds.expiration, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const assumed = await sts(ready, creds, { Action: 'GetCallerIdentity' });
    assert.equal(xmlField(assumed.text, 'Arn'), `arn:aws:sts::${ready.accounts[0]}:assumed-role/CentralOpsTargetRole/test`);

    const denied = await sts(ready, baseCreds(ready), { Action: 'AssumeRole', RoleArn: `arn:aws:iam::${ready.denied[0]}:role/CentralOpsTargetRole`, RoleSessionName: 'x1' });
    assert.equal(denied.status, 403);
    assert.equal(xmlField(denied.text, 'Message'), `User: arn:aws:iam::111111111111:user/ops is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::${ready.denied[0]}:role/CentralOpsTargetRole`);
    assert.equal(xmlField(denied.text, 'Type'), 'Sender');

    const chained = await sts(ready, creds, { Action: 'AssumeRole', RoleArn: `arn:aws:iam::${ready.accounts[1]}:role/CentralOpsTargetRole`, RoleSessionName: 'x1' });
    assert.equal(xmlField(chained.text, 'Code'), 'AccessDenied', 'a workload role trusts only the central account');

    const problems = await sts(ready, baseCreds(ready), { Action: 'AssumeRole', RoleArn: `arn:aws:iam::${ready.accounts[0]}:role/CentralOpsTargetRole`, RoleSessionName: 'a b', DurationSeconds: '100' });
    assert.equal(problems.status, 400);
    assert.equal(xmlField(problems.text, 'Message'), "2 validation errors detected: Value 'a b' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*; Value '100' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900");

    const tooLong = await sts(ready, baseCreds(ready), { Action: 'AssumeRole', RoleArn: `arn:aws:iam::${ready.accounts[0]}:role/CentralOpsTargetRole`, RoleSessionName: 'x1', DurationSeconds: '7200' });
    assert.equal(xmlField(tooLong.text, 'Message'), 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');

    const badArn = await sts(ready, baseCreds(ready), { Action: 'AssumeRole', RoleArn: 'nothing-valid-in-here', RoleSessionName: 'x1' });
    assert.equal(xmlField(badArn.text, 'Message'), 'nothing-valid-in-here is invalid');

    const unknown = await sts(ready, baseCreds(ready), { Action: 'GetSessionToken' });
    assert.equal(xmlField(unknown.text, 'Code'), 'InvalidAction');

    const badKey = await sts(ready, { accessKeyId: 'AKIAAAAAAAAAAAAAAAAA', secretAccessKey: 'x' }, { Action: 'GetCallerIdentity' });
    assert.deepEqual([badKey.status, xmlField(badKey.text, 'Code'), xmlField(badKey.text, 'Message')], [403, 'InvalidClientTokenId', 'The security token included in the request is invalid.']);

    const noToken = await sts(ready, { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey }, { Action: 'GetCallerIdentity' });
    assert.equal(xmlField(noToken.text, 'Code'), 'InvalidClientTokenId');

    const wrongScope = await sts(ready, baseCreds(ready), { Action: 'GetCallerIdentity' }, { region: 'mars-east-1' });
    assert.equal(xmlField(wrongScope.text, 'Code'), 'SignatureDoesNotMatch');

    const c = await counters(ready);
    assert.equal(c.assume_role[ready.accounts[0]], 3, 'calls that fail validation count too');
    assert.equal(c.assume_role_denied[ready.denied[0]], 1);
    assert.equal(c.signature_failures.by_reason.unknown_key, 1);
    assert.equal(c.signature_failures.by_reason.bad_token, 1);
    assert.equal(c.signature_failures.by_reason.bad_scope, 1);
  }));

test('external id, role chaining limit and web identity', () =>
  withSim(['--accounts', '2', '--external-id', 'x-123', '--max-session-duration', '43200'], async (ready) => {
    const role = `arn:aws:iam::${ready.accounts[0]}:role/CentralOpsTargetRole`;
    const without = await sts(ready, baseCreds(ready), { Action: 'AssumeRole', RoleArn: role, RoleSessionName: 'x1' });
    assert.equal(xmlField(without.text, 'Code'), 'AccessDenied');
    const long = await assumeRole(ready, ready.accounts[0], { ExternalId: 'x-123', DurationSeconds: '43200' });
    assert.ok(Date.parse(long.expiration) - Date.now() > 43000 * 1000);

    const web = await sts(ready, null, { Action: 'AssumeRoleWithWebIdentity', RoleArn: ready.web_identity_role_arn, RoleSessionName: 'ci', WebIdentityToken: ready.web_identity_token });
    assert.equal(web.status, 200, web.text);
    const webCreds = { accessKeyId: xmlField(web.text, 'AccessKeyId'), secretAccessKey: xmlField(web.text, 'SecretAccessKey'), sessionToken: xmlField(web.text, 'SessionToken') };
    const chained = await sts(ready, webCreds, { Action: 'AssumeRole', RoleArn: role, RoleSessionName: 'x1', ExternalId: 'x-123', DurationSeconds: '7200' });
    assert.equal(xmlField(chained.text, 'Message'), 'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.');
    const ok = await sts(ready, webCreds, { Action: 'AssumeRole', RoleArn: role, RoleSessionName: 'x1', ExternalId: 'x-123' });
    assert.equal(ok.status, 200, 'a central-account role may assume the workload role');

    const bogus = await sts(ready, null, { Action: 'AssumeRoleWithWebIdentity', RoleArn: ready.web_identity_role_arn, RoleSessionName: 'ci', WebIdentityToken: 'not.a.jwt' });
    assert.equal(xmlField(bogus.text, 'Code'), 'InvalidIdentityToken');
  }));

test('MCP through the SDK client: paginated tools, run_script in _meta.AWS_REGION, other tools', () =>
  withSim(['--accounts', '3'], async (ready) => {
    const account = ready.accounts[1];
    const creds = await assumeRole(ready, account);
    const { client, transport } = await sdkClient(ready, creds);
    const first = await client.listTools();
    assert.equal(first.tools.length, 3);
    const names = [...first.tools.map((t) => t.name)];
    let cursor = first.nextCursor;
    let pages = 1;
    while (cursor) {
      const page = await client.listTools({ cursor });
      names.push(...page.tools.map((t) => t.name));
      cursor = page.nextCursor;
      pages++;
    }
    assert.equal(pages, 3);
    assert.deepEqual(names.sort(), ['aws___get_presigned_url', 'aws___get_regional_availability', 'aws___get_tasks', 'aws___list_regions', 'aws___read_documentation', 'aws___retrieve_skill', 'aws___run_script', 'aws___search_documentation']);

    for (const region of ['us-east-1', 'eu-west-1', 'ap-southeast-2']) {
      const result = await client.callTool({ name: 'aws___run_script', arguments: { code: EC2_SCRIPT }, _meta: { AWS_REGION: region } });
      const inventory = await (await fetch(`${ready.counters.replace('/counters', '/inventory')}?account=${account}&region=${region}`)).json();
      assert.equal(result.structuredContent.status, 'success');
      const items = { Reservations: inventory.ec2.Reservations.length };
      assert.deepEqual(result.structuredContent.api_calls, [{ service: 'ec2', operation: 'DescribeInstances', status: 'success', n_items: items }]);
      assert.deepEqual(result.structuredContent.return_value, inventory.ec2);
      assert.deepEqual(JSON.parse(result.content[0].text), result.structuredContent);
    }
    const failed = await client.callTool({ name: 'aws___run_script', arguments: { code: 'undefined_name' } });
    assert.equal(failed.isError, true);
    assert.equal(failed.structuredContent.error, "NameError: name 'undefined_name' is not defined");

    const tasks = await client.callTool({ name: 'aws___get_tasks', arguments: { task_ids: ['t-1'] } });
    assert.equal(tasks.structuredContent.tasks[0].status, 'not_found', 'no script outlived --working-after-ms');
    const regions = await client.callTool({ name: 'aws___list_regions', arguments: {} });
    assert.ok(JSON.parse(regions.content[0].text).regions.some((r) => r.region_id === 'eu-west-1'));
    const presigned = await client.callTool({ name: 'aws___get_presigned_url', arguments: { service_name: 's3', operation_name: 'GetObject', params: { Bucket: 'b', Key: 'k/a b.txt' } } });
    assert.match(JSON.parse(presigned.content[0].text).url, /^https:\/\/b\.s3\.us-east-1\.amazonaws\.com\/k\/a%20b\.txt\?.*X-Amz-Security-Token=/);
    const search = await client.callTool({ name: 'aws___search_documentation', arguments: { search_phrase: 'assume role' } });
    const url = JSON.parse(search.content[0].text)[0].url;
    const doc = await client.callTool({ name: 'aws___read_documentation', arguments: { url } });
    assert.match(doc.content[0].text, /AssumeRole/);
    const invalid = await client.callTool({ name: 'aws___run_script', arguments: {} });
    assert.equal(invalid.isError, true);
    await assert.rejects(client.callTool({ name: 'aws___nope', arguments: {} }), /Unknown tool: aws___nope/);

    await transport.terminateSession();
    const c = await counters(ready);
    assert.equal(c.sessions_opened, 1);
    assert.equal(c.sessions_closed, 1);
    assert.equal(c.tool_calls.by_account[account], 10, 'an unknown tool is not a tool call');
    assert.equal(c.tool_calls.by_tool.aws___run_script, 5);
    await client.close();
  }));

test('--sse: priming event, comment and a notification precede the response; the SDK client copes', () =>
  withSim(['--accounts', '1', '--sse'], async (ready) => {
    const creds = await assumeRole(ready, ready.accounts[0]);
    const session = await openSession(ready, creds);
    const raw = await mcpPost(ready, creds, runScriptCall(EC2_SCRIPT, 'eu-west-1'), { session });
    assert.equal(raw.headers.get('content-type'), 'text/event-stream');
    const events = raw.text.split('\n\n').filter(Boolean);
    assert.match(events[0], /^id: \S+\ndata: $/);
    assert.equal(events[1], ': opsrun-sim');
    assert.match(events[2], /"method":"notifications\/message"/);
    assert.match(events[3], /^event: message\ndata: \{"result":\{"content"/);

    const { client } = await sdkClient(ready, creds);
    const result = await client.callTool({ name: 'aws___run_script', arguments: { code: EC2_SCRIPT } });
    assert.equal(result.structuredContent.status, 'success');
    await client.close();
  }));

test('--nonstandard-errors shapes JSON-RPC errors as the hosted server does; GET is 405', () =>
  withSim(['--accounts', '1', '--nonstandard-errors'], async (ready) => {
    const creds = baseCreds(ready);
    const session = await openSession(ready, creds);
    const unknown = await mcpPost(ready, creds, { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'nope', arguments: {} } }, { session });
    assert.deepEqual(unknown.json, { jsonrpc: '2.0', id: '', result: null, error: { code: -32602, message: 'Unknown tool: nope' } });
    const get = await signingFetch(creds)(ready.mcp, { method: 'GET', headers: { accept: 'text/event-stream', 'mcp-session-id': session } });
    assert.equal(get.status, 405);
    assert.deepEqual(await get.json(), { jsonrpc: '2.0', id: '', result: null, error: { code: -32600, message: 'HTTP method not supported.' } });
  }));

test('--session-expiry answers 404 after N requests on a session', () =>
  withSim(['--accounts', '1', '--session-expiry', '2'], async (ready) => {
    const creds = baseCreds(ready);
    const session = await openSession(ready, creds);
    const list = { jsonrpc: '2.0', id: 2, method: 'tools/list' };
    assert.equal((await mcpPost(ready, creds, list, { session })).status, 200);
    const gone = await mcpPost(ready, creds, list, { session });
    assert.equal(gone.status, 404);
    assert.deepEqual(gone.json, { jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
    assert.equal((await counters(ready)).sessions_expired, 1);
  }));

test('--hang-accounts: tool calls never answer, other accounts and initialize do', () =>
  withSim(['--accounts', '3', '--hang-accounts', '1'], async (ready, sim) => {
    assert.deepEqual(ready.hung, [ready.accounts[2]]);
    const hungCreds = await assumeRole(ready, ready.hung[0]);
    const session = await openSession(ready, hungCreds);
    const pending = mcpPost(ready, hungCreds, runScriptCall(EC2_SCRIPT), { session }).catch((e) => e);
    const outcome = await Promise.race([pending, new Promise((r) => setTimeout(() => r('still waiting'), 700))]);
    assert.equal(outcome, 'still waiting');
    const okCreds = await assumeRole(ready, ready.accounts[0]);
    const other = await openSession(ready, okCreds);
    assert.equal((await mcpPost(ready, okCreds, runScriptCall(EC2_SCRIPT), { session: other })).status, 200);
    assert.equal((await counters(ready)).hung_calls, 1);
    const { code } = await sim.stop();
    assert.equal(code, 0, 'exits 0 on SIGTERM with a hung request open');
  }));

test('throttling and 5xx on demand', () =>
  withSim(['--accounts', '1', '--throttle-rate', '1'], async (ready) => {
    const s = await sts(ready, baseCreds(ready), { Action: 'GetCallerIdentity' });
    assert.deepEqual([s.status, xmlField(s.text, 'Code'), xmlField(s.text, 'Message')], [400, 'Throttling', 'Rate exceeded']);
    const m = await mcpPost(ready, baseCreds(ready), INITIALIZE);
    assert.equal(m.status, 429);
    assert.equal(m.headers.get('x-amzn-errortype'), 'ThrottlingException');
    const c = await counters(ready);
    assert.deepEqual(c.throttled, { sts: 1, mcp: 1, organizations: 0 });
  }).then(() =>
    withSim(['--accounts', '1', '--sts-error-rate', '1', '--mcp-error-rate', '1'], async (ready) => {
      const statuses = new Set();
      for (let i = 0; i < 12; i++) {
        const s = await sts(ready, baseCreds(ready), { Action: 'GetCallerIdentity' });
        statuses.add(`${s.status} ${xmlField(s.text, 'Code')} ${xmlField(s.text, 'Type')}`);
      }
      assert.deepEqual([...statuses].sort(), ['500 InternalFailure Receiver', '503 ServiceUnavailable Receiver']);
      const m = await mcpPost(ready, baseCreds(ready), INITIALIZE);
      assert.ok([500, 503].includes(m.status));
    })));

test('a fraction of faults is reproducible for a seed', async () => {
  const run = () =>
    withSim(['--accounts', '1', '--throttle-rate', '0.3', '--seed', '42'], async (ready) => {
      const out = [];
      for (let i = 0; i < 20; i++) out.push((await sts(ready, baseCreds(ready), { Action: 'GetCallerIdentity' })).status);
      run.result = out.join(',');
    });
  await run();
  const first = run.result;
  await run();
  assert.equal(run.result, first);
  assert.match(first, /400/);
  assert.match(first, /200/);
});

test('--skew-seconds shifts the clock of the Date header and of the signature check', () =>
  withSim(['--accounts', '1', '--skew-seconds', '900'], async (ready) => {
    const now = await sts(ready, baseCreds(ready), { Action: 'GetCallerIdentity' });
    assert.equal(now.status, 403);
    assert.match(xmlField(now.text, 'Message'), /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$/);
    const skewMs = Date.parse(now.headers.get('date')) - Date.now();
    assert.ok(Math.abs(skewMs - 900000) < 3000, `Date header is ${skewMs} ms ahead`);
    const corrected = await sts(ready, baseCreds(ready), { Action: 'GetCallerIdentity' }, { offsetMs: 900000 });
    assert.equal(corrected.status, 200);
    const m = await mcpPost(ready, baseCreds(ready), INITIALIZE);
    assert.equal(m.status, 403);
    assert.match(m.json.message, /^Signature expired/);
  }));

test('latency flags delay answers', () =>
  withSim(['--accounts', '1', '--mcp-latency-ms', '300', '--sts-latency-ms', '150-200'], async (ready) => {
    let t = Date.now();
    await sts(ready, baseCreds(ready), { Action: 'GetCallerIdentity' });
    assert.ok(Date.now() - t >= 150);
    t = Date.now();
    await mcpPost(ready, baseCreds(ready), INITIALIZE);
    assert.ok(Date.now() - t >= 300);
  }));

test('hundreds of concurrent sessions over keep-alive', () =>
  withSim(['--accounts', '300', '--mcp-latency-ms', '50'], async (ready) => {
    const results = await Promise.all(
      ready.accounts.map(async (account) => {
        const creds = await assumeRole(ready, account);
        const session = await openSession(ready, creds);
        const r = await mcpPost(ready, creds, runScriptCall("await call_boto3(service_name='sts', operation_name='GetCallerIdentity')"), { session });
        return r.json.result.structuredContent.return_value.Account === account;
      }),
    );
    assert.ok(results.every(Boolean));
    const c = await counters(ready);
    assert.equal(c.sessions_opened, 300);
    assert.ok(c.peak_concurrent_requests.mcp > 50, `peak ${c.peak_concurrent_requests.mcp}`);
    assert.equal(c.concurrent_requests.total, 0);
  }));

test('DELETEs in flight are counted apart (concurrent_deletes, peak_concurrent_deletes)', () =>
  withSim(['--accounts', '4', '--mcp-latency-ms', '200'], async (ready) => {
    const open = await Promise.all(
      ready.accounts.map(async (account) => {
        const creds = await assumeRole(ready, account);
        return { creds, session: await openSession(ready, creds) };
      }),
    );
    const close = ({ creds, session }) =>
      signingFetch(creds)(ready.mcp, { method: 'DELETE', headers: { 'mcp-session-id': session } });
    await close(open[0]); // alone
    const both = await Promise.all([close(open[1]), close(open[2])]);
    assert.deepEqual(both.map((r) => r.status), [200, 200]);
    let c = await counters(ready);
    assert.deepEqual([c.peak_concurrent_deletes, c.concurrent_deletes], [2, 0]);
    assert.equal(c.sessions_closed, 3);
    await Promise.all([close(open[3]), mcpPost(ready, open[3].creds, INITIALIZE)]); // a POST beside it
    c = await counters(ready);
    assert.equal(c.peak_concurrent_deletes, 2);
    assert.ok(c.peak_concurrent_requests.mcp >= 4);
  }));

test('refuses bad flags with exit status 2', async () => {
  await assert.rejects(startSim(['--throttle-rate', '2']), /expected a fraction/);
  await assert.rejects(startSim(['--bogus']), /unknown argument/);
});
