/* credentials_profile.c: the shared-files source. Resolves the selected profile the way the AWS
 * CLI v2 does into a plan — a base (static keys, or another source: credential_process, SSO, web
 * identity, or a credential_source) and the AssumeRole steps of its role_arn / source_profile
 * chain — then runs the plan on the loop as providers: the base, with a role provider
 * (credentials_role.c: retries and pacing) over it for each step.
 * Partial or contradictory settings, missing profiles and source_profile cycles are errors that
 * name the profile and the files. Also the terminal prompt for MFA codes. */
#include "runtime/credentials.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <unistd.h>

#include "runtime/aws_config.h"

#define S_MAX_CHAIN 16

/* One AssumeRole of the chain, from the profile that has the role_arn. */
struct s_step {
  char *profile;
  char *role_arn;
  char *session_name; /* NULL: opsrun-EPOCH */
  char *external_id;
  char *mfa_serial;
  int duration;
};

struct s_plan {
  struct ops_credentials *base;            /* static keys; or NULL and: */
  struct ops_credentials_provider *source; /* a source the base comes from */
  char *credential_source;                 /* "Environment", ... when source is one */
  char *credential_source_profile;
  struct s_step steps[S_MAX_CHAIN]; /* outermost first: steps[0] is the selected profile's */
  size_t step_count;
};

/* What planning reads: the files, and the profiles visited along source_profile links. */
struct s_planner {
  const struct ops_credentials_context *context;
  struct ops_aws_config config;
  const char *visited[S_MAX_CHAIN + 1];
  size_t visited_count;
  struct s_plan *plan;
};

/* A fetch in flight: the plan, and the providers it became (the base, then one role a step). */
struct s_run {
  struct ops_credentials_fetch *fetch;
  const struct ops_credentials_context *context;
  struct s_plan plan;
  struct ops_credentials_provider *layers[S_MAX_CHAIN + 1];
  size_t layer_count;
  struct ops_credentials_fetch *top_fetch;
};

/* --- the terminal prompt --- */

int ops_credentials_prompt_terminal(void *self, const char *message, char *answer, size_t size,
                                    struct ops_error *err)
{
  (void)self;
  struct termios saved, quiet;
  int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0)
    return ops_error_set(err, OPS_ERR_CONFIG, "%s there is no terminal to ask on", message);
  bool echo_off = tcgetattr(fd, &saved) == 0;
  if (echo_off) {
    quiet = saved;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  ssize_t written = write(fd, message, strlen(message));
  size_t len = 0;
  char c;
  while (written >= 0 && len + 1 < size && read(fd, &c, 1) == 1 && c != '\n')
    if (c != '\r')
      answer[len++] = c;
  answer[len] = '\0';
  if (echo_off)
    tcsetattr(fd, TCSAFLUSH, &saved);
  written = write(fd, "\n", 1);
  (void)written;
  close(fd);
  return OPS_OK;
}

/* --- plans --- */

static void s_step_clear(struct s_step *step)
{
  free(step->profile);
  free(step->role_arn);
  free(step->session_name);
  free(step->external_id);
  free(step->mfa_serial);
  memset(step, 0, sizeof(*step));
}

static void s_plan_clear(struct s_plan *plan)
{
  ops_credentials_free(plan->base);
  ops_credentials_provider_free(plan->source);
  free(plan->credential_source);
  free(plan->credential_source_profile);
  for (size_t i = 0; i < plan->step_count; i++)
    s_step_clear(&plan->steps[i]);
  memset(plan, 0, sizeof(*plan));
}

static const char *s_get(const struct s_planner *pl, const char *profile, const char *key)
{
  return ops_aws_config_get(&pl->config, profile, key, NULL);
}

static int s_partial(struct ops_error *err, const char *fmt, const char *a, const char *b)
{
  ops_error_set(err, OPS_ERR_CREDENTIALS, fmt, a, b);
  ops_error_set_code(err, "PartialCredentials");
  return OPS_ERR_CREDENTIALS;
}

static bool s_has_static(const struct s_planner *pl, const char *profile)
{
  return s_get(pl, profile, "aws_access_key_id") || s_get(pl, profile, "aws_secret_access_key");
}

/* The profile's aws_access_key_id / aws_secret_access_key / aws_session_token. */
static int s_static(struct s_planner *pl, const char *profile, struct ops_error *err)
{
  const char *path = NULL;
  const char *key = ops_aws_config_get(&pl->config, profile, "aws_access_key_id", &path);
  const char *secret = s_get(pl, profile, "aws_secret_access_key");
  const char *token = s_get(pl, profile, "aws_session_token");
  char source[600];
  if (!token)
    token = s_get(pl, profile, "aws_security_token");
  if (!key || !key[0])
    return s_partial(err,
                     "profile %s has aws_secret_access_key but no aws_access_key_id (%s): add "
                     "the key id, or remove the secret",
                     profile, ops_ini_path(pl->config.credentials));
  if (!secret || !secret[0])
    return s_partial(err,
                     "profile %s has aws_access_key_id but no aws_secret_access_key (%s): add "
                     "the secret, or remove the key id",
                     profile, path);
  snprintf(source, sizeof(source), "profile %s in %s", profile, path);
  return ops_credentials_new(&pl->plan->base, key, secret, token, 0, source, err);
}

/* credential_source = Environment | Ec2InstanceMetadata | EcsContainer (any case). */
static int s_credential_source(struct s_planner *pl, const char *profile, const char *name,
                               struct ops_error *err)
{
  const struct ops_credentials_context *context = pl->context;
  struct s_plan *plan = pl->plan;
  int rc;
  if (strcasecmp(name, "Environment") == 0)
    rc = ops_credentials_provider_env_new(&plan->source, context, err);
  else if (strcasecmp(name, "Ec2InstanceMetadata") == 0)
    rc = ops_credentials_provider_imds_new(&plan->source, context, err);
  else if (strcasecmp(name, "EcsContainer") == 0)
    rc = ops_credentials_provider_ecs_new(&plan->source, context, err);
  else
    return ops_error_set(err, OPS_ERR_CONFIG,
                         "credential_source \"%.64s\" in profile %s is not valid: use "
                         "Environment, Ec2InstanceMetadata or EcsContainer",
                         name, profile);
  if (rc == OPS_OK) {
    plan->credential_source = strdup(name);
    plan->credential_source_profile = strdup(profile);
    if (!plan->credential_source || !plan->credential_source_profile)
      rc = ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  }
  return rc;
}

/* The SSO settings of a profile, from its keys and its [sso-session]. *found is false when the
 * profile does not use SSO (neither sso_account_id nor sso_role_name). */
static int s_sso(struct s_planner *pl, const char *profile, bool *found, struct ops_error *err)
{
  static const char *const keys[] = {"sso_start_url", "sso_region", "sso_account_id",
                                     "sso_role_name"};
  const char *values[4];
  const char *session = s_get(pl, profile, "sso_session");
  char missing[200] = "";
  *found = s_get(pl, profile, "sso_account_id") || s_get(pl, profile, "sso_role_name");
  if (!*found)
    return OPS_OK;
  const struct ops_ini_section *section =
      session ? ops_aws_config_sso_session(&pl->config, session) : NULL;
  if (session && !section)
    return ops_error_set(err, OPS_ERR_CONFIG,
                         "profile %s names sso_session \"%.64s\", but %s has no [sso-session "
                         "%.64s] section",
                         profile, session, ops_ini_path(pl->config.config), session);
  for (size_t i = 0; i < 4; i++) {
    const char *mine = s_get(pl, profile, keys[i]);
    const char *shared = section ? ops_ini_get(section, keys[i], NULL) : NULL;
    if (mine && shared && strcmp(mine, shared) != 0)
      return ops_error_set(err, OPS_ERR_CONFIG,
                           "profile %s and its sso-session %.64s disagree on %s: keep it in one "
                           "place",
                           profile, session, keys[i]);
    values[i] = shared ? shared : mine;
    if (!values[i] || !values[i][0])
      snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s",
               missing[0] ? ", " : "", keys[i]);
  }
  if (missing[0])
    return s_partial(err, "profile %s is configured to use SSO but is missing %s", profile,
                     missing);
  struct ops_credentials_sso_config sso = {.profile = profile,
                                           .session_name = session,
                                           .start_url = values[0],
                                           .region = values[1],
                                           .account_id = values[2],
                                           .role_name = values[3]};
  return ops_credentials_provider_sso_new(&pl->plan->source, pl->context, &sso, err);
}

static bool s_in_credentials_file(const struct s_planner *pl, const char *profile)
{
  const struct ops_ini_section *s = ops_ini_find(pl->config.credentials, OPS_INI_PROFILE, profile);
  return ops_ini_get(s, "aws_access_key_id", NULL) || ops_ini_get(s, "aws_secret_access_key", NULL);
}

/* A profile's own credentials other than role_arn + source, in the CLI's order: web identity,
 * SSO, static keys of the credentials file, credential_process, static keys of the config file.
 * *found is false when it has none. */
static int s_own_source(struct s_planner *pl, const char *profile, bool *found,
                        struct ops_error *err)
{
  const char *role_arn = s_get(pl, profile, "role_arn");
  const char *token_file = s_get(pl, profile, "web_identity_token_file");
  const char *process = s_get(pl, profile, "credential_process");
  *found = true;
  if (role_arn && token_file) {
    struct ops_credentials_web_identity_config web = {.role_arn = role_arn,
                                                      .token_file = token_file,
                                                      .session_name =
                                                          s_get(pl, profile, "role_session_name")};
    return ops_credentials_provider_web_identity_new(&pl->plan->source, pl->context, &web, err);
  }
  int rc = s_sso(pl, profile, found, err);
  if (rc != OPS_OK || *found)
    return rc;
  *found = true;
  if (s_in_credentials_file(pl, profile))
    return s_static(pl, profile, err);
  if (process && process[0])
    return ops_credentials_provider_process_new(&pl->plan->source, pl->context, process, profile,
                                                err);
  if (s_has_static(pl, profile))
    return s_static(pl, profile, err);
  *found = false;
  return OPS_OK;
}

static int s_add_step(struct s_planner *pl, const char *profile, struct ops_error *err)
{
  struct s_plan *plan = pl->plan;
  const char *duration = s_get(pl, profile, "duration_seconds");
  char *end = NULL;
  long seconds = 0;
  if (plan->step_count == S_MAX_CHAIN)
    return ops_error_set(err, OPS_ERR_CONFIG,
                         "profile %s: the role_arn / source_profile chain is longer than %d "
                         "profiles",
                         profile, S_MAX_CHAIN);
  if (duration) {
    seconds = strtol(duration, &end, 10);
    if (end == duration || *end || seconds <= 0 || seconds > 86400 * 2)
      return ops_error_set(err, OPS_ERR_CONFIG,
                           "duration_seconds \"%.32s\" in profile %s is not a number of "
                           "seconds (900 to 43200)",
                           duration, profile);
  }
  bool ok = true;
  struct s_step *step = &plan->steps[plan->step_count++];
  step->profile = ops_credentials_dup_optional(profile, &ok);
  step->role_arn = ops_credentials_dup_optional(s_get(pl, profile, "role_arn"), &ok);
  step->session_name = ops_credentials_dup_optional(s_get(pl, profile, "role_session_name"), &ok);
  step->external_id = ops_credentials_dup_optional(s_get(pl, profile, "external_id"), &ok);
  step->mfa_serial = ops_credentials_dup_optional(s_get(pl, profile, "mfa_serial"), &ok);
  step->duration = (int)seconds;
  return ok ? OPS_OK : ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
}

static int s_cycle_error(struct s_planner *pl, const char *again, struct ops_error *err)
{
  char path[600] = "";
  for (size_t i = 0; i < pl->visited_count; i++)
    snprintf(path + strlen(path), sizeof(path) - strlen(path), "%s -> ", pl->visited[i]);
  snprintf(path + strlen(path), sizeof(path) - strlen(path), "%s", again);
  ops_error_set(err, OPS_ERR_CONFIG,
                "source_profile cycle: %s: each role_arn profile must lead to a profile with "
                "credentials or to a credential_source",
                path);
  ops_error_set_code(err, "InfiniteLoopConfigError");
  return OPS_ERR_CONFIG;
}

static bool s_visited(const struct s_planner *pl, const char *profile)
{
  for (size_t i = 0; i < pl->visited_count; i++)
    if (strcmp(pl->visited[i], profile) == 0)
      return true;
  return false;
}

/* A profile with role_arn (and no web_identity_token_file): one step, then its source. */
static int s_plan_role(struct s_planner *pl, const char *profile, struct ops_error *err)
{
  const char *source_profile = s_get(pl, profile, "source_profile");
  const char *credential_source = s_get(pl, profile, "credential_source");
  char files[1200];
  int rc = s_add_step(pl, profile, err);
  if (rc != OPS_OK)
    return rc;
  if (source_profile && credential_source)
    return ops_error_set(err, OPS_ERR_CONFIG,
                         "profile %s has both source_profile and credential_source: keep one",
                         profile);
  if (!source_profile && !credential_source)
    return s_partial(err,
                     "profile %s has role_arn but neither source_profile nor credential_source%s: "
                     "add source_profile = NAME (a profile with credentials) or "
                     "credential_source = Environment, Ec2InstanceMetadata or EcsContainer",
                     profile, "");
  if (credential_source)
    return s_credential_source(pl, profile, credential_source, err);
  if (!ops_aws_config_has_profile(&pl->config, source_profile)) {
    ops_aws_config_describe_files(&pl->config, files, sizeof(files));
    return ops_error_set(err, OPS_ERR_CONFIG,
                         "the source_profile \"%.64s\" of profile %s does not exist in %s",
                         source_profile, profile, files);
  }
  if (s_visited(pl, source_profile)) {
    /* a profile may name itself to use its own static keys as the source of its role */
    if (strcmp(source_profile, profile) == 0 && s_has_static(pl, profile))
      return s_static(pl, profile, err);
    return s_cycle_error(pl, source_profile, err);
  }
  pl->visited[pl->visited_count++] = source_profile;
  if (s_has_static(pl, source_profile))
    return s_static(pl, source_profile, err);
  if (s_get(pl, source_profile, "role_arn") &&
      !s_get(pl, source_profile, "web_identity_token_file"))
    return s_plan_role(pl, source_profile, err);
  bool found = false;
  rc = s_own_source(pl, source_profile, &found, err);
  if (rc == OPS_OK && !found)
    rc = ops_error_set(err, OPS_ERR_CONFIG,
                       "the source_profile %.64s of profile %s has no credentials: give it "
                       "aws_access_key_id and aws_secret_access_key, credential_process, SSO "
                       "settings or a role_arn of its own",
                       source_profile, profile);
  return rc;
}

/* The selected profile: a missing one is an error when it was named (--profile, AWS_PROFILE),
 * and "not configured" when it is the implicit default. */
static int s_plan(struct s_planner *pl, const char *explicit_profile, struct ops_error *err)
{
  const struct ops_env *env = &pl->context->env;
  const char *profile = ops_aws_config_profile(env, explicit_profile);
  bool named = (explicit_profile && explicit_profile[0]) || ops_env_get(env, "AWS_PROFILE");
  char files[1200];
  int rc = ops_aws_config_load(&pl->config, env, err);
  if (rc != OPS_OK)
    return rc;
  ops_aws_config_describe_files(&pl->config, files, sizeof(files));
  if (!ops_aws_config_has_profile(&pl->config, profile)) {
    if (!named)
      return ops_credentials_not_found(err, "profile default: not in %s", files);
    ops_error_set(err, OPS_ERR_CONFIG,
                  "the profile %s could not be found in %s: add [profile %s] to the config file "
                  "or [%s] to the credentials file, or choose another with --profile or "
                  "AWS_PROFILE",
                  profile, files, profile, profile);
    ops_error_set_code(err, "ProfileNotFound");
    return OPS_ERR_CONFIG;
  }
  pl->visited[pl->visited_count++] = profile;
  if (s_get(pl, profile, "role_arn") && !s_get(pl, profile, "web_identity_token_file"))
    return s_plan_role(pl, profile, err);
  bool found = false;
  rc = s_own_source(pl, profile, &found, err);
  if (rc == OPS_OK && !found)
    rc = ops_credentials_not_found(err, "profile %s in %s: no credentials in it", profile, files);
  return rc;
}

/* --- running a plan --- */

static void s_run_free(struct s_run *r)
{
  if (r->top_fetch)
    ops_credentials_fetch_cancel(r->top_fetch);
  while (r->layer_count > 0)
    ops_credentials_provider_free(r->layers[--r->layer_count]);
  s_plan_clear(&r->plan);
  free(r);
}

static void s_finish(struct s_run *r, struct ops_credentials *credentials,
                     const struct ops_error *err)
{
  struct ops_credentials_fetch *fetch = r->fetch;
  struct ops_error copy = {0};
  if (err)
    copy = *err;
  s_run_free(r);
  ops_credentials_fetch_complete(fetch, credentials, credentials ? NULL : &copy);
}

static void s_on_top(struct ops_credentials *credentials, const struct ops_error *err, void *ud)
{
  struct s_run *r = ud;
  struct ops_error why = {0};
  r->top_fetch = NULL;
  if (!credentials && ops_credentials_is_not_found(err) && r->plan.credential_source) {
    ops_error_set(&why, OPS_ERR_CREDENTIALS,
                  "no credentials found in credential_source %s referenced in profile %s (%s)",
                  r->plan.credential_source, r->plan.credential_source_profile, err->message);
    err = &why;
  }
  s_finish(r, credentials, err);
}

/* The base (the plan's source, or its static keys), then one role provider a step, each over
 * the one below: the last is the selected profile's. */
static int s_build_layers(struct s_run *r, struct ops_error *err)
{
  struct s_plan *plan = &r->plan;
  int rc = OPS_OK;
  if (plan->source)
    r->layers[0] = plan->source;
  else
    rc = ops_credentials_provider_static_new(&r->layers[0], r->context, plan->base, err);
  plan->source = NULL;
  plan->base = NULL;
  if (rc != OPS_OK)
    return rc;
  r->layer_count = 1;
  for (size_t i = plan->step_count; i > 0 && rc == OPS_OK; i--) {
    const struct s_step *step = &plan->steps[i - 1];
    struct ops_credentials_role_config role = {.role_arn = step->role_arn,
                                               .session_name = step->session_name,
                                               .external_id = step->external_id,
                                               .duration_seconds = step->duration,
                                               .mfa_serial = step->mfa_serial,
                                               .profile = step->profile};
    rc = ops_credentials_provider_role_new(&r->layers[r->layer_count], r->context,
                                           r->layers[r->layer_count - 1], &role, err);
    if (rc == OPS_OK)
      r->layer_count++;
  }
  return rc;
}

static int s_start(struct ops_credentials_provider *provider, struct ops_credentials_fetch *fetch,
                   struct ops_error *err)
{
  const char *explicit_profile = ops_credentials_provider_impl(provider);
  struct s_run *r = calloc(1, sizeof(*r));
  if (!r)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  r->fetch = fetch;
  r->context = ops_credentials_provider_context(provider);
  struct s_planner planner = {.context = r->context, .plan = &r->plan};
  int rc = s_plan(&planner, explicit_profile, err);
  ops_aws_config_clear(&planner.config);
  if (rc == OPS_OK)
    rc = s_build_layers(r, err);
  if (rc == OPS_OK) {
    r->top_fetch = ops_credentials_provider_get(r->layers[r->layer_count - 1], s_on_top, r, err);
    rc = r->top_fetch ? OPS_OK : err->kind;
  }
  if (rc != OPS_OK) {
    s_run_free(r);
    return rc;
  }
  ops_credentials_fetch_set_state(fetch, r);
  return OPS_OK;
}

static void s_cancel(struct ops_credentials_fetch *fetch)
{
  s_run_free(ops_credentials_fetch_state(fetch));
}

static const struct ops_credentials_provider_vtable s_vtable = {
    .name = "profile",
    .start = s_start,
    .cancel = s_cancel,
};

int ops_credentials_provider_profile_new(struct ops_credentials_provider **out,
                                         const struct ops_credentials_context *context,
                                         const char *explicit_profile, struct ops_error *err)
{
  char *copy = explicit_profile && explicit_profile[0] ? strdup(explicit_profile) : NULL;
  if (explicit_profile && explicit_profile[0] && !copy)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  return ops_credentials_provider_new(out, &s_vtable, context, copy, err);
}
