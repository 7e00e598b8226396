/* lua_opsrun.c: luaopen_opsrun assembles the module: the engine's sleep, log, json (lua-cjson), the
 * configuration, then each embedded Lua file, run as chunk(opsrun, private): at start-up, or for
 * the files built on demand (the large ones few runs need), at private.require_file(name). */
#include "bindings/lua_opsrun.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

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

/* Runs an embedded file as chunk(opsrun, private). */
static void s_run_embedded(lua_State *L, const struct ops_embedded_lua *file, int module,
                           int private)
{
  char chunkname[128];
  snprintf(chunkname, sizeof(chunkname), "@opsrun/%s.lua", file->name);
  /* bytecode when the build precompiled it (bindings/embed_lua.cmake), else source */
  if (luaL_loadbufferx(L, file->source, file->length, chunkname, "bt") != LUA_OK)
    lua_error(L);
  lua_pushvalue(L, module);
  lua_pushvalue(L, private);
  lua_call(L, 2, 0);
}

/* private.require_file(name): runs the embedded file `name` unless it has run (files not on
 * demand run at start-up). Upvalues: the module, private, and the set of the files run. */
static int opsrun_require_file(lua_State *L)
{
  const char *name = luaL_checkstring(L, 1);
  if (lua_getfield(L, lua_upvalueindex(3), name) != LUA_TNIL)
    return 0;
  const struct ops_embedded_lua *file = ops_embedded_lua;
  while (file->name && strcmp(file->name, name) != 0)
    file++;
  luaL_argcheck(L, file->name, 1, "no such embedded file");
  s_run_embedded(L, file, lua_upvalueindex(1), lua_upvalueindex(2));
  lua_pushboolean(L, 1);
  lua_setfield(L, lua_upvalueindex(3), name);
  return 0;
}

/* Runs every file not on demand, in order, and sets private.require_file. */
static void s_run_embedded_files(lua_State *L, int module, int private)
{
  lua_pushvalue(L, module);
  lua_pushvalue(L, private);
  lua_newtable(L);
  int run = lua_gettop(L);
  for (const struct ops_embedded_lua *file = ops_embedded_lua; file->name; file++) {
    if (file->on_demand)
      continue;
    s_run_embedded(L, file, module, private);
    lua_pushboolean(L, 1);
    lua_setfield(L, run, file->name);
  }
  lua_pushcclosure(L, opsrun_require_file, 3);
  lua_setfield(L, private, "require_file");
}

void ops_lua_private_get(lua_State *L, const char *field, const char *name)
{
  lua_getfield(L, LUA_REGISTRYINDEX, OPS_PRIVATE_KEY);
  lua_getfield(L, -1, "require_file");
  lua_pushstring(L, field);
  lua_call(L, 1, 0);
  lua_getfield(L, -1, field);
  lua_getfield(L, -1, name);
  lua_replace(L, -3);
  lua_pop(L, 1);
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
  luaopen_opsrun_serve(L);
  lua_setfield(L, private, "serve_io");
  lua_pushcfunction(L, opsrun_error);
  lua_setfield(L, private, "error");

  s_run_embedded_files(L, module, private);
  lua_pushvalue(L, private);
  lua_setfield(L, LUA_REGISTRYINDEX, OPS_PRIVATE_KEY);
  lua_settop(L, module);
  return 1;
}
