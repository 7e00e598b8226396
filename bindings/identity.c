/* identity.c: who each task acts as. Base credentials come from the AWS credential chain
 * (runtime/credentials.h); assumed roles from STS AssumeRole signed with them (runtime/sts.h),
 * cached per (account, role, external id). Each cached source has at most one fetch in flight,
 * shared by every task that needs it, and is fetched again ahead of its expiry. STS calls that
 * fail with throttling, a 5xx or a connection failure are made again on runtime/retry.h's
 * policy, waiting on a loop timer, with a retry quota and send rate per source (the base, each
 * role), as an SDK keeps per client. Also the private
 * primitives of assume() and whoami() (bindings/lua/assume.lua), and two for `opsrun doctor`
 * (bindings/lua/commands.lua): where the credentials come from, and the STS server's clock; the
 * operating region and the region name check for the Lua that takes regions. */
#include "bindings/identity.h"

#include <curl/curl.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bindings/config.h"
#include "bindings/engine.h"
#include "bindings/lua_error.h"
#include "bindings/opsrun.h"
#include "bindings/task_http.h"
#include "runtime/aws_config.h"
#include "runtime/credentials.h"
#include "runtime/log.h"
#include "runtime/region.h"
#include "runtime/retry.h"
#include "runtime/sts.h"
#include "runtime/timestamp.h"

#define AWS_KEY                "opsrun.aws"
#define AWS_METATABLE          "opsrun.Aws"
#define WAIT_METATABLE         "opsrun.IdentityWait"
#define CALL_METATABLE         "opsrun.StsCall"
#define REFRESH_MARGIN_SECONDS 300

/* Someone waiting for a source's credentials: a task (through its wait) or a role that needs
 * the base credentials to sign its AssumeRole. */
struct s_waiter {
  void (*ready)(struct s_waiter *waiter);
  struct s_waiter *next;
};

enum s_source_kind { SOURCE_BASE, SOURCE_ROLE };

struct s_aws;

/* A set of credentials that is fetched on demand and again before it expires. */
struct s_source {
  struct s_aws *aws;
  enum s_source_kind kind;
  struct ops_credentials *current;
  struct ops_sigv4_credentials signing; /* a view of `current` */
  double obtained;
  bool fetching;
  bool failed; /* the last fetch failed with `error` */
  struct ops_error error;
  struct s_waiter *waiters;
  struct ops_credentials_fetch *chain_fetch; /* SOURCE_BASE, in flight */
  struct s_waiter base_waiter;               /* SOURCE_ROLE, waiting for the base */
  struct ops_sts_call *sts_call;             /* SOURCE_ROLE, in flight */
  struct ops_retry_request attempts;         /* SOURCE_ROLE, of the fetch in flight */
  struct ops_timer *retry_timer;             /* SOURCE_ROLE, waiting to call STS again */
  /* The retry quota and send rate of STS calls for this source: its AssumeRole (the first step
   * of its account's work) and whoami() as it. One account's throttling never spends another's. */
  struct ops_retry *retry;
  /* SOURCE_ROLE */
  char *account;
  char *role_name;
  char *external_id;
  char *session_name;
  int duration;
  char *role_arn;
  char *owner; /* role_arn, and the external id after a newline when there is one */
  char *arn;   /* the assumed role's ARN */
  struct s_source *next;
};

struct s_aws {
  struct ops_credentials_context context;
  struct ops_credentials_provider *chain;
  struct ops_sts_client *sts;
  struct ops_retry *sts_retry; /* the retry settings each source's quota is made like */
  struct ops_sigv4_signer *signer;
  const char *profile; /* --profile, borrowed from the configuration */
  char region[64];
  struct s_source base;
  struct s_source *roles;
  struct s_source *main_identity; /* what code outside any task acts as; NULL: the base */
  struct ops_task *main_sharer;   /* a task whose assume() sets main_identity too (the REPL's) */
  char base_account[16];          /* the base credentials' account, once whoami() told it */
};

/* ------------------------------------------------------------------ sources */

static double s_now(const struct s_aws *aws)
{
  return aws->context.clock.now(aws->context.clock.self);
}

static bool s_usable(const struct s_source *source, double now)
{
  return source->current && (!source->current->expiration || now < source->current->expiration);
}

/* Usable and not yet due for refresh: 5 minutes before expiry, or halfway through lifetimes
 * shorter than 10 minutes. */
static bool s_fresh(const struct s_source *source, double now)
{
  if (!s_usable(source, now))
    return false;
  double expiration = (double)source->current->expiration;
  if (!expiration)
    return true;
  double margin = (expiration - source->obtained) / 2;
  if (margin > REFRESH_MARGIN_SECONDS)
    margin = REFRESH_MARGIN_SECONDS;
  return now < expiration - margin;
}

static void s_set_credentials(struct s_source *source, struct ops_credentials *credentials)
{
  ops_credentials_free(source->current);
  source->current = credentials;
  source->signing = ops_credentials_for_signing(credentials);
  source->obtained = s_now(source->aws);
  source->failed = false;
}

/* Credentials that had expired when they arrived (a clock far off, or a source handing out stale
 * ones) would fail every request they sign, and leave no error behind for the task that waited
 * for them: the fetch fails instead, saying whose they are and when they expired. */
static bool s_arrived_expired(const struct s_source *source,
                              const struct ops_credentials *credentials, struct ops_error *err)
{
  double now = s_now(source->aws);
  if (!credentials->expiration || now < (double)credentials->expiration)
    return false;
  char expired[OPS_TIMESTAMP_LEN], clock[OPS_TIMESTAMP_LEN];
  ops_timestamp_format(credentials->expiration, expired, sizeof(expired));
  ops_timestamp_format((int64_t)now, clock, sizeof(clock));
  if (source->kind == SOURCE_ROLE)
    ops_error_set(err, OPS_ERR_CREDENTIALS,
                  "STS AssumeRole of %s in account %s returned credentials that expired at %s, "
                  "before they arrived (this machine's clock says %s): check the clock and the "
                  "STS endpoint",
                  source->role_arn, source->account, expired, clock);
  else
    ops_error_set(err, OPS_ERR_CREDENTIALS,
                  "the base credentials (%s) expired at %s (this machine's clock says %s): "
                  "renew them",
                  credentials->source, expired, clock);
  return true;
}

/* A fetch ended: every waiter learns of it. */
static void s_settle(struct s_source *source)
{
  source->fetching = false;
  struct s_waiter *waiters = source->waiters;
  source->waiters = NULL;
  while (waiters) {
    struct s_waiter *waiter = waiters;
    waiters = waiter->next;
    waiter->next = NULL;
    waiter->ready(waiter);
  }
}

static void s_fail(struct s_source *source, const struct ops_error *err)
{
  source->failed = true;
  source->error = *err;
  s_settle(source);
}

static void s_fetch(struct s_source *source);

/* Calls waiter->ready once the source is fresh or its fetch has ended; at once when fresh. */
static void s_want(struct s_source *source, struct s_waiter *waiter)
{
  if (s_fresh(source, s_now(source->aws))) {
    waiter->ready(waiter);
    return;
  }
  waiter->next = source->waiters;
  source->waiters = waiter;
  if (!source->fetching)
    s_fetch(source);
}

static void s_unwant(struct s_source *source, struct s_waiter *waiter)
{
  for (struct s_waiter **p = &source->waiters; *p; p = &(*p)->next)
    if (*p == waiter) {
      *p = waiter->next;
      return;
    }
}

/* --- the base credentials: the chain --- */

static void s_base_fetched(struct ops_credentials *credentials, const struct ops_error *err,
                           void *ud)
{
  struct s_source *base = ud;
  base->chain_fetch = NULL;
  struct ops_error expired;
  if (credentials && s_arrived_expired(base, credentials, &expired)) {
    ops_credentials_free(credentials);
    s_fail(base, &expired);
    return;
  }
  if (!credentials) {
    s_fail(base, err);
    return;
  }
  ops_log(OPS_LOG_DEBUG, NULL, "base credentials from %s", credentials->source);
  s_set_credentials(base, credentials);
  s_settle(base);
}

static void s_fetch_base(struct s_source *base)
{
  struct s_aws *aws = base->aws;
  struct ops_error err;
  if (!aws->chain &&
      ops_credentials_provider_chain_new(&aws->chain, &aws->context, aws->profile, &err) != 0) {
    s_fail(base, &err);
    return;
  }
  base->chain_fetch = ops_credentials_provider_get(aws->chain, s_base_fetched, base, &err);
  if (!base->chain_fetch)
    s_fail(base, &err);
}

/* --- retrying STS calls --- */

/* An STS call failed with *err: when the retry policy allows, logs the retry and returns a timer
 * that calls fire(ud) after the backoff; else returns NULL, and *err says how many attempts
 * were made. */
static struct ops_timer *s_sts_retry(struct s_source *source, struct ops_retry_request *attempts,
                                     struct ops_error *err, const char *what, const char *account,
                                     ops_timer_fn fire, void *ud)
{
  struct ops_retry_timer timer = {
      .loop = source->aws->context.loop, .fire = fire, .ud = ud, .what = what, .account = account};
  return ops_retry_schedule(source->retry, attempts, ops_retry_classify(err), -1, err, &timer);
}

/* Adaptive retry mode: a timer that calls fire(ud) when the source's STS send rate allows a
 * call, or NULL when it may go now. */
static struct ops_timer *s_sts_paced(struct s_source *source, ops_timer_fn fire, void *ud)
{
  struct ops_retry_timer timer = {.loop = source->aws->context.loop, .fire = fire, .ud = ud};
  return ops_retry_pace(source->retry, &timer);
}

/* --- an assumed role: AssumeRole signed with the base credentials --- */

static void s_role_call_again(void *ud);

static void s_role_assumed(struct ops_sts_assumed_role *assumed, const struct ops_error *err,
                           void *ud)
{
  struct s_source *role = ud;
  role->sts_call = NULL;
  ops_retry_observe(role->retry, !assumed && err->kind == OPS_ERR_THROTTLED);
  if (!assumed) {
    struct ops_error failure = *err;
    role->retry_timer = s_sts_retry(role, &role->attempts, &failure, "STS AssumeRole",
                                    role->account, s_role_call_again, role);
    if (role->retry_timer)
      role->error = failure; /* stands if every waiter leaves before the retry */
    else
      s_fail(role, &failure);
    return;
  }
  ops_retry_succeeded(role->retry, &role->attempts);
  struct ops_error expired;
  if (s_arrived_expired(role, assumed->credentials, &expired)) {
    ops_sts_assumed_role_free(assumed);
    s_fail(role, &expired);
    return;
  }
  free(role->arn);
  role->arn = strdup(assumed->arn ? assumed->arn : "");
  s_set_credentials(role, assumed->credentials);
  assumed->credentials = NULL;
  ops_sts_assumed_role_free(assumed);
  ops_log(OPS_LOG_DEBUG, role->account, "assumed %s", role->arn ? role->arn : role->role_arn);
  s_settle(role);
}

static void s_role_with_base(struct s_waiter *waiter)
{
  struct s_source *role =
      (struct s_source *)((char *)waiter - offsetof(struct s_source, base_waiter));
  struct s_aws *aws = role->aws;
  if (!s_usable(&aws->base, s_now(aws))) {
    s_fail(role, &aws->base.error);
    return;
  }
  if ((role->retry_timer = s_sts_paced(role, s_role_call_again, role)))
    return;
  struct ops_sts_assume_role_params params = {.role_arn = role->role_arn,
                                              .role_session_name = role->session_name,
                                              .external_id = role->external_id,
                                              .duration_seconds = role->duration};
  struct ops_error err;
  if (ops_sts_assume_role(aws->sts, aws->base.current, &params, s_role_assumed, role,
                          &role->sts_call, &err) != 0)
    s_fail(role, &err);
}

/* The retry timer is due: AssumeRole again, with the base credentials as they are now. */
static void s_role_call_again(void *ud)
{
  struct s_source *role = ud;
  role->retry_timer = NULL;
  s_want(&role->aws->base, &role->base_waiter);
}

/* No task waits for the role any more: a retry would be for nobody, so it stops, and the last
 * failure stands until the next assume() fetches afresh. */
static void s_role_forsaken(struct s_source *source)
{
  if (source->waiters || !source->retry_timer)
    return;
  ops_loop_timer_cancel(source->aws->context.loop, source->retry_timer);
  source->retry_timer = NULL;
  struct ops_error last = source->error;
  s_fail(source, &last);
}

static void s_fetch(struct s_source *source)
{
  source->fetching = true;
  if (source->kind == SOURCE_BASE) {
    s_fetch_base(source);
    return;
  }
  source->attempts = (struct ops_retry_request){0};
  source->base_waiter.ready = s_role_with_base;
  s_want(&source->aws->base, &source->base_waiter);
}

static void s_source_stop(struct s_source *source)
{
  if (source->chain_fetch)
    ops_credentials_fetch_cancel(source->chain_fetch);
  if (source->sts_call)
    ops_sts_call_cancel(source->sts_call);
  if (source->retry_timer)
    ops_loop_timer_cancel(source->aws->context.loop, source->retry_timer);
  source->retry_timer = NULL;
  ops_credentials_free(source->current);
  source->chain_fetch = NULL;
  source->sts_call = NULL;
  source->current = NULL;
}

static void s_role_free(struct s_source *role)
{
  s_source_stop(role);
  ops_retry_free(role->retry);
  free(role->account);
  free(role->role_name);
  free(role->external_id);
  free(role->session_name);
  free(role->role_arn);
  free(role->owner);
  free(role->arn);
  free(role);
}

/* ------------------------------------------------------------------ the state's AWS objects */

static int s_aws_gc(lua_State *L)
{
  struct s_aws *aws = luaL_checkudata(L, 1, AWS_METATABLE);
  while (aws->roles) {
    struct s_source *role = aws->roles;
    aws->roles = role->next;
    s_role_free(role);
  }
  s_source_stop(&aws->base);
  ops_retry_free(aws->base.retry);
  aws->base.retry = NULL;
  ops_credentials_provider_free(aws->chain);
  ops_sts_client_free(aws->sts);
  ops_retry_free(aws->sts_retry);
  ops_sigv4_signer_free(aws->signer);
  aws->chain = NULL;
  aws->sts = NULL;
  aws->sts_retry = NULL;
  aws->signer = NULL;
  return 0;
}

static void s_aws_init(lua_State *L, struct s_aws *aws)
{
  const struct ops_config *config = ops_config_get(L);
  struct ops_loop *loop = ops_engine_loop(ops_engine_of(L));
  struct ops_error err;
  aws->profile = config->profile;
  aws->context = (struct ops_credentials_context){.loop = loop,
                                                  .transport = ops_transport_http(loop),
                                                  .clock = ops_clock_system(),
                                                  .env = ops_env_process(),
                                                  .prompt = ops_credentials_prompt_terminal};
  if (config->region)
    snprintf(aws->region, sizeof(aws->region), "%s", config->region);
  else if (ops_aws_config_region(&aws->context.env, aws->profile, aws->region, sizeof(aws->region),
                                 &err) != 0)
    ops_lua_error_raise(L, &err, NULL, NULL);
  aws->context.region = aws->region;
  aws->base = (struct s_source){.aws = aws, .kind = SOURCE_BASE};
  struct ops_sts_options sts = {.transport = aws->context.transport,
                                .clock = aws->context.clock,
                                .env = aws->context.env,
                                .region = aws->region};
  struct ops_retry_options retry = {.env = aws->context.env};
  if (ops_sigv4_signer_new(&aws->signer, 0, &err) != 0 ||
      ops_sts_client_new(&aws->sts, &sts, &err) != 0 ||
      ops_retry_new(&aws->sts_retry, &retry, &err) != 0)
    ops_lua_error_raise(L, &err, NULL, NULL);
  if (!(aws->base.retry = ops_retry_new_like(aws->sts_retry)))
    luaL_error(L, "out of memory");
}

static struct s_aws *s_aws_of(lua_State *L)
{
  if (lua_getfield(L, LUA_REGISTRYINDEX, AWS_KEY) == LUA_TUSERDATA) {
    struct s_aws *aws = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return aws;
  }
  lua_pop(L, 1);
  struct s_aws *aws = lua_newuserdatauv(L, sizeof(*aws), 0);
  memset(aws, 0, sizeof(*aws));
  luaL_setmetatable(L, AWS_METATABLE);
  s_aws_init(L, aws); /* if it raises, the collector frees what it made and the next call retries */
  lua_setfield(L, LUA_REGISTRYINDEX, AWS_KEY);
  return aws;
}

struct ops_sigv4_signer *ops_identity_signer(lua_State *L)
{
  return s_aws_of(L)->signer;
}

const char *ops_identity_region(lua_State *L)
{
  return s_aws_of(L)->region;
}

/* What the running code acts as: its task's role, else (outside tasks) the state's, else base. */
static struct s_source *s_current(lua_State *L, struct s_aws *aws)
{
  struct ops_task *task = ops_engine_running_task(L);
  struct s_source *source = task ? ops_engine_task_context(task) : aws->main_identity;
  return source ? source : &aws->base;
}

static void s_set_current(lua_State *L, struct s_aws *aws, struct s_source *source)
{
  struct ops_task *task = ops_engine_running_task(L);
  if (task) {
    ops_engine_set_task_context(task, source);
    ops_engine_set_task_account(task, source->account);
    if (task == aws->main_sharer)
      aws->main_identity = source;
  } else {
    aws->main_identity = source;
  }
}

static int s_raise_failure(lua_State *L, const struct s_source *source)
{
  return ops_lua_error_raise(L, &source->error, source->kind == SOURCE_ROLE ? "assume" : NULL,
                             source->kind == SOURCE_ROLE
                                 ? source->account
                                 : ops_engine_task_account(ops_engine_running_task(L)));
}

/* ------------------------------------------------------------------ waiting for credentials */

struct s_identity_wait {
  struct ops_wait wait;
  struct s_waiter waiter;
  struct s_source *source;
  bool queued;
  lua_KFunction k;
  lua_KContext ctx;
};

static void s_identity_ready(struct s_waiter *waiter)
{
  struct s_identity_wait *w =
      (struct s_identity_wait *)((char *)waiter - offsetof(struct s_identity_wait, waiter));
  w->queued = false;
  ops_engine_wait_done(&w->wait);
}

static void s_identity_cancel(struct ops_wait *wait)
{
  struct s_identity_wait *w = (struct s_identity_wait *)wait;
  if (w->queued) {
    s_unwant(w->source, &w->waiter);
    s_role_forsaken(w->source);
  }
  w->queued = false;
}

static int s_identity_k(lua_State *L, int status, lua_KContext ctx)
{
  struct s_identity_wait *w = (struct s_identity_wait *)ctx;
  if (!s_usable(w->source, s_now(w->source->aws)))
    return s_raise_failure(L, w->source);
  return w->k(L, status, w->ctx);
}

/* Suspends until `source` is fresh (or its fetch failed), then continues in k. */
static int s_await(lua_State *L, struct s_source *source, lua_KFunction k, lua_KContext ctx)
{
  if (s_fresh(source, s_now(source->aws)))
    return k(L, LUA_OK, ctx);
  struct s_identity_wait *w = lua_newuserdatauv(L, sizeof(*w), 0);
  memset(w, 0, sizeof(*w));
  luaL_setmetatable(L, WAIT_METATABLE);
  w->wait.cancel = s_identity_cancel;
  w->waiter.ready = s_identity_ready;
  w->source = source;
  w->k = k;
  w->ctx = ctx;
  w->queued = true;
  s_want(source, &w->waiter);
  return ops_engine_suspend(L, &w->wait, s_identity_k, (lua_KContext)w);
}

static int s_wait_gc(lua_State *L)
{
  s_identity_cancel(luaL_checkudata(L, 1, WAIT_METATABLE));
  return 0;
}

int ops_identity_await(lua_State *L, lua_KFunction k, lua_KContext ctx)
{
  struct s_aws *aws = s_aws_of(L);
  return s_await(L, s_current(L, aws), k, ctx);
}

const struct ops_sigv4_credentials *ops_identity_credentials(lua_State *L)
{
  struct s_aws *aws = s_aws_of(L);
  return &s_current(L, aws)->signing;
}

const char *ops_identity_owner(lua_State *L)
{
  const struct s_source *source = s_current(L, s_aws_of(L));
  return source->kind == SOURCE_ROLE ? source->owner : "base";
}

/* ------------------------------------------------------------------ assume */

static struct s_source *s_role_find(struct s_aws *aws, const char *account, const char *role_name,
                                    const char *external_id)
{
  for (struct s_source *role = aws->roles; role; role = role->next)
    if (strcmp(role->account, account) == 0 && strcmp(role->role_name, role_name) == 0 &&
        strcmp(role->external_id ? role->external_id : "", external_id ? external_id : "") == 0)
      return role;
  return NULL;
}

/* The partition of the operating region: aws, aws-cn or aws-us-gov. */
static const char *s_partition(const char *region)
{
  if (strncmp(region, "cn-", 3) == 0)
    return "aws-cn";
  if (strncmp(region, "us-gov-", 7) == 0)
    return "aws-us-gov";
  return "aws";
}

static struct s_source *s_role_new(lua_State *L, struct s_aws *aws,
                                   const struct ops_sts_assume_role_params *params,
                                   const char *account, const char *role_name)
{
  struct s_source *role = calloc(1, sizeof(*role));
  if (!role)
    luaL_error(L, "out of memory");
  *role = (struct s_source){.aws = aws, .kind = SOURCE_ROLE, .duration = params->duration_seconds};
  role->retry = ops_retry_new_like(aws->sts_retry);
  role->account = strdup(account);
  role->role_name = strdup(role_name);
  role->external_id = params->external_id ? strdup(params->external_id) : NULL;
  role->session_name = strdup(params->role_session_name);
  role->role_arn = strdup(params->role_arn);
  size_t owner_len =
      strlen(params->role_arn) + 2 + (params->external_id ? strlen(params->external_id) : 0);
  if ((role->owner = malloc(owner_len)))
    snprintf(role->owner, owner_len, "%s%s%s", params->role_arn, params->external_id ? "\n" : "",
             params->external_id ? params->external_id : "");
  if (!role->retry || !role->account || !role->role_name || !role->session_name ||
      !role->role_arn || !role->owner || (params->external_id && !role->external_id)) {
    s_role_free(role);
    luaL_error(L, "out of memory");
  }
  role->next = aws->roles;
  aws->roles = role;
  return role;
}

/* {account, arn, role, expires} of the role now acted as */
static int s_assume_k(lua_State *L, int status, lua_KContext ctx)
{
  (void)status;
  struct s_source *role = (struct s_source *)ctx;
  s_set_current(L, role->aws, role);
  lua_createtable(L, 0, 4);
  lua_pushstring(L, role->account);
  lua_setfield(L, -2, "account");
  lua_pushstring(L, role->arn);
  lua_setfield(L, -2, "arn");
  lua_pushstring(L, role->role_name);
  lua_setfield(L, -2, "role");
  lua_pushinteger(L, role->current->expiration);
  lua_setfield(L, -2, "expires");
  return 1;
}

/* assume(account_id, role_name, external_id|nil, session_name, duration|0) */
static int identity_assume(lua_State *L)
{
  struct s_aws *aws = s_aws_of(L);
  const char *account = luaL_checkstring(L, 1);
  const char *role_name = luaL_checkstring(L, 2);
  const char *external_id = luaL_optstring(L, 3, NULL);
  const char *session_name = luaL_checkstring(L, 4);
  int duration = (int)luaL_optinteger(L, 5, 0);
  char role_arn[256];
  snprintf(role_arn, sizeof(role_arn), "arn:%s:iam::%s:role/%s", s_partition(aws->region), account,
           role_name);
  struct ops_sts_assume_role_params params = {.role_arn = role_arn,
                                              .role_session_name = session_name,
                                              .external_id = external_id,
                                              .duration_seconds = duration};
  struct ops_error err;
  if (ops_sts_validate_assume_role(&params, &err) != 0)
    return ops_lua_error_raise(L, &err, "assume", account);
  struct s_source *role = s_role_find(aws, account, role_name, external_id);
  if (!role)
    role = s_role_new(L, aws, &params, account, role_name);
  return s_await(L, role, s_assume_k, (lua_KContext)role);
}

/* ------------------------------------------------------------------ whoami */

struct s_sts_call {
  struct ops_wait wait;
  struct s_aws *aws;
  struct s_source *source; /* the identity it is made as */
  char account[32];        /* the task's, for the log */
  struct ops_sts_call *call;
  struct ops_retry_request attempts;
  struct ops_timer *retry_timer;
  struct ops_sts_identity *identity;
  bool failed;
  struct ops_error error;
};

static void s_sts_call_release(struct s_sts_call *c)
{
  if (c->call)
    ops_sts_call_cancel(c->call);
  c->call = NULL;
  if (c->retry_timer)
    ops_loop_timer_cancel(c->aws->context.loop, c->retry_timer);
  c->retry_timer = NULL;
  ops_sts_identity_free(c->identity);
  c->identity = NULL;
}

static void s_sts_call_cancel(struct ops_wait *wait)
{
  s_sts_call_release((struct s_sts_call *)wait);
}

static int s_sts_call_gc(lua_State *L)
{
  s_sts_call_release(luaL_checkudata(L, 1, CALL_METATABLE));
  return 0;
}

static void s_whoami_send(void *ud);

static void s_whoami_done(struct ops_sts_identity *identity, const struct ops_error *err, void *ud)
{
  struct s_sts_call *c = ud;
  c->call = NULL;
  c->identity = identity;
  ops_retry_observe(c->source->retry, !identity && err->kind == OPS_ERR_THROTTLED);
  if (identity) {
    ops_retry_succeeded(c->source->retry, &c->attempts);
  } else {
    c->error = *err;
    c->retry_timer = s_sts_retry(c->source, &c->attempts, &c->error, "STS GetCallerIdentity",
                                 c->account, s_whoami_send, c);
    if (c->retry_timer)
      return;
    c->failed = true;
  }
  ops_engine_wait_done(&c->wait);
}

/* Starts (or starts again) GetCallerIdentity as c->source, once the send rate allows; a call
 * that cannot start ends the wait with its error. */
static void s_whoami_send(void *ud)
{
  struct s_sts_call *c = ud;
  struct s_aws *aws = c->aws;
  c->retry_timer = NULL;
  if ((c->retry_timer = s_sts_paced(c->source, s_whoami_send, c)))
    return;
  struct ops_error err;
  if (!s_usable(c->source, s_now(aws)))
    err = c->error; /* expired while waiting to try again: the last failure stands */
  else if (ops_sts_get_caller_identity(aws->sts, c->source->current, s_whoami_done, c, &c->call,
                                       &err) == 0)
    return;
  c->failed = true;
  c->error = err;
  ops_engine_wait_done(&c->wait);
}

static int s_whoami_done_k(lua_State *L, int status, lua_KContext ctx)
{
  (void)status;
  struct s_sts_call *c = (struct s_sts_call *)ctx;
  if (c->failed)
    return ops_lua_error_raise(L, &c->error, "whoami",
                               ops_engine_task_account(ops_engine_running_task(L)));
  struct s_aws *aws = s_aws_of(L);
  if (s_current(L, aws) == &aws->base)
    snprintf(aws->base_account, sizeof(aws->base_account), "%s", c->identity->account);
  lua_createtable(L, 0, 3);
  lua_pushstring(L, c->identity->account);
  lua_setfield(L, -2, "account");
  lua_pushstring(L, c->identity->arn);
  lua_setfield(L, -2, "arn");
  lua_pushstring(L, c->identity->user_id);
  lua_setfield(L, -2, "user_id");
  s_sts_call_release(c);
  return 1;
}

static int s_whoami_with_identity(lua_State *L, int status, lua_KContext ctx)
{
  (void)status, (void)ctx;
  struct s_aws *aws = s_aws_of(L);
  struct s_sts_call *c = lua_newuserdatauv(L, sizeof(*c), 0);
  memset(c, 0, sizeof(*c));
  luaL_setmetatable(L, CALL_METATABLE);
  c->wait.cancel = s_sts_call_cancel;
  c->aws = aws;
  c->source = s_current(L, aws);
  snprintf(c->account, sizeof(c->account), "%s",
           ops_engine_task_account(ops_engine_running_task(L)));
  s_whoami_send(c); /* a call that cannot start is done at once: k raises its error */
  return ops_engine_suspend(L, &c->wait, s_whoami_done_k, (lua_KContext)c);
}

static int identity_whoami(lua_State *L)
{
  return ops_identity_await(L, s_whoami_with_identity, 0);
}

/* ------------------------------------------------------------------ the main identity */

static int s_share_main(lua_State *L)
{
  struct s_aws *aws = s_aws_of(L);
  struct ops_task *task = ops_engine_running_task(L);
  aws->main_sharer = task;
  if (task) {
    ops_engine_set_task_context(task, aws->main_identity);
    ops_engine_set_task_account(task, aws->main_identity ? aws->main_identity->account : "");
  }
  return 0;
}

void ops_identity_share_main(lua_State *L)
{
  lua_pushcfunction(L, s_share_main);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK)
    lua_pop(L, 1); /* an unreadable region: the first AWS call raises it */
}

static int s_run_as_main_k(lua_State *L, int status, lua_KContext ctx)
{
  (void)status, (void)ctx;
  return lua_gettop(L);
}

int ops_identity_run_as_main(lua_State *L)
{
  ops_identity_share_main(L);
  lua_callk(L, lua_gettop(L) - 1, LUA_MULTRET, 0, s_run_as_main_k);
  return s_run_as_main_k(L, LUA_OK, 0);
}

void ops_identity_unshare_main(lua_State *L)
{
  if (lua_getfield(L, LUA_REGISTRYINDEX, AWS_KEY) == LUA_TUSERDATA)
    ((struct s_aws *)lua_touserdata(L, -1))->main_sharer = NULL;
  lua_pop(L, 1);
}

const char *ops_identity_main_account(lua_State *L)
{
  struct s_aws *aws = s_aws_of(L);
  return aws->main_identity ? aws->main_identity->account : aws->base_account;
}

static int identity_region(lua_State *L)
{
  lua_pushstring(L, ops_identity_region(L));
  return 1;
}

/* is_region(value): whether it is a string shaped like a region name (runtime/region.h), for
 * the Lua that takes regions from scripts (mcp.boto3, sweep). */
static int identity_is_region(lua_State *L)
{
  size_t len = 0;
  const char *name = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &len) : NULL;
  lua_pushboolean(L, name && strlen(name) == len && ops_region_is_name(name));
  return 1;
}

/* ------------------------------------------------------------------ for doctor */

static int s_source_k(lua_State *L, int status, lua_KContext ctx)
{
  (void)status, (void)ctx;
  lua_pushstring(L, s_current(L, s_aws_of(L))->current->source);
  return 1;
}

/* source() -> where the current identity's credentials come from (runtime/credentials.h's
 * description, never a secret: "environment", "profile ops in /root/.aws/credentials",
 * "role arn:aws:iam::..."), resolving them first; raises the credential error when there are
 * none. */
static int identity_source(lua_State *L)
{
  return ops_identity_await(L, s_source_k, 0);
}

#define SERVER_TIME_TIMEOUT_MS 10000

static int s_server_time_k(lua_State *L, int status, lua_KContext ctx)
{
  (void)status;
  struct s_aws *aws = s_aws_of(L);
  double now = s_now(aws);
  const struct ops_task_http *call = ops_task_http_result(ctx);
  if (call->failed)
    return ops_lua_error_raise(L, &call->error, NULL, NULL);
  const char *date = ops_http_response_header(&call->response, "Date");
  time_t server = date ? curl_getdate(date, NULL) : -1;
  if (server < 0) {
    struct ops_error err;
    ops_error_set(&err, OPS_ERR_TRANSPORT, "%s answered HTTP %ld without a valid Date header",
                  ops_sts_client_endpoint(aws->sts), call->response.status);
    return ops_lua_error_raise(L, &err, NULL, NULL);
  }
  lua_pushinteger(L, (lua_Integer)server);
  lua_pushnumber(L, now);
  lua_pushstring(L, ops_sts_client_endpoint(aws->sts));
  return 3;
}

/* server_time() -> the STS endpoint's clock (its Date header, whole epoch seconds), this
 * machine's clock when the answer arrived (epoch seconds), and the endpoint's URL. The request
 * is an unsigned GET, so that it tells the clocks apart even when the credentials (or the clock
 * itself, which SigV4 refuses beyond 5 minutes) are wrong; any answer carries a Date. */
static int identity_server_time(lua_State *L)
{
  struct s_aws *aws = s_aws_of(L);
  struct ops_http_request request = {.method = "GET",
                                     .url = ops_sts_client_endpoint(aws->sts),
                                     .timeout_ms = SERVER_TIME_TIMEOUT_MS,
                                     .max_response_bytes = 64 << 10};
  return ops_task_http(L, &request, s_server_time_k);
}

int luaopen_opsrun_identity(lua_State *L)
{
  static const struct {
    const char *name;
    lua_CFunction gc;
  } metatables[] = {
      {AWS_METATABLE, s_aws_gc}, {WAIT_METATABLE, s_wait_gc}, {CALL_METATABLE, s_sts_call_gc}};
  for (size_t i = 0; i < sizeof(metatables) / sizeof(*metatables); i++) {
    luaL_newmetatable(L, metatables[i].name);
    lua_pushcfunction(L, metatables[i].gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
  }
  static const luaL_Reg functions[] = {{"assume", identity_assume},
                                       {"whoami", identity_whoami},
                                       {"region", identity_region},
                                       {"is_region", identity_is_region},
                                       {"source", identity_source},
                                       {"server_time", identity_server_time},
                                       {NULL, NULL}};
  luaL_newlib(L, functions);
  return 1;
}
