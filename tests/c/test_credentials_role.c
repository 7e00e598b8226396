/* test_credentials_role.c: the role provider over static base credentials (or the pending source
 * of fakes.h) with STS answered by the recording transport, a stopped clock and no jitter: the
 * signed AssumeRole and its answer, retries on throttling (each attempt with the base
 * credentials of its time) until AWS_MAX_ATTEMPTS, errors that are not retried, pacing by the
 * adaptive send rate, a base that fails, credentials that arrive expired naming the role, a
 * fetch abandoned while it waits to retry, and parameters STS would reject; and the caching
 * provider over it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "fakes.h"
#include "runtime/credentials.h"
#include "runtime/retry.h"

#define ROLE_ARN "arn:aws:iam::222222222222:role/OpsReadOnly"
#define NOW      1700000000.0 /* 2023-11-14T22:13:20Z */

static const char s_assumed[] =
    "<AssumeRoleResponse><AssumeRoleResult><AssumedRoleUser>"
    "<Arn>arn:aws:sts::222222222222:assumed-role/OpsReadOnly/ops-session</Arn>"
    "</AssumedRoleUser><Credentials><AccessKeyId>ASIAROLE</AccessKeyId>"
    "<SecretAccessKey>rolesecret</SecretAccessKey><SessionToken>roletoken</SessionToken>"
    "<Expiration>2023-11-14T23:13:20Z</Expiration></Credentials></AssumeRoleResult>"
    "</AssumeRoleResponse>";

static const char s_throttled[] = "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
                                  "<Message>Rate exceeded</Message></Error></ErrorResponse>";

static const char s_denied[] =
    "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
    "<Message>User: arn:aws:iam::111111111111:user/ops is not authorized to perform: "
    "sts:AssumeRole on resource: " ROLE_ARN "</Message></Error></ErrorResponse>";

struct fixture {
  struct ops_loop *loop;
  struct fake_transport ft;
  struct fake_env env;
  double now;
  struct ops_credentials_context context;
  struct ops_retry *retry;
  struct fake_source source; /* the base, in the tests that set f->base to it */
  struct ops_credentials_provider *base;
  struct ops_credentials_provider *role;
};

static double s_no_jitter(void *self)
{
  (void)self;
  return 0;
}

static int setup(void **state)
{
  struct fixture *f = calloc(1, sizeof(*f));
  f->loop = ops_loop_new();
  fake_transport_init(&f->ft, f->loop);
  f->now = NOW;
  f->context = (struct ops_credentials_context){.loop = f->loop,
                                                .transport = fake_transport_get(&f->ft),
                                                .clock = fake_clock(&f->now),
                                                .env = fake_env_get(&f->env),
                                                .region = "eu-west-1"};
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  ops_credentials_provider_free(f->role);
  ops_credentials_provider_free(f->base);
  ops_retry_free(f->retry);
  fake_transport_clear(&f->ft);
  ops_loop_free(f->loop);
  free(f);
  return 0;
}

/* The retry state lent to the role: the fixture's environment, its clock, no jitter. */
static void s_retry(struct fixture *f)
{
  struct ops_retry_options options = {
      .env = fake_env_get(&f->env), .clock = fake_clock(&f->now), .random = {.next = s_no_jitter}};
  assert_int_equal(ops_retry_new(&f->retry, &options, NULL), OPS_OK);
}

/* The role over static base credentials AKIDBASE, unless f->base is set already. */
static void s_role(struct fixture *f, const struct ops_credentials_role_config *config)
{
  struct ops_error err = {0};
  if (!f->base) {
    struct ops_credentials *base = NULL;
    assert_int_equal(
        ops_credentials_new(&base, "AKIDBASE", "basesecret", NULL, 0, "environment", &err), OPS_OK);
    assert_int_equal(ops_credentials_provider_static_new(&f->base, &f->context, base, &err),
                     OPS_OK);
  }
  if (!f->retry)
    s_retry(f);
  struct ops_credentials_role_config lent = *config;
  lent.retry = f->retry;
  assert_int_equal(ops_credentials_provider_role_new(&f->role, &f->context, f->base, &lent, &err),
                   OPS_OK);
}

/* Signed with the base's key id: its Authorization header names it. */
static void s_expect_signed_by(const struct fake_request *r, const char *key)
{
  char credential[64];
  snprintf(credential, sizeof(credential), "Credential=%s/", key);
  assert_non_null(strstr(fake_header(r, "Authorization"), credential));
}

static void test_assumes_the_role_with_the_base_credentials(void **state)
{
  struct fixture *f = *state;
  struct ops_credentials_role_config config = {.role_arn = ROLE_ARN,
                                               .session_name = "ops-session",
                                               .external_id = "ext-123",
                                               .duration_seconds = 900};
  s_role(f, &config);
  assert_null(ops_credentials_role_assumed_arn(f->role));
  fake_reply(&f->ft, 200, s_assumed);
  struct fake_fetch o;
  fake_fetch_start(&o, f->role);
  fake_run_until(f->loop, &o.done);
  assert_non_null(o.credentials);
  assert_string_equal(o.credentials->access_key_id, "ASIAROLE");
  assert_string_equal(o.credentials->session_token, "roletoken");
  assert_int_equal(o.credentials->expiration, 1700003600);
  assert_string_equal(ops_credentials_role_assumed_arn(f->role),
                      "arn:aws:sts::222222222222:assumed-role/OpsReadOnly/ops-session");
  assert_int_equal(f->ft.request_count, 1);
  const struct fake_request *r = &f->ft.requests[0];
  s_expect_signed_by(r, "AKIDBASE");
  assert_string_equal(r->url, "https://sts.eu-west-1.amazonaws.com");
  assert_non_null(strstr(r->body, "Action=AssumeRole"));
  assert_non_null(strstr(r->body, "RoleSessionName=ops-session"));
  assert_non_null(strstr(r->body, "ExternalId=ext-123"));
  assert_non_null(strstr(r->body, "DurationSeconds=900"));
  ops_credentials_free(o.credentials);
}

static void test_session_name_defaults_to_the_time(void **state)
{
  struct fixture *f = *state;
  struct ops_credentials_role_config config = {.role_arn = ROLE_ARN};
  s_role(f, &config);
  fake_reply(&f->ft, 200, s_assumed);
  struct fake_fetch o;
  fake_fetch_start(&o, f->role);
  fake_run_until(f->loop, &o.done);
  assert_non_null(strstr(f->ft.requests[0].body, "RoleSessionName=opsrun-1700000000"));
  assert_null(strstr(f->ft.requests[0].body, "ExternalId"));
  ops_credentials_free(o.credentials);
}

/* Throttled twice, then answered: three attempts, each signed with the base credentials of its
 * time (the pending source answers each attempt's fetch with a new key). */
static void test_retries_throttling_with_current_base_credentials(void **state)
{
  struct fixture *f = *state;
  f->base = fake_source_provider(&f->context, &f->source);
  struct ops_credentials_role_config config = {.role_arn = ROLE_ARN, .session_name = "s1"};
  s_role(f, &config);
  fake_reply(&f->ft, 400, s_throttled);
  fake_reply(&f->ft, 503,
             "<ErrorResponse><Error><Code>ServiceUnavailable</Code>"
             "<Message>busy</Message></Error></ErrorResponse>");
  fake_reply(&f->ft, 200, s_assumed);
  struct fake_fetch o;
  fake_fetch_start(&o, f->role);
  static const char *const keys[] = {"AKID1", "AKID2", "AKID3"};
  for (size_t i = 0; i < 3; i++) {
    while (f->source.pending_count == 0)
      ops_loop_run_once(f->loop, 10);
    fake_source_answer(&f->source, keys[i], 0);
    while (f->ft.request_count == i)
      ops_loop_run_once(f->loop, 10);
    s_expect_signed_by(&f->ft.requests[i], keys[i]);
  }
  fake_run_until(f->loop, &o.done);
  assert_non_null(o.credentials);
  assert_string_equal(o.credentials->access_key_id, "ASIAROLE");
  assert_int_equal(f->source.started, 3);
  ops_credentials_free(o.credentials);
}

static void test_gives_up_after_the_attempts_allowed(void **state)
{
  struct fixture *f = *state;
  fake_env_set(&f->env, "AWS_MAX_ATTEMPTS", "2");
  struct ops_credentials_role_config config = {.role_arn = ROLE_ARN, .session_name = "s1"};
  s_role(f, &config);
  fake_reply(&f->ft, 400, s_throttled);
  fake_reply(&f->ft, 400, s_throttled);
  fake_reply(&f->ft, 200, s_assumed);
  struct fake_fetch o;
  fake_fetch_start(&o, f->role);
  fake_run_until(f->loop, &o.done);
  assert_null(o.credentials);
  assert_int_equal(o.err.kind, OPS_ERR_THROTTLED);
  assert_string_equal(o.err.code, "Throttling");
  assert_string_equal(o.err.message, "Rate exceeded (after 2 attempts)");
  assert_int_equal(f->ft.request_count, 2);
}

static void test_denied_is_not_retried(void **state)
{
  struct fixture *f = *state;
  struct ops_credentials_role_config config = {.role_arn = ROLE_ARN, .session_name = "s1"};
  s_role(f, &config);
  fake_reply(&f->ft, 403, s_denied);
  struct fake_fetch o;
  fake_fetch_start(&o, f->role);
  fake_run_until(f->loop, &o.done);
  assert_int_equal(o.err.kind, OPS_ERR_DENIED);
  assert_string_equal(o.err.code, "AccessDenied");
  assert_non_null(strstr(o.err.message, "on resource: " ROLE_ARN));
  assert_int_equal(f->ft.request_count, 1);
}

/* Adaptive mode after throttling: the send waits for the send rate, on the loop. */
static void test_sends_are_paced_by_the_send_rate(void **state)
{
  struct fixture *f = *state;
  fake_env_set(&f->env, "AWS_RETRY_MODE", "adaptive");
  s_retry(f);
  for (int i = 0; i < 300; i++, f->now += 0.01) /* about 100 sends a second answered */
    if (ops_retry_send_delay_ms(f->retry) == 0)
      ops_retry_observe(f->retry, false);
  ops_retry_observe(f->retry, true); /* then throttled: the rate is cut */
  while (ops_retry_send_delay_ms(f->retry) == 0)
    ;
  struct ops_credentials_role_config config = {.role_arn = ROLE_ARN, .session_name = "s1"};
  s_role(f, &config);
  fake_reply(&f->ft, 200, s_assumed);
  struct fake_fetch o;
  fake_fetch_start(&o, f->role);
  for (int i = 0; i < 10; i++)
    ops_loop_run_once(f->loop, 10);
  assert_int_equal(f->ft.request_count, 0); /* the clock stands still: no token */
  while (!o.done) {
    f->now += 0.05;
    ops_loop_run_once(f->loop, 10);
  }
  assert_int_equal(f->ft.request_count, 1);
  assert_non_null(o.credentials);
  ops_credentials_free(o.credentials);
}

static void test_a_failing_base_fails_the_fetch_as_it_is(void **state)
{
  struct fixture *f = *state;
  f->base = fake_source_provider(&f->context, &f->source);
  struct ops_credentials_role_config config = {.role_arn = ROLE_ARN, .session_name = "s1"};
  s_role(f, &config);
  struct fake_fetch o;
  fake_fetch_start(&o, f->role);
  while (f->source.pending_count == 0)
    ops_loop_run_once(f->loop, 10);
  fake_source_fail(&f->source, OPS_ERR_CREDENTIALS, "no credentials anywhere");
  fake_run_until(f->loop, &o.done);
  assert_int_equal(o.err.kind, OPS_ERR_CREDENTIALS);
  assert_string_equal(o.err.message, "no credentials anywhere");
  assert_int_equal(f->ft.request_count, 0);
}

static void test_credentials_that_arrive_expired_name_the_role(void **state)
{
  struct fixture *f = *state;
  f->now = 1800000000; /* past the answer's expiration */
  struct ops_credentials_role_config config = {.role_arn = ROLE_ARN, .session_name = "s1"};
  s_role(f, &config);
  fake_reply(&f->ft, 200, s_assumed);
  struct fake_fetch o;
  fake_fetch_start(&o, f->role);
  fake_run_until(f->loop, &o.done);
  assert_null(o.credentials);
  assert_int_equal(o.err.kind, OPS_ERR_CREDENTIALS);
  assert_string_equal(o.err.message,
                      "STS AssumeRole of " ROLE_ARN " in account 222222222222 returned "
                      "credentials that expired at 2023-11-14T23:13:20Z, before they arrived "
                      "(this machine's clock says 2027-01-15T08:00:00Z): check the clock and the "
                      "STS endpoint");
}

/* Abandoned while it waits to send again: nothing more is sent. */
static void test_cancel_while_waiting_to_retry(void **state)
{
  struct fixture *f = *state;
  f->base = fake_source_provider(&f->context, &f->source);
  struct ops_credentials_role_config config = {.role_arn = ROLE_ARN, .session_name = "s1"};
  s_role(f, &config);
  fake_reply(&f->ft, 400, s_throttled);
  struct fake_fetch o;
  fake_fetch_start(&o, f->role);
  while (f->source.pending_count == 0)
    ops_loop_run_once(f->loop, 10);
  fake_source_answer(&f->source, "AKID1", 0);
  while (f->source.pending_count == 0) /* the retry asks for the base again */
    ops_loop_run_once(f->loop, 10);
  ops_credentials_fetch_cancel(o.fetch);
  assert_int_equal(f->source.cancelled, 1);
  for (int i = 0; i < 5; i++)
    ops_loop_run_once(f->loop, 10);
  assert_int_equal(f->ft.request_count, 1);
  assert_false(o.done);
}

static void test_parameters_sts_would_reject(void **state)
{
  struct fixture *f = *state;
  struct ops_credentials_role_config config = {.role_arn = ROLE_ARN, .session_name = "bad name"};
  struct ops_credentials_provider *role = NULL;
  struct ops_error err;
  assert_int_equal(ops_credentials_provider_role_new(&role, &f->context, NULL, &config, &err),
                   OPS_ERR_CONFIG);
  assert_null(role);
  assert_string_equal(err.code, "ValidationError");
  assert_non_null(strstr(err.message, "roleSessionName"));
}

/* Cached over the role: concurrent gets share one AssumeRole; a refused session invalidated
 * gets a new AssumeRole. */
static void test_cached_role(void **state)
{
  struct fixture *f = *state;
  struct ops_credentials_role_config config = {.role_arn = ROLE_ARN, .session_name = "s1"};
  s_role(f, &config);
  struct ops_credentials_provider *cached = NULL;
  assert_int_equal(ops_credentials_provider_cached_new(&cached, &f->context, f->role, NULL, NULL),
                   OPS_OK);
  f->role = NULL; /* owned by the cache now */
  fake_reply(&f->ft, 200, s_assumed);
  fake_reply(&f->ft, 200, s_assumed);
  struct fake_fetch o[3];
  fake_fetch_start(&o[0], cached);
  fake_fetch_start(&o[1], cached);
  for (int i = 0; i < 2; i++) {
    fake_run_until(f->loop, &o[i].done);
    assert_string_equal(o[i].credentials->access_key_id, "ASIAROLE");
    ops_credentials_free(o[i].credentials);
  }
  assert_int_equal(f->ft.request_count, 1);
  ops_credentials_provider_invalidate(cached, "ASIAROLE");
  fake_fetch_start(&o[2], cached);
  fake_run_until(f->loop, &o[2].done);
  assert_int_equal(f->ft.request_count, 2);
  ops_credentials_free(o[2].credentials);
  ops_credentials_provider_free(cached);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
  const struct CMUnitTest tests[] = {
      TEST(test_assumes_the_role_with_the_base_credentials),
      TEST(test_session_name_defaults_to_the_time),
      TEST(test_retries_throttling_with_current_base_credentials),
      TEST(test_gives_up_after_the_attempts_allowed),
      TEST(test_denied_is_not_retried),
      TEST(test_sends_are_paced_by_the_send_rate),
      TEST(test_a_failing_base_fails_the_fetch_as_it_is),
      TEST(test_credentials_that_arrive_expired_name_the_role),
      TEST(test_cancel_while_waiting_to_retry),
      TEST(test_parameters_sts_would_reject),
      TEST(test_cached_role),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
