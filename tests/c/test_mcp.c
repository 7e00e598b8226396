/* test_mcp.c: the MCP client against a scripted transport: the session handshake and its
 * headers, signing, JSON and event-stream replies, server requests on a stream, resuming a
 * stream, session expiry, one session per identity, HTTP and JSON-RPC failures, closing, and
 * which failed exchanges are sent again (with the retry policy's randomness fixed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fakes.h"
#include "runtime/credentials.h"
#include "runtime/mcp.h"

/* ------------------------------------------------------------------ a scripted transport */

enum { MAX_EXCHANGES = 64, MAX_HEADERS = 16 };

struct exchange {
  char method[16];
  char headers[MAX_HEADERS][2][256];
  size_t header_count;
  char body[4096];
  bool (*on_data)(void *, const struct ops_http_response *, const char *, size_t);
  ops_http_done_fn done;
  void *ud;
  bool cancelled, answered;
};

struct fake {
  struct exchange exchanges[MAX_EXCHANGES];
  int count;
  bool in_data_callback; /* answer() is handing body bytes to the client */
  bool refusing;         /* every start is refused, as by a transport out of memory */
};

static void *fake_start(void *self, const struct ops_http_request *request, ops_http_done_fn done,
                        void *ud, struct ops_error *err)
{
  struct fake *fake = self;
  /* as libcurl refuses a new transfer inside its write callback */
  if (fake->in_data_callback || fake->refusing) {
    ops_error_set(err, OPS_ERR_NOMEM, "out of memory starting %s (CURLM_RECURSIVE_API_CALL)",
                  request->method);
    return NULL;
  }
  assert_true(fake->count < MAX_EXCHANGES);
  struct exchange *x = &fake->exchanges[fake->count++];
  memset(x, 0, sizeof(*x));
  snprintf(x->method, sizeof(x->method), "%s", request->method);
  for (size_t i = 0; i < request->header_count && i < MAX_HEADERS; i++, x->header_count++) {
    snprintf(x->headers[i][0], 256, "%s", request->headers[i].name);
    snprintf(x->headers[i][1], 256, "%s", request->headers[i].value);
  }
  snprintf(x->body, sizeof(x->body), "%.*s", (int)request->body_len,
           request->body ? request->body : "");
  x->on_data = request->on_data;
  x->done = done;
  x->ud = ud;
  return x;
}

static void fake_cancel(void *self, void *exchange)
{
  (void)self;
  ((struct exchange *)exchange)->cancelled = true;
}

static const char *header(const struct exchange *x, const char *name)
{
  for (size_t i = 0; i < x->header_count; i++)
    if (strcasecmp(x->headers[i][0], name) == 0)
      return x->headers[i][1];
  return NULL;
}

/* Answers exchange `i`: `headers` as "Name: value\n" lines; the body is streamed in pieces of
 * `piece` bytes (0: whole) as libcurl would, stopping when the client asks to; as libcurl, it
 * refuses to start another exchange while the client is handling those bytes. */
static void answer(struct fake *fake, int i, long status, const char *headers, const char *body,
                   size_t piece)
{
  struct exchange *x = &fake->exchanges[i];
  assert_true(i < fake->count && !x->answered && !x->cancelled);
  x->answered = true;
  struct ops_http_header parsed[8];
  char names[8][64], values[8][256];
  size_t n = 0;
  for (const char *line = headers; line && *line && n < 8; n++) {
    const char *colon = strchr(line, ':'), *end = strchr(line, '\n');
    snprintf(names[n], 64, "%.*s", (int)(colon - line), line);
    snprintf(values[n], 256, "%.*s", (int)(end - colon - 2), colon + 2);
    parsed[n] = (struct ops_http_header){names[n], values[n]};
    line = end + 1;
  }
  struct ops_http_response response = {.status = status, .headers = parsed, .header_count = n};
  size_t len = strlen(body), step = piece ? piece : (len ? len : 1);
  bool aborted = false;
  fake->in_data_callback = true;
  for (size_t at = 0; at < len && !aborted; at += step)
    aborted = !x->on_data(x->ud, &response, body + at, at + step > len ? len - at : step);
  fake->in_data_callback = false;
  struct ops_error err;
  ops_error_set(&err, OPS_ERR_TRANSPORT, "aborted by the client");
  x->done(&response, aborted ? &err : NULL, x->ud);
}

/* Ends exchange `i` without an answer, as a transport failure (a timeout, a refused
 * connection), reported as runtime/http.c reports it. */
static void fail_exchange(struct fake *fake, int i, enum ops_err kind,
                          enum ops_transport_failure failure)
{
  struct exchange *x = &fake->exchanges[i];
  assert_true(i < fake->count && !x->answered && !x->cancelled);
  x->answered = true;
  struct ops_error err;
  ops_error_set(&err, kind, "POST https://aws-mcp.us-east-1.api.aws/mcp: it failed");
  ops_error_set_transport(&err, failure);
  err.retryable = true;
  struct ops_http_response response = {.status = 0};
  x->done(&response, &err, x->ud);
}

/* ------------------------------------------------------------------ fixture */

struct outcome {
  int calls;
  char result[1024];
  struct ops_error err;
  bool failed;
  bool from_provider;
};

static void on_done(void *ud, json_t *result, const struct ops_error *err, bool from_provider)
{
  struct outcome *o = ud;
  o->calls++;
  o->failed = err != NULL;
  o->from_provider = from_provider;
  if (err)
    o->err = *err;
  char *result_json = result ? json_dumps(result, JSON_COMPACT) : NULL;
  snprintf(o->result, sizeof(o->result), "%s", result_json ? result_json : "");
  free(result_json);
}

static double fixed_now(void *self)
{
  (void)self;
  return 1764000000.0;
}

static const struct ops_sigv4_credentials ALICE = {"ASIAALICE", "alice-secret", "alice-token"};
static const struct ops_sigv4_credentials BOB = {"AKIABOB", "bob-secret", NULL};
/* Alice's role, assumed again: the same owner with a new key */
static const struct ops_sigv4_credentials ALICE_RENEWED = {"ASIAALICE2", "alice-secret-2",
                                                           "alice-token-2"};

/* A caching provider as requests see one: it holds fresh credentials, `keys[current]`, and
 * moves on to the next of `keys` when told that the current ones were refused. */
struct held {
  const struct ops_sigv4_credentials *keys[3]; /* NULL after the last */
  int current;
  struct ops_credentials *credentials;
  char refused[32]; /* the key id invalidate was last told of */
};

static int held_hold(struct held *held)
{
  const struct ops_sigv4_credentials *key = held->keys[held->current];
  ops_credentials_free(held->credentials);
  return ops_credentials_new(&held->credentials, key->access_key_id, key->secret_access_key,
                             key->session_token, 0, "test", NULL);
}

static const struct ops_credentials *held_cached(const struct ops_credentials_provider *provider)
{
  return ((struct held *)ops_credentials_provider_impl(provider))->credentials;
}

static void held_invalidate(struct ops_credentials_provider *provider, const char *refused)
{
  struct held *held = ops_credentials_provider_impl(provider);
  snprintf(held->refused, sizeof(held->refused), "%s", refused);
  if (strcmp(refused, held->credentials->access_key_id) == 0 && held->keys[held->current + 1]) {
    held->current++;
    assert_int_equal(held_hold(held), OPS_OK);
  }
}

/* Never runs: a request signs at once with the fresh credentials its provider holds, without
 * fetching them (a fetch takes a loop turn). */
static int held_start(struct ops_credentials_provider *provider,
                      struct ops_credentials_fetch *fetch, struct ops_error *err)
{
  (void)provider, (void)fetch;
  fail_msg("a request fetched the credentials its provider held fresh");
  return ops_error_set(err, OPS_ERR_CREDENTIALS, "fetched");
}

static void held_destroy(void *impl)
{
  ops_credentials_free(((struct held *)impl)->credentials);
  free(impl);
}

static const struct ops_credentials_provider_vtable HELD = {.name = "held",
                                                            .start = held_start,
                                                            .destroy = held_destroy,
                                                            .cached = held_cached,
                                                            .invalidate = held_invalidate};

/* A provider holding `key`, then `renewed` (or NULL) once `key` is refused. */
static struct ops_credentials_provider *held_new(struct ops_loop *loop,
                                                 const struct ops_sigv4_credentials *key,
                                                 const struct ops_sigv4_credentials *renewed)
{
  struct held *held = calloc(1, sizeof(*held));
  held->keys[0] = key;
  held->keys[1] = renewed;
  assert_int_equal(held_hold(held), OPS_OK);
  struct ops_credentials_context context = {.loop = loop};
  struct ops_credentials_provider *provider = NULL;
  assert_int_equal(ops_credentials_provider_new(&provider, &HELD, &context, held, NULL), OPS_OK);
  return provider;
}

/* The settings a client reads from its environment: attempts, and the pinned MCP revision
 * (NULL: the client asks the server with server/discover). */
struct test_env {
  const char *max_attempts;
  const char *revision;
};

struct fixture {
  struct fake fake;
  struct ops_loop *loop;
  struct ops_sigv4_signer *signer;
  struct ops_retry *retry;
  struct ops_mcp_client *client;
  /* providers holding ALICE, BOB, ALICE_RENEWED, and ALICE then ALICE_RENEWED once refused */
  struct ops_credentials_provider *alice, *bob, *alice_renewed, *alice_renewing;
  struct test_env env;
};

/* The provider of `who` (ALICE, BOB or ALICE_RENEWED). */
static struct ops_credentials_provider *provider_of(struct fixture *f,
                                                    const struct ops_sigv4_credentials *who)
{
  return who == &ALICE ? f->alice : who == &BOB ? f->bob : f->alice_renewed;
}

static const char *test_env_get(void *self, const char *name)
{
  const struct test_env *env = self;
  if (strcmp(name, "AWS_MAX_ATTEMPTS") == 0)
    return env->max_attempts;
  return strcmp(name, "OPSRUN_MCP_PROTOCOL_VERSION") == 0 ? env->revision : NULL;
}

static double no_jitter(void *self)
{
  (void)self;
  return 0; /* every backoff is 0 ms, unless the server asks for more */
}

/* A client whose retry policy makes `max_attempts` attempts, each identity paced at `rate`
 * requests a second (0: not paced), pinned to MCP `revision` (NULL: found by server/discover). */
static int setup_client(void **state, const char *max_attempts, double rate, const char *revision)
{
  struct fixture *f = calloc(1, sizeof(*f));
  f->env = (struct test_env){max_attempts, revision};
  f->loop = ops_loop_new();
  assert_int_equal(ops_sigv4_signer_new(&f->signer, 0, NULL), OPS_OK);
  struct ops_retry_options retry = {.env = {.get = test_env_get, .self = &f->env},
                                    .clock = {.now = fixed_now},
                                    .random = {.next = no_jitter}};
  assert_int_equal(ops_retry_new(&f->retry, &retry, NULL), OPS_OK);
  struct ops_mcp_options options = {
      .url = "https://aws-mcp.us-east-1.api.aws/mcp",
      .env = {.get = test_env_get, .self = &f->env},
      .region = "us-east-1",
      .client_version = "test",
      .transport = {.start = fake_start, .cancel = fake_cancel, .self = &f->fake},
      .clock = {.now = fixed_now},
      .loop = f->loop,
      .signer = f->signer,
      .retry = f->retry,
      .requests_per_second = rate,
  };
  assert_int_equal(ops_mcp_client_new(&f->client, &options, NULL), OPS_OK);
  f->alice = held_new(f->loop, &ALICE, NULL);
  f->bob = held_new(f->loop, &BOB, NULL);
  f->alice_renewed = held_new(f->loop, &ALICE_RENEWED, NULL);
  f->alice_renewing = held_new(f->loop, &ALICE, &ALICE_RENEWED);
  *state = f;
  return 0;
}

/* Most tests see each failure as it is: one attempt, with 2025-11-25 sessions. */
static int setup(void **state)
{
  return setup_client(state, "1", 0, "2025-11-25");
}

/* The revision tests: the client asks the server which revision it speaks. */
static int setup_discovering(void **state)
{
  return setup_client(state, "1", 0, NULL);
}

/* The retry tests: the SDKs' default of three attempts. */
static int setup_retrying(void **state)
{
  return setup_client(state, "3", 0, "2025-11-25");
}

/* The quota test: enough attempts to spend an identity's retry quota in one request. */
static int setup_many_attempts(void **state)
{
  return setup_client(state, "50", 0, "2025-11-25");
}

/* The pacing test: one request a second per identity. */
static int setup_paced(void **state)
{
  return setup_client(state, "1", 1, "2025-11-25");
}

/* Three requests a second per identity, as the hosted server allows. */
static int setup_paced_as_hosted(void **state)
{
  return setup_client(state, "1", 3, "2025-11-25");
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  ops_mcp_client_free(f->client);
  ops_credentials_provider_free(f->alice);
  ops_credentials_provider_free(f->bob);
  ops_credentials_provider_free(f->alice_renewed);
  ops_credentials_provider_free(f->alice_renewing);
  ops_retry_free(f->retry);
  ops_sigv4_signer_free(f->signer);
  ops_loop_free(f->loop);
  free(f);
  return 0;
}

/* A request with the credentials of `provider`, which belong to `owner` (NULL: none named). */
static struct ops_mcp_call *provider_call(struct fixture *f,
                                          struct ops_credentials_provider *provider,
                                          const char *owner, const char *method, const char *params,
                                          struct outcome *o)
{
  struct ops_mcp_request request = {
      .credentials = provider, .owner = owner, .method = method, .params_json = params};
  struct ops_mcp_call *c = ops_mcp_call_start(f->client, &request, on_done, o, NULL);
  assert_non_null(c);
  return c;
}

/* A request as `who`, whose credentials belong to `owner` (NULL: none named). */
static struct ops_mcp_call *owned_call(struct fixture *f, const struct ops_sigv4_credentials *who,
                                       const char *owner, const char *method, const char *params,
                                       struct outcome *o)
{
  return provider_call(f, provider_of(f, who), owner, method, params, o);
}

static struct ops_mcp_call *call(struct fixture *f, const struct ops_sigv4_credentials *who,
                                 const char *method, const char *params, struct outcome *o)
{
  return owned_call(f, who, NULL, method, params, o);
}

#define JSON "Content-Type: application/json\n"
#define SSE  "Content-Type: text/event-stream\n"
/* The id of the message exchange `i` sent. */
static int sent_id(const struct fixture *f, int i)
{
  return atoi(strstr(f->fake.exchanges[i].body, "\"id\":") + 5);
}

/* Answers exchange `i` with an empty result. */
static void answer_ok(struct fixture *f, int i)
{
  char reply[128];
  snprintf(reply, sizeof(reply), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"result\":{}}", sent_id(f, i));
  answer(&f->fake, i, 200, JSON, reply, 0);
}

/* Answers initialize (exchange i) with `headers` and protocol `version`. */
static void answer_initialize(struct fixture *f, int i, const char *headers, const char *version)
{
  char reply[256];
  snprintf(reply, sizeof(reply),
           "{\"jsonrpc\":\"2.0\",\"id\":%d,\"result\":{\"protocolVersion\":\"%s\","
           "\"capabilities\":{},\"serverInfo\":{\"name\":\"sim\",\"version\":\"1\"}}}",
           sent_id(f, i), version);
  answer(&f->fake, i, 200, headers, reply, 0);
}

/* Answers initialize (exchange i) and then the notifications/initialized it leads to. */
static void open_session(struct fixture *f, int i, const char *version, const char *session_id)
{
  char headers[128];
  snprintf(headers, sizeof(headers), JSON "Mcp-Session-Id: %s\n", session_id);
  answer_initialize(f, i, headers, version);
  int note = f->fake.count - 1;
  assert_non_null(strstr(f->fake.exchanges[note].body, "notifications/initialized"));
  answer(&f->fake, note, 202, "", "", 0);
}

/* ------------------------------------------------------------------ tests */

/* The params go out as the caller wrote them, inside the message; what jansson would not read as
 * an object is refused before anything is sent, as is a method that cannot be written as it is. */
static void params_are_sent_as_written_and_checked_first(void **state)
{
  struct fixture *f = *state;
  struct outcome o = {0};
  call(f, &ALICE, "tools/call", "{\"name\":\"x\",\"arguments\":{\"path\":\"a/b\"}}", &o);
  open_session(f, 0, "2025-11-25", "s-1");
  assert_string_equal(f->fake.exchanges[2].body,
                      "{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"id\":2,\"params\":"
                      "{\"name\":\"x\",\"arguments\":{\"path\":\"a/b\"}}}");
  static const char *const refused[] = {"[1]", "{\"a\":\"\\u0000\"}", "{\"a\":\"\xff\"}", "{"};
  for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++) {
    struct ops_mcp_request request = {
        .credentials = f->alice, .method = "tools/call", .params_json = refused[i]};
    struct ops_error err = {0};
    assert_null(ops_mcp_call_start(f->client, &request, on_done, &o, &err));
    assert_int_equal(err.kind, OPS_ERR_CONFIG);
    assert_string_equal(err.message, "tools/call: params must be a JSON object");
  }
  struct ops_mcp_request quoted = {.credentials = f->alice, .method = "tools\"/call"};
  struct ops_error err = {0};
  assert_null(ops_mcp_call_start(f->client, &quoted, on_done, &o, &err));
  assert_int_equal(err.kind, OPS_ERR_CONFIG);
  assert_int_equal(f->fake.count, 3);
  assert_int_equal(o.calls, 0);
}

static void a_session_opens_once_and_carries_its_headers(void **state)
{
  struct fixture *f = *state;
  struct outcome o = {0};
  call(f, &ALICE, "tools/call", "{\"name\":\"aws___list_regions\",\"arguments\":{}}", &o);
  assert_int_equal(f->fake.count, 1);
  struct exchange *init = &f->fake.exchanges[0];
  assert_string_equal(init->method, "POST");
  assert_non_null(strstr(init->body, "\"method\":\"initialize\""));
  assert_non_null(strstr(init->body, "\"id\":1")); /* the first message out */
  assert_non_null(strstr(init->body, "\"protocolVersion\":\"2025-11-25\""));
  assert_non_null(strstr(init->body, "\"clientInfo\":{\"name\":\"opsrun\",\"version\":\"test\"}"));
  assert_null(header(init, "Mcp-Session-Id"));
  assert_string_equal(header(init, "Accept"), "application/json, text/event-stream");
  assert_string_equal(header(init, "Host"), "aws-mcp.us-east-1.api.aws");
  assert_string_equal(header(init, "X-Amz-Security-Token"), "alice-token");
  assert_non_null(strstr(header(init, "Authorization"),
                         "Credential=ASIAALICE/20251124/us-east-1/aws-mcp/aws4_request"));
  open_session(f, 0, "2025-11-25", "s-1");
  assert_int_equal(f->fake.count, 3);
  struct exchange *request = &f->fake.exchanges[2];
  assert_string_equal(header(&f->fake.exchanges[1], "Mcp-Session-Id"), "s-1");
  assert_string_equal(header(request, "Mcp-Session-Id"), "s-1");
  assert_string_equal(header(request, "MCP-Protocol-Version"), "2025-11-25");
  assert_non_null(strstr(request->body, "\"method\":\"tools/call\""));
  assert_non_null(strstr(request->body, "\"id\":2"));
  answer(&f->fake, 2, 200, JSON, "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"content\":[]}}", 0);
  assert_int_equal(o.calls, 1);
  assert_false(o.failed);
  assert_string_equal(o.result, "{\"content\":[]}");

  struct outcome again = {0};
  call(f, &ALICE, "tools/list", NULL, &again); /* the open session is reused */
  assert_int_equal(f->fake.count, 4);
  assert_string_equal(header(&f->fake.exchanges[3], "Mcp-Session-Id"), "s-1");
}

static void requests_made_while_opening_wait_for_the_one_handshake(void **state)
{
  struct fixture *f = *state;
  struct outcome o[3] = {{0}};
  for (int i = 0; i < 3; i++)
    call(f, &ALICE, "tools/list", NULL, &o[i]);
  assert_int_equal(f->fake.count, 1);
  open_session(f, 0, "2025-11-25", "s-1");
  assert_int_equal(f->fake.count, 5);
  for (int i = 0; i < 3; i++)
    assert_non_null(strstr(f->fake.exchanges[2 + i].body, "tools/list"));
}

static void identities_never_share_a_session(void **state)
{
  struct fixture *f = *state;
  struct outcome a = {0}, b = {0};
  call(f, &ALICE, "tools/list", NULL, &a);
  call(f, &BOB, "tools/list", NULL, &b);
  assert_int_equal(f->fake.count, 2); /* two initializes */
  assert_null(header(&f->fake.exchanges[1], "X-Amz-Security-Token"));
  assert_non_null(strstr(header(&f->fake.exchanges[1], "Authorization"), "Credential=AKIABOB/"));
  open_session(f, 0, "2025-11-25", "alice-session"); /* 2: notification, 3: alice's request */
  open_session(f, 1, "2025-11-25", "bob-session");   /* 4: notification, 5: bob's request */
  assert_string_equal(header(&f->fake.exchanges[3], "Mcp-Session-Id"), "alice-session");
  assert_non_null(strstr(header(&f->fake.exchanges[3], "Authorization"), "Credential=ASIAALICE/"));
  assert_string_equal(header(&f->fake.exchanges[5], "Mcp-Session-Id"), "bob-session");
  assert_non_null(strstr(header(&f->fake.exchanges[5], "Authorization"), "Credential=AKIABOB/"));
  assert_int_equal(ops_mcp_client_open_sessions(f->client), 2);
}

static void an_older_protocol_version_is_accepted_an_unknown_one_is_not(void **state)
{
  struct fixture *f = *state;
  struct outcome o = {0};
  call(f, &ALICE, "tools/list", NULL, &o);
  open_session(f, 0, "2025-03-26", "s-1");
  assert_string_equal(header(&f->fake.exchanges[2], "MCP-Protocol-Version"), "2025-03-26");

  struct outcome bad = {0};
  call(f, &BOB, "tools/list", NULL, &bad);
  answer_initialize(f, 3, JSON, "1999-01-01");
  assert_int_equal(bad.calls, 1);
  assert_int_equal(bad.err.kind, OPS_ERR_RPC);
  assert_non_null(strstr(bad.err.message, "protocol version 1999-01-01"));
}

static void event_stream_replies_with_notifications_and_a_ping_in_front(void **state)
{
  struct fixture *f = *state;
  struct outcome o = {0};
  call(f, &ALICE, "tools/call", "{\"name\":\"x\"}", &o);
  open_session(f, 0, "2025-11-25", "s-1");
  const char *stream = "id: e0\ndata:\n\n"
                       ": a comment\n\n"
                       "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/"
                       "progress\",\"params\":{}}\n\n"
                       "data: {\"jsonrpc\":\"2.0\",\"id\":\"srv-1\",\"method\":\"ping\"}\n\n"
                       "id: e3\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\n"
                       "data: \"result\":{\"ok\":true}}\n\n"
                       "data: never read\n\n";
  answer(&f->fake, 2, 200, SSE, stream, 3);
  assert_int_equal(o.calls, 1);
  assert_false(o.failed);
  assert_string_equal(o.result, "{\"ok\":true}");
  assert_int_equal(f->fake.count, 3); /* the ping came inside the data callback: not sent there */
  ops_loop_run_once(f->loop, 100);
  assert_int_equal(f->fake.count, 4); /* our answer to the ping, from the loop */
  assert_string_equal(f->fake.exchanges[3].body,
                      "{\"jsonrpc\":\"2.0\",\"id\":\"srv-1\",\"result\":{}}");
}

static void a_stream_closed_early_is_resumed_with_last_event_id(void **state)
{
  struct fixture *f = *state;
  struct outcome o = {0};
  call(f, &ALICE, "tools/call", "{\"name\":\"slow\"}", &o);
  open_session(f, 0, "2025-11-25", "s-1");
  answer(&f->fake, 2, 200, SSE, "id: ev-7\nretry: 20\ndata:\n\n", 0);
  assert_int_equal(o.calls, 0);
  while (f->fake.count < 4)
    ops_loop_run_once(f->loop, 100);
  struct exchange *resume = &f->fake.exchanges[3];
  assert_string_equal(resume->method, "GET");
  assert_string_equal(header(resume, "Last-Event-ID"), "ev-7");
  assert_string_equal(header(resume, "Accept"), "text/event-stream");
  assert_string_equal(header(resume, "Mcp-Session-Id"), "s-1");
  answer(&f->fake, 3, 200, SSE, "id: ev-8\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}\n\n",
         0);
  assert_int_equal(o.calls, 1);
  assert_false(o.failed);
}

static void an_expired_session_is_opened_again_once(void **state)
{
  struct fixture *f = *state;
  struct outcome o = {0};
  call(f, &ALICE, "tools/call", "{\"name\":\"x\"}", &o);
  open_session(f, 0, "2025-11-25", "old");
  answer(&f->fake, 2, 404, JSON, "{\"error\":\"session not found\"}", 0);
  assert_int_equal(o.calls, 0);
  assert_null(header(&f->fake.exchanges[3], "Mcp-Session-Id")); /* a new initialize */
  open_session(f, 3, "2025-11-25", "new");
  assert_string_equal(header(&f->fake.exchanges[5], "Mcp-Session-Id"), "new");
  answer(&f->fake, 5, 404, JSON, "{}", 0); /* expired again at once: give up */
  assert_int_equal(o.calls, 1);
  assert_int_equal(o.err.kind, OPS_ERR_RPC);
  assert_int_equal(o.err.http_status, 404);
}

/* The hosted AWS MCP Server's words for an expired or unknown session (%s: the id). */
#define SESSION_GONE                                                                               \
  "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":null,\"error\":{\"code\":-30001,\"message\":\"The "   \
  "provided SessionId was not found or has expired, please re-initialize\"}}"

static void a_session_gone_in_hosted_words_is_opened_again_at_any_status(void **state)
{
  struct fixture *f = *state;
  const struct {
    long status;
    bool stream; /* an event stream names the request; AWS's JSON error bodies say "id": "" */
    const char *headers, *format;
  } answers[] = {
      {200, false, JSON, SESSION_GONE},
      {400, false, JSON, SESSION_GONE},
      {404, false, JSON, SESSION_GONE},
      {200, true, SSE, "id: e-1\ndata: " SESSION_GONE "\n\n"},
  };
  struct outcome opened = {0};
  call(f, &ALICE, "tools/list", NULL, &opened);
  open_session(f, 0, "2025-11-25", "s-0");
  answer_ok(f, 2);
  for (size_t i = 0; i < sizeof(answers) / sizeof(*answers); i++) {
    struct outcome o = {0};
    int sent = f->fake.count;
    call(f, &ALICE, "tools/call", "{\"name\":\"x\"}", &o);
    char id[16], body[512], session_id[8];
    snprintf(id, sizeof(id), answers[i].stream ? "%d" : "\"\"", sent_id(f, sent));
    snprintf(body, sizeof(body), answers[i].format, id);
    answer(&f->fake, sent, answers[i].status, answers[i].headers, body, 0);
    assert_int_equal(o.calls, 0);
    assert_null(header(&f->fake.exchanges[sent + 1], "Mcp-Session-Id")); /* a new initialize */
    snprintf(session_id, sizeof(session_id), "s-%zu", i + 1);
    open_session(f, sent + 1, "2025-11-25", session_id);
    struct exchange *again = &f->fake.exchanges[sent + 3];
    assert_string_equal(header(again, "Mcp-Session-Id"), session_id);
    assert_non_null(strstr(again->body, "\"tools/call\""));
    answer_ok(f, sent + 3);
    assert_int_equal(o.calls, 1);
    assert_false(o.failed);
  }
}

static void requests_in_flight_when_a_session_goes_share_one_new_session(void **state)
{
  struct fixture *f = *state;
  struct outcome a = {0}, b = {0};
  call(f, &ALICE, "tools/call", "{\"name\":\"a\"}", &a);
  call(f, &ALICE, "tools/call", "{\"name\":\"b\"}", &b);
  open_session(f, 0, "2025-11-25", "old"); /* a and b go out as exchanges 2 and 3 */
  char gone[512];
  snprintf(gone, sizeof(gone), SESSION_GONE, "\"\"");
  answer(&f->fake, 2, 200, JSON, gone, 0);
  answer(&f->fake, 3, 400, JSON, gone, 0);
  assert_int_equal(f->fake.count, 5); /* one initialize only, both waiting for it */
  open_session(f, 4, "2025-11-25", "new");
  assert_int_equal(f->fake.count, 8);
  assert_string_equal(header(&f->fake.exchanges[6], "Mcp-Session-Id"), "new");
  assert_string_equal(header(&f->fake.exchanges[7], "Mcp-Session-Id"), "new");
  answer_ok(f, 6);
  answer_ok(f, 7);
  assert_false(a.failed || b.failed);
  assert_int_equal(a.calls + b.calls, 2);
}

static void each_identity_is_paced_apart(void **state)
{
  struct fixture *f = *state;
  struct outcome a = {0}, b = {0};
  call(f, &ALICE, "tools/list", NULL, &a);
  call(f, &BOB, "tools/list", NULL, &b);
  assert_int_equal(f->fake.count, 2); /* both initialize at once: one quota each */
  char reply[256];
  snprintf(reply, sizeof(reply),
           "{\"jsonrpc\":\"2.0\",\"id\":%d,\"result\":{\"protocolVersion\":\"2025-11-25\","
           "\"capabilities\":{},\"serverInfo\":{\"name\":\"sim\",\"version\":\"1\"}}}",
           sent_id(f, 0));
  answer(&f->fake, 0, 200, JSON "Mcp-Session-Id: s-a\n", reply, 0);
  assert_int_equal(f->fake.count, 2); /* Alice's next request waits for her next second */
}

static void a_server_that_takes_task_tool_calls_is_known_per_session(void **state)
{
  struct fixture *f = *state;
  struct outcome o = {0};
  call(f, &ALICE, "tools/list", NULL, &o);
  assert_false(ops_mcp_client_offers_task_tools(f->client, &ALICE)); /* no session yet */
  answer(&f->fake, 0, 200, JSON "Mcp-Session-Id: s-1\n",
         "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"2025-11-25\","
         "\"capabilities\":{\"tasks\":{\"requests\":{\"tools\":{\"call\":{}}}}},"
         "\"serverInfo\":{\"name\":\"sim\",\"version\":\"1\"}}}",
         0);
  answer(&f->fake, 1, 202, "", "", 0);
  assert_true(ops_mcp_client_offers_task_tools(f->client, &ALICE));
  assert_false(ops_mcp_client_offers_task_tools(f->client, &BOB));
}

/* The hosted server's JSON-RPC answer to expired credentials (mcp-proxy-for-aws PR #95). */
#define TOKEN_EXPIRED_MESSAGE                                                                      \
  "Your AWS session token has expired. Please refresh your credentials and try again."
#define TOKEN_EXPIRED "{\"code\":-32001,\"message\":\"" TOKEN_EXPIRED_MESSAGE "\"}"

static void http_failures_map_to_error_kinds_with_aws_words_kept(void **state)
{
  struct fixture *f = *state;
  struct {
    long status;
    const char *headers, *body;
    enum ops_err kind;
    const char *code, *message;
    bool retryable;
  } cases[] = {
      {403, JSON "x-amzn-ErrorType: InvalidSignatureException:http://internal.amazon.com/\n",
       "{\"message\":\"The request signature we calculated does not match the signature you "
       "provided.\"}",
       OPS_ERR_CREDENTIALS, "InvalidSignatureException",
       "aws-mcp.us-east-1.api.aws refused the request (HTTP 403): The request signature we "
       "calculated does not match the signature you provided.",
       false},
      {401, JSON, "{\"Message\":\"Missing Authentication Token\"}", OPS_ERR_CREDENTIALS, "",
       "aws-mcp.us-east-1.api.aws refused the request (HTTP 401): Missing Authentication Token",
       false},
      {429, JSON, "{\"message\":\"Rate exceeded\"}", OPS_ERR_THROTTLED, "TooManyRequests",
       "aws-mcp.us-east-1.api.aws is throttling requests (HTTP 429): Rate exceeded", true},
      {503, "Content-Type: text/plain\n", "Service Unavailable", OPS_ERR_TRANSPORT, "",
       "aws-mcp.us-east-1.api.aws failed (HTTP 503): Service Unavailable", true},
      {200, JSON,
       "{\"jsonrpc\":\"2.0\",\"id\":\"\",\"result\":null,\"error\":{\"code\":-32602,\"message\":"
       "\"Unknown tool: nope\"}}",
       OPS_ERR_RPC, "-32602", "tools/call failed: Unknown tool: nope", false},
      {200, JSON, "{\"jsonrpc\":\"2.0\",\"id\":\"\",\"result\":null,\"error\":" TOKEN_EXPIRED "}",
       OPS_ERR_CREDENTIALS, "ExpiredTokenException",
       "aws-mcp.us-east-1.api.aws refused the request: " TOKEN_EXPIRED_MESSAGE, false},
      {401, JSON, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":" TOKEN_EXPIRED "}",
       OPS_ERR_CREDENTIALS, "ExpiredTokenException",
       "aws-mcp.us-east-1.api.aws refused the request (HTTP 401): " TOKEN_EXPIRED_MESSAGE, false},
  };
  struct outcome opened = {0};
  call(f, &ALICE, "tools/list", NULL, &opened);
  open_session(f, 0, "2025-11-25", "s-1");
  answer_ok(f, 2);
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    struct outcome o = {0};
    call(f, &ALICE, "tools/call", "{\"name\":\"nope\"}", &o);
    answer(&f->fake, f->fake.count - 1, cases[i].status, cases[i].headers, cases[i].body, 0);
    if (strcmp(cases[i].code, "ExpiredTokenException") == 0) /* sent once more, refused again */
      answer(&f->fake, f->fake.count - 1, cases[i].status, cases[i].headers, cases[i].body, 0);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.err.kind, cases[i].kind);
    assert_string_equal(o.err.code, cases[i].code);
    assert_string_equal(o.err.message, cases[i].message);
    assert_int_equal(o.err.retryable, cases[i].retryable);
  }
}

/* OPSRUN_MCP_SIGNING_NAME and OPSRUN_MCP_SIGNING_REGION, as a test environment: "NAME=REGION". */
static const char *signing_env(void *self, const char *name)
{
  static char service[64];
  const char *setting = self;
  const char *equals = strchr(setting, '=');
  if (strcmp(name, "OPSRUN_MCP_SIGNING_REGION") == 0)
    return equals + 1;
  if (strcmp(name, "OPSRUN_MCP_SIGNING_NAME") != 0)
    return NULL;
  snprintf(service, sizeof(service), "%.*s", (int)(equals - setting), setting);
  return service;
}

/* The signing scope: a host SERVICE.REGION.api.aws names it; else the environment, else aws-mcp
 * and the operating region (eu-west-1 here). A server refusing the region of a URL that does not
 * name it gets advice on what to set. */
static void the_signing_scope_comes_from_the_host_else_the_environment(void **state)
{
  struct fixture *f = *state;
  static const struct {
    const char *url, *env, *scope, *advice;
  } cases[] = {
      {"https://aws-mcp.us-east-1.api.aws/mcp", "=", "us-east-1/aws-mcp", NULL},
      {"https://aws-mcp.us-east-1.api.aws/mcp", "other=ap-south-1", "us-east-1/aws-mcp", NULL},
      {"https://mcp.example.com/mcp", "=", "eu-west-1/aws-mcp",
       "(it was signed for eu-west-1, the operating region: --region, AWS_REGION)"},
      {"https://mcp.example.com/mcp", "other=ap-south-1", "ap-south-1/other",
       "(it was signed for ap-south-1, from OPSRUN_MCP_SIGNING_REGION)"},
      {"https://x.notaregion.api.aws/mcp", "=", "eu-west-1/aws-mcp",
       "(it was signed for eu-west-1, the operating region: --region, AWS_REGION)"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    struct ops_mcp_options options = {
        .url = cases[i].url,
        .env = {.get = signing_env, .self = (void *)cases[i].env},
        .region = "eu-west-1",
        .transport = {.start = fake_start, .cancel = fake_cancel, .self = &f->fake},
        .clock = {.now = fixed_now},
        .loop = f->loop,
        .signer = f->signer,
        .retry = f->retry};
    struct ops_mcp_client *client = NULL;
    assert_int_equal(ops_mcp_client_new(&client, &options, NULL), OPS_OK);
    struct ops_mcp_request request = {.credentials = f->alice, .method = "tools/list"};
    struct outcome o = {0};
    assert_non_null(ops_mcp_call_start(client, &request, on_done, &o, NULL));
    struct exchange *init = &f->fake.exchanges[f->fake.count - 1];
    char credential[128];
    snprintf(credential, sizeof(credential), "Credential=ASIAALICE/20251124/%s/aws4_request",
             cases[i].scope);
    assert_non_null(strstr(header(init, "Authorization"), credential));
    answer(&f->fake, f->fake.count - 1, 403, JSON,
           "{\"message\":\"Credential should be scoped to a valid region, not 'x'. \"}", 0);
    assert_int_equal(o.err.kind, OPS_ERR_CREDENTIALS);
    if (cases[i].advice)
      assert_non_null(strstr(o.err.message, "not 'x'. — set OPSRUN_MCP_SIGNING_REGION to the "
                                            "region of the MCP endpoint "));
    assert_true(cases[i].advice ? strstr(o.err.message, cases[i].advice) != NULL
                                : strstr(o.err.message, "OPSRUN_MCP_SIGNING_REGION") == NULL);
    ops_mcp_client_free(client);
  }
  struct ops_mcp_options refused = {.url = "https://aws-mcp.us-east-1.api.aws/mcp",
                                    .env = {.get = signing_env, .self = (void *)"=mars-1"},
                                    .region = "eu-west-1",
                                    .loop = f->loop,
                                    .signer = f->signer,
                                    .retry = f->retry};
  struct ops_mcp_client *client = NULL;
  struct ops_error err = {0};
  assert_int_equal(ops_mcp_client_new(&client, &refused, &err), OPS_ERR_CONFIG);
  assert_non_null(strstr(err.message, "OPSRUN_MCP_SIGNING_REGION"));
}

static void a_failed_handshake_fails_every_waiting_request(void **state)
{
  struct fixture *f = *state;
  struct outcome a = {0}, b = {0};
  call(f, &ALICE, "tools/list", NULL, &a);
  call(f, &ALICE, "tools/list", NULL, &b);
  answer(&f->fake, 0, 403, JSON,
         "{\"message\":\"The security token included in the request is "
         "expired\"}",
         0);
  assert_int_equal(a.calls + b.calls, 2);
  assert_int_equal(b.err.kind, OPS_ERR_CREDENTIALS);
  assert_non_null(strstr(b.err.message, "is expired"));
  struct outcome later = {0};
  call(f, &ALICE, "tools/list", NULL, &later); /* the next request tries again */
  assert_non_null(strstr(f->fake.exchanges[1].body, "initialize"));
}

static void a_cancelled_call_never_calls_back(void **state)
{
  struct fixture *f = *state;
  struct outcome queued = {0}, sent = {0};
  struct ops_mcp_call *waiting = call(f, &ALICE, "tools/list", NULL, &queued);
  ops_mcp_call_cancel(waiting); /* still waiting for the handshake */
  call(f, &ALICE, "tools/list", NULL, &sent);
  open_session(f, 0, "2025-11-25", "s-1");
  assert_int_equal(f->fake.count, 3);
  struct ops_mcp_call *in_flight = call(f, &ALICE, "tools/call", "{}", &queued);
  ops_mcp_call_cancel(in_flight);
  assert_true(f->fake.exchanges[3].cancelled);
  assert_int_equal(queued.calls, 0);
}

/* A request that ends inside ops_mcp_call_start (the transport refusing its exchange, or its
 * session's opening) is not handed out: start returns NULL with the error, and no callback ever
 * runs (a caller keeping the call would hold a freed one). */
static void a_request_refused_at_start_is_not_handed_out(void **state)
{
  struct fixture *f = *state;
  struct outcome opened = {0}, o = {0};
  call(f, &ALICE, "tools/list", NULL, &opened);
  open_session(f, 0, "2025-11-25", "s-1");
  answer_ok(f, 2);
  f->fake.refusing = true;
  const struct ops_sigv4_credentials *const who[] = {&ALICE, &BOB}; /* in its session; a new one */
  for (size_t i = 0; i < 2; i++) {
    struct ops_mcp_request request = {.credentials = provider_of(f, who[i]),
                                      .method = "tools/list"};
    struct ops_error err = {0};
    assert_null(ops_mcp_call_start(f->client, &request, on_done, &o, &err));
    assert_int_equal(err.kind, OPS_ERR_NOMEM);
    assert_non_null(strstr(err.message, "out of memory starting POST"));
  }
  ops_loop_run_once(f->loop, 0);
  assert_int_equal(o.calls, 0);
  assert_int_equal(opened.calls, 1);
  assert_int_equal(ops_mcp_client_open_sessions(f->client), 1);
}

/* A request whose provider can give no credentials ends with the provider's error as it is, said
 * to be the provider's (the caller words it as its identity's): no server is asked. */
static void a_provider_failure_ends_the_request_as_the_providers(void **state)
{
  struct fixture *f = *state;
  struct fake_source source = {0};
  struct ops_credentials_context context = {.loop = f->loop};
  struct ops_credentials_provider *provider = fake_source_provider(&context, &source);
  struct outcome o = {0};
  provider_call(f, provider, "role-a", "tools/list", NULL, &o);
  fake_source_fail(&source, OPS_ERR_DENIED, "AssumeRole: AccessDenied");
  assert_int_equal(o.calls, 1);
  assert_true(o.failed && o.from_provider);
  assert_int_equal(o.err.kind, OPS_ERR_DENIED);
  assert_string_equal(o.err.message, "AssumeRole: AccessDenied");
  assert_int_equal(f->fake.count, 0);
  struct outcome answered = {0}; /* a server's error is not */
  call(f, &ALICE, "tools/list", NULL, &answered);
  answer(&f->fake, 0, 403, JSON, "{\"message\":\"denied\"}", 0);
  assert_true(answered.failed && !answered.from_provider);
  ops_credentials_provider_free(provider);
}

static void count_close(void *ud)
{
  ++*(int *)ud;
}

/* Exchange i is the DELETE of `session_id`, signed with the key `access_key_id`. */
static void assert_delete(struct fixture *f, int i, const char *session_id,
                          const char *access_key_id)
{
  assert_true(i < f->fake.count);
  const struct exchange *x = &f->fake.exchanges[i];
  assert_string_equal(x->method, "DELETE");
  assert_string_equal(header(x, "Mcp-Session-Id"), session_id);
  char credential[64];
  snprintf(credential, sizeof(credential), "Credential=%s/", access_key_id);
  assert_non_null(strstr(header(x, "Authorization"), credential));
}

/* The fixture's client closes one session at a time (close_concurrency 0), each once its
 * request in flight has ended. */
static void closing_deletes_each_named_session_within_the_concurrency(void **state)
{
  struct fixture *f = *state;
  struct outcome a = {0}, b = {0};
  call(f, &ALICE, "tools/list", NULL, &a);
  call(f, &BOB, "tools/list", NULL, &b);
  open_session(f, 0, "2025-11-25", "alice-session"); /* exchanges 2 and 3: its tools/list */
  open_session(f, 1, "2025-11-25", "bob-session");   /* 4 and 5 */
  int closed = 0;
  ops_mcp_client_close(f->client, 0, count_close, &closed);
  assert_int_equal(f->fake.count, 6); /* nothing while the requests run */
  answer_ok(f, 3);
  assert_delete(f, 6, "alice-session", "ASIAALICE");
  answer_ok(f, 5);
  assert_int_equal(f->fake.count, 7); /* Bob's waits for a place */
  answer(&f->fake, 6, 200, "", "", 0);
  assert_delete(f, 7, "bob-session", "AKIABOB");
  assert_int_equal(closed, 0);
  answer(&f->fake, 7, 200, "", "", 0);
  assert_int_equal(closed, 1);
  assert_int_equal(ops_mcp_client_open_sessions(f->client), 0);
}

/* A session still opening when the client closes within a time (after an interrupt) is closed
 * once open; without a limit its handshake is cancelled instead of waited for. */
static void a_session_opening_at_close_is_closed_once_open_within_a_limit(void **state)
{
  struct fixture *f = *state;
  struct outcome o = {0};
  struct ops_mcp_call *abandoned = call(f, &ALICE, "tools/list", NULL, &o);
  ops_mcp_call_cancel(abandoned); /* as an interrupted task's; its initialize goes on */
  int closed = 0;
  ops_mcp_client_close(f->client, 1000, count_close, &closed);
  assert_int_equal(closed, 0);
  open_session(f, 0, "2025-11-25", "late");
  assert_delete(f, 2, "late", "ASIAALICE");
  answer(&f->fake, 2, 200, "", "", 0);
  assert_int_equal(closed, 1);
}

static void a_session_opening_at_close_without_a_limit_is_not_waited_for(void **state)
{
  struct fixture *f = *state;
  struct outcome o = {0};
  ops_mcp_call_cancel(call(f, &ALICE, "tools/list", NULL, &o));
  int closed = 0;
  ops_mcp_client_close(f->client, 0, count_close, &closed);
  assert_int_equal(closed, 1);
  assert_true(f->fake.exchanges[0].cancelled);
  assert_int_equal(f->fake.count, 1);
}

/* New credentials of the same owner: the old session takes no more requests and is closed when
 * its last one ends, signed with the old credentials; other owners are not touched. */
static void new_credentials_of_an_owner_close_its_old_session_after_its_last_request(void **state)
{
  struct fixture *f = *state;
  struct outcome first = {0}, slow = {0}, renewed = {0}, bob = {0};
  owned_call(f, &ALICE, "role-a", "tools/list", NULL, &first);
  open_session(f, 0, "2025-11-25", "old"); /* exchanges 1, then 2: the tools/list */
  answer_ok(f, 2);
  owned_call(f, &BOB, "base", "tools/list", NULL, &bob);                 /* 3: Bob's initialize */
  owned_call(f, &ALICE, "role-a", "tools/call", "{}", &slow);            /* 4 */
  owned_call(f, &ALICE_RENEWED, "role-a", "tools/list", NULL, &renewed); /* 5: a new session */
  assert_int_equal(f->fake.count, 6);
  assert_null(header(&f->fake.exchanges[5], "Mcp-Session-Id"));
  answer_ok(f, 4);
  assert_int_equal(slow.calls, 1);
  assert_delete(f, 6, "old", "ASIAALICE");
  answer(&f->fake, 6, 200, "", "", 0);
  open_session(f, 5, "2025-11-25", "new"); /* 7, then 8: the renewed tools/list */
  assert_string_equal(header(&f->fake.exchanges[8], "Mcp-Session-Id"), "new");
  assert_int_equal(f->fake.count, 9);
}

/* An owner whose work is done: its session takes no more requests and is DELETEd once its last
 * one ends, while other owners go on; its next request opens a new session; the close at exit
 * DELETEs only what is still open (never the same session twice); an unknown owner is a no-op. */
static void closing_an_owner_deletes_its_session_after_its_last_request(void **state)
{
  struct fixture *f = *state;
  struct outcome first = {0}, last = {0}, bob = {0}, later = {0};
  owned_call(f, &ALICE, "role-a", "tools/list", NULL, &first);
  open_session(f, 0, "2025-11-25", "alice-1"); /* exchanges 1, then 2: the tools/list */
  answer_ok(f, 2);
  owned_call(f, &BOB, "role-b", "tools/list", NULL, &bob);    /* 3: Bob's initialize */
  owned_call(f, &ALICE, "role-a", "tools/call", "{}", &last); /* 4 */
  ops_mcp_client_close_owner(f->client, "role-a");
  ops_mcp_client_close_owner(f->client, "role-a"); /* twice: no second DELETE */
  ops_mcp_client_close_owner(f->client, "nobody");
  assert_int_equal(f->fake.count, 5); /* nothing while its request runs */
  answer_ok(f, 4);
  assert_int_equal(last.calls, 1);
  assert_delete(f, 5, "alice-1", "ASIAALICE");
  answer(&f->fake, 5, 200, "", "", 0);
  assert_int_equal(f->fake.count, 6);
  owned_call(f, &ALICE, "role-a", "tools/list", NULL, &later); /* 6: a new session */
  assert_null(header(&f->fake.exchanges[6], "Mcp-Session-Id"));
  open_session(f, 6, "2025-11-25", "alice-2"); /* 7, then 8: the tools/list */
  answer_ok(f, 8);
  open_session(f, 3, "2025-11-25", "bob-1"); /* 9, then 10: Bob's tools/list */
  answer_ok(f, 10);
  int closed = 0;
  ops_mcp_client_close(f->client, 0, count_close, &closed);
  assert_delete(f, 11, "alice-2", "ASIAALICE"); /* the newest first, one at a time */
  answer(&f->fake, 11, 200, "", "", 0);
  assert_delete(f, 12, "bob-1", "AKIABOB");
  answer(&f->fake, 12, 200, "", "", 0);
  assert_int_equal(closed, 1);
  assert_int_equal(f->fake.count, 13);
}

/* A DELETE waiting for its session's request quota (spent by the session's last requests) holds
 * no place among close_concurrency (1 here): the DELETE of a session whose quota is free goes
 * first, and the waiting one follows once its quota lets it. */
static void a_delete_waiting_for_its_quota_holds_no_place(void **state)
{
  struct fixture *f = *state;
  struct outcome bob = {0}, alice = {0};
  owned_call(f, &BOB, "role-b", "tools/list", NULL, &bob);
  open_session(f, 0, "2025-11-25", "bob-1"); /* exchanges 1, then 2: 3 requests at once */
  answer_ok(f, 2);
  uint64_t start = ops_loop_now_ms();
  while (ops_loop_now_ms() - start < 1100) /* Bob's quota is free again */
    ops_loop_run_once(f->loop, 50);
  owned_call(f, &ALICE, "role-a", "tools/list", NULL, &alice);
  open_session(f, 3, "2025-11-25", "alice-1"); /* 4, then 5: Alice's quota is spent */
  answer_ok(f, 5);
  ops_mcp_client_close_owner(f->client, "role-a");
  ops_mcp_client_close_owner(f->client, "role-b");
  assert_delete(f, 6, "bob-1", "AKIABOB");
  answer(&f->fake, 6, 200, "", "", 0);
  assert_int_equal(f->fake.count, 7);
  for (int i = 0; i < 150 && f->fake.count < 8; i++)
    ops_loop_run_once(f->loop, 10);
  assert_delete(f, 7, "alice-1", "ASIAALICE");
}

/* Credentials the server refused as expired cannot close their session: the new ones of the
 * same owner do, at once. */
static void a_session_of_expired_credentials_is_closed_with_the_new_ones(void **state)
{
  struct fixture *f = *state;
  struct outcome expired = {0}, renewed = {0};
  owned_call(f, &ALICE, "role-a", "tools/list", NULL, &expired);
  open_session(f, 0, "2025-11-25", "old");
  for (int i = 2; i <= 3; i++) /* sent once more, with what the provider holds: refused again */
    answer(&f->fake, i, 403, JSON "x-amzn-ErrorType: ExpiredTokenException\n",
           "{\"message\":\"The security token included in the request is expired\"}", 0);
  assert_true(expired.failed);
  owned_call(f, &ALICE_RENEWED, "role-a", "tools/list", NULL, &renewed);
  assert_delete(f, 4, "old", "ASIAALICE2");
}

/* ... and when they expire while its last request runs, after they were replaced. */
static void
a_session_whose_last_request_found_its_credentials_expired_is_closed_with_the_new(void **state)
{
  struct fixture *f = *state;
  struct outcome last = {0}, renewed = {0};
  provider_call(f, f->alice_renewing, "role-a", "tools/list", NULL, &last);
  open_session(f, 0, "2025-11-25", "old"); /* 2: the tools/list, in flight */
  owned_call(f, &ALICE_RENEWED, "role-a", "tools/list", NULL, &renewed); /* 3 */
  answer(&f->fake, 2, 200, JSON,
         "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-32001,\"message\":\"Your AWS "
         "session token has expired. Please refresh your credentials and try again.\"}}",
         0);
  assert_int_equal(last.calls, 0); /* it waits for the new session, to be sent once more */
  assert_delete(f, 4, "old", "ASIAALICE2");
}

/* A request refused for expired credentials, even a tools/call, tells its provider which key
 * was refused and is sent once more, with the credentials the provider holds then; a second
 * refusal is the request's error. */
static void a_request_refused_as_expired_is_sent_once_more_with_new_credentials(void **state)
{
  struct fixture *f = *state;
  struct outcome o = {0};
  provider_call(f, f->alice_renewing, NULL, "tools/call", "{\"name\":\"x\"}", &o);
  open_session(f, 0, "2025-11-25", "s-1");
  answer(&f->fake, 2, 200, JSON,
         "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-32001,\"message\":\"Your AWS "
         "session token has expired. Please refresh your credentials and try again.\"}}",
         0);
  assert_int_equal(o.calls, 0);
  struct held *held = ops_credentials_provider_impl(f->alice_renewing);
  assert_string_equal(held->refused, "ASIAALICE");
  open_session(f, 3, "2025-11-25", "s-2"); /* the new key's session: 3, 4, then the request, 5 */
  struct exchange *again = &f->fake.exchanges[5];
  assert_non_null(strstr(again->body, "\"method\":\"tools/call\""));
  assert_non_null(strstr(header(again, "Authorization"), "Credential=ASIAALICE2/"));
  answer(&f->fake, 5, 403, JSON "x-amzn-ErrorType: ExpiredTokenException\n",
         "{\"message\":\"The security token included in the request is expired\"}", 0);
  assert_int_equal(o.calls, 1);
  assert_int_equal(o.err.kind, OPS_ERR_CREDENTIALS);
  assert_string_equal(o.err.code, "ExpiredTokenException");
  assert_string_equal(held->refused, "ASIAALICE2");
  assert_int_equal(f->fake.count, 6);
}

/* Closing within a time: DELETEs still unanswered then, or still waiting for a place, are
 * abandoned. */
static void a_close_given_a_time_ends_within_it(void **state)
{
  struct fixture *f = *state;
  struct outcome a = {0}, b = {0};
  call(f, &ALICE, "tools/list", NULL, &a);
  call(f, &BOB, "tools/list", NULL, &b);
  open_session(f, 0, "2025-11-25", "alice-session"); /* exchanges 2 and 3: its tools/list */
  open_session(f, 1, "2025-11-25", "bob-session");   /* 4 and 5 */
  answer_ok(f, 3);
  answer_ok(f, 5);
  int closed = 0;
  uint64_t start = ops_loop_now_ms();
  ops_mcp_client_close(f->client, 30, count_close, &closed);
  assert_int_equal(f->fake.count, 7); /* one DELETE at a time: the other waits */
  assert_string_equal(f->fake.exchanges[6].method, "DELETE");
  for (int i = 0; i < 100 && !closed; i++)
    ops_loop_run_once(f->loop, 10);
  assert_int_equal(closed, 1);
  assert_true(ops_loop_now_ms() - start < 200);
  assert_true(f->fake.exchanges[6].cancelled);
  assert_int_equal(f->fake.count, 7); /* the waiting one was never sent */
}

/* ------------------------------------------------------------------ sending again */

/* Runs the loop (the backoff timers) until the client has started `count` exchanges. */
static void wait_for_exchanges(struct fixture *f, int count)
{
  for (int i = 0; i < 200 && f->fake.count < count; i++)
    ops_loop_run_once(f->loop, 10);
  assert_int_equal(f->fake.count, count);
}

/* Runs the loop a while: nothing due may start an exchange. */
static void expect_no_more_exchanges(struct fixture *f)
{
  int count = f->fake.count;
  for (int i = 0; i < 5; i++)
    ops_loop_run_once(f->loop, 5);
  assert_int_equal(f->fake.count, count);
}

/* A session for ALICE with one tools/list done: exchanges 0-2. */
static void with_open_session(struct fixture *f)
{
  struct outcome opened = {0};
  call(f, &ALICE, "tools/list", NULL, &opened);
  open_session(f, 0, "2025-11-25", "s-1");
  answer(&f->fake, 2, 200, JSON, "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}", 0);
  assert_int_equal(opened.calls, 1);
}

static void a_throttled_tools_call_is_sent_again_after_the_wait_asked_for(void **state)
{
  struct fixture *f = *state;
  with_open_session(f);
  struct outcome o = {0};
  call(f, &ALICE, "tools/call", "{\"name\":\"aws___list_regions\"}", &o);
  answer(&f->fake, 3, 429, JSON "x-amzn-ErrorType: ThrottlingException\nx-amz-retry-after: 60\n",
         "{\"message\":\"Rate exceeded\"}", 0);
  assert_int_equal(o.calls, 0);
  uint64_t start = ops_loop_now_ms();
  ops_loop_run_once(f->loop, 0);
  assert_int_equal(f->fake.count, 4); /* not before the 60 ms the server asked for */
  wait_for_exchanges(f, 5);
  assert_true(ops_loop_now_ms() - start >= 55);
  struct exchange *again = &f->fake.exchanges[4];
  assert_non_null(strstr(again->body, "\"method\":\"tools/call\""));
  assert_non_null(strstr(again->body, "\"id\":4")); /* a new message: the next id */
  assert_string_equal(header(again, "Mcp-Session-Id"), "s-1");
  answer(&f->fake, 4, 200, JSON, "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{\"content\":[]}}", 0);
  assert_int_equal(o.calls, 1);
  assert_false(o.failed);
  assert_string_equal(o.result, "{\"content\":[]}");
  /* the retry's cost came back to Alice's quota */
  assert_int_equal(ops_retry_quota_left(ops_mcp_client_retry(f->client, &ALICE)), 500);
}

static void a_tools_call_is_sent_again_after_a_503_or_a_refused_connection(void **state)
{
  struct fixture *f = *state;
  with_open_session(f);
  struct outcome o = {0};
  call(f, &ALICE, "tools/call", "{\"name\":\"x\"}", &o);
  answer(&f->fake, 3, 503, JSON, "{\"message\":\"Service unavailable\"}", 0);
  wait_for_exchanges(f, 5);
  fail_exchange(&f->fake, 4, OPS_ERR_TRANSPORT, OPS_TRANSPORT_CONNECT);
  wait_for_exchanges(f, 6);
  answer(&f->fake, 5, 200, JSON, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}}", 0);
  assert_int_equal(o.calls, 1);
  assert_false(o.failed);
}

static void a_tools_call_that_may_have_run_is_never_sent_again(void **state)
{
  struct fixture *f = *state;
  with_open_session(f);
  struct outcome failed_500 = {0}, timed_out = {0}, cut_short = {0};
  call(f, &ALICE, "tools/call", "{\"name\":\"x\"}", &failed_500);
  answer(&f->fake, 3, 500, JSON "x-amzn-ErrorType: InternalServerException\n",
         "{\"message\":\"Internal server error\"}", 0);
  assert_int_equal(failed_500.calls, 1);
  assert_int_equal(failed_500.err.http_status, 500);
  assert_string_equal(failed_500.err.message,
                      "aws-mcp.us-east-1.api.aws failed (HTTP 500): Internal server error");
  assert_false(failed_500.err.retryable); /* nor by a sweep's retries */

  call(f, &ALICE, "tools/call", "{\"name\":\"x\"}", &timed_out);
  fail_exchange(&f->fake, 4, OPS_ERR_TIMEOUT, OPS_TRANSPORT_TIMEOUT);
  assert_int_equal(timed_out.calls, 1);
  assert_int_equal(timed_out.err.kind, OPS_ERR_TIMEOUT);
  assert_false(timed_out.err.retryable);

  call(f, &ALICE, "tools/call", "{\"name\":\"x\"}", &cut_short); /* the answer had begun */
  answer(&f->fake, 5, 200, SSE,
         "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n", 0);
  assert_int_equal(cut_short.calls, 1);
  assert_int_equal(cut_short.err.kind, OPS_ERR_TRANSPORT);
  expect_no_more_exchanges(f);
  assert_int_equal(f->fake.count, 6);
}

static void other_requests_are_sent_again_on_5xx_until_the_attempts_run_out(void **state)
{
  struct fixture *f = *state;
  with_open_session(f);
  struct outcome o = {0};
  call(f, &ALICE, "tools/list", NULL, &o);
  answer(&f->fake, 3, 503, JSON, "{\"message\":\"Service unavailable\"}", 0);
  wait_for_exchanges(f, 5);
  assert_non_null(strstr(f->fake.exchanges[4].body, "tools/list"));
  answer(&f->fake, 4, 500, JSON, "{\"message\":\"Internal server error\"}", 0);
  wait_for_exchanges(f, 6);
  answer(&f->fake, 5, 503, JSON, "{\"message\":\"Service unavailable\"}", 0);
  assert_int_equal(o.calls, 1); /* three attempts: no more */
  assert_int_equal(o.err.http_status, 503);
  assert_string_equal(o.err.message, "aws-mcp.us-east-1.api.aws failed (HTTP 503): Service "
                                     "unavailable (after 3 attempts)");
  expect_no_more_exchanges(f);
  /* two retries, no success */
  assert_int_equal(ops_retry_quota_left(ops_mcp_client_retry(f->client, &ALICE)), 490);
}

/* Each identity has its own retry quota, as each SDK client has: Alice spending hers leaves
 * Bob's whole. Connection failures cost 10 of the 500. */
static void one_identity_spending_its_retry_quota_leaves_the_others_whole(void **state)
{
  struct fixture *f = *state;
  with_open_session(f);
  struct outcome spent = {0}, refused = {0}, bob = {0};
  call(f, &ALICE, "tools/list", NULL, &spent);
  for (int attempt = 0; attempt < 50; attempt++) { /* 49 retries: 490 of the 500 */
    wait_for_exchanges(f, 4 + attempt);
    fail_exchange(&f->fake, 3 + attempt, OPS_ERR_TRANSPORT, OPS_TRANSPORT_CONNECT);
  }
  assert_int_equal(spent.calls, 1);
  assert_string_equal(spent.err.message,
                      "POST https://aws-mcp.us-east-1.api.aws/mcp: it failed (after 50 attempts)");
  call(f, &ALICE, "tools/list", NULL, &refused);
  fail_exchange(&f->fake, 53, OPS_ERR_TRANSPORT, OPS_TRANSPORT_CONNECT);
  wait_for_exchanges(f, 55); /* the last 10 */
  fail_exchange(&f->fake, 54, OPS_ERR_TRANSPORT, OPS_TRANSPORT_CONNECT);
  assert_int_equal(refused.calls, 1);
  assert_string_equal(refused.err.message, "POST https://aws-mcp.us-east-1.api.aws/mcp: it "
                                           "failed (after 2 attempts; the retry quota is spent)");
  assert_int_equal(ops_retry_quota_left(ops_mcp_client_retry(f->client, &ALICE)), 0);

  call(f, &BOB, "tools/list", NULL, &bob);
  fail_exchange(&f->fake, 55, OPS_ERR_TRANSPORT, OPS_TRANSPORT_CONNECT); /* his initialize */
  wait_for_exchanges(f, 57);
  assert_non_null(strstr(f->fake.exchanges[56].body, "\"method\":\"initialize\""));
  open_session(f, 56, "2025-11-25", "s-bob");
  answer_ok(f, 58);
  assert_int_equal(bob.calls, 1);
  assert_false(bob.failed);
  assert_int_equal(ops_retry_quota_left(ops_mcp_client_retry(f->client, &BOB)), 500);
}

static void opening_a_session_is_retried_and_its_waiting_requests_go_on(void **state)
{
  struct fixture *f = *state;
  struct outcome o = {0};
  call(f, &ALICE, "tools/call", "{\"name\":\"x\"}", &o);
  answer(&f->fake, 0, 429, JSON, "{\"message\":\"Rate exceeded\"}", 0); /* initialize */
  wait_for_exchanges(f, 2);
  assert_non_null(strstr(f->fake.exchanges[1].body, "\"method\":\"initialize\""));
  answer_initialize(f, 1, JSON "Mcp-Session-Id: s-1\n", "2025-11-25");
  answer(&f->fake, 2, 502, JSON, "{\"message\":\"Bad gateway\"}", 0); /* the notification */
  wait_for_exchanges(f, 4);
  assert_non_null(strstr(f->fake.exchanges[3].body, "notifications/initialized"));
  answer(&f->fake, 3, 202, "", "", 0);
  assert_int_equal(f->fake.count, 5); /* the waiting tools/call goes out */
  assert_string_equal(header(&f->fake.exchanges[4], "Mcp-Session-Id"), "s-1");
  assert_int_equal(o.calls, 0);
}

/* A close without a limit gets one later (a signal while it runs). */
static void a_close_in_progress_can_be_bounded(void **state)
{
  struct fixture *f = *state;
  with_open_session(f);
  int closed = 0;
  ops_mcp_client_close(f->client, 0, count_close, &closed);
  assert_delete(f, 3, "s-1", "ASIAALICE");
  expect_no_more_exchanges(f);
  assert_int_equal(closed, 0);
  ops_mcp_client_close_within(f->client, 20);
  for (int i = 0; i < 100 && !closed; i++)
    ops_loop_run_once(f->loop, 10);
  assert_int_equal(closed, 1);
  assert_true(f->fake.exchanges[3].cancelled);
}

static void a_throttled_or_unavailable_delete_is_sent_again(void **state)
{
  struct fixture *f = *state;
  with_open_session(f);
  int closed = 0;
  ops_mcp_client_close(f->client, 0, count_close, &closed);
  assert_delete(f, 3, "s-1", "ASIAALICE");
  answer(&f->fake, 3, 429, JSON, "{\"message\":\"Rate exceeded\"}", 0);
  wait_for_exchanges(f, 5);
  assert_delete(f, 4, "s-1", "ASIAALICE");
  answer(&f->fake, 4, 503, JSON, "{\"message\":\"Service unavailable\"}", 0);
  wait_for_exchanges(f, 6);
  assert_delete(f, 5, "s-1", "ASIAALICE");
  assert_int_equal(closed, 0);
  answer(&f->fake, 5, 200, "", "", 0);
  assert_int_equal(closed, 1);
}

static void a_call_cancelled_while_it_waits_to_be_sent_again_is_never_sent(void **state)
{
  struct fixture *f = *state;
  with_open_session(f);
  struct outcome o = {0};
  struct ops_mcp_call *c = call(f, &ALICE, "tools/list", NULL, &o);
  answer(&f->fake, 3, 429, JSON "Retry-After: 1\n", "{\"message\":\"Rate exceeded\"}", 0);
  ops_mcp_call_cancel(c);
  expect_no_more_exchanges(f);
  assert_int_equal(o.calls, 0);
}

/* Found by tests/fuzz/fuzz_mcp.c: a request answered 202 (no reply) called back with neither a
 * result nor an error, and a result that was not an object (null, a number) came back as such;
 * mcp.call then indexed it as a table and raised a bare Lua error instead of an rpc error. */
static void a_reply_without_a_result_object_is_an_rpc_error(void **state)
{
  struct fixture *f = *state;
  with_open_session(f);
  struct outcome accepted = {0}, null_result = {0}, number_result = {0};
  call(f, &ALICE, "tools/list", NULL, &accepted);
  answer(&f->fake, 3, 202, "", "", 0);
  assert_int_equal(accepted.calls, 1);
  assert_true(accepted.failed);
  assert_int_equal(accepted.err.kind, OPS_ERR_RPC);
  assert_string_equal(accepted.err.message,
                      "tools/list: the server accepted the request (HTTP 202) but sent no reply");
  call(f, &ALICE, "tools/list", NULL, &null_result);
  answer(&f->fake, 4, 200, JSON, "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":null}", 0);
  assert_true(null_result.failed);
  assert_int_equal(null_result.err.kind, OPS_ERR_RPC);
  assert_string_equal(null_result.err.message,
                      "tools/list: the server's reply has a result that is not an object");
  call(f, &ALICE, "tools/call", "{\"name\":\"x\"}", &number_result);
  answer(&f->fake, 5, 200, SSE, "data: {\"jsonrpc\":\"2.0\",\"id\":5,\"result\":5}\n\n", 0);
  assert_true(number_result.failed);
  assert_int_equal(number_result.err.kind, OPS_ERR_RPC);
}

/* Found by tests/fuzz/fuzz_mcp.c: a session id with a CR (or any byte but visible ASCII) was
 * sent back as it was in the next request's headers. */
/* A JSON reply naming another request was taken for the answer (issue 14): it is an rpc error,
 * while AWS's error bodies, which say "id": "", are still read. */
static void a_json_reply_naming_another_request_is_not_the_answer(void **state)
{
  struct fixture *f = *state;
  const struct {
    const char *format; /* %d: the request's id */
    const char *message;
  } cases[] = {
      {"{\"jsonrpc\":\"2.0\",\"id\":%d000,\"result\":{\"content\":[]}}",
       "the server's reply answers another request (id %d000), not this one (id %d)"},
      {"{\"jsonrpc\":\"2.0\",\"id\":\"%d\",\"result\":{\"content\":[]}}",
       "the server's reply answers another request (id \"%d\"), not this one (id %d)"},
      {"{\"jsonrpc\":\"2.0\",\"id\":\"\",\"error\":{\"code\":-32603,\"message\":\"Internal %d\"}}",
       "tools/call failed: Internal %d"},
  };
  struct outcome opened = {0};
  call(f, &ALICE, "tools/list", NULL, &opened);
  open_session(f, 0, "2025-11-25", "s-1");
  answer_ok(f, 2);
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    struct outcome o = {0};
    int sent = f->fake.count;
    call(f, &ALICE, "tools/call", "{\"name\":\"x\"}", &o);
    int id = sent_id(f, sent);
    char reply[256], message[256];
    snprintf(reply, sizeof(reply), cases[i].format, id);
    snprintf(message, sizeof(message), cases[i].message, id, id);
    answer(&f->fake, sent, 200, JSON, reply, 0);
    assert_int_equal(o.calls, 1);
    assert_true(o.failed);
    assert_int_equal(o.err.kind, OPS_ERR_RPC);
    assert_non_null(strstr(o.err.message, message));
  }
}

static void a_session_id_that_is_not_visible_ascii_is_refused(void **state)
{
  struct fixture *f = *state;
  struct outcome o = {0};
  call(f, &ALICE, "tools/list", NULL, &o);
  answer_initialize(f, 0, JSON "Mcp-Session-Id: s-1\rX-Injected: 1\n", "2025-11-25");
  assert_int_equal(f->fake.count, 1); /* no notification carries it */
  assert_int_equal(o.calls, 1);
  assert_true(o.failed);
  assert_int_equal(o.err.kind, OPS_ERR_RPC);
  assert_string_equal(o.err.message, "aws-mcp.us-east-1.api.aws answered initialize with a session "
                                     "id that is not visible ASCII (MCP allows characters 0x21 "
                                     "to 0x7E only)");
}

/* ------------------------------------------------------------------ the stateless revision */

#define DISCOVERED_MODERN                                                                          \
  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"resultType\":\"complete\",\"supportedVersions\":"   \
  "[\"2026-07-28\",\"2025-11-25\"],\"capabilities\":{\"tools\":{}},\"ttlMs\":60000,"               \
  "\"cacheScope\":\"public\",\"_meta\":{\"io.modelcontextprotocol/serverInfo\":{\"name\":"         \
  "\"sim\",\"version\":\"1\"}}}}"

/* A server that lists 2026-07-28 in server/discover is spoken to without sessions: one discover
 * for the endpoint, as the first identity, while the requests wait; then each request carries
 * _meta and the Mcp-Method, Mcp-Name and MCP-Protocol-Version headers, and nothing is DELETEd. */
static void a_stateless_server_is_discovered_once_and_spoken_to_without_sessions(void **state)
{
  struct fixture *f = *state;
  struct outcome a = {0}, b = {0};
  call(f, &ALICE, "tools/call",
       "{\"name\":\"aws___list_regions\",\"_meta\":{\"AWS_REGION\":\"eu-west-1\"}}", &a);
  call(f, &BOB, "tools/list", NULL, &b);
  assert_int_equal(f->fake.count, 1); /* both wait for the one server/discover */
  struct exchange *probe = &f->fake.exchanges[0];
  assert_non_null(strstr(probe->body, "\"method\":\"server/discover\""));
  assert_non_null(
      strstr(probe->body, "\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\""));
  assert_string_equal(header(probe, "MCP-Protocol-Version"), "2026-07-28");
  assert_string_equal(header(probe, "Mcp-Method"), "server/discover");
  assert_non_null(strstr(header(probe, "Authorization"), "Credential=ASIAALICE/"));
  answer(&f->fake, 0, 200, JSON, DISCOVERED_MODERN, 0);
  assert_int_equal(f->fake.count, 3);
  struct exchange *tool = &f->fake.exchanges[1], *list = &f->fake.exchanges[2];
  assert_string_equal(header(tool, "Mcp-Method"), "tools/call");
  assert_string_equal(header(tool, "Mcp-Name"), "aws___list_regions");
  assert_string_equal(header(tool, "MCP-Protocol-Version"), "2026-07-28");
  assert_null(header(tool, "Mcp-Session-Id"));
  assert_non_null(strstr(tool->body, "\"AWS_REGION\":\"eu-west-1\""));
  assert_non_null(strstr(tool->body, "\"io.modelcontextprotocol/clientCapabilities\":{}"));
  assert_non_null(
      strstr(tool->body, "\"io.modelcontextprotocol/clientInfo\":{\"name\":\"opsrun\""));
  assert_null(header(list, "Mcp-Name"));
  assert_non_null(strstr(header(list, "Authorization"), "Credential=AKIABOB/"));
  answer_ok(f, 1);
  answer_ok(f, 2);
  assert_true(a.calls == 1 && !a.failed && b.calls == 1 && !b.failed);
  struct outcome c = {0};
  call(f, &ALICE, "tools/list", NULL, &c); /* no second discover */
  assert_int_equal(f->fake.count, 4);
  answer_ok(f, 3);
  int closed = 0;
  ops_mcp_client_close(f->client, 0, count_close, &closed);
  assert_int_equal(closed, 1);
  assert_int_equal(f->fake.count, 4); /* nothing to DELETE */
}

/* A server/discover refused with HTTP 400 and a body that is not a modern JSON-RPC error (here the
 * hosted server's and the SDK's "session id is required") is a 2025-11-25 server: the request
 * goes in a session opened with initialize, and later ones do not ask again. */
static void a_legacy_server_is_spoken_to_in_sessions_after_discover_is_refused(void **state)
{
  struct fixture *f = *state;
  struct outcome o = {0};
  call(f, &ALICE, "tools/list", NULL, &o);
  answer(&f->fake, 0, 400, JSON,
         "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32000,\"message\":\"Bad Request: "
         "Mcp-Session-Id header is required\"},\"id\":null}",
         0);
  assert_int_equal(f->fake.count, 2);
  assert_non_null(strstr(f->fake.exchanges[1].body, "\"method\":\"initialize\""));
  open_session(f, 1, "2025-11-25", "s-1");
  assert_string_equal(header(&f->fake.exchanges[3], "Mcp-Session-Id"), "s-1");
  assert_null(strstr(f->fake.exchanges[3].body, "io.modelcontextprotocol"));
  answer_ok(f, 3);
  assert_true(o.calls == 1 && !o.failed);
  struct outcome b = {0};
  call(f, &BOB, "tools/list", NULL, &b);
  assert_non_null(strstr(f->fake.exchanges[4].body, "\"method\":\"initialize\""));
}

/* UnsupportedProtocolVersion listing 2026-07-28 is asked once more (versioning: retry with a
 * supported version); listing only older versions, the client falls back to initialize. */
static void unsupported_protocol_version_is_retried_or_falls_back(void **state)
{
  struct fixture *f = *state;
  static const char refused[] =
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32022,\"message\":\"Unsupported "
      "protocol version\",\"data\":{\"supported\":[\"%s\"],\"requested\":\"2026-07-28\"}}}";
  char body[256];
  struct outcome o = {0};
  call(f, &ALICE, "tools/list", NULL, &o);
  snprintf(body, sizeof(body), refused, "2026-07-28");
  answer(&f->fake, 0, 400, JSON, body, 0);
  assert_non_null(strstr(f->fake.exchanges[1].body, "\"method\":\"server/discover\""));
  snprintf(body, sizeof(body), refused, "2025-11-25");
  answer(&f->fake, 1, 400, JSON, body, 0);
  assert_non_null(strstr(f->fake.exchanges[2].body, "\"method\":\"initialize\""));
}

/* A discover that fails for its credentials says nothing about the server: the request of that
 * identity fails, and the next identity's request asks again. */
static void a_discover_refused_for_its_credentials_fails_only_that_identity(void **state)
{
  struct fixture *f = *state;
  struct outcome a = {0}, b = {0};
  call(f, &ALICE, "tools/list", NULL, &a);
  call(f, &BOB, "tools/list", NULL, &b);
  answer(&f->fake, 0, 403, JSON "x-amzn-ErrorType: AccessDeniedException\n",
         "{\"message\":\"denied\"}", 0);
  assert_true(a.calls == 1 && a.err.kind == OPS_ERR_CREDENTIALS && b.calls == 0);
  assert_int_equal(f->fake.count, 2);
  assert_non_null(strstr(header(&f->fake.exchanges[1], "Authorization"), "Credential=AKIABOB/"));
  assert_non_null(strstr(f->fake.exchanges[1].body, "\"method\":\"server/discover\""));
}

/* Every 2026-07-28 result says its resultType: "complete" (or none, from older servers) is the
 * answer; "input_required" asks for what opsrun does not offer, and an unknown type is invalid. */
static void a_result_that_is_not_complete_is_an_rpc_error(void **state)
{
  struct fixture *f = *state;
  static const char *const types[] = {"\"input_required\",\"inputRequests\":{}", "\"later\""};
  struct outcome o[2] = {{0}};
  call(f, &ALICE, "tools/list", NULL, &o[0]);
  answer(&f->fake, 0, 200, JSON, DISCOVERED_MODERN, 0);
  call(f, &ALICE, "tools/list", NULL, &o[1]);
  for (int i = 0; i < 2; i++) {
    char reply[256];
    snprintf(reply, sizeof(reply), "{\"jsonrpc\":\"2.0\",\"id\":%d,\"result\":{\"resultType\":%s}}",
             sent_id(f, i + 1), types[i]);
    answer(&f->fake, i + 1, 200, JSON, reply, 0);
    assert_int_equal(o[i].err.kind, OPS_ERR_RPC);
  }
  assert_non_null(strstr(o[0].err.message, "asks for input"));
  assert_non_null(strstr(o[1].err.message, "resultType later"));
}

/* Mcp-Name carries a name that is not plain ASCII as =?base64?...?= (Value Encoding). */
static void a_name_that_is_not_plain_ascii_goes_in_base64(void **state)
{
  struct fixture *f = *state;
  struct outcome o = {0};
  call(f, &ALICE, "tools/call", "{\"name\":\" padded \"}", &o);
  answer(&f->fake, 0, 200, JSON, DISCOVERED_MODERN, 0);
  assert_string_equal(header(&f->fake.exchanges[1], "Mcp-Name"), "=?base64?IHBhZGRlZCA=?=");
}

int main(void)
{
#define TEST(name)        cmocka_unit_test_setup_teardown(name, setup, teardown)
#define RETRYING(name)    cmocka_unit_test_setup_teardown(name, setup_retrying, teardown)
#define DISCOVERING(name) cmocka_unit_test_setup_teardown(name, setup_discovering, teardown)
  const struct CMUnitTest tests[] = {
      TEST(params_are_sent_as_written_and_checked_first),
      TEST(a_session_opens_once_and_carries_its_headers),
      TEST(requests_made_while_opening_wait_for_the_one_handshake),
      TEST(identities_never_share_a_session),
      TEST(an_older_protocol_version_is_accepted_an_unknown_one_is_not),
      TEST(event_stream_replies_with_notifications_and_a_ping_in_front),
      TEST(a_stream_closed_early_is_resumed_with_last_event_id),
      TEST(an_expired_session_is_opened_again_once),
      TEST(a_session_gone_in_hosted_words_is_opened_again_at_any_status),
      TEST(requests_in_flight_when_a_session_goes_share_one_new_session),
      TEST(a_server_that_takes_task_tool_calls_is_known_per_session),
      cmocka_unit_test_setup_teardown(each_identity_is_paced_apart, setup_paced, teardown),
      TEST(http_failures_map_to_error_kinds_with_aws_words_kept),
      TEST(the_signing_scope_comes_from_the_host_else_the_environment),
      TEST(a_failed_handshake_fails_every_waiting_request),
      TEST(a_cancelled_call_never_calls_back),
      TEST(a_request_refused_at_start_is_not_handed_out),
      TEST(a_provider_failure_ends_the_request_as_the_providers),
      TEST(closing_deletes_each_named_session_within_the_concurrency),
      TEST(a_session_opening_at_close_is_closed_once_open_within_a_limit),
      TEST(a_session_opening_at_close_without_a_limit_is_not_waited_for),
      TEST(new_credentials_of_an_owner_close_its_old_session_after_its_last_request),
      TEST(closing_an_owner_deletes_its_session_after_its_last_request),
      cmocka_unit_test_setup_teardown(a_delete_waiting_for_its_quota_holds_no_place,
                                      setup_paced_as_hosted, teardown),
      TEST(a_session_of_expired_credentials_is_closed_with_the_new_ones),
      TEST(a_session_whose_last_request_found_its_credentials_expired_is_closed_with_the_new),
      TEST(a_request_refused_as_expired_is_sent_once_more_with_new_credentials),
      TEST(a_close_given_a_time_ends_within_it),
      RETRYING(a_throttled_or_unavailable_delete_is_sent_again),
      TEST(a_close_in_progress_can_be_bounded),
      RETRYING(a_throttled_tools_call_is_sent_again_after_the_wait_asked_for),
      RETRYING(a_tools_call_is_sent_again_after_a_503_or_a_refused_connection),
      RETRYING(a_tools_call_that_may_have_run_is_never_sent_again),
      RETRYING(other_requests_are_sent_again_on_5xx_until_the_attempts_run_out),
      RETRYING(opening_a_session_is_retried_and_its_waiting_requests_go_on),
      RETRYING(a_call_cancelled_while_it_waits_to_be_sent_again_is_never_sent),
      cmocka_unit_test_setup_teardown(one_identity_spending_its_retry_quota_leaves_the_others_whole,
                                      setup_many_attempts, teardown),
      TEST(a_reply_without_a_result_object_is_an_rpc_error),
      TEST(a_json_reply_naming_another_request_is_not_the_answer),
      TEST(a_session_id_that_is_not_visible_ascii_is_refused),
      DISCOVERING(a_stateless_server_is_discovered_once_and_spoken_to_without_sessions),
      DISCOVERING(a_legacy_server_is_spoken_to_in_sessions_after_discover_is_refused),
      DISCOVERING(unsupported_protocol_version_is_retried_or_falls_back),
      DISCOVERING(a_discover_refused_for_its_credentials_fails_only_that_identity),
      DISCOVERING(a_result_that_is_not_complete_is_an_rpc_error),
      DISCOVERING(a_name_that_is_not_plain_ascii_goes_in_base64),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
