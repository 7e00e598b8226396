/* lua_registry.h: the account registry (runtime/registry.h) as the Lua state's: loaded from the
 * run's configuration (bindings/lua_config.h) on first use, or at startup by the host, and kept
 * until the state closes. accounts() and central() (bindings/lua/accounts.lua) stand on its
 * primitives (luaopen_opsrun_registry, declared with the other parts in bindings/lua_opsrun.h). */
#ifndef OPS_LUA_REGISTRY_H
#define OPS_LUA_REGISTRY_H

#include <lua.h>

#include "runtime/error.h"

/* The message of the registry error raised when accounts() or central() is called and no
 * registry is configured. */
#define OPS_LUA_REGISTRY_NONE                                                                      \
  "no account registry: pass -r FILE, or set OPSRUN_REGISTRY (a path) or ACCOUNT_REGISTRY (JSON "  \
  "text)"

/* For the host at startup, after ops_config_store: loads and validates the configured registry
 * (registry_path, else $ACCOUNT_REGISTRY; effective role_name from `role`) and keeps it in L,
 * so that an invalid registry stops the run before the script starts. Returns 0 when it loaded
 * or when none is configured (a script may not need one), else a negative enum ops_err with
 * `err` filled: OPS_ERR_REGISTRY with the one-line message of runtime/registry.h, such as
 *   registry.json: /accounts/3/id: expected a string of exactly 12 digits, got "12345"
 * Raises only on a Lua memory error (call it under lua_pcall, as everything in the host). */
int ops_lua_registry_preload(lua_State *L, struct ops_error *err);

#endif
