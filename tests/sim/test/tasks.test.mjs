// HTTP tests of the hosted long-running pattern: an aws___run_script that outlives
// --working-after-ms answers "working" with a task_id, aws___get_tasks polls it (working, then the
// envelope), tasks belong to the caller's user id and expire, the published input schema is
// enforced, and --boto3-latency-ms makes a boto3 call slow enough to become a task.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { assumeRole, counters, mcpPost, openSession, startSim } from './helpers.mjs';

const SLOW = 'import asyncio\nawait asyncio.sleep(1.5)\nresult = 42\nresult';

async function withSim(flags, fn) {
  const sim = await startSim(flags);
  try {
    await fn(sim.ready);
  } finally {
    await sim.stop();
  }
}

/**
 * A caller: a role session in `account` with an open MCP session. `request` returns a JSON-RPC
 * result; `call` a tool result whose text is the JSON of its structuredContent.
 */
async function caller(ready, account, sessionName = 'test') {
  const creds = await assumeRole(ready, account, { RoleSessionName: sessionName });
  const session = await openSession(ready, creds);
  let id = 10;
  const request = async (method, params) => {
    const r = await mcpPost(ready, creds, { jsonrpc: '2.0', id: ++id, method, params }, { session });
    assert.equal(r.status, 200, r.text);
    return r.json.result;
  };
  return {
    request,
    async call(name, args) {
      const result = await request('tools/call', { name, arguments: args });
      assert.deepEqual(JSON.parse(result.content[0].text), result.structuredContent, 'the text is the JSON of structuredContent');
      return result;
    },
    poll(taskIds, iteration) {
      return this.call('aws___get_tasks', { task_ids: taskIds, ...(iteration ? { poll_iteration: iteration } : {}) });
    },
  };
}

/** Polls task `id` of `me` every 100 ms until it stops working; returns its entry and when the last "working" answer came. */
async function settled(me, id) {
  let lastWorking = Date.now();
  for (let iteration = 1; iteration <= 100; iteration++) {
    const [entry] = (await me.poll([id], iteration)).structuredContent.tasks;
    if (entry.status !== 'working') return { entry, lastWorking };
    lastWorking = Date.now();
    await sleep(100);
  }
  throw new Error(`task ${id} still working after 100 polls`);
}

test('a script that outlives --working-after-ms answers "working"; get_tasks polls it to its envelope', () =>
  withSim(['--accounts', '2', '--working-after-ms', '300'], async (ready) => {
    const account = ready.accounts[1];
    const me = await caller(ready, account);
    const quick = await me.call('aws___run_script', { code: '6 * 7' });
    assert.deepEqual(quick.structuredContent, { status: 'success', return_value: 42, api_calls: [] }, 'a quick script answers at once');

    const started = Date.now();
    const working = await me.call('aws___run_script', { code: SLOW });
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 300 && elapsed < 1400, `answered after ${elapsed} ms`);
    assert.equal(working.isError, undefined);
    const { task_id: taskId, ...rest } = working.structuredContent;
    assert.match(taskId, /^[0-9a-f-]{36}$/);
    assert.equal(rest.status, 'working');
    assert.equal(rest.recommended_wait_seconds, 1);

    const first = await me.poll([taskId], 1);
    assert.deepEqual(first.structuredContent, { tasks: [{ task_id: taskId, status: 'working' }], recommended_wait_seconds: 1 });
    const third = await me.poll([taskId], 3);
    assert.equal(third.structuredContent.recommended_wait_seconds, 3, 'the wait grows with poll_iteration');
    const { entry } = await settled(me, taskId);
    assert.deepEqual(entry, { task_id: taskId, status: 'completed', result: { status: 'success', return_value: 42, api_calls: [] } });
    const again = await me.poll([taskId]);
    assert.equal(again.isError, undefined);
    assert.deepEqual(again.structuredContent, { tasks: [entry] }, 'a finished task can be read again; no wait is recommended');

    const c = await counters(ready);
    assert.deepEqual(c.tasks_started, { total: 1, by_account: { [account]: 1 } });
    assert.ok(c.task_polls.total >= 4);
    assert.deepEqual(c.task_polls.by_account, { [account]: c.task_polls.total });
    assert.equal(c.tool_calls.by_tool.aws___get_tasks, c.task_polls.total);
  }));

test('a slow script that fails is a failed task whose result is the error envelope', () =>
  withSim(['--accounts', '1', '--working-after-ms', '100'], async (ready) => {
    const me = await caller(ready, ready.accounts[0]);
    const working = await me.call('aws___run_script', { code: 'import asyncio\nawait asyncio.sleep(0.5)\nprint("before")\nundefined_name' });
    assert.equal(working.structuredContent.status, 'working');
    const { entry } = await settled(me, working.structuredContent.task_id);
    assert.equal(entry.status, 'failed');
    assert.equal(entry.result.status, 'error');
    assert.equal(entry.result.error, "NameError: name 'undefined_name' is not defined");
    assert.equal(entry.result.stdout, 'before\n');
  }));

test("tasks belong to the caller's user id: another user's id and an unknown id are not found; one poll asks for up to 3", () =>
  withSim(['--accounts', '2', '--working-after-ms', '0'], async (ready) => {
    const [a, b] = ready.accounts;
    const me = await caller(ready, a, 'sweep');
    const id = (await me.call('aws___run_script', { code: 'import asyncio\nawait asyncio.sleep(0.1)\n1' })).structuredContent.task_id;
    assert.ok(id);
    await settled(me, id);
    const sameUser = await caller(ready, a, 'sweep');
    const otherSession = await caller(ready, a, 'other');
    const otherAccount = await caller(ready, b, 'sweep');

    const mine = (await sameUser.poll([id, 'no-such-task'], 1)).structuredContent;
    assert.deepEqual(mine.tasks[0], { task_id: id, status: 'completed', result: { status: 'success', return_value: 1, api_calls: [] } }, 'a new MCP session of the same user id sees it');
    assert.deepEqual(mine.tasks[1], { task_id: 'no-such-task', status: 'not_found', message: 'Task no-such-task was not found or has expired.' });
    assert.equal(mine.recommended_wait_seconds, undefined, 'no wait when nothing is working');
    for (const other of [otherSession, otherAccount]) {
      assert.deepEqual((await other.poll([id])).structuredContent.tasks, [{ task_id: id, status: 'not_found', message: `Task ${id} was not found or has expired.` }]);
    }
    const three = (await me.poll([id, id, 'x'])).structuredContent.tasks;
    assert.deepEqual(three.map((t) => t.status), ['completed', 'completed', 'not_found']);
  }));

test('aws___get_tasks takes its published input schema: 1 to 3 task_ids, poll_iteration >= 1', () =>
  withSim(['--accounts', '1'], async (ready) => {
    const me = await caller(ready, ready.accounts[0]);
    const refused = {
      "Input validation error: 'task_ids' is a required property": {},
      'Input validation error: ["a","b","c","d"] is too long at \'task_ids\'': { task_ids: ['a', 'b', 'c', 'd'] },
      "Input validation error: [] is too short at 'task_ids'": { task_ids: [] },
      'Input validation error: [1] is not of type \'array\' at \'task_ids\'': { task_ids: [1] },
      "Input validation error: 0 is less than the minimum of 1 at 'poll_iteration'": { task_ids: ['a'], poll_iteration: 0 },
      "Input validation error: 1.5 is not of type 'integer' at 'poll_iteration'": { task_ids: ['a'], poll_iteration: 1.5 },
    };
    for (const [message, args] of Object.entries(refused)) {
      const result = await me.request('tools/call', { name: 'aws___get_tasks', arguments: args });
      assert.deepEqual(result, { content: [{ type: 'text', text: message }], isError: true });
    }
    assert.equal((await counters(ready)).task_polls.total, 0, 'refused calls are not polls');
    assert.equal((await me.call('aws___run_script', { code: 'import asyncio\nawait asyncio.sleep(0.3)\n1' })).structuredContent.return_value, 1, 'without the flag no script becomes a task');

    const tools = [];
    let cursor;
    do {
      const page = await me.request('tools/list', cursor ? { cursor } : {});
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor);
    assert.equal(tools.length, 8);
    assert.deepEqual(tools.filter((t) => 'annotations' in t).map((t) => t.name), [], 'no tool is annotated');
    const getTasks = tools.find((t) => t.name === 'aws___get_tasks');
    assert.match(getTasks.description, /^Poll status of long-running tasks\. .* Tasks expire after 5 min\. /);
    assert.deepEqual(getTasks.inputSchema.required, ['task_ids']);
  }));

test('--task-expiry-seconds: a finished task is forgotten that long after it finished', () =>
  withSim(['--accounts', '1', '--working-after-ms', '50', '--task-expiry-seconds', '2'], async (ready) => {
    const me = await caller(ready, ready.accounts[0]);
    const id = (await me.call('aws___run_script', { code: 'import asyncio\nawait asyncio.sleep(0.5)\n1' })).structuredContent.task_id;
    const { lastWorking } = await settled(me, id);
    const done = Date.now();
    await sleep(lastWorking + 1200 - Date.now());
    assert.equal((await me.poll([id])).structuredContent.tasks[0].status, 'completed', 'still there less than 2 s after it finished');
    await sleep(done + 2300 - Date.now());
    assert.equal((await me.poll([id])).structuredContent.tasks[0].status, 'not_found', 'gone more than 2 s after it finished');
  }));

test('--boto3-latency-ms: a script of one slow call_boto3 becomes a task whose envelope lists the call', () =>
  withSim(['--accounts', '1', '--working-after-ms', '200', '--boto3-latency-ms', '600'], async (ready) => {
    const account = ready.accounts[0];
    const me = await caller(ready, account);
    const code = 'r = await call_boto3(service_name="sts", operation_name="GetCallerIdentity")\nr["Account"]';
    const started = Date.now();
    const working = await me.call('aws___run_script', { code });
    assert.equal(working.structuredContent.status, 'working');
    const { entry } = await settled(me, working.structuredContent.task_id);
    assert.ok(Date.now() - started >= 600, 'the answer took the latency');
    assert.deepEqual(entry.result, { status: 'success', return_value: account, api_calls: [{ service: 'sts', operation: 'GetCallerIdentity', status: 'success', n_items: {} }] });
    assert.deepEqual((await counters(ready)).boto3_calls, { 'sts.GetCallerIdentity': 1 });
  }));

test('bad task flags are refused', async () => {
  await assert.rejects(startSim(['--working-after-ms', '-1']), /--working-after-ms: expected >= 0/);
  await assert.rejects(startSim(['--task-expiry-seconds', '0']), /--task-expiry-seconds: expected >= 1/);
  await assert.rejects(startSim(['--boto3-latency-ms', 'x']), /--boto3-latency-ms: expected an integer/);
});
