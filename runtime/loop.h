/* loop.h: the one event loop of a process: libcurl transfers, timers and other descriptors
 * (a child process's pipes), driven on one thread by epoll and curl_multi_socket_action.
 * Everything in opsrun that waits (HTTP, sleeps, deadlines, credential_process) is registered
 * here, and its callback runs from ops_loop_run_once. */
#ifndef OPS_LOOP_H
#define OPS_LOOP_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

struct ops_loop;
struct ops_timer;
struct ops_watch;

/* Called once when a timer is due. The timer is already gone: do not cancel it. */
typedef void (*ops_timer_fn)(void *ud);

/* Called once when a transfer ends (`result` is CURLE_OK or the failure). The easy handle has
 * been removed from the loop and belongs to the callee again. */
typedef void (*ops_transfer_fn)(CURL *easy, CURLcode result, void *ud);

/* Returns NULL when out of memory or out of descriptors. libcurl's multi handle is made at the
 * first transfer. */
struct ops_loop *ops_loop_new(void);

/* Frees the loop. Timers and transfers still registered are dropped without callbacks; their
 * easy handles are removed but not cleaned up (their owners do that). */
void ops_loop_free(struct ops_loop *loop);

/* Milliseconds on the monotonic clock. */
uint64_t ops_loop_now_ms(void);

/* Calls fire(ud) once, `delay_ms` from now. The returned timer is owned by the loop and valid
 * until it fires or is cancelled. NULL when out of memory. */
struct ops_timer *ops_loop_timer_start(struct ops_loop *loop, uint64_t delay_ms, ops_timer_fn fire,
                                       void *ud);

/* Cancels a timer that has not fired yet; its callback will not run. */
void ops_loop_timer_cancel(struct ops_loop *loop, struct ops_timer *timer);

/* Adds a configured easy handle (borrowed until done runs or ops_loop_transfer_cancel). The
 * loop uses the handle's CURLOPT_PRIVATE. Returns CURLM_OK, or why libcurl refused the handle
 * (CURLM_RECURSIVE_API_CALL from inside one of libcurl's callbacks; CURLM_OUT_OF_MEMORY, also when
 * the multi handle cannot be made). */
CURLMcode ops_loop_transfer_add(struct ops_loop *loop, CURL *easy, ops_transfer_fn done, void *ud);

/* Stops a transfer before it ends; its callback will not run. */
void ops_loop_transfer_cancel(struct ops_loop *loop, CURL *easy);

/* Called when a watched descriptor has input, has reached its end or failed. The watch is
 * level-triggered: it is called again at every run while that stays so. */
typedef void (*ops_watch_fn)(void *ud);

/* Watches `fd` (borrowed: cancel the watch before closing it) until ops_loop_watch_cancel.
 * The watch is owned by the loop. NULL when out of memory or when epoll refuses the descriptor. */
struct ops_watch *ops_loop_watch_start(struct ops_loop *loop, int fd, ops_watch_fn ready, void *ud);

/* Also calls the watch's callback while `fd` can be written without blocking (true), or no
 * longer for that (false, as at start): a writer with bytes queued asks, and stops asking once
 * they are out. Input may be turned off (a reader with enough buffered): the callback then runs
 * for output, an error or a hang-up only. Returns 0, or -1 when epoll refuses. */
int ops_loop_watch_set_events(struct ops_loop *loop, struct ops_watch *watch, bool input,
                              bool output);

/* Stops watching; its callback will not run again. */
void ops_loop_watch_cancel(struct ops_loop *loop, struct ops_watch *watch);

/* Waits up to `max_wait_ms` (-1: until something happens) for network activity, a due timer or
 * ops_loop_wakeup, then runs the callbacks that are due. Returns how many callbacks ran. */
int ops_loop_run_once(struct ops_loop *loop, int max_wait_ms);

/* True when no timer, transfer or watch is registered: running the loop would wait for nothing. */
bool ops_loop_idle(const struct ops_loop *loop);

/* Makes a blocked ops_loop_run_once return early. Async-signal-safe (a write to a pipe). */
void ops_loop_wakeup(struct ops_loop *loop);

#endif
