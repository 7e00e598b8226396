/* retry.c: the retry policy of retry.h: settings from the environment, backoff with full jitter,
 * the retry quota, Retry-After parsing (HTTP dates by libcurl's curl_getdate), and the adaptive
 * mode's client-side rate limiter: a token bucket whose fill rate follows the CUBIC curve, cut
 * on throttling and regrown on success, with the send rate measured in half-second buckets.
 * The algorithm and its constants are those the AWS SDKs share (botocore's retries/ package).
 * Also the waiting and logging around a retry, on a loop timer, that every client of AWS shares. */
#include "runtime/retry.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "runtime/log.h"

/* The adaptive limiter's constants. */
#define MIN_FILL_RATE       0.5 /* tokens a second, however hard the throttling */
#define CUBIC_SCALE         0.4 /* C of CUBIC */
#define CUBIC_BETA          0.7 /* the rate kept after a throttling answer */
#define MAX_RATE_GROWTH     2.0 /* never more than twice the measured send rate */
#define RATE_SMOOTHING      0.8 /* weight of the newest measurement */
#define RATE_BUCKET_SECONDS 0.5 /* the send rate is measured over buckets this long */

/* The adaptive mode's state (botocore's ClientRateLimiter, TokenBucket, RateClocker and
 * CubicCalculator in one). */
struct s_limiter {
  bool enabled; /* limiting only after the first throttling answer */
  /* the token bucket: one token a send */
  double fill_rate;
  double max_capacity;
  double capacity;
  double last_refill; /* < 0: never refilled */
  /* the measured send rate */
  double measured_rate;
  double last_bucket;
  double sent_in_bucket;
  /* CUBIC */
  double w_max;     /* the rate when last throttled */
  double k;         /* seconds after a throttle until the curve is back at w_max */
  double last_fail; /* when last throttled */
};

struct ops_retry {
  int max_attempts;
  enum ops_retry_mode mode;
  int quota;
  struct ops_clock clock;
  struct ops_retry_random random;
  struct s_limiter limiter;
};

/* ------------------------------------------------------------------ defaults */

static double s_monotonic_now(void *self)
{
  (void)self;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double s_openssl_random(void *self)
{
  (void)self;
  uint64_t bits = 0;
  if (RAND_bytes((unsigned char *)&bits, sizeof(bits)) != 1)
    return 0.5; /* no entropy: the mean of the jitter, still bounded */
  return (double)(bits >> 11) * 0x1.0p-53;
}

static double s_now(const struct ops_retry *retry)
{
  return retry->clock.now(retry->clock.self);
}

/* ------------------------------------------------------------------ settings */

static int s_read_max_attempts(const struct ops_env *env, int *out, struct ops_error *err)
{
  const char *text = ops_env_get(env, "AWS_MAX_ATTEMPTS");
  *out = OPS_RETRY_DEFAULT_MAX_ATTEMPTS;
  if (!text)
    return OPS_OK;
  char *end = NULL;
  errno = 0;
  long value = strtol(text, &end, 10);
  if (errno || end == text || *end || value < 1 || value > OPS_RETRY_MAX_ATTEMPTS_LIMIT)
    return ops_error_set(err, OPS_ERR_CONFIG,
                         "AWS_MAX_ATTEMPTS must be a whole number from 1 to %d, not '%.40s'",
                         OPS_RETRY_MAX_ATTEMPTS_LIMIT, text);
  *out = (int)value;
  return OPS_OK;
}

static int s_read_mode(const struct ops_env *env, enum ops_retry_mode *out, struct ops_error *err)
{
  const char *text = ops_env_get(env, "AWS_RETRY_MODE");
  *out = OPS_RETRY_STANDARD;
  if (!text || strcasecmp(text, "standard") == 0 || strcasecmp(text, "legacy") == 0)
    return OPS_OK;
  if (strcasecmp(text, "adaptive") == 0) {
    *out = OPS_RETRY_ADAPTIVE;
    return OPS_OK;
  }
  return ops_error_set(err, OPS_ERR_CONFIG,
                       "AWS_RETRY_MODE must be standard, adaptive or legacy, not '%.40s'", text);
}

static int s_read_settings(const struct ops_env *env, int *max_attempts, enum ops_retry_mode *mode,
                           struct ops_error *err)
{
  int rc = s_read_max_attempts(env, max_attempts, err);
  return rc == OPS_OK ? s_read_mode(env, mode, err) : rc;
}

int ops_retry_check_env(const struct ops_env *env, struct ops_error *err)
{
  int max_attempts = 0;
  enum ops_retry_mode mode = OPS_RETRY_STANDARD;
  return s_read_settings(env, &max_attempts, &mode, err);
}

int ops_retry_new(struct ops_retry **out, const struct ops_retry_options *options,
                  struct ops_error *err)
{
  int max_attempts = 0;
  enum ops_retry_mode mode = OPS_RETRY_STANDARD;
  int rc = s_read_settings(&options->env, &max_attempts, &mode, err);
  if (rc != OPS_OK)
    return rc;
  struct ops_retry settings = {
      .max_attempts = max_attempts,
      .mode = mode,
      .clock = options->clock.now ? options->clock : (struct ops_clock){.now = s_monotonic_now},
      .random = options->random.next ? options->random
                                     : (struct ops_retry_random){.next = s_openssl_random}};
  *out = ops_retry_new_like(&settings);
  return *out ? OPS_OK : ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
}

struct ops_retry *ops_retry_new_like(const struct ops_retry *like)
{
  struct ops_retry *retry = calloc(1, sizeof(*retry));
  if (!retry)
    return NULL;
  retry->max_attempts = like->max_attempts;
  retry->mode = like->mode;
  retry->quota = OPS_RETRY_QUOTA;
  retry->clock = like->clock;
  retry->random = like->random;
  double now = s_now(retry);
  retry->limiter = (struct s_limiter){.fill_rate = 1,
                                      .max_capacity = 1,
                                      .last_refill = -1,
                                      .last_bucket = floor(now),
                                      .last_fail = now};
  return retry;
}

void ops_retry_free(struct ops_retry *retry)
{
  free(retry);
}

int ops_retry_max_attempts(const struct ops_retry *retry)
{
  return retry->max_attempts;
}

enum ops_retry_mode ops_retry_mode(const struct ops_retry *retry)
{
  return retry->mode;
}

int ops_retry_quota_left(const struct ops_retry *retry)
{
  return retry->quota;
}

/* ------------------------------------------------------------------ deciding a retry */

enum ops_retry_class ops_retry_classify(const struct ops_error *err)
{
  if (!err->retryable)
    return OPS_RETRY_NEVER;
  if (err->kind == OPS_ERR_THROTTLED || err->http_status == 429)
    return OPS_RETRY_THROTTLING;
  if (err->http_status == 0 && err->transport != OPS_TRANSPORT_NONE)
    return OPS_RETRY_CONNECTION;
  return OPS_RETRY_TRANSIENT;
}

/* Full jitter: uniform in [0, min(MAX_BACKOFF, base * 2^retry)), retry counted from 0. */
static double s_backoff_ms(struct ops_retry *retry, enum ops_retry_class failure, int retry_index)
{
  double base =
      failure == OPS_RETRY_THROTTLING ? OPS_RETRY_THROTTLING_BASE_MS : OPS_RETRY_TRANSIENT_BASE_MS;
  double ceiling = ldexp(base, retry_index < 30 ? retry_index : 30);
  if (ceiling > OPS_RETRY_MAX_BACKOFF_MS)
    ceiling = OPS_RETRY_MAX_BACKOFF_MS;
  return retry->random.next(retry->random.self) * ceiling;
}

bool ops_retry_next(struct ops_retry *retry, struct ops_retry_request *request,
                    enum ops_retry_class failure, long retry_after_ms, uint64_t *delay_ms,
                    enum ops_retry_refusal *refusal)
{
  enum ops_retry_refusal why = OPS_RETRY_REFUSED_NOT_RETRYABLE;
  int cost = failure == OPS_RETRY_CONNECTION ? OPS_RETRY_CONNECTION_COST : OPS_RETRY_COST;
  if (failure == OPS_RETRY_NEVER)
    goto refused;
  why = OPS_RETRY_REFUSED_ATTEMPTS;
  if (request->retries + 1 >= retry->max_attempts)
    goto refused;
  why = OPS_RETRY_REFUSED_QUOTA;
  if (cost > retry->quota)
    goto refused;
  retry->quota -= cost;
  request->held = cost;
  double delay = s_backoff_ms(retry, failure, request->retries);
  request->retries++;
  if (retry_after_ms >= 0) {
    double asked = retry_after_ms < OPS_RETRY_MAX_BACKOFF_MS ? (double)retry_after_ms
                                                             : OPS_RETRY_MAX_BACKOFF_MS;
    if (asked > delay)
      delay = asked;
  }
  *delay_ms = (uint64_t)delay;
  return true;
refused:
  request->quota_spent = why == OPS_RETRY_REFUSED_QUOTA;
  if (refusal)
    *refusal = why;
  return false;
}

void ops_retry_succeeded(struct ops_retry *retry, struct ops_retry_request *request)
{
  retry->quota += request->held ? request->held : OPS_RETRY_SUCCESS_REFUND;
  if (retry->quota > OPS_RETRY_QUOTA)
    retry->quota = OPS_RETRY_QUOTA;
  request->held = 0;
}

/* A whole number of `text` (surrounding blanks allowed), or -1. */
static long s_whole_number(const char *text)
{
  while (*text == ' ' || *text == '\t')
    text++;
  if (*text < '0' || *text > '9')
    return -1;
  char *end = NULL;
  errno = 0;
  long value = strtol(text, &end, 10);
  while (*end == ' ' || *end == '\t')
    end++;
  return errno || *end ? -1 : value;
}

long ops_retry_after_ms(const char *retry_after, const char *amz_retry_after, double now_s)
{
  const long most = 24L * 3600 * 1000; /* anything longer is bounded by the caller anyway */
  long ms = amz_retry_after ? s_whole_number(amz_retry_after) : -1;
  if (ms >= 0)
    return ms < most ? ms : most;
  if (!retry_after)
    return -1;
  long seconds = s_whole_number(retry_after);
  if (seconds >= 0)
    return seconds < most / 1000 ? seconds * 1000 : most;
  time_t when = curl_getdate(retry_after, NULL);
  if (when == -1)
    return -1;
  double wait = ((double)when - now_s) * 1000;
  return wait <= 0 ? 0 : wait < (double)most ? (long)wait : most;
}

/* ------------------------------------------------------------------ adaptive mode */

static void s_refill(struct s_limiter *l, double now)
{
  if (l->last_refill >= 0) {
    l->capacity += (now - l->last_refill) * l->fill_rate;
    if (l->capacity > l->max_capacity)
      l->capacity = l->max_capacity;
  }
  l->last_refill = now;
}

static void s_set_max_rate(struct s_limiter *l, double rate, double now)
{
  s_refill(l, now); /* what accrued so far accrued at the old rate */
  l->fill_rate = rate > MIN_FILL_RATE ? rate : MIN_FILL_RATE;
  l->max_capacity = rate >= 1 ? rate : 1;
  if (l->capacity > l->max_capacity)
    l->capacity = l->max_capacity;
}

/* Counts one send-and-answer and returns the smoothed rate of them. */
static double s_measure(struct s_limiter *l, double now)
{
  double bucket = floor(now / RATE_BUCKET_SECONDS) * RATE_BUCKET_SECONDS;
  l->sent_in_bucket += 1;
  if (bucket > l->last_bucket) {
    double rate = l->sent_in_bucket / (bucket - l->last_bucket);
    l->measured_rate = rate * RATE_SMOOTHING + l->measured_rate * (1 - RATE_SMOOTHING);
    l->sent_in_bucket = 0;
    l->last_bucket = bucket;
  }
  return l->measured_rate;
}

uint64_t ops_retry_send_delay_ms(struct ops_retry *retry)
{
  struct s_limiter *l = &retry->limiter;
  if (retry->mode != OPS_RETRY_ADAPTIVE || !l->enabled)
    return 0;
  s_refill(l, s_now(retry));
  if (l->capacity >= 1) {
    l->capacity -= 1;
    return 0;
  }
  return (uint64_t)ceil((1 - l->capacity) / l->fill_rate * 1000);
}

void ops_retry_observe(struct ops_retry *retry, bool throttled)
{
  struct s_limiter *l = &retry->limiter;
  if (retry->mode != OPS_RETRY_ADAPTIVE)
    return;
  double now = s_now(retry);
  double measured = s_measure(l, now);
  double rate;
  if (!throttled) {
    double t = now - l->last_fail - l->k;
    rate = CUBIC_SCALE * t * t * t + l->w_max;
  } else {
    double at = l->enabled && l->fill_rate < measured ? l->fill_rate : measured;
    l->w_max = at;
    l->k = cbrt(at * (1 - CUBIC_BETA) / CUBIC_SCALE);
    l->last_fail = now;
    l->enabled = true;
    rate = at * CUBIC_BETA;
  }
  s_set_max_rate(l, rate < MAX_RATE_GROWTH * measured ? rate : MAX_RATE_GROWTH * measured, now);
}

double ops_retry_send_rate(const struct ops_retry *retry)
{
  return retry->mode == OPS_RETRY_ADAPTIVE && retry->limiter.enabled ? retry->limiter.fill_rate : 0;
}

/* ------------------------------------------------------------------ words */

static const char *s_class_name(enum ops_retry_class failure)
{
  switch (failure) {
  case OPS_RETRY_THROTTLING: return "throttling";
  case OPS_RETRY_CONNECTION: return "connection failure or timeout";
  case OPS_RETRY_TRANSIENT: return "transient error";
  case OPS_RETRY_NEVER: break;
  }
  return "not retryable";
}

void ops_retry_describe(char *out, size_t len, const char *what, const struct ops_retry *retry,
                        const struct ops_retry_request *request, const struct ops_error *err,
                        uint64_t delay_ms)
{
  char status[24] = "";
  if (err->http_status)
    snprintf(status, sizeof(status), "HTTP %d ", err->http_status);
  /* request->retries already counts the retry about to be made */
  snprintf(out, len, "%s: attempt %d of %d failed (%s: %s%s%s%s); trying again in %.3f s", what,
           request->retries, retry->max_attempts, s_class_name(ops_retry_classify(err)), status,
           err->code, err->code[0] ? ": " : "", err->message, (double)delay_ms / 1000);
}

void ops_retry_note_attempts(struct ops_error *err, const struct ops_retry_request *request)
{
  if (request->retries == 0 && !request->quota_spent)
    return;
  size_t used = strlen(err->message);
  snprintf(err->message + used, sizeof(err->message) - used, " (after %d attempt%s%s)",
           request->retries + 1, request->retries ? "s" : "",
           request->quota_spent ? "; the retry quota is spent" : "");
}

struct ops_timer *ops_retry_schedule(struct ops_retry *retry, struct ops_retry_request *request,
                                     enum ops_retry_class failure, long retry_after_ms,
                                     struct ops_error *err, const struct ops_retry_timer *timer)
{
  uint64_t delay = 0;
  struct ops_timer *wait = NULL;
  if (ops_retry_next(retry, request, failure, retry_after_ms, &delay, NULL))
    wait = ops_loop_timer_start(timer->loop, delay, timer->fire, timer->ud);
  if (!wait) {
    ops_retry_note_attempts(err, request);
  } else if (ops_log_enabled(OPS_LOG_DEBUG)) {
    char line[1400];
    ops_retry_describe(line, sizeof(line), timer->what, retry, request, err, delay);
    ops_log_write(OPS_LOG_DEBUG, timer->account, line);
  }
  return wait;
}

struct ops_timer *ops_retry_pace(struct ops_retry *retry, const struct ops_retry_timer *timer)
{
  uint64_t wait = ops_retry_send_delay_ms(retry);
  return wait ? ops_loop_timer_start(timer->loop, wait, timer->fire, timer->ud) : NULL;
}
