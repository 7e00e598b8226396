// Test helpers: start the simulator as a child process, sign requests with @smithy/signature-v4
// (the client side of SigV4 here), call STS and the MCP endpoint. Used by the *.test.mjs files.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../lib/sigv4.mjs';

const SERVER = fileURLToPath(new URL('../server.mjs', import.meta.url));

/** Starts the simulator with `flags`; resolves to { ready, proc, stop() }. */
export function startSim(flags = []) {
  const proc = spawn(process.execPath, [SERVER, ...flags], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: proc.stdout });
    const timer = setTimeout(() => reject(new Error(`no ready line; stderr: ${stderr}`)), 15000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      const ready = JSON.parse(line);
      resolve({
        ready,
        proc,
        stderr: () => stderr,
        exited,
        async stop() {
          proc.kill('SIGTERM');
          return exited;
        },
      });
    });
    proc.on('exit', () => reject(new Error(`simulator exited: ${stderr}`)));
  });
}

export function baseCreds(ready) {
  return { accessKeyId: ready.access_key_id, secretAccessKey: ready.secret_access_key };
}

/**
 * A fetch that SigV4-signs each request. `opts`: { service, region, offsetMs (clock offset of
 * the signer), mutate(request) (changes the request after signing), send (the fetch that sends
 * it, the global one by default) }.
 */
export function signingFetch(creds, { service = 'aws-mcp', region = 'us-east-1', offsetMs = 0, mutate, send = fetch } = {}) {
  const signer = new SignatureV4({ credentials: creds, region, service, sha256: NodeSha256, applyChecksum: false });
  return async (input, init = {}) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = {};
    new Headers(init.headers).forEach((v, k) => (headers[k] = v));
    headers.host = url.host;
    const body = init.body === undefined ? undefined : String(init.body);
    const query = Object.fromEntries(url.searchParams);
    const signed = await signer.sign(
      { method: init.method ?? 'GET', protocol: url.protocol, hostname: url.hostname, port: Number(url.port), path: url.pathname, query, headers, body },
      { signingDate: new Date(Date.now() + offsetMs) },
    );
    const request = { headers: { ...signed.headers }, body };
    if (mutate) mutate(request);
    delete request.headers.host;
    return send(url, { method: init.method ?? 'GET', headers: request.headers, body: request.body, signal: init.signal });
  };
}

/** A signed STS Query call; resolves to { status, text, headers }. */
export async function sts(ready, creds, params, opts = {}) {
  const f = creds ? signingFetch(creds, { service: 'sts', ...opts }) : fetch;
  const res = await f(ready.sts + '/', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
    body: new URLSearchParams({ Version: '2011-06-15', ...params }).toString(),
  });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

export function xmlField(text, name) {
  return new RegExp(`<${name}>([^<]*)</${name}>`).exec(text)?.[1];
}

/**
 * AssumeRole as `creds` (default: the base user) into `account`; resolves to credentials.
 * `opts`: signingFetch's.
 */
export async function assumeRole(ready, account, params = {}, creds = baseCreds(ready), opts = {}) {
  const r = await sts(ready, creds, {
    Action: 'AssumeRole',
    RoleArn: `arn:aws:iam::${account}:role/CentralOpsTargetRole`,
    RoleSessionName: 'test',
    ...params,
  }, opts);
  if (r.status !== 200) throw new Error(`AssumeRole ${r.status}: ${r.text}`);
  return {
    accessKeyId: xmlField(r.text, 'AccessKeyId'),
    secretAccessKey: xmlField(r.text, 'SecretAccessKey'),
    sessionToken: xmlField(r.text, 'SessionToken'),
    expiration: xmlField(r.text, 'Expiration'),
  };
}

export const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' };

export const INITIALIZE = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'test', version: '1' } } };

/** One raw signed MCP POST; resolves to { status, headers, text, json }. */
export async function mcpPost(ready, creds, message, { session, fetchOpts } = {}) {
  const f = signingFetch(creds, fetchOpts);
  const res = await f(ready.mcp, {
    method: 'POST',
    headers: { ...MCP_HEADERS, ...(session ? { 'mcp-session-id': session } : {}) },
    body: JSON.stringify(message),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** initialize + notifications/initialized; resolves to the session id. */
export async function openSession(ready, creds) {
  const init = await mcpPost(ready, creds, INITIALIZE);
  if (init.status !== 200) throw new Error(`initialize ${init.status}: ${init.text}`);
  const session = init.headers.get('mcp-session-id');
  await mcpPost(ready, creds, { jsonrpc: '2.0', method: 'notifications/initialized' }, { session });
  return session;
}

export function runScriptCall(code, region, id = 7) {
  return {
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name: 'aws___run_script', arguments: { code }, ...(region ? { _meta: { AWS_REGION: region } } : {}) },
  };
}

export async function counters(ready) {
  return (await fetch(ready.counters)).json();
}
