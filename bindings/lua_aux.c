/* lua_aux.c: per-state objects as userdata in the Lua registry, keyed by their type's address,
 * whose __gc finds the type's release through an upvalue; a table's string fields. */
#include "bindings/lua_aux.h"

#include <lauxlib.h>
#include <string.h>

static int s_state_object_gc(lua_State *L)
{
  const struct ops_lua_aux_state_type *type = lua_touserdata(L, lua_upvalueindex(1));
  type->release(lua_touserdata(L, 1));
  return 0;
}

/* Gives the userdata on top of the stack the metatable of `type`, made the first time. */
static void s_set_metatable(lua_State *L, const struct ops_lua_aux_state_type *type)
{
  if (luaL_newmetatable(L, type->name) && type->release) {
    lua_pushlightuserdata(L, (void *)type);
    lua_pushcclosure(L, s_state_object_gc, 1);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
}

void *ops_lua_aux_state_find(lua_State *L, const struct ops_lua_aux_state_type *type)
{
  lua_rawgetp(L, LUA_REGISTRYINDEX, type);
  void *object = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return object;
}

void *ops_lua_aux_state_object(lua_State *L, const struct ops_lua_aux_state_type *type,
                               struct ops_error *err)
{
  void *object = ops_lua_aux_state_find(L, type);
  if (object)
    return object;
  /* The userdata, with its __gc, exists before init fills it: whatever init made is freed,
   * whether init raises or fails. */
  object = lua_newuserdatauv(L, type->size, 0);
  memset(object, 0, type->size);
  s_set_metatable(L, type);
  if (type->init && type->init(L, object, err) < 0) {
    lua_pop(L, 1);
    return NULL;
  }
  lua_rawsetp(L, LUA_REGISTRYINDEX, type);
  return object;
}

void ops_lua_aux_set_string(lua_State *L, const char *name, const char *value)
{
  if (value) {
    lua_pushstring(L, value);
    lua_setfield(L, -2, name);
  }
}

void ops_lua_aux_set_strings(lua_State *L, const void *object,
                             const struct ops_lua_aux_string_field *fields, size_t count)
{
  for (size_t i = 0; i < count; i++) {
    const char *value = *(const char *const *)((const char *)object + fields[i].offset);
    ops_lua_aux_set_string(L, fields[i].name, value);
  }
}
