/* test_pacer.c: the client-side request quota of runtime/pacer.h at given times: a burst goes at
 * once, the next start waits for the oldest to leave the window, the wait can be asked without
 * counting a start, no window ever holds more than the quota, and fractional and very high
 * rates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "runtime/pacer.h"

static void a_burst_of_the_rate_goes_at_once_then_the_next_waits(void **state)
{
  (void)state;
  struct ops_pacer *pacer = ops_pacer_new(10);
  for (int i = 0; i < 10; i++)
    assert_int_equal(ops_pacer_delay_ms(pacer, 5000 + (uint64_t)i), 0);
  assert_int_equal(ops_pacer_delay_ms(pacer, 5100), 900); /* the first started at 5000 */
  assert_int_equal(ops_pacer_delay_ms(pacer, 6000), 0);
  assert_int_equal(ops_pacer_delay_ms(pacer, 6000), 1); /* the second started at 5001 */
  ops_pacer_free(pacer);
}

/* Asking how long a start must wait counts no start. */
static void the_wait_is_told_without_counting_a_start(void **state)
{
  (void)state;
  struct ops_pacer *pacer = ops_pacer_new(2);
  assert_int_equal(ops_pacer_wait_ms(pacer, 0), 0);
  assert_int_equal(ops_pacer_delay_ms(pacer, 0), 0);
  assert_int_equal(ops_pacer_wait_ms(pacer, 100), 0); /* room for one more */
  assert_int_equal(ops_pacer_delay_ms(pacer, 100), 0);
  assert_int_equal(ops_pacer_wait_ms(pacer, 400), 600);
  assert_int_equal(ops_pacer_wait_ms(pacer, 400), 600); /* still: nothing was counted */
  assert_int_equal(ops_pacer_wait_ms(pacer, 1000), 0);
  assert_int_equal(ops_pacer_delay_ms(pacer, 1000), 0);
  assert_int_equal(ops_pacer_wait_ms(pacer, 1000), 100); /* the second started at 100 */
  ops_pacer_free(pacer);
}

static void no_window_holds_more_than_the_quota(void **state)
{
  (void)state;
  struct ops_pacer *pacer = ops_pacer_new(10);
  uint64_t starts[200], now = 0;
  for (int i = 0; i < 200; i++) {
    uint64_t wait;
    while ((wait = ops_pacer_delay_ms(pacer, now)) > 0)
      now += wait;
    starts[i] = now;
    now += (uint64_t)(i * 37 % 90); /* uneven gaps, some in bursts */
  }
  for (int i = 10; i < 200; i++)
    assert_true(starts[i] - starts[i - 10] >= 1000); /* any 11 starts span a second at least */
  assert_true(starts[199] < 200 * 100 + 1000);       /* and the rate is used, not wasted */
  ops_pacer_free(pacer);
}

static void a_rate_below_one_spaces_single_requests(void **state)
{
  (void)state;
  struct ops_pacer *pacer = ops_pacer_new(0.5);
  assert_int_equal(ops_pacer_delay_ms(pacer, 0), 0);
  assert_int_equal(ops_pacer_delay_ms(pacer, 500), 1500);
  assert_int_equal(ops_pacer_delay_ms(pacer, 2000), 0);
  ops_pacer_free(pacer);
}

static void a_fractional_rate_keeps_its_average(void **state)
{
  (void)state;
  struct ops_pacer *pacer = ops_pacer_new(2.5); /* 2 in any 800 ms */
  assert_int_equal(ops_pacer_delay_ms(pacer, 0), 0);
  assert_int_equal(ops_pacer_delay_ms(pacer, 0), 0);
  assert_int_equal(ops_pacer_delay_ms(pacer, 0), 800);
  ops_pacer_free(pacer);
}

static void a_high_rate_keeps_a_bounded_burst(void **state)
{
  (void)state;
  struct ops_pacer *pacer = ops_pacer_new(1000);
  for (int i = 0; i < OPS_PACER_MAX_BURST; i++)
    assert_int_equal(ops_pacer_delay_ms(pacer, 0), 0);
  assert_int_equal(ops_pacer_delay_ms(pacer, 0), 64); /* 64 in any 64 ms */
  ops_pacer_free(pacer);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_burst_of_the_rate_goes_at_once_then_the_next_waits),
      cmocka_unit_test(the_wait_is_told_without_counting_a_start),
      cmocka_unit_test(no_window_holds_more_than_the_quota),
      cmocka_unit_test(a_rate_below_one_spaces_single_requests),
      cmocka_unit_test(a_fractional_rate_keeps_its_average),
      cmocka_unit_test(a_high_rate_keeps_a_bounded_burst),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
