/* lua_registry.c: the Lua state's account registry: a per-state object (bindings/lua_aux.h) that
 * owns the struct ops_registry (runtime/registry.h) loaded from the run's configuration
 * (bindings/lua_config.h) and, when the accounts come from AWS Organizations, the registry made of
 * them (bindings/lua_organizations.c); and the primitives that push its accounts as fresh
 * tables. */
#include "bindings/lua_registry.h"

#include <lauxlib.h>
#include <string.h>

#include "bindings/lua_aux.h"
#include "bindings/lua_config.h"
#include "bindings/lua_error.h"
#include "bindings/lua_opsrun.h"
#include "runtime/registry.h"

/* The registries kept in the Lua state. */
struct s_holder {
  struct ops_registry *file;     /* the configured one; NULL when none is */
  struct ops_registry *overlaid; /* Organizations' accounts overlaid by `file`, once read */
  bool organizations;            /* the accounts come from Organizations */
};

static void s_holder_release(void *object)
{
  struct s_holder *holder = object;
  ops_registry_free(holder->file);
  ops_registry_free(holder->overlaid);
  holder->file = holder->overlaid = NULL;
}

/* Loads the configured registry, if one is: 0, or a negative enum ops_err with `err` filled. */
static int s_holder_init(lua_State *L, void *object, struct ops_error *err)
{
  struct s_holder *holder = object;
  const struct ops_config *config = ops_config_get(L);
  const struct ops_registry_options options = {.role_override = config->role,
                                               .organizations = config->org};
  int rc = config->registry_path
               ? ops_registry_load_file(config->registry_path, &options, &holder->file, err)
               : ops_registry_load_env(&options, &holder->file, err);
  holder->organizations =
      config->org || (holder->file && ops_registry_from_organizations(holder->file));
  return rc;
}

static const struct ops_lua_aux_state_type s_holder_type = {.name = "opsrun.Registry",
                                                            .size = sizeof(struct s_holder),
                                                            .init = s_holder_init,
                                                            .release = s_holder_release};

/* Loads the configured registry into L unless it is there. Returns 0 with *out the registry
 * (borrowed from L), or NULL when none is configured; or a negative enum ops_err with `err`
 * filled. */
static int s_load(lua_State *L, const struct ops_registry **out, struct ops_error *err)
{
  const struct s_holder *holder = ops_lua_aux_state_object(L, &s_holder_type, err);
  *out = holder ? holder->file : NULL;
  return holder ? 0 : err->kind;
}

/* The holder with the configured registry loaded; raises the registry error when it cannot be. */
static struct s_holder *s_holder_or_raise(lua_State *L)
{
  struct ops_error err = {0};
  struct s_holder *holder = ops_lua_aux_state_object(L, &s_holder_type, &err);
  if (!holder)
    ops_lua_error_raise(L, &err, NULL, NULL);
  return holder;
}

bool ops_lua_registry_wants_organizations(lua_State *L)
{
  return s_holder_or_raise(L)->organizations;
}

const struct ops_registry *ops_lua_registry_file(lua_State *L)
{
  return s_holder_or_raise(L)->file;
}

void ops_lua_registry_install(lua_State *L, struct ops_registry *overlaid)
{
  struct s_holder *holder = s_holder_or_raise(L);
  ops_registry_free(holder->overlaid);
  holder->overlaid = overlaid;
}

/* The registry the accounts are read from, loaded if need be; raises the registry error object
 * when it cannot be. */
static const struct ops_registry *s_registry_or_raise(lua_State *L)
{
  const struct s_holder *holder = s_holder_or_raise(L);
  const struct ops_registry *registry = holder->organizations ? holder->overlaid : holder->file;
  struct ops_error err = {0};
  if (holder->organizations && !registry)
    luaL_error(L, "the accounts of AWS Organizations are read by private.registry_ready() first");
  if (!registry) {
    ops_error_set(&err, OPS_ERR_REGISTRY, "%s", OPS_LUA_REGISTRY_NONE);
    ops_lua_error_raise(L, &err, NULL, NULL);
  }
  return registry;
}

static void s_set_integer(lua_State *L, const char *name, lua_Integer value)
{
  lua_pushinteger(L, value);
  lua_setfield(L, -2, name);
}

/* An account's text values, by their names in its table. */
static const struct ops_lua_aux_string_field s_string_fields[] = {
    OPS_LUA_AUX_STRING_FIELD(struct ops_registry_account, id, "id"),
    OPS_LUA_AUX_STRING_FIELD(struct ops_registry_account, name, "name"),
    OPS_LUA_AUX_STRING_FIELD(struct ops_registry_account, environment, "environment"),
    OPS_LUA_AUX_STRING_FIELD(struct ops_registry_account, role_name, "role_name"),
    OPS_LUA_AUX_STRING_FIELD(struct ops_registry_account, external_id, "external_id"),
    OPS_LUA_AUX_STRING_FIELD(struct ops_registry_account, ou, "ou"),
    OPS_LUA_AUX_STRING_FIELD(struct ops_registry_account, ou_path, "ou_path"),
};

static const struct ops_lua_aux_string_field s_hop_fields[] = {
    OPS_LUA_AUX_STRING_FIELD(struct ops_registry_hop, role, "role"),
    OPS_LUA_AUX_STRING_FIELD(struct ops_registry_hop, external_id, "external_id"),
};

/* regions: "enabled", or an array of names (empty: the operating region) */
static void s_push_regions(lua_State *L, const struct ops_registry_account *account)
{
  if (account->regions_enabled) {
    lua_pushliteral(L, "enabled");
    return;
  }
  lua_createtable(L, (int)account->region_count, 0);
  for (size_t i = 0; i < account->region_count; i++) {
    lua_pushstring(L, account->regions[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}

/* role_chain: an array of {role, external_id}, or nothing when the account has none */
static void s_set_role_chain(lua_State *L, const struct ops_registry_account *account)
{
  if (!account->role_chain_count)
    return;
  lua_createtable(L, (int)account->role_chain_count, 0);
  for (size_t i = 0; i < account->role_chain_count; i++) {
    lua_createtable(L, 0, 2);
    ops_lua_aux_set_strings(L, &account->role_chain[i], s_hop_fields,
                            sizeof(s_hop_fields) / sizeof(*s_hop_fields));
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "role_chain");
}

/* A fresh table of the account's effective values (SPEC section 4). */
static void s_push_account(lua_State *L, const struct ops_registry_account *account)
{
  lua_createtable(L, 0, 12);
  ops_lua_aux_set_strings(L, account, s_string_fields,
                          sizeof(s_string_fields) / sizeof(*s_string_fields));
  s_set_integer(L, "session_duration", account->session_duration);
  s_set_integer(L, "index", (lua_Integer)account->index);
  s_push_regions(L, account);
  lua_setfield(L, -2, "regions");
  s_set_role_chain(L, account);
  lua_createtable(L, 0, (int)account->tag_count);
  for (size_t i = 0; i < account->tag_count; i++)
    ops_lua_aux_set_string(L, account->tags[i].key, account->tags[i].value);
  lua_setfield(L, -2, "tags");
}

/* registry.accounts() -> the workload accounts of this run's shard, in registry order */
static int registry_accounts(lua_State *L)
{
  const struct ops_registry *registry = s_registry_or_raise(L);
  const struct ops_config *config = ops_config_get(L);
  const struct ops_registry_account **shard =
      lua_newuserdatauv(L, sizeof(*shard) * (ops_registry_count(registry) + 1), 0);
  size_t n = ops_registry_workloads(registry, config->shard_index, config->shard_count, shard);
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    s_push_account(L, shard[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/* registry.central() -> the central account, or nil */
static int registry_central(lua_State *L)
{
  const struct ops_registry_account *central = ops_registry_central(s_registry_or_raise(L));
  if (central)
    s_push_account(L, central);
  else
    lua_pushnil(L);
  return 1;
}

/* registry.find(id) -> the account with that id, central or workload, whatever the shard; or
 * nil (assume() takes an account's settings from here) */
static int registry_find(lua_State *L)
{
  const char *id = luaL_checkstring(L, 1);
  const struct ops_registry_account *account = ops_registry_find(s_registry_or_raise(L), id);
  if (account)
    s_push_account(L, account);
  else
    lua_pushnil(L);
  return 1;
}

/* registry.unlisted() -> the ids of the registry's entries that Organizations did not list (an
 * overlay's); {} otherwise */
static int registry_unlisted(lua_State *L)
{
  const struct ops_registry *registry = s_registry_or_raise(L);
  size_t count = ops_registry_unlisted_count(registry);
  lua_createtable(L, (int)count, 0);
  for (size_t i = 0; i < count; i++) {
    lua_pushstring(L, ops_registry_unlisted_id(registry, i));
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

int ops_lua_registry_preload(lua_State *L, struct ops_error *err)
{
  const struct ops_registry *registry = NULL;
  return s_load(L, &registry, err);
}

int luaopen_opsrun_registry(lua_State *L)
{
  static const luaL_Reg functions[] = {{"accounts", registry_accounts},
                                       {"central", registry_central},
                                       {"find", registry_find},
                                       {"unlisted", registry_unlisted},
                                       {NULL, NULL}};
  luaL_newlib(L, functions);
  return 1;
}
