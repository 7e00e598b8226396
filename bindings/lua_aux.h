/* lua_aux.h: what every binding needs of the Lua state beyond lauxlib: an object kept per Lua
 * state (the engine, the configuration, the registry, the AWS identity, the MCP client) and
 * setting a table's string fields, one or a struct's from a table of field descriptions. Uses only
 * Lua's own API. */
#ifndef OPS_LUA_AUX_H
#define OPS_LUA_AUX_H

#include <lua.h>
#include <stddef.h>

#include "runtime/error.h"

/* A kind of per-state object: a userdata in the Lua registry, made on first use and freed when
 * the state closes. Define one `static const` per kind: its address is the object's key. */
struct ops_lua_aux_state_type {
  const char *name; /* its metatable's name: "opsrun.Engine" */
  size_t size;
  /* Fills the object, zeroed, when it is first asked for. It may raise, or return a negative
   * enum ops_err with `err` filled: the object is then not kept (the next call tries again) and
   * `release` frees what init made of it. NULL: zeroes are all it needs. */
  int (*init)(lua_State *L, void *object, struct ops_error *err);
  /* Frees what the object holds, as its __gc; NULL when it holds nothing to free. */
  void (*release)(void *object);
};

/* L's object of `type`, made and kept if it is not there yet. NULL when init failed (with `err`
 * filled, which may be NULL for a type whose init never fails). */
void *ops_lua_aux_state_object(lua_State *L, const struct ops_lua_aux_state_type *type,
                               struct ops_error *err);

/* L's object of `type` if one was made, else NULL: never makes one. */
void *ops_lua_aux_state_find(lua_State *L, const struct ops_lua_aux_state_type *type);

/* t[name] = value for the table on top of L's stack; a NULL value leaves the field absent. */
void ops_lua_aux_set_string(lua_State *L, const char *name, const char *value);

/* A `const char *` member of a struct, as a table field: for ops_lua_aux_set_strings. */
struct ops_lua_aux_string_field {
  const char *name;
  size_t offset;
};

#define OPS_LUA_AUX_STRING_FIELD(type, member, name)                                               \
  {                                                                                                \
    (name), offsetof(type, member)                                                                 \
  }

/* ops_lua_aux_set_string for each of the `count` fields, from the member of `object` each names. */
void ops_lua_aux_set_strings(lua_State *L, const void *object,
                             const struct ops_lua_aux_string_field *fields, size_t count);

#endif
