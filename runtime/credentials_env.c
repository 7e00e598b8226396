/* credentials_env.c: the environment source: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN (or the older AWS_SECURITY_TOKEN) and AWS_CREDENTIAL_EXPIRATION, read through
 * struct ops_env. A key id without its secret stops the chain, as in the AWS CLI. */
#include "runtime/credentials.h"

#include "runtime/timestamp.h"

static int s_read(const struct ops_env *env, struct ops_credentials **out, struct ops_error *err)
{
  const char *key = ops_env_get(env, "AWS_ACCESS_KEY_ID");
  const char *secret = ops_env_get(env, "AWS_SECRET_ACCESS_KEY");
  const char *token = ops_env_get(env, "AWS_SESSION_TOKEN");
  const char *expiry = ops_env_get(env, "AWS_CREDENTIAL_EXPIRATION");
  int64_t expiration = 0;
  if (!key)
    return ops_credentials_not_found(err, "environment: AWS_ACCESS_KEY_ID not set");
  if (!secret) {
    ops_error_set(err, OPS_ERR_CREDENTIALS,
                  "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: export both, or "
                  "unset AWS_ACCESS_KEY_ID to use a profile");
    ops_error_set_code(err, "PartialCredentials");
    return OPS_ERR_CREDENTIALS;
  }
  if (!token)
    token = ops_env_get(env, "AWS_SECURITY_TOKEN");
  if (expiry && ops_timestamp_parse(expiry, &expiration, NULL) != OPS_OK)
    return ops_error_set(err, OPS_ERR_CREDENTIALS,
                         "AWS_CREDENTIAL_EXPIRATION '%.64s' is not an ISO 8601 timestamp such as "
                         "2026-11-24T06:00:00Z",
                         expiry);
  return ops_credentials_new(out, key, secret, token, expiration, "environment", err);
}

static int s_start(struct ops_credentials_provider *provider, struct ops_credentials_fetch *fetch,
                   struct ops_error *err)
{
  struct ops_credentials *credentials = NULL;
  int rc = s_read(&ops_credentials_provider_context(provider)->env, &credentials, err);
  if (rc == OPS_OK)
    ops_credentials_fetch_complete(fetch, credentials, NULL);
  return rc;
}

static const struct ops_credentials_provider_vtable s_vtable = {
    .name = "environment",
    .start = s_start,
};

int ops_credentials_provider_env_new(struct ops_credentials_provider **out,
                                     const struct ops_credentials_context *context,
                                     struct ops_error *err)
{
  return ops_credentials_provider_new(out, &s_vtable, context, NULL, err);
}
