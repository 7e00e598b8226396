/* lua_mcp.c: the C half of `mcp`: one runtime/mcp.h client per Lua state, and the private
 * primitives mcp.lua builds mcp.call and mcp.tools on: a JSON-RPC request as the running task's
 * identity (a task wait), its result turned into Lua values straight from the jansson tree the
 * core parsed, closing an account's sessions when a sweep's work in it is done (release), and
 * closing the rest when opsrun exits, even after Ctrl-C or SIGTERM (then within
 * CLOSE_AFTER_INTERRUPT_MS).
 *
 * One JSON path: the params are written once (json.encode in mcp.lua, lua-cjson) and sent as
 * they are; the reply is parsed once, by jansson in the core, which must read it anyway (ids,
 * errors, sessions, event streams), and its result pushed from that tree. jansson rather than
 * lua-cjson throughout, because the core reads every reply without Lua (runtime/ has no Lua
 * state). The values are those lua-cjson's json.decode gave: every number a float, null as
 * json.null, tables built key by key in the reply's order, nesting up to its 1000 levels. */
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
#include "runtime/hash.h"
#include "runtime/mcp.h"

/* After an interrupt the sessions are still closed, but a user, or systemd waiting to send
 * SIGKILL (90 s by default, Kubernetes 30 s), should not wait long for it. */
#define CLOSE_AFTER_INTERRUPT_MS 2000

/* ------------------------------------------------------------------ the client of the state */

/* The owners (ops_identity_owner) of the roles of one account that made requests since the
 * account's sessions were last released: what release(account) closes. Usually one, the role a
 * sweep's tasks assume in that account. */
struct s_account_owners {
  char *account;
  size_t count;
  char **owners;
};

struct s_client {
  struct ops_mcp_client *mcp;
  struct ops_hash owners_by_account; /* account id -> struct s_account_owners (keyed by its own) */
};

static void s_account_owners_free(void *object)
{
  struct s_account_owners *owners = object;
  for (size_t i = 0; i < owners->count; i++)
    free(owners->owners[i]);
  free(owners->owners);
  free(owners->account);
  free(owners);
}

static int s_client_init(lua_State *L, void *object, struct ops_error *err)
{
  struct s_client *client = object;
  const struct ops_config *config = ops_config_get(L);
  struct ops_loop *loop = ops_engine_loop(ops_engine_of(L));
  struct ops_mcp_options options = {.url = config->mcp_url,
                                    .env = ops_env_process(),
                                    .region = ops_identity_region(L),
                                    .client_version = OPS_VERSION,
                                    .transport = ops_transport_http(loop),
                                    .clock = ops_clock_system(),
                                    .loop = loop,
                                    .signer = ops_identity_signer(L),
                                    .requests_per_second = config->mcp_requests_per_second,
                                    .close_concurrency = config->concurrency};
  return ops_mcp_client_new(&client->mcp, &options, err);
}

static void s_client_release(void *object)
{
  struct s_client *client = object;
  ops_mcp_client_free(client->mcp);
  client->mcp = NULL;
  ops_hash_clear_values(&client->owners_by_account, s_account_owners_free);
}

static const struct ops_lua_aux_state_type s_client_type = {.name = "opsrun.McpClient",
                                                            .size = sizeof(struct s_client),
                                                            .init = s_client_init,
                                                            .release = s_client_release};

/* L's client, made on first use; raises when it cannot be (an endpoint refused). */
static struct s_client *s_state_client(lua_State *L)
{
  struct ops_error err;
  struct s_client *client = ops_lua_aux_state_object(L, &s_client_type, &err);
  if (!client)
    ops_lua_error_raise(L, &err, "mcp", NULL);
  return client;
}

static struct ops_mcp_client *s_client_of(lua_State *L)
{
  return s_state_client(L)->mcp;
}

/* Notes that `owner` makes requests as a role of `account`, for release(account). Out of
 * memory, it is not noted: its session is then closed at exit, as any other. */
static void s_note_owner(struct s_client *client, const char *account, const char *owner)
{
  struct s_account_owners *owners = ops_hash_get(&client->owners_by_account, account);
  for (size_t i = 0; owners && i < owners->count; i++)
    if (strcmp(owners->owners[i], owner) == 0)
      return;
  if (!owners) {
    if (!(owners = calloc(1, sizeof(*owners))) || !(owners->account = strdup(account)) ||
        !ops_hash_put(&client->owners_by_account, owners->account, owners)) {
      if (owners)
        s_account_owners_free(owners);
      return;
    }
  }
  char **grown = realloc(owners->owners, (owners->count + 1) * sizeof(*grown));
  if (grown) {
    owners->owners = grown;
    if ((grown[owners->count] = strdup(owner)))
      owners->count++;
  }
}

/* ------------------------------------------------------------------ one request */

struct s_request {
  struct ops_wait wait;
  struct ops_mcp_call *call;
  json_t *result; /* a reference to the core's */
  bool failed;
  bool credentials_failed; /* the error is the identity's provider's */
  struct ops_error error;
};

static void s_request_release(struct ops_wait *wait)
{
  struct s_request *request = (struct s_request *)wait;
  if (request->call)
    ops_mcp_call_cancel(request->call);
  request->call = NULL;
  json_decref(request->result);
  request->result = NULL;
}

static void s_request_done(void *ud, json_t *result, const struct ops_error *err,
                           bool from_provider)
{
  struct s_request *request = ud;
  request->call = NULL;
  if (err) {
    request->failed = true;
    request->credentials_failed = from_provider;
    request->error = *err;
  } else {
    request->result = json_incref(result);
  }
  ops_engine_wait_done(&request->wait);
}

/* lua-cjson's decode_max_depth: a reply nested deeper is refused, as when lua-cjson decoded it. */
#define DECODE_MAX_DEPTH 1000

/* Pushes `value`, `depth` levels deep (the result is 1), as lua-cjson's decode would have; false
 * when it nests deeper than DECODE_MAX_DEPTH (what it pushed is left on the stack). */
static bool s_push_json(lua_State *L, json_t *value, int depth)
{
  switch (json_typeof(value)) {
  case JSON_OBJECT: {
    if (depth > DECODE_MAX_DEPTH)
      return false;
    luaL_checkstack(L, 3, "a deeply nested MCP reply");
    lua_newtable(L);
    const char *key;
    json_t *member;
    json_object_foreach(value, key, member)
    {
      lua_pushstring(L, key);
      if (!s_push_json(L, member, depth + 1))
        return false;
      lua_rawset(L, -3);
    }
    return true;
  }
  case JSON_ARRAY: {
    if (depth > DECODE_MAX_DEPTH)
      return false;
    luaL_checkstack(L, 2, "a deeply nested MCP reply");
    lua_newtable(L);
    size_t index;
    json_t *element;
    json_array_foreach(value, index, element)
    {
      if (!s_push_json(L, element, depth + 1))
        return false;
      lua_rawseti(L, -2, (lua_Integer)index + 1);
    }
    return true;
  }
  case JSON_STRING:
    lua_pushlstring(L, json_string_value(value), json_string_length(value));
    return true;
  case JSON_INTEGER: lua_pushnumber(L, (lua_Number)json_integer_value(value)); return true;
  case JSON_REAL: lua_pushnumber(L, json_real_value(value)); return true;
  case JSON_TRUE: lua_pushboolean(L, 1); return true;
  case JSON_FALSE: lua_pushboolean(L, 0); return true;
  case JSON_NULL: lua_pushlightuserdata(L, NULL); return true; /* lua-cjson's json.null */
  }
  return false;
}

/* The error of a result nested deeper than lua-cjson decodes, in lua-cjson's own words (which
 * say where), as before: the cold path asks it. */
static void s_too_deep(lua_State *L, json_t *result, const char *method, struct ops_error *err)
{
  char *text = json_dumps(result, JSON_COMPACT);
  if (!text) {
    ops_error_set(err, OPS_ERR_NOMEM, "out of memory reading an MCP reply");
    return;
  }
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "cjson");
  lua_getfield(L, -1, "decode");
  lua_pushstring(L, text);
  free(text);
  bool refused = lua_pcall(L, 1, 1, 0) != LUA_OK && lua_isstring(L, -1);
  ops_error_set(err, OPS_ERR_RPC, "%s: the server's reply cannot be decoded (%s)", method,
                refused ? lua_tostring(L, -1) : "nested too deeply");
  lua_pop(L, 3);
}

/* Pushes the result; a result nested too deeply fills `err` as an rpc error and pushes nothing. */
static bool s_push_result(lua_State *L, json_t *result, const char *method, struct ops_error *err)
{
  int top = lua_gettop(L);
  if (s_push_json(L, result, 1))
    return true;
  lua_settop(L, top);
  s_too_deep(L, result, method, err);
  return false;
}

/* The request's error: its identity's when no credentials could be had (for a role, assume()'s),
 * else the call's, in the running task's account. */
static int s_request_raise(lua_State *L, const struct ops_error *err, bool credentials_failed)
{
  if (credentials_failed)
    return ops_identity_raise_credentials_error(L, err);
  struct ops_error worded = *err;
  if (err->transport == OPS_TRANSPORT_CONNECT || err->transport == OPS_TRANSPORT_RESOLVE) {
    size_t used = strlen(worded.message); /* nothing was sent: say what chose where to */
    snprintf(worded.message + used, sizeof(worded.message) - used,
             "; check the MCP endpoint (--mcp-url, OPSRUN_MCP_URL) and the network");
  }
  return ops_lua_error_raise(L, &worded, "mcp",
                             ops_engine_task_account(ops_engine_running_task(L)));
}

static int s_request_done_k(lua_State *L, int status, lua_KContext ctx)
{
  (void)status;
  struct s_request *request = (struct s_request *)ctx;
  if (!request->failed && s_push_result(L, request->result, lua_tostring(L, 1), &request->error)) {
    s_request_release(&request->wait);
    return 1;
  }
  s_request_release(&request->wait);
  return s_request_raise(L, &request->error, request->credentials_failed);
}

/* request(method, params_json | nil, timeout_seconds) -> the result, decoded. The core borrows
 * the identity's provider and signs each attempt with what it holds then (fetching them first
 * when it holds none fresh: a failure is the identity's, assume()'s for a role). */
static int mcp_request(lua_State *L)
{
  luaL_checkstring(L, 1);
  luaL_optstring(L, 2, NULL);
  lua_Number timeout = luaL_checknumber(L, 3);
  luaL_argcheck(L, timeout > 0 && timeout <= OPS_MAX_SECONDS, 3,
                "timeout must be a positive number of seconds up to 1e9");
  lua_settop(L, 3);
  struct s_client *state = s_state_client(L); /* an endpoint refused: before credentials */
  struct ops_mcp_client *client = state->mcp;
  const char *account = ops_identity_account(L), *owner = ops_identity_owner(L);
  if (account)
    s_note_owner(state, account, owner);
  struct ops_mcp_request call = {.credentials = ops_identity_provider(L),
                                 .owner = owner,
                                 .method = lua_tostring(L, 1),
                                 .params_json = lua_tostring(L, 2),
                                 .timeout_ms = (long)(timeout * 1000.0)};
  struct s_request *request = ops_engine_wait_new(L, sizeof(*request), s_request_release);
  struct ops_error err;
  if (!(request->call = ops_mcp_call_start(client, &call, s_request_done, request, &err)))
    return s_request_raise(L, &err, false);
  return ops_engine_suspend(L, &request->wait, s_request_done_k, (lua_KContext)request);
}

/* offers_task_tools() -> whether the current identity's session is with a server that takes
 * task-augmented tools/call; false before its first request, or while its credentials are due
 * for refresh (the next request then opens the session of the new ones and says). */
static int mcp_offers_task_tools(lua_State *L)
{
  const struct ops_credentials *held = ops_credentials_provider_cached(ops_identity_provider(L));
  struct ops_sigv4_credentials credentials =
      held ? ops_credentials_for_signing(held) : (struct ops_sigv4_credentials){0};
  lua_pushboolean(L, held && ops_mcp_client_offers_task_tools(s_client_of(L), &credentials));
  return 1;
}

/* revision() -> the MCP revision the endpoint speaks ("2026-07-28", "2025-11-25"), or nil before
 * the first request found out. */
static int mcp_revision(lua_State *L)
{
  struct s_client *client = ops_lua_aux_state_find(L, &s_client_type);
  const char *revision = client ? ops_mcp_client_revision(client->mcp) : NULL;
  if (revision)
    lua_pushstring(L, revision);
  else
    lua_pushnil(L);
  return 1;
}

/* ------------------------------------------------------------------ closing */

/* release(account): no more work is coming for the roles of `account` (a sweep's last task in it
 * has ended): the session of each that made requests is closed once its requests have ended
 * (ops_mcp_client_close_owner), overlapping the others' work; a later request opens a new one. */
static int mcp_release(lua_State *L)
{
  const char *account = luaL_checkstring(L, 1);
  struct s_client *client = ops_lua_aux_state_find(L, &s_client_type);
  struct s_account_owners *owners =
      client ? ops_hash_remove(&client->owners_by_account, account) : NULL;
  if (!owners)
    return 0; /* no MCP request was made as a role of it */
  for (size_t i = 0; i < owners->count; i++)
    ops_mcp_client_close_owner(client->mcp, owners->owners[i]);
  s_account_owners_free(owners);
  return 0;
}

struct s_close {
  struct ops_wait wait;
  struct ops_mcp_client *client;
};

static void s_closed(void *ud)
{
  ops_engine_wait_done(&((struct s_close *)ud)->wait);
}

/* A signal while closing: the DELETEs still to come get CLOSE_AFTER_INTERRUPT_MS at most. */
static void s_close_interrupted(struct ops_wait *wait)
{
  ops_mcp_client_close_within(((struct s_close *)wait)->client, CLOSE_AFTER_INTERRUPT_MS);
}

static void s_close_release(struct ops_wait *wait)
{
  (void)wait; /* the DELETEs go on; the client is freed with the state */
}

static int s_close_k(lua_State *L, int status, lua_KContext ctx)
{
  (void)L, (void)status, (void)ctx;
  return 0;
}

/* close(): DELETE every session, waiting for the answers; after an interrupt too, but no
 * longer than CLOSE_AFTER_INTERRUPT_MS. */
static int mcp_close(lua_State *L)
{
  struct s_client *client = ops_lua_aux_state_find(L, &s_client_type);
  if (!client)
    return 0; /* no MCP call was made */
  struct s_close *close = ops_engine_wait_new(L, sizeof(*close), s_close_release);
  close->wait.survives_interrupt = true;
  close->wait.on_interrupt = s_close_interrupted;
  close->client = client->mcp;
  bool interrupted = ops_engine_interrupted(ops_engine_of(L));
  ops_mcp_client_close(close->client, interrupted ? CLOSE_AFTER_INTERRUPT_MS : 0, s_closed, close);
  return ops_engine_suspend(L, &close->wait, s_close_k, 0);
}

int luaopen_opsrun_mcp(lua_State *L)
{
  static const luaL_Reg functions[] = {
      {"request", mcp_request},   {"offers_task_tools", mcp_offers_task_tools},
      {"revision", mcp_revision}, {"release", mcp_release},
      {"close", mcp_close},       {NULL, NULL}};
  luaL_newlib(L, functions);
  return 1;
}
