/* test_credentials.c: the credential sources and the default chain with a temporary HOME, a
 * fake environment, a fixed clock and the recording transport of fakes.h: the chain's order,
 * each source's success and failure, role_arn chains (with a cycle, a self-reference,
 * credential_source and MFA), credential_process running a real shell command, the SSO token
 * cache and portal, an sso-session's token refreshed (botocore's windows, the cache written back
 * 0600 by rename with the CLI's fields, one CreateToken for many fetches, failures, cancel, no
 * secret in messages or the log), web identity, the container endpoint, IMDSv2 with its v1
 * fallback, partial settings that stop the chain, and the NoCredentials message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "fakes.h"
#include "runtime/credentials.h"
#include "runtime/log.h"

#define ROLE_A "arn:aws:iam::222222222222:role/Middle"
#define ROLE_B "arn:aws:iam::333333333333:role/Target"

struct fixture {
  char home[64];
  struct ops_loop *loop;
  struct fake_transport ft;
  struct fake_env env;
  double now;
  struct ops_credentials_context context;
  const char *mfa_code; /* what the prompt answers; NULL: no prompt */
  char prompted[256];
};

static int s_prompt(void *self, const char *message, char *answer, size_t size,
                    struct ops_error *err)
{
  (void)err;
  struct fixture *f = self;
  snprintf(f->prompted, sizeof(f->prompted), "%s", message);
  snprintf(answer, size, "%s", f->mfa_code);
  return OPS_OK;
}

static int setup(void **state)
{
  struct fixture *f = calloc(1, sizeof(*f));
  snprintf(f->home, sizeof(f->home), "/tmp/test_credentials_XXXXXX");
  assert_non_null(mkdtemp(f->home));
  f->loop = ops_loop_new();
  fake_transport_init(&f->ft, f->loop);
  f->now = 1700000000; /* 2023-11-14T22:13:20Z */
  fake_env_set(&f->env, "HOME", f->home);
  f->context = (struct ops_credentials_context){.loop = f->loop,
                                                .transport = fake_transport_get(&f->ft),
                                                .clock = fake_clock(&f->now),
                                                .env = fake_env_get(&f->env),
                                                .region = "eu-west-1",
                                                .prompt = s_prompt,
                                                .prompt_self = f};
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  char command[128];
  snprintf(command, sizeof(command), "rm -rf '%s'", f->home);
  assert_int_equal(system(command), 0);
  ops_log_configure(OPS_LOG_WARN, OPS_LOG_TEXT, NULL); /* after an SSO test's capture */
  fake_transport_clear(&f->ft);
  ops_loop_free(f->loop);
  free(f);
  return 0;
}

/* Writes HOME/relative, making its directories. */
static void write_home(struct fixture *f, const char *relative, const char *text)
{
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", f->home, relative);
  for (char *slash = strchr(path + strlen(f->home) + 1, '/'); slash;
       slash = strchr(slash + 1, '/')) {
    *slash = '\0';
    mkdir(path, 0700);
    *slash = '/';
  }
  FILE *file = fopen(path, "w");
  assert_non_null(file);
  fputs(text, file);
  fclose(file);
}

/* Runs one fetch of `provider` (freed afterwards) to its end. */
static void fetch(struct fixture *f, struct ops_credentials_provider *provider,
                  struct fake_fetch *o)
{
  fake_fetch_start(o, provider);
  fake_run_until(f->loop, &o->done);
  ops_credentials_provider_free(provider);
}

static void fetch_chain(struct fixture *f, const char *profile, struct fake_fetch *o)
{
  struct ops_credentials_provider *chain = NULL;
  assert_int_equal(ops_credentials_provider_chain_new(&chain, &f->context, profile, NULL), OPS_OK);
  fetch(f, chain, o);
}

static void assert_credentials(const struct fake_fetch *o, const char *key, const char *source)
{
  if (!o->credentials)
    fail_msg("expected credentials from %s, got: %s", source, o->err.message);
  assert_string_equal(o->credentials->access_key_id, key);
  assert_string_equal(o->credentials->source, source);
}

static void assert_failure(const struct fake_fetch *o, enum ops_err kind, const char *message)
{
  assert_null(o->credentials);
  assert_int_equal(o->err.kind, kind);
  assert_string_equal(o->err.message, message);
}

static void outcome_clear(struct fake_fetch *o)
{
  ops_credentials_free(o->credentials);
  memset(o, 0, sizeof(*o));
}

/* An STS AssumeRole answer for the fake transport. */
static const char *role_answer(const char *key, const char *token)
{
  static char xml[4][1024];
  static int next;
  char *out = xml[next++ % 4];
  snprintf(out, sizeof(xml[0]),
           "<AssumeRoleResponse><AssumeRoleResult><AssumedRoleUser><Arn>arn:aws:sts::1:"
           "assumed-role/R/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>"
           "<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>SECRET-%s"
           "</SecretAccessKey><SessionToken>%s</SessionToken><Expiration>2026-11-24T06:00:00Z"
           "</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>",
           key, key, token);
  return out;
}

/* --- environment --- */

static void environment_keys_token_and_expiration(void **state)
{
  struct fixture *f = *state;
  struct ops_credentials_provider *p = NULL;
  struct fake_fetch o;
  fake_env_set(&f->env, "AWS_ACCESS_KEY_ID", "AKIDENV");
  fake_env_set(&f->env, "AWS_SECRET_ACCESS_KEY", "SECRETENV");
  fake_env_set(&f->env, "AWS_SECURITY_TOKEN", "OLDTOKEN");
  fake_env_set(&f->env, "AWS_CREDENTIAL_EXPIRATION", "2026-11-24T06:00:00Z");
  assert_int_equal(ops_credentials_provider_env_new(&p, &f->context, NULL), OPS_OK);
  fetch(f, p, &o);
  assert_credentials(&o, "AKIDENV", "environment");
  assert_string_equal(o.credentials->secret_access_key, "SECRETENV");
  assert_string_equal(o.credentials->session_token, "OLDTOKEN");
  assert_int_equal(o.credentials->expiration, 1795500000);
  outcome_clear(&o);
  fake_env_set(&f->env, "AWS_SESSION_TOKEN", "NEWTOKEN");
  assert_int_equal(ops_credentials_provider_env_new(&p, &f->context, NULL), OPS_OK);
  fetch(f, p, &o);
  assert_string_equal(o.credentials->session_token, "NEWTOKEN");
  outcome_clear(&o);
  fake_env_set(&f->env, "AWS_CREDENTIAL_EXPIRATION", "soon");
  assert_int_equal(ops_credentials_provider_env_new(&p, &f->context, NULL), OPS_OK);
  fetch(f, p, &o);
  assert_failure(&o, OPS_ERR_CREDENTIALS,
                 "AWS_CREDENTIAL_EXPIRATION 'soon' is not an ISO 8601 timestamp such as "
                 "2026-11-24T06:00:00Z");
}

static void a_key_id_without_secret_stops_the_chain(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  fake_env_set(&f->env, "AWS_ACCESS_KEY_ID", "AKIDENV");
  write_home(f, ".aws/credentials",
             "[default]\naws_access_key_id = A\naws_secret_access_key = S\n");
  fetch_chain(f, NULL, &o);
  assert_failure(&o, OPS_ERR_CREDENTIALS,
                 "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: export both, or "
                 "unset AWS_ACCESS_KEY_ID to use a profile");
  assert_string_equal(o.err.code, "PartialCredentials");
  assert_int_equal(f->ft.request_count, 0);
}

/* --- the chain's order --- */

static void the_environment_comes_before_the_profile_unless_profile_is_explicit(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  char source[256];
  fake_env_set(&f->env, "AWS_ACCESS_KEY_ID", "AKIDENV");
  fake_env_set(&f->env, "AWS_SECRET_ACCESS_KEY", "SECRETENV");
  write_home(f, ".aws/credentials",
             "[default]\naws_access_key_id = AKIDFILE\n"
             "aws_secret_access_key = S\n"
             "[ops]\naws_access_key_id = AKIDOPS\n"
             "aws_secret_access_key = S\naws_session_token = T\n");
  fetch_chain(f, NULL, &o);
  assert_credentials(&o, "AKIDENV", "environment");
  outcome_clear(&o);
  fake_env_set(&f->env, "AWS_PROFILE", "ops"); /* AWS_PROFILE does not hide the environment */
  fetch_chain(f, NULL, &o);
  assert_credentials(&o, "AKIDENV", "environment");
  outcome_clear(&o);
  fetch_chain(f, "ops", &o); /* --profile does, as in the AWS CLI */
  snprintf(source, sizeof(source), "profile ops in %s/.aws/credentials", f->home);
  assert_credentials(&o, "AKIDOPS", source);
  assert_string_equal(o.credentials->session_token, "T");
  outcome_clear(&o);
  fake_env_set(&f->env, "AWS_ACCESS_KEY_ID", NULL);
  fetch_chain(f, NULL, &o); /* AWS_PROFILE picks the profile */
  assert_credentials(&o, "AKIDOPS", source);
  outcome_clear(&o);
  fake_env_set(&f->env, "AWS_PROFILE", NULL);
  fetch_chain(f, NULL, &o);
  snprintf(source, sizeof(source), "profile default in %s/.aws/credentials", f->home);
  assert_credentials(&o, "AKIDFILE", source);
  outcome_clear(&o);
}

static void the_profile_comes_before_web_identity_container_and_imds(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  char source[256];
  fake_env_set(&f->env, "AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent");
  fake_env_set(&f->env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x");
  write_home(f, ".aws/config",
             "[default]\nregion = eu-west-1\naws_access_key_id = CFG\n"
             "aws_secret_access_key = S\n");
  fetch_chain(f, NULL, &o);
  snprintf(source, sizeof(source), "profile default in %s/.aws/config", f->home);
  assert_credentials(&o, "CFG", source);
  assert_int_equal(f->ft.request_count, 0);
  outcome_clear(&o);
  /* a profile without credentials lets the chain go on: web identity is next */
  write_home(f, ".aws/config", "[default]\nregion = eu-west-1\n");
  fetch_chain(f, NULL, &o);
  assert_failure(&o, OPS_ERR_CREDENTIALS,
                 "web identity: the token file /nonexistent is "
                 "configured but no role is: set AWS_ROLE_ARN (or "
                 "role_arn in the profile)");
  outcome_clear(&o);
  fake_env_set(&f->env, "AWS_WEB_IDENTITY_TOKEN_FILE", NULL);
  fake_reply(&f->ft, 200,
             "{\"AccessKeyId\": \"ECS\", \"SecretAccessKey\": \"S\", \"Token\": "
             "\"T\", \"Expiration\": \"2026-11-24T06:00:00Z\"}");
  fetch_chain(f, NULL, &o);
  assert_credentials(&o, "ECS", "container endpoint");
  outcome_clear(&o);
}

static void a_named_profile_must_exist(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  char message[1024];
  write_home(f, ".aws/credentials",
             "[default]\naws_access_key_id = A\naws_secret_access_key = S\n");
  fetch_chain(f, "missing", &o);
  snprintf(message, sizeof(message),
           "the profile missing could not be found in %s/.aws/credentials and %s/.aws/config: "
           "add [profile missing] to the config file or [missing] to the credentials file, or "
           "choose another with --profile or AWS_PROFILE",
           f->home, f->home);
  assert_failure(&o, OPS_ERR_CONFIG, message);
  assert_string_equal(o.err.code, "ProfileNotFound");
  fake_env_set(&f->env, "AWS_PROFILE", "missing");
  fake_env_set(&f->env, "AWS_CONFIG_FILE", "/nonexistent/config");
  fetch_chain(f, NULL, &o);
  snprintf(message, sizeof(message),
           "the profile missing could not be found in %s/.aws/credentials and "
           "/nonexistent/config: add [profile missing] to the config file or [missing] to the "
           "credentials file, or choose another with --profile or AWS_PROFILE",
           f->home);
  assert_failure(&o, OPS_ERR_CONFIG, message);
}

static void partial_profiles_stop_the_chain(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  char message[1024];
  fake_env_set(&f->env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x");
  write_home(f, ".aws/credentials", "[default]\naws_access_key_id = A\n");
  fetch_chain(f, NULL, &o);
  snprintf(message, sizeof(message),
           "profile default has aws_access_key_id but no aws_secret_access_key (%s/.aws/"
           "credentials): add the secret, or remove the key id",
           f->home);
  assert_failure(&o, OPS_ERR_CREDENTIALS, message);
  assert_string_equal(o.err.code, "PartialCredentials");
  write_home(f, ".aws/credentials", "");
  write_home(f, ".aws/config", "[default]\nrole_arn = " ROLE_A "\n");
  fetch_chain(f, NULL, &o);
  assert_failure(&o, OPS_ERR_CREDENTIALS,
                 "profile default has role_arn but neither source_profile nor credential_source: "
                 "add source_profile = NAME (a profile with credentials) or credential_source = "
                 "Environment, Ec2InstanceMetadata or EcsContainer");
  write_home(f, ".aws/config", "[default]\nsso_account_id = 111111111111\nsso_role_name = R\n");
  fetch_chain(f, NULL, &o);
  assert_failure(&o, OPS_ERR_CREDENTIALS,
                 "profile default is configured to use SSO but is "
                 "missing sso_start_url, sso_region");
  write_home(f, ".aws/config",
             "[default]\nrole_arn = " ROLE_A "\nsource_profile = default\n"
             "credential_source = Environment\n");
  fetch_chain(f, NULL, &o);
  assert_failure(&o, OPS_ERR_CONFIG,
                 "profile default has both source_profile and credential_source: keep one");
  write_home(f, ".aws/config",
             "[default]\nrole_arn = " ROLE_A "\nduration_seconds = 1h\n"
             "credential_source = Environment\n");
  fetch_chain(f, NULL, &o);
  assert_failure(&o, OPS_ERR_CONFIG,
                 "duration_seconds \"1h\" in profile default is not a number "
                 "of seconds (900 to 43200)");
  write_home(f, ".aws/config", "[default]\n  broken = x\n");
  fetch_chain(f, NULL, &o);
  snprintf(message, sizeof(message),
           "%s/.aws/config:2: an indented line continues a property, but no property precedes "
           "it in this section",
           f->home);
  assert_failure(&o, OPS_ERR_CONFIG, message);
  assert_int_equal(f->ft.request_count, 0); /* each stopped the chain before the container */
}

/* --- role_arn chains --- */

static void role_chains_assume_each_role_in_turn(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  char source[512];
  write_home(f, ".aws/config",
             "[profile target]\nrole_arn = " ROLE_B "\nsource_profile = middle\n"
             "external_id = ext-1\nrole_session_name = me\nduration_seconds = 1800\n"
             "[profile middle]\nrole_arn = " ROLE_A "\nsource_profile = base\n"
             "[profile base]\nregion = eu-west-1\n");
  write_home(f, ".aws/credentials",
             "[base]\naws_access_key_id = AKIDBASE\n"
             "aws_secret_access_key = SECRETBASE\n");
  fake_reply(&f->ft, 200, role_answer("ASIAMIDDLE", "TOKENMIDDLE"));
  fake_reply(&f->ft, 200, role_answer("ASIATARGET", "TOKENTARGET"));
  fetch_chain(f, "target", &o);
  snprintf(source, sizeof(source),
           "role " ROLE_B " of profile target, from role " ROLE_A " of profile middle, from "
           "profile base in %s/.aws/credentials",
           f->home);
  assert_credentials(&o, "ASIATARGET", source);
  assert_string_equal(o.credentials->session_token, "TOKENTARGET");
  assert_int_equal(o.credentials->expiration, 1795500000);
  assert_int_equal(f->ft.request_count, 2);
  const struct fake_request *first = &f->ft.requests[0], *second = &f->ft.requests[1];
  assert_string_equal(first->url, "https://sts.eu-west-1.amazonaws.com");
  assert_string_equal(first->body, "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam"
                                   "%3A%3A222222222222%3Arole%2FMiddle&RoleSessionName=opsrun-"
                                   "1700000000");
  assert_non_null(strstr(fake_header(first, "Authorization"), "Credential=AKIDBASE/"));
  assert_null(fake_header(first, "X-Amz-Security-Token"));
  assert_string_equal(second->body, "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam"
                                    "%3A%3A333333333333%3Arole%2FTarget&RoleSessionName=me"
                                    "&DurationSeconds=1800&ExternalId=ext-1");
  assert_non_null(strstr(fake_header(second, "Authorization"), "Credential=ASIAMIDDLE/"));
  assert_string_equal(fake_header(second, "X-Amz-Security-Token"), "TOKENMIDDLE");
  outcome_clear(&o);
}

static void a_role_error_from_sts_is_kept_whole(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  write_home(f, ".aws/config", "[default]\nrole_arn = " ROLE_A "\nsource_profile = base\n");
  write_home(f, ".aws/credentials", "[base]\naws_access_key_id = A\naws_secret_access_key = S\n");
  fake_reply(&f->ft, 403,
             "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: "
             "arn:aws:iam::111111111111:user/ops is not authorized to perform: sts:AssumeRole on "
             "resource: " ROLE_A "</Message></Error><RequestId>r</RequestId></ErrorResponse>");
  fetch_chain(f, NULL, &o);
  assert_failure(&o, OPS_ERR_DENIED,
                 "User: arn:aws:iam::111111111111:user/ops is not authorized "
                 "to perform: sts:AssumeRole on resource: " ROLE_A);
  assert_string_equal(o.err.code, "AccessDenied");
  assert_int_equal(o.err.http_status, 403);
}

static void source_profile_cycles_are_refused(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  write_home(f, ".aws/config",
             "[profile a]\nrole_arn = " ROLE_A "\nsource_profile = b\n"
             "[profile b]\nrole_arn = " ROLE_B "\nsource_profile = c\n"
             "[profile c]\nrole_arn = " ROLE_B "\nsource_profile = a\n"
             "[profile self]\nrole_arn = " ROLE_A "\nsource_profile = self\n");
  fetch_chain(f, "a", &o);
  assert_failure(&o, OPS_ERR_CONFIG,
                 "source_profile cycle: a -> b -> c -> a: each role_arn profile must lead to a "
                 "profile with credentials or to a credential_source");
  assert_string_equal(o.err.code, "InfiniteLoopConfigError");
  fetch_chain(f, "self", &o);
  assert_failure(&o, OPS_ERR_CONFIG,
                 "source_profile cycle: self -> self: each role_arn profile must lead to a "
                 "profile with credentials or to a credential_source");
  assert_int_equal(f->ft.request_count, 0);
}

/* A profile with static keys and role_arn may name itself: the keys sign its own AssumeRole. */
static void a_profile_may_source_its_own_static_keys(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  write_home(f, ".aws/config", "[profile self]\nrole_arn = " ROLE_A "\nsource_profile = self\n");
  write_home(f, ".aws/credentials",
             "[self]\naws_access_key_id = AKIDSELF\n"
             "aws_secret_access_key = S\n");
  fake_reply(&f->ft, 200, role_answer("ASIASELF", "T"));
  fetch_chain(f, "self", &o);
  assert_non_null(o.credentials);
  assert_string_equal(o.credentials->access_key_id, "ASIASELF");
  assert_non_null(strstr(fake_header(&f->ft.requests[0], "Authorization"), "Credential=AKIDSELF/"));
  outcome_clear(&o);
  /* as a source_profile of another, static keys win over its own role_arn */
  write_home(f, ".aws/config",
             "[profile top]\nrole_arn = " ROLE_B "\nsource_profile = self\n"
             "[profile self]\nrole_arn = " ROLE_A "\nsource_profile = self\n");
  fake_reply(&f->ft, 200, role_answer("ASIATOP", "T"));
  fetch_chain(f, "top", &o);
  assert_string_equal(o.credentials->access_key_id, "ASIATOP");
  assert_int_equal(f->ft.request_count, 2);
  assert_non_null(strstr(f->ft.requests[1].body, "Target"));
  outcome_clear(&o);
}

static void credential_source_names_another_source(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  fake_env_set(&f->env, "AWS_ACCESS_KEY_ID", "AKIDENV");
  fake_env_set(&f->env, "AWS_SECRET_ACCESS_KEY", "SECRETENV");
  write_home(f, ".aws/config",
             "[profile env]\nrole_arn = " ROLE_A "\n"
             "credential_source = environment\n"
             "[profile ecs]\nrole_arn = " ROLE_A "\n"
             "credential_source = EcsContainer\n"
             "[profile bad]\nrole_arn = " ROLE_A "\n"
             "credential_source = Laptop\n");
  fake_reply(&f->ft, 200, role_answer("ASIAENV", "T"));
  fetch_chain(f, "env", &o);
  assert_string_equal(o.credentials->access_key_id, "ASIAENV");
  assert_non_null(strstr(fake_header(&f->ft.requests[0], "Authorization"), "Credential=AKIDENV/"));
  assert_string_equal(o.credentials->source, "role " ROLE_A " of profile env, from environment");
  outcome_clear(&o);
  fetch_chain(f, "ecs", &o);
  assert_failure(&o, OPS_ERR_CREDENTIALS,
                 "no credentials found in credential_source EcsContainer referenced in profile "
                 "ecs (container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI not set)");
  fetch_chain(f, "bad", &o);
  assert_failure(&o, OPS_ERR_CONFIG,
                 "credential_source \"Laptop\" in profile bad is not valid: "
                 "use Environment, Ec2InstanceMetadata or EcsContainer");
}

static void mfa_codes_come_from_the_prompt(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  write_home(f, ".aws/config",
             "[default]\nrole_arn = " ROLE_A "\nsource_profile = base\n"
             "mfa_serial = arn:aws:iam::111111111111:mfa/ops\n");
  write_home(f, ".aws/credentials", "[base]\naws_access_key_id = A\naws_secret_access_key = S\n");
  f->mfa_code = "123456";
  fake_reply(&f->ft, 200, role_answer("ASIAMFA", "T"));
  fetch_chain(f, NULL, &o);
  assert_string_equal(o.credentials->access_key_id, "ASIAMFA");
  assert_string_equal(f->prompted, "Enter MFA code for arn:aws:iam::111111111111:mfa/ops: ");
  assert_non_null(strstr(f->ft.requests[0].body,
                         "&SerialNumber=arn%3Aaws%3Aiam%3A%3A111111111111%3Amfa%2Fops"
                         "&TokenCode=123456"));
  outcome_clear(&o);
  f->context.prompt = NULL;
  fetch_chain(f, NULL, &o);
  assert_failure(&o, OPS_ERR_CONFIG,
                 "profile default has mfa_serial arn:aws:iam::111111111111:mfa/ops, but there is "
                 "no terminal to ask for the MFA code: run opsrun interactively or use a profile "
                 "without MFA");
}

/* --- credential_process --- */

static void credential_process_runs_a_shell_command(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  write_home(f, ".aws/config",
             "[profile p]\ncredential_process = printf '%s' '{\"Version\": 1, \"AccessKeyId\": "
             "\"PROC\", \"SecretAccessKey\": \"S\", \"SessionToken\": \"T\", \"Expiration\": "
             "\"2026-11-24T06:00:00Z\"}'\n");
  fetch_chain(f, "p", &o);
  assert_credentials(&o, "PROC", "credential_process of profile p");
  assert_string_equal(o.credentials->session_token, "T");
  assert_int_equal(o.credentials->expiration, 1795500000);
  outcome_clear(&o);
}

static void credential_process_failures_are_worded(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  const struct {
    const char *command;
    const char *message;
  } cases[] = {
      {"echo boom >&2; exit 3", "credential_process of profile p exited with status 3: boom"},
      {"kill -TERM $$", "credential_process of profile p was killed by signal 15: (nothing on "
                        "stderr)"},
      {"echo 'AKIA-not-json'",
       "credential_process of profile p printed output that is not JSON (line 1, column 4); it "
       "must print {\"Version\": 1, \"AccessKeyId\": ..., \"SecretAccessKey\": ...}"},
      {"echo '{\"Version\": 2, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"S\"}'",
       "credential_process of profile p printed \"Version\": 2; the only supported version is "
       "1"},
      {"echo '{\"AccessKeyId\": \"A\"}'",
       "credential_process of profile p printed JSON without \"Version\": it must be 1"},
      {"echo '{\"Version\": 1, \"AccessKeyId\": \"A\"}'",
       "credential_process of profile p: the answer has no SecretAccessKey"},
      {"echo '{\"Version\": 1, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"S\", "
       "\"Expiration\": \"later\"}'",
       "credential_process of profile p: Expiration 'later' is not an ISO 8601 timestamp such as "
       "2026-11-24T06:00:00Z"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char config[512];
    snprintf(config, sizeof(config), "[profile p]\ncredential_process = %s\n", cases[i].command);
    write_home(f, ".aws/config", config);
    fetch_chain(f, "p", &o);
    assert_failure(&o, OPS_ERR_CREDENTIALS, cases[i].message);
    assert_string_equal(o.err.code, "CredentialProcessError");
  }
}

/* Runs `command` as credential_process of profile p, up to its start: the fetch is in flight. */
static struct ops_credentials_fetch *start_process(struct fixture *f, const char *command,
                                                   struct ops_credentials_provider **provider,
                                                   struct fake_fetch *o)
{
  assert_int_equal(ops_credentials_provider_process_new(provider, &f->context, command, "p", NULL),
                   OPS_OK);
  fake_fetch_start(o, *provider);
  return o->fetch;
}

/* The pid a command wrote to HOME/name, once it is there. */
static pid_t read_pid(struct fixture *f, const char *name)
{
  char path[128];
  snprintf(path, sizeof(path), "%s/%s", f->home, name);
  long pid = 0;
  for (int i = 0; i < 500 && pid <= 0; i++) {
    FILE *file = fopen(path, "r");
    if (!file || fscanf(file, "%ld", &pid) != 1)
      pid = 0;
    if (file)
      fclose(file);
    if (pid <= 0)
      ops_loop_run_once(f->loop, 10);
  }
  assert_true(pid > 0);
  return (pid_t)pid;
}

static bool process_gone(pid_t pid)
{
  return kill(pid, 0) != 0 && errno == ESRCH;
}

static void on_tick(void *ud)
{
  *(bool *)ud = true;
}

/* Issue 14: it used to run inside start, blocking the loop (and every task) until it ended. */
static void credential_process_runs_on_the_loop(void **state)
{
  struct fixture *f = *state;
  struct ops_credentials_provider *provider;
  struct fake_fetch o;
  bool ticked = false;
  ops_loop_timer_start(f->loop, 10, on_tick, &ticked);
  start_process(f,
                "sleep 0.3; printf '{\"Version\": 1, \"AccessKeyId\": \"LOOP\", "
                "\"SecretAccessKey\": \"S\"}'",
                &provider, &o);
  while (!o.done && !ticked)
    ops_loop_run_once(f->loop, 100);
  assert_true(ticked);
  assert_false(o.done);
  fake_run_until(f->loop, &o.done);
  assert_credentials(&o, "LOOP", "credential_process of profile p");
  outcome_clear(&o);
  ops_credentials_provider_free(provider);
}

/* A helper that leaves a process in the background holding its stdout: the run ends when the
 * command itself exits, not when the last holder of the pipe lets go. */
static void credential_process_ends_when_the_command_exits(void **state)
{
  struct fixture *f = *state;
  struct ops_credentials_provider *provider;
  struct fake_fetch o;
  char command[512];
  snprintf(command, sizeof(command),
           "printf '{\"Version\": 1, \"AccessKeyId\": \"BG\", \"SecretAccessKey\": \"S\"}'; "
           "sleep 30 & echo $! > %s/background.pid",
           f->home);
  uint64_t started = ops_loop_now_ms();
  start_process(f, command, &provider, &o);
  fake_run_until(f->loop, &o.done);
  assert_true(ops_loop_now_ms() - started < 5000);
  assert_credentials(&o, "BG", "credential_process of profile p");
  kill(read_pid(f, "background.pid"), SIGKILL);
  outcome_clear(&o);
  ops_credentials_provider_free(provider);
}

static void credential_process_is_killed_after_its_time_limit(void **state)
{
  struct fixture *f = *state;
  struct ops_credentials_provider *provider;
  struct fake_fetch o;
  char command[256];
  snprintf(command, sizeof(command),
           "echo $$ > %s/hung.pid; echo waiting for MFA >&2; exec sleep 30", f->home);
  f->context.process_timeout_ms = 300;
  uint64_t started = ops_loop_now_ms();
  start_process(f, command, &provider, &o);
  pid_t pid = read_pid(f, "hung.pid");
  fake_run_until(f->loop, &o.done);
  assert_true(ops_loop_now_ms() - started < 2000);
  assert_failure(&o, OPS_ERR_CREDENTIALS,
                 "credential_process of profile p did not finish within 0.3 s and was stopped: "
                 "waiting for MFA");
  assert_string_equal(o.err.code, "CredentialProcessError");
  assert_true(process_gone(pid));
  ops_credentials_provider_free(provider);
}

static void credential_process_is_killed_when_the_fetch_is_cancelled(void **state)
{
  struct fixture *f = *state;
  struct ops_credentials_provider *provider;
  struct fake_fetch o;
  char command[256];
  snprintf(command, sizeof(command), "echo $$ > %s/hung.pid; exec sleep 30", f->home);
  struct ops_credentials_fetch *fetch = start_process(f, command, &provider, &o);
  pid_t pid = read_pid(f, "hung.pid");
  ops_credentials_fetch_cancel(fetch);
  assert_false(o.done);
  assert_true(process_gone(pid));
  ops_credentials_provider_free(provider);
}

/* Descriptors opsrun opens are not inherited by the programs it starts (credential_process,
 * os.execute): the command sees its stdout and stderr pipes as 1 and 2 and nothing else of ours. */
static void credential_process_inherits_no_other_descriptor(void **state)
{
  struct fixture *f = *state;
  struct ops_credentials_provider *provider;
  struct fake_fetch o;
  bool open_before[1024];
  for (int fd = 0; fd < 1024; fd++)
    open_before[fd] = fcntl(fd, F_GETFD) >= 0; /* the test's own, and what it inherited */
  start_process(f,
                "sleep 0.2; printf '{\"Version\": 1, \"AccessKeyId\": \"FD\", "
                "\"SecretAccessKey\": \"S\"}'",
                &provider, &o);
  int opened = 0;
  for (int fd = 0; fd < 1024; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0 || open_before[fd])
      continue;
    opened++;
    if (!(flags & FD_CLOEXEC))
      fail_msg("descriptor %d is open without close-on-exec while credential_process runs", fd);
  }
  assert_true(opened >= 3); /* the two pipes and the pidfd */
  fake_run_until(f->loop, &o.done);
  assert_credentials(&o, "FD", "credential_process of profile p");
  outcome_clear(&o);
  ops_credentials_provider_free(provider);
}

/* --- SSO --- */

static const char s_sso_answer[] =
    "{\"roleCredentials\": {\"accessKeyId\": \"ASIASSO\", \"secretAccessKey\": \"S\", "
    "\"sessionToken\": \"T\", \"expiration\": 1795500000000}}";

static void sso_uses_the_cached_token_and_the_portal(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  fake_env_set(&f->env, "AWS_ENDPOINT_URL_SSO", "http://127.0.0.1:7777/");
  write_home(f, ".aws/config",
             "[profile sso]\nsso_session = corp\nsso_account_id = 111111111111\n"
             "sso_role_name = Read Only\n"
             "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n"
             "sso_region = eu-west-1\n"
             "[profile legacy]\nsso_start_url = https://legacy.awsapps.com/start\n"
             "sso_region = us-east-1\nsso_account_id = 222222222222\n"
             "sso_role_name = Admin\n");
  write_home(f, ".aws/sso/cache/ee0bfd2552fbd840c02cc48b6e823320543c450f.json",
             "{\"accessToken\": \"SSOTOKEN\", \"expiresAt\": \"2023-11-15T00:00:00Z\"}");
  write_home(f, ".aws/sso/cache/79e435d7a515078e81c9dffc35f38d5687ebd3a7.json",
             "{\"accessToken\": \"LEGACY\", \"expiresAt\": \"2023-11-14T00:00:00Z\"}");
  fake_reply(&f->ft, 200, s_sso_answer);
  fetch_chain(f, "sso", &o);
  assert_credentials(&o, "ASIASSO", "SSO (profile sso)");
  assert_int_equal(o.credentials->expiration, 1795500000);
  const struct fake_request *r = &f->ft.requests[0];
  assert_string_equal(r->method, "GET");
  assert_string_equal(r->url, "http://127.0.0.1:7777/federation/credentials?role_name=Read%20Only"
                              "&account_id=111111111111");
  assert_string_equal(fake_header(r, "x-amz-sso_bearer_token"), "SSOTOKEN");
  outcome_clear(&o);
  /* the legacy profile's token (keyed by the start URL) expired */
  fetch_chain(f, "legacy", &o);
  assert_failure(&o, OPS_ERR_CREDENTIALS,
                 "SSO (profile legacy): the cached token expired at 2023-11-14T00:00:00Z: run "
                 "`aws sso login --profile legacy`");
  /* the portal refuses the token */
  fake_reply_header(&f->ft, 401, "{\"message\":\"Session token not found or invalid\"}",
                    "x-amzn-ErrorType", "UnauthorizedException:http://internal.amazon.com/");
  fetch_chain(f, "sso", &o);
  assert_failure(&o, OPS_ERR_CREDENTIALS,
                 "SSO (profile sso): GetRoleCredentials for role Read Only in account "
                 "111111111111: Session token not found or invalid; run `aws sso login --profile "
                 "sso`");
  assert_string_equal(o.err.code, "UnauthorizedException");
  assert_int_equal(o.err.http_status, 401);
}

static void sso_without_a_cached_token_says_to_log_in(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  char message[1024];
  write_home(f, ".aws/config",
             "[default]\nsso_session = corp\nsso_account_id = 1\n"
             "sso_role_name = R\n"
             "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n"
             "sso_region = eu-west-1\n"
             "[profile other]\nsso_session = nope\nsso_role_name = R\n");
  fetch_chain(f, NULL, &o);
  snprintf(message, sizeof(message),
           "SSO (profile default): no usable cached token in %s/.aws/sso/cache/"
           "ee0bfd2552fbd840c02cc48b6e823320543c450f.json: run `aws sso login --profile default`",
           f->home);
  assert_failure(&o, OPS_ERR_CREDENTIALS, message);
  fetch_chain(f, "other", &o);
  snprintf(message, sizeof(message),
           "profile other names sso_session \"nope\", but %s/.aws/config has no [sso-session "
           "nope] section",
           f->home);
  assert_failure(&o, OPS_ERR_CONFIG, message);
}

/* --- SSO: an sso-session's token refreshed (SSO OIDC CreateToken), the cache written back --- */

#define CORP_CACHE   ".aws/sso/cache/ee0bfd2552fbd840c02cc48b6e823320543c450f.json"
#define LEGACY_CACHE ".aws/sso/cache/79e435d7a515078e81c9dffc35f38d5687ebd3a7.json"

/* The clock stands at 1700000000, 2023-11-14T22:13:20Z. */
#define IN_5_MINUTES  "2023-11-14T22:18:20Z"
#define IN_12_MINUTES "2023-11-14T22:25:20Z"
#define IN_1_HOUR     "2023-11-14T23:13:20Z"
#define EXPIRED       "2023-11-14T22:00:00Z"
#define REGISTERED    "\"clientId\": \"CLIENTID\", \"clientSecret\": \"CLIENTSECRET\", "

static const char s_created[] = "{\"accessToken\": \"NEWTOKEN\", \"expiresIn\": 28800, "
                                "\"refreshToken\": \"NEWREFRESH\", \"tokenType\": \"Bearer\"}";
static const char s_invalid_grant[] = "{\"error\": \"invalid_grant\", \"error_description\": "
                                      "\"Invalid refresh token provided\"}";

/* Every log line of an SSO test (the teardown sets the log back to stderr). */
static FILE *s_log;

/* The profiles (`sso` with sso-session corp, `legacy` with the keys in the profile), the portal
 * and SSO OIDC overrides, and the log captured at the trace level. */
static void sso_session_setup(struct fixture *f)
{
  if (!s_log)
    s_log = tmpfile();
  assert_non_null(s_log);
  assert_int_equal(ftruncate(fileno(s_log), 0), 0);
  rewind(s_log);
  ops_log_configure(OPS_LOG_TRACE, OPS_LOG_TEXT, s_log);
  fake_env_set(&f->env, "AWS_ENDPOINT_URL_SSO", "http://127.0.0.1:7777");
  fake_env_set(&f->env, "AWS_ENDPOINT_URL_SSO_OIDC", "http://127.0.0.1:7778/");
  write_home(f, ".aws/config",
             "[profile sso]\nsso_session = corp\nsso_account_id = 111111111111\n"
             "sso_role_name = ReadOnly\n"
             "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n"
             "sso_region = eu-west-1\nsso_registration_scopes = sso:account:access\n"
             "[profile legacy]\nsso_start_url = https://legacy.awsapps.com/start\n"
             "sso_region = us-east-1\nsso_account_id = 222222222222\n"
             "sso_role_name = Admin\n");
}

/* A cache file as `aws sso login` writes it, with the token expiring at `expires_at`, the
 * client registered until `registered_until`, and one field the CLI may add later. */
static void write_cache(struct fixture *f, const char *relative, const char *expires_at,
                        const char *registered_until)
{
  char text[1024];
  snprintf(text, sizeof(text),
           "{\"startUrl\": \"https://corp.awsapps.com/start\", \"region\": \"eu-west-1\", "
           "\"accessToken\": \"OLDTOKEN\", \"expiresAt\": \"%s\", " REGISTERED
           "\"registrationExpiresAt\": \"%s\", \"refreshToken\": \"OLDREFRESH\", "
           "\"futureField\": {\"kept\": true}}",
           expires_at, registered_until);
  write_home(f, relative, text);
}

static struct ops_credentials_provider *profile_provider(struct fixture *f, const char *name)
{
  struct ops_credentials_provider *provider = NULL;
  struct ops_error err = {0};
  if (ops_credentials_provider_profile_new(&provider, &f->context, name, &err) != OPS_OK)
    fail_msg("profile %s: %s", name, err.message);
  return provider;
}

static void fetch_profile(struct fixture *f, const char *name, struct fake_fetch *o)
{
  fetch(f, profile_provider(f, name), o);
}

static void assert_portal_got(const struct fake_request *request, const char *token)
{
  assert_string_equal(request->method, "GET");
  assert_non_null(strstr(request->url, "http://127.0.0.1:7777/federation/credentials?"));
  assert_string_equal(fake_header(request, "x-amz-sso_bearer_token"), token);
}

static json_t *read_cache(struct fixture *f, const char *relative)
{
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", f->home, relative);
  json_t *json = json_load_file(path, 0, NULL);
  assert_non_null(json);
  return json;
}

static void assert_field(const json_t *json, const char *name, const char *value)
{
  const char *actual = json_string_value(json_object_get(json, name));
  if (!actual || strcmp(actual, value) != 0)
    fail_msg("cache field %s: expected %s, got %s", name, value, actual ? actual : "(none)");
}

/* The directory holds only `count` files: no temporary left behind. */
static void assert_cache_dir_files(struct fixture *f, int count)
{
  char path[512];
  snprintf(path, sizeof(path), "%s/.aws/sso/cache", f->home);
  DIR *dir = opendir(path);
  assert_non_null(dir);
  int files = 0;
  for (struct dirent *entry; (entry = readdir(dir));)
    files += entry->d_name[0] != '.';
  closedir(dir);
  assert_int_equal(files, count);
}

/* No token, refresh token or client secret in the log or `message`. */
static void assert_no_secret(const char *message)
{
  static const char *const secrets[] = {"OLDTOKEN", "NEWTOKEN", "OLDREFRESH", "NEWREFRESH",
                                        "CLIENTSECRET"};
  char logged[8192] = "";
  fflush(s_log);
  rewind(s_log);
  size_t n = fread(logged, 1, sizeof(logged) - 1, s_log);
  logged[n] = '\0';
  for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
    if (strstr(logged, secrets[i]))
      fail_msg("the log shows %s: %s", secrets[i], logged);
    if (message && strstr(message, secrets[i]))
      fail_msg("a message shows %s: %s", secrets[i], message);
  }
}

static void refreshes_within_ten_minutes_and_writes_the_cache_back(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  struct stat st;
  char path[512];
  sso_session_setup(f);
  write_cache(f, CORP_CACHE, IN_5_MINUTES, "2024-02-01T00:00:00Z");
  fake_reply(&f->ft, 200, s_created);
  fake_reply(&f->ft, 200, s_sso_answer);
  fetch_profile(f, "sso", &o);
  assert_non_null(o.credentials);
  assert_string_equal(o.credentials->access_key_id, "ASIASSO");
  assert_int_equal(f->ft.request_count, 2);
  const struct fake_request *create = &f->ft.requests[0];
  assert_string_equal(create->method, "POST");
  assert_string_equal(create->url, "http://127.0.0.1:7778/token");
  json_t *body = json_loadb(create->body, create->body_len, 0, NULL);
  assert_field(body, "clientId", "CLIENTID");
  assert_field(body, "clientSecret", "CLIENTSECRET");
  assert_field(body, "grantType", "refresh_token");
  assert_field(body, "refreshToken", "OLDREFRESH");
  json_decref(body);
  assert_portal_got(&f->ft.requests[1], "NEWTOKEN");
  /* the cache: the new token for 8 hours, the CLI's field names, the rest kept */
  json_t *cache = read_cache(f, CORP_CACHE);
  assert_field(cache, "accessToken", "NEWTOKEN");
  assert_field(cache, "expiresAt", "2023-11-15T06:13:20Z");
  assert_field(cache, "refreshToken", "NEWREFRESH");
  assert_field(cache, "clientId", "CLIENTID");
  assert_field(cache, "clientSecret", "CLIENTSECRET");
  assert_field(cache, "registrationExpiresAt", "2024-02-01T00:00:00Z");
  assert_field(cache, "startUrl", "https://corp.awsapps.com/start");
  assert_field(cache, "region", "eu-west-1");
  assert_true(json_is_true(json_object_get(json_object_get(cache, "futureField"), "kept")));
  json_decref(cache);
  snprintf(path, sizeof(path), "%s/%s", f->home, CORP_CACHE);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_cache_dir_files(f, 1);
  assert_no_secret(NULL);
  outcome_clear(&o);
  /* the renewed token is good for hours: the next fetch only asks the portal */
  fake_reply(&f->ft, 200, s_sso_answer);
  fetch_profile(f, "sso", &o);
  assert_int_equal(f->ft.request_count, 3);
  assert_portal_got(&f->ft.requests[2], "NEWTOKEN");
  outcome_clear(&o);
}

static void refreshes_within_fifteen_minutes_not_before(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  sso_session_setup(f);
  write_cache(f, CORP_CACHE, IN_1_HOUR, "2024-02-01T00:00:00Z");
  fake_reply(&f->ft, 200, s_sso_answer);
  fetch_profile(f, "sso", &o);
  assert_int_equal(f->ft.request_count, 1);
  assert_portal_got(&f->ft.requests[0], "OLDTOKEN");
  outcome_clear(&o);
  /* 12 minutes left: botocore's advisory window; AWS_ENDPOINT_URL when no SSO OIDC override */
  fake_env_set(&f->env, "AWS_ENDPOINT_URL_SSO_OIDC", NULL);
  fake_env_set(&f->env, "AWS_ENDPOINT_URL", "http://127.0.0.1:7779");
  write_cache(f, CORP_CACHE, IN_12_MINUTES, "2024-02-01T00:00:00Z");
  fake_reply(&f->ft, 200, s_created);
  fake_reply(&f->ft, 200, s_sso_answer);
  fetch_profile(f, "sso", &o);
  assert_int_equal(f->ft.request_count, 3);
  assert_string_equal(f->ft.requests[1].url, "http://127.0.0.1:7779/token");
  assert_portal_got(&f->ft.requests[2], "NEWTOKEN");
  outcome_clear(&o);
}

static void concurrent_fetches_share_one_create_token(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o[4];
  sso_session_setup(f);
  write_cache(f, CORP_CACHE, IN_5_MINUTES, "2024-02-01T00:00:00Z");
  fake_reply(&f->ft, 200, s_created);
  for (int i = 0; i < 4; i++)
    fake_reply(&f->ft, 200, s_sso_answer);
  struct ops_credentials_provider *provider = profile_provider(f, "sso");
  for (int i = 0; i < 4; i++)
    fake_fetch_start(&o[i], provider);
  for (int i = 0; i < 4; i++) {
    fake_run_until(f->loop, &o[i].done);
    assert_non_null(o[i].credentials);
    outcome_clear(&o[i]);
  }
  ops_credentials_provider_free(provider);
  assert_int_equal(f->ft.request_count, 5);
  assert_string_equal(f->ft.requests[0].url, "http://127.0.0.1:7778/token");
  for (int i = 1; i < 5; i++)
    assert_portal_got(&f->ft.requests[i], "NEWTOKEN");
}

static void in_the_advisory_window_a_fetch_does_not_wait_for_another_refresh(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch first, second;
  sso_session_setup(f);
  write_cache(f, CORP_CACHE, IN_12_MINUTES, "2024-02-01T00:00:00Z");
  fake_reply(&f->ft, 200, s_created);
  fake_reply(&f->ft, 200, s_sso_answer); /* the second fetch's, with the old token */
  fake_reply(&f->ft, 200, s_sso_answer);
  struct ops_credentials_provider *provider = profile_provider(f, "sso");
  fake_fetch_start(&first, provider);
  fake_fetch_start(&second, provider);
  fake_run_until(f->loop, &first.done);
  fake_run_until(f->loop, &second.done);
  ops_credentials_provider_free(provider);
  assert_int_equal(f->ft.request_count, 3);
  assert_portal_got(&f->ft.requests[1], "OLDTOKEN");
  assert_portal_got(&f->ft.requests[2], "NEWTOKEN");
  outcome_clear(&first);
  outcome_clear(&second);
}

static void a_failed_refresh_keeps_a_valid_token(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  sso_session_setup(f);
  write_cache(f, CORP_CACHE, IN_5_MINUTES, "2024-02-01T00:00:00Z");
  fake_reply_header(&f->ft, 400, s_invalid_grant, "x-amzn-ErrorType", "InvalidGrantException");
  fake_reply(&f->ft, 200, s_sso_answer);
  struct ops_credentials_provider *provider = profile_provider(f, "sso");
  fake_fetch_start(&o, provider);
  fake_run_until(f->loop, &o.done);
  assert_non_null(o.credentials);
  assert_portal_got(&f->ft.requests[1], "OLDTOKEN");
  outcome_clear(&o);
  json_t *cache = read_cache(f, CORP_CACHE);
  assert_field(cache, "accessToken", "OLDTOKEN");
  json_decref(cache);
  /* a minute passes before the next attempt (botocore's _attempt_timeout) */
  f->now += 30;
  fake_reply(&f->ft, 200, s_sso_answer);
  fake_fetch_start(&o, provider);
  fake_run_until(f->loop, &o.done);
  assert_int_equal(f->ft.request_count, 3);
  assert_portal_got(&f->ft.requests[2], "OLDTOKEN");
  outcome_clear(&o);
  f->now += 31;
  fake_reply(&f->ft, 200, s_created);
  fake_reply(&f->ft, 200, s_sso_answer);
  fake_fetch_start(&o, provider);
  fake_run_until(f->loop, &o.done);
  assert_int_equal(f->ft.request_count, 5);
  assert_portal_got(&f->ft.requests[4], "NEWTOKEN");
  outcome_clear(&o);
  ops_credentials_provider_free(provider);
  assert_no_secret(NULL);
}

static void an_expired_token_that_cannot_be_refreshed_says_to_log_in(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  sso_session_setup(f);
  write_cache(f, CORP_CACHE, EXPIRED, "2024-02-01T00:00:00Z");
  fake_reply_header(&f->ft, 400, s_invalid_grant, "x-amzn-ErrorType",
                    "InvalidGrantException:http://internal.amazon.com/coral/");
  fetch_profile(f, "sso", &o);
  assert_null(o.credentials);
  assert_int_equal(o.err.kind, OPS_ERR_CREDENTIALS);
  assert_string_equal(o.err.message,
                      "SSO (profile sso): the cached token expired at 2023-11-14T22:00:00Z and "
                      "cannot be refreshed (SSO OIDC CreateToken answered HTTP 400 "
                      "InvalidGrantException: Invalid refresh token provided): run `aws sso "
                      "login --profile sso`");
  assert_int_equal(f->ft.request_count, 1);
  assert_no_secret(o.err.message);
  /* the refusal stands for a minute: the next fetches fail without asking again */
  char refused[1024];
  snprintf(refused, sizeof(refused), "%s", o.err.message);
  f->now += 59;
  fetch_profile(f, "sso", &o);
  assert_string_equal(o.err.message, refused);
  assert_int_equal(f->ft.request_count, 1);
  /* the client registration expired: no CreateToken at all */
  write_cache(f, CORP_CACHE, EXPIRED, "2023-11-01T00:00:00Z");
  fetch_profile(f, "sso", &o);
  assert_string_equal(o.err.message,
                      "SSO (profile sso): the cached token expired at 2023-11-14T22:00:00Z and "
                      "cannot be refreshed (the client registration expired at "
                      "2023-11-01T00:00:00Z): run `aws sso login --profile sso`");
  /* no refresh token: what a login without the sso-session form leaves */
  write_home(f, CORP_CACHE,
             "{\"accessToken\": \"OLDTOKEN\", \"expiresAt\": \"" EXPIRED "\", " REGISTERED
             "\"registrationExpiresAt\": \"2024-02-01T00:00:00Z\"}");
  fetch_profile(f, "sso", &o);
  assert_string_equal(o.err.message,
                      "SSO (profile sso): the cached token expired at 2023-11-14T22:00:00Z and "
                      "cannot be refreshed (the cache holds no refreshToken): run `aws sso "
                      "login --profile sso`");
  assert_string_equal(o.err.code, "SSOTokenNotUsable");
  assert_int_equal(f->ft.request_count, 1);
  assert_no_secret(o.err.message);
}

static void an_expired_token_is_refreshed_even_right_after_a_failure(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  sso_session_setup(f);
  write_cache(f, CORP_CACHE, EXPIRED, "2024-02-01T00:00:00Z");
  struct ops_credentials_provider *provider = profile_provider(f, "sso");
  fake_fail(&f->ft, OPS_ERR_TRANSPORT);
  fake_fetch_start(&o, provider);
  fake_run_until(f->loop, &o.done);
  assert_null(o.credentials);
  outcome_clear(&o);
  fake_reply(&f->ft, 200, s_created);
  fake_reply(&f->ft, 200, s_sso_answer);
  fake_fetch_start(&o, provider);
  fake_run_until(f->loop, &o.done);
  assert_non_null(o.credentials);
  assert_portal_got(&f->ft.requests[2], "NEWTOKEN");
  outcome_clear(&o);
  ops_credentials_provider_free(provider);
}

static void cancelling_every_waiting_fetch_cancels_the_refresh(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch first, second;
  sso_session_setup(f);
  write_cache(f, CORP_CACHE, IN_5_MINUTES, "2024-02-01T00:00:00Z");
  fake_hang(&f->ft);
  struct ops_credentials_provider *provider = profile_provider(f, "sso");
  fake_fetch_start(&first, provider);
  fake_fetch_start(&second, provider);
  assert_int_equal(f->ft.in_flight, 1);
  ops_credentials_fetch_cancel(first.fetch);
  assert_int_equal(f->ft.in_flight, 1);
  ops_credentials_fetch_cancel(second.fetch);
  assert_int_equal(f->ft.in_flight, 0);
  ops_credentials_provider_free(provider);
  json_t *cache = read_cache(f, CORP_CACHE);
  assert_field(cache, "accessToken", "OLDTOKEN");
  json_decref(cache);
}

static void the_legacy_form_is_never_refreshed(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  sso_session_setup(f);
  write_cache(f, LEGACY_CACHE, IN_5_MINUTES, "2024-02-01T00:00:00Z");
  fake_reply(&f->ft, 200, s_sso_answer);
  fetch_profile(f, "legacy", &o);
  assert_non_null(o.credentials);
  assert_int_equal(f->ft.request_count, 1);
  assert_portal_got(&f->ft.requests[0], "OLDTOKEN");
  outcome_clear(&o);
  write_cache(f, LEGACY_CACHE, EXPIRED, "2024-02-01T00:00:00Z");
  fetch_profile(f, "legacy", &o);
  assert_string_equal(o.err.message, "SSO (profile legacy): the cached token expired at "
                                     "2023-11-14T22:00:00Z: run `aws sso login --profile legacy`");
  assert_int_equal(f->ft.request_count, 1);
  json_t *cache = read_cache(f, LEGACY_CACHE);
  assert_field(cache, "accessToken", "OLDTOKEN");
  json_decref(cache);
}

/* --- web identity --- */

static void web_identity_reads_the_token_file(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  char token_path[256];
  write_home(f, "token", "eyJhbGciOi.eyJzdWIi.c2ln\n");
  snprintf(token_path, sizeof(token_path), "%s/token", f->home);
  fake_env_set(&f->env, "AWS_WEB_IDENTITY_TOKEN_FILE", token_path);
  fake_env_set(&f->env, "AWS_ROLE_ARN", ROLE_A);
  fake_env_set(&f->env, "AWS_ROLE_SESSION_NAME", "ci-run");
  fake_reply(&f->ft, 200, role_answer("ASIAWEB", "T"));
  fetch_chain(f, NULL, &o);
  assert_credentials(&o, "ASIAWEB", "web identity (role arn:aws:sts::1:assumed-role/R/s)");
  const struct fake_request *r = &f->ft.requests[0];
  assert_string_equal(r->body, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn"
                               "%3Aaws%3Aiam%3A%3A222222222222%3Arole%2FMiddle&RoleSessionName="
                               "ci-run&WebIdentityToken=eyJhbGciOi.eyJzdWIi.c2ln");
  assert_null(fake_header(r, "Authorization"));
  outcome_clear(&o);
  /* from a profile: role_arn + web_identity_token_file */
  fake_env_set(&f->env, "AWS_WEB_IDENTITY_TOKEN_FILE", NULL);
  fake_env_set(&f->env, "AWS_ROLE_ARN", NULL);
  fake_env_set(&f->env, "AWS_ROLE_SESSION_NAME", NULL);
  char config[512];
  snprintf(config, sizeof(config),
           "[profile web]\nrole_arn = " ROLE_B "\nweb_identity_token_file = %s\n", token_path);
  write_home(f, ".aws/config", config);
  fake_reply(&f->ft, 200, role_answer("ASIAWEB2", "T"));
  fetch_chain(f, "web", &o);
  assert_string_equal(o.credentials->access_key_id, "ASIAWEB2");
  assert_non_null(strstr(f->ft.requests[1].body, "RoleSessionName=opsrun-1700000000"));
  outcome_clear(&o);
}

/* --- container --- */

static const char s_container_answer[] =
    "{\"RoleArn\": \"arn:aws:iam::1:role/task\", \"AccessKeyId\": \"ASIAECS\", "
    "\"SecretAccessKey\": \"S\", \"Token\": \"T\", \"Expiration\": \"2026-11-24T06:00:00Z\"}";

static void the_container_endpoint(void **state)
{
  struct fixture *f = *state;
  struct ops_credentials_provider *p = NULL;
  struct fake_fetch o;
  char token_path[256];
  fake_env_set(&f->env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc");
  fake_env_set(&f->env, "AWS_CONTAINER_AUTHORIZATION_TOKEN", "Basic abc");
  fake_reply(&f->ft, 200, s_container_answer);
  assert_int_equal(ops_credentials_provider_ecs_new(&p, &f->context, NULL), OPS_OK);
  fetch(f, p, &o);
  assert_credentials(&o, "ASIAECS", "container endpoint");
  assert_int_equal(o.credentials->expiration, 1795500000);
  assert_string_equal(f->ft.requests[0].url, "http://169.254.170.2/v2/credentials/abc");
  assert_true(f->ft.requests[0].credential_endpoint);
  assert_string_equal(fake_header(&f->ft.requests[0], "Authorization"), "Basic abc");
  outcome_clear(&o);

  /* the full URI, with the token from a file (which wins over the variable) */
  write_home(f, "eks-token", "pod-identity-token\n");
  snprintf(token_path, sizeof(token_path), "%s/eks-token", f->home);
  fake_env_set(&f->env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", NULL);
  fake_env_set(&f->env, "AWS_CONTAINER_CREDENTIALS_FULL_URI",
               "http://169.254.170.23/v1/credentials");
  fake_env_set(&f->env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_path);
  fake_reply(&f->ft, 200, s_container_answer);
  assert_int_equal(ops_credentials_provider_ecs_new(&p, &f->context, NULL), OPS_OK);
  fetch(f, p, &o);
  assert_non_null(o.credentials);
  assert_string_equal(fake_header(&f->ft.requests[1], "Authorization"), "pod-identity-token");
  outcome_clear(&o);

  /* an answer that is not 200 stops the chain */
  fake_reply(&f->ft, 500, "{\"code\":\"InternalError\"}");
  fetch_chain(f, NULL, &o);
  assert_failure(&o, OPS_ERR_TRANSPORT,
                 "container credentials endpoint http://169.254.170.23/v1/"
                 "credentials answered HTTP 500: {\"code\":\"InternalError\"}");
  assert_true(o.err.retryable);

  fake_env_set(&f->env, "AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.0.0.1/creds");
  assert_int_equal(ops_credentials_provider_ecs_new(&p, &f->context, NULL), OPS_OK);
  fetch(f, p, &o);
  assert_failure(&o, OPS_ERR_CONFIG,
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI: unsupported host '10.0.0.1': the container "
                 "credentials endpoint must be a loopback address or one of 169.254.170.2, "
                 "169.254.170.23, fd00:ec2::23, localhost");
  /* loopback is an address, not a name that merely starts like one */
  fake_env_set(&f->env, "AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1.nip.io/creds");
  assert_int_equal(ops_credentials_provider_ecs_new(&p, &f->context, NULL), OPS_OK);
  fetch(f, p, &o);
  assert_failure(&o, OPS_ERR_CONFIG,
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI: unsupported host '127.0.0.1.nip.io': the "
                 "container credentials endpoint must be a loopback address or one of "
                 "169.254.170.2, 169.254.170.23, fd00:ec2::23, localhost");
  assert_int_equal(f->ft.request_count, 3);
}

/* --- instance metadata --- */

static const char s_imds_answer[] =
    "{\"Code\": \"Success\", \"LastUpdated\": \"2023-11-14T21:00:00Z\", \"Type\": "
    "\"AWS-HMAC\", \"AccessKeyId\": \"ASIAIMDS\", \"SecretAccessKey\": \"S\", \"Token\": \"T\", "
    "\"Expiration\": \"2023-11-15T04:00:00Z\"}";

static struct ops_credentials_provider *imds(struct fixture *f)
{
  struct ops_credentials_provider *p = NULL;
  assert_int_equal(ops_credentials_provider_imds_new(&p, &f->context, NULL), OPS_OK);
  return p;
}

static void imdsv2_token_then_role_then_credentials(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  fake_reply(&f->ft, 200, "IMDSTOKEN==");
  fake_reply(&f->ft, 200, "ops-role\n");
  fake_reply(&f->ft, 200, s_imds_answer);
  fetch(f, imds(f), &o);
  assert_credentials(&o, "ASIAIMDS", "instance metadata (role ops-role)");
  assert_int_equal(o.credentials->expiration, 1700020800);
  const struct fake_request *r = f->ft.requests;
  assert_int_equal(f->ft.request_count, 3);
  assert_string_equal(r[0].method, "PUT");
  assert_string_equal(r[0].url, "http://169.254.169.254/latest/api/token");
  assert_string_equal(fake_header(&r[0], "x-aws-ec2-metadata-token-ttl-seconds"), "21600");
  assert_string_equal(r[1].method, "GET");
  assert_string_equal(r[1].url,
                      "http://169.254.169.254/latest/meta-data/iam/security-credentials/");
  assert_string_equal(fake_header(&r[1], "x-aws-ec2-metadata-token"), "IMDSTOKEN==");
  assert_string_equal(r[2].url,
                      "http://169.254.169.254/latest/meta-data/iam/security-credentials/ops-role");
  assert_string_equal(fake_header(&r[2], "x-aws-ec2-metadata-token"), "IMDSTOKEN==");
  assert_true(r[2].credential_endpoint);
  outcome_clear(&o);
}

static void imds_falls_back_to_v1_when_the_token_is_refused(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  fake_env_set(&f->env, "AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1338/");
  fake_reply(&f->ft, 403, "");
  fake_reply(&f->ft, 200, "ops-role");
  fake_reply(&f->ft, 200, s_imds_answer);
  fetch(f, imds(f), &o);
  assert_non_null(o.credentials);
  assert_string_equal(f->ft.requests[0].url, "http://127.0.0.1:1338/latest/api/token");
  assert_null(fake_header(&f->ft.requests[1], "x-aws-ec2-metadata-token"));
  assert_null(fake_header(&f->ft.requests[2], "x-aws-ec2-metadata-token"));
  outcome_clear(&o);
  /* a token request that times out falls back too */
  fake_fail(&f->ft, OPS_ERR_TIMEOUT);
  fake_reply(&f->ft, 200, "ops-role");
  fake_reply(&f->ft, 200, s_imds_answer);
  fetch(f, imds(f), &o);
  assert_non_null(o.credentials);
  outcome_clear(&o);
  /* unless IMDSv1 is disabled */
  fake_env_set(&f->env, "AWS_EC2_METADATA_V1_DISABLED", "true");
  fake_reply(&f->ft, 405, "");
  fetch(f, imds(f), &o);
  assert_failure(&o, OPS_ERR_CREDENTIALS,
                 "instance metadata at http://127.0.0.1:1338 gave no IMDSv2 token and IMDSv1 is "
                 "disabled (AWS_EC2_METADATA_V1_DISABLED)");
  assert_int_equal(f->ft.request_count, 7);
}

static void imds_not_there_is_not_configured(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  fake_fail(&f->ft, OPS_ERR_TRANSPORT);
  fetch(f, imds(f), &o);
  assert_true(ops_credentials_is_not_found(&o.err));
  assert_string_equal(o.err.message, "instance metadata: no answer from http://169.254.169.254 "
                                     "(fake transport failure)");
  fake_reply(&f->ft, 200, "TOKEN");
  fake_reply(&f->ft, 404, "");
  fetch(f, imds(f), &o);
  assert_true(ops_credentials_is_not_found(&o.err));
  assert_string_equal(o.err.message, "instance metadata: the instance has no IAM role");
  fake_env_set(&f->env, "AWS_EC2_METADATA_DISABLED", "TRUE");
  fetch(f, imds(f), &o);
  assert_true(ops_credentials_is_not_found(&o.err));
  assert_int_equal(f->ft.request_count, 3);
}

/* --- nothing anywhere --- */

static void no_credentials_says_what_was_looked_at(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  char message[1024];
  fake_fail(&f->ft, OPS_ERR_TRANSPORT);
  fetch_chain(f, NULL, &o);
  snprintf(message, sizeof(message),
           "no AWS credentials found. Looked at: environment: AWS_ACCESS_KEY_ID not set; profile "
           "default: not in %s/.aws/credentials and %s/.aws/config; web identity: "
           "AWS_WEB_IDENTITY_TOKEN_FILE not set; container: "
           "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI not set; instance metadata: no "
           "answer from http://169.254.169.254 (fake transport failure). Run `aws configure`, "
           "set AWS_PROFILE (or --profile) to a profile with credentials, or export "
           "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
           f->home, f->home);
  assert_failure(&o, OPS_ERR_CREDENTIALS, message);
  assert_string_equal(o.err.code, "NoCredentials");
}

static void a_fetch_can_be_cancelled_in_flight(void **state)
{
  struct fixture *f = *state;
  struct ops_credentials_provider *chain = NULL;
  struct fake_fetch o = {0};
  write_home(f, ".aws/config", "[default]\nrole_arn = " ROLE_A "\nsource_profile = base\n");
  write_home(f, ".aws/credentials", "[base]\naws_access_key_id = A\naws_secret_access_key = S\n");
  fake_hang(&f->ft);
  assert_int_equal(ops_credentials_provider_chain_new(&chain, &f->context, NULL, NULL), OPS_OK);
  fake_fetch_start(&o, chain);
  for (int i = 0; i < 5 && f->ft.request_count == 0; i++)
    ops_loop_run_once(f->loop, 10);
  assert_int_equal(f->ft.in_flight, 1); /* the AssumeRole is on its way */
  ops_credentials_fetch_cancel(o.fetch);
  assert_int_equal(f->ft.in_flight, 0);
  for (int i = 0; i < 3; i++)
    ops_loop_run_once(f->loop, 10);
  assert_false(o.done);
  /* cancelled before the loop ran at all */
  fake_fetch_start(&o, chain);
  ops_credentials_fetch_cancel(o.fetch);
  ops_loop_run_once(f->loop, 10);
  assert_false(o.done);
  ops_credentials_provider_free(chain);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
  const struct CMUnitTest tests[] = {
      TEST(environment_keys_token_and_expiration),
      TEST(a_key_id_without_secret_stops_the_chain),
      TEST(the_environment_comes_before_the_profile_unless_profile_is_explicit),
      TEST(the_profile_comes_before_web_identity_container_and_imds),
      TEST(a_named_profile_must_exist),
      TEST(partial_profiles_stop_the_chain),
      TEST(role_chains_assume_each_role_in_turn),
      TEST(a_role_error_from_sts_is_kept_whole),
      TEST(source_profile_cycles_are_refused),
      TEST(a_profile_may_source_its_own_static_keys),
      TEST(credential_source_names_another_source),
      TEST(mfa_codes_come_from_the_prompt),
      TEST(credential_process_runs_a_shell_command),
      TEST(credential_process_failures_are_worded),
      TEST(credential_process_runs_on_the_loop),
      TEST(credential_process_ends_when_the_command_exits),
      TEST(credential_process_is_killed_after_its_time_limit),
      TEST(credential_process_is_killed_when_the_fetch_is_cancelled),
      TEST(credential_process_inherits_no_other_descriptor),
      TEST(sso_uses_the_cached_token_and_the_portal),
      TEST(sso_without_a_cached_token_says_to_log_in),
      TEST(refreshes_within_ten_minutes_and_writes_the_cache_back),
      TEST(refreshes_within_fifteen_minutes_not_before),
      TEST(concurrent_fetches_share_one_create_token),
      TEST(in_the_advisory_window_a_fetch_does_not_wait_for_another_refresh),
      TEST(a_failed_refresh_keeps_a_valid_token),
      TEST(an_expired_token_that_cannot_be_refreshed_says_to_log_in),
      TEST(an_expired_token_is_refreshed_even_right_after_a_failure),
      TEST(cancelling_every_waiting_fetch_cancels_the_refresh),
      TEST(the_legacy_form_is_never_refreshed),
      TEST(web_identity_reads_the_token_file),
      TEST(the_container_endpoint),
      TEST(imdsv2_token_then_role_then_credentials),
      TEST(imds_falls_back_to_v1_when_the_token_is_refused),
      TEST(imds_not_there_is_not_configured),
      TEST(no_credentials_says_what_was_looked_at),
      TEST(a_fetch_can_be_cancelled_in_flight),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
