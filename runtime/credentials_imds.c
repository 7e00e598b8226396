/* credentials_imds.c: the EC2 instance metadata source, in three exchanges: PUT
 * /latest/api/token (IMDSv2), GET /latest/meta-data/iam/security-credentials/ for the role name,
 * GET .../ROLE for {Code, AccessKeyId, SecretAccessKey, Token, Expiration}. As the AWS CLI does:
 * a token request refused with 403, 404 or 405, timed out, or failing with a 5xx falls back to
 * IMDSv1 (no token header) unless AWS_EC2_METADATA_V1_DISABLED=true; a service that cannot be
 * reached, a 400 for the token, or an instance without a role means "not configured". */
#include "runtime/credentials.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#define S_ENDPOINT_IPV4 "http://169.254.169.254"
#define S_ENDPOINT_IPV6 "http://[fd00:ec2::254]"
#define S_TOKEN_PATH    "/latest/api/token"
#define S_ROLE_PATH     "/latest/meta-data/iam/security-credentials/"
#define S_TOKEN_TTL     "21600"
#define S_TIMEOUT_MS    1000L

struct s_exchange {
  struct ops_credentials_exchange exchange; /* first: the common cancel frees it */
  bool v1_disabled;
  char base[1024]; /* the endpoint without a trailing '/' */
  char *token;     /* IMDSv2 session token; NULL when on IMDSv1 */
  char role[256];
};

static bool s_env_true(const struct ops_env *env, const char *name)
{
  const char *value = ops_env_get(env, name);
  return value && strcasecmp(value, "true") == 0;
}

static int s_endpoint(const struct ops_env *env, char *out, size_t size, struct ops_error *err)
{
  const char *endpoint = ops_env_get(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
  const char *mode = ops_env_get(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
  if (!endpoint && mode && strcasecmp(mode, "IPv6") != 0 && strcasecmp(mode, "IPv4") != 0)
    return ops_error_set(err, OPS_ERR_CONFIG,
                         "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE is '%.40s': use IPv4 or IPv6",
                         mode);
  if (!endpoint)
    endpoint = mode && strcasecmp(mode, "IPv6") == 0 ? S_ENDPOINT_IPV6 : S_ENDPOINT_IPV4;
  snprintf(out, size, "%s", endpoint);
  size_t len = strlen(out);
  while (len > 0 && out[len - 1] == '/')
    out[--len] = '\0';
  return ops_http_check_credential_url(out, err);
}

static void s_finish(struct s_exchange *x, struct ops_credentials *credentials,
                     const struct ops_error *err)
{
  ops_credentials_wipe_free(x->token);
  ops_credentials_exchange_complete(&x->exchange, credentials, err);
}

static void s_on_role(const struct ops_http_response *response, const struct ops_error *terr,
                      void *ud);
static void s_on_credentials(const struct ops_http_response *response, const struct ops_error *terr,
                             void *ud);

/* GETs `path` (after the base), with the token when there is one. */
static void s_get(struct s_exchange *x, const char *path, ops_http_done_fn done)
{
  char url[1400];
  struct ops_error err = {0};
  struct ops_http_header header = {"x-aws-ec2-metadata-token", x->token};
  if (!x->token && x->v1_disabled) {
    ops_error_set(&err, OPS_ERR_CREDENTIALS,
                  "instance metadata at %s gave no IMDSv2 token and IMDSv1 is disabled "
                  "(AWS_EC2_METADATA_V1_DISABLED)",
                  x->base);
    s_finish(x, NULL, &err);
    return;
  }
  snprintf(url, sizeof(url), "%s%s", x->base, path);
  if (ops_credentials_exchange_start(&x->exchange, "GET", url, &header, x->token ? 1 : 0,
                                     S_TIMEOUT_MS, true, done, &err) != OPS_OK)
    s_finish(x, NULL, &err);
}

static void s_on_token(const struct ops_http_response *response, const struct ops_error *terr,
                       void *ud)
{
  struct s_exchange *x = ud;
  struct ops_error err = {0};
  long status = response->status;
  if (terr && terr->kind != OPS_ERR_TIMEOUT) {
    ops_credentials_not_found(&err, "instance metadata: no answer from %s (%s)", x->base,
                              terr->message);
    s_finish(x, NULL, &err);
    return;
  }
  if (!terr && status == 400) {
    ops_credentials_not_found(&err, "instance metadata: %s refused the token request (HTTP 400)",
                              x->base);
    s_finish(x, NULL, &err);
    return;
  }
  if (!terr && status == 200 && response->body_len > 0) {
    x->token = strndup(response->body, response->body_len);
    if (!x->token) {
      ops_error_set(&err, OPS_ERR_NOMEM, "out of memory");
      s_finish(x, NULL, &err);
      return;
    }
  }
  /* otherwise (403, 404, 405, 5xx, a timeout): on without a token, IMDSv1 */
  s_get(x, S_ROLE_PATH, s_on_role);
}

static void s_on_role(const struct ops_http_response *response, const struct ops_error *terr,
                      void *ud)
{
  struct s_exchange *x = ud;
  struct ops_error err = {0};
  if (terr) {
    ops_credentials_not_found(&err, "instance metadata: no answer from %s (%s)", x->base,
                              terr->message);
  } else if (response->status == 404) {
    ops_credentials_not_found(&err, "instance metadata: the instance has no IAM role");
  } else if (response->status != 200) {
    ops_credentials_not_found(&err, "instance metadata: %s answered HTTP %ld for the role name",
                              x->base, response->status);
  } else {
    size_t len = strcspn(response->body, "\r\n");
    if (len == 0 || len >= sizeof(x->role)) {
      ops_credentials_not_found(&err, "instance metadata: the instance has no IAM role");
    } else {
      memcpy(x->role, response->body, len);
      x->role[len] = '\0';
      char path[512];
      snprintf(path, sizeof(path), "%s%s", S_ROLE_PATH, x->role);
      s_get(x, path, s_on_credentials);
      return;
    }
  }
  s_finish(x, NULL, &err);
}

static void s_on_credentials(const struct ops_http_response *response, const struct ops_error *terr,
                             void *ud)
{
  static const char *const names[4] = {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"};
  struct s_exchange *x = ud;
  struct ops_error err = {0};
  struct ops_credentials *credentials = NULL;
  char what[1500], source[300];
  snprintf(what, sizeof(what), "instance metadata %s%s%s", x->base, S_ROLE_PATH, x->role);
  snprintf(source, sizeof(source), "instance metadata (role %s)", x->role);
  if (terr || response->status != 200) {
    ops_credentials_http_error(&err, what, response, terr);
  } else {
    json_t *json = json_loadb(response->body, response->body_len, 0, NULL);
    const char *code = json_string_value(json_object_get(json, "Code"));
    if (code && strcmp(code, "Success") != 0)
      ops_error_set(&err, OPS_ERR_CREDENTIALS, "%s: Code %.64s: %.300s", what, code,
                    json_string_value(json_object_get(json, "Message"))
                        ? json_string_value(json_object_get(json, "Message"))
                        : "(no message)");
    else
      ops_credentials_from_json(json, names, true, what, source, &credentials, &err);
    json_decref(json);
  }
  s_finish(x, credentials, &err);
}

static int s_start(struct ops_credentials_provider *provider, struct ops_credentials_fetch *fetch,
                   struct ops_error *err)
{
  const struct ops_credentials_context *context = ops_credentials_provider_context(provider);
  if (s_env_true(&context->env, "AWS_EC2_METADATA_DISABLED"))
    return ops_credentials_not_found(err, "instance metadata: AWS_EC2_METADATA_DISABLED is true");
  struct s_exchange *x = calloc(1, sizeof(*x));
  if (!x)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  x->exchange = (struct ops_credentials_exchange){.fetch = fetch, .context = context};
  x->v1_disabled = s_env_true(&context->env, "AWS_EC2_METADATA_V1_DISABLED");
  char url[1100];
  int rc = s_endpoint(&context->env, x->base, sizeof(x->base), err);
  if (rc == OPS_OK) {
    snprintf(url, sizeof(url), "%s%s", x->base, S_TOKEN_PATH);
    struct ops_http_header header = {"x-aws-ec2-metadata-token-ttl-seconds", S_TOKEN_TTL};
    rc = ops_credentials_exchange_start(&x->exchange, "PUT", url, &header, 1, S_TIMEOUT_MS, true,
                                        s_on_token, err);
  }
  if (rc != OPS_OK)
    free(x);
  return rc;
}

static void s_cancel(struct ops_credentials_fetch *fetch)
{
  struct s_exchange *x = ops_credentials_fetch_state(fetch);
  ops_credentials_wipe_free(x->token);
  x->token = NULL;
  ops_credentials_exchange_cancel(fetch);
}

static const struct ops_credentials_provider_vtable s_vtable = {
    .name = "instance metadata",
    .start = s_start,
    .cancel = s_cancel,
};

int ops_credentials_provider_imds_new(struct ops_credentials_provider **out,
                                      const struct ops_credentials_context *context,
                                      struct ops_error *err)
{
  return ops_credentials_provider_new(out, &s_vtable, context, NULL, err);
}
