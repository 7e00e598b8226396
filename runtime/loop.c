/* loop.c: transfers on a curl multi handle plus a binary min-heap of timers. libcurl tells the
 * loop which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when it next needs time
 * (CURLMOPT_TIMERFUNCTION); the loop waits on them with epoll and hands each ready socket to
 * curl_multi_socket_action. Unlike curl_multi_poll + curl_multi_perform, whose every wake-up
 * walks every transfer and polls every socket, a wake-up costs what is ready: a sweep keeps
 * hundreds of connections open, and closes a thousand sessions at once at exit. A few other
 * descriptors (a credential_process's pipes) are watched on the same epoll set. Linux only. */
#include "runtime/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "runtime/list.h"

#define NO_DUE          UINT64_MAX
#define EVENTS_PER_WAIT 64

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
  struct ops_list_node node;
};

/* A watched descriptor; on a list that the few watches there are make short to search. */
struct ops_watch {
  int fd;
  ops_watch_fn ready;
  void *ud;
  struct ops_list_node node;
};

struct ops_loop {
  CURLM *multi;
  int epoll_fd;
  int wakeup_fd;        /* an eventfd: ops_loop_wakeup writes to it, the loop drains it */
  uint64_t curl_due_ms; /* when libcurl wants CURL_SOCKET_TIMEOUT, or NO_DUE */
  struct ops_timer **heap;
  size_t timer_count;
  size_t heap_capacity;
  uint64_t next_sequence;
  struct ops_list transfers; /* of struct s_transfer */
  struct ops_list watches;   /* of struct ops_watch */
};

uint64_t ops_loop_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* --- what libcurl asks the loop to watch --- */

static int s_on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *loop_ud, void *socket_ud)
{
  (void)easy, (void)socket_ud;
  struct ops_loop *loop = loop_ud;
  if (what == CURL_POLL_REMOVE) {
    epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
    return 0;
  }
  struct epoll_event event = {.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) |
                                        ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u),
                              .data.fd = fd};
  if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, fd, &event) == 0)
    return 0;
  return errno == ENOENT && epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &event) == 0 ? 0 : -1;
}

static int s_on_curl_timer(CURLM *multi, long timeout_ms, void *loop_ud)
{
  (void)multi;
  struct ops_loop *loop = loop_ud;
  loop->curl_due_ms = timeout_ms < 0 ? NO_DUE : ops_loop_now_ms() + (uint64_t)timeout_ms;
  return 0;
}

/* libcurl (7.88) makes a multi handle's wake-up socket pair without close-on-exec and offers no
 * way to reach it, so every program opsrun starts would inherit it: the descriptors
 * curl_multi_init opens are found as those open after it and not before (a new descriptor takes
 * the lowest free number: the first few hundred are enough) and get close-on-exec here. */
static CURLM *s_multi_new(void)
{
  enum { SCANNED = 256 };
  bool open_before[SCANNED];
  for (int fd = 0; fd < SCANNED; fd++)
    open_before[fd] = fcntl(fd, F_GETFD) >= 0;
  CURLM *multi = curl_multi_init();
  for (int fd = 0; fd < SCANNED; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (!open_before[fd] && flags >= 0)
      fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
  return multi;
}

/* The multi handle is made at the first transfer, so a chunk that sends nothing never pays for it
 * (its wake-up socket pair and the descriptor scan above). */
static CURLM *s_multi_of(struct ops_loop *loop)
{
  if (loop->multi)
    return loop->multi;
  loop->multi = s_multi_new();
  if (loop->multi) {
    curl_multi_setopt(loop->multi, CURLMOPT_SOCKETFUNCTION, s_on_curl_socket);
    curl_multi_setopt(loop->multi, CURLMOPT_SOCKETDATA, loop);
    curl_multi_setopt(loop->multi, CURLMOPT_TIMERFUNCTION, s_on_curl_timer);
    curl_multi_setopt(loop->multi, CURLMOPT_TIMERDATA, loop);
  }
  return loop->multi;
}

struct ops_loop *ops_loop_new(void)
{
  struct ops_loop *loop = calloc(1, sizeof(*loop));
  if (!loop)
    return NULL;
  loop->curl_due_ms = NO_DUE;
  loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  loop->wakeup_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  struct epoll_event wakeup = {.events = EPOLLIN, .data.fd = loop->wakeup_fd};
  if (loop->epoll_fd < 0 || loop->wakeup_fd < 0 ||
      epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, loop->wakeup_fd, &wakeup) != 0) {
    ops_loop_free(loop);
    return NULL;
  }
  return loop;
}

void ops_loop_free(struct ops_loop *loop)
{
  if (!loop)
    return;
  while (loop->transfers.head)
    ops_loop_transfer_cancel(loop,
                             OPS_LIST_ENTRY(loop->transfers.head, struct s_transfer, node)->easy);
  while (loop->watches.head)
    ops_loop_watch_cancel(loop, OPS_LIST_ENTRY(loop->watches.head, struct ops_watch, node));
  if (loop->multi)
    curl_multi_cleanup(loop->multi); /* may still tell s_on_curl_socket to forget sockets */
  if (loop->epoll_fd >= 0)
    close(loop->epoll_fd);
  if (loop->wakeup_fd >= 0)
    close(loop->wakeup_fd);
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

CURLMcode ops_loop_transfer_add(struct ops_loop *loop, CURL *easy, ops_transfer_fn done, void *ud)
{
  struct s_transfer *transfer = malloc(sizeof(*transfer));
  if (!transfer)
    return CURLM_OUT_OF_MEMORY;
  *transfer = (struct s_transfer){.easy = easy, .done = done, .ud = ud};
  CURLM *multi = s_multi_of(loop);
  if (!multi) {
    free(transfer);
    return CURLM_OUT_OF_MEMORY;
  }
  curl_easy_setopt(easy, CURLOPT_PRIVATE, transfer);
  CURLMcode added = curl_multi_add_handle(multi, easy);
  if (added != CURLM_OK) {
    free(transfer);
    return added;
  }
  ops_list_push_front(&loop->transfers, &transfer->node);
  return CURLM_OK;
}

static struct s_transfer *s_detach(struct ops_loop *loop, CURL *easy)
{
  struct s_transfer *transfer = NULL;
  curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&transfer);
  curl_multi_remove_handle(loop->multi, easy);
  curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
  ops_list_remove(&loop->transfers, &transfer->node);
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
  if (!loop->multi)
    return 0;
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

/* --- other descriptors --- */

struct ops_watch *ops_loop_watch_start(struct ops_loop *loop, int fd, ops_watch_fn ready, void *ud)
{
  struct ops_watch *watch = malloc(sizeof(*watch));
  struct epoll_event event = {.events = EPOLLIN, .data.fd = fd};
  if (!watch || epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) {
    free(watch);
    return NULL;
  }
  *watch = (struct ops_watch){.fd = fd, .ready = ready, .ud = ud};
  ops_list_push_front(&loop->watches, &watch->node);
  return watch;
}

int ops_loop_watch_set_events(struct ops_loop *loop, struct ops_watch *watch, bool input,
                              bool output)
{
  struct epoll_event event = {.events = (input ? EPOLLIN : 0u) | (output ? EPOLLOUT : 0u),
                              .data.fd = watch->fd};
  return epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, watch->fd, &event) == 0 ? 0 : -1;
}

void ops_loop_watch_cancel(struct ops_loop *loop, struct ops_watch *watch)
{
  epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, watch->fd, NULL);
  ops_list_remove(&loop->watches, &watch->node);
  free(watch);
}

static struct ops_watch *s_watch_of(const struct ops_loop *loop, int fd)
{
  for (const struct ops_list_node *node = loop->watches.head; node; node = node->next) {
    struct ops_watch *watch = OPS_LIST_ENTRY(node, struct ops_watch, node);
    if (watch->fd == fd)
      return watch;
  }
  return NULL;
}

/* --- running --- */

/* Milliseconds from now until `due` (0 when past, capped to int). */
static int s_ms_until(uint64_t due, uint64_t now)
{
  return due <= now ? 0 : (due - now > (uint64_t)INT32_MAX ? INT32_MAX : (int)(due - now));
}

static int s_wait_timeout_ms(const struct ops_loop *loop, int max_wait_ms)
{
  uint64_t due = loop->curl_due_ms;
  if (loop->timer_count > 0 && loop->heap[0]->due_ms < due)
    due = loop->heap[0]->due_ms;
  if (due == NO_DUE)
    return max_wait_ms;
  int until_due = s_ms_until(due, ops_loop_now_ms());
  return max_wait_ms < 0 || until_due < max_wait_ms ? until_due : max_wait_ms;
}

static void s_drain_wakeups(struct ops_loop *loop)
{
  uint64_t count;
  while (read(loop->wakeup_fd, &count, sizeof(count)) > 0)
    continue;
}

static void s_socket_ready(struct ops_loop *loop, const struct epoll_event *event)
{
  int flags = ((event->events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
              ((event->events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
              ((event->events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
  int running = 0;
  curl_multi_socket_action(loop->multi, event->data.fd, flags, &running);
}

/* libcurl's own timeouts (connects, retries, newly added transfers) when they are due. */
static void s_curl_timeout(struct ops_loop *loop)
{
  if (loop->curl_due_ms > ops_loop_now_ms())
    return;
  loop->curl_due_ms = NO_DUE; /* the call below may set the next one */
  int running = 0;
  curl_multi_socket_action(loop->multi, CURL_SOCKET_TIMEOUT, 0, &running);
}

int ops_loop_run_once(struct ops_loop *loop, int max_wait_ms)
{
  struct epoll_event events[EVENTS_PER_WAIT];
  int ready =
      epoll_wait(loop->epoll_fd, events, EVENTS_PER_WAIT, s_wait_timeout_ms(loop, max_wait_ms));
  int callbacks = 0;
  for (int i = 0; i < ready; i++) {
    /* looked up by descriptor, not by pointer: an earlier callback may have ended the watch */
    struct ops_watch *watch = s_watch_of(loop, events[i].data.fd);
    if (events[i].data.fd == loop->wakeup_fd) {
      s_drain_wakeups(loop);
    } else if (watch) {
      watch->ready(watch->ud);
      callbacks++;
    } else if (loop->multi) { /* not a descriptor of a watch ended earlier in this batch */
      s_socket_ready(loop, &events[i]);
    }
  }
  s_curl_timeout(loop);
  callbacks += s_finish_transfers(loop);
  return callbacks + s_fire_due_timers(loop);
}

bool ops_loop_idle(const struct ops_loop *loop)
{
  return loop->timer_count == 0 && !loop->transfers.head && !loop->watches.head;
}

void ops_loop_wakeup(struct ops_loop *loop)
{
  uint64_t one = 1;
  ssize_t written = write(loop->wakeup_fd, &one, sizeof(one));
  (void)written; /* a full counter already means "wake up" */
}
