/* credentials.c: the credentials record (wiped when freed), the provider and fetch plumbing the
 * source files share (deferring a result reached inside start to the loop), and the JSON reader
 * of the container, instance metadata and credential_process shapes. */
#include "runtime/credentials.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "runtime/file.h"
#include "runtime/timestamp.h"

struct ops_credentials_provider {
  const struct ops_credentials_provider_vtable *vtable;
  struct ops_credentials_context context;
  char *region; /* context.region points here */
  void *impl;
};

struct ops_credentials_fetch {
  struct ops_credentials_provider *provider;
  ops_credentials_fn done;
  void *ud;
  void *state;
  bool starting;
  /* a result reached inside start, delivered by a zero-delay timer */
  struct ops_timer *timer;
  struct ops_credentials *result;
  struct ops_error error;
};

/* --- credentials --- */

void ops_credentials_wipe_free(char *secret)
{
  if (secret) {
    OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
  }
}

char *ops_credentials_dup_optional(const char *s, bool *ok)
{
  char *copy = s ? strdup(s) : NULL;
  *ok &= !s || copy;
  return copy;
}

int ops_credentials_new(struct ops_credentials **out, const char *access_key_id,
                        const char *secret_access_key, const char *session_token,
                        int64_t expiration, const char *source, struct ops_error *err)
{
  *out = NULL;
  struct ops_credentials *c = calloc(1, sizeof(*c));
  if (!c)
    goto nomem;
  c->access_key_id = strdup(access_key_id);
  c->secret_access_key = strdup(secret_access_key);
  c->session_token = session_token && session_token[0] ? strdup(session_token) : NULL;
  c->source = strdup(source ? source : "");
  c->expiration = expiration;
  if (!c->access_key_id || !c->secret_access_key || !c->source ||
      (session_token && session_token[0] && !c->session_token))
    goto nomem;
  *out = c;
  return OPS_OK;
nomem:
  ops_credentials_free(c);
  return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
}

int ops_credentials_copy(struct ops_credentials **out, const struct ops_credentials *credentials,
                         struct ops_error *err)
{
  return ops_credentials_new(out, credentials->access_key_id, credentials->secret_access_key,
                             credentials->session_token, credentials->expiration,
                             credentials->source, err);
}

int ops_credentials_set_source(struct ops_credentials *credentials, const char *source,
                               struct ops_error *err)
{
  char *copy = strdup(source);
  if (!copy)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  free(credentials->source);
  credentials->source = copy;
  return OPS_OK;
}

void ops_credentials_free(struct ops_credentials *credentials)
{
  if (!credentials)
    return;
  ops_credentials_wipe_free(credentials->access_key_id);
  ops_credentials_wipe_free(credentials->secret_access_key);
  ops_credentials_wipe_free(credentials->session_token);
  free(credentials->source);
  OPENSSL_cleanse(credentials, sizeof(*credentials));
  free(credentials);
}

struct ops_sigv4_credentials ops_credentials_for_signing(const struct ops_credentials *credentials)
{
  return (struct ops_sigv4_credentials){.access_key_id = credentials->access_key_id,
                                        .secret_access_key = credentials->secret_access_key,
                                        .session_token = credentials->session_token};
}

/* --- providers and fetches --- */

int ops_credentials_provider_new(struct ops_credentials_provider **out,
                                 const struct ops_credentials_provider_vtable *vtable,
                                 const struct ops_credentials_context *context, void *impl,
                                 struct ops_error *err)
{
  *out = NULL;
  struct ops_credentials_provider *p = calloc(1, sizeof(*p));
  char *region = context->region ? strdup(context->region) : NULL;
  if (!p || (context->region && !region)) {
    free(p);
    free(region);
    vtable->destroy ? vtable->destroy(impl) : free(impl);
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  }
  p->vtable = vtable;
  p->context = *context;
  p->region = region;
  p->context.region = region;
  p->impl = impl;
  *out = p;
  return OPS_OK;
}

void ops_credentials_provider_free(struct ops_credentials_provider *provider)
{
  if (!provider)
    return;
  if (provider->vtable->destroy)
    provider->vtable->destroy(provider->impl);
  else
    free(provider->impl);
  free(provider->region);
  free(provider);
}

const char *ops_credentials_provider_name(const struct ops_credentials_provider *provider)
{
  return provider->vtable->name;
}

const struct ops_credentials *
ops_credentials_provider_cached(const struct ops_credentials_provider *provider)
{
  return provider->vtable->cached ? provider->vtable->cached(provider) : NULL;
}

void ops_credentials_provider_invalidate(struct ops_credentials_provider *provider,
                                         const char *refused_access_key_id)
{
  if (provider->vtable->invalidate)
    provider->vtable->invalidate(provider, refused_access_key_id);
}

void *ops_credentials_provider_impl(const struct ops_credentials_provider *provider)
{
  return provider->impl;
}

const struct ops_credentials_context *
ops_credentials_provider_context(const struct ops_credentials_provider *provider)
{
  return &provider->context;
}

void *ops_credentials_fetch_state(const struct ops_credentials_fetch *fetch)
{
  return fetch->state;
}

void ops_credentials_fetch_set_state(struct ops_credentials_fetch *fetch, void *state)
{
  fetch->state = state;
}

/* Runs the callback and frees the fetch; nothing of the fetch is touched after the callback,
 * which may free the provider. */
static void s_deliver(struct ops_credentials_fetch *fetch, struct ops_credentials *credentials,
                      const struct ops_error *err)
{
  ops_credentials_fn done = fetch->done;
  void *ud = fetch->ud;
  struct ops_error copy = {0};
  if (err)
    copy = *err;
  free(fetch);
  done(credentials, credentials ? NULL : &copy, ud);
}

static void s_on_deferred(void *ud)
{
  struct ops_credentials_fetch *fetch = ud;
  fetch->timer = NULL;
  s_deliver(fetch, fetch->result, &fetch->error);
}

void ops_credentials_fetch_complete(struct ops_credentials_fetch *fetch,
                                    struct ops_credentials *credentials,
                                    const struct ops_error *err)
{
  fetch->state = NULL;
  if (!credentials && !err) {
    ops_error_set(&fetch->error, OPS_ERR_CREDENTIALS, "%s: no credentials and no error",
                  fetch->provider->vtable->name);
    err = &fetch->error;
  }
  if (!fetch->starting) {
    s_deliver(fetch, credentials, err);
    return;
  }
  fetch->result = credentials;
  if (err && err != &fetch->error)
    fetch->error = *err;
  fetch->timer = ops_loop_timer_start(fetch->provider->context.loop, 0, s_on_deferred, fetch);
  if (!fetch->timer) {
    /* no memory for a timer: still never call back inside the caller's start */
    ops_credentials_free(fetch->result);
    fetch->result = NULL;
    ops_error_set(&fetch->error, OPS_ERR_NOMEM, "out of memory");
  }
}

struct ops_credentials_fetch *
ops_credentials_provider_get(struct ops_credentials_provider *provider, ops_credentials_fn done,
                             void *ud, struct ops_error *err)
{
  struct ops_credentials_fetch *fetch = calloc(1, sizeof(*fetch));
  if (!fetch) {
    ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
    return NULL;
  }
  fetch->provider = provider;
  fetch->done = done;
  fetch->ud = ud;
  fetch->starting = true;
  struct ops_error failure = {0};
  if (provider->vtable->start(provider, fetch, &failure) != OPS_OK)
    ops_credentials_fetch_complete(fetch, NULL, &failure);
  /* completed within start: the fetch now waits for its timer, or failed to get one */
  if (fetch->timer || fetch->result || fetch->error.kind != OPS_OK) {
    if (!fetch->timer) {
      ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
      free(fetch);
      return NULL;
    }
    return fetch;
  }
  fetch->starting = false;
  return fetch;
}

void ops_credentials_fetch_cancel(struct ops_credentials_fetch *fetch)
{
  if (fetch->timer) {
    ops_loop_timer_cancel(fetch->provider->context.loop, fetch->timer);
    ops_credentials_free(fetch->result);
  } else if (fetch->provider->vtable->cancel) {
    fetch->provider->vtable->cancel(fetch);
  }
  free(fetch);
}

/* --- outcomes --- */

int ops_credentials_not_found(struct ops_error *err, const char *fmt, ...)
{
  if (err) {
    memset(err, 0, sizeof(*err));
    err->kind = OPS_ERR_CREDENTIALS;
    snprintf(err->code, sizeof(err->code), "%s", OPS_CREDENTIALS_NOT_FOUND);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
  }
  return OPS_ERR_CREDENTIALS;
}

bool ops_credentials_is_not_found(const struct ops_error *err)
{
  return err && err->kind == OPS_ERR_CREDENTIALS &&
         strcmp(err->code, OPS_CREDENTIALS_NOT_FOUND) == 0;
}

/* --- JSON shapes --- */

static const char *s_json_string(const json_t *object, const char *name)
{
  const json_t *value = json_object_get(object, name);
  return json_is_string(value) ? json_string_value(value) : NULL;
}

int ops_credentials_from_json(const void *json, const char *const names[4], bool require_expiring,
                              const char *what, const char *source, struct ops_credentials **out,
                              struct ops_error *err)
{
  const json_t *object = json;
  if (!json_is_object(object))
    return ops_error_set(err, OPS_ERR_CREDENTIALS, "%s: the answer is not a JSON object", what);
  const char *values[4];
  for (size_t i = 0; i < 4; i++) {
    values[i] = s_json_string(object, names[i]);
    bool required = i < 2 || require_expiring;
    if (required && (!values[i] || !values[i][0]))
      return ops_error_set(err, OPS_ERR_CREDENTIALS, "%s: the answer has no %s", what, names[i]);
  }
  int64_t expiration = 0;
  if (values[3] && ops_timestamp_parse(values[3], &expiration, NULL) != OPS_OK) {
    return ops_error_set(err, OPS_ERR_CREDENTIALS,
                         "%s: %s '%.64s' is not an ISO 8601 timestamp such as "
                         "2026-11-24T06:00:00Z",
                         what, names[3], values[3]);
  }
  return ops_credentials_new(out, values[0], values[1], values[2], expiration, source, err);
}

/* --- helpers of the sources that speak HTTP or read token files --- */

int ops_credentials_exchange_start(struct ops_credentials_exchange *x, const char *method,
                                   const char *url, const struct ops_http_header *headers,
                                   size_t header_count, long timeout_ms, bool credential_endpoint,
                                   ops_http_done_fn done, struct ops_error *err)
{
  struct ops_http_request request = {.method = method,
                                     .url = url,
                                     .headers = headers,
                                     .header_count = header_count,
                                     .timeout_ms = timeout_ms,
                                     .max_response_bytes = (size_t)1 << 20,
                                     .credential_endpoint = credential_endpoint};
  const struct ops_transport *t = &x->context->transport;
  ops_credentials_fetch_set_state(x->fetch, x);
  x->transfer = t->start(t->self, &request, done, x, err);
  if (x->transfer)
    return OPS_OK;
  ops_credentials_fetch_set_state(x->fetch, NULL);
  return err->kind;
}

void ops_credentials_exchange_complete(struct ops_credentials_exchange *x,
                                       struct ops_credentials *credentials,
                                       const struct ops_error *err)
{
  struct ops_credentials_fetch *fetch = x->fetch;
  free(x);
  ops_credentials_fetch_complete(fetch, credentials, credentials ? NULL : err);
}

void ops_credentials_exchange_cancel(struct ops_credentials_fetch *fetch)
{
  struct ops_credentials_exchange *x = ops_credentials_fetch_state(fetch);
  x->context->transport.cancel(x->context->transport.self, x->transfer);
  free(x);
}

void ops_credentials_http_error(struct ops_error *err, const char *what,
                                const struct ops_http_response *response,
                                const struct ops_error *transport_err)
{
  if (transport_err) {
    struct ops_error copy = *transport_err;
    ops_error_set(err, copy.kind, "%s: %s", what, copy.message);
    ops_error_set_code(err, copy.code);
    err->retryable = copy.retryable;
    err->http_status = copy.http_status;
    return;
  }
  long status = response->status;
  enum ops_err kind = status == 429   ? OPS_ERR_THROTTLED
                      : status >= 500 ? OPS_ERR_TRANSPORT
                                      : OPS_ERR_CREDENTIALS;
  const char *body = response->body ? response->body : "";
  int shown = (int)strcspn(body, "\r\n");
  ops_error_set(err, kind, "%s answered HTTP %ld%s%.*s", what, status, shown ? ": " : "",
                shown > 200 ? 200 : shown, body);
  err->http_status = (int)status;
  err->retryable = kind != OPS_ERR_CREDENTIALS;
}

int ops_credentials_read_token_file(const char *path, const char *what, char **out,
                                    struct ops_error *err)
{
  size_t len = 0;
  struct ops_error read_err;
  int rc = ops_file_read(path, OPS_CREDENTIALS_MAX_TOKEN_FILE_BYTES, OPS_ERR_CREDENTIALS, out, &len,
                         &read_err);
  if (rc != OPS_OK)
    return ops_error_set(err, rc, "%s: %s", what, read_err.message);
  while (len > 0 && ((*out)[len - 1] == '\n' || (*out)[len - 1] == '\r' || (*out)[len - 1] == ' ' ||
                     (*out)[len - 1] == '\t'))
    (*out)[--len] = '\0';
  if (len > 0)
    return OPS_OK;
  free(*out);
  *out = NULL;
  return ops_error_set(err, OPS_ERR_CREDENTIALS, "%s: %s is empty", what, path);
}
