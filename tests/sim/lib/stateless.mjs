// The stateless MCP revision (2026-07-28, SEP-2575) of the MCP endpoint, for --mcp-revision
// 2026-07-28 and both: no initialize and no session; every request carries its version and
// client capabilities in _meta, mirrored in headers that are checked against the body; every
// result says its resultType; server/discover names the versions served. Written from the
// specification's pages (tests/sim/README.md cites them); the pinned SDK (1.32.2) predates it.
// Uses mcp.mjs's McpService for tools/list, tools/call and the JSON answers.

export const MODERN_VERSION = '2026-07-28';
export const LEGACY_VERSION = '2025-11-25';

// basic/index, Error Codes; Streamable HTTP, Protocol Version Header.
const INVALID_PARAMS = -32602;
const METHOD_NOT_FOUND = -32601;
const HEADER_MISMATCH = -32020;
const UNSUPPORTED_PROTOCOL_VERSION = -32022;
const META = 'io.modelcontextprotocol/';
// Streamable HTTP, Standard Request Headers: the methods whose Mcp-Name mirrors a body field.
const NAMED_BY = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' };
// How long a client may keep server/discover and tools/list (caching: ttlMs, cacheScope). The
// same for every caller, as the hosted tools are: public. Our assumption.
const TTL_MS = 300000;

/** The versions this server serves, newest first. */
export function supportedVersions(revision) {
  return revision === 'both' ? [MODERN_VERSION, LEGACY_VERSION] : revision === MODERN_VERSION ? [MODERN_VERSION] : [LEGACY_VERSION];
}

/**
 * Does this POST open the stateless revision? A dual-era server "selects its behavior from how
 * the client opens": per-request _meta (or the version header) is stateless, initialize or a
 * session id is a 2025-11-25 session (versioning, Backward Compatibility).
 */
export function isStatelessRequest(revision, req, message) {
  if (revision === MODERN_VERSION) return true;
  if (revision !== 'both' || req.headers['mcp-session-id'] || message?.method === 'initialize') return false;
  const version = req.headers['mcp-protocol-version'] ?? message?.params?._meta?.[`${META}protocolVersion`];
  return typeof version === 'string' && version >= MODERN_VERSION;
}

/** A header value as the Value Encoding rules send it: plain, or =?base64?...?=. */
function decodeHeader(value) {
  const sentinel = /^=\?base64\?(.*)\?=$/.exec(value ?? '');
  return sentinel ? Buffer.from(sentinel[1], 'base64').toString('utf8') : value;
}

/** Why a request breaks the revision's rules, as [status, code, message, data], or null. */
function refusal(revision, req, message) {
  const meta = message?.params?._meta;
  const version = meta?.[`${META}protocolVersion`];
  const header = req.headers['mcp-protocol-version'];
  if (typeof message?.method !== 'string' || !('id' in message)) return [400, -32600, 'Invalid Request: a JSON-RPC request is expected'];
  if (message.method === 'initialize') {
    // "A server that supports only modern versions SHOULD name the protocol versions it supports in
    // any error it returns to an initialize request" (versioning).
    return [400, UNSUPPORTED_PROTOCOL_VERSION, `Unsupported protocol version: this server speaks ${MODERN_VERSION} only, without initialize`, { supported: supportedVersions(revision), requested: String(message.params?.protocolVersion ?? '') }];
  }
  if (typeof version !== 'string' || meta?.[`${META}clientCapabilities`] === null || typeof meta?.[`${META}clientCapabilities`] !== 'object') {
    return [400, INVALID_PARAMS, `Invalid params: _meta must carry ${META}protocolVersion and ${META}clientCapabilities`];
  }
  if (header === undefined) return [400, HEADER_MISMATCH, 'Header mismatch: MCP-Protocol-Version header is required'];
  if (header !== version) return [400, HEADER_MISMATCH, `Header mismatch: MCP-Protocol-Version header value '${header}' does not match body value '${version}'`];
  if (!supportedVersions(revision).includes(version) || version < MODERN_VERSION) {
    return [400, UNSUPPORTED_PROTOCOL_VERSION, 'Unsupported protocol version', { supported: supportedVersions(revision), requested: version }];
  }
  if (req.headers['mcp-method'] !== message.method) return [400, HEADER_MISMATCH, `Header mismatch: Mcp-Method header value '${req.headers['mcp-method'] ?? ''}' does not match body value '${message.method}'`];
  const field = NAMED_BY[message.method];
  if (field && decodeHeader(req.headers['mcp-name']) !== message.params?.[field]) {
    return [400, HEADER_MISMATCH, `Header mismatch: Mcp-Name header value '${req.headers['mcp-name'] ?? ''}' does not match body value '${message.params?.[field]}'`];
  }
  return null;
}

/**
 * Answers one POST of the stateless revision for `service` (McpService) as `identity`. Replies
 * are JSON (no event stream: the revision's streams carry only progress, which these tools do not
 * send).
 */
export async function handleStateless(service, req, res, rid, message, identity) {
  const { opts, counters } = service.sim;
  const send = (status, value) => service.sendJson(res, rid, status, value);
  const refused = refusal(opts.mcpRevision, req, message);
  if (refused) {
    const [status, code, text, data] = refused;
    return send(status, { jsonrpc: '2.0', id: message?.id ?? null, error: { code, message: text, ...(data ? { data } : {}) } });
  }
  counters.statelessRequest(identity.account, message.method);
  const serverInfo = { [`${META}serverInfo`]: service.serverInfo };
  const complete = (result) => send(200, { jsonrpc: '2.0', id: message.id, result: { resultType: 'complete', ...result, _meta: { ...result._meta, ...serverInfo } } });
  try {
    switch (message.method) {
      case 'server/discover':
        return complete({ supportedVersions: supportedVersions(opts.mcpRevision), capabilities: { tools: { listChanged: false } }, instructions: service.instructions, ttlMs: TTL_MS, cacheScope: 'public' });
      case 'tools/list':
        return complete({ ...service.listTools(message), ttlMs: TTL_MS, cacheScope: 'public' });
      case 'tools/call':
        return complete(await service.callTool({ identity }, message, { sendNotification: async () => {} }));
      default:
        // Streamable HTTP, Protocol Version Header: an unknown method is 404 with -32601.
        return send(404, { jsonrpc: '2.0', id: message.id, error: { code: METHOD_NOT_FOUND, message: `Method not found: ${message.method}` } });
    }
  } catch (err) {
    return send(200, { jsonrpc: '2.0', id: message.id, error: { code: Number.isInteger(err.code) ? err.code : -32603, message: err.message } });
  }
}
