/* credentials_cached.c: a provider that caches another's credentials (aws-c-auth's cached
 * provider): single-flight fetches, refresh ahead of expiry, and invalidation of credentials a
 * server refused. Each get is a waiter on the one fetch of the inner provider in flight. */
#include <stdlib.h>
#include <string.h>

#include "runtime/credentials.h"
#include "runtime/list.h"
#include "runtime/log.h"
#include "runtime/timestamp.h"

struct s_waiter {
  struct ops_credentials_fetch *fetch;
  struct s_cache *cache;
  struct ops_list_node node;
  struct ops_list *list; /* the one it is on: the cache's, or that of a fetch being settled */
};

struct s_cache {
  struct ops_credentials_provider *inner;
  struct ops_clock clock;
  char *what;
  struct ops_credentials *current;
  double obtained;                           /* when `current` arrived */
  struct ops_credentials_fetch *inner_fetch; /* in flight, shared by `waiters` */
  struct ops_list waiters;
};

static double s_now(const struct s_cache *cache)
{
  return cache->clock.now(cache->clock.self);
}

static bool s_usable(const struct s_cache *cache, double now)
{
  return cache->current && (!cache->current->expiration || now < cache->current->expiration);
}

/* Usable and not yet due for refresh (OPS_CREDENTIALS_REFRESH_MARGIN_SECONDS). */
static bool s_fresh(const struct s_cache *cache, double now)
{
  if (!s_usable(cache, now))
    return false;
  double expiration = (double)cache->current->expiration;
  if (!expiration)
    return true;
  double margin = (expiration - cache->obtained) / 2;
  if (margin > OPS_CREDENTIALS_REFRESH_MARGIN_SECONDS)
    margin = OPS_CREDENTIALS_REFRESH_MARGIN_SECONDS;
  return now < expiration - margin;
}

static void s_fetched(struct ops_credentials *credentials, const struct ops_error *err, void *ud);

/* Ends a waiter's fetch with a copy of the current credentials (the callee owns what it gets). */
static void s_hand_out(struct ops_credentials_fetch *fetch, const struct ops_credentials *current)
{
  struct ops_credentials *copy = NULL;
  struct ops_error err = {0};
  ops_credentials_copy(&copy, current, &err);
  ops_credentials_fetch_complete(fetch, copy, copy ? NULL : &err);
}

/* Puts `waiter` on the inner fetch in flight, starting one when there is none. */
static int s_join(struct s_cache *cache, struct s_waiter *waiter, struct ops_error *err)
{
  if (!cache->inner_fetch &&
      !(cache->inner_fetch = ops_credentials_provider_get(cache->inner, s_fetched, cache, err)))
    return err->kind;
  ops_list_push_back(&cache->waiters, &waiter->node);
  waiter->list = &cache->waiters;
  return OPS_OK;
}

/* Credentials that had expired when they arrived (a clock far off, or a source handing out stale
 * ones) would fail every request they sign: the fetch fails instead, saying when they expired. */
static bool s_arrived_expired(const struct s_cache *cache,
                              const struct ops_credentials *credentials, struct ops_error *err)
{
  double now = s_now(cache);
  if (!credentials->expiration || now < (double)credentials->expiration)
    return false;
  char expired[OPS_TIMESTAMP_LEN], clock[OPS_TIMESTAMP_LEN];
  ops_timestamp_format(credentials->expiration, expired, sizeof(expired));
  ops_timestamp_format((int64_t)now, clock, sizeof(clock));
  ops_error_set(err, OPS_ERR_CREDENTIALS,
                "%s (%s) expired at %s (this machine's clock says %s): renew them", cache->what,
                credentials->source, expired, clock);
  return true;
}

/* Ends one waiter of a fetch that ended with `failure` (kind OPS_OK: it succeeded). An earlier
 * waiter's callback may have invalidated what arrived: this one then waits for a new fetch. */
static void s_settle(struct s_cache *cache, struct s_waiter *waiter,
                     const struct ops_error *failure)
{
  struct ops_credentials_fetch *fetch = waiter->fetch;
  struct ops_error err = *failure;
  if (s_usable(cache, s_now(cache))) {
    free(waiter);
    s_hand_out(fetch, cache->current);
  } else if (err.kind != OPS_OK || s_join(cache, waiter, &err) != OPS_OK) {
    free(waiter);
    ops_credentials_fetch_complete(fetch, NULL, &err);
  }
}

/* The inner fetch ended: every waiter gets the credentials, or the old ones while they are still
 * valid, or the error. The list is taken first: a waiter's callback may get again (joining a
 * new fetch) or cancel another waiter's get. */
static void s_fetched(struct ops_credentials *credentials, const struct ops_error *err, void *ud)
{
  struct s_cache *cache = ud;
  cache->inner_fetch = NULL;
  struct ops_error failure = {0};
  if (credentials && s_arrived_expired(cache, credentials, &failure)) {
    ops_credentials_free(credentials);
    credentials = NULL;
  } else if (!credentials) {
    failure = *err;
  }
  if (credentials) {
    ops_credentials_free(cache->current);
    cache->current = credentials;
    cache->obtained = s_now(cache);
    ops_log(OPS_LOG_DEBUG, NULL, "%s from %s", cache->what, credentials->source);
  }
  struct ops_list waiters = cache->waiters;
  cache->waiters = (struct ops_list){0};
  for (struct ops_list_node *node = waiters.head; node; node = node->next)
    OPS_LIST_ENTRY(node, struct s_waiter, node)->list = &waiters;
  while (waiters.head) {
    struct s_waiter *waiter = OPS_LIST_ENTRY(waiters.head, struct s_waiter, node);
    ops_list_remove(&waiters, &waiter->node);
    s_settle(cache, waiter, &failure);
  }
}

static int s_start(struct ops_credentials_provider *provider, struct ops_credentials_fetch *fetch,
                   struct ops_error *err)
{
  struct s_cache *cache = ops_credentials_provider_impl(provider);
  if (s_fresh(cache, s_now(cache))) {
    s_hand_out(fetch, cache->current);
    return OPS_OK;
  }
  struct s_waiter *waiter = calloc(1, sizeof(*waiter));
  if (!waiter)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  *waiter = (struct s_waiter){.fetch = fetch, .cache = cache};
  if (s_join(cache, waiter, err) != OPS_OK) {
    free(waiter);
    return err->kind;
  }
  ops_credentials_fetch_set_state(fetch, waiter);
  return OPS_OK;
}

/* A get was abandoned; when it was the last one waiting, the inner fetch is for nobody and
 * stops (a role's retries, a credential_process still running). */
static void s_cancel(struct ops_credentials_fetch *fetch)
{
  struct s_waiter *waiter = ops_credentials_fetch_state(fetch);
  struct s_cache *cache = waiter->cache;
  ops_list_remove(waiter->list, &waiter->node);
  free(waiter);
  if (!cache->waiters.head && cache->inner_fetch) {
    ops_credentials_fetch_cancel(cache->inner_fetch);
    cache->inner_fetch = NULL;
  }
}

static const struct ops_credentials *s_cached(const struct ops_credentials_provider *provider)
{
  const struct s_cache *cache = ops_credentials_provider_impl(provider);
  return s_fresh(cache, s_now(cache)) ? cache->current : NULL;
}

static void s_invalidate(struct ops_credentials_provider *provider,
                         const char *refused_access_key_id)
{
  struct s_cache *cache = ops_credentials_provider_impl(provider);
  if (cache->current && strcmp(cache->current->access_key_id, refused_access_key_id) == 0) {
    ops_credentials_free(cache->current);
    cache->current = NULL;
  }
}

static void s_destroy(void *impl)
{
  struct s_cache *cache = impl;
  ops_credentials_provider_free(cache->inner);
  ops_credentials_free(cache->current);
  free(cache->what);
  free(cache);
}

static const struct ops_credentials_provider_vtable s_vtable = {
    .name = "cached",
    .start = s_start,
    .cancel = s_cancel,
    .destroy = s_destroy,
    .cached = s_cached,
    .invalidate = s_invalidate,
};

int ops_credentials_provider_cached_new(struct ops_credentials_provider **out,
                                        const struct ops_credentials_context *context,
                                        struct ops_credentials_provider *inner, const char *what,
                                        struct ops_error *err)
{
  *out = NULL;
  struct s_cache *cache = calloc(1, sizeof(*cache));
  char *name = strdup(what ? what : "the credentials");
  if (!cache || !name) {
    free(cache);
    free(name);
    ops_credentials_provider_free(inner);
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  }
  *cache = (struct s_cache){.inner = inner, .clock = context->clock, .what = name};
  return ops_credentials_provider_new(out, &s_vtable, context, cache, err);
}
