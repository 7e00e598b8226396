/* test_credentials_cached.c: the caching provider over the pending source of fakes.h, at a
 * stopped clock on a real loop: single flight, fresh credentials handed out without a fetch,
 * refresh ahead of expiry (and a failed refresh while the old ones are valid), credentials that
 * arrive expired, invalidation of refused credentials only (concurrent refusals cause one fetch),
 * expiry in the middle of a request, callbacks that get again or abandon another get, and gets
 * that are all abandoned. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "fakes.h"
#include "runtime/credentials.h"

#define NOW  1700000000.0 /* 2023-11-14T22:13:20Z */
#define HOUR 3600

struct fixture {
  struct ops_loop *loop;
  double now;
  struct fake_source source;
  struct ops_credentials_provider *cached;
};

static int setup(void **state)
{
  struct fixture *f = calloc(1, sizeof(*f));
  f->loop = ops_loop_new();
  f->now = NOW;
  struct ops_credentials_context context = {.loop = f->loop, .clock = fake_clock(&f->now)};
  struct ops_error err;
  assert_int_equal(ops_credentials_provider_cached_new(&f->cached, &context,
                                                       fake_source_provider(&context, &f->source),
                                                       "the base credentials", &err),
                   OPS_OK);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  ops_credentials_provider_free(f->cached);
  ops_loop_free(f->loop);
  free(f);
  return 0;
}

/* Runs the loop until `o` is done, and checks it got credentials of key id `key`. */
static void s_expect_key(struct fixture *f, struct fake_fetch *o, const char *key)
{
  fake_run_until(f->loop, &o->done);
  assert_non_null(o->credentials);
  assert_string_equal(o->credentials->access_key_id, key);
  ops_credentials_free(o->credentials);
  o->credentials = NULL;
}

/* Gets and answers with `key` expiring at `expiration`: the cache then holds them. */
static void s_fill(struct fixture *f, const char *key, int64_t expiration)
{
  struct fake_fetch o;
  fake_fetch_start(&o, f->cached);
  fake_source_answer(&f->source, key, expiration);
  s_expect_key(f, &o, key);
}

static void test_concurrent_gets_share_one_fetch(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o[3];
  for (int i = 0; i < 3; i++)
    fake_fetch_start(&o[i], f->cached);
  assert_int_equal(f->source.started, 1);
  assert_null(ops_credentials_provider_cached(f->cached));
  fake_source_answer(&f->source, "AKID1", (int64_t)NOW + HOUR);
  for (int i = 0; i < 3; i++)
    s_expect_key(f, &o[i], "AKID1");
  assert_int_equal(f->source.started, 1);
}

static void test_fresh_credentials_need_no_fetch(void **state)
{
  struct fixture *f = *state;
  s_fill(f, "AKID1", (int64_t)NOW + HOUR);
  const struct ops_credentials *cached = ops_credentials_provider_cached(f->cached);
  assert_non_null(cached);
  assert_string_equal(cached->access_key_id, "AKID1");
  assert_string_equal(cached->secret_access_key, "secret-AKID1");
  assert_string_equal(cached->session_token, "token-AKID1");
  struct fake_fetch o;
  fake_fetch_start(&o, f->cached);
  s_expect_key(f, &o, "AKID1");
  assert_int_equal(f->source.started, 1);
}

static void test_credentials_without_expiry_stay(void **state)
{
  struct fixture *f = *state;
  s_fill(f, "AKID1", 0);
  f->now += 100 * HOUR;
  assert_non_null(ops_credentials_provider_cached(f->cached));
  assert_int_equal(f->source.started, 1);
}

/* Five minutes before expiry they are due: a get fetches, and waits for the new ones. */
static void test_refresh_ahead_of_expiry(void **state)
{
  struct fixture *f = *state;
  s_fill(f, "AKID1", (int64_t)NOW + HOUR);
  f->now = NOW + HOUR - 301;
  assert_non_null(ops_credentials_provider_cached(f->cached));
  f->now = NOW + HOUR - 299;
  assert_null(ops_credentials_provider_cached(f->cached));
  struct fake_fetch o;
  fake_fetch_start(&o, f->cached);
  assert_int_equal(f->source.started, 2);
  fake_source_answer(&f->source, "AKID2", (int64_t)f->now + HOUR);
  s_expect_key(f, &o, "AKID2");
  assert_string_equal(ops_credentials_provider_cached(f->cached)->access_key_id, "AKID2");
}

/* Lifetimes under ten minutes are refreshed halfway through. */
static void test_short_lifetimes_refresh_halfway(void **state)
{
  struct fixture *f = *state;
  s_fill(f, "AKID1", (int64_t)NOW + 400);
  f->now = NOW + 199;
  assert_non_null(ops_credentials_provider_cached(f->cached));
  f->now = NOW + 201;
  assert_null(ops_credentials_provider_cached(f->cached));
}

static void test_failed_refresh_keeps_valid_credentials(void **state)
{
  struct fixture *f = *state;
  s_fill(f, "AKID1", (int64_t)NOW + HOUR);
  f->now = NOW + HOUR - 60;
  struct fake_fetch o;
  fake_fetch_start(&o, f->cached);
  fake_source_fail(&f->source, OPS_ERR_THROTTLED, "slow down");
  s_expect_key(f, &o, "AKID1");
}

static void test_failed_fetch_without_valid_credentials_fails(void **state)
{
  struct fixture *f = *state;
  s_fill(f, "AKID1", (int64_t)NOW + HOUR);
  f->now = NOW + HOUR + 1;
  struct fake_fetch o[2];
  fake_fetch_start(&o[0], f->cached);
  fake_fetch_start(&o[1], f->cached);
  fake_source_fail(&f->source, OPS_ERR_DENIED, "AccessDenied: no");
  for (int i = 0; i < 2; i++) {
    fake_run_until(f->loop, &o[i].done);
    assert_null(o[i].credentials);
    assert_int_equal(o[i].err.kind, OPS_ERR_DENIED);
    assert_string_equal(o[i].err.message, "AccessDenied: no");
  }
  /* a failure is not kept: the next get asks again */
  struct fake_fetch again;
  fake_fetch_start(&again, f->cached);
  assert_int_equal(f->source.started, 3);
  fake_source_answer(&f->source, "AKID2", (int64_t)f->now + HOUR);
  s_expect_key(f, &again, "AKID2");
}

static void test_credentials_that_arrive_expired_fail(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o;
  fake_fetch_start(&o, f->cached);
  fake_source_answer(&f->source, "AKID1", 1577836800); /* 2020-01-01 */
  fake_run_until(f->loop, &o.done);
  assert_null(o.credentials);
  assert_int_equal(o.err.kind, OPS_ERR_CREDENTIALS);
  assert_string_equal(o.err.message,
                      "the base credentials (fake) expired at 2020-01-01T00:00:00Z "
                      "(this machine's clock says 2023-11-14T22:13:20Z): renew them");
  assert_null(ops_credentials_provider_cached(f->cached));
}

/* Invalidating other credentials than those held changes nothing. */
static void test_invalidate_only_the_refused_key(void **state)
{
  struct fixture *f = *state;
  s_fill(f, "AKID1", (int64_t)NOW + HOUR);
  ops_credentials_provider_invalidate(f->cached, "AKID0");
  assert_non_null(ops_credentials_provider_cached(f->cached));
  ops_credentials_provider_invalidate(f->cached, "AKID1");
  assert_null(ops_credentials_provider_cached(f->cached));
  struct fake_fetch o;
  fake_fetch_start(&o, f->cached);
  assert_int_equal(f->source.started, 2);
  fake_source_answer(&f->source, "AKID2", (int64_t)NOW + HOUR);
  s_expect_key(f, &o, "AKID2");
}

/* Two requests refused together for the same credentials: one fetch, both get the new ones; a
 * third refused after the new ones arrived does not throw those away. */
static void test_concurrent_invalidations_fetch_once(void **state)
{
  struct fixture *f = *state;
  s_fill(f, "AKID1", (int64_t)NOW + HOUR);
  struct fake_fetch o[3];
  for (int i = 0; i < 2; i++) {
    ops_credentials_provider_invalidate(f->cached, "AKID1");
    fake_fetch_start(&o[i], f->cached);
  }
  assert_int_equal(f->source.started, 2);
  fake_source_answer(&f->source, "AKID2", (int64_t)NOW + HOUR);
  for (int i = 0; i < 2; i++)
    s_expect_key(f, &o[i], "AKID2");
  ops_credentials_provider_invalidate(f->cached, "AKID1");
  fake_fetch_start(&o[2], f->cached);
  s_expect_key(f, &o[2], "AKID2");
  assert_int_equal(f->source.started, 2);
}

/* A request signed with credentials that expired while it was in flight is refused: the
 * credentials are invalidated and the retry gets new ones, never the same again. */
static void test_expiry_mid_request(void **state)
{
  struct fixture *f = *state;
  s_fill(f, "AKID1", (int64_t)NOW + HOUR);
  const struct ops_credentials *signing = ops_credentials_provider_cached(f->cached);
  assert_string_equal(signing->access_key_id, "AKID1");
  f->now = NOW + HOUR + 5; /* the server refused: ExpiredToken */
  ops_credentials_provider_invalidate(f->cached, "AKID1");
  struct fake_fetch o;
  fake_fetch_start(&o, f->cached);
  assert_int_equal(f->source.started, 2);
  fake_source_answer(&f->source, "AKID2", (int64_t)f->now + HOUR);
  s_expect_key(f, &o, "AKID2");
}

/* The first waiter's callback refuses what arrived (it was refused meanwhile): the second waiter
 * waits for the next fetch instead of getting them. */
static void s_invalidate_on_arrival(struct ops_credentials *credentials,
                                    const struct ops_error *err, void *ud)
{
  struct fixture *f = ud;
  assert_null(err);
  ops_credentials_provider_invalidate(f->cached, credentials->access_key_id);
  ops_credentials_free(credentials);
}

static void test_waiter_invalidating_on_arrival(void **state)
{
  struct fixture *f = *state;
  struct ops_error err;
  assert_non_null(ops_credentials_provider_get(f->cached, s_invalidate_on_arrival, f, &err));
  struct fake_fetch second;
  fake_fetch_start(&second, f->cached);
  fake_source_answer(&f->source, "AKID1", (int64_t)NOW + HOUR);
  while (f->source.pending_count == 0)
    ops_loop_run_once(f->loop, 10);
  assert_false(second.done);
  assert_int_equal(f->source.started, 2);
  fake_source_answer(&f->source, "AKID2", (int64_t)NOW + HOUR);
  s_expect_key(f, &second, "AKID2");
}

/* The first waiter's callback abandons the second's get, which then never ends. */
static void s_cancel_other_on_arrival(struct ops_credentials *credentials,
                                      const struct ops_error *err, void *ud)
{
  struct fake_fetch *other = ud;
  assert_null(err);
  ops_credentials_free(credentials);
  ops_credentials_fetch_cancel(other->fetch);
  other->fetch = NULL;
}

static void test_waiter_cancelling_another_on_arrival(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch second, third;
  struct ops_error err;
  assert_non_null(
      ops_credentials_provider_get(f->cached, s_cancel_other_on_arrival, &second, &err));
  fake_fetch_start(&second, f->cached);
  fake_fetch_start(&third, f->cached);
  fake_source_answer(&f->source, "AKID1", (int64_t)NOW + HOUR);
  s_expect_key(f, &third, "AKID1");
  assert_false(second.done);
  assert_int_equal(f->source.started, 1);
}

/* Every get abandoned: the fetch is for nobody and stops; a later get starts afresh. */
static void test_cancelling_every_get_stops_the_fetch(void **state)
{
  struct fixture *f = *state;
  struct fake_fetch o[2];
  fake_fetch_start(&o[0], f->cached);
  fake_fetch_start(&o[1], f->cached);
  ops_credentials_fetch_cancel(o[0].fetch);
  assert_int_equal(f->source.cancelled, 0);
  ops_credentials_fetch_cancel(o[1].fetch);
  assert_int_equal(f->source.cancelled, 1);
  struct fake_fetch again;
  fake_fetch_start(&again, f->cached);
  assert_int_equal(f->source.started, 2);
  fake_source_answer(&f->source, "AKID1", (int64_t)NOW + HOUR);
  s_expect_key(f, &again, "AKID1");
  assert_false(o[0].done);
  assert_false(o[1].done);
}

/* A get handed fresh credentials and cancelled before its turn on the loop. */
static void test_cancel_before_a_fresh_answer(void **state)
{
  struct fixture *f = *state;
  s_fill(f, "AKID1", (int64_t)NOW + HOUR);
  struct fake_fetch o;
  fake_fetch_start(&o, f->cached);
  ops_credentials_fetch_cancel(o.fetch);
  ops_loop_run_once(f->loop, 0);
  assert_false(o.done);
}

static void test_sources_keep_nothing(void **state)
{
  struct fixture *f = *state;
  struct ops_credentials_context context = {.loop = f->loop, .clock = fake_clock(&f->now)};
  struct fake_source source = {0};
  struct ops_credentials_provider *plain = fake_source_provider(&context, &source);
  assert_null(ops_credentials_provider_cached(plain));
  ops_credentials_provider_invalidate(plain, "AKID1"); /* no-op */
  ops_credentials_provider_free(plain);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
  const struct CMUnitTest tests[] = {
      TEST(test_concurrent_gets_share_one_fetch),
      TEST(test_fresh_credentials_need_no_fetch),
      TEST(test_credentials_without_expiry_stay),
      TEST(test_refresh_ahead_of_expiry),
      TEST(test_short_lifetimes_refresh_halfway),
      TEST(test_failed_refresh_keeps_valid_credentials),
      TEST(test_failed_fetch_without_valid_credentials_fails),
      TEST(test_credentials_that_arrive_expired_fail),
      TEST(test_invalidate_only_the_refused_key),
      TEST(test_concurrent_invalidations_fetch_once),
      TEST(test_expiry_mid_request),
      TEST(test_waiter_invalidating_on_arrival),
      TEST(test_waiter_cancelling_another_on_arrival),
      TEST(test_cancelling_every_get_stops_the_fetch),
      TEST(test_cancel_before_a_fresh_answer),
      TEST(test_sources_keep_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
