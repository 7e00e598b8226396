/* fakes.c: the recording transport, the stopped clock, the environment table and the pending
 * credentials source of fakes.h. */
#include "fakes.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct s_exchange {
  struct fake_transport *ft;
  struct fake_reply reply;
  bool have_reply;
  ops_http_done_fn done;
  void *ud;
  struct ops_timer *timer;
};

static void s_deliver(void *ud)
{
  struct s_exchange *x = ud;
  struct ops_http_header header = {(char *)x->reply.header_name, (char *)x->reply.header_value};
  const char *body = x->reply.body ? x->reply.body : "";
  struct ops_http_response response = {.status = x->reply.fail ? 0 : x->reply.status,
                                       .headers = &header,
                                       .header_count = x->reply.header_name ? 1 : 0,
                                       .body = (char *)body,
                                       .body_len = strlen(body)};
  struct ops_error err = {0};
  if (!x->have_reply) {
    ops_error_set(&err, OPS_ERR_TRANSPORT, "fake transport: no canned reply for this request");
  } else if (x->reply.fail) {
    ops_error_set(&err, x->reply.fail, "fake transport failure");
    err.retryable = true;
    ops_error_set_code(&err, "curl:7");
  }
  x->ft->in_flight--;
  ops_http_done_fn done = x->done;
  void *done_ud = x->ud;
  bool failed = !x->have_reply || x->reply.fail;
  free(x);
  done(&response, failed ? &err : NULL, done_ud);
}

static void *s_start(void *self, const struct ops_http_request *request, ops_http_done_fn done,
                     void *ud, struct ops_error *err)
{
  struct fake_transport *ft = self;
  assert_true(ft->request_count < FAKE_MAX);
  struct fake_request *r = &ft->requests[ft->request_count++];
  snprintf(r->method, sizeof(r->method), "%s", request->method);
  r->url = strdup(request->url);
  r->credential_endpoint = request->credential_endpoint;
  for (size_t i = 0; i < request->header_count && i < 16; i++) {
    r->header_names[i] = strdup(request->headers[i].name);
    r->header_values[i] = strdup(request->headers[i].value);
    r->header_count++;
  }
  r->body = calloc(1, request->body_len + 1);
  if (request->body)
    memcpy(r->body, request->body, request->body_len);
  r->body_len = request->body_len;
  struct s_exchange *x = calloc(1, sizeof(*x));
  x->ft = ft;
  x->done = done;
  x->ud = ud;
  if (ft->next_reply < ft->reply_count) {
    x->reply = ft->replies[ft->next_reply++];
    x->have_reply = true;
  }
  ft->in_flight++;
  if (x->have_reply && x->reply.hang)
    return x;
  x->timer = ops_loop_timer_start(ft->loop, 0, s_deliver, x);
  if (!x->timer) {
    ft->in_flight--;
    free(x);
    ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
    return NULL;
  }
  return x;
}

static void s_cancel(void *self, void *exchange)
{
  struct fake_transport *ft = self;
  struct s_exchange *x = exchange;
  if (x->timer)
    ops_loop_timer_cancel(ft->loop, x->timer);
  ft->in_flight--;
  free(x);
}

void fake_transport_init(struct fake_transport *ft, struct ops_loop *loop)
{
  memset(ft, 0, sizeof(*ft));
  ft->loop = loop;
}

void fake_transport_clear(struct fake_transport *ft)
{
  for (size_t i = 0; i < ft->request_count; i++) {
    struct fake_request *r = &ft->requests[i];
    free(r->url);
    free(r->body);
    for (size_t h = 0; h < r->header_count; h++) {
      free(r->header_names[h]);
      free(r->header_values[h]);
    }
  }
  struct ops_loop *loop = ft->loop;
  memset(ft, 0, sizeof(*ft));
  ft->loop = loop;
}

struct ops_transport fake_transport_get(struct fake_transport *ft)
{
  return (struct ops_transport){.start = s_start, .cancel = s_cancel, .self = ft};
}

void fake_reply_header(struct fake_transport *ft, long status, const char *body, const char *name,
                       const char *value)
{
  assert_true(ft->reply_count < FAKE_MAX);
  ft->replies[ft->reply_count++] = (struct fake_reply){
      .status = status, .body = body, .header_name = name, .header_value = value};
}

void fake_reply(struct fake_transport *ft, long status, const char *body)
{
  fake_reply_header(ft, status, body, NULL, NULL);
}

void fake_fail(struct fake_transport *ft, enum ops_err kind)
{
  assert_true(ft->reply_count < FAKE_MAX);
  ft->replies[ft->reply_count++] = (struct fake_reply){.fail = kind};
}

void fake_hang(struct fake_transport *ft)
{
  assert_true(ft->reply_count < FAKE_MAX);
  ft->replies[ft->reply_count++] = (struct fake_reply){.hang = true};
}

const char *fake_header(const struct fake_request *request, const char *name)
{
  for (size_t i = 0; i < request->header_count; i++)
    if (strcasecmp(request->header_names[i], name) == 0)
      return request->header_values[i];
  return NULL;
}

static double s_now(void *self)
{
  return *(double *)self;
}

struct ops_clock fake_clock(double *now)
{
  return (struct ops_clock){.now = s_now, .self = now};
}

void fake_env_set(struct fake_env *env, const char *name, const char *value)
{
  for (size_t i = 0; i < env->count; i++) {
    if (strcmp(env->names[i], name) == 0) {
      env->values[i] = value;
      return;
    }
  }
  assert_true(env->count < 32);
  env->names[env->count] = name;
  env->values[env->count++] = value;
}

static const char *s_env_lookup(void *self, const char *name)
{
  struct fake_env *env = self;
  for (size_t i = 0; i < env->count; i++)
    if (strcmp(env->names[i], name) == 0)
      return env->values[i];
  return NULL;
}

struct ops_env fake_env_get(struct fake_env *env)
{
  return (struct ops_env){.get = s_env_lookup, .self = env};
}

void fake_run_until(struct ops_loop *loop, const bool *flag)
{
  uint64_t deadline = ops_loop_now_ms() + 5000;
  while (!*flag) {
    assert_true(ops_loop_now_ms() < deadline);
    ops_loop_run_once(loop, 100);
  }
}

/* --- a credentials source ended by the test --- */

static int s_source_start(struct ops_credentials_provider *provider,
                          struct ops_credentials_fetch *fetch, struct ops_error *err)
{
  (void)err;
  struct fake_source *source = ops_credentials_provider_impl(provider);
  assert_true(source->pending_count < FAKE_MAX);
  source->started++;
  source->pending[source->pending_count++] = fetch;
  ops_credentials_fetch_set_state(fetch, source);
  return OPS_OK;
}

static void s_source_cancel(struct ops_credentials_fetch *fetch)
{
  struct fake_source *source = ops_credentials_fetch_state(fetch);
  for (size_t i = 0; i < source->pending_count; i++)
    if (source->pending[i] == fetch)
      source->pending[i] = source->pending[--source->pending_count];
  source->cancelled++;
}

static void s_source_keep(void *impl)
{
  (void)impl; /* the test owns the source */
}

static const struct ops_credentials_provider_vtable s_source_vtable = {
    .name = "fake",
    .start = s_source_start,
    .cancel = s_source_cancel,
    .destroy = s_source_keep,
};

struct ops_credentials_provider *fake_source_provider(const struct ops_credentials_context *context,
                                                      struct fake_source *source)
{
  struct ops_credentials_provider *provider = NULL;
  struct ops_error err;
  assert_int_equal(ops_credentials_provider_new(&provider, &s_source_vtable, context, source, &err),
                   OPS_OK);
  return provider;
}

/* Ends the pending fetches with credentials of `key`, or with `failure`; the list is taken
 * first, since a callback may start another fetch. */
static void s_source_end(struct fake_source *source, const char *key, int64_t expiration,
                         const struct ops_error *failure)
{
  struct ops_credentials_fetch *pending[FAKE_MAX];
  size_t count = source->pending_count;
  memcpy(pending, source->pending, count * sizeof(*pending));
  source->pending_count = 0;
  for (size_t i = 0; i < count; i++) {
    struct ops_credentials *credentials = NULL;
    if (!failure) {
      char secret[64], token[64];
      snprintf(secret, sizeof(secret), "secret-%s", key);
      snprintf(token, sizeof(token), "token-%s", key);
      struct ops_error err;
      assert_int_equal(
          ops_credentials_new(&credentials, key, secret, token, expiration, "fake", &err), OPS_OK);
    }
    ops_credentials_fetch_set_state(pending[i], NULL);
    ops_credentials_fetch_complete(pending[i], credentials, failure);
  }
}

void fake_source_answer(struct fake_source *source, const char *key, int64_t expiration)
{
  s_source_end(source, key, expiration, NULL);
}

void fake_source_fail(struct fake_source *source, enum ops_err kind, const char *message)
{
  struct ops_error err;
  ops_error_set(&err, kind, "%s", message);
  s_source_end(source, NULL, 0, &err);
}

static void s_fetch_done(struct ops_credentials *credentials, const struct ops_error *err, void *ud)
{
  struct fake_fetch *f = ud;
  f->done = true;
  f->fetch = NULL;
  f->credentials = credentials;
  if (err)
    f->err = *err;
}

void fake_fetch_start(struct fake_fetch *f, struct ops_credentials_provider *provider)
{
  memset(f, 0, sizeof(*f));
  f->fetch = ops_credentials_provider_get(provider, s_fetch_done, f, NULL);
  assert_non_null(f->fetch);
  assert_false(f->done);
}
