/* test_loop.c: the event loop's timers (order, ties, cancellation, many at once), watched
 * descriptors, and idling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "runtime/loop.h"

struct record {
  int fired[64];
  int count;
};

struct mark {
  struct record *record;
  int id;
};

static void on_fire(void *ud)
{
  struct mark *mark = ud;
  mark->record->fired[mark->record->count++] = mark->id;
}

static void run_until_idle(struct ops_loop *loop)
{
  while (!ops_loop_idle(loop))
    ops_loop_run_once(loop, -1);
}

static void timers_fire_in_due_order_and_ties_in_start_order(void **state)
{
  (void)state;
  struct ops_loop *loop = ops_loop_new();
  struct record record = {0};
  struct mark marks[5] = {{&record, 0}, {&record, 1}, {&record, 2}, {&record, 3}, {&record, 4}};
  ops_loop_timer_start(loop, 30, on_fire, &marks[0]);
  ops_loop_timer_start(loop, 10, on_fire, &marks[1]);
  ops_loop_timer_start(loop, 20, on_fire, &marks[2]);
  ops_loop_timer_start(loop, 10, on_fire, &marks[3]);
  ops_loop_timer_start(loop, 0, on_fire, &marks[4]);
  run_until_idle(loop);
  int expected[] = {4, 1, 3, 2, 0};
  assert_int_equal(record.count, 5);
  assert_memory_equal(record.fired, expected, sizeof(expected));
  ops_loop_free(loop);
}

static void cancelled_timers_never_fire(void **state)
{
  (void)state;
  struct ops_loop *loop = ops_loop_new();
  struct record record = {0};
  struct mark marks[3] = {{&record, 0}, {&record, 1}, {&record, 2}};
  struct ops_timer *first = ops_loop_timer_start(loop, 5, on_fire, &marks[0]);
  ops_loop_timer_start(loop, 5, on_fire, &marks[1]);
  struct ops_timer *last = ops_loop_timer_start(loop, 5, on_fire, &marks[2]);
  ops_loop_timer_cancel(loop, first);
  ops_loop_timer_cancel(loop, last);
  run_until_idle(loop);
  assert_int_equal(record.count, 1);
  assert_int_equal(record.fired[0], 1);
  ops_loop_free(loop);
}

/* The heap keeps its order through many inserts and cancels in scrambled order. */
enum { MANY = 2000 };
static int s_fired_due[MANY];
static int s_fired_count;

static void on_fire_record_due(void *ud)
{
  s_fired_due[s_fired_count++] = *(int *)ud;
}

static void many_timers_fire_sorted(void **state)
{
  (void)state;
  struct ops_loop *loop = ops_loop_new();
  static int due[MANY];
  static struct ops_timer *timers[MANY];
  srand(7);
  for (int i = 0; i < MANY; i++) {
    due[i] = (rand() % 40) * 20; /* spaced wider than the inserts take, even under ASan on a
                                    busy machine (5 ms was not) */
    timers[i] = ops_loop_timer_start(loop, (uint64_t)due[i], on_fire_record_due, &due[i]);
  }
  for (int i = 0; i < MANY; i += 3)
    ops_loop_timer_cancel(loop, timers[i]);
  s_fired_count = 0;
  run_until_idle(loop);
  assert_int_equal(s_fired_count, MANY - (MANY + 2) / 3);
  for (int i = 1; i < s_fired_count; i++)
    assert_true(s_fired_due[i - 1] <= s_fired_due[i]);
  ops_loop_free(loop);
}

static void freeing_the_loop_drops_pending_timers(void **state)
{
  (void)state;
  struct ops_loop *loop = ops_loop_new();
  struct record record = {0};
  struct mark mark = {&record, 0};
  for (int i = 0; i < 100; i++)
    ops_loop_timer_start(loop, 60000, on_fire, &mark);
  ops_loop_free(loop); /* no callback, no leak */
  assert_int_equal(record.count, 0);
}

static void wakeup_ends_a_blocking_wait(void **state)
{
  (void)state;
  struct ops_loop *loop = ops_loop_new();
  ops_loop_wakeup(loop);
  uint64_t start = ops_loop_now_ms();
  ops_loop_run_once(loop, 5000);
  assert_true(ops_loop_now_ms() - start < 1000);
  ops_loop_free(loop);
}

struct reader {
  int fd;
  char got[16];
  size_t len;
  int calls;
};

static void on_readable(void *ud)
{
  struct reader *reader = ud;
  reader->calls++;
  ssize_t n = read(reader->fd, reader->got + reader->len, sizeof(reader->got) - reader->len - 1);
  if (n > 0)
    reader->len += (size_t)n;
}

static void a_watch_runs_when_its_descriptor_has_input(void **state)
{
  (void)state;
  struct ops_loop *loop = ops_loop_new();
  int ends[2];
  assert_int_equal(pipe(ends), 0);
  struct reader reader = {.fd = ends[0]};
  struct ops_watch *watch = ops_loop_watch_start(loop, ends[0], on_readable, &reader);
  assert_non_null(watch);
  assert_false(ops_loop_idle(loop));
  ops_loop_run_once(loop, 0);
  assert_int_equal(reader.calls, 0); /* nothing to read yet */
  assert_int_equal(write(ends[1], "abc", 3), 3);
  ops_loop_run_once(loop, 1000);
  assert_int_equal(reader.calls, 1);
  assert_string_equal(reader.got, "abc");
  ops_loop_watch_cancel(loop, watch);
  assert_true(ops_loop_idle(loop));
  assert_int_equal(write(ends[1], "d", 1), 1);
  ops_loop_run_once(loop, 50);
  assert_int_equal(reader.calls, 1); /* cancelled: not called again */
  close(ends[0]);
  close(ends[1]);
  ops_loop_free(loop);
}

/* A program opsrun starts inherits none of the loop's descriptors, libcurl's included. */
static void the_loop_opens_descriptors_close_on_exec(void **state)
{
  (void)state;
  bool open_before[256];
  for (int fd = 0; fd < 256; fd++)
    open_before[fd] = fcntl(fd, F_GETFD) >= 0;
  struct ops_loop *loop = ops_loop_new();
  int opened = 0;
  for (int fd = 0; fd < 256; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0 || open_before[fd])
      continue;
    opened++;
    if (!(flags & FD_CLOEXEC))
      fail_msg("descriptor %d of a new loop is not close-on-exec", fd);
  }
  assert_true(opened >= 2); /* epoll and the wake-up eventfd, and libcurl's own */
  ops_loop_free(loop);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(timers_fire_in_due_order_and_ties_in_start_order),
      cmocka_unit_test(cancelled_timers_never_fire),
      cmocka_unit_test(many_timers_fire_sorted),
      cmocka_unit_test(freeing_the_loop_drops_pending_timers),
      cmocka_unit_test(wakeup_ends_a_blocking_wait),
      cmocka_unit_test(a_watch_runs_when_its_descriptor_has_input),
      cmocka_unit_test(the_loop_opens_descriptors_close_on_exec),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
