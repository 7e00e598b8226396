/* test_credentials_sso.c: the refresh of an sso-session's cached SSO token, with a temporary
 * HOME, a fake environment, a fixed clock and the recording transport of fakes.h: refreshed
 * within botocore's windows and not before, the CreateToken request, the cache file written
 * back (0600, renamed into place, the CLI's field names, other fields kept), one CreateToken for
 * many fetches, a failed refresh while the token is valid, an expired token that cannot be
 * refreshed, a waiting fetch cancelled, the legacy form untouched, and no secret in any message
 * or log line. (The portal and the legacy form's messages: test_credentials.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fakes.h"
#include "runtime/credentials.h"
#include "runtime/log.h"

#define CORP_CACHE   ".aws/sso/cache/ee0bfd2552fbd840c02cc48b6e823320543c450f.json"
#define LEGACY_CACHE ".aws/sso/cache/79e435d7a515078e81c9dffc35f38d5687ebd3a7.json"

/* The clock stands at 1700000000, 2023-11-14T22:13:20Z. */
#define IN_5_MINUTES  "2023-11-14T22:18:20Z"
#define IN_12_MINUTES "2023-11-14T22:25:20Z"
#define IN_1_HOUR     "2023-11-14T23:13:20Z"
#define EXPIRED       "2023-11-14T22:00:00Z"
#define REGISTERED    "\"clientId\": \"CLIENTID\", \"clientSecret\": \"CLIENTSECRET\", "

static const char s_portal_answer[] =
    "{\"roleCredentials\": {\"accessKeyId\": \"ASIASSO\", \"secretAccessKey\": \"S\", "
    "\"sessionToken\": \"T\", \"expiration\": 1795500000000}}";
static const char s_created[] = "{\"accessToken\": \"NEWTOKEN\", \"expiresIn\": 28800, "
                                "\"refreshToken\": \"NEWREFRESH\", \"tokenType\": \"Bearer\"}";
static const char s_invalid_grant[] = "{\"error\": \"invalid_grant\", \"error_description\": "
                                      "\"Invalid refresh token provided\"}";

struct fixture {
  char home[64];
  struct ops_loop *loop;
  struct fake_transport ft;
  struct fake_env env;
  double now;
  struct ops_credentials_context context;
  FILE *log; /* every log line of the test */
};

static int setup(void **state)
{
  struct fixture *f = calloc(1, sizeof(*f));
  snprintf(f->home, sizeof(f->home), "/tmp/test_credentials_sso_XXXXXX");
  assert_non_null(mkdtemp(f->home));
  f->loop = ops_loop_new();
  fake_transport_init(&f->ft, f->loop);
  f->now = 1700000000;
  fake_env_set(&f->env, "HOME", f->home);
  fake_env_set(&f->env, "AWS_ENDPOINT_URL_SSO", "http://127.0.0.1:7777");
  fake_env_set(&f->env, "AWS_ENDPOINT_URL_SSO_OIDC", "http://127.0.0.1:7778/");
  f->context = (struct ops_credentials_context){.loop = f->loop,
                                                .transport = fake_transport_get(&f->ft),
                                                .clock = fake_clock(&f->now),
                                                .env = fake_env_get(&f->env),
                                                .region = "eu-west-1"};
  f->log = tmpfile();
  ops_log_configure(OPS_LOG_TRACE, OPS_LOG_TEXT, f->log);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  char command[128];
  snprintf(command, sizeof(command), "rm -rf '%s'", f->home);
  assert_int_equal(system(command), 0);
  ops_log_configure(OPS_LOG_WARN, OPS_LOG_TEXT, NULL);
  fclose(f->log);
  fake_transport_clear(&f->ft);
  ops_loop_free(f->loop);
  free(f);
  return 0;
}

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

/* The profiles: `sso` with sso-session corp, `legacy` with the keys in the profile. */
static void write_config(struct fixture *f)
{
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

static struct ops_credentials_provider *profile(struct fixture *f, const char *name)
{
  struct ops_credentials_provider *provider = NULL;
  struct ops_error err = {0};
  if (ops_credentials_provider_profile_new(&provider, &f->context, name, &err) != OPS_OK)
    fail_msg("profile %s: %s", name, err.message);
  return provider;
}

static void fetch(struct fixture *f, const char *name, struct fake_fetch *o)
{
  struct ops_credentials_provider *provider = profile(f, name);
  fake_fetch_start(o, provider);
  fake_run_until(f->loop, &o->done);
  ops_credentials_provider_free(provider);
}

static void outcome_clear(struct fake_fetch *o)
{
  ops_credentials_free(o->credentials);
  memset(o, 0, sizeof(*o));
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
static void assert_no_secret(struct fixture *f, const char *message)
{
  static const char *const secrets[] = {"OLDTOKEN", "NEWTOKEN", "OLDREFRESH", "NEWREFRESH",
                                        "CLIENTSECRET"};
  char logged[8192] = "";
  fflush(f->log);
  rewind(f->log);
  size_t n = fread(logged, 1, sizeof(logged) - 1, f->log);
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
  write_config(f);
  write_cache(f, CORP_CACHE, IN_5_MINUTES, "2024-02-01T00:00:00Z");
  fake_reply(&f->ft, 200, s_created);
  fake_reply(&f->ft, 200, s_portal_answer);
  fetch(f, "sso", &o);
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
  assert_no_secret(f, NULL);
  outcome_clear(&o);
  /* the renewed token is good for hours: the next fetch only asks the portal */
  fake_reply(&f->ft, 200, s_portal_answer);
  fetch(f, "sso", &o);
  assert_int_equal(f->ft.request_count, 3);
  assert_portal_got(&f->ft.requests[2], "NEWTOKEN");
  outcome_clear(&o);
}

static void refreshes_within_fifteen_minutes_not_before(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  write_config(f);
  write_cache(f, CORP_CACHE, IN_1_HOUR, "2024-02-01T00:00:00Z");
  fake_reply(&f->ft, 200, s_portal_answer);
  fetch(f, "sso", &o);
  assert_int_equal(f->ft.request_count, 1);
  assert_portal_got(&f->ft.requests[0], "OLDTOKEN");
  outcome_clear(&o);
  /* 12 minutes left: botocore's advisory window; AWS_ENDPOINT_URL when no SSO OIDC override */
  fake_env_set(&f->env, "AWS_ENDPOINT_URL_SSO_OIDC", NULL);
  fake_env_set(&f->env, "AWS_ENDPOINT_URL", "http://127.0.0.1:7779");
  write_cache(f, CORP_CACHE, IN_12_MINUTES, "2024-02-01T00:00:00Z");
  fake_reply(&f->ft, 200, s_created);
  fake_reply(&f->ft, 200, s_portal_answer);
  fetch(f, "sso", &o);
  assert_int_equal(f->ft.request_count, 3);
  assert_string_equal(f->ft.requests[1].url, "http://127.0.0.1:7779/token");
  assert_portal_got(&f->ft.requests[2], "NEWTOKEN");
  outcome_clear(&o);
}

static void concurrent_fetches_share_one_create_token(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o[4];
  write_config(f);
  write_cache(f, CORP_CACHE, IN_5_MINUTES, "2024-02-01T00:00:00Z");
  fake_reply(&f->ft, 200, s_created);
  for (int i = 0; i < 4; i++)
    fake_reply(&f->ft, 200, s_portal_answer);
  struct ops_credentials_provider *provider = profile(f, "sso");
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
  write_config(f);
  write_cache(f, CORP_CACHE, IN_12_MINUTES, "2024-02-01T00:00:00Z");
  fake_reply(&f->ft, 200, s_created);
  fake_reply(&f->ft, 200, s_portal_answer); /* the second fetch's, with the old token */
  fake_reply(&f->ft, 200, s_portal_answer);
  struct ops_credentials_provider *provider = profile(f, "sso");
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
  write_config(f);
  write_cache(f, CORP_CACHE, IN_5_MINUTES, "2024-02-01T00:00:00Z");
  fake_reply_header(&f->ft, 400, s_invalid_grant, "x-amzn-ErrorType", "InvalidGrantException");
  fake_reply(&f->ft, 200, s_portal_answer);
  struct ops_credentials_provider *provider = profile(f, "sso");
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
  fake_reply(&f->ft, 200, s_portal_answer);
  fake_fetch_start(&o, provider);
  fake_run_until(f->loop, &o.done);
  assert_int_equal(f->ft.request_count, 3);
  assert_portal_got(&f->ft.requests[2], "OLDTOKEN");
  outcome_clear(&o);
  f->now += 31;
  fake_reply(&f->ft, 200, s_created);
  fake_reply(&f->ft, 200, s_portal_answer);
  fake_fetch_start(&o, provider);
  fake_run_until(f->loop, &o.done);
  assert_int_equal(f->ft.request_count, 5);
  assert_portal_got(&f->ft.requests[4], "NEWTOKEN");
  outcome_clear(&o);
  ops_credentials_provider_free(provider);
  assert_no_secret(f, NULL);
}

static void an_expired_token_that_cannot_be_refreshed_says_to_log_in(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  write_config(f);
  write_cache(f, CORP_CACHE, EXPIRED, "2024-02-01T00:00:00Z");
  fake_reply_header(&f->ft, 400, s_invalid_grant, "x-amzn-ErrorType",
                    "InvalidGrantException:http://internal.amazon.com/coral/");
  fetch(f, "sso", &o);
  assert_null(o.credentials);
  assert_int_equal(o.err.kind, OPS_ERR_CREDENTIALS);
  assert_string_equal(o.err.message,
                      "SSO (profile sso): the cached token expired at 2023-11-14T22:00:00Z and "
                      "cannot be refreshed (SSO OIDC CreateToken answered HTTP 400 "
                      "InvalidGrantException: Invalid refresh token provided): run `aws sso "
                      "login --profile sso`");
  assert_int_equal(f->ft.request_count, 1);
  assert_no_secret(f, o.err.message);
  /* the refusal stands for a minute: the next fetches fail without asking again */
  char refused[1024];
  snprintf(refused, sizeof(refused), "%s", o.err.message);
  f->now += 59;
  fetch(f, "sso", &o);
  assert_string_equal(o.err.message, refused);
  assert_int_equal(f->ft.request_count, 1);
  /* the client registration expired: no CreateToken at all */
  write_cache(f, CORP_CACHE, EXPIRED, "2023-11-01T00:00:00Z");
  fetch(f, "sso", &o);
  assert_string_equal(o.err.message,
                      "SSO (profile sso): the cached token expired at 2023-11-14T22:00:00Z and "
                      "cannot be refreshed (the client registration expired at "
                      "2023-11-01T00:00:00Z): run `aws sso login --profile sso`");
  /* no refresh token: what a login without the sso-session form leaves */
  write_home(f, CORP_CACHE,
             "{\"accessToken\": \"OLDTOKEN\", \"expiresAt\": \"" EXPIRED "\", " REGISTERED
             "\"registrationExpiresAt\": \"2024-02-01T00:00:00Z\"}");
  fetch(f, "sso", &o);
  assert_string_equal(o.err.message,
                      "SSO (profile sso): the cached token expired at 2023-11-14T22:00:00Z and "
                      "cannot be refreshed (the cache holds no refreshToken): run `aws sso "
                      "login --profile sso`");
  assert_string_equal(o.err.code, "SSOTokenNotUsable");
  assert_int_equal(f->ft.request_count, 1);
  assert_no_secret(f, o.err.message);
}

static void an_expired_token_is_refreshed_even_right_after_a_failure(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  write_config(f);
  write_cache(f, CORP_CACHE, EXPIRED, "2024-02-01T00:00:00Z");
  struct ops_credentials_provider *provider = profile(f, "sso");
  fake_fail(&f->ft, OPS_ERR_TRANSPORT);
  fake_fetch_start(&o, provider);
  fake_run_until(f->loop, &o.done);
  assert_null(o.credentials);
  outcome_clear(&o);
  fake_reply(&f->ft, 200, s_created);
  fake_reply(&f->ft, 200, s_portal_answer);
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
  write_config(f);
  write_cache(f, CORP_CACHE, IN_5_MINUTES, "2024-02-01T00:00:00Z");
  fake_hang(&f->ft);
  struct ops_credentials_provider *provider = profile(f, "sso");
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
  write_config(f);
  write_cache(f, LEGACY_CACHE, IN_5_MINUTES, "2024-02-01T00:00:00Z");
  fake_reply(&f->ft, 200, s_portal_answer);
  fetch(f, "legacy", &o);
  assert_non_null(o.credentials);
  assert_int_equal(f->ft.request_count, 1);
  assert_portal_got(&f->ft.requests[0], "OLDTOKEN");
  outcome_clear(&o);
  write_cache(f, LEGACY_CACHE, EXPIRED, "2024-02-01T00:00:00Z");
  fetch(f, "legacy", &o);
  assert_string_equal(o.err.message, "SSO (profile legacy): the cached token expired at "
                                     "2023-11-14T22:00:00Z: run `aws sso login --profile legacy`");
  assert_int_equal(f->ft.request_count, 1);
  json_t *cache = read_cache(f, LEGACY_CACHE);
  assert_field(cache, "accessToken", "OLDTOKEN");
  json_decref(cache);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
  const struct CMUnitTest tests[] = {
      TEST(refreshes_within_ten_minutes_and_writes_the_cache_back),
      TEST(refreshes_within_fifteen_minutes_not_before),
      TEST(concurrent_fetches_share_one_create_token),
      TEST(in_the_advisory_window_a_fetch_does_not_wait_for_another_refresh),
      TEST(a_failed_refresh_keeps_a_valid_token),
      TEST(an_expired_token_that_cannot_be_refreshed_says_to_log_in),
      TEST(an_expired_token_is_refreshed_even_right_after_a_failure),
      TEST(cancelling_every_waiting_fetch_cancels_the_refresh),
      TEST(the_legacy_form_is_never_refreshed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
