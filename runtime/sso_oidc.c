/* sso_oidc.c: SSO OIDC CreateToken with the refresh_token grant (runtime/sso_oidc.h): the JSON
 * request built and the answer or AWS's error read with jansson, sent through the injected
 * transport. The request body holds secrets and is wiped once handed over (the transport keeps
 * and wipes its own copies). */
#include "runtime/sso_oidc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "runtime/credentials.h"

#define S_TIMEOUT_MS 10000L

struct ops_sso_oidc_call {
  const struct ops_transport *transport;
  void *exchange;
  ops_sso_oidc_done_fn done;
  void *ud;
};

void ops_sso_oidc_token_free(struct ops_sso_oidc_token *token)
{
  if (!token)
    return;
  ops_credentials_wipe_free(token->access_token);
  ops_credentials_wipe_free(token->refresh_token);
  free(token);
}

static int s_url(const struct ops_env *env, const char *region, char *out, size_t size,
                 struct ops_error *err)
{
  const char *endpoint = ops_env_endpoint_url(env, "AWS_ENDPOINT_URL_SSO_OIDC", NULL);
  if (endpoint) {
    size_t len = strlen(endpoint);
    while (len > 0 && endpoint[len - 1] == '/')
      len--;
    snprintf(out, size, "%.*s/token", (int)len, endpoint);
  } else {
    snprintf(out, size, "https://oidc.%s.amazonaws.com/token", region);
  }
  return ops_http_check_url(out, err);
}

/* What the error is called: the X-Amzn-ErrorType header, else the body's __type, else its OAuth
 * `error` ("invalid_grant"), which names the exception when nothing else does. */
static void s_error_code(const struct ops_http_response *response, const json_t *body, char *out,
                         size_t size)
{
  const char *type = ops_http_response_header(response, "x-amzn-ErrorType");
  if (!type)
    type = json_string_value(json_object_get(body, "__type"));
  if (!type)
    type = json_string_value(json_object_get(body, "error"));
  ops_error_aws_code(type ? type : "", out, size);
}

static const char *s_error_text(const json_t *body)
{
  static const char *const names[] = {"error_description", "message", "Message"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    const char *text = json_string_value(json_object_get(body, names[i]));
    if (text && text[0])
      return text;
  }
  return NULL;
}

static void s_refused(const struct ops_http_response *response, struct ops_error *err)
{
  json_t *body = json_loadb(response->body, response->body_len, 0, NULL);
  char code[64];
  s_error_code(response, body, code, sizeof(code));
  const char *text = s_error_text(body);
  long status = response->status;
  bool throttled = status == 429 || strcmp(code, "SlowDownException") == 0;
  enum ops_err kind = throttled       ? OPS_ERR_THROTTLED
                      : status >= 500 ? OPS_ERR_TRANSPORT
                                      : OPS_ERR_CREDENTIALS;
  ops_error_set(err, kind, "SSO OIDC CreateToken answered HTTP %ld%s%s%s%s", status,
                code[0] ? " " : "", code, text ? ": " : "", text ? text : "");
  ops_error_set_code(err, code);
  err->http_status = (int)status;
  err->retryable = kind != OPS_ERR_CREDENTIALS;
  json_decref(body);
}

static int s_token(const struct ops_http_response *response, struct ops_sso_oidc_token **out,
                   struct ops_error *err)
{
  json_t *body = json_loadb(response->body, response->body_len, 0, NULL);
  const char *access = json_string_value(json_object_get(body, "accessToken"));
  const char *refresh = json_string_value(json_object_get(body, "refreshToken"));
  json_t *expires_in = json_object_get(body, "expiresIn");
  struct ops_sso_oidc_token *token = NULL;
  int rc = OPS_OK;
  if (!access || !access[0] || !json_is_number(expires_in) || json_number_value(expires_in) <= 0)
    rc = ops_error_set(err, OPS_ERR_TRANSPORT,
                       "SSO OIDC CreateToken answered without accessToken and a positive "
                       "expiresIn");
  else if (!(token = calloc(1, sizeof(*token))) || !(token->access_token = strdup(access)) ||
           (refresh && refresh[0] && !(token->refresh_token = strdup(refresh))))
    rc = ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  if (rc == OPS_OK) {
    token->expires_in = (int64_t)json_number_value(expires_in);
    *out = token;
  } else {
    ops_sso_oidc_token_free(token);
  }
  json_decref(body); /* jansson does not wipe: the tokens stay in freed memory */
  return rc;
}

static void s_on_response(const struct ops_http_response *response,
                          const struct ops_error *transport_err, void *ud)
{
  struct ops_sso_oidc_call *call = ud;
  struct ops_sso_oidc_token *token = NULL;
  struct ops_error err = {0};
  if (transport_err)
    ops_credentials_http_error(&err, "SSO OIDC CreateToken", response, transport_err);
  else if (response->status != 200)
    s_refused(response, &err);
  else
    s_token(response, &token, &err);
  ops_sso_oidc_done_fn done = call->done;
  void *done_ud = call->ud;
  free(call);
  done(token, token ? NULL : &err, done_ud);
}

/* The request body: a secret, wiped by the caller. */
static char *s_body(const struct ops_sso_oidc_refresh *refresh)
{
  json_t *request = json_pack("{s:s, s:s, s:s, s:s}", "clientId", refresh->client_id,
                              "clientSecret", refresh->client_secret, "grantType", "refresh_token",
                              "refreshToken", refresh->refresh_token);
  char *body = request ? json_dumps(request, JSON_COMPACT) : NULL;
  json_decref(request);
  return body;
}

struct ops_sso_oidc_call *ops_sso_oidc_refresh_start(const struct ops_transport *transport,
                                                     const struct ops_env *env,
                                                     const struct ops_sso_oidc_refresh *refresh,
                                                     ops_sso_oidc_done_fn done, void *ud,
                                                     struct ops_error *err)
{
  char url[4096];
  if (s_url(env, refresh->region, url, sizeof(url), err) != OPS_OK)
    return NULL;
  struct ops_sso_oidc_call *call = calloc(1, sizeof(*call));
  char *body = s_body(refresh);
  if (!call || !body) {
    free(call);
    ops_credentials_wipe_free(body);
    ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
    return NULL;
  }
  *call = (struct ops_sso_oidc_call){.transport = transport, .done = done, .ud = ud};
  struct ops_http_header headers[] = {{"Content-Type", "application/json"},
                                      {"Accept", "application/json"}};
  struct ops_http_request request = {.method = "POST",
                                     .url = url,
                                     .headers = headers,
                                     .header_count = 2,
                                     .body = body,
                                     .body_len = strlen(body),
                                     .timeout_ms = S_TIMEOUT_MS,
                                     .max_response_bytes = (size_t)1 << 20};
  call->exchange = transport->start(transport->self, &request, s_on_response, call, err);
  ops_credentials_wipe_free(body);
  if (!call->exchange) {
    free(call);
    return NULL;
  }
  return call;
}

void ops_sso_oidc_cancel(struct ops_sso_oidc_call *call)
{
  call->transport->cancel(call->transport->self, call->exchange);
  free(call);
}
