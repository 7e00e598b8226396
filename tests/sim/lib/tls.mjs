// TLS for the simulator's endpoints (--tls h2 | http1.1): a throw-away test CA and a server
// certificate for 127.0.0.1 and localhost made by the openssl command at start-up (nothing
// committed), servers that speak HTTP/2 and HTTP/1.1 over ALPN (node:http2, allowHTTP1) or
// HTTP/1.1 only (node:https), and the counting of the TLS connections they accept.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const TLS_MODES = ['h2', 'http1.1'];

// RFC 9113 section 6.5.2 recommends no fewer than 100; what the hosted endpoint announces is
// not public (our assumption).
const MAX_CONCURRENT_STREAMS = 100;

function openssl(args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * Makes a CA and a server certificate it signs (P-256 keys, one day) in a fresh directory.
 * Returns { dir, caFile, key, cert } (key and cert as PEM text); remove `dir` when done.
 */
export function makeTestPki() {
  const dir = mkdtempSync(join(tmpdir(), 'opsrun-sim-tls-'));
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...ecKey, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1',
    '-subj', '/CN=opsrun-sim test CA', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  openssl(['req', '-new', ...ecKey, '-keyout', 'server.key', '-out', 'server.csr',
    '-subj', '/CN=127.0.0.1'], dir);
  writeFileSync(join(dir, 'server.ext'), ['basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost', ''].join('\n'));
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
    '-CAcreateserial', '-out', 'server.pem', '-days', '1', '-extfile', 'server.ext'], dir);
  return loadTestPki(dir);
}

/** The test CA and server certificate makeTestPki left in `dir` (for --workers' workers). */
export function loadTestPki(dir) {
  return { dir, caFile: join(dir, 'ca.pem'), key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) };
}

/** Deletes what makeTestPki made. */
export function removeTestPki(pki) {
  rmSync(pki.dir, { recursive: true, force: true });
}

/**
 * The request as the endpoints read it: over HTTP/2, node's compatibility request has no
 * headersDistinct and carries the authority as ':authority'; SigV4 signs it as `host` (AWS's own
 * message: "'Host' or ':authority' must be a 'SignedHeader'"), so it is given as host here and
 * the other pseudo-headers are dropped.
 */
function asHttp1Request(req) {
  if (req.httpVersionMajor !== 2) return req;
  const distinct = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.startsWith(':')) continue;
    distinct[name] = Array.isArray(value) ? value : [String(value)];
  }
  if (req.headers[':authority'] && !distinct.host) distinct.host = [req.headers[':authority']];
  Object.defineProperty(req, 'headersDistinct', { value: distinct });
  if (!req.headers.host && req.headers[':authority']) req.headers.host = req.headers[':authority'];
  return req;
}

/** The TLS socket a request came on, over HTTP/2 (node's proxy of it, which passes properties
 * through) or HTTP/1.1. */
function socketOf(req) {
  return req.httpVersionMajor === 2 ? req.stream.session.socket : req.socket;
}

const HANDSHAKE_MARK = Symbol('tlsHandshake mark of a connection yet to carry a request');

/**
 * A TLS server for one endpoint: `mode` 'h2' offers h2 and http/1.1 over ALPN, 'http1.1' only
 * http/1.1. Every TLS handshake it completes is counted for the endpoint (counters.tlsHandshake),
 * unless the connection's first request is one of the simulator's own hooks (/_sim/...: a test
 * reading the counters), whose handshake is counted apart; each connection is remembered, so
 * closeAllConnections() can close it.
 */
export function createTlsServer(mode, pki, endpoint, counters, handle) {
  const options = { key: pki.key, cert: pki.cert };
  const protocolOf = (socket) => socket.alpnProtocol || 'http/1.1';
  const onRequest = (req, res) => {
    const socket = socketOf(req);
    const mark = socket[HANDSHAKE_MARK];
    if (mark !== undefined) {
      socket[HANDSHAKE_MARK] = undefined;
      if (req.url.startsWith('/_sim/')) counters.tlsHandshakeForHook(endpoint, protocolOf(socket), socket.isSessionReused(), mark);
    }
    return handle(asHttp1Request(req), res);
  };
  const server = mode === 'h2'
    ? http2.createSecureServer({ ...options, allowHTTP1: true, settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS } }, onRequest)
    : https.createServer({ ...options, ALPNProtocols: ['http/1.1'] }, onRequest);
  const sockets = new Set();
  server.on('secureConnection', (socket) => {
    socket[HANDSHAKE_MARK] = counters.tlsHandshake(endpoint, protocolOf(socket), socket.isSessionReused());
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.closeAllConnections = () => {
    for (const socket of sockets) socket.destroy();
  };
  return server;
}
