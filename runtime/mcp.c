/* mcp.c: the Streamable HTTP client of mcp.h: sessions per identity, signed exchanges, replies
 * read as JSON or as an event stream, stream resumption, session expiry, the mapping of HTTP
 * and JSON-RPC failures onto error kinds, and exchanges sent again on the retry policy. */
#include "runtime/mcp.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runtime/buffer.h"
#include "runtime/credentials.h"
#include "runtime/hash.h"
#include "runtime/list.h"
#include "runtime/log.h"
#include "runtime/pacer.h"
#include "runtime/region.h"
#include "runtime/sse.h"

#define MAX_REPLY_BYTES          ((size_t)64 << 20)
#define MAX_RESUMES              5
#define DEFAULT_RETRY_MS         1000
#define DELETE_TIMEOUT_MS        5000
#define JSONRPC_METHOD_NOT_FOUND (-32601)
#define DEFAULT_SIGNING_SERVICE  "aws-mcp"
/* The hosted AWS MCP Server's answer to a request in an expired or unknown session, at whatever
 * HTTP status: "The provided SessionId was not found or has expired, please re-initialize". */
#define HOSTED_SESSION_GONE (-30001)
/* ... and to a request signed with expired credentials, before it runs anything: -32001 "Your
 * AWS session token has expired. Please refresh your credentials and try again. ..." */
#define HOSTED_TOKEN_EXPIRED       (-32001)
#define HOSTED_TOKEN_EXPIRED_WORDS "token has expired"

static const char *const s_supported_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26",
                                                   "2024-11-05"};

/* MCP 2026-07-28 error codes (basic/index, Error Codes): a server that answers with one of these
 * speaks that revision (versioning, Backward Compatibility). */
#define MCP_HEADER_MISMATCH              (-32020)
#define MCP_MISSING_CLIENT_CAPABILITY    (-32021)
#define MCP_UNSUPPORTED_PROTOCOL_VERSION (-32022)
#define MCP_MODERN_VERSION               "2026-07-28"

/* Which revision the endpoint speaks: a property of the server, found once by server/discover
 * and kept for the run (versioning: "Clients SHOULD cache the result for the lifetime of the
 * ... origin"). */
enum s_era { ERA_UNKNOWN, ERA_PROBING, ERA_MODERN, ERA_LEGACY };

enum s_call_kind {
  CALL_REQUEST,     /* a caller's request */
  CALL_INITIALIZE,  /* opening a session */
  CALL_INITIALIZED, /* the notification that completes the opening */
  CALL_REPLY,       /* our answer to a request the server sent on a stream */
  CALL_DELETE,      /* closing a session */
  CALL_DISCOVER,    /* server/discover: which revision the endpoint speaks */
};

enum s_session_state { SESSION_CLOSED, SESSION_OPENING, SESSION_OPEN };

/* Where the signing region came from, for the advice when a server refuses it. */
enum s_region_source { REGION_FROM_HOST, REGION_FROM_ENV, REGION_OPERATING };

/* Owned copies of an identity's credentials, wiped when freed. */
struct s_identity {
  char *access_key_id;
  char *secret_access_key;
  char *session_token;
};

struct s_session {
  struct ops_mcp_client *client;
  struct s_identity identity;
  char *owner; /* ops_mcp_request.owner, or NULL */
  enum s_session_state state;
  char *session_id; /* NULL until the server names the session (or when it never does) */
  char protocol_version[32];
  unsigned generation;     /* counts openings, so a late "gone" closes only its own */
  struct ops_pacer *pacer; /* the identity's request quota; NULL: none */
  struct ops_retry *retry; /* the identity's retry quota and send rate (retry.h) */
  bool offers_task_tools;  /* the server declared tasks.requests.tools.call */
  bool stateless;          /* MCP 2026-07-28: open without a handshake, never named nor DELETEd */
  struct ops_list queue;   /* requests waiting for the session to open */
  size_t calls;            /* calls made in it, but its DELETE, not yet ended */
  /* To be closed once nothing is left in it: its credentials were replaced, or the client is
   * closing. A retiring session takes no new requests. */
  bool retiring;
  bool deleted;                  /* its DELETE is queued, in flight or done */
  bool credentials_expired;      /* the server refused its credentials as expired */
  struct s_session *replaced_by; /* the session of the owner's new credentials, or NULL */
  struct s_session *replaces;    /* the session whose replaced_by this is, or NULL */
  struct ops_list_node link;     /* in the client's sessions */
};

#define SESSION_OF(node) OPS_LIST_ENTRY(node, struct s_session, link)

struct ops_mcp_call {
  struct ops_mcp_client *client;
  struct s_session *session; /* NULL while a request waits for its credentials */
  /* A caller's request: its credentials (borrowed), their owner, the fetch it waits for, and
   * whether it was sent again after the server refused them as expired. */
  struct ops_credentials_provider *provider;
  char *owner;
  struct ops_credentials_fetch *fetch;
  bool renewed;
  bool provider_failed; /* it ends because its provider could give no credentials */
  /* While ops_mcp_call_start runs: where a request that ends at once leaves its error. */
  struct s_start_outcome *ended_at_start;
  enum s_call_kind kind;
  char *method;
  char *params_json;
  int64_t id; /* of the message last sent; 0 for notifications */
  long timeout_ms;
  void *exchange;             /* the HTTP exchange in flight */
  struct ops_timer *resume;   /* waiting to resume a stream */
  struct ops_sse_parser *sse; /* kept across a resumed stream: it holds the last event id */
  bool head_seen;             /* the current exchange's reply has started */
  bool is_stream;             /* ... and it is an event stream */
  struct ops_buffer body;
  json_t *reply;        /* the JSON-RPC response once it arrived */
  long status;          /* of the last exchange */
  char *new_session_id; /* Mcp-Session-Id of an initialize reply */
  int resumes;
  unsigned sent_in;     /* generation of the named session last sent in; 0: none */
  bool reopened;        /* already resent once after the session expired */
  bool version_retried; /* server/discover sent again after UnsupportedProtocolVersion */
  struct ops_retry_request attempts;
  long retry_after_ms;       /* what the last failed answer asked for, or -1 */
  struct ops_timer *backoff; /* waiting to send again (a retry, or the adaptive send rate) */
  ops_mcp_done_fn done;
  void *ud;
  /* A request in its session's queue, or a DELETE in the client's, waits in `waiting_in`. */
  struct ops_list_node waiting;
  struct ops_list *waiting_in;
  struct ops_list_node link; /* in the client's calls */
};

#define CALL_OF(node, member) OPS_LIST_ENTRY(node, struct ops_mcp_call, member)

struct ops_mcp_client {
  char *url;
  char *host; /* host[:port] as sent in Host */
  char *path;
  char *query;
  char *service; /* the signing scope */
  char *region;
  enum s_region_source region_from;
  char *client_version;
  struct ops_transport transport;
  struct ops_clock clock;
  struct ops_loop *loop;
  struct ops_sigv4_signer *signer;
  struct ops_retry *retry;     /* the settings each session's retry state is made like */
  struct ops_retry *own_retry; /* when the options gave none */
  double requests_per_second;  /* each identity's quota; 0: none */
  /* every session not yet ended (open, opening, or closing: its DELETE to come), newest first */
  struct ops_list sessions;
  /* The sessions that take new requests (not retiring): by access key id, and by owner (those
   * with one); one at most for each. */
  struct ops_hash sessions_by_key;
  struct ops_hash sessions_by_owner;
  struct ops_list calls;
  int64_t next_id;
  size_t retiring; /* sessions retiring whose DELETE is not yet queued (or not needed) */
  /* DELETEs wait in delete_queue (FIFO) until fewer than close_concurrency are active (sent,
   * or waiting to be sent again) */
  struct ops_list delete_queue;
  /* DELETEs waiting for their session's request quota (s_delete_enqueue), holding no place */
  struct ops_list delete_pacing;
  int deletes_active;
  int close_concurrency;
  bool starting_deletes; /* s_start_deletes is running: a DELETE that ends at once waits for it */
  bool closing;          /* ops_mcp_client_close was called and `closed` has not run yet */
  bool freeing;          /* ops_mcp_client_free: calls end without starting anything */
  struct ops_timer *close_limit; /* ends a close given `within_ms` ... */
  uint64_t close_deadline_ms;    /* ... at this time of ops_loop_now_ms */
  void (*closed)(void *ud);
  void *closed_ud;
  enum s_era era;
  struct ops_list era_queue; /* requests waiting for server/discover's verdict */
};

static void s_send(struct ops_mcp_call *call);
static void s_session_submit(struct s_session *session, struct ops_mcp_call *call);
static void s_request_acquire(struct ops_mcp_call *call);

/* ------------------------------------------------------------------ small helpers */

static char *s_strdup_or_null(const char *text)
{
  return text && *text ? strdup(text) : NULL;
}

static void s_wipe_free(char *secret)
{
  if (secret) {
    OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
  }
}

static bool s_identity_copy(struct s_identity *to, const struct ops_sigv4_credentials *from)
{
  to->access_key_id = strdup(from->access_key_id);
  to->secret_access_key = strdup(from->secret_access_key);
  to->session_token = s_strdup_or_null(from->session_token);
  return to->access_key_id && to->secret_access_key &&
         (to->session_token || !from->session_token || !*from->session_token);
}

static void s_identity_free(struct s_identity *identity)
{
  free(identity->access_key_id);
  s_wipe_free(identity->secret_access_key);
  s_wipe_free(identity->session_token);
  memset(identity, 0, sizeof(*identity));
}

/* ------------------------------------------------------------------ the client */

/* Splits the endpoint into what signing needs: Host (with a non-default port), path, query. */
static int s_parse_url(struct ops_mcp_client *client, struct ops_error *err)
{
  int rc = ops_http_check_url(client->url, err);
  struct ops_http_url_parts parts;
  if (rc == OPS_OK && (rc = ops_http_url_split(client->url, &parts, err)) == OPS_OK) {
    client->host = parts.host;
    client->path = parts.path;
    client->query = parts.query;
  }
  return rc;
}

/* The service and region named by a host SERVICE.REGION.api.aws whose REGION is a region name,
 * into client->service and client->region; false for any other host. */
static bool s_scope_from_host(struct ops_mcp_client *client)
{
  static const char suffix[] = ".api.aws";
  const size_t suffix_len = sizeof(suffix) - 1;
  const char *host = client->host;
  size_t host_len = strcspn(host, ":");
  if (host_len <= suffix_len || strncmp(host + host_len - suffix_len, suffix, suffix_len) != 0)
    return false;
  const char *dot = memchr(host, '.', host_len);
  const char *region_end = host + host_len - suffix_len;
  char region[OPS_REGION_MAX_LENGTH + 2];
  if (!dot || dot >= region_end)
    return false;
  snprintf(region, sizeof(region), "%.*s", (int)(region_end - dot - 1), dot + 1);
  if (!ops_region_is_name(region))
    return false; /* not exactly SERVICE.REGION.api.aws */
  client->service = strndup(host, (size_t)(dot - host));
  client->region = strdup(region);
  return true;
}

/* Signing service and region (SPEC section 2): from a host SERVICE.REGION.api.aws, else
 * OPSRUN_MCP_SIGNING_NAME (aws-mcp) and OPSRUN_MCP_SIGNING_REGION (the operating region), which
 * must be a region name (checked whatever the host): it goes into every request's signature. */
static int s_signing_scope(struct ops_mcp_client *client, const struct ops_mcp_options *options,
                           struct ops_error *err)
{
  const char *env_service = ops_env_get(&options->env, "OPSRUN_MCP_SIGNING_NAME");
  const char *env_region = ops_env_get(&options->env, "OPSRUN_MCP_SIGNING_REGION");
  if (env_region && ops_region_check(env_region, "OPSRUN_MCP_SIGNING_REGION", err) != OPS_OK)
    return OPS_ERR_CONFIG;
  if (s_scope_from_host(client))
    client->region_from = REGION_FROM_HOST;
  else {
    client->service = strdup(env_service ? env_service : DEFAULT_SIGNING_SERVICE);
    client->region = strdup(env_region ? env_region : options->region);
    client->region_from = env_region ? REGION_FROM_ENV : REGION_OPERATING;
  }
  return client->service && client->region ? OPS_OK
                                           : ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
}

/* A server that refuses the signature's region ("Credential should be scoped to a valid region,
 * not 'eu-west-1'") sits at a custom URL that does not name its region: say which setting signs
 * for which region, and what to set. */
static void s_explain_signing_region(const struct ops_mcp_client *client, struct ops_error *err)
{
  if (client->region_from == REGION_FROM_HOST ||
      !strstr(err->message, "Credential should be scoped to a valid region"))
    return;
  size_t len = strlen(err->message);
  while (len > 0 && err->message[len - 1] == ' ') /* AWS ends the sentence with ". " */
    len--;
  snprintf(err->message + len, sizeof(err->message) - len,
           " — set OPSRUN_MCP_SIGNING_REGION to the region of the MCP endpoint (it was signed for "
           "%s, %s)",
           client->region,
           client->region_from == REGION_FROM_ENV ? "from OPSRUN_MCP_SIGNING_REGION"
                                                  : "the operating region: --region, AWS_REGION");
}

/* OPSRUN_MCP_PROTOCOL_VERSION pins the revision, so that no server/discover is sent: 2026-07-28
 * (stateless), or 2025-11-25 (sessions, offering that version); unset, server/discover finds it. */
static int s_pin_era(struct ops_mcp_client *client, const struct ops_mcp_options *options,
                     struct ops_error *err)
{
  const char *pinned = ops_env_get(&options->env, "OPSRUN_MCP_PROTOCOL_VERSION");
  if (!pinned || !*pinned)
    return OPS_OK;
  if (strcmp(pinned, MCP_MODERN_VERSION) == 0)
    client->era = ERA_MODERN;
  else if (strcmp(pinned, OPS_MCP_PROTOCOL_VERSION) == 0)
    client->era = ERA_LEGACY;
  else
    return ops_error_set(err, OPS_ERR_CONFIG,
                         "OPSRUN_MCP_PROTOCOL_VERSION=%s: expected %s (stateless) or %s "
                         "(sessions), or unset to ask the server",
                         pinned, MCP_MODERN_VERSION, OPS_MCP_PROTOCOL_VERSION);
  return OPS_OK;
}

int ops_mcp_client_new(struct ops_mcp_client **out, const struct ops_mcp_options *options,
                       struct ops_error *err)
{
  struct ops_mcp_client *client = calloc(1, sizeof(*client));
  if (!client)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  client->url = strdup(options->url);
  client->client_version = strdup(options->client_version ? options->client_version : "0");
  client->transport = options->transport;
  client->clock = options->clock;
  client->loop = options->loop;
  client->signer = options->signer;
  client->requests_per_second = options->requests_per_second;
  client->close_concurrency = options->close_concurrency > 0 ? options->close_concurrency : 1;
  client->next_id = 1;
  int rc = client->url && client->client_version
               ? s_parse_url(client, err)
               : ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  if (rc == OPS_OK)
    rc = s_signing_scope(client, options, err);
  if (rc == OPS_OK)
    rc = s_pin_era(client, options, err);
  client->retry = options->retry;
  if (rc == OPS_OK && !client->retry) {
    struct ops_retry_options retry = {.env = options->env};
    rc = ops_retry_new(&client->own_retry, &retry, err);
    client->retry = client->own_retry;
  }
  if (rc != OPS_OK) {
    ops_mcp_client_free(client);
    return rc;
  }
  *out = client;
  return OPS_OK;
}

static void s_call_free(struct ops_mcp_call *call);

static void s_session_free(struct s_session *session)
{
  if (!session)
    return;
  s_identity_free(&session->identity);
  free(session->owner);
  free(session->session_id);
  ops_pacer_free(session->pacer);
  ops_retry_free(session->retry);
  free(session);
}

/* Frees a session whose last call has ended and that will make no other (closed, its DELETE
 * done or none to send), so that a sweep holds no closed session's credentials, nor its memory,
 * until the client is freed. */
static void s_session_end(struct s_session *session)
{
  if (session->replaced_by)
    session->replaced_by->replaces = NULL;
  if (session->replaces)
    session->replaces->replaced_by = NULL; /* its DELETE signs with its own credentials */
  ops_list_remove(&session->client->sessions, &session->link);
  s_session_free(session);
}

void ops_mcp_client_free(struct ops_mcp_client *client)
{
  if (!client)
    return;
  client->freeing = true;
  if (client->close_limit)
    ops_loop_timer_cancel(client->loop, client->close_limit);
  while (client->calls.head)
    s_call_free(CALL_OF(client->calls.head, link));
  while (client->sessions.head) {
    struct s_session *session = SESSION_OF(client->sessions.head);
    ops_list_remove(&client->sessions, &session->link);
    s_session_free(session);
  }
  ops_hash_clear(&client->sessions_by_key);
  ops_hash_clear(&client->sessions_by_owner);
  free(client->url);
  free(client->host);
  free(client->path);
  free(client->query);
  free(client->service);
  free(client->region);
  free(client->client_version);
  ops_retry_free(client->own_retry);
  free(client);
}

/* The session that takes the requests of these credentials, or NULL. */
static struct s_session *s_session_of(const struct ops_mcp_client *client,
                                      const struct ops_sigv4_credentials *credentials)
{
  return ops_hash_get(&client->sessions_by_key, credentials->access_key_id);
}

bool ops_mcp_client_offers_task_tools(const struct ops_mcp_client *client,
                                      const struct ops_sigv4_credentials *credentials)
{
  const struct s_session *session = s_session_of(client, credentials);
  return session && session->state == SESSION_OPEN && session->offers_task_tools;
}

const struct ops_retry *ops_mcp_client_retry(const struct ops_mcp_client *client,
                                             const struct ops_sigv4_credentials *credentials)
{
  const struct s_session *session = s_session_of(client, credentials);
  return session ? session->retry : NULL;
}

const char *ops_mcp_client_revision(const struct ops_mcp_client *client)
{
  return client->era == ERA_MODERN   ? MCP_MODERN_VERSION
         : client->era == ERA_LEGACY ? OPS_MCP_PROTOCOL_VERSION
                                     : NULL;
}

size_t ops_mcp_client_open_sessions(const struct ops_mcp_client *client)
{
  size_t open = 0;
  for (const struct ops_list_node *node = client->sessions.head; node; node = node->next)
    open += SESSION_OF(node)->state == SESSION_OPEN;
  return open;
}

/* ------------------------------------------------------------------ calls */

static struct ops_mcp_call *s_call_new(struct ops_mcp_client *client, struct s_session *session,
                                       enum s_call_kind kind, const char *method,
                                       const char *params_json, long timeout_ms)
{
  struct ops_mcp_call *call = calloc(1, sizeof(*call));
  if (!call)
    return NULL;
  call->client = client;
  call->session = session;
  call->kind = kind;
  call->method = s_strdup_or_null(method);
  call->params_json = s_strdup_or_null(params_json);
  call->timeout_ms = timeout_ms;
  call->retry_after_ms = -1;
  if ((method && !call->method) || (params_json && *params_json && !call->params_json)) {
    free(call->method);
    free(call);
    return NULL;
  }
  ops_list_push_front(&client->calls, &call->link);
  if (session && kind != CALL_DELETE)
    session->calls++;
  return call;
}

static void s_session_retire_if_idle(struct s_session *session);

/* A request's credentials changed (refreshed, or renewed after a refusal): it goes on in the
 * session of the new ones, and the old one may close once it is idle. */
static void s_call_move(struct ops_mcp_call *call, struct s_session *session)
{
  struct s_session *old = call->session;
  if (old == session)
    return;
  call->session = session;
  session->calls++;
  if (old) {
    old->calls--;
    s_session_retire_if_idle(old);
  }
}

/* A new conversation (after the session expired): nothing of the old stream carries over. */
static void s_call_reset_stream(struct ops_mcp_call *call)
{
  ops_sse_parser_free(call->sse);
  call->sse = NULL;
  call->resumes = 0;
}

/* Puts `call` at the end of `queue` (its session's, or the client's DELETEs). */
static void s_wait_in(struct ops_list *queue, struct ops_mcp_call *call)
{
  ops_list_push_back(queue, &call->waiting);
  call->waiting_in = queue;
}

static void s_stop_waiting(struct ops_mcp_call *call)
{
  if (call->waiting_in)
    ops_list_remove(call->waiting_in, &call->waiting);
  call->waiting_in = NULL;
}

/* The first call waiting in `queue`, taken out of it; NULL when none waits. */
static struct ops_mcp_call *s_next_waiting(struct ops_list *queue)
{
  struct ops_mcp_call *call = queue->head ? CALL_OF(queue->head, waiting) : NULL;
  if (call)
    s_stop_waiting(call);
  return call;
}

static void s_call_free(struct ops_mcp_call *call)
{
  struct ops_mcp_client *client = call->client;
  struct s_session *session = call->session;
  if (call->exchange)
    client->transport.cancel(client->transport.self, call->exchange);
  if (call->resume)
    ops_loop_timer_cancel(client->loop, call->resume);
  if (call->backoff)
    ops_loop_timer_cancel(client->loop, call->backoff);
  if (call->fetch)
    ops_credentials_fetch_cancel(call->fetch);
  if (call->kind == CALL_DELETE && !call->waiting_in)
    client->deletes_active--;
  s_stop_waiting(call);
  ops_list_remove(&client->calls, &call->link);
  ops_sse_parser_free(call->sse);
  ops_buffer_free(&call->body);
  json_decref(call->reply);
  free(call->method);
  free(call->params_json);
  free(call->new_session_id);
  free(call->owner);
  bool closing_call = call->kind == CALL_DELETE;
  if (!closing_call && session)
    session->calls--;
  free(call);
  if (client->freeing || !session)
    return;
  if (closing_call)
    s_session_end(session); /* its DELETE, the last of its calls, has ended */
  else
    s_session_retire_if_idle(session);
}

void ops_mcp_call_cancel(struct ops_mcp_call *call)
{
  s_call_free(call);
}

/* ------------------------------------------------------------------ ending calls */

static void s_session_opened(struct s_session *session);
static void s_session_failed(struct s_session *session, const struct ops_error *err);
static void s_era_unknown(struct ops_mcp_client *client, const struct s_session *probed,
                          const struct ops_error *err);
static void s_discover_answered(struct ops_mcp_call *probe, long status, json_t *reply);
static void s_initialized(struct ops_mcp_call *call);
static void s_start_deletes(struct ops_mcp_client *client);

/* Calls of these kinds are sent again on the retry policy: a caller's request, the opening of a
 * session, and its closing (a DELETE throttled or refused with 503 would leave it open). */
static bool s_retried_kind(const struct ops_mcp_call *call)
{
  return call->kind != CALL_REPLY;
}

/* Did the server refuse the request's credentials as expired? (Its provider failing to get new
 * ones, for whatever reason, is not such a refusal.) */
static bool s_expired_credentials(const struct ops_mcp_call *call, const struct ops_error *err)
{
  return err && !call->provider_failed && err->kind == OPS_ERR_CREDENTIALS &&
         strcmp(err->code, "ExpiredTokenException") == 0;
}

static void s_send_again(void *ud);

/* The server refused a request's credentials as expired at its front door, before it ran
 * anything: the provider forgets them, so that they are not sent again, and it is safe, even for
 * tools/call, to send the request once more with new ones (the SDKs sign every attempt afresh; a
 * long retry chain can outlive the credentials it began with). */
static bool s_renewed(struct ops_mcp_call *call, const struct ops_error *err)
{
  if (call->kind != CALL_REQUEST || !call->session || !s_expired_credentials(call, err))
    return false;
  ops_credentials_provider_invalidate(call->provider, call->session->identity.access_key_id);
  if (call->renewed)
    return false;
  call->renewed = true;
  s_send_again(call);
  return true;
}

/* How a request that ended inside ops_mcp_call_start ended: start returns NULL with `error`. */
struct s_start_outcome {
  bool ended;
  struct ops_error error;
};

/* A caller's request ends: its callback, with the signing-region advice in a refusal; or, while
 * ops_mcp_call_start runs, no callback (start returns its error instead). */
static void s_request_done(struct ops_mcp_call *call, json_t *result, const struct ops_error *err)
{
  if (call->ended_at_start) {
    call->ended_at_start->ended = true;
    call->ended_at_start->error = *err; /* nothing answers while start runs: an error */
    return;
  }
  if (!err) {
    call->done(call->ud, result, NULL, false);
    return;
  }
  struct ops_error explained = *err;
  if (!call->provider_failed)
    s_explain_signing_region(call->client, &explained);
  call->done(call->ud, NULL, &explained, call->provider_failed);
}

/* Ends a call with its outcome: the caller's callback, or the session's next step. */
static void s_finish(struct ops_mcp_call *call, json_t *result, const struct ops_error *err)
{
  struct ops_mcp_client *client = call->client;
  struct s_session *session = call->session;
  if (!err && s_retried_kind(call))
    ops_retry_succeeded(session->retry, &call->attempts);
  if (s_expired_credentials(call, err) && session)
    session->credentials_expired = true;
  if (s_renewed(call, err))
    return;
  switch (call->kind) {
  case CALL_REQUEST: s_request_done(call, result, err); break;
  case CALL_INITIALIZE:
    if (err)
      s_session_failed(session, err);
    else
      s_initialized(call); /* moves on to the notification */
    break;
  case CALL_INITIALIZED:
    if (err)
      s_session_failed(session, err);
    else
      s_session_opened(session);
    break;
  case CALL_REPLY:
    if (err)
      ops_log(OPS_LOG_DEBUG, NULL, "MCP: answering a server request failed: %s", err->message);
    break;
  case CALL_DISCOVER: /* only failures end here: answers go to s_discover_answered */
    s_call_free(call);
    s_era_unknown(client, session, err);
    return;
  case CALL_DELETE:
    if (err)
      ops_log(OPS_LOG_DEBUG, NULL, "MCP: closing session %s failed: %s",
              session->session_id ? session->session_id : "(unnamed)", err->message);
    s_call_free(call);
    s_start_deletes(client);
    return;
  }
  s_call_free(call);
}

static void s_verror(struct ops_error *err, enum ops_err kind, long status, const char *code,
                     bool retryable, const char *fmt, va_list ap)
{
  ops_error_set(err, kind, "%s", "");
  vsnprintf(err->message, sizeof(err->message), fmt, ap);
  err->http_status = (int)status;
  err->retryable = retryable;
  if (code)
    ops_error_set_code(err, code);
}

static void s_fail(struct ops_mcp_call *call, enum ops_err kind, long status, const char *code,
                   bool retryable, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void s_fail(struct ops_mcp_call *call, enum ops_err kind, long status, const char *code,
                   bool retryable, const char *fmt, ...)
{
  struct ops_error err;
  va_list ap;
  va_start(ap, fmt);
  s_verror(&err, kind, status, code, retryable, fmt, ap);
  va_end(ap);
  s_finish(call, NULL, &err);
}

static void s_exchange_failed(struct ops_mcp_call *call, const struct ops_error *err);

/* As s_fail, for the failure of an exchange: the call may be sent again instead. */
static void s_fail_exchange(struct ops_mcp_call *call, enum ops_err kind, long status,
                            const char *code, bool retryable, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void s_fail_exchange(struct ops_mcp_call *call, enum ops_err kind, long status,
                            const char *code, bool retryable, const char *fmt, ...)
{
  struct ops_error err;
  va_list ap;
  va_start(ap, fmt);
  s_verror(&err, kind, status, code, retryable, fmt, ap);
  va_end(ap);
  s_exchange_failed(call, &err);
}

/* Does a JSON-RPC message say the request's credentials expired, in the hosted server's words? */
static bool s_token_expired(json_t *message)
{
  json_t *error = json_object_get(message, "error");
  const char *words = json_string_value(json_object_get(error, "message"));
  return json_integer_value(json_object_get(error, "code")) == HOSTED_TOKEN_EXPIRED && words &&
         strstr(words, HOSTED_TOKEN_EXPIRED_WORDS);
}

/* MCP 2026-07-28 (basic/index, ResultType): every result says its resultType, "complete" when
 * absent (servers of earlier revisions). "input_required" asks for input (elicitation, sampling,
 * roots) that opsrun, which declares no client capabilities, cannot give; any other value is
 * invalid. False, with the call ended, when the result is not complete. */
static bool s_result_complete(struct ops_mcp_call *call, json_t *result)
{
  json_t *type = json_object_get(result, "resultType");
  if (!type || (json_is_string(type) && strcmp(json_string_value(type), "complete") == 0))
    return true;
  if (json_is_string(type) && strcmp(json_string_value(type), "input_required") == 0)
    s_fail(call, OPS_ERR_RPC, call->status, NULL, false,
           "%s: the server asks for input (inputRequests) that opsrun does not give: it declares "
           "no elicitation, sampling or roots capability",
           call->method);
  else
    s_fail(call, OPS_ERR_RPC, call->status, NULL, false,
           "%s: the server's result has resultType %.40s, which MCP does not define", call->method,
           json_is_string(type) ? json_string_value(type) : "(not a string)");
  return false;
}

/* A JSON-RPC response: its error (standard, or AWS's `"result": null` beside `"error"`), or its
 * result, handed over as jansson read it. */
static void s_finish_with_reply(struct ops_mcp_call *call, json_t *reply)
{
  if (call->kind == CALL_DISCOVER) {
    s_discover_answered(call, call->status, reply);
    return;
  }
  json_t *error = json_object_get(reply, "error");
  if (error && !json_is_null(error)) {
    json_t *code = json_object_get(error, "code");
    const char *message = json_string_value(json_object_get(error, "message"));
    char code_text[32] = "";
    if (json_is_integer(code))
      snprintf(code_text, sizeof(code_text), "%lld", (long long)json_integer_value(code));
    else if (json_is_string(code))
      snprintf(code_text, sizeof(code_text), "%s", json_string_value(code));
    if (s_token_expired(reply)) /* the front door's ExpiredTokenException, in JSON-RPC words */
      s_fail(call, OPS_ERR_CREDENTIALS, call->status, "ExpiredTokenException", false,
             "%s refused the request: %s", call->client->host, message);
    else
      s_fail(call, OPS_ERR_RPC, call->status, code_text, false, "%s failed: %s", call->method,
             message ? message : "(the server gave no message)");
    return;
  }
  /* every MCP result is an object: anything else would reach the caller as a non-table */
  json_t *result = json_object_get(reply, "result");
  if (!json_is_object(result) && call->kind != CALL_INITIALIZED) {
    s_fail(call, OPS_ERR_RPC, call->status, NULL, false, "%s: the server's reply has %s",
           call->method, !result ? "neither result nor error" : "a result that is not an object");
    return;
  }
  if (call->kind == CALL_REQUEST && !s_result_complete(call, result))
    return;
  if (call->kind == CALL_INITIALIZE) {
    json_decref(call->reply);
    call->reply = json_incref(reply); /* s_initialized reads the protocol version */
  }
  s_finish(call, result, NULL);
}

/* ------------------------------------------------------------------ reading replies */

/* Is this message the reply to `call`? The id must match; AWS's error bodies carry "id": "". */
static bool s_is_reply_to(const struct ops_mcp_call *call, json_t *message)
{
  if (json_object_get(message, "method"))
    return false;
  json_t *id = json_object_get(message, "id");
  if (json_is_integer(id))
    return json_integer_value(id) == call->id;
  return (!id || json_is_null(id) || (json_is_string(id) && !*json_string_value(id))) &&
         json_object_get(message, "error");
}

/* Ends `call` with an rpc error, returning true, when its JSON reply names another request: that
 * is another call's result. A body can only answer its own POST, so a missing or null id passes,
 * as do AWS's error bodies with "id": "". */
static bool s_refused_as_another_reply(struct ops_mcp_call *call, json_t *message)
{
  json_t *id = json_object_get(message, "id");
  if (!id || json_is_null(id) || s_is_reply_to(call, message))
    return false;
  char *named = json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY);
  s_fail(call, OPS_ERR_RPC, call->status, NULL, false,
         "%s: the server's reply answers another request (id %.40s), not this one (id %lld)",
         call->method, named ? named : "?", (long long)call->id);
  free(named);
  return true;
}

/* A request the server sent on the stream: answer ping, decline the rest. The answer goes out
 * from the loop's next turn: this runs inside libcurl's write callback, where starting another
 * transfer is refused (CURLM_RECURSIVE_API_CALL). */
static void s_answer_server_request(struct ops_mcp_call *call, json_t *request)
{
  const char *method = json_string_value(json_object_get(request, "method"));
  json_t *reply = json_pack("{s:s, s:O}", "jsonrpc", "2.0", "id", json_object_get(request, "id"));
  if (method && strcmp(method, "ping") == 0)
    json_object_set_new(reply, "result", json_object());
  else
    json_object_set_new(reply, "error",
                        json_pack("{s:i, s:s}", "code", JSONRPC_METHOD_NOT_FOUND, "message",
                                  "opsrun does not offer this"));
  char *text = json_dumps(reply, JSON_COMPACT);
  json_decref(reply);
  struct ops_mcp_call *answer = text ? s_call_new(call->client, call->session, CALL_REPLY,
                                                  "a reply to the server", NULL, call->timeout_ms)
                                     : NULL;
  if (answer) {
    answer->params_json = text; /* the whole message, sent as it is */
    answer->backoff = ops_loop_timer_start(call->client->loop, 0, s_send_again, answer);
    if (!answer->backoff)
      s_call_free(answer);
  } else {
    free(text);
  }
}

static bool s_on_event(void *ud, const struct ops_sse_event *event)
{
  struct ops_mcp_call *call = ud;
  if (event->data_len == 0 || strcmp(event->type, "message") != 0)
    return true; /* a priming event, or a type MCP does not use */
  json_t *message = json_loadb(event->data, event->data_len, JSON_ALLOW_NUL, NULL);
  if (!json_is_object(message)) {
    ops_log(OPS_LOG_DEBUG, NULL, "MCP: skipping an event that is not a JSON object");
    json_decref(message);
    return true;
  }
  if (s_is_reply_to(call, message)) {
    call->reply = message;
    return false; /* all we wait for: stop reading */
  }
  if (json_object_get(message, "id") && json_object_get(message, "method"))
    s_answer_server_request(call, message);
  json_decref(message);
  return true;
}

static bool s_on_data(void *ud, const struct ops_http_response *head, const char *data, size_t len)
{
  struct ops_mcp_call *call = ud;
  if (!call->head_seen) {
    call->head_seen = true;
    const char *type = ops_http_response_header(head, "content-type");
    call->is_stream = type && strncasecmp(type, "text/event-stream", 17) == 0 &&
                      head->status >= 200 && head->status < 300;
    if (call->is_stream && !call->sse && !(call->sse = ops_sse_parser_new(s_on_event, call)))
      return false;
  }
  if (call->is_stream)
    return ops_sse_feed(call->sse, data, len) == OPS_OK;
  return call->body.len + len <= MAX_REPLY_BYTES && ops_buffer_append(&call->body, data, len);
}

/* AWS's words from an error body: JSON {"message": ...} or {"Message": ...}, else the text. */
static void s_aws_message(const struct ops_mcp_call *call, char *out, size_t len)
{
  json_t *body = call->body.len ? json_loadb(call->body.data, call->body.len, 0, NULL) : NULL;
  const char *message = json_string_value(json_object_get(body, "message"));
  if (!message)
    message = json_string_value(json_object_get(body, "Message"));
  if (!message && json_is_object(json_object_get(body, "error")))
    message = json_string_value(json_object_get(json_object_get(body, "error"), "message"));
  snprintf(out, len, "%s",
           message          ? message
           : call->body.len ? call->body.data
                            : "(no message in the reply)");
  json_decref(body);
}

static void s_resume_stream(void *ud);

/* Is `call` sent as MCP 2026-07-28 (per-request _meta and headers, no session)? */
static bool s_speaks_modern(const struct ops_mcp_call *call)
{
  return call->kind == CALL_DISCOVER || (call->session && call->session->stateless);
}

/* The stream ended without the reply: resume it where it stopped, if the server numbered it. */
static void s_stream_ended_early(struct ops_mcp_call *call)
{
  /* MCP 2026-07-28 has no resumption ("Resumable SSE streams via Last-Event-ID are not
   * supported"): the request fails, and is sent again as a new one where that is safe */
  const char *last_id = call->sse && !s_speaks_modern(call) ? ops_sse_last_event_id(call->sse) : "";
  if (!*last_id || call->resumes >= MAX_RESUMES) {
    s_fail_exchange(call, OPS_ERR_TRANSPORT, call->status, NULL, true,
                    "%s: the server closed its event stream before answering%s", call->method,
                    *last_id ? " (gave up resuming it)" : "");
    return;
  }
  long retry = ops_sse_retry_ms(call->sse);
  call->resume = ops_loop_timer_start(
      call->client->loop, (uint64_t)(retry >= 0 ? retry : DEFAULT_RETRY_MS), s_resume_stream, call);
  if (!call->resume)
    s_fail(call, OPS_ERR_NOMEM, 0, NULL, false, "out of memory");
}

/* HTTP failure statuses, worded with AWS's own message kept whole. */
static void s_fail_status(struct ops_mcp_call *call, const struct ops_http_response *response)
{
  char message[700];
  s_aws_message(call, message, sizeof(message));
  const char *aws_type = ops_http_response_header(response, "x-amzn-errortype");
  char code[64] = "";
  if (aws_type) /* "AccessDeniedException:http://internal.amazon.com/..." */
    snprintf(code, sizeof(code), "%.*s", (int)strcspn(aws_type, ":"), aws_type);
  long status = response->status;
  json_t *body = call->body.len ? json_loadb(call->body.data, call->body.len, 0, NULL) : NULL;
  bool token_expired = s_token_expired(body);
  json_decref(body);
  if (token_expired)
    s_fail_exchange(call, OPS_ERR_CREDENTIALS, status, "ExpiredTokenException", false,
                    "%s refused the request (HTTP %ld): %s", call->client->host, status, message);
  else if (status == 401 || status == 403)
    s_fail_exchange(call, OPS_ERR_CREDENTIALS, status, code[0] ? code : NULL, false,
                    "%s refused the request (HTTP %ld): %s", call->client->host, status, message);
  else if (status == 429)
    s_fail_exchange(call, OPS_ERR_THROTTLED, status, code[0] ? code : "TooManyRequests", true,
                    "%s is throttling requests (HTTP 429): %s", call->client->host, message);
  else if (status >= 500)
    s_fail_exchange(call, OPS_ERR_TRANSPORT, status, code[0] ? code : NULL, true,
                    "%s failed (HTTP %ld): %s", call->client->host, status, message);
  else
    s_fail_exchange(call, OPS_ERR_RPC, status, code[0] ? code : NULL, false,
                    "%s rejected %s (HTTP %ld): %s", call->client->host, call->method, status,
                    message);
}

static void s_session_expired(struct s_session *session);

/* The JSON-RPC error code of a message, or 0. */
static json_int_t s_error_code(json_t *message)
{
  json_t *code = json_object_get(json_object_get(message, "error"), "code");
  return json_is_integer(code) ? json_integer_value(code) : 0;
}

/* Did the server say the session of a request is gone? HTTP 404 is the MCP specification's
 * word (Streamable HTTP, session management); the hosted AWS MCP Server says it with JSON-RPC
 * error -30001 at whatever status. Either way it ran nothing. */
static bool s_session_gone(const struct ops_mcp_call *call, long status, json_t *reply)
{
  return call->kind == CALL_REQUEST &&
         (status == 404 || s_error_code(reply) == HOSTED_SESSION_GONE);
}

/* Sends a request whose named session is gone once more in a new session (opening it unless
 * another request already did). False when that does not apply or was done already. */
static bool s_reopened(struct ops_mcp_call *call, long status, json_t *reply)
{
  struct s_session *session = call->session;
  if (call->reopened || !call->sent_in || !s_session_gone(call, status, reply))
    return false;
  call->reopened = true;
  s_call_reset_stream(call);
  if (session->state == SESSION_OPEN && session->generation == call->sent_in)
    s_session_expired(session);
  s_session_submit(session, call); /* waits for the new session, then sends again */
  return true;
}

/* Does an HTTP status answering server/discover say which revision the server speaks? A refusal
 * (400, 404, 405, ...) does; authentication (401, 403), throttling (429), a timeout (408) and 5xx
 * say nothing about it (they fail, or are retried, as for any request). */
static bool s_era_verdict(long status)
{
  return status >= 400 && status < 500 && status != 401 && status != 403 && status != 408 &&
         status != 429;
}

static void s_on_exchange_done(const struct ops_http_response *response,
                               const struct ops_error *err, void *ud)
{
  struct ops_mcp_call *call = ud;
  struct ops_mcp_client *client = call->client;
  call->exchange = NULL;
  call->status = response->status;
  if (s_retried_kind(call))
    ops_retry_observe(call->session->retry, response->status == 429);
  call->retry_after_ms =
      response->status >= 400
          ? ops_retry_after_ms(ops_http_response_header(response, "retry-after"),
                               ops_http_response_header(response, "x-amz-retry-after"),
                               client->clock.now(client->clock.self))
          : -1;
  if (call->kind == CALL_INITIALIZE && !call->new_session_id)
    call->new_session_id = s_strdup_or_null(ops_http_response_header(response, "mcp-session-id"));
  if (call->reply) { /* we stopped reading once it arrived: any abort error is ours */
    json_t *reply = call->reply;
    call->reply = NULL;
    if (!s_reopened(call, response->status, reply))
      s_finish_with_reply(call, reply);
    json_decref(reply);
    return;
  }
  if (err) {
    s_exchange_failed(call, err);
    return;
  }
  json_t *body = call->is_stream || !call->body.len
                     ? NULL
                     : json_loadb(call->body.data, call->body.len, JSON_ALLOW_NUL, NULL);
  bool reopened = s_reopened(call, response->status, body);
  bool discovered = !reopened && call->kind == CALL_DISCOVER && s_era_verdict(response->status);
  if (discovered)
    s_discover_answered(call, response->status, body);
  json_decref(body);
  if (reopened || discovered)
    return;
  if (response->status < 200 || response->status >= 300) {
    s_fail_status(call, response);
    return;
  }
  bool expects_reply =
      call->kind == CALL_REQUEST || call->kind == CALL_INITIALIZE || call->kind == CALL_DISCOVER;
  if (!expects_reply) {
    s_finish(call, NULL, NULL);
    return;
  }
  if (response->status == 202) { /* "accepted" is for notifications: a request has no answer */
    s_fail(call, OPS_ERR_RPC, response->status, NULL, false,
           "%s: the server accepted the request (HTTP 202) but sent no reply", call->method);
    return;
  }
  if (call->is_stream) {
    s_stream_ended_early(call);
    return;
  }
  json_error_t parse_error;
  json_t *reply = json_loadb(call->body.data ? call->body.data : "", call->body.len, JSON_ALLOW_NUL,
                             &parse_error);
  if (!json_is_object(reply))
    s_fail(call, OPS_ERR_RPC, response->status, NULL, false,
           "%s: the server's reply is not a JSON-RPC message (%s)", call->method,
           reply ? "not an object" : parse_error.text);
  else if (!s_refused_as_another_reply(call, reply))
    s_finish_with_reply(call, reply);
  json_decref(reply);
}

/* ------------------------------------------------------------------ sending */

#define MESSAGE_FORMAT "{\"jsonrpc\":\"2.0\",\"method\":\"%s\"%s%s%s}"

/* The JSON-RPC message a call sends, written around its params as the caller wrote them (they
 * are serialised once, by the caller; the method is a plain name, see s_method_valid). The
 * caller frees it; NULL when out of memory. */
static char *s_message(const struct ops_mcp_call *call, const char *params_json)
{
  if (call->kind == CALL_REPLY)
    return strdup(call->params_json);
  char id[32] = "";
  if (call->id)
    snprintf(id, sizeof(id), ",\"id\":%lld", (long long)call->id);
  const char *params_key = params_json ? ",\"params\":" : "";
  const char *params = params_json ? params_json : "";
  int len = snprintf(NULL, 0, MESSAGE_FORMAT, call->method, id, params_key, params);
  char *text = len >= 0 ? malloc((size_t)len + 1) : NULL;
  if (text)
    snprintf(text, (size_t)len + 1, MESSAGE_FORMAT, call->method, id, params_key, params);
  return text;
}

/* MCP 2026-07-28, Streamable HTTP, Value Encoding: a header value that is not plain ASCII (or
 * has leading or trailing whitespace, or looks like the sentinel) goes as =?base64?...?=. The
 * caller frees it; NULL when out of memory. */
static char *s_header_value(const char *value)
{
  static const char prefix[] = "=?base64?", suffix[] = "?=";
  size_t len = strlen(value);
  bool plain = len > 0 && value[0] != ' ' && value[0] != '\t' && value[len - 1] != ' ' &&
               value[len - 1] != '\t';
  for (const unsigned char *c = (const unsigned char *)value; *c && plain; c++)
    plain = (*c >= 0x20 && *c <= 0x7e) || *c == '\t';
  if (plain && len >= sizeof(prefix) + sizeof(suffix) - 2 &&
      strncmp(value, prefix, sizeof(prefix) - 1) == 0 &&
      strcmp(value + len - (sizeof(suffix) - 1), suffix) == 0)
    plain = false;
  if (plain)
    return strdup(value);
  size_t encoded = 4 * ((len + 2) / 3);
  char *out = malloc(sizeof(prefix) - 1 + encoded + sizeof(suffix));
  if (!out)
    return NULL;
  memcpy(out, prefix, sizeof(prefix) - 1);
  EVP_EncodeBlock((unsigned char *)out + sizeof(prefix) - 1, (const unsigned char *)value,
                  (int)len);
  memcpy(out + sizeof(prefix) - 1 + encoded, suffix, sizeof(suffix));
  return out;
}

/* What a request carries in MCP 2026-07-28: its params with the per-request _meta fields
 * (basic/index, _meta: protocolVersion and clientCapabilities required, clientInfo advised), and
 * the Mcp-Name header of the methods that name something (Streamable HTTP, Standard Request
 * Headers). opsrun declares no client capability. */
struct s_modern_request {
  char *params_json;
  char *name_header; /* NULL for methods without one */
};

static void s_modern_request_free(struct s_modern_request *modern)
{
  free(modern->params_json);
  free(modern->name_header);
}

static int s_modern_request(const struct ops_mcp_call *call, struct s_modern_request *modern)
{
  json_t *params = call->params_json ? json_loads(call->params_json, 0, NULL) : json_object();
  json_t *meta = json_object_get(params, "_meta");
  if (params && !json_is_object(meta))
    json_object_set_new(params, "_meta", meta = json_object());
  int rc = meta &&
                   !json_object_set_new(meta, "io.modelcontextprotocol/protocolVersion",
                                        json_string(MCP_MODERN_VERSION)) &&
                   !json_object_set_new(meta, "io.modelcontextprotocol/clientCapabilities",
                                        json_object()) &&
                   !json_object_set_new(meta, "io.modelcontextprotocol/clientInfo",
                                        json_pack("{s:s, s:s}", "name", "opsrun", "version",
                                                  call->client->client_version))
               ? OPS_OK
               : OPS_ERR_NOMEM;
  const char *named = strcmp(call->method, "resources/read") == 0 ? "uri" : "name";
  const char *name = json_string_value(json_object_get(params, named));
  bool names = strcmp(call->method, "tools/call") == 0 ||
               strcmp(call->method, "prompts/get") == 0 ||
               strcmp(call->method, "resources/read") == 0;
  if (rc == OPS_OK && names && name && !(modern->name_header = s_header_value(name)))
    rc = OPS_ERR_NOMEM;
  if (rc == OPS_OK && !(modern->params_json = json_dumps(params, JSON_COMPACT)))
    rc = OPS_ERR_NOMEM;
  json_decref(params);
  return rc;
}

struct s_exchange {
  const char *method;
  const char *body;
  size_t body_len;
  const char *accept;
  const char *last_event_id;
  const char *name_header; /* Mcp-Name of a stateless request, or NULL */
};

/* Signs and starts one HTTP exchange for `call`. */
static int s_start_exchange(struct ops_mcp_call *call, const struct s_exchange *x,
                            struct ops_error *err)
{
  struct ops_mcp_client *client = call->client;
  struct s_session *session = call->session;
  struct ops_http_header headers[10];
  size_t n = 0;
  headers[n++] = (struct ops_http_header){"Host", client->host};
  headers[n++] = (struct ops_http_header){"Accept", (char *)x->accept};
  if (x->body)
    headers[n++] = (struct ops_http_header){"Content-Type", "application/json"};
  call->sent_in = 0;
  if (session->session_id && call->kind != CALL_INITIALIZE) {
    headers[n++] = (struct ops_http_header){"Mcp-Session-Id", session->session_id};
    call->sent_in = session->generation;
  }
  if (call->kind == CALL_DISCOVER)
    headers[n++] = (struct ops_http_header){"MCP-Protocol-Version", MCP_MODERN_VERSION};
  else if (session->protocol_version[0] && call->kind != CALL_INITIALIZE)
    headers[n++] = (struct ops_http_header){"MCP-Protocol-Version", session->protocol_version};
  if (s_speaks_modern(call) && x->body)
    headers[n++] = (struct ops_http_header){"Mcp-Method", call->method};
  if (x->name_header)
    headers[n++] = (struct ops_http_header){"Mcp-Name", (char *)x->name_header};
  if (x->last_event_id)
    headers[n++] = (struct ops_http_header){"Last-Event-ID", (char *)x->last_event_id};
  struct ops_sigv4_credentials credentials = {session->identity.access_key_id,
                                              session->identity.secret_access_key,
                                              session->identity.session_token};
  struct ops_transport_signing signing = {.signer = client->signer,
                                          .credentials = &credentials,
                                          .region = client->region,
                                          .service = client->service,
                                          .clock = client->clock,
                                          .path = client->path,
                                          .query = client->query};
  struct ops_http_request http = {.method = x->method,
                                  .url = client->url,
                                  .headers = headers,
                                  .header_count = n,
                                  .body = x->body,
                                  .body_len = x->body_len,
                                  .timeout_ms = call->timeout_ms,
                                  .max_response_bytes = MAX_REPLY_BYTES, /* event streams too */
                                  .on_data = s_on_data};
  call->head_seen = false;
  call->body.len = 0;
  call->exchange = ops_transport_start_signed(&client->transport, &http, &signing,
                                              s_on_exchange_done, call, err);
  return call->exchange ? OPS_OK : err->kind;
}

static bool s_paced(struct ops_mcp_call *call);

static void s_send(struct ops_mcp_call *call)
{
  struct ops_error err;
  int rc;
  if (s_paced(call))
    return;
  if (call->kind == CALL_DELETE) {
    struct s_exchange x = {.method = "DELETE", .accept = "application/json, text/event-stream"};
    rc = s_start_exchange(call, &x, &err);
  } else {
    if (call->kind == CALL_REQUEST || call->kind == CALL_INITIALIZE || call->kind == CALL_DISCOVER)
      call->id = call->client->next_id++; /* ids follow the order messages go out */
    struct s_modern_request modern = {0};
    bool written = !s_speaks_modern(call) || s_modern_request(call, &modern) == OPS_OK;
    char *body = written
                     ? s_message(call, modern.params_json ? modern.params_json : call->params_json)
                     : NULL;
    struct s_exchange x = {.method = "POST",
                           .body = body,
                           .body_len = body ? strlen(body) : 0,
                           .accept = "application/json, text/event-stream",
                           .name_header = modern.name_header};
    rc = body ? s_start_exchange(call, &x, &err)
              : ops_error_set(&err, OPS_ERR_NOMEM, "out of memory writing an MCP request");
    free(body);
    s_modern_request_free(&modern);
  }
  if (rc != OPS_OK)
    s_finish(call, NULL, &err);
}

static void s_resume_stream(void *ud)
{
  struct ops_mcp_call *call = ud;
  call->resume = NULL;
  call->resumes++;
  char *last_id = strdup(ops_sse_last_event_id(call->sse));
  struct ops_error err;
  struct s_exchange x = {.method = "GET", .accept = "text/event-stream", .last_event_id = last_id};
  int rc = last_id ? s_start_exchange(call, &x, &err)
                   : ops_error_set(&err, OPS_ERR_NOMEM, "out of memory");
  free(last_id);
  if (rc != OPS_OK)
    s_finish(call, NULL, &err);
}

/* ------------------------------------------------------------------ sending again */

/* Whether the server cannot have acted on `call`, so that sending it again is safe. Any request
 * but tools/call reads or opens, and may be repeated; a tool may change things, so a tools/call
 * goes again only when the server said it did not take it (429; 503, refused before any
 * processing) or was never reached (no connection). A timeout, a 500 or an answer that had
 * begun (an event stream) may mean it ran. */
static bool s_may_resend(const struct ops_mcp_call *call, const struct ops_error *err)
{
  if (!s_retried_kind(call))
    return false;
  if (call->kind != CALL_REQUEST || strcmp(call->method, "tools/call") != 0)
    return true;
  if (call->sse)
    return false;
  if (err->http_status == 429 || err->http_status == 503)
    return true;
  return err->http_status == 0 &&
         (err->transport == OPS_TRANSPORT_CONNECT || err->transport == OPS_TRANSPORT_RESOLVE);
}

static void s_send_again(void *ud)
{
  struct ops_mcp_call *call = ud;
  call->backoff = NULL;
  s_call_reset_stream(call);
  free(call->new_session_id);
  call->new_session_id = NULL;
  if (call->kind == CALL_REQUEST)
    s_request_acquire(call); /* current credentials; their session may have closed meanwhile */
  else
    s_send(call);
}

/* Where `call` waits before it is sent again; `what` names it in the retry's log line. */
static struct ops_retry_timer s_retry_timer(struct ops_mcp_call *call, const char *what)
{
  return (struct ops_retry_timer){
      .loop = call->client->loop, .fire = s_send_again, .ud = call, .what = what};
}

/* An exchange of `call` failed with `err`: wait and send it again when the retry policy allows,
 * else end the call, saying how many attempts it took. */
static void s_exchange_failed(struct ops_mcp_call *call, const struct ops_error *err)
{
  bool may_resend = s_may_resend(call, err);
  enum ops_retry_class failure = may_resend ? ops_retry_classify(err) : OPS_RETRY_NEVER;
  char what[80];
  snprintf(what, sizeof(what), "MCP %s", call->method);
  struct ops_retry_timer timer = s_retry_timer(call, what);
  struct ops_error final = *err;
  call->backoff = ops_retry_schedule(call->session->retry, &call->attempts, failure,
                                     call->retry_after_ms, &final, &timer);
  if (call->backoff)
    return;
  if (call->kind == CALL_REQUEST && !may_resend)
    final.retryable = false; /* the server may have acted on it: no one may send it again */
  s_finish(call, NULL, &final);
}

/* Holds a send back while the identity's request quota says so (every exchange counts, as at
 * the server), then, in adaptive retry mode, while the identity's send rate says so. */
static bool s_paced(struct ops_mcp_call *call)
{
  struct ops_pacer *pacer = call->session->pacer;
  uint64_t wait = pacer ? ops_pacer_delay_ms(pacer, ops_loop_now_ms()) : 0;
  if (wait)
    return (call->backoff = ops_loop_timer_start(call->client->loop, wait, s_send_again, call));
  struct ops_retry_timer timer = s_retry_timer(call, call->method);
  return s_retried_kind(call) && (call->backoff = ops_retry_pace(call->session->retry, &timer));
}

/* ------------------------------------------------------------------ sessions */

static void s_close_check(struct ops_mcp_client *client);
static void s_session_retire(struct s_session *session);

/* The old session of a replaced owner's credentials is closed once its requests have ended. */
static void s_session_replace(struct s_session *old, struct s_session *by)
{
  ops_log(OPS_LOG_DEBUG, NULL, "MCP: new credentials for %s; closing session %s", old->owner,
          old->session_id ? old->session_id : "(unnamed)");
  old->replaced_by = by;
  by->replaces = old;
  s_session_retire(old);
}

/* Makes `session` the one that takes the requests of its credentials and of its owner (in
 * place of the owner's previous session); false when out of memory (nothing changed). */
static bool s_session_map(struct s_session *session)
{
  struct ops_mcp_client *client = session->client;
  const char *key = session->identity.access_key_id;
  if (!ops_hash_put(&client->sessions_by_key, key, session))
    return false;
  if (session->owner && !ops_hash_put(&client->sessions_by_owner, session->owner, session)) {
    ops_hash_remove(&client->sessions_by_key, key);
    return false;
  }
  return true;
}

/* `session` takes no new requests: it is no longer found by its credentials or its owner (where
 * it still stands for them). */
static void s_session_unmap(struct s_session *session)
{
  struct ops_mcp_client *client = session->client;
  const char *key = session->identity.access_key_id;
  if (ops_hash_get(&client->sessions_by_key, key) == session)
    ops_hash_remove(&client->sessions_by_key, key);
  if (session->owner && ops_hash_get(&client->sessions_by_owner, session->owner) == session)
    ops_hash_remove(&client->sessions_by_owner, session->owner);
}

/* A new session for these credentials; the session of the same owner's previous credentials
 * is closed. */
static struct s_session *s_session_new(struct ops_mcp_client *client,
                                       const struct ops_sigv4_credentials *credentials,
                                       const char *owner, struct ops_error *err)
{
  struct s_session *session = calloc(1, sizeof(*session));
  bool paced = client->requests_per_second > 0;
  if (session)
    session->client = client;
  struct s_session *replaced = owner ? ops_hash_get(&client->sessions_by_owner, owner) : NULL;
  if (!session || !s_identity_copy(&session->identity, credentials) ||
      (owner && !(session->owner = strdup(owner))) ||
      !(session->retry = ops_retry_new_like(client->retry)) ||
      (paced && !(session->pacer = ops_pacer_new(client->requests_per_second))) ||
      !s_session_map(session)) {
    s_session_free(session);
    ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
    return NULL;
  }
  if (replaced)
    s_session_replace(replaced, session);
  ops_list_push_front(&client->sessions, &session->link);
  return session;
}

/* Sends a step of opening `session` (initialize, then notifications/initialized); a step that
 * could not be made (NULL: out of memory) fails the session and the requests waiting for it. */
static void s_send_opening_step(struct s_session *session, struct ops_mcp_call *step)
{
  if (!step) {
    struct ops_error err;
    ops_error_set(&err, OPS_ERR_NOMEM, "out of memory opening an MCP session");
    s_session_failed(session, &err);
    return;
  }
  s_send(step);
}

static void s_session_open(struct s_session *session)
{
  struct ops_mcp_client *client = session->client;
  session->state = SESSION_OPENING;
  session->protocol_version[0] = '\0';
  json_t *params =
      json_pack("{s:s, s:{}, s:{s:s, s:s}}", "protocolVersion", OPS_MCP_PROTOCOL_VERSION,
                "capabilities", "clientInfo", "name", "opsrun", "version", client->client_version);
  char *text = params ? json_dumps(params, JSON_COMPACT) : NULL;
  json_decref(params);
  long timeout = session->queue.head ? CALL_OF(session->queue.head, waiting)->timeout_ms : 0;
  struct ops_mcp_call *init =
      text ? s_call_new(client, session, CALL_INITIALIZE, "initialize", text, timeout) : NULL;
  free(text);
  s_send_opening_step(session, init);
}

static bool s_version_supported(const char *version)
{
  for (size_t i = 0; i < sizeof(s_supported_versions) / sizeof(*s_supported_versions); i++)
    if (strcmp(version, s_supported_versions[i]) == 0)
      return true;
  return false;
}

/* initialize answered: keep the session id and version, then send notifications/initialized. */
/* MCP: a session id holds visible ASCII only (0x21 to 0x7E). It goes back in the headers of
 * every request, so anything else (a CR, a space) is refused rather than sent. */
static bool s_session_id_valid(const char *id)
{
  for (; *id; id++)
    if (*id < 0x21 || *id > 0x7e)
      return false;
  return true;
}

static void s_initialized(struct ops_mcp_call *init)
{
  struct s_session *session = init->session;
  if (init->new_session_id && !s_session_id_valid(init->new_session_id)) {
    struct ops_error err;
    ops_error_set(&err, OPS_ERR_RPC,
                  "%s answered initialize with a session id that is not visible ASCII (MCP "
                  "allows characters 0x21 to 0x7E only)",
                  init->client->host);
    s_session_failed(session, &err);
    return;
  }
  const char *version =
      json_string_value(json_object_get(json_object_get(init->reply, "result"), "protocolVersion"));
  if (!version || !s_version_supported(version)) {
    struct ops_error err;
    ops_error_set(&err, OPS_ERR_RPC,
                  "%s answered initialize with protocol version %s, which opsrun does not speak "
                  "(it speaks 2024-11-05 to %s)",
                  init->client->host, version ? version : "(none)", OPS_MCP_PROTOCOL_VERSION);
    s_session_failed(session, &err);
    return;
  }
  snprintf(session->protocol_version, sizeof(session->protocol_version), "%s", version);
  json_t *tasks = json_object_get(
      json_object_get(json_object_get(init->reply, "result"), "capabilities"), "tasks");
  session->offers_task_tools = json_is_object(
      json_object_get(json_object_get(json_object_get(tasks, "requests"), "tools"), "call"));
  free(session->session_id);
  session->session_id = init->new_session_id;
  init->new_session_id = NULL;
  struct ops_mcp_call *note = s_call_new(init->client, session, CALL_INITIALIZED,
                                         "notifications/initialized", NULL, init->timeout_ms);
  s_send_opening_step(session, note);
}

static void s_session_opened(struct s_session *session)
{
  session->state = SESSION_OPEN;
  session->generation++;
  ops_log(OPS_LOG_DEBUG, NULL, "MCP: session %s open (protocol %s)",
          session->session_id ? session->session_id : "(unnamed)", session->protocol_version);
  for (struct ops_mcp_call *call; (call = s_next_waiting(&session->queue));)
    s_send(call);
}

/* Opening failed: every request waiting for it fails the same way. */
static void s_session_failed(struct s_session *session, const struct ops_error *err)
{
  session->state = SESSION_CLOSED;
  free(session->session_id);
  session->session_id = NULL;
  for (struct ops_mcp_call *call; (call = s_next_waiting(&session->queue));)
    s_finish(call, NULL, err);
}

static void s_session_expired(struct s_session *session)
{
  ops_log(OPS_LOG_DEBUG, NULL, "MCP: session %s expired; opening a new one", session->session_id);
  free(session->session_id);
  session->session_id = NULL;
  session->state = SESSION_CLOSED;
}

/* With a stateless server (MCP 2026-07-28) a session is open at once: every request carries its
 * version and capabilities, and there is no id to name nor session to DELETE. */
static void s_session_open_stateless(struct s_session *session)
{
  session->stateless = true;
  session->state = SESSION_OPEN;
  session->generation++;
  snprintf(session->protocol_version, sizeof(session->protocol_version), "%s", MCP_MODERN_VERSION);
}

static void s_era_unknown(struct ops_mcp_client *client, const struct s_session *probed,
                          const struct ops_error *err);

/* Asks the endpoint, as `session`'s identity, which revision it speaks; requests wait in the
 * client's era queue until it answers. */
static void s_discover(struct s_session *session, long timeout_ms)
{
  struct ops_mcp_client *client = session->client;
  client->era = ERA_PROBING;
  struct ops_mcp_call *probe =
      s_call_new(client, session, CALL_DISCOVER, "server/discover", NULL, timeout_ms);
  if (probe) {
    s_send(probe);
    return;
  }
  struct ops_error err;
  ops_error_set(&err, OPS_ERR_NOMEM, "out of memory asking the MCP server its revision");
  s_era_unknown(client, NULL, &err);
}

/* Sends `call` in `session`: at once when it is open or the server is stateless; else after the
 * revision is known (server/discover) and, with sessions, once the session is open. */
static void s_session_submit(struct s_session *session, struct ops_mcp_call *call)
{
  struct ops_mcp_client *client = session->client;
  if (session->state != SESSION_OPEN && client->era == ERA_MODERN)
    s_session_open_stateless(session);
  if (session->state == SESSION_OPEN) {
    s_send(call);
    return;
  }
  if (client->era != ERA_LEGACY) {
    s_wait_in(&client->era_queue, call);
    if (client->era == ERA_UNKNOWN)
      s_discover(session, call->timeout_ms);
    return;
  }
  s_wait_in(&session->queue, call);
  if (session->state == SESSION_CLOSED)
    s_session_open(session);
}

/* The revision is known: the requests that waited for it go on. */
static void s_era_found(struct ops_mcp_client *client, enum s_era era)
{
  client->era = era;
  for (struct ops_mcp_call *call; (call = s_next_waiting(&client->era_queue));)
    s_session_submit(call->session, call);
}

/* server/discover ended without a verdict: the requests of the identity it was sent as (every
 * request when `probed` is NULL) fail with its error; the others are submitted again, and the
 * first of them asks again. */
static void s_era_unknown(struct ops_mcp_client *client, const struct s_session *probed,
                          const struct ops_error *err)
{
  client->era = ERA_UNKNOWN;
  size_t waiting = 0;
  for (const struct ops_list_node *node = client->era_queue.head; node; node = node->next)
    waiting++;
  while (waiting-- > 0) { /* those submitted again may queue anew, behind these */
    struct ops_mcp_call *call = s_next_waiting(&client->era_queue);
    if (!probed || call->session == probed)
      s_finish(call, NULL, err);
    else
      s_session_submit(call->session, call);
  }
}

static bool s_lists_version(json_t *versions, const char *version)
{
  size_t i;
  json_t *listed;
  json_array_foreach(versions, i,
                     listed) if (json_is_string(listed) &&
                                 strcmp(json_string_value(listed), version) == 0) return true;
  return false;
}

/* -v says which revision the endpoint speaks, and what the server called itself. */
static void s_log_era(const struct ops_mcp_client *client, json_t *result, long status,
                      json_int_t code)
{
  if (client->era == ERA_MODERN) {
    json_t *info =
        json_object_get(json_object_get(result, "_meta"), "io.modelcontextprotocol/serverInfo");
    if (!info)
      info = json_object_get(result, "serverInfo"); /* where early drafts put it */
    const char *name = json_string_value(json_object_get(info, "name"));
    const char *version = json_string_value(json_object_get(info, "version"));
    ops_log(OPS_LOG_INFO, NULL, "MCP: %s speaks %s, stateless (server %s %s)", client->host,
            MCP_MODERN_VERSION, name ? name : "unnamed", version ? version : "");
  } else {
    ops_log(OPS_LOG_INFO, NULL,
            "MCP: %s does not speak %s (server/discover answered HTTP %ld, JSON-RPC error %lld): "
            "using %s sessions",
            client->host, MCP_MODERN_VERSION, status, (long long)code, OPS_MCP_PROTOCOL_VERSION);
  }
}

/* server/discover answered, with a result or a JSON-RPC error (any HTTP status but those of
 * authentication and throttling), or with no JSON at all. MCP 2026-07-28 (Streamable HTTP and
 * versioning, Backward Compatibility): a result or a recognised modern error is a modern server;
 * an empty or unrecognised answer a legacy one, which is then opened with initialize.
 * UnsupportedProtocolVersion listing 2026-07-28 is asked once more; listing only older versions,
 * it is a dual-era server that no longer serves this one statelessly. */
static void s_discover_answered(struct ops_mcp_call *probe, long status, json_t *reply)
{
  struct ops_mcp_client *client = probe->client;
  json_t *result = json_object_get(reply, "result");
  json_t *error = json_object_get(reply, "error");
  json_int_t code = s_error_code(reply);
  bool answered = json_is_object(result) && (!error || json_is_null(error)) && status < 300;
  bool modern =
      answered && s_lists_version(json_object_get(result, "supportedVersions"), MCP_MODERN_VERSION);
  bool retry = false;
  struct ops_error err = {0};
  if (code == MCP_UNSUPPORTED_PROTOCOL_VERSION) {
    json_t *supported = json_object_get(json_object_get(error, "data"), "supported");
    modern = s_lists_version(supported, MCP_MODERN_VERSION);
    retry = modern && !probe->version_retried;
    if (modern && !retry)
      ops_error_set(&err, OPS_ERR_RPC, "%s lists %s as supported but refused it twice",
                    client->host, MCP_MODERN_VERSION);
  } else if (code == MCP_HEADER_MISMATCH || code == MCP_MISSING_CLIENT_CAPABILITY) {
    const char *words = json_string_value(json_object_get(error, "message"));
    ops_error_set(&err, OPS_ERR_RPC, "%s refused server/discover: %s", client->host,
                  words ? words : "(no message)");
  }
  if (retry) {
    probe->version_retried = true;
    s_call_reset_stream(probe);
    s_send(probe);
    return;
  }
  ops_retry_succeeded(probe->session->retry, &probe->attempts);
  s_call_free(probe);
  if (err.kind) {
    s_era_unknown(client, NULL, &err);
    return;
  }
  client->era = modern ? ERA_MODERN : ERA_LEGACY;
  s_log_era(client, result, status, code);
  s_era_found(client, client->era);
}

/* A method is written into the message as it is: a name of visible ASCII without quote or
 * backslash, as every MCP method is. */
static bool s_method_valid(const char *method)
{
  for (; *method; method++)
    if (*method < 0x21 || *method > 0x7e || *method == '"' || *method == '\\')
      return false;
  return true;
}

/* Params go out as the caller wrote them, so they are read here, once for all the call's
 * attempts, as jansson reads JSON: an object, in UTF-8, without \u0000. */
static bool s_params_valid(const char *params_json)
{
  if (!params_json || !*params_json)
    return true;
  json_t *params = json_loads(params_json, 0, NULL);
  bool valid = json_is_object(params);
  json_decref(params);
  return valid;
}

static int s_request_check(const struct ops_mcp_request *request, struct ops_error *err)
{
  if (!s_method_valid(request->method))
    return ops_error_set(err, OPS_ERR_CONFIG, "%s: not a JSON-RPC method name", request->method);
  if (!s_params_valid(request->params_json))
    return ops_error_set(err, OPS_ERR_CONFIG, "%s: params must be a JSON object", request->method);
  return OPS_OK;
}

/* Submits a request in the session of `credentials` (made for them if needed). */
static void s_request_submit_as(struct ops_mcp_call *call,
                                const struct ops_credentials *credentials)
{
  struct ops_sigv4_credentials signing = ops_credentials_for_signing(credentials);
  struct s_session *session = s_session_of(call->client, &signing);
  struct ops_error err;
  if (!session && !(session = s_session_new(call->client, &signing, call->owner, &err))) {
    s_finish(call, NULL, &err);
    return;
  }
  s_call_move(call, session);
  s_session_submit(session, call);
}

/* The request's provider could give no credentials: the request ends with its error. */
static void s_provider_failed(struct ops_mcp_call *call, const struct ops_error *err)
{
  call->provider_failed = true;
  s_finish(call, NULL, err);
}

static void s_request_credentials(struct ops_credentials *credentials, const struct ops_error *err,
                                  void *ud)
{
  struct ops_mcp_call *call = ud;
  call->fetch = NULL;
  if (credentials)
    s_request_submit_as(call, credentials);
  else
    s_provider_failed(call, err);
  ops_credentials_free(credentials);
}

/* Sends a request (again) as the current credentials of its provider: at once when it holds
 * fresh ones, else when a fetch of them ends. */
static void s_request_acquire(struct ops_mcp_call *call)
{
  const struct ops_credentials *cached = ops_credentials_provider_cached(call->provider);
  if (cached) {
    s_request_submit_as(call, cached);
    return;
  }
  struct ops_error err;
  call->fetch = ops_credentials_provider_get(call->provider, s_request_credentials, call, &err);
  if (!call->fetch)
    s_provider_failed(call, &err);
}

struct ops_mcp_call *ops_mcp_call_start(struct ops_mcp_client *client,
                                        const struct ops_mcp_request *request, ops_mcp_done_fn done,
                                        void *ud, struct ops_error *err)
{
  if (s_request_check(request, err) != OPS_OK)
    return NULL;
  struct ops_mcp_call *call = s_call_new(client, NULL, CALL_REQUEST, request->method,
                                         request->params_json, request->timeout_ms);
  if (call && request->owner && !(call->owner = strdup(request->owner))) {
    s_call_free(call);
    call = NULL;
  }
  if (!call) {
    ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
    return NULL;
  }
  call->provider = request->credentials;
  call->done = done;
  call->ud = ud;
  struct s_start_outcome outcome = {0};
  call->ended_at_start = &outcome;
  s_request_acquire(call);
  if (outcome.ended) { /* the call is freed */
    if (err)
      *err = outcome.error;
    return NULL;
  }
  call->ended_at_start = NULL;
  return call;
}

/* ------------------------------------------------------------------ closing */

/* Runs the close's callback once nothing is left to close: no session waiting for its requests
 * (or its opening) to end, no DELETE waiting or active. */
static void s_close_check(struct ops_mcp_client *client)
{
  if (!client->closing || client->retiring || client->delete_queue.head ||
      client->delete_pacing.head || client->deletes_active)
    return;
  client->closing = false;
  if (client->close_limit)
    ops_loop_timer_cancel(client->loop, client->close_limit);
  client->close_limit = NULL;
  client->closed(client->closed_ud);
}

/* Sends the DELETEs waiting, as many as close_concurrency allows. One that ends at once (it
 * could not be signed or started) frees its place for the next turn of this loop. */
static void s_start_deletes(struct ops_mcp_client *client)
{
  if (client->starting_deletes)
    return;
  client->starting_deletes = true;
  while (client->delete_queue.head && client->deletes_active < client->close_concurrency) {
    struct ops_mcp_call *del = s_next_waiting(&client->delete_queue);
    client->deletes_active++;
    s_send(del);
  }
  client->starting_deletes = false;
  s_close_check(client);
}

/* A replaced session's DELETE is signed with its own credentials, still valid when they were
 * refreshed ahead of expiry; when the server refused them as expired (before or while its last
 * requests ran), with its replacement's instead: the server's session belongs to the owner
 * (the role session's user id, mcp-proxy-for-aws PR #122), not to one of its keys. */
static void s_session_sign_as_replacement_if_expired(struct s_session *session)
{
  const struct s_session *by = session->replaced_by;
  if (!session->credentials_expired || !by)
    return;
  struct ops_sigv4_credentials credentials = {
      by->identity.access_key_id, by->identity.secret_access_key, by->identity.session_token};
  struct s_identity renewed = {0};
  if (s_identity_copy(&renewed, &credentials)) {
    s_identity_free(&session->identity);
    session->identity = renewed;
  } else {
    s_identity_free(&renewed); /* out of memory: the DELETE goes with what it has */
  }
}

/* A DELETE's wait for its session's request quota is over: it queues for a place. */
static void s_delete_paced(void *ud)
{
  struct ops_mcp_call *del = ud;
  del->backoff = NULL;
  s_stop_waiting(del);
  s_wait_in(&del->client->delete_queue, del);
  s_start_deletes(del->client);
}

/* Queues a DELETE for one of the close_concurrency places once its session's request quota
 * lets it go (the server counts a DELETE as any request): when a sweep's work in an account
 * ends, its last requests have often spent the quota, and a DELETE waiting for it in a place
 * would hold up other accounts' DELETEs. */
static void s_delete_enqueue(struct ops_mcp_client *client, struct ops_mcp_call *del)
{
  struct ops_pacer *pacer = del->session->pacer;
  uint64_t wait = pacer ? ops_pacer_wait_ms(pacer, ops_loop_now_ms()) : 0;
  if (wait && (del->backoff = ops_loop_timer_start(client->loop, wait, s_delete_paced, del))) {
    s_wait_in(&client->delete_pacing, del);
    return;
  }
  s_wait_in(&client->delete_queue, del);
}

/* A retiring session with nothing left in it: DELETE it when the server named it. */
static void s_session_retire_if_idle(struct s_session *session)
{
  struct ops_mcp_client *client = session->client;
  if (!session->retiring || session->deleted || session->calls)
    return;
  session->deleted = true;
  client->retiring--;
  bool named = session->state == SESSION_OPEN && session->session_id;
  session->state = SESSION_CLOSED; /* the DELETE still carries its id */
  long timeout = DELETE_TIMEOUT_MS;
  if (client->close_limit) {
    long left = (long)(client->close_deadline_ms - ops_loop_now_ms());
    timeout = left < 1 ? 1 : left < timeout ? left : timeout;
  }
  if (named)
    s_session_sign_as_replacement_if_expired(session);
  struct ops_mcp_call *del =
      named ? s_call_new(client, session, CALL_DELETE, "DELETE session", NULL, timeout) : NULL;
  if (del)
    s_delete_enqueue(client, del);
  else
    s_session_end(session); /* nothing to DELETE: the session ends here */
  s_start_deletes(client);
}

/* Marks a session to be closed once nothing is left in it; it takes no new requests. */
static void s_session_retire(struct s_session *session)
{
  s_session_unmap(session);
  session->retiring = true;
  session->client->retiring++;
  s_session_retire_if_idle(session);
}

void ops_mcp_client_close_owner(struct ops_mcp_client *client, const char *owner)
{
  struct s_session *session = ops_hash_get(&client->sessions_by_owner, owner);
  if (session) {
    ops_log(OPS_LOG_DEBUG, NULL, "MCP: the work of %s is done; closing session %s", owner,
            session->session_id ? session->session_id : "(unnamed)");
    s_session_retire(session);
  }
}

/* The close's time is up: the DELETEs still waiting or in flight are abandoned, and the
 * sessions still opening no longer waited for. */
static void s_close_limit_reached(void *ud)
{
  struct ops_mcp_client *client = ud;
  client->close_limit = NULL;
  size_t abandoned = 0;
  for (struct ops_list_node *node = client->calls.head, *next; node; node = next) {
    next = node->next;
    struct ops_mcp_call *c = CALL_OF(node, link);
    if (c->kind == CALL_DELETE) {
      abandoned++;
      s_call_free(c);
    }
  }
  ops_log(OPS_LOG_DEBUG, NULL,
          "MCP: gave up closing %zu sessions (and %zu still busy) in the time allowed", abandoned,
          client->retiring);
  client->closing = false;
  client->closed(client->closed_ud);
}

void ops_mcp_client_close_within(struct ops_mcp_client *client, long within_ms)
{
  if (!client->closing || client->close_limit)
    return;
  client->close_deadline_ms = ops_loop_now_ms() + (uint64_t)within_ms;
  client->close_limit =
      ops_loop_timer_start(client->loop, (uint64_t)within_ms, s_close_limit_reached, client);
}

/* Cancels the handshake of a session still opening: a close given no time limit does not wait
 * for a server that may never answer, as the request that wanted the session found. */
static void s_session_abandon_opening(struct s_session *session)
{
  session->state = SESSION_CLOSED;
  for (struct ops_list_node *node = session->client->calls.head, *next; node; node = next) {
    next = node->next;
    struct ops_mcp_call *c = CALL_OF(node, link);
    if (c->session == session && (c->kind == CALL_INITIALIZE || c->kind == CALL_INITIALIZED))
      s_call_free(c);
  }
}

/* Cancels a server/discover in flight, for the same reason; the revision stays unknown. */
static void s_abandon_discover(struct ops_mcp_client *client)
{
  for (struct ops_list_node *node = client->calls.head, *next; node; node = next) {
    next = node->next;
    struct ops_mcp_call *c = CALL_OF(node, link);
    if (c->kind == CALL_DISCOVER) {
      client->era = ERA_UNKNOWN;
      s_call_free(c);
    }
  }
}

void ops_mcp_client_close(struct ops_mcp_client *client, long within_ms, void (*done)(void *ud),
                          void *ud)
{
  client->closed = done;
  client->closed_ud = ud;
  client->closing = true;
  if (within_ms > 0)
    ops_mcp_client_close_within(client, within_ms);
  if (within_ms <= 0)
    s_abandon_discover(client);
  client->starting_deletes = true; /* the first DELETEs go out together, below */
  for (struct ops_list_node *node = client->sessions.head, *next; node; node = next) {
    next = node->next; /* ending an idle session that was never named frees it */
    struct s_session *s = SESSION_OF(node);
    bool retiring = s->retiring;
    if (s->state == SESSION_OPENING && within_ms <= 0)
      s_session_abandon_opening(s); /* may end `s`, when it was retiring already */
    if (!retiring)
      s_session_retire(s);
  }
  client->starting_deletes = false;
  s_start_deletes(client);
}
