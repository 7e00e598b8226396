/* lua_task_http.c: an HTTP transfer as a task wait; the response is copied out of the transfer's
 * callback into a userdata that the garbage collector frees. */
#include "bindings/lua_task_http.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

static void s_free_response(struct ops_http_response *response)
{
  for (size_t i = 0; i < response->header_count; i++) {
    free(response->headers[i].name);
    free(response->headers[i].value);
  }
  free(response->headers);
  if (response->body) /* it may hold credentials */
    OPENSSL_cleanse(response->body, response->body_len);
  free(response->body);
  memset(response, 0, sizeof(*response));
}

static bool s_copy_response(struct ops_http_response *to, const struct ops_http_response *from)
{
  to->status = from->status;
  to->body = malloc(from->body_len + 1);
  to->headers = calloc(from->header_count ? from->header_count : 1, sizeof(*to->headers));
  if (!to->body || !to->headers)
    return false;
  memcpy(to->body, from->body ? from->body : "", from->body_len);
  to->body[from->body_len] = '\0';
  to->body_len = from->body_len;
  for (size_t i = 0; i < from->header_count; i++, to->header_count++) {
    to->headers[i].name = strdup(from->headers[i].name);
    to->headers[i].value = strdup(from->headers[i].value);
    if (!to->headers[i].name || !to->headers[i].value)
      return false;
  }
  return true;
}

static void s_on_done(const struct ops_http_response *response, const struct ops_error *err,
                      void *ud)
{
  struct ops_task_http *call = ud;
  call->transfer = NULL;
  if (err) {
    call->failed = true;
    call->error = *err;
  }
  if (!s_copy_response(&call->response, response)) {
    call->failed = true;
    ops_error_set(&call->error, OPS_ERR_NOMEM, "out of memory reading an HTTP response");
  }
  ops_engine_wait_done(&call->wait);
}

/* Cancels the transfer if it is in flight and frees the response: the wait's cancel and __gc. */
static void s_release(struct ops_wait *wait)
{
  struct ops_task_http *call = (struct ops_task_http *)wait;
  if (call->transfer)
    ops_http_cancel(call->transfer);
  call->transfer = NULL;
  s_free_response(&call->response);
}

int ops_task_http(lua_State *L, const struct ops_http_request *request, lua_KFunction k)
{
  struct ops_task_http *call = ops_engine_wait_new(L, sizeof(*call), s_release);
  call->transfer =
      ops_http_start(ops_engine_loop(ops_engine_of(L)), request, s_on_done, call, &call->error);
  if (!call->transfer) {
    call->failed = true;
    return k(L, LUA_OK, (lua_KContext)call);
  }
  return ops_engine_suspend(L, &call->wait, k, (lua_KContext)call);
}

const struct ops_task_http *ops_task_http_result(lua_KContext ctx)
{
  return (const struct ops_task_http *)ctx;
}
