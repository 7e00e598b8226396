/* credentials_ecs.c: the container credentials source (ECS tasks, EKS Pod Identity): GET the
 * endpoint named by AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on http://169.254.170.2) or
 * AWS_CONTAINER_CREDENTIALS_FULL_URI (loopback or the link-local container hosts only, as the
 * AWS CLI allows), with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or _TOKEN as Authorization, and
 * read {AccessKeyId, SecretAccessKey, Token, Expiration}. */
#include "runtime/credentials.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "runtime/http.h"

#define S_RELATIVE_HOST "http://169.254.170.2"
#define S_TIMEOUT_MS    2000L

struct s_exchange {
  struct ops_credentials_exchange exchange; /* first: the common cancel frees it */
  char what[600];                           /* "container credentials endpoint URL" */
};

static bool s_allowed_host(const char *host)
{
  static const char *const hosts[] = {"169.254.170.2", "169.254.170.23", "[fd00:ec2::23]", NULL};
  for (const char *const *h = hosts; *h; h++)
    if (strcasecmp(host, *h) == 0)
      return true;
  return ops_http_is_loopback_host(host);
}

static int s_check_full_uri(const char *url, struct ops_error *err)
{
  char *host = NULL;
  CURLU *u = curl_url();
  int rc = OPS_OK;
  if (!u)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
    rc = ops_error_set(err, OPS_ERR_CONFIG,
                       "AWS_CONTAINER_CREDENTIALS_FULL_URI '%.200s' is not a valid URL", url);
  else if (!s_allowed_host(host))
    rc = ops_error_set(err, OPS_ERR_CONFIG,
                       "AWS_CONTAINER_CREDENTIALS_FULL_URI: unsupported host '%.100s': the "
                       "container credentials endpoint must be a loopback address or one of "
                       "169.254.170.2, 169.254.170.23, fd00:ec2::23, localhost",
                       host);
  curl_free(host);
  curl_url_cleanup(u);
  return rc;
}

/* The Authorization value, or NULL when none is configured. */
static int s_authorization(const struct ops_env *env, char **out, struct ops_error *err)
{
  const char *file = ops_env_get(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
  const char *token = ops_env_get(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
  *out = NULL;
  if (file) {
    int rc =
        ops_credentials_read_token_file(file, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", out, err);
    if (rc != OPS_OK)
      return rc;
  } else if (token && !(*out = strdup(token))) {
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  }
  if (*out && strpbrk(*out, "\r\n")) {
    ops_credentials_wipe_free(*out);
    *out = NULL;
    return ops_error_set(err, OPS_ERR_CONFIG,
                         "the container authorization token has a line break in it, which "
                         "cannot be sent as a header");
  }
  return OPS_OK;
}

static void s_on_response(const struct ops_http_response *response,
                          const struct ops_error *transport_err, void *ud)
{
  static const char *const names[4] = {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"};
  struct s_exchange *x = ud;
  struct ops_credentials *credentials = NULL;
  struct ops_error err = {0};
  if (transport_err || response->status != 200) {
    ops_credentials_http_error(&err, x->what, response, transport_err);
  } else {
    json_t *json = json_loadb(response->body, response->body_len, 0, NULL);
    ops_credentials_from_json(json, names, true, x->what, "container endpoint", &credentials, &err);
    json_decref(json);
  }
  ops_credentials_exchange_complete(&x->exchange, credentials, &err);
}

static int s_start(struct ops_credentials_provider *provider, struct ops_credentials_fetch *fetch,
                   struct ops_error *err)
{
  const struct ops_credentials_context *context = ops_credentials_provider_context(provider);
  const char *relative = ops_env_get(&context->env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  const char *full = ops_env_get(&context->env, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
  char url[2048], *authorization = NULL;
  int rc = OPS_OK;
  if (!relative && !full)
    return ops_credentials_not_found(
        err, "container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI not set");
  if (relative)
    snprintf(url, sizeof(url), "%s%s%s", S_RELATIVE_HOST, relative[0] == '/' ? "" : "/", relative);
  else if ((rc = s_check_full_uri(full, err)) != OPS_OK)
    return rc;
  else
    snprintf(url, sizeof(url), "%s", full);
  rc = s_authorization(&context->env, &authorization, err);
  if (rc != OPS_OK)
    return rc;
  struct s_exchange *x = calloc(1, sizeof(*x));
  if (!x) {
    ops_credentials_wipe_free(authorization);
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  }
  x->exchange = (struct ops_credentials_exchange){.fetch = fetch, .context = context};
  snprintf(x->what, sizeof(x->what), "container credentials endpoint %.500s", url);
  struct ops_http_header headers[] = {{"Accept", "application/json"},
                                      {"Authorization", authorization}};
  rc = ops_credentials_exchange_start(&x->exchange, "GET", url, headers, authorization ? 2 : 1,
                                      S_TIMEOUT_MS, true, s_on_response, err);
  ops_credentials_wipe_free(authorization);
  if (rc != OPS_OK)
    free(x);
  return rc;
}

static const struct ops_credentials_provider_vtable s_vtable = {
    .name = "container",
    .start = s_start,
    .cancel = ops_credentials_exchange_cancel,
};

int ops_credentials_provider_ecs_new(struct ops_credentials_provider **out,
                                     const struct ops_credentials_context *context,
                                     struct ops_error *err)
{
  return ops_credentials_provider_new(out, &s_vtable, context, NULL, err);
}
