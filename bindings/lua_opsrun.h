/* lua_opsrun.h: the `opsrun` Lua module: every name of SPEC section 4, built from the C bindings
 * and the Lua files compiled into the binary (bindings/lua/). The host opens it and copies
 * its fields into the globals; the same code is the `opsrun` Lua C module busted requires. */
#ifndef OPS_LUA_OPSRUN_H
#define OPS_LUA_OPSRUN_H

#include <lua.h>
#include <stdbool.h>

/* The registry field holding the private table the embedded Lua shares (commands, ...). */
#define OPS_PRIVATE_KEY "opsrun.private"

/* The module table (also package.loaded.opsrun). Needs the standard libraries opened. */
int luaopen_opsrun(lua_State *L);

/* Pushes private.<table>.<name>, running the embedded file named `table` first if it is on
 * demand and has not run yet (commands.lua makes private.commands, repl.lua private.repl). */
void ops_lua_private_get(lua_State *L, const char *field, const char *name);

/* The parts, each returning a table: log.* (with a private `notice`); the private primitives
 * of identity (assume, whoami, region: bindings/lua_identity.c) and mcp (request, close:
 * bindings/lua_mcp.c). */
int luaopen_opsrun_log(lua_State *L);
int luaopen_opsrun_identity(lua_State *L);
int luaopen_opsrun_mcp(lua_State *L);
/* The transports of `opsrun serve` (bindings/lua_serve.c): private.serve_io. */
int luaopen_opsrun_serve(lua_State *L);

/* The engine's Lua functions (bindings/lua_engine.c): a table with `sleep` and the private
 * primitives the embedded Lua uses (`group`, `note_failure`, `clock`, `status`, `interrupted`,
 * `interruption`, and `MAX_SECONDS`, lua_config.h's bound on timeouts). */
int luaopen_opsrun_engine(lua_State *L);

/* The registry's private primitives (bindings/lua_registry.c), each loading the registry on
 * first use and raising a `registry` error object (bindings/lua_error.h) when it is invalid or
 * not configured:
 *   accounts() -> array of the workload accounts after --shard, in registry order
 *   central()  -> the central account, or nil
 *   find(id)   -> the account with that id, central or workload, whatever the shard; or nil
 *   unlisted() -> the ids of the overlay entries Organizations did not list (--org), or {}
 * Each account is a fresh table {id, name, environment, role_name, regions, tags, external_id,
 * session_duration, index}: effective values, `index` its 0-based registry index. */
int luaopen_opsrun_registry(lua_State *L);

/* The private primitives of AWS Organizations as the account source
 * (bindings/lua_organizations.c):
 *   wanted()                  -> whether the accounts come from Organizations (--org, ...)
 *   load(caller, want_tags)   reads them once as the base identity, whose account is `caller`
 *                             (and their tags when want_tags), and installs them as the registry
 *   describe()                -> "AWS Organizations as ACCOUNT, read now: N ACTIVE accounts ..."
 *   ou_path(id)               -> the path of a root or OU, or nil
 *   ou_paths()                -> the paths of every root and OU, sorted */
int luaopen_opsrun_organizations(lua_State *L);

/* A Lua file of bindings/lua/, compiled in by bindings/embed_lua.cmake. */
struct ops_embedded_lua {
  const char *name;
  const char *source;
  unsigned long length;
  bool on_demand; /* run at its first private.require_file(name), not at start-up */
};

/* The files in load order, ending with a zeroed entry. */
extern const struct ops_embedded_lua ops_embedded_lua[];

#endif
