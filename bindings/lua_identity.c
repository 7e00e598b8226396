/* lua_identity.c: who each task acts as, the Lua surface of assume() and whoami() (bindings/lua/
 * assume.lua). Each identity is a caching credentials provider of runtime/credentials.h: the
 * base credentials are cached(chain), each assumed role (per source identity, role ARN, external
 * id and place in a chain) cached(role(source)), the source being the base credentials or, in a
 * role chain, the role before; so the core fetches, shares, refreshes and retries them, and a
 * hop many chains share (a hub role) is assumed once for all of them; this file keeps
 * which identity each task acts as, waits for its credentials, and makes whoami()'s STS call
 * (retried on runtime/retry.h's policy with the identity's own quota and send rate, which its
 * AssumeRole shares). Also two primitives for `opsrun doctor` (bindings/lua/commands.lua):
 * where the credentials come from, and the STS server's clock; the operating region and the
 * region name check for the Lua that takes regions. */
#include "bindings/lua_identity.h"

#include <curl/curl.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bindings/lua_aux.h"
#include "bindings/lua_config.h"
#include "bindings/lua_engine.h"
#include "bindings/lua_error.h"
#include "bindings/lua_opsrun.h"
#include "bindings/lua_task_http.h"
#include "runtime/aws_config.h"
#include "runtime/credentials.h"
#include "runtime/hash.h"
#include "runtime/http.h"
#include "runtime/region.h"
#include "runtime/retry.h"
#include "runtime/sts.h"

struct s_aws;

/* The base credentials, or one assumed role. */
struct s_identity {
  struct s_aws *aws;
  struct ops_credentials_provider *provider; /* cached(...), owned */
  struct ops_credentials_provider *role;     /* the role provider inside; NULL for the base */
  struct s_identity *source; /* roles: whose credentials assume it (the base, or a chain's hop) */
  /* The retry quota and send rate of STS calls as this identity: its AssumeRole (the first step
   * of its account's work) and whoami() as it. One account's throttling never spends another's. */
  struct ops_retry *retry;
  /* roles only */
  char *account;   /* the account whose assume() made it (a chain's hops: the chain's account) */
  char *role_name; /* the role as assume() was given it: a name or an ARN */
  char *role_arn;
  char *external_id;
  char *label; /* a chain's hop: "hop K of N (role R)"; else NULL */
  /* role_arn, and the external id after a newline when there is one; for a role assumed with a
   * chain's hop, "\nvia " and that hop's owner after them */
  char *owner;
  char *key; /* its key in struct s_aws's roles_by_key (s_role_key) */
  /* The credentials last handed to a task acting as this identity (assume()'s expiry, doctor's
   * source), a copy of its own. */
  struct ops_credentials *handed;
  struct s_identity *next;
};

struct s_aws {
  struct ops_credentials_context context;
  struct ops_sts_client *sts;
  struct ops_retry *sts_retry; /* the retry settings each identity's quota is made like */
  struct ops_sigv4_signer *signer;
  char region[64];
  struct s_identity base;
  struct s_identity *roles;     /* newest first */
  struct ops_hash roles_by_key; /* the same roles, by s_role_key */
  char base_account[16];        /* the base credentials' account, once whoami() told it */
};

/* ------------------------------------------------------------------ the state's AWS objects */

/* What the state itself acts as, kept apart from struct s_aws so that running a chunk as the
 * state (ops_identity_run_as_main) makes no AWS object: a chunk that calls nothing of AWS never
 * reads the configuration nor sets up OpenSSL. */
struct s_main {
  struct s_identity *identity; /* what code outside any task acts as; NULL: the base */
  struct ops_task *sharer;     /* a task whose assume() sets identity too (the REPL's) */
};

static const struct ops_lua_aux_state_type s_main_type = {.name = "opsrun.MainIdentity",
                                                          .size = sizeof(struct s_main)};

static struct s_main *s_main_of(lua_State *L)
{
  return ops_lua_aux_state_object(L, &s_main_type, NULL);
}

static void s_identity_clear(struct s_identity *identity)
{
  ops_credentials_provider_free(identity->provider);
  ops_credentials_free(identity->handed);
  ops_retry_free(identity->retry);
  free(identity->account);
  free(identity->role_name);
  free(identity->role_arn);
  free(identity->external_id);
  free(identity->label);
  free(identity->owner);
  free(identity->key);
}

static void s_aws_release(void *object)
{
  struct s_aws *aws = object;
  while (aws->roles) {
    struct s_identity *role = aws->roles;
    aws->roles = role->next;
    s_identity_clear(role);
    free(role);
  }
  ops_hash_clear(&aws->roles_by_key);
  s_identity_clear(&aws->base);
  ops_sts_client_free(aws->sts);
  ops_retry_free(aws->sts_retry);
  ops_sigv4_signer_free(aws->signer);
  memset(aws, 0, sizeof(*aws));
}

/* The base identity: the credential chain (--profile), cached. */
static int s_base_init(struct s_aws *aws, const char *profile, struct ops_error *err)
{
  struct ops_credentials_provider *chain = NULL;
  aws->base.aws = aws;
  if (!(aws->base.retry = ops_retry_new_like(aws->sts_retry)))
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  int rc = ops_credentials_provider_chain_new(&chain, &aws->context, profile, err);
  if (rc == OPS_OK)
    rc = ops_credentials_provider_cached_new(&aws->base.provider, &aws->context, chain,
                                             "the base credentials", err);
  return rc;
}

/* The CA bundle the configuration names (AWS_CA_BUNDLE, else the profile's ca_bundle), trusted
 * by every transfer of the process from now on: STS, MCP, Organizations, SSO all start here. */
static int s_use_ca_bundle(const struct ops_env *env, const char *profile, struct ops_error *err)
{
  char path[4096], source[512];
  int rc = ops_aws_config_ca_bundle(env, profile, path, sizeof(path), source, sizeof(source), err);
  if (rc == OPS_OK && path[0])
    rc = ops_http_set_ca_bundle(path, source, err);
  return rc;
}

static int s_aws_init(lua_State *L, void *object, struct ops_error *err)
{
  struct s_aws *aws = object;
  const struct ops_config *config = ops_config_get(L);
  struct ops_loop *loop = ops_engine_loop(ops_engine_of(L));
  aws->context = (struct ops_credentials_context){.loop = loop,
                                                  .transport = ops_transport_http(loop),
                                                  .clock = ops_clock_system(),
                                                  .env = ops_env_process(),
                                                  .prompt = ops_credentials_prompt_terminal};
  if (config->region)
    snprintf(aws->region, sizeof(aws->region), "%s", config->region);
  else if (ops_aws_config_region(&aws->context.env, config->profile, aws->region,
                                 sizeof(aws->region), err) != OPS_OK)
    return err->kind;
  if (s_use_ca_bundle(&aws->context.env, config->profile, err) != OPS_OK)
    return err->kind;
  aws->context.region = aws->region;
  struct ops_sts_options sts = {.transport = aws->context.transport,
                                .clock = aws->context.clock,
                                .env = aws->context.env,
                                .region = aws->region};
  struct ops_retry_options retry = {.env = aws->context.env};
  int rc = ops_sigv4_signer_new(&aws->signer, 0, err);
  if (rc == OPS_OK)
    rc = ops_sts_client_new(&aws->sts, &sts, err);
  if (rc == OPS_OK)
    rc = ops_retry_new(&aws->sts_retry, &retry, err);
  if (rc == OPS_OK)
    rc = s_base_init(aws, config->profile, err);
  return rc;
}

static const struct ops_lua_aux_state_type s_aws_type = {.name = "opsrun.Aws",
                                                         .size = sizeof(struct s_aws),
                                                         .init = s_aws_init,
                                                         .release = s_aws_release};

/* L's AWS objects, made on first use; raises when they cannot be (an unreadable region). */
static struct s_aws *s_aws_of(lua_State *L)
{
  struct ops_error err;
  struct s_aws *aws = ops_lua_aux_state_object(L, &s_aws_type, &err);
  if (!aws)
    ops_lua_error_raise(L, &err, NULL, NULL);
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
static struct s_identity *s_current(lua_State *L, struct s_aws *aws)
{
  struct ops_task *task = ops_engine_running_task(L);
  struct s_identity *identity = task ? ops_engine_task_context(task) : s_main_of(L)->identity;
  return identity ? identity : &aws->base;
}

static void s_set_current(lua_State *L, struct s_identity *identity)
{
  struct ops_task *task = ops_engine_running_task(L);
  struct s_main *main = s_main_of(L);
  if (task) {
    ops_engine_set_task_context(task, identity);
    ops_engine_set_task_account(task, identity->account);
  }
  if (!task || task == main->sharer)
    main->identity = identity;
}

struct ops_credentials_provider *ops_identity_provider(lua_State *L)
{
  return s_current(L, s_aws_of(L))->provider;
}

const char *ops_identity_owner(lua_State *L)
{
  const struct s_identity *identity = s_current(L, s_aws_of(L));
  return identity->role ? identity->owner : "base";
}

const char *ops_identity_account(lua_State *L)
{
  const struct s_identity *identity = s_current(L, s_aws_of(L));
  return identity->role ? identity->account : NULL;
}

/* A failure to get an identity's credentials: a role's is assume()'s, in its account. */
static int s_raise_credentials_error(lua_State *L, const struct s_identity *identity,
                                     const struct ops_error *err)
{
  if (identity->role)
    return ops_lua_error_raise(L, err, "assume", identity->account);
  return ops_lua_error_raise(L, err, NULL, ops_engine_task_account(ops_engine_running_task(L)));
}

int ops_identity_raise_credentials_error(lua_State *L, const struct ops_error *err)
{
  return s_raise_credentials_error(L, s_current(L, s_aws_of(L)), err);
}

/* Keeps `credentials` (ownership taken) as those the identity last handed to a task. */
static void s_hand_over(struct s_identity *identity, struct ops_credentials *credentials)
{
  ops_credentials_free(identity->handed);
  identity->handed = credentials;
}

/* ------------------------------------------------------------------ waiting for credentials */

struct s_identity_wait {
  struct ops_wait wait;
  struct s_identity *identity;
  struct ops_credentials_fetch *fetch;
  struct ops_credentials *credentials;
  struct ops_error error;
  lua_KFunction k;
  lua_KContext ctx;
};

static void s_identity_got(struct ops_credentials *credentials, const struct ops_error *err,
                           void *ud)
{
  struct s_identity_wait *w = ud;
  w->fetch = NULL;
  w->credentials = credentials;
  if (err)
    w->error = *err;
  ops_engine_wait_done(&w->wait);
}

static void s_identity_release(struct ops_wait *wait)
{
  struct s_identity_wait *w = (struct s_identity_wait *)wait;
  if (w->fetch)
    ops_credentials_fetch_cancel(w->fetch);
  w->fetch = NULL;
  ops_credentials_free(w->credentials);
  w->credentials = NULL;
}

static int s_identity_k(lua_State *L, int status, lua_KContext ctx)
{
  struct s_identity_wait *w = (struct s_identity_wait *)ctx;
  if (!w->credentials)
    return s_raise_credentials_error(L, w->identity, &w->error);
  s_hand_over(w->identity, w->credentials);
  w->credentials = NULL;
  return w->k(L, status, w->ctx);
}

/* Continues in k once `identity` has credentials that are fresh now: at once when its cache
 * holds them, else after a fetch (suspending the task); raises when the fetch fails. */
static int s_await(lua_State *L, struct s_identity *identity, lua_KFunction k, lua_KContext ctx)
{
  const struct ops_credentials *cached = ops_credentials_provider_cached(identity->provider);
  if (cached) {
    struct ops_credentials *copy = NULL;
    struct ops_error err;
    if (ops_credentials_copy(&copy, cached, &err) != OPS_OK)
      return s_raise_credentials_error(L, identity, &err);
    s_hand_over(identity, copy);
    return k(L, LUA_OK, ctx);
  }
  struct s_identity_wait *w = ops_engine_wait_new(L, sizeof(*w), s_identity_release);
  w->identity = identity;
  w->k = k;
  w->ctx = ctx;
  struct ops_error err;
  if (!(w->fetch = ops_credentials_provider_get(identity->provider, s_identity_got, w, &err)))
    return s_raise_credentials_error(L, identity, &err);
  return ops_engine_suspend(L, &w->wait, s_identity_k, (lua_KContext)w);
}

/* ------------------------------------------------------------------ assume */

/* What tells one assumed role from another: its source identity, role ARN, external id and
 * label (a missing one as an empty one), the ARN's and external id's lengths first so no two
 * differ only in where one ends; NULL when out of memory. */
static char *s_role_key(const struct s_identity *source,
                        const struct ops_credentials_role_config *config)
{
  const char *external_id = config->external_id ? config->external_id : "";
  const char *label = config->label ? config->label : "";
  const char *format = "%p\n%zu:%s\n%zu:%s\n%s";
  size_t arn_len = strlen(config->role_arn), external_id_len = strlen(external_id);
  int len = snprintf(NULL, 0, format, (const void *)source, arn_len, config->role_arn,
                     external_id_len, external_id, label);
  char *key = len < 0 ? NULL : malloc((size_t)len + 1);
  if (key)
    snprintf(key, (size_t)len + 1, format, (const void *)source, arn_len, config->role_arn,
             external_id_len, external_id, label);
  return key;
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

/* The identity's owner (struct s_identity): who its credentials belong to. */
static char *s_owner(const struct ops_credentials_role_config *config,
                     const struct s_identity *source)
{
  const char *external_id = config->external_id;
  bool chained = source->role != NULL;
  size_t len = strlen(config->role_arn) + 2 + (external_id ? strlen(external_id) : 0) +
               (chained ? strlen(source->owner) + 5 : 0);
  char *owner = malloc(len);
  if (owner)
    snprintf(owner, len, "%s%s%s%s%s", config->role_arn, external_id ? "\n" : "",
             external_id ? external_id : "", chained ? "\nvia " : "", chained ? source->owner : "");
  return owner;
}

/* The role's strings, and its provider: cached(role(source)) with the identity's own quota. */
static int s_role_init(struct s_identity *role, struct s_identity *source,
                       const struct ops_credentials_role_config *config, const char *account,
                       const char *role_name, struct ops_error *err)
{
  struct s_aws *aws = source->aws;
  bool ok = true;
  role->aws = aws;
  role->source = source;
  role->account = ops_credentials_dup_optional(account, &ok);
  role->role_name = ops_credentials_dup_optional(role_name, &ok);
  role->role_arn = ops_credentials_dup_optional(config->role_arn, &ok);
  role->external_id = ops_credentials_dup_optional(config->external_id, &ok);
  role->label = ops_credentials_dup_optional(config->label, &ok);
  role->owner = s_owner(config, source);
  role->retry = ops_retry_new_like(aws->sts_retry);
  if (!ok || !role->owner || !role->retry)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  struct ops_credentials_role_config lent = *config;
  lent.sts = aws->sts;
  lent.retry = role->retry;
  int rc =
      ops_credentials_provider_role_new(&role->role, &aws->context, source->provider, &lent, err);
  if (rc == OPS_OK)
    rc = ops_credentials_provider_cached_new(&role->provider, &aws->context, role->role, NULL, err);
  return rc;
}

/* A new role, known by `key` (taken: freed on failure) in its state's roles_by_key; NULL with
 * `err` set when it cannot be made. */
static struct s_identity *s_role_new(struct s_identity *source,
                                     const struct ops_credentials_role_config *config,
                                     const char *account, const char *role_name, char *key,
                                     struct ops_error *err)
{
  struct s_identity *role = calloc(1, sizeof(*role));
  if (!role) {
    free(key);
    ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
    return NULL;
  }
  role->key = key;
  int rc = s_role_init(role, source, config, account, role_name, err);
  if (rc == OPS_OK && !ops_hash_put(&source->aws->roles_by_key, key, role))
    rc = ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  if (rc != OPS_OK) {
    s_identity_clear(role);
    free(role);
    return NULL;
  }
  return role;
}

/* The role assumed with `source`'s credentials as `config` says, made on first use; raises
 * assume()'s error in `account` when it cannot be. */
static struct s_identity *s_role_of(lua_State *L, struct s_identity *source,
                                    const struct ops_credentials_role_config *config,
                                    const char *account, const char *role_name)
{
  struct s_aws *aws = source->aws;
  char *key = s_role_key(source, config);
  if (!key)
    luaL_error(L, "out of memory");
  struct s_identity *role = ops_hash_get(&aws->roles_by_key, key);
  if (role) {
    free(key);
    return role;
  }
  struct ops_error err;
  if (!(role = s_role_new(source, config, account, role_name, key, &err)))
    ops_lua_error_raise(L, &err, "assume", account);
  role->next = aws->roles;
  aws->roles = role;
  return role;
}

/* {account, arn, role, expires} of the role now acted as */
static int s_assume_k(lua_State *L, int status, lua_KContext ctx)
{
  (void)status;
  struct s_identity *role = (struct s_identity *)ctx;
  const char *arn = ops_credentials_role_assumed_arn(role->role);
  s_set_current(L, role);
  lua_createtable(L, 0, 4);
  ops_lua_aux_set_string(L, "account", role->account);
  ops_lua_aux_set_string(L, "arn", arn ? arn : "");
  ops_lua_aux_set_string(L, "role", role->role_name);
  lua_pushinteger(L, role->handed->expiration);
  lua_setfield(L, -2, "expires");
  return 1;
}

/* STS refuses a DurationSeconds above one hour for a session assumed with another role's
 * ("Role chaining limits your AWS CLI or AWS API role session to a maximum of one hour", IAM
 * User Guide, "Methods to assume a role"): the hops after the first are lowered to it. */
#define CHAINED_MAX_DURATION 3600

/* One hop of assume()'s chain, read from the Lua table at the top of the stack. */
struct s_hop {
  struct ops_credentials_role_config config;
  const char *role; /* as given: a name or an ARN */
  char arn[2100];
  char label[2200];
};

/* Hop `k` (1-based) of `n` for `account`, from the table at the top of L's stack (its strings
 * stay there). Raises assume()'s error when STS would refuse it. */
static void s_hop_read(lua_State *L, struct s_hop *hop, int k, int n, const char *account,
                       const char *session_name, int duration)
{
  struct s_aws *aws = s_aws_of(L);
  lua_getfield(L, -1, "role");
  lua_getfield(L, -2, "external_id");
  hop->role = luaL_checkstring(L, -2);
  const char *external_id = luaL_optstring(L, -1, NULL);
  if (strncmp(hop->role, "arn:", 4) == 0)
    snprintf(hop->arn, sizeof(hop->arn), "%s", hop->role);
  else
    snprintf(hop->arn, sizeof(hop->arn), "arn:%s:iam::%s:role/%s", s_partition(aws->region),
             account, hop->role);
  snprintf(hop->label, sizeof(hop->label), "hop %d of %d (role %s)", k, n, hop->role);
  hop->config = (struct ops_credentials_role_config){
      .role_arn = hop->arn,
      .session_name = k == n ? session_name : NULL, /* a hop between: opsrun-EPOCH */
      .external_id = external_id,
      .duration_seconds =
          k > 1 && duration > CHAINED_MAX_DURATION ? CHAINED_MAX_DURATION : duration,
      .label = n > 1 ? hop->label : NULL};
  struct ops_sts_assume_role_params params = {.role_arn = hop->arn,
                                              .role_session_name =
                                                  k == n ? session_name : "opsrun-0",
                                              .external_id = external_id,
                                              .duration_seconds = hop->config.duration_seconds};
  struct ops_error err, labelled;
  if (ops_sts_validate_assume_role(&params, &err) == 0)
    return;
  if (hop->config.label) {
    ops_error_set(&labelled, err.kind, "%s: %s", hop->label, err.message);
    memcpy(err.message, labelled.message, sizeof(err.message));
  }
  ops_lua_error_raise(L, &err, "assume", account);
}

/* assume(account_id, hops, session_name, duration|0): hops is an array of {role, external_id},
 * the last being the role in the account; each is assumed with the session of the one before
 * (the first with the base credentials). */
static int identity_assume(lua_State *L)
{
  struct s_aws *aws = s_aws_of(L);
  const char *account = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  const char *session_name = luaL_checkstring(L, 3);
  int duration = (int)luaL_optinteger(L, 4, 0);
  int n = (int)luaL_len(L, 2);
  luaL_argcheck(L, n >= 1, 2, "at least one role expected");
  struct s_hop *hop = lua_newuserdatauv(L, sizeof(*hop), 0);
  struct s_identity *identity = &aws->base;
  for (int k = 1; k <= n; k++) {
    lua_geti(L, 2, k);
    luaL_argcheck(L, lua_istable(L, -1), 2, "an array of {role, external_id} expected");
    s_hop_read(L, hop, k, n, account, session_name, duration);
    identity = s_role_of(L, identity, &hop->config, account, hop->role);
    lua_pop(L, 3);
  }
  return s_await(L, identity, s_assume_k, (lua_KContext)identity);
}

/* ------------------------------------------------------------------ whoami */

/* GetCallerIdentity as one identity, with its retries: each attempt signs with the identity's
 * credentials of its time. */
struct s_sts_call {
  struct ops_wait wait;
  struct s_identity *identity;
  char account[32]; /* the task's, for the log and the error */
  struct ops_credentials_fetch *fetch;
  struct ops_sts_call *call;
  struct ops_retry_request attempts;
  struct ops_timer *retry_timer;
  struct ops_sts_identity *answer;
  bool failed;
  bool credentials_failed; /* the error is the identity's, not STS's */
  struct ops_error error;
};

static void s_sts_call_release(struct ops_wait *wait)
{
  struct s_sts_call *c = (struct s_sts_call *)wait;
  if (c->fetch)
    ops_credentials_fetch_cancel(c->fetch);
  c->fetch = NULL;
  if (c->call)
    ops_sts_call_cancel(c->call);
  c->call = NULL;
  if (c->retry_timer)
    ops_loop_timer_cancel(c->identity->aws->context.loop, c->retry_timer);
  c->retry_timer = NULL;
  ops_sts_identity_free(c->answer);
  c->answer = NULL;
}

static void s_whoami_fail(struct s_sts_call *c, const struct ops_error *err, bool credentials)
{
  c->failed = true;
  c->credentials_failed = credentials;
  c->error = *err;
  ops_engine_wait_done(&c->wait);
}

static void s_whoami_attempt(void *ud);

static void s_whoami_answered(struct ops_sts_identity *answer, const struct ops_error *err,
                              void *ud)
{
  struct s_sts_call *c = ud;
  struct s_identity *identity = c->identity;
  c->call = NULL;
  ops_retry_observe(identity->retry, !answer && err->kind == OPS_ERR_THROTTLED);
  if (answer) {
    ops_retry_succeeded(identity->retry, &c->attempts);
    c->answer = answer;
    ops_engine_wait_done(&c->wait);
    return;
  }
  struct ops_error failure = *err;
  struct ops_retry_timer timer = {.loop = identity->aws->context.loop,
                                  .fire = s_whoami_attempt,
                                  .ud = c,
                                  .what = "STS GetCallerIdentity",
                                  .account = c->account};
  if (!(c->retry_timer = ops_retry_schedule(identity->retry, &c->attempts, ops_retry_classify(err),
                                            -1, &failure, &timer)))
    s_whoami_fail(c, &failure, false);
}

static void s_whoami_send(struct s_sts_call *c, const struct ops_credentials *credentials)
{
  struct ops_error err;
  if (ops_sts_get_caller_identity(c->identity->aws->sts, credentials, s_whoami_answered, c,
                                  &c->call, &err) != OPS_OK)
    s_whoami_fail(c, &err, false);
}

static void s_whoami_credentials(struct ops_credentials *credentials, const struct ops_error *err,
                                 void *ud)
{
  struct s_sts_call *c = ud;
  c->fetch = NULL;
  if (!credentials) {
    s_whoami_fail(c, err, true);
    return;
  }
  s_whoami_send(c, credentials);
  ops_credentials_free(credentials);
}

/* An attempt, once the identity's send rate allows: with its cached credentials at once, else
 * after fetching them. */
static void s_whoami_attempt(void *ud)
{
  struct s_sts_call *c = ud;
  struct s_identity *identity = c->identity;
  struct ops_retry_timer timer = {
      .loop = identity->aws->context.loop, .fire = s_whoami_attempt, .ud = c};
  c->retry_timer = NULL;
  if ((c->retry_timer = ops_retry_pace(identity->retry, &timer)))
    return;
  const struct ops_credentials *cached = ops_credentials_provider_cached(identity->provider);
  struct ops_error err;
  if (cached)
    s_whoami_send(c, cached);
  else if (!(c->fetch =
                 ops_credentials_provider_get(identity->provider, s_whoami_credentials, c, &err)))
    s_whoami_fail(c, &err, true);
}

/* The answer of a finished GetCallerIdentity (the base identity's account noted), or its error
 * raised. */
static const struct ops_sts_identity *s_whoami_answer(lua_State *L, struct s_sts_call *c)
{
  if (c->failed && c->credentials_failed)
    s_raise_credentials_error(L, c->identity, &c->error);
  if (c->failed)
    ops_lua_error_raise(L, &c->error, "whoami", c->account);
  struct s_aws *aws = c->identity->aws;
  if (c->identity == &aws->base)
    snprintf(aws->base_account, sizeof(aws->base_account), "%s", c->answer->account);
  return c->answer;
}

static int s_whoami_k(lua_State *L, int status, lua_KContext ctx)
{
  (void)status;
  struct s_sts_call *c = (struct s_sts_call *)ctx;
  const struct ops_sts_identity *answer = s_whoami_answer(L, c);
  lua_createtable(L, 0, 3);
  ops_lua_aux_set_string(L, "account", answer->account);
  ops_lua_aux_set_string(L, "arn", answer->arn);
  ops_lua_aux_set_string(L, "user_id", answer->user_id);
  s_sts_call_release(&c->wait);
  return 1;
}

/* GetCallerIdentity as `identity`, continued in k. */
static int s_whoami_as(lua_State *L, struct s_identity *identity, lua_KFunction k)
{
  struct s_sts_call *c = ops_engine_wait_new(L, sizeof(*c), s_sts_call_release);
  c->identity = identity;
  snprintf(c->account, sizeof(c->account), "%s",
           ops_engine_task_account(ops_engine_running_task(L)));
  s_whoami_attempt(c); /* a call that cannot start is done at once: k raises its error */
  return ops_engine_suspend(L, &c->wait, k, (lua_KContext)c);
}

static int identity_whoami(lua_State *L)
{
  return s_whoami_as(L, s_current(L, s_aws_of(L)), s_whoami_k);
}

static int s_base_account_k(lua_State *L, int status, lua_KContext ctx)
{
  (void)status;
  struct s_sts_call *c = (struct s_sts_call *)ctx;
  lua_pushstring(L, s_whoami_answer(L, c)->account);
  s_sts_call_release(&c->wait);
  return 1;
}

/* base_account() -> the account of the base credentials, whatever the task acts as: asked of STS
 * once a run. */
static int identity_base_account(lua_State *L)
{
  struct s_aws *aws = s_aws_of(L);
  if (aws->base_account[0]) {
    lua_pushstring(L, aws->base_account);
    return 1;
  }
  return s_whoami_as(L, &aws->base, s_base_account_k);
}

struct ops_credentials_provider *ops_identity_base_provider(lua_State *L)
{
  return s_aws_of(L)->base.provider;
}

/* ------------------------------------------------------------------ the main identity */

void ops_identity_share_main(lua_State *L)
{
  struct s_main *main = s_main_of(L);
  struct ops_task *task = ops_engine_running_task(L);
  main->sharer = task;
  if (task) {
    ops_engine_set_task_context(task, main->identity);
    ops_engine_set_task_account(task, main->identity ? main->identity->account : "");
  }
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
  s_main_of(L)->sharer = NULL;
}

const char *ops_identity_main_account(lua_State *L)
{
  struct s_identity *identity = s_main_of(L)->identity;
  return identity ? identity->account : s_aws_of(L)->base_account;
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
  struct s_aws *aws = s_aws_of(L);
  lua_pushstring(L, s_current(L, aws)->handed->source);
  return 1;
}

/* source() -> where the current identity's credentials come from (runtime/credentials.h's
 * description, never a secret: "environment", "profile ops in /root/.aws/credentials",
 * "role arn:aws:iam::..."), resolving them first; raises the credential error when there are
 * none. */
static int identity_source(lua_State *L)
{
  return s_await(L, s_current(L, s_aws_of(L)), s_source_k, 0);
}

#define SERVER_TIME_TIMEOUT_MS 10000

static int s_server_time_k(lua_State *L, int status, lua_KContext ctx)
{
  (void)status;
  struct s_aws *aws = s_aws_of(L);
  double now = aws->context.clock.now(aws->context.clock.self);
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
  static const luaL_Reg functions[] = {{"assume", identity_assume},
                                       {"whoami", identity_whoami},
                                       {"base_account", identity_base_account},
                                       {"region", identity_region},
                                       {"is_region", identity_is_region},
                                       {"source", identity_source},
                                       {"server_time", identity_server_time},
                                       {NULL, NULL}};
  luaL_newlib(L, functions);
  return 1;
}
