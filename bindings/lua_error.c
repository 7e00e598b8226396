/* lua_error.c: building SPEC section 4's error objects and their one-line tostring. */
#include "bindings/lua_error.h"

#include <lauxlib.h>
#include <stdbool.h>

#include "bindings/lua_aux.h"

#define ERROR_METATABLE "opsrun.Error"

static const char *s_field(lua_State *L, int index, const char *name)
{
  lua_getfield(L, index, name);
  const char *value = lua_isstring(L, -1) ? lua_tostring(L, -1) : NULL;
  lua_pop(L, 1); /* the string stays alive: the error table holds it */
  return value && *value ? value : NULL;
}

/* "CODE (PHASE ACCOUNT): MESSAGE", leaving out what is missing; the code falls back to the kind. */
static int error_tostring(lua_State *L)
{
  luaL_checktype(L, 1, LUA_TTABLE);
  const char *code = s_field(L, 1, "code");
  const char *phase = s_field(L, 1, "phase");
  const char *account = s_field(L, 1, "account");
  const char *message = s_field(L, 1, "message");
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  const char *kind = s_field(L, 1, "kind");
  luaL_addstring(&b, code ? code : kind ? kind : "error");
  if (phase || account) {
    luaL_addstring(&b, " (");
    luaL_addstring(&b, phase ? phase : "");
    luaL_addstring(&b, phase && account ? " " : "");
    luaL_addstring(&b, account ? account : "");
    luaL_addchar(&b, ')');
  }
  luaL_addstring(&b, ": ");
  luaL_addstring(&b, message ? message : "(no message)");
  luaL_pushresult(&b);
  return 1;
}

/* Gives the table on top of the stack the error objects' metatable. */
static void s_set_metatable(lua_State *L)
{
  if (luaL_newmetatable(L, ERROR_METATABLE)) {
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushstring(L, ERROR_METATABLE);
    lua_setfield(L, -2, "__name");
  }
  lua_setmetatable(L, -2);
}

/* An empty text is no value: the field is left out. */
static const char *s_nonempty(const char *text)
{
  return text && *text ? text : NULL;
}

void ops_lua_error_push(lua_State *L, const struct ops_error *err, const char *phase,
                        const char *account)
{
  lua_createtable(L, 0, 8);
  ops_lua_aux_set_string(L, "kind", s_nonempty(ops_err_kind_name(err->kind)));
  ops_lua_aux_set_string(L, "code", s_nonempty(err->code));
  ops_lua_aux_set_string(L, "message", s_nonempty(err->message));
  ops_lua_aux_set_string(L, "phase", s_nonempty(phase));
  ops_lua_aux_set_string(L, "account", s_nonempty(account));
  lua_pushboolean(L, err->retryable);
  lua_setfield(L, -2, "retryable");
  if (err->http_status) {
    lua_pushinteger(L, err->http_status);
    lua_setfield(L, -2, "http_status");
  }
  s_set_metatable(L);
}

int ops_lua_error_raise(lua_State *L, const struct ops_error *err, const char *phase,
                        const char *account)
{
  ops_lua_error_push(L, err, phase, account);
  return lua_error(L);
}

/* Whether the table on top of the stack has the field. */
static bool s_has_field(lua_State *L, const char *name)
{
  bool has = lua_getfield(L, -1, name) != LUA_TNIL;
  lua_pop(L, 1);
  return has;
}

void ops_lua_error_make(lua_State *L, int index, const char *kind, const char *account)
{
  lua_pushvalue(L, index);
  ops_lua_aux_set_string(L, "kind", kind);
  if (!s_has_field(L, "account"))
    ops_lua_aux_set_string(L, "account", s_nonempty(account));
  if (!s_has_field(L, "retryable")) {
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "retryable");
  }
  s_set_metatable(L);
  lua_pop(L, 1);
}

const char *ops_lua_error_text(lua_State *L, int index)
{
  int type = lua_type(L, index);
  if (type == LUA_TSTRING || type == LUA_TNUMBER)
    return luaL_tolstring(L, index, NULL);
  if (luaL_getmetafield(L, index, "__tostring") != LUA_TNIL) {
    lua_pop(L, 1);
    return luaL_tolstring(L, index, NULL);
  }
  return lua_pushfstring(L, "(error object is a %s value)", lua_typename(L, type));
}
