/* lua_error.h: SPEC section 4's error objects. A table with kind, code, message, account, phase,
 * retryable and http_status, whose tostring is one readable line:
 *   AccessDenied (assume 222222222222): User: arn:aws:iam::... is not authorized ... */
#ifndef OPS_LUA_ERROR_H
#define OPS_LUA_ERROR_H

#include <lua.h>

#include "runtime/error.h"

/* Pushes the error object for `err`. `phase` ("assume", "whoami", "mcp") and `account` may be
 * NULL or "" when they do not apply. */
void ops_lua_error_push(lua_State *L, const struct ops_error *err, const char *phase,
                        const char *account);

/* Pushes the error object and raises it; never returns. Free C memory before calling. */
int ops_lua_error_raise(lua_State *L, const struct ops_error *err, const char *phase,
                        const char *account);

/* Makes the table at `index` (code, message, phase... as the embedded Lua fills it) an error
 * object of `kind`: with `account` unless it names one (NULL or "": none), retryable false
 * unless it says. */
void ops_lua_error_make(lua_State *L, int index, const char *kind, const char *account);

/* Pushes and returns the text of the error value at `index`, as the stand-alone lua5.4 words
 * one: a string or number as it is, a value with __tostring (an error object) through it, any
 * other "(error object is a table value)" rather than an address. */
const char *ops_lua_error_text(lua_State *L, int index);

#endif
