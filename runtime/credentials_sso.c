/* credentials_sso.c: the IAM Identity Center (SSO) source: the access token cached by `aws sso
 * login` in ~/.aws/sso/cache/HEX.json (HEX the SHA-1 of the sso-session name, or of the start URL
 * for legacy profiles), then the portal's GetRoleCredentials, GET
 * /federation/credentials?role_name=..&account_id=.. with header x-amz-sso_bearer_token. The
 * token is never refreshed here: an expired or refused one asks the user to log in again. */
#include "runtime/credentials.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "runtime/file.h"
#include "runtime/region.h"
#include "runtime/timestamp.h"

#define S_TIMEOUT_MS      10000L
#define S_MAX_CACHE_BYTES ((size_t)1 << 20) /* a cached token is kilobytes */

struct s_sso {
  char *profile;
  char *session_name;
  char *start_url;
  char *region;
  char *account_id;
  char *role_name;
};

struct s_exchange {
  struct ops_credentials_exchange exchange; /* first: the common cancel frees it */
  const struct s_sso *sso;
};

/* "aws sso login --profile x": what every expired-token message tells the user to run. */
static void s_login_hint(const struct s_sso *sso, char *buf, size_t size)
{
  snprintf(buf, size, "run `aws sso login --profile %s`", sso->profile);
}

static int s_cache_path(const struct ops_credentials_context *context, const struct s_sso *sso,
                        char *out, size_t size, struct ops_error *err)
{
  const char *home = ops_env_get(&context->env, "HOME");
  const char *key = sso->session_name ? sso->session_name : sso->start_url;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  if (!home)
    return ops_error_set(err, OPS_ERR_CONFIG,
                         "SSO (profile %s): HOME is not set, so the SSO token cache cannot be "
                         "found",
                         sso->profile);
  if (!EVP_Digest(key, strlen(key), digest, &digest_len, EVP_sha1(), NULL))
    return ops_error_set(err, OPS_ERR_NOMEM, "SHA-1 is not available from OpenSSL");
  for (unsigned int i = 0; i < digest_len; i++)
    snprintf(hex + 2 * i, 3, "%02x", digest[i]);
  snprintf(out, size, "%s/.aws/sso/cache/%s.json", home, hex);
  return OPS_OK;
}

/* The cached access token (owned by the caller; wipe it), checked against the clock. */
static int s_cached_token(const struct ops_credentials_context *context, const struct s_sso *sso,
                          char **out, struct ops_error *err)
{
  char path[4200], hint[300];
  int rc = s_cache_path(context, sso, path, sizeof(path), err);
  if (rc != OPS_OK)
    return rc;
  s_login_hint(sso, hint, sizeof(hint));
  char *text = NULL;
  size_t len = 0;
  struct ops_error read_err;
  bool read =
      ops_file_read(path, S_MAX_CACHE_BYTES, OPS_ERR_CREDENTIALS, &text, &len, &read_err) == OPS_OK;
  bool too_large = !read && errno == EFBIG;
  json_t *json = read ? json_loadb(text, len, 0, NULL) : NULL;
  if (text)
    OPENSSL_cleanse(text, len);
  free(text);
  const char *token = json_string_value(json_object_get(json, "accessToken"));
  const char *expires = json_string_value(json_object_get(json, "expiresAt"));
  int64_t expiration = 0;
  char when[OPS_TIMESTAMP_LEN];
  if (too_large)
    rc = ops_error_set(err, OPS_ERR_CREDENTIALS, "SSO (profile %s): %s: %s", sso->profile,
                       read_err.message, hint);
  else if (!json)
    rc = ops_error_set(err, OPS_ERR_CREDENTIALS,
                       "SSO (profile %s): no usable cached token in %s: %s", sso->profile, path,
                       hint);
  else if (!token || !expires || ops_timestamp_parse(expires, &expiration, NULL) != OPS_OK)
    rc = ops_error_set(err, OPS_ERR_CREDENTIALS,
                       "SSO (profile %s): %s lacks accessToken or a valid expiresAt: %s",
                       sso->profile, path, hint);
  else if ((double)expiration <= context->clock.now(context->clock.self)) {
    ops_timestamp_format(expiration, when, sizeof(when));
    rc = ops_error_set(err, OPS_ERR_CREDENTIALS,
                       "SSO (profile %s): the cached token expired at %s: %s", sso->profile, when,
                       hint);
  } else if (!(*out = strdup(token))) {
    rc = ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  }
  if (rc != OPS_OK)
    ops_error_set_code(err, rc == OPS_ERR_NOMEM ? "" : "SSOTokenNotUsable");
  json_decref(json); /* jansson does not wipe: the token stays in freed memory (see report) */
  return rc;
}

static int s_url(const struct ops_credentials_context *context, const struct s_sso *sso, char *out,
                 size_t size, struct ops_error *err)
{
  const char *endpoint = ops_env_get(&context->env, "AWS_ENDPOINT_URL_SSO");
  char regional[300];
  if (!endpoint)
    endpoint = ops_env_get(&context->env, "AWS_ENDPOINT_URL");
  if (!endpoint) {
    snprintf(regional, sizeof(regional), "https://portal.sso.%s.amazonaws.com", sso->region);
    endpoint = regional;
  }
  char *role = curl_easy_escape(NULL, sso->role_name, 0);
  char *account = curl_easy_escape(NULL, sso->account_id, 0);
  size_t len = strlen(endpoint);
  while (len > 0 && endpoint[len - 1] == '/')
    len--;
  if (role && account)
    snprintf(out, size, "%.*s/federation/credentials?role_name=%s&account_id=%s", (int)len,
             endpoint, role, account);
  curl_free(role);
  curl_free(account);
  if (!role || !account)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  return ops_http_check_url(out, err);
}

/* The portal's error: x-amzn-ErrorType (before any ':') and the JSON message. */
static void s_portal_error(const struct s_exchange *x, const struct ops_http_response *response,
                           struct ops_error *err)
{
  const char *type = ops_http_response_header(response, "x-amzn-ErrorType");
  char code[64] = "", hint[300];
  if (type)
    snprintf(code, sizeof(code), "%.*s", (int)strcspn(type, ":"), type);
  json_t *json = json_loadb(response->body, response->body_len, 0, NULL);
  const char *message = json_string_value(json_object_get(json, "message"));
  if (!message)
    message = json_string_value(json_object_get(json, "Message"));
  long status = response->status;
  s_login_hint(x->sso, hint, sizeof(hint));
  enum ops_err kind = status == 401   ? OPS_ERR_CREDENTIALS
                      : status == 403 ? OPS_ERR_DENIED
                      : status == 429 ? OPS_ERR_THROTTLED
                      : status >= 500 ? OPS_ERR_TRANSPORT
                                      : OPS_ERR_CONFIG;
  ops_error_set(err, kind, "SSO (profile %s): GetRoleCredentials for role %s in account %s: %s%s%s",
                x->sso->profile, x->sso->role_name, x->sso->account_id,
                message ? message : "no message", status == 401 ? "; " : "",
                status == 401 ? hint : "");
  ops_error_set_code(err, code);
  err->http_status = (int)status;
  err->retryable = kind == OPS_ERR_THROTTLED || kind == OPS_ERR_TRANSPORT;
  json_decref(json);
}

static int s_role_credentials(const struct s_exchange *x, const struct ops_http_response *response,
                              struct ops_credentials **out, struct ops_error *err)
{
  char source[300];
  json_t *json = json_loadb(response->body, response->body_len, 0, NULL);
  json_t *role = json_object_get(json, "roleCredentials");
  const char *key = json_string_value(json_object_get(role, "accessKeyId"));
  const char *secret = json_string_value(json_object_get(role, "secretAccessKey"));
  const char *token = json_string_value(json_object_get(role, "sessionToken"));
  json_t *expiration = json_object_get(role, "expiration");
  int rc;
  snprintf(source, sizeof(source), "SSO (profile %s)", x->sso->profile);
  if (!key || !secret || !json_is_number(expiration))
    rc = ops_error_set(err, OPS_ERR_TRANSPORT,
                       "SSO (profile %s): GetRoleCredentials answered without roleCredentials "
                       "accessKeyId, secretAccessKey and expiration",
                       x->sso->profile);
  else
    rc = ops_credentials_new(out, key, secret, token,
                             (int64_t)(json_number_value(expiration) / 1000), source, err);
  json_decref(json);
  return rc;
}

static void s_on_response(const struct ops_http_response *response,
                          const struct ops_error *transport_err, void *ud)
{
  struct s_exchange *x = ud;
  struct ops_credentials *credentials = NULL;
  struct ops_error err = {0};
  char what[300];
  snprintf(what, sizeof(what), "SSO (profile %s) portal", x->sso->profile);
  if (transport_err)
    ops_credentials_http_error(&err, what, response, transport_err);
  else if (response->status != 200)
    s_portal_error(x, response, &err);
  else
    s_role_credentials(x, response, &credentials, &err);
  ops_credentials_exchange_complete(&x->exchange, credentials, &err);
}

static int s_start(struct ops_credentials_provider *provider, struct ops_credentials_fetch *fetch,
                   struct ops_error *err)
{
  const struct ops_credentials_context *context = ops_credentials_provider_context(provider);
  const struct s_sso *sso = ops_credentials_provider_impl(provider);
  char url[4096], *token = NULL;
  int rc = s_url(context, sso, url, sizeof(url), err);
  if (rc == OPS_OK)
    rc = s_cached_token(context, sso, &token, err);
  if (rc != OPS_OK)
    return rc;
  struct s_exchange *x = calloc(1, sizeof(*x));
  if (!x) {
    ops_credentials_wipe_free(token);
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  }
  x->exchange = (struct ops_credentials_exchange){.fetch = fetch, .context = context};
  x->sso = sso;
  struct ops_http_header headers[] = {{"x-amz-sso_bearer_token", token},
                                      {"Accept", "application/json"}};
  rc = ops_credentials_exchange_start(&x->exchange, "GET", url, headers, 2, S_TIMEOUT_MS, false,
                                      s_on_response, err);
  ops_credentials_wipe_free(token);
  if (rc != OPS_OK)
    free(x);
  return rc;
}

static void s_destroy(void *impl)
{
  struct s_sso *sso = impl;
  if (!sso)
    return;
  free(sso->profile);
  free(sso->session_name);
  free(sso->start_url);
  free(sso->region);
  free(sso->account_id);
  free(sso->role_name);
  free(sso);
}

static const struct ops_credentials_provider_vtable s_vtable = {
    .name = "sso",
    .start = s_start,
    .cancel = ops_credentials_exchange_cancel,
    .destroy = s_destroy,
};

static char *s_dup(const char *s, bool *ok)
{
  char *copy = s ? strdup(s) : NULL;
  *ok &= !s || copy;
  return copy;
}

int ops_credentials_provider_sso_new(struct ops_credentials_provider **out,
                                     const struct ops_credentials_context *context,
                                     const struct ops_credentials_sso_config *config,
                                     struct ops_error *err)
{
  char source[128];
  snprintf(source, sizeof(source), "sso_region of profile %.64s",
           config->profile ? config->profile : "default");
  if (ops_region_check(config->region, source, err) != OPS_OK) /* the portal's host name */
    return OPS_ERR_CONFIG;
  bool ok = true;
  struct s_sso *sso = calloc(1, sizeof(*sso));
  if (sso) {
    sso->profile = s_dup(config->profile ? config->profile : "default", &ok);
    sso->session_name = s_dup(config->session_name, &ok);
    sso->start_url = s_dup(config->start_url ? config->start_url : "", &ok);
    sso->region = s_dup(config->region ? config->region : "", &ok);
    sso->account_id = s_dup(config->account_id ? config->account_id : "", &ok);
    sso->role_name = s_dup(config->role_name ? config->role_name : "", &ok);
  }
  if (!sso || !ok) {
    s_destroy(sso);
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  }
  return ops_credentials_provider_new(out, &s_vtable, context, sso, err);
}
