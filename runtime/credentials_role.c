/* credentials_role.c: an assumed IAM role as a provider: STS AssumeRole (runtime/sts.h) signed
 * with the credentials of a base provider, retried on runtime/retry.h's policy and paced by its
 * adaptive send rate. credentials_cached.c wraps it to share and refresh what it fetches;
 * credentials_profile.c builds its role_arn chains from it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "runtime/credentials.h"
#include "runtime/log.h"
#include "runtime/retry.h"
#include "runtime/sts.h"
#include "runtime/timestamp.h"

struct s_role {
  struct ops_credentials_provider *base;
  const struct ops_credentials_context *context;
  char *role_arn;
  char *account; /* from the ARN, for messages and the log */
  char *session_name;
  char *external_id;
  char *mfa_serial;
  char *profile;
  char *label;
  int duration;
  struct ops_sts_client *sts;
  struct ops_sts_client *own_sts; /* when none was lent */
  struct ops_retry *retry;
  struct ops_retry *own_retry;
  char *assumed_arn;
};

/* One fetch on its way through its attempts. */
struct s_run {
  struct s_role *role;
  struct ops_credentials_fetch *fetch;
  struct ops_credentials_fetch *base_fetch;
  struct ops_credentials *caller; /* the base credentials of this attempt */
  struct ops_sts_call *call;
  struct ops_timer *timer; /* waiting to send (pacing) or to send again (a retry) */
  struct ops_retry_request attempts;
  char session_name[64];
  char mfa_code[64]; /* asked once a fetch: a retry sends the same request */
};

static void s_run_free(struct s_run *run)
{
  if (run->base_fetch)
    ops_credentials_fetch_cancel(run->base_fetch);
  if (run->call)
    ops_sts_call_cancel(run->call);
  if (run->timer)
    ops_loop_timer_cancel(run->role->context->loop, run->timer);
  ops_credentials_free(run->caller);
  OPENSSL_cleanse(run->mfa_code, sizeof(run->mfa_code));
  free(run);
}

static void s_finish(struct s_run *run, struct ops_credentials *credentials,
                     const struct ops_error *err)
{
  struct ops_credentials_fetch *fetch = run->fetch;
  struct ops_error copy = {0};
  if (err)
    copy = *err;
  s_run_free(run);
  ops_credentials_fetch_complete(fetch, credentials, credentials ? NULL : &copy);
}

/* Ends the fetch with the role's own failure, named by its label. */
static void s_fail(struct s_run *run, const struct ops_error *err)
{
  struct ops_error failure = *err, labelled;
  const char *label = run->role->label;
  if (label) {
    ops_error_set(&labelled, err->kind, "%s: %s", label, err->message);
    memcpy(failure.message, labelled.message, sizeof(failure.message));
  }
  s_finish(run, NULL, &failure);
}

static void s_get_base(void *ud);

static struct ops_retry_timer s_timer(struct s_run *run)
{
  return (struct ops_retry_timer){.loop = run->role->context->loop,
                                  .fire = s_get_base,
                                  .ud = run,
                                  .what = "STS AssumeRole",
                                  .account = run->role->account};
}

/* Credentials that had expired when they arrived (a clock far off) would fail every request
 * they sign: the fetch fails instead, naming the role. */
static bool s_arrived_expired(const struct s_role *role, const struct ops_credentials *credentials,
                              struct ops_error *err)
{
  double now = role->context->clock.now(role->context->clock.self);
  if (!credentials->expiration || now < (double)credentials->expiration)
    return false;
  char expired[OPS_TIMESTAMP_LEN], clock[OPS_TIMESTAMP_LEN];
  ops_timestamp_format(credentials->expiration, expired, sizeof(expired));
  ops_timestamp_format((int64_t)now, clock, sizeof(clock));
  ops_error_set(err, OPS_ERR_CREDENTIALS,
                "STS AssumeRole of %s in account %s returned credentials that expired at %s, "
                "before they arrived (this machine's clock says %s): check the clock and the "
                "STS endpoint",
                role->role_arn, role->account, expired, clock);
  return true;
}

/* The credentials' description: a profile's role says which profile and what it came from. */
static int s_describe(const struct s_run *run, struct ops_credentials *credentials,
                      struct ops_error *err)
{
  const struct s_role *role = run->role;
  if (!role->profile)
    return OPS_OK;
  char source[800];
  snprintf(source, sizeof(source), "role %s of profile %s, from %s", role->role_arn, role->profile,
           run->caller->source);
  return ops_credentials_set_source(credentials, source, err);
}

static void s_assumed(struct ops_sts_assumed_role *assumed, const struct ops_error *err, void *ud)
{
  struct s_run *run = ud;
  struct s_role *role = run->role;
  run->call = NULL;
  ops_retry_observe(role->retry, !assumed && err->kind == OPS_ERR_THROTTLED);
  if (!assumed) {
    struct ops_error failure = *err;
    struct ops_retry_timer timer = s_timer(run);
    if (!(run->timer = ops_retry_schedule(role->retry, &run->attempts, ops_retry_classify(err), -1,
                                          &failure, &timer)))
      s_fail(run, &failure);
    return;
  }
  ops_retry_succeeded(role->retry, &run->attempts);
  struct ops_credentials *credentials = assumed->credentials;
  assumed->credentials = NULL;
  char *arn = assumed->arn ? strdup(assumed->arn) : NULL;
  ops_sts_assumed_role_free(assumed);
  struct ops_error failure = {0};
  if (s_arrived_expired(role, credentials, &failure) ||
      s_describe(run, credentials, &failure) != OPS_OK) {
    free(arn);
    ops_credentials_free(credentials);
    s_fail(run, &failure);
    return;
  }
  free(role->assumed_arn);
  role->assumed_arn = arn;
  ops_log(OPS_LOG_DEBUG, role->account, "assumed %s", arn ? arn : role->role_arn);
  s_finish(run, credentials, NULL);
}

/* The MFA code, asked once a fetch from the context's prompt. */
static int s_mfa_code(struct s_run *run, struct ops_error *err)
{
  const struct s_role *role = run->role;
  const struct ops_credentials_context *context = role->context;
  char message[400];
  if (!role->mfa_serial || run->mfa_code[0])
    return OPS_OK;
  if (!context->prompt)
    return ops_error_set(err, OPS_ERR_CONFIG,
                         "%s %s has mfa_serial %s, but there is no terminal to ask for the "
                         "MFA code: run opsrun interactively or use a profile without MFA",
                         role->profile ? "profile" : "role",
                         role->profile ? role->profile : role->role_arn, role->mfa_serial);
  snprintf(message, sizeof(message), "Enter MFA code for %s: ", role->mfa_serial);
  return context->prompt(context->prompt_self, message, run->mfa_code, sizeof(run->mfa_code), err);
}

/* Sends AssumeRole signed with run->caller, once the send rate allows. */
static void s_send(struct s_run *run)
{
  struct s_role *role = run->role;
  struct ops_retry_timer timer = s_timer(run);
  if ((run->timer = ops_retry_pace(role->retry, &timer)))
    return;
  struct ops_error err = {0};
  struct ops_sts_assume_role_params params = {
      .role_arn = role->role_arn,
      .role_session_name = role->session_name ? role->session_name : run->session_name,
      .external_id = role->external_id,
      .duration_seconds = role->duration,
      .serial_number = role->mfa_serial,
      .token_code = role->mfa_serial ? run->mfa_code : NULL};
  if (s_mfa_code(run, &err) != OPS_OK ||
      ops_sts_assume_role(role->sts, run->caller, &params, s_assumed, run, &run->call, &err) !=
          OPS_OK)
    s_fail(run, &err);
}

static void s_with_base(struct ops_credentials *credentials, const struct ops_error *err, void *ud)
{
  struct s_run *run = ud;
  run->base_fetch = NULL;
  if (!credentials) {
    s_finish(run, NULL, err);
    return;
  }
  ops_credentials_free(run->caller);
  run->caller = credentials;
  s_send(run);
}

/* Each attempt signs with the base credentials as they are then (a retry may come after they
 * were refreshed). */
static void s_get_base(void *ud)
{
  struct s_run *run = ud;
  struct ops_error err = {0};
  run->timer = NULL;
  run->base_fetch = ops_credentials_provider_get(run->role->base, s_with_base, run, &err);
  if (!run->base_fetch)
    s_finish(run, NULL, &err);
}

static int s_start(struct ops_credentials_provider *provider, struct ops_credentials_fetch *fetch,
                   struct ops_error *err)
{
  struct s_role *role = ops_credentials_provider_impl(provider);
  struct s_run *run = calloc(1, sizeof(*run));
  if (!run)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  *run = (struct s_run){.role = role, .fetch = fetch};
  snprintf(run->session_name, sizeof(run->session_name), "opsrun-%lld",
           (long long)role->context->clock.now(role->context->clock.self));
  run->base_fetch = ops_credentials_provider_get(role->base, s_with_base, run, err);
  if (!run->base_fetch) {
    free(run);
    return err->kind;
  }
  ops_credentials_fetch_set_state(fetch, run);
  return OPS_OK;
}

static void s_cancel(struct ops_credentials_fetch *fetch)
{
  s_run_free(ops_credentials_fetch_state(fetch));
}

static void s_destroy(void *impl)
{
  struct s_role *role = impl;
  if (!role)
    return;
  ops_sts_client_free(role->own_sts);
  ops_retry_free(role->own_retry);
  free(role->role_arn);
  free(role->account);
  free(role->session_name);
  free(role->external_id);
  free(role->mfa_serial);
  free(role->profile);
  free(role->label);
  free(role->assumed_arn);
  free(role);
}

static const struct ops_credentials_provider_vtable s_vtable = {
    .name = "role",
    .start = s_start,
    .cancel = s_cancel,
    .destroy = s_destroy,
};

const char *ops_credentials_role_assumed_arn(const struct ops_credentials_provider *role)
{
  return ((const struct s_role *)ops_credentials_provider_impl(role))->assumed_arn;
}

/* The account of arn:PARTITION:iam::ACCOUNT:role/NAME (the fifth field), or "". */
static char *s_account_of(const char *role_arn)
{
  const char *p = role_arn;
  for (int colons = 0; colons < 4 && p; colons++)
    if ((p = strchr(p, ':')))
      p++;
  return p ? strndup(p, strcspn(p, ":")) : strdup("");
}

static int s_copy_config(struct s_role *role, const struct ops_credentials_role_config *config,
                         struct ops_error *err)
{
  bool ok = true;
  role->role_arn = ops_credentials_dup_optional(config->role_arn, &ok);
  role->account = s_account_of(config->role_arn);
  role->session_name = ops_credentials_dup_optional(config->session_name, &ok);
  role->external_id = ops_credentials_dup_optional(config->external_id, &ok);
  role->mfa_serial = ops_credentials_dup_optional(config->mfa_serial, &ok);
  role->profile = ops_credentials_dup_optional(config->profile, &ok);
  role->label = ops_credentials_dup_optional(config->label, &ok);
  role->duration = config->duration_seconds;
  return ok && role->account ? OPS_OK : ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
}

/* The STS client and retry state lent by the configuration, else the provider's own. */
static int s_clients(struct s_role *role, const struct ops_credentials_context *context,
                     const struct ops_credentials_role_config *config, struct ops_error *err)
{
  struct ops_sts_options sts = {.transport = context->transport,
                                .clock = context->clock,
                                .env = context->env,
                                .region = context->region};
  struct ops_retry_options retry = {.env = context->env};
  if (!config->sts && ops_sts_client_new(&role->own_sts, &sts, err) != OPS_OK)
    return err->kind;
  if (!config->retry && ops_retry_new(&role->own_retry, &retry, err) != OPS_OK)
    return err->kind;
  role->sts = config->sts ? config->sts : role->own_sts;
  role->retry = config->retry ? config->retry : role->own_retry;
  return OPS_OK;
}

int ops_credentials_provider_role_new(struct ops_credentials_provider **out,
                                      const struct ops_credentials_context *context,
                                      struct ops_credentials_provider *base,
                                      const struct ops_credentials_role_config *config,
                                      struct ops_error *err)
{
  *out = NULL;
  /* a session name made from the time (opsrun-EPOCH) is always valid */
  struct ops_sts_assume_role_params params = {
      .role_arn = config->role_arn,
      .role_session_name = config->session_name ? config->session_name : "opsrun-0",
      .external_id = config->external_id,
      .duration_seconds = config->duration_seconds};
  int rc = ops_sts_validate_assume_role(&params, err);
  if (rc != OPS_OK)
    return rc;
  struct s_role *role = calloc(1, sizeof(*role));
  if (!role)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  role->base = base;
  rc = s_copy_config(role, config, err);
  if (rc == OPS_OK)
    rc = s_clients(role, context, config, err);
  if (rc != OPS_OK) {
    s_destroy(role);
    return rc;
  }
  rc = ops_credentials_provider_new(out, &s_vtable, context, role, err);
  if (rc == OPS_OK)
    role->context = ops_credentials_provider_context(*out);
  return rc;
}
