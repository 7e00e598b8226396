/* lua_registry.h: the account registry (runtime/registry.h) as the Lua state's: loaded from the
 * run's configuration (bindings/lua_config.h) on first use, or at startup by the host, and kept
 * until the state closes. accounts() and central() (bindings/lua/accounts.lua) stand on its
 * primitives (luaopen_opsrun_registry, declared with the other parts in bindings/lua_opsrun.h). */
#ifndef OPS_LUA_REGISTRY_H
#define OPS_LUA_REGISTRY_H

#include <lua.h>
#include <stdbool.h>

#include "runtime/registry.h"

#include "runtime/error.h"

/* The message of the registry error raised when accounts() or central() is called and no
 * registry is configured. */
#define OPS_LUA_REGISTRY_NONE                                                                      \
  "no account registry: pass -r FILE or --org, or set OPSRUN_REGISTRY (a path), ACCOUNT_REGISTRY " \
  "(JSON text) or OPSRUN_ORG=1"

/* For the host at startup, after ops_config_store: loads and validates the configured registry
 * (registry_path, else $ACCOUNT_REGISTRY; effective role_name from `role`) and keeps it in L,
 * so that an invalid registry stops the run before the script starts. Returns 0 when it loaded
 * or when none is configured (a script may not need one), else a negative enum ops_err with
 * `err` filled: OPS_ERR_REGISTRY with the one-line message of runtime/registry.h, such as
 *   registry.json: /accounts/3/id: expected a string of exactly 12 digits, got "12345"
 * Raises only on a Lua memory error (call it under lua_pcall, as everything in the host). */
int ops_lua_registry_preload(lua_State *L, struct ops_error *err);

/* Whether the run's accounts come from AWS Organizations: --org, $OPSRUN_ORG, or a registry
 * saying "source": "organizations". Loads the configured registry first, raising its error. */
bool ops_lua_registry_wants_organizations(lua_State *L);

/* The configured registry (borrowed from L; NULL when none is), loaded first, raising its error:
 * with Organizations, the overlay of their accounts. */
const struct ops_registry *ops_lua_registry_file(lua_State *L);

/* Makes `overlaid` (Organizations' accounts overlaid by the configured registry; L takes it) the
 * registry the accounts are read from, replacing the one before. */
void ops_lua_registry_install(lua_State *L, struct ops_registry *overlaid);

#endif
