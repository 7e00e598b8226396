/* lua_opsrun.c: luaopen_opsrun assembles the module: the engine's sleep, log, json (lua-cjson), the
 * configuration, then each embedded Lua file, run as chunk(opsrun, private). */
#include "bindings/lua_opsrun.h"

#include <lauxlib.h>
#include <stdio.h>

#include "bindings/lua_config.h"
#include "bindings/lua_engine.h"
#include "bindings/lua_error.h"

/* private.notice = log.notice; removed from the public log table */
static void s_move_notice(lua_State *L, int module, int private)
{
  lua_getfield(L, module, "log");
  lua_getfield(L, -1, "notice");
  lua_setfield(L, private, "notice");
  lua_pushnil(L);
  lua_setfield(L, -2, "notice");
  lua_pop(L, 1);
}

/* private.error(fields, kind): makes the table `fields` an error object of `kind`, with the
 * running task's account unless it names one. */
static int opsrun_error(lua_State *L)
{
  luaL_checktype(L, 1, LUA_TTABLE);
  const char *kind = luaL_checkstring(L, 2);
  ops_lua_error_make(L, 1, kind, ops_engine_task_account(ops_engine_running_task(L)));
  lua_settop(L, 1);
  return 1;
}

static void s_run_embedded(lua_State *L, int module, int private)
{
  for (const struct ops_embedded_lua *file = ops_embedded_lua; file->name; file++) {
    char chunkname[128];
    snprintf(chunkname, sizeof(chunkname), "@opsrun/%s.lua", file->name);
    /* bytecode when the build precompiled it (bindings/embed_lua.cmake), else source */
    if (luaL_loadbufferx(L, file->source, file->length, chunkname, "bt") != LUA_OK)
      lua_error(L);
    lua_pushvalue(L, module);
    lua_pushvalue(L, private);
    lua_call(L, 2, 0);
  }
}

int luaopen_opsrun(lua_State *L)
{
  lua_newtable(L);
  int module = lua_gettop(L);
  luaopen_opsrun_engine(L);
  int private = lua_gettop(L);

  lua_getfield(L, private, "sleep");
  lua_setfield(L, module, "sleep");
  luaopen_opsrun_log(L);
  lua_setfield(L, module, "log");
  s_move_notice(L, module, private);
  lua_getglobal(L, "require");
  lua_pushstring(L, "cjson");
  lua_call(L, 1, 1);
  lua_setfield(L, module, "json");
  ops_config_push(L, ops_config_get(L));
  lua_setfield(L, private, "config");
  luaopen_opsrun_registry(L);
  lua_setfield(L, private, "registry");
  luaopen_opsrun_organizations(L);
  lua_setfield(L, private, "organizations");
  luaopen_opsrun_identity(L);
  lua_getfield(L, -1, "region");
  lua_setfield(L, private, "region");
  lua_setfield(L, private, "identity");
  luaopen_opsrun_mcp(L);
  lua_setfield(L, private, "mcp");
  lua_pushcfunction(L, opsrun_error);
  lua_setfield(L, private, "error");

  s_run_embedded(L, module, private);
  lua_pushvalue(L, private);
  lua_setfield(L, LUA_REGISTRYINDEX, OPS_PRIVATE_KEY);
  lua_settop(L, module);
  return 1;
}
