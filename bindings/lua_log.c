/* lua_log.c: log.debug/info/warn/error(fmt, ...): a line on stderr (runtime/log.h) with the
 * time, the level and the account of the task that logs. */
#include <lauxlib.h>

#include "bindings/lua_engine.h"
#include "bindings/lua_opsrun.h"
#include "runtime/log.h"

/* Formats the arguments with string.format (upvalue 1) when there is more than one. */
static int s_write(lua_State *L, enum ops_log_level level)
{
  if (!ops_log_enabled(level))
    return 0;
  const char *message;
  if (lua_gettop(L) > 1) {
    luaL_checkstring(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    message = lua_tostring(L, -1);
  } else {
    message = luaL_tolstring(L, 1, NULL);
  }
  ops_log_write(level, ops_engine_task_account(ops_engine_running_task(L)), message);
  return 0;
}

static int log_debug(lua_State *L)
{
  return s_write(L, OPS_LOG_DEBUG);
}

static int log_info(lua_State *L)
{
  return s_write(L, OPS_LOG_INFO);
}

static int log_warn(lua_State *L)
{
  return s_write(L, OPS_LOG_WARN);
}

static int log_error(lua_State *L)
{
  return s_write(L, OPS_LOG_ERROR);
}

/* notice(message): the lines a run always shows, such as a sweep's summary (private). */
static int log_notice(lua_State *L)
{
  return s_write(L, OPS_LOG_NOTICE);
}

int luaopen_opsrun_log(lua_State *L)
{
  static const luaL_Reg functions[] = {{"debug", log_debug},   {"info", log_info},
                                       {"warn", log_warn},     {"error", log_error},
                                       {"notice", log_notice}, {NULL, NULL}};
  luaL_newlibtable(L, functions);
  lua_getglobal(L, "string");
  lua_getfield(L, -1, "format");
  lua_remove(L, -2);
  luaL_setfuncs(L, functions, 1);
  return 1;
}
