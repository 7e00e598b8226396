/* mcp.h: a client of the Model Context Protocol's Streamable HTTP transport (protocol versions
 * 2024-11-05 to 2025-11-25, and the stateless 2026-07-28), every request SigV4-signed as the
 * identity it is made for.
 *
 * Which revision the endpoint speaks is asked once per client with server/discover (as the first
 * request's identity; the requests wait for the answer): a result listing 2026-07-28, or a modern
 * JSON-RPC error, is a stateless server, and every request then carries its version, capabilities
 * (none) and clientInfo in _meta, with the Mcp-Method, Mcp-Name and MCP-Protocol-Version headers,
 * and no session, handshake or DELETE; a result or error of an unsupported version listing
 * 2026-07-28 is asked once more. Any other refusal (a 4xx but 401, 403, 408 and 429) is a
 * 2025-11-25 server, spoken to in sessions as below (MCP 2026-07-28, Streamable HTTP, Backward
 * Compatibility). OPSRUN_MCP_PROTOCOL_VERSION (2026-07-28 or 2025-11-25) pins it instead.
 *
 * With sessions: one session per identity (its access key id): opened on first use with
 * `initialize` and `notifications/initialized`, reused by every request of that identity, and
 * closed with DELETE by ops_mcp_client_close, or earlier by ops_mcp_client_close_owner once its
 * owner's work is done. When an owner's credentials are replaced (a role's refreshed before they
 * expire, or renewed after), the session of the old ones is closed as soon as its last request has
 * ended, signed with them while they are valid. DELETEs go out at most `close_concurrency` at once
 * and are sent again on the retry policy. When the server says a session is gone (HTTP 404, or the
 * hosted AWS MCP Server's JSON-RPC error -30001 at any status), a new one is opened and each
 * request sent in the old one is sent once more: the server ran nothing. Sessions of different
 * identities never mix. Replies may be JSON or an event stream; a stream that ends before the reply
 * is resumed with GET and Last-Event-ID after the server's `retry`. Failed exchanges are sent again
 * on runtime/retry.h's policy (throttling, 5xx, connection failures), except that a tools/call is
 * sent again only when the server cannot have run it: HTTP 429, HTTP 503, or a connection that
 * could not be made; never after a timeout, a 500 or part of an answer. A request borrows its
 * identity's credentials provider: each attempt signs with what the provider holds then, and a
 * refusal as expired, which the server refuses before running anything, makes the provider forget
 * those credentials and the request go once more. The signing scope and the policies are the
 * client's; callers (bindings/lua_mcp.c) hand in the environment and get the result as jansson
 * parsed it. Uses runtime/transport.h for HTTP, signing and time, runtime/credentials.h,
 * runtime/sse.h, runtime/retry.h, runtime/list.h and jansson. */
#ifndef OPS_MCP_H
#define OPS_MCP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "runtime/env.h"
#include "runtime/error.h"
#include "runtime/loop.h"
#include "runtime/retry.h"
#include "runtime/sigv4.h"
#include "runtime/transport.h"

/* The version offered in initialize; an older one the server answers with is accepted. */
#define OPS_MCP_PROTOCOL_VERSION "2025-11-25"

struct ops_mcp_options {
  const char *url; /* the MCP endpoint (copied) */
  /* The signing scope (SPEC section 2): a host SERVICE.REGION.api.aws whose REGION is a region
   * name names both; else OPSRUN_MCP_SIGNING_NAME (default aws-mcp) and
   * OPSRUN_MCP_SIGNING_REGION (default `region`), read from `env`, which also gives
   * AWS_MAX_ATTEMPTS and AWS_RETRY_MODE when `retry` is NULL. A refusal of the signature's region
   * by a server whose host does not name it says what to set. */
  struct ops_env env;
  const char *region;         /* the operating region (copied) */
  const char *client_version; /* clientInfo.version (copied) */
  struct ops_transport transport;
  struct ops_clock clock;          /* the signing time */
  struct ops_loop *loop;           /* timers for resuming streams and retries (borrowed) */
  struct ops_sigv4_signer *signer; /* borrowed; outlives the client */
  /* The retry settings of every call (borrowed; outlives the client): each identity's session
   * gets a quota and send rate of its own made like it (ops_retry_new_like), as each SDK client
   * has. NULL: the client makes them from the process environment (AWS_MAX_ATTEMPTS,
   * AWS_RETRY_MODE). */
  struct ops_retry *retry;
  /* Each identity's requests a second (runtime/pacer.h), below a per-account server quota such
   * as the hosted AWS MCP Server's; 0: not paced. */
  double requests_per_second;
  /* DELETEs in flight at once, when sessions close (the sweep's concurrency); 0: one. */
  int close_concurrency;
};

struct ops_mcp_client;
struct ops_mcp_call;

/* On success *out is owned by the caller: release it with ops_mcp_client_free. Fails with
 * OPS_ERR_CONFIG for an endpoint that is not a URL the transport rules accept, an
 * OPSRUN_MCP_SIGNING_REGION that is not a region name, or retry settings in the environment that
 * are not valid. */
int ops_mcp_client_new(struct ops_mcp_client **out, const struct ops_mcp_options *options,
                       struct ops_error *err);

/* Cancels every call in flight (their callbacks do not run), wipes the session credentials and
 * frees the client. Close the sessions first (ops_mcp_client_close) to tell the server. */
void ops_mcp_client_free(struct ops_mcp_client *client);

struct ops_credentials_provider;

/* One JSON-RPC request. Everything is copied by ops_mcp_call_start, but the provider. */
struct ops_mcp_request {
  /* The identity it is made for (borrowed; it must outlive the call). Each attempt signs with
   * the credentials it holds then (ops_credentials_provider_cached, else a fetch), in the
   * session of those; when the server refuses them as expired, the provider is told
   * (ops_credentials_provider_invalidate, with the refused key id) and the request is sent
   * once more with new ones: the server ran nothing. */
  struct ops_credentials_provider *credentials;
  /* Whom the credentials belong to across their renewals (an assumed role, the base identity):
   * a request with another access key of the same owner replaces the session of the old one.
   * NULL: the access key id alone. */
  const char *owner;
  const char *method; /* "tools/call", "tools/list", ...: visible ASCII, no quote or backslash */
  /* A JSON object as text, or NULL. It is sent as it is, inside the JSON-RPC message: the
   * request is serialised once, by the caller. Refused (OPS_ERR_CONFIG) when jansson would not
   * read it as an object (not UTF-8, \u0000, not an object). */
  const char *params_json;
  long timeout_ms; /* each HTTP exchange; 0: none */
};

/* Called once when a request ends, from the loop (never inside the ops_mcp_call_start that made
 * the call): `result` is the JSON-RPC result, a JSON object as jansson read the reply (parsed
 * once, never written out again), or `err` says why there is none (kinds credentials, throttled,
 * transport, timeout, rpc; `code` holds the JSON-RPC error code or the AWS error type). When
 * `from_provider` is true, `err` is the request's provider's own, unchanged: it could give no
 * credentials (none found, a role's AssumeRole refused), so no server was asked. Both borrowed
 * until the callback returns: json_incref the result to keep it. */
typedef void (*ops_mcp_done_fn)(void *ud, json_t *result, const struct ops_error *err,
                                bool from_provider);

/* Starts a request (opening its identity's session first if needed). Returns the call, owned by
 * the client until `done` runs or ops_mcp_call_cancel, or NULL with `err` set (when `err` is not
 * NULL) and `done` never to run: OPS_ERR_CONFIG for a method or params refused as above, or the
 * error of a request that ended at once (out of memory, the transport refusing to start its
 * exchange or its session's opening). */
struct ops_mcp_call *ops_mcp_call_start(struct ops_mcp_client *client,
                                        const struct ops_mcp_request *request, ops_mcp_done_fn done,
                                        void *ud, struct ops_error *err);

/* Abandons a call; its callback will not run. */
void ops_mcp_call_cancel(struct ops_mcp_call *call);

/* Sends DELETE for every open session with a session id (at most close_concurrency at once, on
 * the retry policy), for one with requests in flight once they have ended; and forgets the
 * sessions. done(ud) runs when every DELETE has ended, at once when there is none, or after
 * `within_ms` (> 0) at the latest: then the DELETEs still in flight are abandoned (after Ctrl-C,
 * closing must not keep opsrun long). A session still opening is closed once open when there is
 * such a limit (its request was cancelled by the interrupt); without one, its handshake is
 * cancelled (the request that wanted it gave up on a server that may never answer). */
void ops_mcp_client_close(struct ops_mcp_client *client, long within_ms, void (*done)(void *ud),
                          void *ud);

/* Closes the session that takes the requests of `owner` (ops_mcp_request.owner), if there is
 * one, as when the owner's credentials are replaced: it takes no new request and, once those in
 * it have ended, is DELETEd (with any others, at most close_concurrency at once, on the retry
 * policy). A later request of the owner opens a new session. For a caller that knows the owner's
 * work is done (a sweep whose last task in an account has ended): "Clients that no longer need a
 * particular session ... SHOULD send an HTTP DELETE" (MCP 2025-11-25, Transports, Session
 * Management). */
void ops_mcp_client_close_owner(struct ops_mcp_client *client, const char *owner);

/* Bounds a close in progress to `within_ms` from now, unless it has a bound already (an
 * interrupt during a close without one). */
void ops_mcp_client_close_within(struct ops_mcp_client *client, long within_ms);

/* Whether the open session of this identity is with a server that declared task-augmented
 * tools/call (capabilities.tasks.requests.tools.call, MCP 2025-11-25); false without a session. */
bool ops_mcp_client_offers_task_tools(const struct ops_mcp_client *client,
                                      const struct ops_sigv4_credentials *credentials);

/* The retry quota and send rate of this identity's session, or NULL when it has none (for
 * tests). */
const struct ops_retry *ops_mcp_client_retry(const struct ops_mcp_client *client,
                                             const struct ops_sigv4_credentials *credentials);

/* The MCP revision the endpoint was found to speak: "2026-07-28" (stateless) or "2025-11-25"
 * (sessions, whatever older version a server then answers initialize with); NULL while unknown
 * (before the first request's server/discover has been answered). */
const char *ops_mcp_client_revision(const struct ops_mcp_client *client);

/* How many sessions are open (for tests and doctor). */
size_t ops_mcp_client_open_sessions(const struct ops_mcp_client *client);

#endif
