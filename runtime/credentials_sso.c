/* credentials_sso.c: the IAM Identity Center (SSO) source: the access token cached by `aws sso
 * login` in ~/.aws/sso/cache/HEX.json (HEX the SHA-1 of the sso-session name, or of the start URL
 * for legacy profiles), then the portal's GetRoleCredentials, GET
 * /federation/credentials?role_name=..&account_id=.. with header x-amz-sso_bearer_token. With an
 * sso-session (the AWS CLI v2's refreshable form) a token near its expiry is renewed with the
 * refresh token and client registration the cache holds (SSO OIDC CreateToken,
 * runtime/sso_oidc.h), one CreateToken for every fetch waiting on it, and the cache file is
 * written back as botocore writes it. A legacy profile's token is never refreshed; an expired
 * token that cannot be renewed, or one the portal refuses, asks the user to log in again. */
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
#include "runtime/list.h"
#include "runtime/log.h"
#include "runtime/region.h"
#include "runtime/sso_oidc.h"
#include "runtime/timestamp.h"

#define S_TIMEOUT_MS      10000L
#define S_MAX_CACHE_BYTES ((size_t)1 << 20) /* a cached token is kilobytes */

/* When a token is refreshed, as botocore's DeferredRefreshableToken (botocore/tokens.py): within
 * 15 minutes of its expiry a fetch tries, unless another refresh is under way, in which case it
 * goes on with the token it has (_advisory_refresh_timeout); within 10 minutes every fetch waits
 * for the refresh (_mandatory_refresh_timeout); attempts are at least a minute apart
 * (_attempt_timeout), here only after one failed, so that a token whose whole life is shorter
 * than the windows is still renewed when it runs out, and only while the token is valid or the
 * failure was a refusal (a refused refresh token stays refused: a sweep of many accounts asks
 * once, not once an account). A failed refresh leaves the cached token in use until it expires
 * (SSOTokenProvider._refresher). */
#define S_ADVISORY_REFRESH_SECONDS  (15 * 60)
#define S_MANDATORY_REFRESH_SECONDS (10 * 60)
#define S_ATTEMPT_INTERVAL_SECONDS  60

struct s_refresh;

struct s_sso {
  char *profile;
  char *session_name;
  char *start_url;
  char *region;
  char *account_id;
  char *role_name;
};

/* The token cache file of an sso-session, shared by every provider of the process that reads it
 * (the profile source makes a provider a fetch, and several profiles may name one sso-session),
 * so that they all share one CreateToken and its attempt interval. Made on first use and kept
 * until the process ends; one thread, so no lock. */
struct s_session {
  struct ops_list_node node;
  char *path;
  char *name;
  char *start_url;
  char *region;
  struct s_refresh *refresh; /* the CreateToken under way, or NULL */
  /* After a failed refresh: no other before next_attempt, unless the token expired and the
   * failure may pass (a transport failure, throttling); last_failure says why (no secret). */
  double next_attempt;
  char last_failure[512];
  bool failure_may_pass;
};

static struct ops_list s_sessions;

/* The token cache file as read: its JSON object, owned, and what the token is. */
struct s_cache {
  char path[4200];
  json_t *json;
  const char *access_token; /* borrowed from json */
  int64_t expiration;
};

struct s_exchange {
  struct ops_credentials_exchange exchange; /* first: the common cancel frees it */
  struct s_sso *sso;
  char url[4096];               /* GetRoleCredentials */
  struct s_session *session;    /* while waiting for its refresh */
  struct ops_list_node waiting; /* on the refresh's waiters while it runs */
};

/* A CreateToken under way. It outlives the provider that started it when that one's fetch is
 * cancelled, so it keeps a copy of the context (whose states outlive every provider). */
struct s_refresh {
  struct s_session *session;
  struct ops_credentials_context context;
  struct ops_sso_oidc_call *call;
  struct ops_list waiters; /* struct s_exchange, by `waiting` */
  struct s_cache cache;    /* the token being renewed, then the renewed one */
};

/* "aws sso login --profile x": what every expired-token message tells the user to run (the AWS
 * CLI v2 logs in to the profile's sso-session, for both forms). */
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

static void s_cache_clear(struct s_cache *cache)
{
  json_decref(cache->json); /* jansson does not wipe: the tokens stay in freed memory */
  cache->json = NULL;
  cache->access_token = NULL;
}

static const char *s_cache_string(const struct s_cache *cache, const char *name)
{
  const char *value = json_string_value(json_object_get(cache->json, name));
  return value && value[0] ? value : NULL;
}

/* Reads the cache file: an object with accessToken and a valid expiresAt, expired or not. */
static int s_cache_load(const struct ops_credentials_context *context, const struct s_sso *sso,
                        struct s_cache *cache, struct ops_error *err)
{
  char hint[300];
  int rc = s_cache_path(context, sso, cache->path, sizeof(cache->path), err);
  if (rc != OPS_OK)
    return rc;
  s_login_hint(sso, hint, sizeof(hint));
  char *text = NULL;
  size_t len = 0;
  struct ops_error read_err;
  bool read = ops_file_read(cache->path, S_MAX_CACHE_BYTES, OPS_ERR_CREDENTIALS, &text, &len,
                            &read_err) == OPS_OK;
  bool too_large = !read && errno == EFBIG;
  cache->json = read ? json_loadb(text, len, 0, NULL) : NULL;
  if (text)
    OPENSSL_cleanse(text, len);
  free(text);
  cache->access_token = s_cache_string(cache, "accessToken");
  const char *expires = s_cache_string(cache, "expiresAt");
  if (too_large)
    rc = ops_error_set(err, OPS_ERR_CREDENTIALS, "SSO (profile %s): %s: %s", sso->profile,
                       read_err.message, hint);
  else if (!json_is_object(cache->json))
    rc = ops_error_set(err, OPS_ERR_CREDENTIALS,
                       "SSO (profile %s): no usable cached token in %s: %s", sso->profile,
                       cache->path, hint);
  else if (!cache->access_token || !expires ||
           ops_timestamp_parse(expires, &cache->expiration, NULL) != OPS_OK)
    rc = ops_error_set(err, OPS_ERR_CREDENTIALS,
                       "SSO (profile %s): %s lacks accessToken or a valid expiresAt: %s",
                       sso->profile, cache->path, hint);
  if (rc != OPS_OK) {
    ops_error_set_code(err, "SSOTokenNotUsable");
    s_cache_clear(cache);
  }
  return rc;
}

/* The token expired (and, `why` says, cannot be renewed): log in again. */
static int s_expired(const struct s_sso *sso, const struct s_cache *cache, const char *why,
                     struct ops_error *err)
{
  char when[OPS_TIMESTAMP_LEN], hint[300];
  ops_timestamp_format(cache->expiration, when, sizeof(when));
  s_login_hint(sso, hint, sizeof(hint));
  ops_error_set(err, OPS_ERR_CREDENTIALS,
                "SSO (profile %s): the cached token expired at %s%s%s%s: %s", sso->profile, when,
                why[0] ? " and cannot be refreshed (" : "", why, why[0] ? ")" : "", hint);
  ops_error_set_code(err, "SSOTokenNotUsable");
  return OPS_ERR_CREDENTIALS;
}

/* Whether the cache holds what the refresh grant needs, a client registration still valid
 * included (botocore's _refresh_access_token); if not, `why` says what is missing. */
static bool s_can_refresh(const struct s_cache *cache, double now, char *why, size_t size)
{
  static const char *const needed[] = {"refreshToken", "clientId", "clientSecret"};
  for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
    if (!s_cache_string(cache, needed[i])) {
      snprintf(why, size, "the cache holds no %s", needed[i]);
      return false;
    }
  }
  const char *registration = s_cache_string(cache, "registrationExpiresAt");
  int64_t expiration = 0;
  if (!registration || ops_timestamp_parse(registration, &expiration, NULL) != OPS_OK) {
    snprintf(why, size, "the cache holds no valid registrationExpiresAt");
    return false;
  }
  if ((double)expiration <= now) {
    snprintf(why, size, "the client registration expired at %.32s", registration);
    return false;
  }
  return true;
}

/* Writes the cache file as botocore's JSONFileCache does: a new file beside it, renamed over it
 * (runtime/file.h). */
static int s_cache_write(const struct s_cache *cache, struct ops_error *err)
{
  char *text = json_dumps(cache->json, 0);
  if (!text)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  int rc = ops_file_replace(cache->path, text, strlen(text), OPS_ERR_CREDENTIALS, err);
  ops_credentials_wipe_free(text);
  return rc;
}

/* The session of `sso`'s cache file at `path`, made on first use; NULL when out of memory. */
static struct s_session *s_session_of(const struct s_sso *sso, const char *path)
{
  for (struct ops_list_node *node = s_sessions.head; node; node = node->next) {
    struct s_session *session = OPS_LIST_ENTRY(node, struct s_session, node);
    if (strcmp(session->path, path) == 0)
      return session;
  }
  struct s_session *session = calloc(1, sizeof(*session));
  if (session) {
    session->path = strdup(path);
    session->name = strdup(sso->session_name);
    session->start_url = strdup(sso->start_url);
    session->region = strdup(sso->region);
  }
  if (!session || !session->path || !session->name || !session->start_url || !session->region) {
    if (session) {
      free(session->path);
      free(session->name);
      free(session->start_url);
      free(session->region);
    }
    free(session);
    return NULL;
  }
  ops_list_push_back(&s_sessions, &session->node);
  return session;
}

/* Puts the renewed token into the cache, as botocore's _attempt_create_token does (the start
 * URL and region from the configuration; a refresh token only when the answer has one), keeping
 * every other field, and writes it back. A cache that cannot be written still serves this run. */
static void s_cache_renew(struct s_refresh *r, const struct ops_sso_oidc_token *token)
{
  const struct s_session *session = r->session;
  json_t *json = r->cache.json;
  char when[OPS_TIMESTAMP_LEN];
  int64_t expiration = (int64_t)r->context.clock.now(r->context.clock.self) + token->expires_in;
  ops_timestamp_format(expiration, when, sizeof(when));
  json_object_set_new(json, "startUrl", json_string(session->start_url));
  json_object_set_new(json, "region", json_string(session->region));
  json_object_set_new(json, "accessToken", json_string(token->access_token));
  json_object_set_new(json, "expiresAt", json_string(when));
  if (token->refresh_token)
    json_object_set_new(json, "refreshToken", json_string(token->refresh_token));
  r->cache.access_token = s_cache_string(&r->cache, "accessToken");
  r->cache.expiration = expiration;
  struct ops_error err = {0};
  if (s_cache_write(&r->cache, &err) == OPS_OK)
    ops_log(OPS_LOG_INFO, NULL,
            "SSO (sso-session %s): the access token was refreshed; it expires at %s", session->name,
            when);
  else
    ops_log(OPS_LOG_WARN, NULL,
            "SSO (sso-session %s): the access token was refreshed, but the cache was not updated: "
            "%s",
            session->name, err.message);
}

static int s_url(const struct ops_credentials_context *context, const struct s_sso *sso, char *out,
                 size_t size, struct ops_error *err)
{
  const char *endpoint = ops_env_endpoint_url(&context->env, "AWS_ENDPOINT_URL_SSO", NULL);
  char regional[300];
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

static int s_portal_start(struct s_exchange *x, const char *token, struct ops_error *err)
{
  struct ops_http_header headers[] = {{"x-amz-sso_bearer_token", (char *)token},
                                      {"Accept", "application/json"}};
  return ops_credentials_exchange_start(&x->exchange, "GET", x->url, headers, 2, S_TIMEOUT_MS,
                                        false, s_on_response, err);
}

static void s_wait(struct s_exchange *x, struct s_refresh *r)
{
  x->session = r->session;
  ops_list_push_back(&r->waiters, &x->waiting);
  ops_credentials_fetch_set_state(x->exchange.fetch, x);
}

static void s_refresh_free(struct s_refresh *r)
{
  s_cache_clear(&r->cache);
  free(r);
}

/* A waiting fetch goes on once the refresh ended: with the renewed token, else with the old one
 * while it is valid, else it fails. Its callback may run here. */
static void s_resume(struct s_exchange *x, const struct s_refresh *r,
                     const struct ops_error *failed)
{
  struct ops_error err = {0};
  const struct ops_clock *clock = &x->exchange.context->clock;
  int rc;
  x->session = NULL;
  if (!failed || (double)r->cache.expiration > clock->now(clock->self))
    rc = s_portal_start(x, r->cache.access_token, &err);
  else
    rc = s_expired(x->sso, &r->cache, failed->message, &err);
  if (rc != OPS_OK)
    ops_credentials_exchange_complete(&x->exchange, NULL, &err);
}

static void s_on_refreshed(struct ops_sso_oidc_token *token, const struct ops_error *err, void *ud)
{
  struct s_refresh *r = ud;
  struct s_session *session = r->session;
  double now = r->context.clock.now(r->context.clock.self);
  char when[OPS_TIMESTAMP_LEN];
  session->refresh = NULL;
  if (token) {
    s_cache_renew(r, token);
  } else {
    session->next_attempt = now + S_ATTEMPT_INTERVAL_SECONDS;
    snprintf(session->last_failure, sizeof(session->last_failure), "%.500s", err->message);
    session->failure_may_pass = err->retryable;
    ops_timestamp_format(r->cache.expiration, when, sizeof(when));
    if ((double)r->cache.expiration > now)
      ops_log(OPS_LOG_WARN, NULL,
              "SSO (sso-session %s): refreshing the access token failed (%s); the cached one is "
              "used until it expires at %s",
              session->name, err->message, when);
  }
  while (r->waiters.head) {
    struct ops_list_node *node = r->waiters.head;
    ops_list_remove(&r->waiters, node);
    s_resume(OPS_LIST_ENTRY(node, struct s_exchange, waiting), r, token ? NULL : err);
  }
  ops_sso_oidc_token_free(token);
  s_refresh_free(r);
}

/* Starts CreateToken for `x`, which waits for it; takes the cache on success. */
static int s_refresh_start(struct s_exchange *x, struct s_session *session, struct s_cache *cache,
                           struct ops_error *err)
{
  struct s_refresh *r = calloc(1, sizeof(*r));
  if (!r)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  struct ops_sso_oidc_refresh request = {
      .region = session->region,
      .client_id = s_cache_string(cache, "clientId"),
      .client_secret = s_cache_string(cache, "clientSecret"),
      .refresh_token = s_cache_string(cache, "refreshToken"),
  };
  r->session = session;
  r->context = *x->exchange.context;
  r->context.region = NULL; /* the provider's copy, gone with it */
  r->call = ops_sso_oidc_refresh_start(&r->context.transport, &r->context.env, &request,
                                       s_on_refreshed, r, err);
  if (!r->call) {
    free(r);
    return err->kind;
  }
  r->cache = *cache;
  *cache = (struct s_cache){0};
  session->refresh = r;
  s_wait(x, r);
  return OPS_OK;
}

/* What a fetch does with the token it read (see S_ADVISORY_REFRESH_SECONDS): use it, refresh it
 * first, wait for the refresh under way, or fail. */
static int s_use_token(struct s_exchange *x, struct s_cache *cache, struct ops_error *err)
{
  const struct ops_clock *clock = &x->exchange.context->clock;
  double now = clock->now(clock->self);
  double remaining = (double)cache->expiration - now;
  char why[600] = "";
  struct s_session *session = NULL;
  if (x->sso->session_name && remaining < S_ADVISORY_REFRESH_SECONDS &&
      !(session = s_session_of(x->sso, cache->path)))
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  if (session && session->refresh && remaining < S_MANDATORY_REFRESH_SECONDS) {
    s_wait(x, session->refresh);
    return OPS_OK;
  }
  bool refreshable = session && !session->refresh && s_can_refresh(cache, now, why, sizeof(why));
  bool waiting_out_a_failure =
      refreshable && now < session->next_attempt && (remaining > 0 || !session->failure_may_pass);
  if (waiting_out_a_failure) {
    snprintf(why, sizeof(why), "%s", session->last_failure);
  } else if (refreshable) {
    int rc = s_refresh_start(x, session, cache, err);
    if (rc == OPS_OK || remaining <= 0)
      return rc;
  }
  if (remaining <= 0)
    return s_expired(x->sso, cache, why, err);
  return s_portal_start(x, cache->access_token, err);
}

static int s_start(struct ops_credentials_provider *provider, struct ops_credentials_fetch *fetch,
                   struct ops_error *err)
{
  const struct ops_credentials_context *context = ops_credentials_provider_context(provider);
  struct s_sso *sso = ops_credentials_provider_impl(provider);
  struct s_cache cache = {0};
  struct s_exchange *x = calloc(1, sizeof(*x));
  if (!x)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  x->exchange = (struct ops_credentials_exchange){.fetch = fetch, .context = context};
  x->sso = sso;
  int rc = s_url(context, sso, x->url, sizeof(x->url), err);
  if (rc == OPS_OK)
    rc = s_cache_load(context, sso, &cache, err);
  if (rc == OPS_OK)
    rc = s_use_token(x, &cache, err);
  s_cache_clear(&cache);
  if (rc != OPS_OK)
    free(x);
  return rc;
}

/* Abandons a fetch: its portal exchange, or its place among a refresh's waiters (the refresh
 * itself with the last of them). */
static void s_cancel(struct ops_credentials_fetch *fetch)
{
  struct s_exchange *x = ops_credentials_fetch_state(fetch);
  struct s_session *session = x->session;
  if (!session) {
    ops_credentials_exchange_cancel(fetch);
    return;
  }
  struct s_refresh *r = session->refresh;
  ops_list_remove(&r->waiters, &x->waiting);
  free(x);
  if (r->waiters.head)
    return;
  ops_sso_oidc_cancel(r->call);
  session->refresh = NULL;
  s_refresh_free(r);
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
    .cancel = s_cancel,
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
