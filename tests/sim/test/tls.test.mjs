// --tls: the endpoints over TLS with a test CA made at start-up, HTTP/2 (ALPN h2, falling back to
// http/1.1) or HTTP/1.1 only, and the counting of TLS handshakes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import tls from 'node:tls';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../lib/sigv4.mjs';
import { baseCreds, startSim, xmlField } from './helpers.mjs';

const IDENTITY_BODY = 'Action=GetCallerIdentity&Version=2011-06-15';

async function signedIdentityHeaders(ready) {
  const url = new URL(ready.sts);
  const signer = new SignatureV4({ credentials: baseCreds(ready), region: 'us-east-1', service: 'sts', sha256: NodeSha256, applyChecksum: false });
  const signed = await signer.sign({
    method: 'POST', protocol: 'https:', hostname: url.hostname, port: Number(url.port), path: '/', query: {},
    headers: { host: url.host, 'content-type': 'application/x-www-form-urlencoded' }, body: IDENTITY_BODY,
  });
  const { host, ...headers } = signed.headers; // over HTTP/2 the host travels as :authority
  return headers;
}

/** Two signed GetCallerIdentity calls on one HTTP/2 connection; resolves to their answers. */
async function twoCallsOverH2(ready) {
  const session = http2.connect(ready.sts, { ca: readFileSync(ready.ca_bundle) });
  const call = async () => {
    const stream = session.request({ ':method': 'POST', ':path': '/', ...(await signedIdentityHeaders(ready)) });
    stream.end(IDENTITY_BODY);
    let status;
    let text = '';
    stream.on('response', (headers) => (status = headers[':status']));
    stream.on('data', (chunk) => (text += chunk));
    await new Promise((resolve, reject) => stream.on('end', resolve).on('error', reject));
    return { status, text };
  };
  try {
    return await Promise.all([call(), call()]);
  } finally {
    session.close();
  }
}

function getCounters(ready) {
  return new Promise((resolve, reject) => {
    https.get(ready.counters, { ca: readFileSync(ready.ca_bundle) }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve(JSON.parse(text)));
    }).on('error', reject);
  });
}

/** The protocol the server picks when a client offers h2 and http/1.1. */
function negotiated(ready) {
  const url = new URL(ready.sts);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: url.hostname, port: Number(url.port), ca: readFileSync(ready.ca_bundle), ALPNProtocols: ['h2', 'http/1.1'] }, () => {
      resolve(socket.alpnProtocol);
      socket.end();
    });
    socket.on('error', reject);
  });
}

test('--tls h2: signed calls multiplexed on one connection, one handshake counted', async () => {
  const sim = await startSim(['--tls', 'h2', '--accounts', '2']);
  try {
    assert.match(sim.ready.sts, /^https:\/\/127\.0\.0\.1:\d+$/);
    const answers = await twoCallsOverH2(sim.ready);
    for (const { status, text } of answers) {
      assert.equal(status, 200, text);
      assert.equal(xmlField(text, 'Account'), sim.ready.central_account);
    }
    const counters = await getCounters(sim.ready);
    assert.equal(counters.tls_handshakes_by_endpoint.sts, 1);
    assert.equal(counters.tls_handshakes_by_protocol.h2, 1);
    assert.equal(counters.tls_handshakes, 1, 'the counters request is counted apart');
    assert.equal(counters.tls_hook_handshakes, 1);
    assert.equal(counters.requests_by_http_version['2.0'], 2);
  } finally {
    await sim.stop();
  }
  assert.equal(existsSync(sim.ready.ca_bundle), false, 'the test CA is deleted at exit');
});

test('--tls h2 offers h2; --tls http1.1 answers a client offering h2 with http/1.1', async () => {
  for (const [mode, expected] of [['h2', 'h2'], ['http1.1', 'http/1.1']]) {
    const sim = await startSim(['--tls', mode]);
    try {
      assert.equal(await negotiated(sim.ready), expected);
      assert.equal((await getCounters(sim.ready)).tls_handshakes_by_protocol[expected], 1);
    } finally {
      await sim.stop();
    }
  }
});

test('--tls refuses an unknown mode', async () => {
  await assert.rejects(startSim(['--tls', 'h3']), /--tls: expected h2 or http1\.1/);
});
