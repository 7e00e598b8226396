/* fuzz_mcp.c: the MCP client's reply handling (JSON-RPC replies as JSON or as an event stream,
 * server requests on a stream, errors by HTTP status, session ids, resumed streams) on arbitrary
 * bytes, through the public API with a scripted transport, as tests/c/test_mcp.c drives it.
 *
 * Input: a flags byte, then the server's answers to the client's exchanges in the order they go
 * out, separated by "\n%%\n". Each answer is a line "STATUS TYPE [SESSION-ID]" (TYPE j: JSON, s:
 * event stream, other: text/plain) and then the body, streamed to the client in pieces whose
 * size the flags pick. Exchanges left when the answers run out fail as a reset connection would.
 * Failed exchanges are retried on runtime/retry.h's policy (3 attempts, no jitter).
 * Checked: each request's callback runs at most once, with a result that is a JSON object or an
 * error with a kind and a message; every message the client sends is valid JSON; no header it
 * sends has a line break; no secret reaches a result or an error message. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/credentials.h"
#include "runtime/mcp.h"
#include "runtime/retry.h"

#define MAX_EXCHANGES 48
#define MAX_CALLS     3
#define SEPARATOR     "\n%%\n"

static const struct ops_sigv4_credentials s_alice = {"ASIAFUZZALICE", "alice-secret-key-fuzz",
                                                     "alice-session-token-fuzz"};
static const struct ops_sigv4_credentials s_bob = {"AKIAFUZZBOB", "bob-secret-key-fuzz", NULL};

/* Requests borrow providers that always hold their credentials fresh, as a caching provider
 * does between refreshes: every input runs the same way, a refusal changing nothing. */
static const struct ops_credentials *s_held(const struct ops_credentials_provider *provider)
{
  return ops_credentials_provider_impl(provider);
}

/* Never runs: a request signs at once with the fresh credentials its provider holds. */
static int s_held_start(struct ops_credentials_provider *provider,
                        struct ops_credentials_fetch *fetch, struct ops_error *err)
{
  (void)provider, (void)fetch, (void)err;
  abort();
}

static void s_held_destroy(void *impl)
{
  ops_credentials_free(impl);
}

static struct ops_credentials_provider *s_provider_holding(struct ops_loop *loop,
                                                           const struct ops_sigv4_credentials *key)
{
  static const struct ops_credentials_provider_vtable held = {
      .name = "held", .start = s_held_start, .destroy = s_held_destroy, .cached = s_held};
  struct ops_credentials *credentials = NULL;
  struct ops_credentials_provider *provider = NULL;
  struct ops_credentials_context context = {.loop = loop};
  if (ops_credentials_new(&credentials, key->access_key_id, key->secret_access_key,
                          key->session_token, 0, "fuzz", NULL) != OPS_OK ||
      ops_credentials_provider_new(&provider, &held, &context, credentials, NULL) != OPS_OK)
    abort();
  return provider;
}

struct exchange {
  bool (*on_data)(void *, const struct ops_http_response *, const char *, size_t);
  ops_http_done_fn done;
  void *ud;
  bool cancelled, answered;
};

struct harness {
  struct exchange exchanges[MAX_EXCHANGES];
  int count;
  bool overflow;
  bool secrets_in_input;
};

struct outcome {
  int calls;
  bool secrets_in_input;
};

static bool s_has(const char *text, size_t len, const char *needle)
{
  size_t n = strlen(needle);
  for (size_t i = 0; text && i + n <= len; i++)
    if (memcmp(text + i, needle, n) == 0)
      return true;
  return false;
}

static bool s_has_secret(const char *text)
{
  size_t len = text ? strlen(text) : 0;
  return s_has(text, len, s_alice.secret_access_key) || s_has(text, len, s_alice.session_token) ||
         s_has(text, len, s_bob.secret_access_key);
}

static void *s_start(void *self, const struct ops_http_request *request, ops_http_done_fn done,
                     void *ud, struct ops_error *err)
{
  struct harness *h = self;
  if (h->count == MAX_EXCHANGES) {
    h->overflow = true;
    ops_error_set(err, OPS_ERR_TRANSPORT, "fuzz: too many exchanges");
    return NULL;
  }
  for (size_t i = 0; i < request->header_count; i++)
    if (strpbrk(request->headers[i].name, "\r\n") || strpbrk(request->headers[i].value, "\r\n"))
      abort();
  if (request->body) {
    json_t *message = json_loadb(request->body, request->body_len, 0, NULL);
    if (!json_is_object(message))
      abort();
    json_decref(message);
  }
  if (!request->on_data)
    abort();
  struct exchange *x = &h->exchanges[h->count++];
  *x = (struct exchange){.on_data = request->on_data, .done = done, .ud = ud};
  return x;
}

static void s_cancel(void *self, void *exchange)
{
  (void)self;
  struct exchange *x = exchange;
  if (x->cancelled || x->answered)
    abort(); /* cancelled twice, or after its end */
  x->cancelled = true;
}

static double s_now(void *self)
{
  (void)self;
  return 1764000000.0;
}

static void s_die(const char *what, const char *result_json, const struct ops_error *err)
{
  fprintf(stderr, "fuzz_mcp: %s: result %s, error %s\n", what, result_json ? result_json : "NULL",
          err ? err->message : "NULL");
  abort();
}

static void s_done(void *ud, json_t *result, const struct ops_error *err, bool from_provider)
{
  struct outcome *o = ud;
  char *result_json = result ? json_dumps(result, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
  if (++o->calls > 1)
    s_die("a callback ran twice", result_json, err);
  if ((result == NULL) == (err == NULL))
    s_die("not exactly one of a result and an error", result_json, err);
  if (from_provider)
    s_die("a provider holding its credentials failed", result_json, err);
  if (result) {
    if (!json_is_object(result))
      s_die("a result that is not a JSON object", result_json, err);
    if (!o->secrets_in_input && s_has_secret(result_json))
      s_die("a secret in a result", result_json, err);
  } else {
    if (err->kind >= 0 || err->kind < OPS_ERR_CANCELLED || !err->message[0])
      s_die("an error without a kind or a message", result_json, err);
    if (!o->secrets_in_input && s_has_secret(err->message))
      s_die("a secret in an error message", result_json, err);
  }
  free(result_json);
}

/* The next answer of the input: [*at, its end), moving *at past the separator. */
static bool s_next_answer(const char **at, const char *end, const char **start, size_t *len)
{
  if (*at >= end)
    return false;
  const char *sep = NULL;
  for (const char *p = *at; p + 4 <= end; p++)
    if (memcmp(p, SEPARATOR, 4) == 0) {
      sep = p;
      break;
    }
  *start = *at;
  *len = (size_t)((sep ? sep : end) - *at);
  *at = sep ? sep + 4 : end;
  return true;
}

/* Answers exchange `x` with one answer of the input, or as a reset connection when none is left. */
static void s_answer(struct exchange *x, const char *answer, size_t len, bool have, size_t piece)
{
  x->answered = true;
  struct ops_error failure;
  ops_error_set(&failure, OPS_ERR_TRANSPORT, "fuzz: connection reset");
  failure.retryable = true;
  if (!have) {
    struct ops_http_response none = {0};
    x->done(&none, &failure, x->ud);
    return;
  }
  char line[256];
  const char *nl = memchr(answer, '\n', len);
  size_t line_len = nl ? (size_t)(nl - answer) : len;
  snprintf(line, sizeof(line), "%.*s", (int)(line_len < 255 ? line_len : 255), answer);
  const char *body = nl ? nl + 1 : answer + len;
  size_t body_len = (size_t)(answer + len - body);
  long status = strtol(line, NULL, 10);
  if (status < 0 || status > 999)
    status = 500;
  const char *type = strchr(line, ' ');
  char kind = type ? type[1] : 'j';
  const char *session = type && type[1] ? strchr(type + 1, ' ') : NULL;
  struct ops_http_header headers[2] = {{"Content-Type", kind == 'j' ? "application/json"
                                                        : kind == 's'
                                                            ? "text/event-stream; charset=utf-8"
                                                            : "text/plain"},
                                       {"mcp-session-id", session ? (char *)session + 1 : ""}};
  struct ops_http_response response = {
      .status = status, .headers = headers, .header_count = session ? 2 : 1};
  size_t step = piece ? piece : (body_len ? body_len : 1);
  bool aborted = false;
  for (size_t at = 0; at < body_len && !aborted; at += step)
    aborted = !x->on_data(x->ud, &response, body + at, at + step > body_len ? body_len - at : step);
  ops_error_set(&failure, OPS_ERR_TRANSPORT, "fuzz: aborted by the client");
  x->done(&response, aborted ? &failure : NULL, x->ud);
}

/* Answers exchanges in order until none is waiting; due zero-delay timers (resumed streams) run
 * in between. */
static void s_pump(struct harness *h, struct ops_loop *loop, const char **at, const char *end,
                   size_t piece)
{
  for (int i = 0; i < h->count; i++) {
    struct exchange *x = &h->exchanges[i];
    if (x->answered || x->cancelled)
      continue;
    const char *answer = NULL;
    size_t len = 0;
    bool have = s_next_answer(at, end, &answer, &len);
    s_answer(x, answer, len, have, piece);
    ops_loop_run_once(loop, 0);
  }
}

/* Retries on the SDKs' policy, without jitter: a backoff is 0 ms, so the retry happens within
 * the same input (a server's Retry-After still delays it past the input's end). */
static double s_no_jitter(void *self)
{
  (void)self;
  return 0.0;
}

static const char *s_getenv(void *self, const char *name)
{
  (void)self;
  return strcmp(name, "AWS_MAX_ATTEMPTS") == 0 ? "3" : NULL;
}

static void s_closed(void *ud)
{
  ++*(int *)ud;
}

static void s_cancel_unfinished(struct ops_mcp_call **calls, const struct outcome *outcomes,
                                int count)
{
  for (int i = 0; i < count; i++)
    if (calls[i] && outcomes[i].calls == 0) {
      ops_mcp_call_cancel(calls[i]);
      calls[i] = NULL;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static struct ops_loop *loop;
  static struct ops_sigv4_signer *signer;
  static struct ops_credentials_provider *alice, *bob;
  if (!loop && (!(loop = ops_loop_new()) || ops_sigv4_signer_new(&signer, 0, NULL) != OPS_OK))
    abort();
  if (!alice) {
    alice = s_provider_holding(loop, &s_alice);
    bob = s_provider_holding(loop, &s_bob);
  }
  if (size < 1)
    return 0;
  uint8_t flags = data[0];
  const char *at = (const char *)data + 1, *end = (const char *)data + size;
  static const size_t pieces[] = {0, 1, 2, 3, 7, 16, 64, 0};
  size_t piece = pieces[(flags >> 5) & 7];
  int call_count = 1 + (flags & 1) + ((flags >> 1) & 1);

  struct harness h = {0};
  struct ops_retry *retry = NULL;
  struct ops_retry_options retry_options = {
      .env = {s_getenv, NULL}, .clock = {s_now, NULL}, .random = {s_no_jitter, NULL}};
  if (ops_retry_new(&retry, &retry_options, NULL) != OPS_OK)
    abort();
  bool secrets = s_has((const char *)data, size, "secret-key-fuzz") ||
                 s_has((const char *)data, size, s_alice.session_token);
  struct ops_mcp_options options = {.url = "https://aws-mcp.us-east-1.api.aws/mcp",
                                    .env = {s_getenv, NULL},
                                    .region = "us-east-1",
                                    .client_version = "fuzz",
                                    .transport = {s_start, s_cancel, &h},
                                    .clock = {s_now, NULL},
                                    .loop = loop,
                                    .signer = signer,
                                    .retry = retry};
  struct ops_mcp_client *client = NULL;
  if (ops_mcp_client_new(&client, &options, NULL) != OPS_OK)
    abort();
  static const char *const methods[] = {"tools/call", "tools/list", "initialize"};
  struct outcome outcomes[MAX_CALLS] = {{0}};
  struct ops_mcp_call *calls[MAX_CALLS] = {0};
  for (int i = 0; i < call_count; i++) {
    outcomes[i].secrets_in_input = secrets;
    struct ops_mcp_request request = {
        .credentials = (flags & 4) && i == 1 ? bob : alice,
        .method = methods[i],
        .params_json = i == 0 ? "{\"name\":\"aws___list_regions\",\"arguments\":{}}" : NULL,
        .timeout_ms = 1000};
    calls[i] = ops_mcp_call_start(client, &request, s_done, &outcomes[i], NULL);
    if (!calls[i])
      abort();
  }
  s_pump(&h, loop, &at, end, piece);
  /* opsrun's tasks end, cancelling the requests they still wait for (e.g. to resume a stream, or
   * to send again after a Retry-After), before the sessions close (flag 8) or while they do: a
   * session is closed once its requests have ended */
  if (flags & 8)
    s_cancel_unfinished(calls, outcomes, call_count);
  int closed = 0;
  ops_mcp_client_close(client, 0, s_closed, &closed);
  if (!(flags & 8))
    s_cancel_unfinished(calls, outcomes, call_count);
  s_pump(&h, loop, &at, end, piece);
  if (closed != 1 && !h.overflow)
    abort();
  ops_mcp_client_free(client);
  ops_retry_free(retry);
  for (int i = 0; i < h.count; i++)
    if (!h.exchanges[i].answered && !h.exchanges[i].cancelled)
      abort(); /* freeing the client leaves no exchange behind */
  return 0;
}
