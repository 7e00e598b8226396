#!/usr/bin/env node
// sweep.mjs: the sweep of tests/bench/sweep.sh written with the AWS SDK for JavaScript v3 and
// the official MCP TypeScript SDK, to measure opsrun against. For each account of a registry
// file, at most --concurrency at once (a promise pool): STS AssumeRole from the environment's
// credentials into the account's role, then an MCP session as that role (initialize,
// notifications/initialized, tools/call aws___list_regions) over the SDK's Streamable HTTP
// client, every request SigV4-signed (service aws-mcp, the operating region, as opsrun signs),
// and the session DELETEd. Every account must succeed: failures are listed on stderr, exit 1.
// Prints "sweep seconds S" (the pool's wall time) on stdout.
// Usage: node sweep.mjs --registry FILE --sts URL --mcp URL --role-name NAME --concurrency C
// Credentials and region: the SDK's usual chain (AWS_ACCESS_KEY_ID..., AWS_REGION).
import { createHash, createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SignatureV4 } from '@smithy/signature-v4';

const { values: options } = parseArgs({
  options: {
    registry: { type: 'string' },
    sts: { type: 'string' },
    mcp: { type: 'string' },
    'role-name': { type: 'string' },
    concurrency: { type: 'string' }
  }
});
for (const name of ['registry', 'sts', 'mcp', 'role-name', 'concurrency']) {
  if (!options[name]) {
    console.error(`sweep.mjs: --${name} is required`);
    process.exit(2);
  }
}
const concurrency = Number(options.concurrency);
const region = process.env.AWS_REGION;

// One STS client for the whole sweep, with as many pooled sockets as tasks run at once (the
// SDK's default of 50 would queue a wider sweep behind it).
const sts = new STSClient({
  endpoint: options.sts,
  requestHandler: { httpAgent: { maxSockets: concurrency }, httpsAgent: { maxSockets: concurrency } }
});
const sessionName = `bench-node-${Math.floor(Date.now() / 1000)}`;

// SHA-256 for the signer from node:crypto (an HMAC when given a key), as the SDK's own clients
// sign on Node.
class Sha256 {
  constructor(key) {
    this.hash = key ? createHmac('sha256', key) : createHash('sha256');
  }
  update(data) {
    this.hash.update(data);
  }
  async digest() {
    return new Uint8Array(this.hash.digest());
  }
}

// A fetch for the MCP transport that signs each request as it leaves, the body included.
function signingFetch(signer) {
  return async (url, init = {}) => {
    const target = new URL(url);
    const headers = Object.fromEntries(new Headers(init.headers));
    const signed = await signer.sign({
      method: init.method ?? 'GET',
      protocol: target.protocol,
      hostname: target.hostname,
      port: target.port ? Number(target.port) : undefined,
      path: target.pathname,
      query: Object.fromEntries(target.searchParams),
      headers: { ...headers, host: target.host },
      body: init.body
    });
    delete signed.headers.host; // fetch sends the same Host itself and refuses to be given one
    return fetch(url, { ...init, headers: signed.headers });
  };
}

async function sweepAccount(account) {
  const { Credentials } = await sts.send(
    new AssumeRoleCommand({
      RoleArn: `arn:aws:iam::${account.id}:role/${options['role-name']}`,
      RoleSessionName: sessionName
    })
  );
  const signer = new SignatureV4({
    service: 'aws-mcp',
    region,
    sha256: Sha256,
    credentials: {
      accessKeyId: Credentials.AccessKeyId,
      secretAccessKey: Credentials.SecretAccessKey,
      sessionToken: Credentials.SessionToken
    }
  });
  const transport = new StreamableHTTPClientTransport(new URL(options.mcp), {
    fetch: signingFetch(signer)
  });
  const client = new Client({ name: 'bench-peer-node', version: '1.0.0' });
  await client.connect(transport);
  try {
    const result = await client.callTool({ name: 'aws___list_regions', arguments: {} });
    const text = result.content
      .filter((item) => item.type === 'text')
      .map((item) => item.text)
      .join('');
    if (result.isError || text === '') throw new Error(`aws___list_regions: ${text || 'no text'}`);
  } finally {
    await transport.terminateSession();
    await client.close();
  }
}

// Runs work(item) for every item, at most `limit` at once; settles like Promise.allSettled.
async function promisePool(items, limit, work) {
  const results = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]).then(
        (value) => ({ status: 'fulfilled', value }),
        (reason) => ({ status: 'rejected', reason })
      );
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

const { accounts } = JSON.parse(await readFile(options.registry, 'utf8'));
const started = performance.now();
const results = await promisePool(accounts, concurrency, sweepAccount);
const seconds = (performance.now() - started) / 1000;
sts.destroy();

const failed = results.flatMap((result, index) =>
  result.status === 'rejected' ? [`${accounts[index].id}: ${result.reason?.message ?? result.reason}`] : []
);
for (const line of failed) console.error(`sweep.mjs: ${line}`);
console.log(`sweep seconds ${seconds.toFixed(3)}`);
process.exit(failed.length ? 1 : 0);
