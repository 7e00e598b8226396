/* credentials_web_identity.c: the web identity source (EKS IRSA, GitHub OIDC, ...): reads the
 * token file and calls STS AssumeRoleWithWebIdentity, unsigned. Settings come from the profile
 * (role_arn + web_identity_token_file) or from AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE and
 * AWS_ROLE_SESSION_NAME. Uses runtime/sts.h. */
#include "runtime/credentials.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/sts.h"

struct s_settings {
  char *role_arn;
  char *token_file;
  char *session_name;
};

struct s_call {
  struct ops_credentials_fetch *fetch;
  struct ops_sts_client *sts;
  struct ops_sts_call *call;
};

static void s_on_role(struct ops_sts_assumed_role *role, const struct ops_error *err, void *ud)
{
  struct s_call *c = ud;
  struct ops_credentials_fetch *fetch = c->fetch;
  struct ops_credentials *credentials = NULL;
  struct ops_error copy = {0};
  if (role) {
    char source[300];
    snprintf(source, sizeof(source), "web identity (role %s)", role->arn ? role->arn : "");
    credentials = role->credentials;
    role->credentials = NULL;
    if (ops_credentials_set_source(credentials, source, &copy) != OPS_OK) {
      ops_credentials_free(credentials);
      credentials = NULL;
    }
    ops_sts_assumed_role_free(role);
  } else {
    copy = *err;
  }
  ops_sts_client_free(c->sts);
  free(c);
  ops_credentials_fetch_complete(fetch, credentials, credentials ? NULL : &copy);
}

static int s_start(struct ops_credentials_provider *provider, struct ops_credentials_fetch *fetch,
                   struct ops_error *err)
{
  const struct ops_credentials_context *context = ops_credentials_provider_context(provider);
  const struct s_settings *settings = ops_credentials_provider_impl(provider);
  const struct ops_env *env = &context->env;
  const char *file =
      settings->token_file ? settings->token_file : ops_env_get(env, "AWS_WEB_IDENTITY_TOKEN_FILE");
  const char *role_arn = settings->role_arn ? settings->role_arn : ops_env_get(env, "AWS_ROLE_ARN");
  const char *session =
      settings->session_name ? settings->session_name : ops_env_get(env, "AWS_ROLE_SESSION_NAME");
  char default_session[64], *token = NULL;
  if (!file)
    return ops_credentials_not_found(err, "web identity: AWS_WEB_IDENTITY_TOKEN_FILE not set");
  if (!role_arn) {
    ops_error_set(err, OPS_ERR_CREDENTIALS,
                  "web identity: the token file %s is configured but no role is: set "
                  "AWS_ROLE_ARN (or role_arn in the profile)",
                  file);
    ops_error_set_code(err, "PartialCredentials");
    return OPS_ERR_CREDENTIALS;
  }
  if (!session) {
    snprintf(default_session, sizeof(default_session), "opsrun-%lld",
             (long long)context->clock.now(context->clock.self));
    session = default_session;
  }
  int rc = ops_credentials_read_token_file(file, "web identity token file", &token, err);
  struct s_call *c = rc == OPS_OK ? calloc(1, sizeof(*c)) : NULL;
  if (rc == OPS_OK && !c)
    rc = ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  if (rc == OPS_OK) {
    c->fetch = fetch;
    struct ops_sts_options options = {.transport = context->transport,
                                      .clock = context->clock,
                                      .env = context->env,
                                      .region = context->region};
    rc = ops_sts_client_new(&c->sts, &options, err);
  }
  if (rc == OPS_OK) {
    struct ops_sts_web_identity_params params = {
        .role_arn = role_arn, .role_session_name = session, .web_identity_token = token};
    ops_credentials_fetch_set_state(fetch, c);
    rc = ops_sts_assume_role_with_web_identity(c->sts, &params, s_on_role, c, &c->call, err);
  }
  ops_credentials_wipe_free(token);
  if (rc != OPS_OK && c) {
    ops_credentials_fetch_set_state(fetch, NULL);
    ops_sts_client_free(c->sts);
    free(c);
  }
  return rc;
}

static void s_cancel(struct ops_credentials_fetch *fetch)
{
  struct s_call *c = ops_credentials_fetch_state(fetch);
  ops_sts_call_cancel(c->call);
  ops_sts_client_free(c->sts);
  free(c);
}

static void s_destroy(void *impl)
{
  struct s_settings *s = impl;
  if (!s)
    return;
  free(s->role_arn);
  free(s->token_file);
  free(s->session_name);
  free(s);
}

static const struct ops_credentials_provider_vtable s_vtable = {
    .name = "web identity",
    .start = s_start,
    .cancel = s_cancel,
    .destroy = s_destroy,
};

int ops_credentials_provider_web_identity_new(
    struct ops_credentials_provider **out, const struct ops_credentials_context *context,
    const struct ops_credentials_web_identity_config *config, struct ops_error *err)
{
  struct s_settings *s = calloc(1, sizeof(*s));
  bool ok = s != NULL;
  if (s && config) {
    const char *values[] = {config->role_arn, config->token_file, config->session_name};
    char **slots[] = {&s->role_arn, &s->token_file, &s->session_name};
    for (size_t i = 0; i < 3; i++)
      if (values[i] && !(*slots[i] = strdup(values[i])))
        ok = false;
  }
  if (!ok) {
    s_destroy(s);
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  }
  return ops_credentials_provider_new(out, &s_vtable, context, s, err);
}
