// serve_sdk.mjs: `opsrun serve` against the official MCP TypeScript SDK's Client (pinned in
// package.json), over stdio (StdioClientTransport) and Streamable HTTP
// (StreamableHTTPClientTransport, `--listen 127.0.0.1:0`), serving serve_playbooks/ with the
// loopback simulator (tests/sim) for AWS. serve.sh starts the simulator and runs this with:
//   OPSRUN           the binary under test
//   SERVE_PLAYBOOKS  the playbook directory served (serve_playbooks/)
//   SERVE_REGISTRY   an account registry of the simulator's accounts
//   SERVE_TMP        a scratch directory (the token file)
//   SIM_INVENTORY    the simulator's /_sim/inventory URL (what each account holds)
//   SIM_DENIED       the accounts whose role refuses opsrun, space-separated
// and the simulator's AWS environment (keys, AWS_ENDPOINT_URL_STS, OPSRUN_MCP_URL).
// Argument: stdio, http or token (which part to run; all three without one).
// One line per check ("ok - ..." or "FAIL - ..."), then "N passed, M failed"; exit 1 on a failure.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';

const env = process.env;
for (const name of ['OPSRUN', 'SERVE_PLAYBOOKS', 'SERVE_REGISTRY', 'SERVE_TMP', 'SIM_INVENTORY']) {
  if (!env[name]) {
    console.log(`FAIL - serve_sdk.mjs needs ${name} in the environment (run serve.sh)`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}
const DENIED = (env.SIM_DENIED || '').split(/\s+/).filter(Boolean);
// opsrun's global options: info logs (each call's start and end, and the fixtures' print lines),
// no pacing of MCP requests, 4 tasks at once shared by all calls, the simulator's accounts.
const GLOBALS = ['-v', '--no-progress', '--mcp-rate', '0', '-j', '4', '--timeout', '20',
  '-r', env.SERVE_REGISTRY];
const ACCOUNTS = JSON.parse(readFileSync(env.SERVE_REGISTRY, 'utf8')).accounts.map(a => a.id);

let passed = 0;
let failed = 0;
function check(name, ok, detail) {
  if (ok) {
    passed++;
    console.log(`ok - ${name}`);
  } else {
    failed++;
    console.log(`FAIL - ${name}`);
    if (detail !== undefined) {
      const text = typeof detail === 'string' ? detail : JSON.stringify(detail);
      for (const line of text.split('\n').slice(0, 20)) console.log(`    ${line}`);
    }
  }
}

// attempt(name, fn): fn's exception is a failed check named `name`.
async function attempt(name, fn) {
  try {
    await fn();
  } catch (error) {
    check(name, false, `threw: ${error?.stack || error}`);
  }
}

const textOf = result => (result?.content || []).filter(c => c.type === 'text').map(c => c.text).join('');
const sorted = values => [...values].sort();
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const elapsed = start => (performance.now() - start) / 1000;

// What the simulator holds in us-east-1 for the accounts that answer: "account instance type
// state" lines, sorted, for `state` (running, stopped or all).
async function expectedRows(state) {
  const rows = [];
  for (const id of ACCOUNTS) {
    if (DENIED.includes(id)) continue;
    const inventory = await (await fetch(`${env.SIM_INVENTORY}?account=${id}&region=us-east-1`)).json();
    for (const reservation of inventory.ec2.Reservations) {
      for (const i of reservation.Instances) {
        if (state === 'all' || i.State.Name === state) {
          rows.push(`${id} ${i.InstanceId} ${i.InstanceType} ${i.State.Name}`);
        }
      }
    }
  }
  return { rows: rows.sort(), accounts: ACCOUNTS.length };
}
const rowLines = rows => sorted(rows.map(r => `${r.account} ${r.instance} ${r.type} ${r.state}`));

// A server's stderr, collected as it comes.
class Log {
  constructor() { this.text = ''; }
  add(chunk) { this.text += chunk.toString(); }
  get mark() { return this.text.length; }
  since(mark) { return this.text.slice(mark); }
}

// ------------------------------------------------------------------ the HTTP server

// The servers started here, killed by PID when this process exits, however it exits (the stdio
// server is the SDK transport's, which closes it).
const children = new Set();
process.on('exit', () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

// Starts `opsrun serve --listen 127.0.0.1:0 [extra...]` and reads its URL from stderr.
async function startHttpServer(extra = []) {
  const log = new Log();
  const child = spawn(env.OPSRUN, [...GLOBALS, 'serve', env.SERVE_PLAYBOOKS,
    '--listen', '127.0.0.1:0', ...extra], { stdio: ['ignore', 'ignore', 'pipe'], env });
  children.add(child);
  child.stderr.on('data', chunk => log.add(chunk));
  const exited = new Promise(resolve => child.once('exit', (code, signal) => resolve({ code, signal })));
  const deadline = performance.now() + 10000;
  for (;;) {
    const match = log.text.match(/serve: \d+ tools? from \S+ on (http:\/\/127\.0\.0\.1:(\d+)\/mcp)/);
    if (match) return { child, log, url: match[1], exited };
    if (child.exitCode !== null || performance.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`opsrun serve --listen did not print its URL; stderr:\n${log.text}`);
    }
    await sleep(20);
  }
}

// Stops a server with SIGTERM; returns its exit {code, signal} (SIGKILL after 5 s).
async function stopServer(server) {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return server.exited;
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 5000);
  const result = await server.exited;
  clearTimeout(timer);
  return result;
}

// ------------------------------------------------------------------ the checks

// The checks every transport runs: `client` is connected, `log` holds the server's stderr.
async function commonChecks(label, client, log, errors) {
  const t = `${label}:`;
  const server = client.getServerVersion();
  check(`${t} initialize: serverInfo names opsrun, capabilities offer tools`,
    server?.name === 'opsrun' && typeof server?.version === 'string' &&
    client.getServerCapabilities()?.tools !== undefined,
    { serverInfo: server, capabilities: client.getServerCapabilities() });

  // --- tools/list
  let tools = {};
  await attempt(`${t} listTools`, async () => {
    const listed = await client.listTools();
    for (const tool of listed.tools) tools[tool.name] = tool;
    check(`${t} listTools names the fixture playbooks' tools: broken, inventory, slow`,
      same(sorted(Object.keys(tools)), ['broken', 'inventory', 'slow']), Object.keys(tools));
  });
  const inv = tools.inventory || {};
  const schema = inv.inputSchema || {};
  check(`${t} inventory's inputSchema: object, additionalProperties false, state enum with default running, nothing required`,
    schema.type === 'object' && schema.additionalProperties === false &&
    same(schema.properties?.state?.enum, ['running', 'stopped', 'all']) &&
    schema.properties?.state?.default === 'running' && schema.properties?.state?.type === 'string' &&
    schema.properties?.region?.type === 'string' && schema.properties?.region?.default === 'us-east-1' &&
    (schema.required === undefined || schema.required.length === 0) &&
    inv.description?.startsWith('EC2 instances in every account'), inv);
  check(`${t} inventory's annotations: readOnlyHint true (@readonly), openWorldHint true`,
    inv.annotations?.readOnlyHint === true && inv.annotations?.openWorldHint === true, inv.annotations);
  const out = inv.outputSchema || {};
  check(`${t} inventory's outputSchema: rows of its @column names, accounts`,
    out.type === 'object' && same(sorted(out.required || []), ['accounts', 'rows']) &&
    same(sorted(Object.keys(out.properties?.rows?.items?.properties || {})),
      ['account', 'instance', 'region', 'state', 'type']) &&
    out.properties?.accounts?.type === 'array', out);
  const broken = tools.broken || {};
  check(`${t} broken: reason required, readOnlyHint false (no @readonly), no outputSchema (no @column)`,
    same(broken.inputSchema?.required, ['reason']) && broken.annotations?.readOnlyHint === false &&
    broken.outputSchema === undefined, broken);
  const slow = tools.slow || {};
  check(`${t} slow: seconds is a number, rounds an integer, with their defaults`,
    slow.inputSchema?.properties?.seconds?.type === 'number' &&
    slow.inputSchema?.properties?.seconds?.default === 0.3 &&
    slow.inputSchema?.properties?.rounds?.type === 'integer' &&
    slow.inputSchema?.properties?.rounds?.default === 1, slow.inputSchema);

  // --- a good call (the SDK checks structuredContent against the outputSchema it listed)
  const expected = await expectedRows('running');
  await attempt(`${t} callTool inventory {state: running}`, async () => {
    const result = await client.callTool({ name: 'inventory', arguments: { state: 'running' } });
    const sc = result.structuredContent || {};
    const rows = sc.rows || [];
    check(`${t} callTool inventory {state: running}: rows in structuredContent equal the simulator's running instances (${expected.rows.length})`,
      !result.isError && expected.rows.length > 0 && same(rowLines(rows), expected.rows) &&
      rows.every(r => r.region === 'us-east-1'), { got: rowLines(rows), expected: expected.rows });
    const accounts = sc.accounts || [];
    const bad = accounts.filter(a => !a.ok);
    check(`${t} callTool inventory: structuredContent.accounts has every account, the denied one with kind denied`,
      accounts.length === expected.accounts &&
      same(sorted(bad.map(a => a.account)), sorted(DENIED)) &&
      bad.every(a => a.kind === 'denied' && /AccessDenied/.test(a.message)), accounts);
    const text = textOf(result);
    const lines = text.split('\n');
    check(`${t} callTool inventory: the text is a table of the rows and "N tasks: X ok, Y failed" with a line per failure`,
      /^account\s+region\s+instance\s+type\s+state\s*$/.test(lines[0]) &&
      lines.filter(l => /^\d{12}\s+us-east-1\s+i-/.test(l)).length === expected.rows.length &&
      text.includes(`${expected.accounts} tasks: ${expected.accounts - DENIED.length} ok, ${DENIED.length} failed`) &&
      DENIED.every(a => new RegExp(`^  ${a}: denied: AccessDenied`, 'm').test(text)), text);
  });

  // --- bad arguments: a result with isError naming the parameter (SEP-1303), not a JSON-RPC error
  const badCases = [
    ['inventory', { state: 'bogus' }, /^Invalid arguments for tool inventory: state\b.*running/, 'a value not in the enum'],
    ['inventory', { colour: 'red' }, /^Invalid arguments for tool inventory: .*colour/, 'an unknown argument'],
    ['broken', {}, /^Invalid arguments for tool broken: reason\b.*required/, 'a missing required argument'],
    ['slow', { rounds: 1.5 }, /^Invalid arguments for tool slow: rounds\b.*integer/, 'a fraction for an integer'],
    ['inventory', { region: 5 }, /^Invalid arguments for tool inventory: region\b.*string/, 'a number for a string'],
  ];
  for (const [name, args, pattern, what] of badCases) {
    await attempt(`${t} callTool ${name} with ${what}`, async () => {
      const result = await client.callTool({ name, arguments: args });
      check(`${t} callTool ${name} ${JSON.stringify(args)} (${what}): isError, the text names the parameter`,
        result.isError === true && pattern.test(textOf(result)), result);
    });
  }

  // --- an unknown tool: JSON-RPC error -32602
  await attempt(`${t} callTool of an unknown tool`, async () => {
    let error;
    try {
      await client.callTool({ name: 'no_such_tool', arguments: {} });
    } catch (e) {
      error = e;
    }
    check(`${t} callTool of an unknown tool throws McpError -32602 "Unknown tool: no_such_tool"`,
      error instanceof McpError && error.code === ErrorCode.InvalidParams &&
      /Unknown tool: no_such_tool/.test(error.message), String(error));
  });

  // --- a playbook that raises a Lua error
  await attempt(`${t} callTool broken`, async () => {
    const result = await client.callTool({ name: 'broken', arguments: { reason: 'on purpose' } });
    check(`${t} callTool broken (a Lua error): isError, "the playbook .../broken.lua failed: ...: broken: on purpose"`,
      result.isError === true &&
      /^the playbook \S*broken\.lua failed: \S*broken\.lua:\d+: broken: on purpose/.test(textOf(result)), result);
  });

  // --- progress: slow sweeps 8 accounts twice, 4 at a time
  await attempt(`${t} callTool slow with onprogress`, async () => {
    const notes = [];
    const events = [];
    const start = performance.now();
    const result = await client.callTool({ name: 'slow', arguments: { seconds: 0.2, rounds: 2 } },
      undefined, { onprogress: p => { notes.push(p); events.push('progress'); } });
    events.push('result');
    await sleep(50);
    const late = takeLateProgress(errors, start);
    if (late.length > 0) {
      console.log(`# ${t} the SDK refused ${late.length} progress notification(s) that came in with the ` +
        'result as having an unknown token (typescript-sdk#2580): counted as received');
    }
    const all = [...notes, ...late];
    const progress = all.map(n => n.progress);
    const total = 2 * expected.accounts;
    check(`${t} callTool slow {seconds: 0.2, rounds: 2} with onprogress: several notifications, progress growing to ${total} of ${total}`,
      all.length >= 3 && progress.every((p, i) => i === 0 || p > progress[i - 1]) &&
      progress.at(-1) === total && all.at(-1).total === total &&
      all.every(n => typeof n.message === 'string' && n.total >= n.progress), { notes, late });
    check(`${t} the result came after the progress notifications and has every row`,
      events.indexOf('result') === events.length - 1 && notes.length >= 2 && !result.isError &&
      result.structuredContent?.rows?.length === total, { events, result });
  });

  // --- cancellation mid-sweep, with and without progress (over HTTP: a JSON reply or a stream)
  for (const withProgress of [false, true]) {
    const how = withProgress ? 'a call with onprogress' : 'a call';
    await attempt(`${t} cancelling ${how}`, async () => {
      const mark = log.mark;
      const controller = new AbortController();
      const start = performance.now();
      let firstProgress;
      const options = { signal: controller.signal };
      if (withProgress) options.onprogress = () => { firstProgress ??= elapsed(start); };
      // 8 accounts, 4 at a time, 0.5 s each, 20 rounds: 20 s unless cancelled
      const call = client.callTool({ name: 'slow', arguments: { seconds: 0.5, rounds: 20 } },
        undefined, options);
      const settled = call.then(() => 'resolved', e => e);
      // 1.3 s: in round 2's first wave, with its second wave still queued, 0.3 s after the
      // progress notification that ended round 1 (they go out at most every 0.2 s)
      await sleep(1300);
      controller.abort('the test cancels it');
      const abortedAt = performance.now();
      const outcome = await settled;
      const rejectedAfter = (performance.now() - abortedAt) / 1000;
      await sleep(1000); // what the server logs after the cancellation
      const after = log.since(mark);
      const lines = after.split('\n');
      const cancelLine = lines.findIndex(l => /serve: slow cancelled \(request [^)]+\)/.test(l));
      const before = cancelLine >= 0 ? lines.slice(0, cancelLine) : lines;
      const tail = cancelLine >= 0 ? lines.slice(cancelLine + 1) : [];
      const shown = lines.slice(Math.max(0, cancelLine - 4)).join('\n');
      check(`${t} aborting ${how} (AbortController) rejects callTool at once`,
        outcome !== 'resolved' && rejectedAfter < 0.5 &&
        (!withProgress || firstProgress !== undefined), { outcome: String(outcome), rejectedAfter, firstProgress });
      check(`${t} aborting ${how}: notifications/cancelled reaches the server ("serve: slow cancelled" in its log, 1.3 s into the call)`,
        cancelLine >= 0 && before.some(l => /slow: start/.test(l)), after.slice(-3000));
      check(`${t} aborting ${how}: no task of the call ends normally, and the call does not end, after the cancellation`,
        cancelLine >= 0 && !tail.some(l => /slow: end|serve: slow ended/.test(l)), shown);
      check(`${t} aborting ${how}: no task of the call starts after the cancellation`,
        cancelLine >= 0 && !tail.some(l => /slow: start/.test(l)), shown);
      // over HTTP the POST that carried the request is still open: the spec has it answered
      // as application/json or text/event-stream, and the SDK takes a stream that ends without a
      // response (Streamable HTTP, "Sending Messages to the Server")
      const callErrors = errors.filter(e => e.at >= start && !UNKNOWN_TOKEN.test(String(e.error?.message)));
      check(`${t} aborting ${how}: the SDK reports no transport error about the cancelled request`,
        callErrors.length === 0, callErrors.map(e => String(e.error)).join('\n'));
      for (const e of callErrors) errors.splice(errors.indexOf(e), 1);
      if (withProgress) {
        const late = takeLateProgress(errors, abortedAt);
        check(`${t} aborting ${how}: the server sends no progress notification for the call after the cancellation`,
          late.length === 0, { 'progress notifications after the cancellation': late });
      }
      // the cancelled call's tasks hold none of -j's 4 places (shared by all calls): a call of 8
      // tasks of 0.2 s takes 0.4 s, and 1.6 s if they run one at a time
      const again = performance.now();
      const result = await client.callTool({ name: 'slow', arguments: { seconds: 0.2 } });
      const took = elapsed(again);
      check(`${t} after the cancellation a new call works at full speed (${took.toFixed(2)} s for 2 waves of 0.2 s)`,
        !result.isError && result.structuredContent?.rows?.length === expected.accounts && took < 1.5,
        { took, result });
    });
  }

  // --- concurrent calls
  await attempt(`${t} three concurrent calls`, async () => {
    const all = await expectedRows('all');
    const [inventory, slowResult, brokenResult] = await Promise.all([
      client.callTool({ name: 'inventory', arguments: { state: 'all' } }),
      client.callTool({ name: 'slow', arguments: { seconds: 0.3 } }),
      client.callTool({ name: 'broken', arguments: { reason: 'concurrently' } }),
    ]);
    check(`${t} three concurrent calls (inventory all, slow, broken) each get their own result`,
      !inventory.isError && same(rowLines(inventory.structuredContent?.rows || []), all.rows) &&
      !slowResult.isError &&
      same(sorted(slowResult.structuredContent?.rows?.map(r => r.account) || []), sorted(ACCOUNTS)) &&
      brokenResult.isError === true && /broken: concurrently/.test(textOf(brokenResult)),
      { inventory: inventory.structuredContent, slow: slowResult.structuredContent, broken: brokenResult });
  });

  check(`${t} the SDK reported no transport or protocol error (client.onerror)`, errors.length === 0,
    errors.map(e => String(e.error?.stack || e.error)).join('\n'));
}

// A client whose onerror calls are kept in `errors` as {at, error}.
function newClient(errors) {
  const client = new Client({ name: 'opsrun-serve-test', version: '1.0.0' }, { capabilities: {} });
  client.onerror = error => errors.push({ at: performance.now(), error });
  return client;
}

// The progress notifications the SDK refused as having "an unknown token" since `since` (taken
// out of `errors`): the params of each. SDK 1.x dispatches a notification a microtask later
// than a response that arrived with it, so the last notifications before a result that come in
// the same read are refused once the result has retired the token
// (modelcontextprotocol/typescript-sdk#2580); they count as received before the result.
const UNKNOWN_TOKEN = /^Received a progress notification for an unknown token: (\{.*\})$/;
function takeLateProgress(errors, since) {
  const late = [];
  for (let i = 0; i < errors.length; i++) {
    const match = errors[i].at >= since && String(errors[i].error?.message).match(UNKNOWN_TOKEN);
    if (match) {
      late.push(JSON.parse(match[1]).params);
      errors.splice(i--, 1);
    }
  }
  return late;
}

async function stdioChecks() {
  const errors = [];
  const log = new Log();
  const transport = new StdioClientTransport({
    command: env.OPSRUN, args: [...GLOBALS, 'serve', env.SERVE_PLAYBOOKS], env, stderr: 'pipe',
  });
  transport.stderr.on('data', chunk => log.add(chunk));
  const client = newClient(errors);
  try {
    await client.connect(transport);
  } catch (error) {
    check('stdio: the SDK client connects to opsrun serve over stdio', false,
      `${error}\nstderr:\n${log.text}`);
    await transport.close();
    return;
  }
  check('stdio: the SDK client connects to opsrun serve over stdio', true);
  await commonChecks('stdio', client, log, errors);
  // stdin's end stops the server (exit 0). _process is the SDK transport's child process.
  const child = transport._process;
  const exited = child ? new Promise(resolve => child.once('exit', (code, signal) => resolve({ code, signal }))) : null;
  const start = performance.now();
  await client.close();
  const status = exited ? await exited : null;
  check('stdio: closing the client (stdin EOF) stops the server with exit 0 before the SDK resorts to SIGTERM',
    status?.code === 0 && elapsed(start) < 2 && /serve: stdin ended, stopping/.test(log.text),
    { status, seconds: elapsed(start), stderr: log.text.slice(-2000) });
}

async function httpChecks() {
  const errors = [];
  let server;
  try {
    server = await startHttpServer();
  } catch (error) {
    check('http: opsrun serve --listen 127.0.0.1:0 prints its URL', false, String(error));
    return;
  }
  check(`http: opsrun serve --listen 127.0.0.1:0 prints its URL (${server.url})`, true);
  try {
    const transport = new StreamableHTTPClientTransport(new URL(server.url));
    const client = newClient(errors);
    await client.connect(transport);
    check('http: the SDK client connects, the server gives it an Mcp-Session-Id',
      typeof transport.sessionId === 'string' && transport.sessionId.length >= 16, transport.sessionId);
    await commonChecks('http', client, server.log, errors);

    // DELETE of the session (the SDK's terminateSession) ends it and cancels its calls.
    await attempt('http: terminateSession', async () => {
      const sessionId = transport.sessionId;
      const mark = server.log.mark;
      const pending = client.callTool({ name: 'slow', arguments: { seconds: 0.5, rounds: 20 } })
        .then(() => 'resolved', e => e);
      await sleep(700);
      await transport.terminateSession();
      check('http: terminateSession (DELETE /mcp) succeeds and the SDK forgets the session id',
        transport.sessionId === undefined);
      await sleep(600);
      const after = server.log.since(mark);
      const cancelAt = after.search(/serve: slow cancelled \(request \S+\): the session ended/);
      check('http: DELETE cancels the session\'s call under way (server log), no task runs after',
        cancelAt >= 0 && !/slow: (start|end)/.test(after.slice(cancelAt).split('\n').slice(1).join('\n')), after);
      const response = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
          'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 99, method: 'tools/list' }),
      });
      check('http: a request with the deleted session id is answered 404', response.status === 404,
        { status: response.status, body: await response.text() });
      const outcome = await Promise.race([pending, sleep(3000).then(() => 'still pending 3 s after DELETE')]);
      check('http: the call under way when the session was deleted does not hang the client',
        outcome !== 'resolved' && outcome !== 'still pending 3 s after DELETE', String(outcome));
    });
    await client.close();
  } catch (error) {
    check('http: the SDK client over Streamable HTTP', false, `threw: ${error?.stack || error}\nstderr:\n${server.log.text.slice(-3000)}`);
  }
  const status = await stopServer(server);
  check('http: SIGTERM stops the server with exit status 143', status.code === 143, status);
}

async function tokenChecks() {
  const token = 'serve-test-token-0123456789abcdef';
  const tokenFile = `${env.SERVE_TMP}/token`;
  writeFileSync(tokenFile, token + '\n', { mode: 0o600 });
  let server;
  try {
    server = await startHttpServer(['--token-file', tokenFile]);
  } catch (error) {
    check('token: opsrun serve --listen 127.0.0.1:0 --token-file FILE starts', false, String(error));
    return;
  }
  try {
    const errors = [];
    const transport = new StreamableHTTPClientTransport(new URL(server.url),
      { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
    const client = newClient(errors);
    await client.connect(transport);
    const listed = await client.listTools();
    const result = await client.callTool({ name: 'inventory', arguments: { state: 'stopped' } });
    const expected = await expectedRows('stopped');
    check('token: with Authorization: Bearer TOKEN (requestInit headers) the SDK lists the tools and calls one',
      listed.tools.length === 3 && !result.isError &&
      same(rowLines(result.structuredContent?.rows || []), expected.rows), result);
    await transport.terminateSession();
    await client.close();
    check('token: no SDK errors with the right token', errors.length === 0,
      errors.map(e => String(e.error)).join('\n'));

    const wrong = new StreamableHTTPClientTransport(new URL(server.url),
      { requestInit: { headers: { Authorization: 'Bearer not-the-right-token-at-all' } } });
    const wrongClient = newClient([]);
    let error;
    try {
      await wrongClient.connect(wrong);
    } catch (e) {
      error = e;
    }
    check('token: a wrong token: connect fails with StreamableHTTPError 401',
      error instanceof StreamableHTTPError && error.code === 401, String(error));
    await wrongClient.close().catch(() => {});

    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {
        protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
    });
    check('token: no Authorization header: 401 with WWW-Authenticate: Bearer',
      response.status === 401 && /^Bearer\b/.test(response.headers.get('www-authenticate') || ''),
      { status: response.status, wwwAuthenticate: response.headers.get('www-authenticate') });
  } catch (error) {
    check('token: the SDK client against a token-protected server', false,
      `threw: ${error?.stack || error}\nstderr:\n${server.log.text.slice(-3000)}`);
  }
  await stopServer(server);
}

const parts = { stdio: stdioChecks, http: httpChecks, token: tokenChecks };
const chosen = process.argv[2] ? [process.argv[2]] : Object.keys(parts);
for (const part of chosen) {
  if (!parts[part]) {
    check(`serve_sdk.mjs: unknown part ${part} (stdio, http or token)`, false);
    continue;
  }
  await parts[part]();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
