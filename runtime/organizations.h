/* organizations.h: AWS Organizations as an account source. A client of the AWS JSON 1.1
 * protocol (POST, Content-Type application/x-amz-json-1.1, X-Amz-Target
 * AWSOrganizationsV20161128.<Op>, SigV4 as service "organizations" in us-east-1) that walks the
 * organization's tree (ListRoots, then ListOrganizationalUnitsForParent and
 * ListAccountsForParent under every parent, every list paged to its end) into a listing of its
 * ACTIVE accounts with their OU and OU path, and fetches their tags (ListTagsForResource); and
 * the listing's cache file ($XDG_CACHE_HOME/opsrun/organizations-<caller account>.json).
 *
 * Requests go through struct ops_transport, are signed with what a borrowed credentials provider
 * holds at each attempt, go several at once but within Organizations' request rate (a client-side
 * pacer), and are sent again on runtime/retry.h's policy after throttling, 5xx answers and failed
 * connections. Errors carry SPEC section 4's kind, AWS's code and AWS's message whole.
 * Endpoint: AWS_ENDPOINT_URL_ORGANIZATIONS, else AWS_ENDPOINT_URL, else
 * https://organizations.us-east-1.amazonaws.com (read through struct ops_env).
 *
 * A walk or a tag fetch is asynchronous: it returns 0 and its callback runs once, later, from the
 * loop (never inside the starting call), unless ops_org_call_cancel comes first. Uses
 * runtime/transport.h, runtime/credentials.h, runtime/retry.h, runtime/pacer.h and jansson. */
#ifndef OPS_ORGANIZATIONS_H
#define OPS_ORGANIZATIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/credentials.h"
#include "runtime/env.h"
#include "runtime/error.h"
#include "runtime/loop.h"
#include "runtime/retry.h"
#include "runtime/transport.h"

/* Requests a second the client sends, every operation counted, unless the options say
 * otherwise: a handful, as Organizations throttles each caller account early (see
 * organizations.c). */
#define OPS_ORG_REQUESTS_PER_SECOND 5.0

/* Requests in flight at once, unless the options say otherwise. */
#define OPS_ORG_CONCURRENCY 4

struct ops_org_options {
  struct ops_transport transport; /* state borrowed; must outlive the client */
  struct ops_clock clock;         /* the signing time */
  struct ops_loop *loop;          /* timers for pacing and retries (borrowed) */
  /* AWS_ENDPOINT_URL_ORGANIZATIONS / AWS_ENDPOINT_URL, read once at creation; and
   * AWS_MAX_ATTEMPTS / AWS_RETRY_MODE when `retry` is NULL. */
  struct ops_env env;
  /* The retry settings: the client's quota and send rate are made like it (ops_retry_new_like);
   * borrowed for the call. NULL: from `env`. */
  const struct ops_retry *retry;
  double requests_per_second; /* 0: OPS_ORG_REQUESTS_PER_SECOND */
  int concurrency;            /* 0: OPS_ORG_CONCURRENCY */
  long timeout_ms;            /* per exchange; 0: 30 s */
};

struct ops_org_client;
struct ops_org_call;

/* Returns 0 with *out owned by the caller (ops_org_client_free), or OPS_ERR_CONFIG for an
 * endpoint override that is not a URL the transport rules accept or retry settings in `env`
 * that are not valid, or OPS_ERR_NOMEM. One client is for one caller (its quota and pacing are
 * that caller's, as Organizations counts them per account). */
int ops_org_client_new(struct ops_org_client **out, const struct ops_org_options *options,
                       struct ops_error *err);

/* Frees the client; no call may be in flight. NULL is a no-op. */
void ops_org_client_free(struct ops_org_client *client);

/* The endpoint URL requests are sent to (borrowed from the client). */
const char *ops_org_client_endpoint(const struct ops_org_client *client);

struct ops_org_tag {
  char *key;
  char *value;
};

/* One account of the organization. Owns every string. */
struct ops_org_account {
  char *id; /* 12 digits */
  char *name;
  char *email;
  char *arn;
  char *ou; /* the id of its parent: an OU (ou-...) or the root (r-...) */
  char
      *ou_path; /* the root's name, then each OU's name down to its parent: "Root/Workloads/Prod" */
  bool tags_fetched;        /* whether `tags` is what Organizations holds */
  struct ops_org_tag *tags; /* sorted by key; NULL when none */
  size_t tag_count;
};

/* A root or an OU of the organization, with its path. Owns its strings. */
struct ops_org_unit {
  char *id;   /* r-... or ou-... */
  char *path; /* as an account's ou_path: "Root/Workloads" */
};

/* How many accounts of one state were left out. */
struct ops_org_skipped {
  char *state; /* State (else the retired Status) as Organizations gave it: "SUSPENDED", ... */
  size_t count;
};

/* The ACTIVE accounts of an organization. Owns everything; free with ops_org_listing_free. */
struct ops_org_listing {
  struct ops_org_account *accounts; /* sorted by id, each id once */
  size_t count;
  struct ops_org_skipped *skipped; /* the other states, sorted by name */
  size_t skipped_count;
  struct ops_org_unit *units; /* every root and OU, sorted by id (an OU may hold no account) */
  size_t unit_count;
  int64_t cached_at; /* when the cache file it was read from was written; 0: from Organizations */
};

/* NULL is a no-op. */
void ops_org_listing_free(struct ops_org_listing *listing);

/* Whether `id` is an AWS account id: 12 ASCII digits (NULL is not). */
bool ops_org_is_account_id(const char *id);

/* Sorts an account's tags by key. */
void ops_org_account_sort_tags(struct ops_org_account *account);

/* The path of the root or OU `id`, borrowed from the listing; NULL when it has none such. */
const char *ops_org_listing_unit_path(const struct ops_org_listing *listing, const char *id);

/* Sorts the units by id. */
void ops_org_listing_sort_units(struct ops_org_listing *listing);

/* Whether every account's tags were fetched (true for an empty listing). */
bool ops_org_listing_has_tags(const struct ops_org_listing *listing);

/* The end of a walk: `listing` on success (the callee takes ownership), else NULL with `err`
 * (borrowed for the call). */
typedef void (*ops_org_listing_fn)(struct ops_org_listing *listing, const struct ops_error *err,
                                   void *ud);

/* The end of a tag fetch: `err` NULL on success, else why (borrowed for the call). */
typedef void (*ops_org_tags_fn)(const struct ops_error *err, void *ud);

/* Starts walking the organization as the caller whose credentials `credentials` gives (borrowed;
 * it must outlive the call): each attempt signs with what the provider holds then
 * (ops_credentials_provider_cached, else a fetch). On 0, *call (may be NULL if not wanted) is the
 * call for ops_org_call_cancel, valid until its callback runs. The callback gets the ACTIVE
 * accounts (State, else Status), sorted by id, and how many of each other state were skipped.
 * A caller Organizations refuses (not the management account or a delegated administrator) fails
 * with OPS_ERR_DENIED, AWS's message followed by what to do. Returns OPS_ERR_NOMEM when the call
 * cannot start (the callback then never runs). */
int ops_org_list_accounts(struct ops_org_client *client,
                          struct ops_credentials_provider *credentials, ops_org_listing_fn done,
                          void *ud, struct ops_org_call **call, struct ops_error *err);

/* Starts fetching the tags of the accounts of `listing` (borrowed; it must outlive the call)
 * whose ids are in `account_ids` (`id_count` of them, borrowed for the starting call; ids not in
 * the listing are ignored), or of every account when `account_ids` is NULL; accounts whose tags
 * were fetched already are not asked again. Each account's tags and tags_fetched are set when its
 * last page has arrived, so a fetch that fails leaves every account either complete or as it was.
 * Otherwise as ops_org_list_accounts. */
int ops_org_fetch_tags(struct ops_org_client *client, struct ops_credentials_provider *credentials,
                       struct ops_org_listing *listing, const char *const *account_ids,
                       size_t id_count, ops_org_tags_fn done, void *ud, struct ops_org_call **call,
                       struct ops_error *err);

/* Abandons a call whose callback has not run: stops its requests and timers; the callback will
 * not run. */
void ops_org_call_cancel(struct ops_org_call *call);

/* --- the cache file (organizations_cache.c) --- */

/* The version of the cache file's format this opsrun reads and writes. */
#define OPS_ORG_CACHE_VERSION 1

/* The largest cache file read: 10,000 accounts (Organizations' largest quota) with tags. */
#define OPS_ORG_CACHE_MAX_BYTES ((size_t)64 << 20)

/* Where the listing of `caller_account` (12 digits) is kept:
 * $XDG_CACHE_HOME/opsrun/organizations-ACCOUNT.json, XDG_CACHE_HOME being ignored unless it is an
 * absolute path, else $HOME/.cache/opsrun/... Returns 0 with *path owned by the caller (free),
 * or OPS_ERR_CONFIG (no HOME, an account that is not 12 digits), or OPS_ERR_NOMEM. */
int ops_org_cache_path(const struct ops_env *env, const char *caller_account, char **path,
                       struct ops_error *err);

/* The file is one JSON object: {"version": 1, "caller": "ACCOUNT", "written": EPOCH-SECONDS,
 * "accounts": [{"id", "name", "email", "arn", "ou", "ou_path", "tags"}, ...] sorted by id,
 * "skipped": {"STATE": COUNT, ...}, "units": {"ID": "PATH", ...}}, where an account's "tags" is an
 * object of its tags when they were fetched and null when they were not (ops_org_listing_has_tags
 * says whether all were).
 *
 * Writes `listing` (with the tags of the accounts whose tags were fetched) as the cache of
 * `caller_account`, stamped with the clock's time (a listing read from the cache keeps its
 * cached_at, so adding tags never makes an old listing young): the directories made 0700 where
 * missing, a temporary
 * file 0600 in it, then renamed over the old one, so a reader sees the old file or the new one,
 * never a part. Returns 0, or an error naming the path (the caller warns and goes on). */
int ops_org_cache_save(const struct ops_env *env, struct ops_clock clock,
                       const char *caller_account, const struct ops_org_listing *listing,
                       struct ops_error *err);

enum ops_org_cache_outcome {
  OPS_ORG_CACHE_FRESH,   /* *listing is the cached one */
  OPS_ORG_CACHE_MISSING, /* no cache file */
  OPS_ORG_CACHE_STALE,   /* older than max_age: not usable, nothing to say */
  OPS_ORG_CACHE_IGNORED, /* not usable: `warning` says why, in one line naming the file */
};

/* Reads the cache of `caller_account`. It is used only when it is of OPS_ORG_CACHE_VERSION, of
 * the same caller, valid in every field (every id 12 digits, every string a string, sorted and
 * unique ids, ...) and written at most `max_age_seconds` before the clock's time; a file written
 * in the future is ignored. On OPS_ORG_CACHE_FRESH, *listing is owned by the caller (its
 * cached_at set); otherwise *listing is NULL. `warning` (kind OPS_ERR_CONFIG) is set only for
 * OPS_ORG_CACHE_IGNORED: a corrupt, unreadable or foreign file, which is never trusted. */
enum ops_org_cache_outcome ops_org_cache_load(const struct ops_env *env, struct ops_clock clock,
                                              const char *caller_account, int64_t max_age_seconds,
                                              struct ops_org_listing **listing,
                                              struct ops_error *warning);

#endif
