/* test_retry.c: the retry policy with injected randomness, clock and environment: attempts and
 * mode from the environment, backoff bounds per attempt for transient errors and throttling,
 * the retry quota emptied and refilled, Retry-After in both forms, and the adaptive mode's send
 * rate cut by throttling and regrown by successes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/retry.h"
#include "tests/c/fakes.h"

/* ------------------------------------------------------------------ fixture */

struct fixture {
  struct fake_env env;
  double now;
  double draw; /* what the injected random source returns */
  struct ops_retry *retry;
};

static double fixed_draw(void *self)
{
  return ((struct fixture *)self)->draw;
}

/* A policy over the fixture's environment, clock and random source. */
static int make(struct fixture *f, struct ops_error *err)
{
  ops_retry_free(f->retry);
  f->retry = NULL;
  struct ops_retry_options options = {.env = fake_env_get(&f->env),
                                      .clock = fake_clock(&f->now),
                                      .random = {.next = fixed_draw, .self = f}};
  return ops_retry_new(&f->retry, &options, err);
}

static int setup(void **state)
{
  struct fixture *f = calloc(1, sizeof(*f));
  f->now = 1000;
  f->draw = 0.5;
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  ops_retry_free(f->retry);
  free(f);
  return 0;
}

static struct ops_error error_of(enum ops_err kind, int status, const char *code, bool retryable)
{
  struct ops_error err;
  ops_error_set(&err, kind, "it failed");
  ops_error_set_code(&err, code);
  err.http_status = status;
  err.retryable = retryable;
  return err;
}

/* A failure of the transport, as runtime/http.c reports one. */
static struct ops_error transport_error(enum ops_err kind, enum ops_transport_failure failure,
                                        bool retryable)
{
  struct ops_error err = error_of(kind, 0, "", retryable);
  ops_error_set_transport(&err, failure);
  return err;
}

/* ------------------------------------------------------------------ settings */

static void attempts_and_mode_come_from_the_environment(void **state)
{
  struct fixture *f = *state;
  struct ops_error err;
  assert_int_equal(make(f, &err), OPS_OK);
  assert_int_equal(ops_retry_max_attempts(f->retry), 3);
  assert_int_equal(ops_retry_mode(f->retry), OPS_RETRY_STANDARD);
  assert_int_equal(ops_retry_quota_left(f->retry), 500);

  const struct {
    const char *attempts, *mode;
    int max_attempts;
    enum ops_retry_mode expected_mode;
  } good[] = {
      {"10", "adaptive", 10, OPS_RETRY_ADAPTIVE}, {"1", "standard", 1, OPS_RETRY_STANDARD},
      {"100", "legacy", 100, OPS_RETRY_STANDARD}, {"", "", 3, OPS_RETRY_STANDARD},
      {"5", "Adaptive", 5, OPS_RETRY_ADAPTIVE},
  };
  for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
    fake_env_set(&f->env, "AWS_MAX_ATTEMPTS", good[i].attempts);
    fake_env_set(&f->env, "AWS_RETRY_MODE", good[i].mode);
    assert_int_equal(make(f, &err), OPS_OK);
    assert_int_equal(ops_retry_max_attempts(f->retry), good[i].max_attempts);
    assert_int_equal(ops_retry_mode(f->retry), good[i].expected_mode);
  }

  const struct {
    const char *attempts, *mode, *message;
  } bad[] = {
      {"0", "standard", "AWS_MAX_ATTEMPTS must be a whole number from 1 to 100, not '0'"},
      {"three", "standard", "AWS_MAX_ATTEMPTS must be a whole number from 1 to 100, not 'three'"},
      {"3x", "standard", "AWS_MAX_ATTEMPTS must be a whole number from 1 to 100, not '3x'"},
      {"-2", "standard", "AWS_MAX_ATTEMPTS must be a whole number from 1 to 100, not '-2'"},
      {"101", "standard", "AWS_MAX_ATTEMPTS must be a whole number from 1 to 100, not '101'"},
      {"3", "fast", "AWS_RETRY_MODE must be standard, adaptive or legacy, not 'fast'"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    fake_env_set(&f->env, "AWS_MAX_ATTEMPTS", bad[i].attempts);
    fake_env_set(&f->env, "AWS_RETRY_MODE", bad[i].mode);
    assert_int_equal(make(f, &err), OPS_ERR_CONFIG);
    assert_null(f->retry);
    assert_string_equal(err.message, bad[i].message);
  }
}

/* ------------------------------------------------------------------ classifying */

static void errors_are_classified_by_what_a_retry_can_fix(void **state)
{
  (void)state;
  const struct {
    struct ops_error err;
    enum ops_retry_class expected;
  } cases[] = {
      {error_of(OPS_ERR_THROTTLED, 429, "ThrottlingException", true), OPS_RETRY_THROTTLING},
      {error_of(OPS_ERR_THROTTLED, 400, "Throttling", true), OPS_RETRY_THROTTLING},
      {error_of(OPS_ERR_TRANSPORT, 503, "ServiceUnavailable", true), OPS_RETRY_TRANSIENT},
      {error_of(OPS_ERR_TRANSPORT, 500, "", true), OPS_RETRY_TRANSIENT},
      {transport_error(OPS_ERR_TRANSPORT, OPS_TRANSPORT_CONNECT, true), OPS_RETRY_CONNECTION},
      {transport_error(OPS_ERR_TIMEOUT, OPS_TRANSPORT_TIMEOUT, true), OPS_RETRY_CONNECTION},
      {transport_error(OPS_ERR_TRANSPORT, OPS_TRANSPORT_OVER_BUDGET, true), OPS_RETRY_CONNECTION},
      {error_of(OPS_ERR_DENIED, 403, "AccessDenied", false), OPS_RETRY_NEVER},
      {error_of(OPS_ERR_CONFIG, 400, "ValidationError", false), OPS_RETRY_NEVER},
      {transport_error(OPS_ERR_TRANSPORT, OPS_TRANSPORT_TLS, false), OPS_RETRY_NEVER},
      /* a timeout of a deadline's, not of the transport's */
      {error_of(OPS_ERR_TIMEOUT, 0, "Timeout", true), OPS_RETRY_TRANSIENT},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
    assert_int_equal(ops_retry_classify(&cases[i].err), cases[i].expected);
}

/* ------------------------------------------------------------------ backoff */

/* The delays of successive retries of one request, all drawn with f->draw. */
static int delays(struct fixture *f, enum ops_retry_class failure, uint64_t *out, int most)
{
  struct ops_retry_request request = {0};
  int n = 0;
  uint64_t delay = 0;
  while (n < most && ops_retry_next(f->retry, &request, failure, -1, &delay, NULL))
    out[n++] = delay;
  return n;
}

static void backoff_is_full_jitter_up_to_twenty_seconds(void **state)
{
  struct fixture *f = *state;
  fake_env_set(&f->env, "AWS_MAX_ATTEMPTS", "10");
  assert_int_equal(make(f, NULL), OPS_OK);
  const uint64_t transient[9] = {99, 199, 399, 799, 1599, 3199, 6399, 12799, 19999};
  const uint64_t throttling[9] = {999, 1999, 3999, 7999, 15999, 19999, 19999, 19999, 19999};
  uint64_t got[12];
  f->draw = 0.99999999; /* the top of each interval */
  assert_int_equal(delays(f, OPS_RETRY_TRANSIENT, got, 12), 9);
  assert_memory_equal(got, transient, sizeof(transient));
  assert_int_equal(delays(f, OPS_RETRY_CONNECTION, got, 12), 9);
  assert_memory_equal(got, transient, sizeof(transient));
  assert_int_equal(delays(f, OPS_RETRY_THROTTLING, got, 12), 9);
  assert_memory_equal(got, throttling, sizeof(throttling));

  f->draw = 0; /* full jitter reaches down to nothing */
  assert_int_equal(delays(f, OPS_RETRY_THROTTLING, got, 12), 9);
  for (int i = 0; i < 9; i++)
    assert_int_equal(got[i], 0);

  f->draw = 0.25;
  assert_int_equal(delays(f, OPS_RETRY_THROTTLING, got, 3), 3);
  assert_int_equal(got[0], 250);
  assert_int_equal(got[1], 500);
  assert_int_equal(got[2], 1000);
}

static void attempts_stop_at_the_maximum_and_errors_that_cannot_be_fixed_never_retry(void **state)
{
  struct fixture *f = *state;
  assert_int_equal(make(f, NULL), OPS_OK);
  struct ops_retry_request request = {0};
  uint64_t delay = 0;
  enum ops_retry_refusal why = -1;
  assert_true(ops_retry_next(f->retry, &request, OPS_RETRY_THROTTLING, -1, &delay, &why));
  assert_true(ops_retry_next(f->retry, &request, OPS_RETRY_TRANSIENT, -1, &delay, &why));
  assert_int_equal(request.retries, 2);
  assert_false(ops_retry_next(f->retry, &request, OPS_RETRY_THROTTLING, -1, &delay, &why));
  assert_int_equal(why, OPS_RETRY_REFUSED_ATTEMPTS);
  assert_int_equal(request.retries, 2);

  struct ops_retry_request fresh = {0};
  assert_false(ops_retry_next(f->retry, &fresh, OPS_RETRY_NEVER, -1, &delay, &why));
  assert_int_equal(why, OPS_RETRY_REFUSED_NOT_RETRYABLE);

  fake_env_set(&f->env, "AWS_MAX_ATTEMPTS", "1");
  assert_int_equal(make(f, NULL), OPS_OK);
  assert_false(ops_retry_next(f->retry, &fresh, OPS_RETRY_THROTTLING, -1, &delay, &why));
  assert_int_equal(why, OPS_RETRY_REFUSED_ATTEMPTS);
}

/* ------------------------------------------------------------------ the quota */

static void the_quota_runs_out_and_successes_refill_it(void **state)
{
  struct fixture *f = *state;
  assert_int_equal(make(f, NULL), OPS_OK);
  uint64_t delay = 0;
  enum ops_retry_refusal why = -1;
  struct ops_retry_request requests[100] = {{0}};
  for (int i = 0; i < 100; i++) /* 100 first retries at 5 tokens each */
    assert_true(ops_retry_next(f->retry, &requests[i], OPS_RETRY_TRANSIENT, -1, &delay, &why));
  assert_int_equal(ops_retry_quota_left(f->retry), 0);
  struct ops_retry_request one_more = {0};
  assert_false(ops_retry_next(f->retry, &one_more, OPS_RETRY_THROTTLING, -1, &delay, &why));
  assert_int_equal(why, OPS_RETRY_REFUSED_QUOTA);
  assert_int_equal(one_more.retries, 0);
  struct ops_error refused = error_of(OPS_ERR_THROTTLED, 429, "ThrottlingException", true);
  ops_retry_note_attempts(&refused, &one_more); /* a failure that was not retried says why */
  assert_string_equal(refused.message, "it failed (after 1 attempt; the retry quota is spent)");

  ops_retry_succeeded(f->retry, &requests[0]); /* its retry's cost comes back */
  assert_int_equal(ops_retry_quota_left(f->retry), 5);
  ops_retry_succeeded(f->retry, &requests[0]); /* nothing held any more: the plain refund */
  assert_int_equal(ops_retry_quota_left(f->retry), 6);
  assert_false(ops_retry_next(f->retry, &one_more, OPS_RETRY_CONNECTION, -1, &delay, &why));
  assert_int_equal(why, OPS_RETRY_REFUSED_QUOTA); /* a connection failure costs 10 */
  assert_true(ops_retry_next(f->retry, &one_more, OPS_RETRY_TRANSIENT, -1, &delay, &why));
  assert_int_equal(ops_retry_quota_left(f->retry), 1);

  for (int i = 0; i < 1000; i++) {
    struct ops_retry_request ok = {0};
    ops_retry_succeeded(f->retry, &ok);
  }
  assert_int_equal(ops_retry_quota_left(f->retry), 500); /* never above its size */

  struct ops_retry_request timed_out = {0};
  assert_true(ops_retry_next(f->retry, &timed_out, OPS_RETRY_CONNECTION, -1, &delay, &why));
  assert_int_equal(ops_retry_quota_left(f->retry), 490);
  ops_retry_succeeded(f->retry, &timed_out);
  assert_int_equal(ops_retry_quota_left(f->retry), 500);
}

/* ------------------------------------------------------------------ Retry-After */

static void retry_after_is_read_in_both_forms(void **state)
{
  (void)state;
  const double now = 1445412475; /* Wed, 21 Oct 2015 07:27:55 GMT */
  const struct {
    const char *retry_after, *amz;
    long expected;
  } cases[] = {
      {"3", NULL, 3000},
      {" 7 ", NULL, 7000},
      {"0", NULL, 0},
      {NULL, "1500", 1500},
      {"9", "250", 250}, /* milliseconds preferred */
      {"9", "soon", 9000},
      {"Wed, 21 Oct 2015 07:28:00 GMT", NULL, 5000},
      {"Wednesday, 21-Oct-15 07:28:00 GMT", NULL, 5000},
      {"Wed Oct 21 07:28:00 2015", NULL, 5000},
      {"Wed, 21 Oct 2015 07:27:00 GMT", NULL, 0}, /* in the past: now */
      {"-3", NULL, -1},
      {"2.5", NULL, -1},
      {"later", NULL, -1},
      {"", NULL, -1},
      {NULL, NULL, -1},
      {NULL, "-5", -1},
      {"99999999999999999999", NULL, -1},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
    assert_int_equal(ops_retry_after_ms(cases[i].retry_after, cases[i].amz, now),
                     cases[i].expected);
  assert_int_equal(ops_retry_after_ms("86400000", NULL, now), 24L * 3600 * 1000);
}

static void retry_after_is_honoured_within_bounds(void **state)
{
  struct fixture *f = *state;
  fake_env_set(&f->env, "AWS_MAX_ATTEMPTS", "10");
  assert_int_equal(make(f, NULL), OPS_OK);
  f->draw = 0.5;
  const struct {
    long retry_after;
    uint64_t expected;
  } cases[] = {
      {5000, 5000},   /* longer than the backoff drawn (500): the server's wish */
      {100, 500},     /* shorter: the backoff */
      {60000, 20000}, /* bounded */
      {-1, 500},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    struct ops_retry_request request = {0};
    uint64_t delay = 0;
    assert_true(ops_retry_next(f->retry, &request, OPS_RETRY_THROTTLING, cases[i].retry_after,
                               &delay, NULL));
    assert_int_equal(delay, cases[i].expected);
  }
}

/* ------------------------------------------------------------------ adaptive mode */

/* Sends as often as the limiter lets through during `seconds`, asking every 10 ms; each send is
 * answered at once (throttled when `throttle` says so). Returns how many went out. */
static int send_for(struct fixture *f, double seconds, bool throttle)
{
  int sent = 0;
  for (long step = lround(seconds * 100); step > 0; step--, f->now += 0.01) {
    if (ops_retry_send_delay_ms(f->retry) == 0) {
      sent++;
      ops_retry_observe(f->retry, throttle);
    }
  }
  return sent;
}

static void standard_mode_never_delays_a_send(void **state)
{
  struct fixture *f = *state;
  assert_int_equal(make(f, NULL), OPS_OK);
  for (int i = 0; i < 5; i++)
    ops_retry_observe(f->retry, true);
  assert_int_equal(ops_retry_send_delay_ms(f->retry), 0);
  assert_true(ops_retry_send_rate(f->retry) == 0);
}

static void adaptive_mode_cuts_the_rate_on_throttling_and_regrows_it(void **state)
{
  struct fixture *f = *state;
  fake_env_set(&f->env, "AWS_RETRY_MODE", "adaptive");
  assert_int_equal(make(f, NULL), OPS_OK);
  /* until throttled, nothing is limited: 100 sends a second go out */
  assert_int_equal(send_for(f, 3, false), 300);
  assert_true(ops_retry_send_rate(f->retry) == 0);

  /* one throttling answer: the rate becomes 70% of the measured one (about 100 a second) */
  ops_retry_observe(f->retry, true);
  double cut = ops_retry_send_rate(f->retry);
  assert_true(cut > 50 && cut < 100);
  int burst = 0; /* what the bucket holds goes at once, then one token at a time */
  while (ops_retry_send_delay_ms(f->retry) == 0)
    burst++;
  assert_true(burst <= cut);
  uint64_t wait = ops_retry_send_delay_ms(f->retry);
  assert_true(wait > 0 && wait <= 1000 / 50 + 1);

  /* every answer throttled: the rate falls to the floor of 0.5 a second and stays there */
  int sent = send_for(f, 30, true);
  assert_true(ops_retry_send_rate(f->retry) >= 0.5);
  assert_true(ops_retry_send_rate(f->retry) < 1);
  int during_a_minute = send_for(f, 60, true);
  assert_true(during_a_minute >= 29 && during_a_minute <= 31);
  assert_true(sent < 300);
  wait = ops_retry_send_delay_ms(f->retry);
  assert_true(wait > 0 && wait <= 2000);

  /* successes again: the rate grows back along the CUBIC curve, at most doubling the rate
   * measured, until every send goes out again */
  assert_true(send_for(f, 3, false) < 10);
  assert_true(ops_retry_send_rate(f->retry) < 10);
  send_for(f, 7, false);
  assert_int_equal(send_for(f, 1, false), 100);
  assert_true(ops_retry_send_rate(f->retry) > cut);
}

/* One per identity: a quota and send rate made like another share its settings and nothing
 * else, so an identity that spent its own leaves the next one whole. */
static void one_made_like_another_starts_full_with_the_same_settings(void **state)
{
  struct fixture *f = *state;
  fake_env_set(&f->env, "AWS_MAX_ATTEMPTS", "4");
  fake_env_set(&f->env, "AWS_RETRY_MODE", "adaptive");
  assert_int_equal(make(f, NULL), OPS_OK);
  uint64_t delay = 0;
  struct ops_retry_request requests[100] = {{0}};
  for (int i = 0; i < 100; i++)
    assert_true(ops_retry_next(f->retry, &requests[i], OPS_RETRY_THROTTLING, -1, &delay, NULL));
  send_for(f, 3, false);
  ops_retry_observe(f->retry, true);
  while (ops_retry_send_delay_ms(f->retry) == 0)
    ;
  assert_int_equal(ops_retry_quota_left(f->retry), 0);

  struct ops_retry *other = ops_retry_new_like(f->retry);
  assert_non_null(other);
  assert_int_equal(ops_retry_max_attempts(other), 4);
  assert_int_equal(ops_retry_mode(other), OPS_RETRY_ADAPTIVE);
  assert_int_equal(ops_retry_quota_left(other), 500);
  assert_true(ops_retry_send_rate(other) == 0); /* not limiting until it is throttled itself */
  assert_int_equal(ops_retry_send_delay_ms(other), 0);
  struct ops_retry_request request = {0};
  f->draw = 0.25; /* the same random source: a quarter of the first throttling backoff */
  assert_true(ops_retry_next(other, &request, OPS_RETRY_THROTTLING, -1, &delay, NULL));
  assert_int_equal(delay, 250);
  assert_int_equal(ops_retry_quota_left(other), 495);
  assert_int_equal(ops_retry_quota_left(f->retry), 0); /* and the first one's is its own */
  assert_true(ops_retry_send_delay_ms(f->retry) > 0);
  ops_retry_free(other);
}

/* ------------------------------------------------------------------ words */

static void retries_are_described_for_the_log_and_counted_in_the_final_error(void **state)
{
  struct fixture *f = *state;
  fake_env_set(&f->env, "AWS_MAX_ATTEMPTS", "4");
  assert_int_equal(make(f, NULL), OPS_OK);
  struct ops_error err = error_of(OPS_ERR_THROTTLED, 429, "ThrottlingException", true);
  ops_error_set(&err, OPS_ERR_THROTTLED, "Rate exceeded");
  ops_error_set_code(&err, "ThrottlingException");
  err.http_status = 429;
  err.retryable = true;
  struct ops_retry_request request = {0};
  uint64_t delay = 0;
  f->draw = 0.7345;
  assert_true(ops_retry_next(f->retry, &request, ops_retry_classify(&err), -1, &delay, NULL));
  char line[512];
  ops_retry_describe(line, sizeof(line), "MCP tools/call", f->retry, &request, &err, delay);
  assert_string_equal(line, "MCP tools/call: attempt 1 of 4 failed (throttling: HTTP 429 "
                            "ThrottlingException: Rate exceeded); trying again in 0.734 s");

  struct ops_error first = err;
  struct ops_retry_request none = {0};
  ops_retry_note_attempts(&first, &none);
  assert_string_equal(first.message, "Rate exceeded");
  assert_true(ops_retry_next(f->retry, &request, OPS_RETRY_THROTTLING, -1, &delay, NULL));
  ops_retry_note_attempts(&err, &request);
  assert_string_equal(err.message, "Rate exceeded (after 3 attempts)");
}

int main(void)
{
#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
  const struct CMUnitTest tests[] = {
      TEST(attempts_and_mode_come_from_the_environment),
      TEST(errors_are_classified_by_what_a_retry_can_fix),
      TEST(backoff_is_full_jitter_up_to_twenty_seconds),
      TEST(attempts_stop_at_the_maximum_and_errors_that_cannot_be_fixed_never_retry),
      TEST(the_quota_runs_out_and_successes_refill_it),
      TEST(retry_after_is_read_in_both_forms),
      TEST(retry_after_is_honoured_within_bounds),
      TEST(standard_mode_never_delays_a_send),
      TEST(adaptive_mode_cuts_the_rate_on_throttling_and_regrows_it),
      TEST(one_made_like_another_starts_full_with_the_same_settings),
      TEST(retries_are_described_for_the_log_and_counted_in_the_final_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
