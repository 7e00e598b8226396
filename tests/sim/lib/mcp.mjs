// The AWS MCP Server endpoint: checks SigV4 (service aws-mcp) on the raw body, applies faults,
// binds each Mcp-Session-Id to the caller (user id) that initialised it, and hands the request to
// the official SDK (Server + WebStandardStreamableHTTPServerTransport, the core of the SDK's
// Streamable HTTP transport; we use it directly so the Response can be post-processed for
// --sse framing and --nonstandard-errors). Uses frontdoor.mjs and tools.mjs.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { CallToolRequestSchema, ErrorCode, isInitializeRequest, LATEST_PROTOCOL_VERSION, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { admit } from './frontdoor.mjs';
import { handleStateless, isStatelessRequest, MODERN_VERSION } from './stateless.mjs';
import { TaskStore } from './tasks.mjs';
import { callTool, TOOL_NAMES, TOOLS } from './tools.mjs';
import { REGION_IDS, requestId } from './util.mjs';

const SERVER_INFO = { name: 'aws-mcp', title: 'AWS MCP Server (opsrun-sim)', version: '1.0.0' };
const INSTRUCTIONS = 'Use aws___run_script to call AWS APIs as the signing identity; _meta.AWS_REGION sets the default region.';
const HANG = new Promise(() => {});
// What the hosted server answers for a session it does not know (mcp-proxy-for-aws #117, #299).
const HOSTED_SESSION_GONE = { code: -30001, message: 'The provided SessionId was not found or has expired, please re-initialize your connection.' };
// Each Server would otherwise build its own Ajv instance: most of the cost of a new session.
const SCHEMA_VALIDATOR = new AjvJsonSchemaValidator();
// What a worker replays to its own SDK transport to take up a session another worker opened: the
// SDK (1.32) has no public way to restore one (typescript-sdk issues #1658, #1882).
const ADOPTING_INITIALIZE = {
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'opsrun-sim-worker', version: '1.0.0' } },
};

/** A JSON-RPC error for the SDK to send (its McpError would prefix "MCP error -32602: "). */
function rpcFailure(code, message) {
  return Object.assign(new Error(message), { code });
}

function encodeCursor(offset) {
  return Buffer.from(JSON.stringify({ offset })).toString('base64url');
}

/** The id of a single JSON-RPC request, else null (notification, batch, no body). */
function requestIdOf(message) {
  return message !== null && typeof message === 'object' && 'method' in message && 'id' in message ? message.id : null;
}

function decodeCursor(cursor) {
  try {
    const { offset } = JSON.parse(Buffer.from(String(cursor), 'base64url').toString('utf8'));
    if (Number.isInteger(offset) && offset >= 0 && offset < TOOLS.length) return offset;
  } catch {
    // fall through
  }
  throw rpcFailure(ErrorCode.InvalidParams, 'Invalid cursor');
}

/** One MCP session: its SDK server and transport, the identity using it. */
class Session {
  constructor(identity) {
    this.identity = identity;
    this.id = null;
    this.requests = 0;
  }
}

export class McpService {
  /** `sim`: { opts, org, creds, counters, clock, faults, sessionIds, log }. */
  constructor(sim) {
    this.sim = sim;
    this.sessions = new Map(); // opened here
    this.adopted = new Map(); // opened by another worker, used here (id -> promise of session)
    // Tasks belong to a user id, as sessions do, so a new session of the same caller sees them.
    this.tasks = new TaskStore({ expiryMs: sim.opts.taskExpirySeconds * 1000, clock: sim.clock });
  }

  get serverInfo() {
    return SERVER_INFO;
  }

  get instructions() {
    return INSTRUCTIONS;
  }

  get sessionCount() {
    return this.sessions.size;
  }

  /** A JSON-RPC error body, in the hosted server's non-standard shape when asked to. */
  rpcError(code, message, id = null, nonstandard = this.sim.opts.nonstandardErrors) {
    return nonstandard
      ? { jsonrpc: '2.0', id: id ?? '', result: null, error: { code, message } }
      : { jsonrpc: '2.0', error: { code, message }, id };
  }

  baseHeaders(rid) {
    return { 'x-amzn-RequestId': rid, Date: new Date(this.sim.clock()).toUTCString() };
  }

  sendJson(res, rid, status, value, headers = {}) {
    const body = JSON.stringify(value);
    res.writeHead(status, { ...this.baseHeaders(rid), 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...headers });
    res.end(body);
  }

  /** An AWS front-door error: {"message": ...} with x-amzn-ErrorType. */
  sendAwsError(res, rid, status, type, message) {
    this.sendJson(res, rid, status, { message }, { 'x-amzn-ErrorType': type });
  }

  /** A new session of `identity`, or (`adoptedId`) the transport for one another worker opened. */
  async createSession(identity, adoptedId = null) {
    const { opts, counters, sessionIds } = this.sim;
    const session = new Session(identity);
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => adoptedId ?? sessionIds.issue(identity.userId),
      enableJsonResponse: !opts.sse,
      onsessioninitialized: (id) => {
        session.id = id;
        if (adoptedId) return;
        this.sessions.set(id, session);
        counters.sessionsOpened++;
      },
      onsessionclosed: (id) => {
        counters.sessionsClosed++;
        return sessionIds.end(id);
      },
    });
    transport.onclose = () => {
      if (session.id) this.sessions.delete(session.id);
      this.adopted.delete(session.id);
    };
    const server = new Server(SERVER_INFO, {
      capabilities: { tools: { listChanged: false }, logging: {} },
      instructions: INSTRUCTIONS,
      jsonSchemaValidator: SCHEMA_VALIDATOR,
    });
    server.setRequestHandler(ListToolsRequestSchema, (request) => this.listTools(request));
    server.setRequestHandler(CallToolRequestSchema, (request, extra) => this.callTool(session, request, extra));
    await server.connect(transport);
    session.transport = transport;
    return session;
  }

  /** Takes up a live session another worker opened, once however many requests name it. */
  adoptSession(id, identity) {
    if (!this.adopted.has(id)) {
      this.adopted.set(id, this.createSession(identity, id).then(async (session) => {
        const headers = { accept: 'application/json, text/event-stream', 'content-type': 'application/json' };
        const response = await session.transport.handleRequest(new Request('http://127.0.0.1/mcp', { method: 'POST', headers }), { parsedBody: ADOPTING_INITIALIZE });
        await response.text();
        return session;
      }));
    }
    return this.adopted.get(id);
  }

  /** Drops a session another worker ended (DELETE), so that this one refuses it too. */
  endedElsewhere(id) {
    this.sim.sessionIds.endedElsewhere(id);
    this.sessions.get(id)?.transport.close();
    this.adopted.get(id)?.then((session) => session.transport.close());
  }

  listTools(request) {
    const size = this.sim.opts.toolsPageSize;
    const cursor = request.params?.cursor;
    const start = cursor === undefined ? 0 : decodeCursor(cursor);
    const result = { tools: TOOLS.slice(start, start + size) };
    if (start + size < TOOLS.length) result.nextCursor = encodeCursor(start + size);
    return result;
  }

  async callTool(session, request, extra) {
    const { opts, org, counters, clock } = this.sim;
    const { name, arguments: args = {}, _meta: meta } = request.params;
    if (!TOOL_NAMES.has(name)) throw rpcFailure(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
    const { identity } = session;
    counters.toolCall(identity.account, name);
    if (org.hungSet.has(identity.account)) {
      counters.hungCalls++;
      await HANG;
    }
    if (opts.sse) {
      await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', logger: 'aws-mcp', data: `Running ${name}` } });
    }
    const defaultRegion = typeof meta?.AWS_REGION === 'string' ? meta.AWS_REGION : opts.region;
    return callTool(name, args, {
      identity,
      defaultRegion,
      tasks: this.tasks,
      sandbox: this.sim.sandbox,
      org,
      seed: org.seed,
      opts,
      now: clock(),
      counters,
      regionIds: [...REGION_IDS],
    });
  }

  /**
   * Answers a request naming a session the server does not have (unknown, expired, another
   * caller's): the SDK's 404 -32001, or with --session-expiry-error hosted the hosted server's
   * -30001 at --session-expiry-status, echoing the request's id so a client can match it.
   */
  sendSessionGone(res, rid, message) {
    const { sessionExpiryError, sessionExpiryStatus } = this.sim.opts;
    if (sessionExpiryError !== 'hosted') return this.sendJson(res, rid, 404, this.rpcError(-32001, 'Session not found'));
    const { code, message: text } = HOSTED_SESSION_GONE;
    return this.sendJson(res, rid, sessionExpiryStatus, this.rpcError(code, text, requestIdOf(message)));
  }

  /**
   * Finds the session a request names (opened here, or by another worker: see sessionids.mjs)
   * and checks it may use it; answers and returns null if not.
   */
  async claimSession(res, rid, sessionId, identity, message) {
    const { opts, counters, sessionIds } = this.sim;
    const held = this.sessions.get(sessionId);
    const gone = () => {
      this.sendSessionGone(res, rid, message);
      return null;
    };
    if (!held && !sessionIds.isLive(sessionId)) return gone();
    // A session belongs to the caller's user id (AROA…:session-name for a role session), not to
    // one key: mcp-proxy-for-aws PR #122. Another caller cannot see it at all.
    if (held ? held.identity.userId !== identity.userId : !sessionIds.isOwnedBy(sessionId, identity.userId)) {
      counters.sessionIdentityMismatch++;
      return gone();
    }
    // (--session-expiry counts a session's requests in one process: options.mjs refuses it with --workers.)
    if (opts.sessionExpiry && held && held.requests >= opts.sessionExpiry) {
      counters.sessionsExpired++;
      this.sessions.delete(sessionId);
      sessionIds.end(sessionId);
      held.transport.close();
      return gone();
    }
    const session = held ?? (await this.adoptSession(sessionId, identity));
    session.requests++;
    // Tools act with the credentials that signed this request (a refreshed key of the same caller).
    session.identity = identity;
    return session;
  }

  async handle(req, res) {
    const rid = requestId();
    const send = (status, value, headers) => this.sendJson(res, rid, status, value, headers);
    const path = req.url.split('?')[0];
    if (path !== '/mcp') return send(404, { message: 'Not Found' });
    const admitted = await admit(this.sim, 'mcp', req, res, { service: 'aws-mcp', region: this.sim.opts.region });
    if (admitted.refusal) {
      const { status, code, message } = admitted.refusal;
      return this.sendAwsError(res, rid, status, code, message);
    }
    const { body, identity } = admitted;
    this.sim.counters.mcpRequest(identity.account);
    if (req.method !== 'POST' && req.method !== 'DELETE') {
      // The hosted server refuses the standalone GET stream with this body, whatever the flags.
      return send(405, this.rpcError(-32600, 'HTTP method not supported.', null, true), { Allow: 'POST, DELETE' });
    }
    let parsed;
    if (req.method === 'POST') {
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        return send(400, this.rpcError(-32700, 'Parse error: Invalid JSON'));
      }
    }
    const { mcpRevision } = this.sim.opts;
    if (req.method === 'POST' && isStatelessRequest(mcpRevision, req, parsed)) return handleStateless(this, req, res, rid, parsed, identity);
    // Streamable HTTP 2026-07-28, Backward Compatibility: a server of that revision only answers
    // DELETE with 405 and mints no session.
    if (mcpRevision === MODERN_VERSION) return send(405, this.rpcError(-32600, 'HTTP method not supported.'), { Allow: 'POST' });
    const sessionId = req.headers['mcp-session-id'];
    let session;
    if (sessionId) {
      session = await this.claimSession(res, rid, sessionId, identity, parsed);
      if (!session) return undefined;
    } else if (req.method === 'POST' && isInitializeRequest(parsed)) {
      session = await this.createSession(identity);
    } else {
      return send(400, this.rpcError(-32000, 'Bad Request: Mcp-Session-Id header is required'));
    }
    const headers = new Headers();
    for (const [k, values] of Object.entries(req.headersDistinct)) for (const v of values) headers.append(k, v);
    const response = await session.transport.handleRequest(new Request(`http://127.0.0.1${req.url}`, { method: req.method, headers }), { parsedBody: parsed });
    return this.relay(res, response, rid);
  }

  /** Rewrites one JSON-RPC message for --nonstandard-errors. */
  reshape(message) {
    if (!this.sim.opts.nonstandardErrors || message === null || typeof message !== 'object') return message;
    if (Array.isArray(message)) return message.map((m) => this.reshape(m));
    return 'error' in message && !('result' in message) ? this.rpcError(message.error.code, message.error.message) : message;
  }

  /** Copies the SDK's Response to the node response, framing SSE as the hosted server does. */
  async relay(res, response, rid) {
    const headers = this.baseHeaders(rid);
    response.headers.forEach((value, key) => {
      headers[key] = value;
    });
    const isSse = (response.headers.get('content-type') ?? '').startsWith('text/event-stream');
    if (!response.body) {
      res.writeHead(response.status, headers);
      return res.end();
    }
    if (!isSse) {
      let text = await response.text();
      if (this.sim.opts.nonstandardErrors && text) {
        try {
          text = JSON.stringify(this.reshape(JSON.parse(text)));
        } catch {
          // not JSON: pass through
        }
      }
      headers['content-length'] = String(Buffer.byteLength(text));
      res.writeHead(response.status, headers);
      return res.end(text);
    }
    res.writeHead(response.status, headers);
    // A priming event (id, empty data) and a comment come first, as SSE servers send them.
    res.write(`id: ${rid}-0\ndata: \n\n: opsrun-sim\n\n`);
    const reader = response.body.getReader();
    res.on('close', () => reader.cancel().catch(() => {}));
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ done: true }));
      if (done) break;
      let chunk = decoder.decode(value, { stream: true });
      if (this.sim.opts.nonstandardErrors) {
        chunk = chunk.replace(/^data: (.*)$/gm, (line, json) => {
          try {
            return `data: ${JSON.stringify(this.reshape(JSON.parse(json)))}`;
          } catch {
            return line;
          }
        });
      }
      res.write(chunk);
    }
    return res.end();
  }
}
