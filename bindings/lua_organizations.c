/* lua_organizations.c: AWS Organizations as the run's account source (--org, $OPSRUN_ORG, or a
 * registry saying "source": "organizations"). The listing is read as the base identity
 * (runtime/organizations.h), from the cache file when it is young enough, and installed as the
 * state's registry, overlaid by the registry file if there is one (bindings/lua_registry.h).
 * One read serves every task that needs it meanwhile: each waits for the read in flight, which is
 * abandoned only when the last of them leaves. */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/lua_aux.h"
#include "bindings/lua_config.h"
#include "bindings/lua_engine.h"
#include "bindings/lua_error.h"
#include "bindings/lua_identity.h"
#include "bindings/lua_opsrun.h"
#include "bindings/lua_registry.h"
#include "runtime/log.h"
#include "runtime/organizations.h"
#include "runtime/registry.h"

struct s_waiter;

/* The state's Organizations client and what it read. */
struct s_org {
  struct ops_org_client *client;
  struct ops_credentials_provider *caller; /* the base identity's (borrowed from the state) */
  char caller_account[16];
  struct ops_org_listing *listing; /* NULL until read */
  bool installed;                  /* the registry holds `listing` as it is now */
  bool tags_shown;  /* the run asked for tags: the accounts have Organizations' (else none, so
                       that a run sees the same whether the cache holds them or not) */
  bool tags_wanted; /* the read in flight fetches the tags too */
  struct ops_org_call *call; /* the walk or tag fetch in flight */
  struct s_waiter *waiters;  /* the tasks waiting for it */
};

/* A task waiting for the read in flight. */
struct s_waiter {
  struct ops_wait wait;
  struct s_org *org;
  struct s_waiter *next;
  bool failed;
  struct ops_error error;
};

static void s_org_release(void *object)
{
  struct s_org *org = object;
  if (org->call)
    ops_org_call_cancel(org->call);
  ops_org_client_free(org->client);
  ops_org_listing_free(org->listing);
  memset(org, 0, sizeof(*org));
}

static int s_org_init(lua_State *L, void *object, struct ops_error *err)
{
  struct s_org *org = object;
  struct ops_loop *loop = ops_engine_loop(ops_engine_of(L));
  struct ops_org_options options = {.transport = ops_transport_http(loop),
                                    .clock = ops_clock_system(),
                                    .loop = loop,
                                    .env = ops_env_process()};
  org->caller = ops_identity_base_provider(L);
  return ops_org_client_new(&org->client, &options, err);
}

static const struct ops_lua_aux_state_type s_org_type = {.name = "opsrun.Organizations",
                                                         .size = sizeof(struct s_org),
                                                         .init = s_org_init,
                                                         .release = s_org_release};

static struct s_org *s_org_of(lua_State *L)
{
  struct ops_error err;
  struct s_org *org = ops_lua_aux_state_object(L, &s_org_type, &err);
  if (!org)
    ops_lua_error_raise(L, &err, "accounts", NULL);
  return org;
}

/* ------------------------------------------------------------------ the read */

/* Ends the wait of every task waiting for the read: with `err`, or NULL when it succeeded. */
static void s_wake_all(struct s_org *org, const struct ops_error *err)
{
  while (org->waiters) {
    struct s_waiter *waiter = org->waiters;
    org->waiters = waiter->next;
    waiter->next = NULL;
    waiter->org = NULL;
    waiter->failed = err != NULL;
    if (err)
      waiter->error = *err;
    ops_engine_wait_done(&waiter->wait);
  }
}

/* Keeps what was read from Organizations for the next runs (failing to only warns), and has the
 * registry made again from it. */
static void s_keep(struct s_org *org)
{
  struct ops_error err;
  struct ops_env env = ops_env_process();
  org->installed = false;
  if (ops_org_cache_save(&env, ops_clock_system(), org->caller_account, org->listing, &err) !=
      OPS_OK)
    ops_log(OPS_LOG_WARN, NULL, "organizations: %s", err.message);
}

static void s_tags_fetched(const struct ops_error *err, void *ud)
{
  struct s_org *org = ud;
  org->call = NULL;
  org->tags_wanted = false;
  if (!err)
    s_keep(org);
  s_wake_all(org, err);
}

/* Fetches the tags of every account of the listing. */
static void s_fetch_tags(struct s_org *org)
{
  struct ops_error err;
  ops_log(OPS_LOG_INFO, NULL,
          "accounts: fetching the tags of %zu accounts from AWS Organizations, %g a second",
          org->listing->count, OPS_ORG_REQUESTS_PER_SECOND);
  if (ops_org_fetch_tags(org->client, org->caller, org->listing, NULL, 0, s_tags_fetched, org,
                         &org->call, &err) != OPS_OK)
    s_wake_all(org, &err);
}

static void s_listed(struct ops_org_listing *listing, const struct ops_error *err, void *ud)
{
  struct s_org *org = ud;
  org->call = NULL;
  if (!listing) {
    org->tags_wanted = false;
    s_wake_all(org, err);
    return;
  }
  ops_org_listing_free(org->listing);
  org->listing = listing;
  org->installed = false;
  if (org->tags_wanted) {
    s_fetch_tags(org);
    return;
  }
  s_keep(org);
  s_wake_all(org, NULL);
}

/* Starts what the waiting tasks need: the walk, or the tags of the listing read without them. */
static void s_start(struct s_org *org)
{
  struct ops_error err;
  if (org->listing) {
    s_fetch_tags(org);
    return;
  }
  if (ops_org_list_accounts(org->client, org->caller, s_listed, org, &org->call, &err) != OPS_OK)
    s_wake_all(org, &err);
}

/* Takes the cached listing of the caller when the configuration allows reusing one and it is
 * young enough; warns of a cache that cannot be trusted. */
static void s_read_cache(struct s_org *org, const struct ops_config *config)
{
  if (config->org_refresh || config->org_max_age_seconds == 0)
    return;
  struct ops_error warning;
  struct ops_env env = ops_env_process();
  if (ops_org_cache_load(&env, ops_clock_system(), org->caller_account, config->org_max_age_seconds,
                         &org->listing, &warning) == OPS_ORG_CACHE_IGNORED)
    ops_log(OPS_LOG_WARN, NULL, "%s", warning.message);
}

/* ------------------------------------------------------------------ the registry */

/* "1 CLOSED, 2 SUSPENDED" into buf. */
static void s_describe_skipped(const struct ops_org_listing *listing, char *buf, size_t size)
{
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < listing->skipped_count && used < size; i++)
    used += (size_t)snprintf(buf + used, size - used, "%s%zu %s", i ? ", " : "",
                             listing->skipped[i].count, listing->skipped[i].state);
}

/* "AWS Organizations as 111111111111, read now: 12 ACTIVE accounts (skipped: 1 CLOSED)" */
static void s_describe(const struct s_org *org, char *buf, size_t size)
{
  char skipped[256];
  s_describe_skipped(org->listing, skipped, sizeof(skipped));
  struct ops_clock clock = ops_clock_system();
  char age[64] = "read now";
  if (org->listing->cached_at)
    snprintf(age, sizeof(age), "cached %lld s ago",
             (long long)clock.now(clock.self) - (long long)org->listing->cached_at);
  snprintf(buf, size, "AWS Organizations as %s, %s: %zu ACTIVE account%s (skipped: %s)",
           org->caller_account, age, org->listing->count, org->listing->count == 1 ? "" : "s",
           skipped[0] ? skipped : "none");
}

/* The listing as ops_registry_overlay takes it, its strings borrowed: the accounts, then all
 * their tags, in one block for free(). */
static struct ops_registry_listed *s_listed_accounts(const struct ops_org_listing *listing,
                                                     bool with_tags)
{
  size_t tag_total = 0;
  for (size_t i = 0; with_tags && i < listing->count; i++)
    tag_total += listing->accounts[i].tag_count;
  struct ops_registry_listed *listed =
      malloc((listing->count + 1) * sizeof(*listed) + tag_total * sizeof(struct ops_registry_tag));
  if (!listed)
    return NULL;
  struct ops_registry_tag *tag = (struct ops_registry_tag *)(listed + listing->count + 1);
  for (size_t i = 0; i < listing->count; i++) {
    const struct ops_org_account *account = &listing->accounts[i];
    listed[i] = (struct ops_registry_listed){.id = account->id,
                                             .name = account->name,
                                             .email = account->email,
                                             .ou_id = account->ou,
                                             .ou_path = account->ou_path,
                                             .tags = tag,
                                             .tag_count = with_tags ? account->tag_count : 0};
    for (size_t t = 0; t < listed[i].tag_count; t++)
      *tag++ = (struct ops_registry_tag){account->tags[t].key, account->tags[t].value};
  }
  return listed;
}

/* Installs the listing, overlaid by the registry file, as the state's registry. */
static int s_install(lua_State *L, struct s_org *org)
{
  struct ops_error err = {0};
  struct ops_registry *registry = NULL;
  struct ops_registry_listed *listed = s_listed_accounts(org->listing, org->tags_shown);
  int rc = listed ? ops_registry_overlay(ops_lua_registry_file(L), ops_config_get(L)->role, listed,
                                         org->listing->count, org->caller_account, &registry, &err)
                  : ops_error_set(&err, OPS_ERR_NOMEM, "out of memory");
  free(listed);
  if (rc != OPS_OK)
    return ops_lua_error_raise(L, &err, "accounts", NULL);
  for (size_t i = 0; i < ops_registry_unlisted_count(registry); i++)
    ops_log(OPS_LOG_WARN, NULL,
            "registry: account %s is not an ACTIVE account of the organization: its entry is "
            "unused",
            ops_registry_unlisted_id(registry, i));
  if (ops_log_enabled(OPS_LOG_INFO)) {
    char description[512];
    s_describe(org, description, sizeof(description));
    ops_log(OPS_LOG_INFO, NULL, "accounts: %s", description);
  }
  ops_lua_registry_install(L, registry);
  org->installed = true;
  return 0;
}

/* ------------------------------------------------------------------ organizations.load */

static void s_waiter_release(struct ops_wait *wait)
{
  struct s_waiter *waiter = (struct s_waiter *)wait;
  struct s_org *org = waiter->org;
  if (!org)
    return;
  for (struct s_waiter **p = &org->waiters; *p; p = &(*p)->next) {
    if (*p == waiter) {
      *p = waiter->next;
      break;
    }
  }
  waiter->org = NULL;
  if (!org->waiters && org->call) {
    ops_org_call_cancel(org->call);
    org->call = NULL;
    org->tags_wanted = false;
  }
}

static bool s_has_what_is_wanted(const struct s_org *org, bool want_tags)
{
  return org->listing && (!want_tags || ops_org_listing_has_tags(org->listing));
}

static int s_load_k(lua_State *L, int status, lua_KContext ctx)
{
  (void)status;
  struct s_waiter *waiter = (struct s_waiter *)ctx;
  if (waiter->failed && waiter->error.kind == OPS_ERR_DENIED)
    waiter->error.kind = OPS_ERR_REGISTRY; /* no accounts as this identity: a set-up problem, as
                                              an unreadable registry is (exit 2) */
  if (waiter->failed)
    return ops_lua_error_raise(L, &waiter->error, "accounts", NULL);
  struct s_org *org = s_org_of(L);
  if (!org->installed)
    s_install(L, org);
  return 0;
}

/* organizations.load(caller_account, want_tags): reads the organization of the base identity,
 * whose account is caller_account, unless it was read already (with the tags when want_tags),
 * and installs it as the registry. */
static int organizations_load(lua_State *L)
{
  const char *caller_account = luaL_checkstring(L, 1);
  bool want_tags = lua_toboolean(L, 2);
  struct s_org *org = s_org_of(L);
  if (want_tags && !org->tags_shown) {
    org->tags_shown = true;
    org->installed = false;
  }
  if (!org->caller_account[0]) {
    snprintf(org->caller_account, sizeof(org->caller_account), "%s", caller_account);
    s_read_cache(org, ops_config_get(L));
  }
  if (s_has_what_is_wanted(org, want_tags) && !org->call) {
    if (!org->installed)
      s_install(L, org);
    return 0;
  }
  struct s_waiter *waiter = ops_engine_wait_new(L, sizeof(*waiter), s_waiter_release);
  /* Not bounded by --timeout: reading a large organization's tags at Organizations' pace takes
   * as long as it has accounts (each request has its own timeout and retries). */
  waiter->wait.unbounded = true;
  waiter->org = org;
  waiter->next = org->waiters;
  org->waiters = waiter;
  org->tags_wanted = org->tags_wanted || want_tags;
  if (!org->call)
    s_start(org);
  return ops_engine_suspend(L, &waiter->wait, s_load_k, (lua_KContext)waiter);
}

/* organizations.describe() -> where the listing came from and what it holds (for doctor). */
static int organizations_describe(lua_State *L)
{
  struct s_org *org = s_org_of(L);
  char description[512] = "AWS Organizations, not read yet";
  if (org->listing)
    s_describe(org, description, sizeof(description));
  lua_pushstring(L, description);
  return 1;
}

/* organizations.ou_path(id) -> the path of that root or OU, or nil. */
static int organizations_ou_path(lua_State *L)
{
  const char *id = luaL_checkstring(L, 1);
  struct s_org *org = s_org_of(L);
  lua_pushstring(L, org->listing ? ops_org_listing_unit_path(org->listing, id) : NULL);
  return 1;
}

static int s_compare_strings(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* organizations.ou_paths() -> the paths of every root and OU of the listing, sorted. */
static int organizations_ou_paths(lua_State *L)
{
  const struct ops_org_listing *listing = s_org_of(L)->listing;
  size_t count = listing ? listing->unit_count : 0;
  const char **paths = lua_newuserdatauv(L, (count + 1) * sizeof(*paths), 0);
  for (size_t i = 0; i < count; i++)
    paths[i] = listing->units[i].path;
  qsort(paths, count, sizeof(*paths), s_compare_strings);
  lua_createtable(L, (int)count, 0);
  for (size_t i = 0; i < count; i++) {
    lua_pushstring(L, paths[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/* organizations.wanted() -> whether the run's accounts come from Organizations: --org,
 * $OPSRUN_ORG, or a registry saying "source": "organizations". */
static int organizations_wanted(lua_State *L)
{
  lua_pushboolean(L, ops_lua_registry_wants_organizations(L));
  return 1;
}

int luaopen_opsrun_organizations(lua_State *L)
{
  static const luaL_Reg functions[] = {
      {"load", organizations_load},         {"wanted", organizations_wanted},
      {"describe", organizations_describe}, {"ou_path", organizations_ou_path},
      {"ou_paths", organizations_ou_paths}, {NULL, NULL}};
  luaL_newlib(L, functions);
  return 1;
}
