/* retry.h: whether and when to send a failed AWS request again, on the AWS SDKs' retry model:
 * attempts from AWS_MAX_ATTEMPTS, exponential backoff with full jitter (a longer base for
 * throttling), a retry quota, Retry-After / x-amz-retry-after, and in AWS_RETRY_MODE=adaptive
 * a client-side send rate (token bucket, CUBIC). Policy: no Lua and no I/O; the clock and the
 * randomness are injected, and the waiting is done with loop timers (runtime/loop.h), which
 * ops_retry_schedule and ops_retry_pace start for the callers.
 *
 * One struct ops_retry belongs to one client of a service as one identity (an MCP session, an
 * assumed role at STS) and is shared by every request made as it: the quota and the send rate
 * are that client's. The SDKs keep both per client (botocore's retries/standard.py and
 * adaptive.py register a new RetryQuota and TokenBucket with each client), and an SDK client
 * signs with one set of credentials, so a sweep holds one per account: one account's throttling
 * never spends another's retries or slows its sends. Each request keeps its own struct
 * ops_retry_request. */
#ifndef OPS_RETRY_H
#define OPS_RETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/env.h"
#include "runtime/error.h"
#include "runtime/loop.h"
#include "runtime/transport.h"

#define OPS_RETRY_DEFAULT_MAX_ATTEMPTS 3
#define OPS_RETRY_MAX_ATTEMPTS_LIMIT   100
#define OPS_RETRY_MAX_BACKOFF_MS       20000 /* also the bound on a server's Retry-After */
#define OPS_RETRY_TRANSIENT_BASE_MS    100
#define OPS_RETRY_THROTTLING_BASE_MS   1000
#define OPS_RETRY_QUOTA                500 /* tokens in the quota when full */
#define OPS_RETRY_COST                 5   /* a retry after throttling or a 5xx */
#define OPS_RETRY_CONNECTION_COST      10  /* a retry after a timeout or a failed connection */
#define OPS_RETRY_SUCCESS_REFUND       1   /* a success that needed no retry */

/* AWS_RETRY_MODE: `standard` (the default; `legacy`, which has no common definition across the
 * SDKs, is taken as standard) or `adaptive`. */
enum ops_retry_mode { OPS_RETRY_STANDARD, OPS_RETRY_ADAPTIVE };

/* What a failed attempt was, as far as retrying goes. */
enum ops_retry_class {
  OPS_RETRY_NEVER,      /* not retryable: sending it again cannot help */
  OPS_RETRY_TRANSIENT,  /* a 5xx and the like */
  OPS_RETRY_CONNECTION, /* no HTTP answer: a timeout or a connection that failed */
  OPS_RETRY_THROTTLING, /* HTTP 429, or a throttling error code */
};

struct ops_retry_random {
  /* Uniform in [0, 1). */
  double (*next)(void *self);
  void *self;
};

struct ops_retry_options {
  struct ops_env env;             /* AWS_MAX_ATTEMPTS, AWS_RETRY_MODE (read once, at creation) */
  struct ops_clock clock;         /* for the adaptive send rate; now == NULL: a monotonic clock */
  struct ops_retry_random random; /* the jitter; next == NULL: OpenSSL's RAND_bytes */
};

struct ops_retry;

/* Returns 0 when `env`'s AWS_MAX_ATTEMPTS and AWS_RETRY_MODE are valid, or OPS_ERR_CONFIG with
 * what they must be: a run checks them before it starts, not in every task that reads them. */
int ops_retry_check_env(const struct ops_env *env, struct ops_error *err);

/* Returns 0 with *out owned by the caller (ops_retry_free), OPS_ERR_CONFIG when AWS_MAX_ATTEMPTS
 * is not a whole number from 1 to OPS_RETRY_MAX_ATTEMPTS_LIMIT or AWS_RETRY_MODE is not
 * standard, adaptive or legacy, or OPS_ERR_NOMEM. */
int ops_retry_new(struct ops_retry **out, const struct ops_retry_options *options,
                  struct ops_error *err);

/* A new quota and send rate with the settings, clock and randomness of `like`: full, and not
 * limiting. Returns NULL when out of memory; release it with ops_retry_free. */
struct ops_retry *ops_retry_new_like(const struct ops_retry *like);

/* NULL is a no-op. */
void ops_retry_free(struct ops_retry *retry);

int ops_retry_max_attempts(const struct ops_retry *retry);
enum ops_retry_mode ops_retry_mode(const struct ops_retry *retry);

/* Tokens left in the quota (0 to OPS_RETRY_QUOTA). */
int ops_retry_quota_left(const struct ops_retry *retry);

/* One request on its way through its attempts. Zero it before the first attempt. */
struct ops_retry_request {
  int retries;      /* sent again so far: this is attempt retries + 1 */
  int held;         /* quota taken by the last retry, given back if the request then succeeds */
  bool quota_spent; /* the last refusal was for want of quota */
};

/* The class of a failed attempt from its error (runtime/error.h): err->retryable says whether a
 * retry may help; throttling by kind or HTTP 429; no HTTP status and a transport failure
 * (err->transport) is a connection failure or timeout; anything else retryable is transient. */
enum ops_retry_class ops_retry_classify(const struct ops_error *err);

/* Why ops_retry_next said no. */
enum ops_retry_refusal {
  OPS_RETRY_REFUSED_NOT_RETRYABLE,
  OPS_RETRY_REFUSED_ATTEMPTS, /* AWS_MAX_ATTEMPTS reached */
  OPS_RETRY_REFUSED_QUOTA,    /* the quota is empty: fail fast */
};

/* After a failed attempt of class `failure`: true when the request may be sent again after
 * *delay_ms (the retry's cost is then taken from the quota and counted in `request`), false
 * when the error must be raised now, with the reason in *refusal (may be NULL).
 * `retry_after_ms` is what the server asked for (ops_retry_after_ms), or -1: it is honoured up
 * to OPS_RETRY_MAX_BACKOFF_MS, never waiting less than the backoff drawn. */
bool ops_retry_next(struct ops_retry *retry, struct ops_retry_request *request,
                    enum ops_retry_class failure, long retry_after_ms, uint64_t *delay_ms,
                    enum ops_retry_refusal *refusal);

/* The request succeeded: the quota gets back the cost of its last retry, or
 * OPS_RETRY_SUCCESS_REFUND when it needed none. */
void ops_retry_succeeded(struct ops_retry *retry, struct ops_retry_request *request);

/* The delay a server asked for: `retry_after` is the Retry-After header (delta-seconds or an
 * HTTP date, read against now_s, seconds since the epoch), `amz_retry_after` x-amz-retry-after
 * (milliseconds, preferred when both are valid). Either may be NULL. Returns milliseconds, or
 * -1 when neither is there and valid. */
long ops_retry_after_ms(const char *retry_after, const char *amz_retry_after, double now_s);

/* Adaptive mode: milliseconds to wait before sending an attempt (the first one too), or 0 when
 * it may go now, in which case the send is counted against the rate. Callers that get a delay
 * wait with a loop timer and ask again. Always 0 in standard mode, and in adaptive mode until
 * the first throttling answer. */
uint64_t ops_retry_send_delay_ms(struct ops_retry *retry);

/* Adaptive mode: every attempt's outcome, so the send rate follows the server: a throttling
 * answer cuts it, anything else grows it again along the CUBIC curve. No-op in standard mode. */
void ops_retry_observe(struct ops_retry *retry, bool throttled);

/* The send rate the adaptive limiter allows now (requests a second), or 0 when it is not
 * limiting (standard mode, or no throttling seen yet). For tests and logs. */
double ops_retry_send_rate(const struct ops_retry *retry);

/* One log line for a retry about to be made: "WHAT: attempt 1 of 3 failed (throttling: HTTP 429
 * ThrottlingException: Rate exceeded); trying again in 0.734 s". */
void ops_retry_describe(char *out, size_t len, const char *what, const struct ops_retry *retry,
                        const struct ops_retry_request *request, const struct ops_error *err,
                        uint64_t delay_ms);

/* Where a request waits before it is sent again, and how its retries are logged. */
struct ops_retry_timer {
  struct ops_loop *loop;
  ops_timer_fn fire; /* sends the request again: fire(ud) */
  void *ud;
  const char *what;    /* the request in the log: "STS AssumeRole", "MCP tools/call" */
  const char *account; /* the log line's account, or NULL */
};

/* An attempt of `request` failed with *err, of class `failure`, the server asking for
 * `retry_after_ms` (or -1): when ops_retry_next allows another attempt, logs it at debug level
 * (ops_retry_describe) and returns the loop timer that fires when it is due; else returns NULL
 * with the attempts noted in err->message (ops_retry_note_attempts), for the caller to raise. */
struct ops_timer *ops_retry_schedule(struct ops_retry *retry, struct ops_retry_request *request,
                                     enum ops_retry_class failure, long retry_after_ms,
                                     struct ops_error *err, const struct ops_retry_timer *timer);

/* Adaptive mode: before an attempt, a loop timer that fires when the send rate allows it
 * (ops_retry_send_delay_ms), or NULL when it may be sent now (counted against the rate) or no
 * timer could be had. `timer->what` and `account` are not used. */
struct ops_timer *ops_retry_pace(struct ops_retry *retry, const struct ops_retry_timer *timer);

/* Appends " (after N attempts)" to err->message when the request was sent more than once, and
 * "; the retry quota is spent" (after 1 attempt too) when the quota refused the retry. */
void ops_retry_note_attempts(struct ops_error *err, const struct ops_retry_request *request);

#endif
