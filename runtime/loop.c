/* loop.c: transfers on a curl multi handle plus a binary min-heap of timers, polled together
 * with curl_multi_poll (its timeout is the next timer's due time). */
#include "runtime/loop.h"

#include <stdlib.h>
#include <time.h>

struct ops_timer {
  uint64_t due_ms;
  uint64_t sequence; /* equal due times fire in the order they were started */
  size_t heap_index;
  ops_timer_fn fire;
  void *ud;
};

/* A transfer in flight; on a doubly linked list so that ops_loop_free can find them all. */
struct s_transfer {
  CURL *easy;
  ops_transfer_fn done;
  void *ud;
  struct s_transfer *prev, *next;
};

struct ops_loop {
  CURLM *multi;
  struct ops_timer **heap;
  size_t timer_count;
  size_t heap_capacity;
  uint64_t next_sequence;
  struct s_transfer *transfers;
};

uint64_t ops_loop_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct ops_loop *ops_loop_new(void)
{
  struct ops_loop *loop = calloc(1, sizeof(*loop));
  if (!loop)
    return NULL;
  loop->multi = curl_multi_init();
  if (!loop->multi) {
    free(loop);
    return NULL;
  }
  return loop;
}

void ops_loop_free(struct ops_loop *loop)
{
  if (!loop)
    return;
  while (loop->transfers)
    ops_loop_transfer_cancel(loop, loop->transfers->easy);
  curl_multi_cleanup(loop->multi);
  for (size_t i = 0; i < loop->timer_count; i++)
    free(loop->heap[i]);
  free(loop->heap);
  free(loop);
}

/* --- timers: a binary min-heap ordered by (due_ms, sequence) --- */

static bool s_timer_before(const struct ops_timer *a, const struct ops_timer *b)
{
  return a->due_ms != b->due_ms ? a->due_ms < b->due_ms : a->sequence < b->sequence;
}

static void s_heap_place(struct ops_loop *loop, size_t index, struct ops_timer *timer)
{
  loop->heap[index] = timer;
  timer->heap_index = index;
}

static void s_heap_sift_up(struct ops_loop *loop, size_t index)
{
  struct ops_timer *timer = loop->heap[index];
  while (index > 0) {
    size_t parent = (index - 1) / 2;
    if (!s_timer_before(timer, loop->heap[parent]))
      break;
    s_heap_place(loop, index, loop->heap[parent]);
    index = parent;
  }
  s_heap_place(loop, index, timer);
}

static void s_heap_sift_down(struct ops_loop *loop, size_t index)
{
  struct ops_timer *timer = loop->heap[index];
  for (;;) {
    size_t child = 2 * index + 1;
    if (child >= loop->timer_count)
      break;
    if (child + 1 < loop->timer_count && s_timer_before(loop->heap[child + 1], loop->heap[child]))
      child++;
    if (!s_timer_before(loop->heap[child], timer))
      break;
    s_heap_place(loop, index, loop->heap[child]);
    index = child;
  }
  s_heap_place(loop, index, timer);
}

static void s_heap_remove(struct ops_loop *loop, struct ops_timer *timer)
{
  size_t index = timer->heap_index;
  struct ops_timer *last = loop->heap[--loop->timer_count];
  if (last == timer)
    return;
  s_heap_place(loop, index, last);
  s_heap_sift_down(loop, index);
  s_heap_sift_up(loop, last->heap_index);
}

struct ops_timer *ops_loop_timer_start(struct ops_loop *loop, uint64_t delay_ms, ops_timer_fn fire,
                                       void *ud)
{
  if (loop->timer_count == loop->heap_capacity) {
    size_t capacity = loop->heap_capacity ? loop->heap_capacity * 2 : 64;
    struct ops_timer **heap = realloc(loop->heap, capacity * sizeof(*heap));
    if (!heap)
      return NULL;
    loop->heap = heap;
    loop->heap_capacity = capacity;
  }
  struct ops_timer *timer = malloc(sizeof(*timer));
  if (!timer)
    return NULL;
  *timer = (struct ops_timer){.due_ms = ops_loop_now_ms() + delay_ms,
                              .sequence = loop->next_sequence++,
                              .fire = fire,
                              .ud = ud};
  loop->heap[loop->timer_count++] = timer;
  s_heap_sift_up(loop, loop->timer_count - 1);
  return timer;
}

void ops_loop_timer_cancel(struct ops_loop *loop, struct ops_timer *timer)
{
  s_heap_remove(loop, timer);
  free(timer);
}

static int s_fire_due_timers(struct ops_loop *loop)
{
  int fired = 0;
  uint64_t now = ops_loop_now_ms();
  while (loop->timer_count > 0 && loop->heap[0]->due_ms <= now) {
    struct ops_timer *timer = loop->heap[0];
    s_heap_remove(loop, timer);
    ops_timer_fn fire = timer->fire;
    void *ud = timer->ud;
    free(timer);
    fire(ud);
    fired++;
  }
  return fired;
}

/* --- transfers --- */

int ops_loop_transfer_add(struct ops_loop *loop, CURL *easy, ops_transfer_fn done, void *ud)
{
  struct s_transfer *transfer = malloc(sizeof(*transfer));
  if (!transfer)
    return -1;
  *transfer = (struct s_transfer){.easy = easy, .done = done, .ud = ud, .next = loop->transfers};
  curl_easy_setopt(easy, CURLOPT_PRIVATE, transfer);
  if (curl_multi_add_handle(loop->multi, easy) != CURLM_OK) {
    free(transfer);
    return -1;
  }
  if (loop->transfers)
    loop->transfers->prev = transfer;
  loop->transfers = transfer;
  return 0;
}

static struct s_transfer *s_detach(struct ops_loop *loop, CURL *easy)
{
  struct s_transfer *transfer = NULL;
  curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&transfer);
  curl_multi_remove_handle(loop->multi, easy);
  curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
  if (transfer->prev)
    transfer->prev->next = transfer->next;
  else
    loop->transfers = transfer->next;
  if (transfer->next)
    transfer->next->prev = transfer->prev;
  return transfer;
}

void ops_loop_transfer_cancel(struct ops_loop *loop, CURL *easy)
{
  free(s_detach(loop, easy));
}

static int s_finish_transfers(struct ops_loop *loop)
{
  int finished = 0;
  int queued;
  CURLMsg *msg;
  while ((msg = curl_multi_info_read(loop->multi, &queued))) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    CURL *easy = msg->easy_handle;
    CURLcode result = msg->data.result;
    struct s_transfer *transfer = s_detach(loop, easy);
    ops_transfer_fn done = transfer->done;
    void *ud = transfer->ud;
    free(transfer);
    done(easy, result, ud);
    finished++;
  }
  return finished;
}

/* --- running --- */

static int s_poll_timeout_ms(const struct ops_loop *loop, int max_wait_ms)
{
  if (loop->timer_count == 0)
    return max_wait_ms;
  uint64_t now = ops_loop_now_ms();
  uint64_t due = loop->heap[0]->due_ms;
  int until_due = due <= now ? 0 : (due - now > (uint64_t)INT32_MAX ? INT32_MAX : (int)(due - now));
  return max_wait_ms < 0 || until_due < max_wait_ms ? until_due : max_wait_ms;
}

int ops_loop_run_once(struct ops_loop *loop, int max_wait_ms)
{
  int timeout = s_poll_timeout_ms(loop, max_wait_ms);
  /* curl_multi_poll caps its own wait by libcurl's internal timers; -1 means "no cap" to us */
  curl_multi_poll(loop->multi, NULL, 0, timeout < 0 ? INT32_MAX : timeout, NULL);
  int running = 0;
  curl_multi_perform(loop->multi, &running);
  int callbacks = s_finish_transfers(loop);
  return callbacks + s_fire_due_timers(loop);
}

bool ops_loop_idle(const struct ops_loop *loop)
{
  return loop->timer_count == 0 && loop->transfers == NULL;
}

void ops_loop_wakeup(struct ops_loop *loop)
{
  curl_multi_wakeup(loop->multi);
}
