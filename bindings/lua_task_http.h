/* lua_task_http.h: an HTTP exchange (runtime/http.h) awaited by a task. A binding builds its
 * request, calls ops_task_http, and in its continuation reads the outcome:
 *
 *   static int sts_call_k(lua_State *L, int status, lua_KContext ctx)
 *   {
 *     const struct ops_task_http *call = ops_task_http_result(ctx);
 *     if (call->failed)
 *       return ops_lua_error_raise(L, &call->error, "assume", account);
 *     ... parse call->response.body, push results ...
 *   }
 *   ...
 *   return ops_task_http(L, &request, sts_call_k);
 *
 * The outcome belongs to a userdata left on the task's stack: it is freed by the garbage
 * collector after the binding returns, or at once if the task is abandoned. */
#ifndef OPS_LUA_TASK_HTTP_H
#define OPS_LUA_TASK_HTTP_H

#include <lua.h>

#include "bindings/lua_engine.h"
#include "runtime/http.h"

struct ops_task_http {
  struct ops_wait wait;
  struct ops_http_transfer *transfer; /* while in flight */
  bool failed;
  struct ops_error error;            /* when failed */
  struct ops_http_response response; /* what arrived; owned, freed with the userdata */
};

/* Starts `request` (copied) and suspends the calling task until it ends, then continues in k
 * with a context for ops_task_http_result. When the request cannot even start (a refused URL)
 * k runs at once with the failure, so every outcome is handled in one place. */
int ops_task_http(lua_State *L, const struct ops_http_request *request, lua_KFunction k);

/* The outcome, from k's context; borrowed until the binding returns. */
const struct ops_task_http *ops_task_http_result(lua_KContext ctx);

#endif
