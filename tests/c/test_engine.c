/* test_engine.c: the binding interface of bindings/lua_engine.h and bindings/lua_task_http.h,
 * driven from Lua against the loopback server: a test binding `http_get` awaits transfers the way
 * the STS and MCP bindings do, and sweeps of it run concurrently, time out and cancel; a task
 * takes and returns 1,000 values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <lauxlib.h>
#include <lua-cjson.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/lua_config.h"
#include "bindings/lua_error.h"
#include "bindings/lua_opsrun.h"
#include "bindings/lua_task_http.h"
#include "loopback_server.h"

struct fixture {
  struct loopback_server *server;
  lua_State *L;
};

static int http_get_k(lua_State *L, int status, lua_KContext ctx)
{
  (void)status;
  const struct ops_task_http *call = ops_task_http_result(ctx);
  if (call->failed)
    return ops_lua_error_raise(L, &call->error, "test", NULL);
  lua_pushinteger(L, call->response.status);
  lua_pushlstring(L, call->response.body, call->response.body_len);
  return 2;
}

/* http_get(url [, timeout_ms]) -> status, body */
static int http_get(lua_State *L)
{
  struct ops_http_request request = {
      .method = "GET", .url = luaL_checkstring(L, 1), .timeout_ms = (long)luaL_optinteger(L, 2, 0)};
  return ops_task_http(L, &request, http_get_k);
}

static int setup(void **state)
{
  struct fixture *f = calloc(1, sizeof(*f));
  f->server = loopback_server_start();
  f->L = luaL_newstate();
  luaL_openlibs(f->L);
  luaL_getsubtable(f->L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(f->L, luaopen_cjson);
  lua_setfield(f->L, -2, "cjson");
  lua_pop(f->L, 1);
  luaL_requiref(f->L, "opsrun", luaopen_opsrun, 1);
  lua_pop(f->L, 1);
  lua_register(f->L, "http_get", http_get);
  lua_pushstring(f->L, loopback_server_url(f->server));
  lua_setglobal(f->L, "BASE");
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  lua_close(f->L); /* frees the engine, its loop and the client's connections */
  loopback_server_stop(f->server);
  free(f);
  return 0;
}

/* Runs `source` as the main task; fails the test with its traceback if it raises. */
static void run(lua_State *L, const char *source)
{
  if (luaL_loadstring(L, source) != LUA_OK)
    fail_msg("syntax: %s", lua_tostring(L, -1));
  if (ops_engine_run(L, 0) != LUA_OK)
    fail_msg("%s", lua_tostring(L, -1));
}

static void a_task_awaits_a_transfer_and_gets_its_response(void **state)
{
  struct fixture *f = *state;
  run(f->L, "local status, body = http_get(BASE .. '/status/418')\n"
            "assert(status == 418 and body == 'status 418', tostring(status) .. body)");
}

static void a_sweep_keeps_every_transfer_in_flight_at_once(void **state)
{
  struct fixture *f = *state;
  run(f->L, "local items = {} for i = 1, 24 do items[i] = i end\n"
            "local r = opsrun.sweep(items, function(i)\n"
            "  local status, body = http_get(BASE .. '/gather/24')\n"
            "  return body\n"
            "end, { concurrency = 24 })\n"
            "for i = 1, 24 do assert(r[i].ok and r[i].value == 'gathered 24', r[i].value) end");
  assert_int_equal(loopback_server_peak_concurrency(f->server), 24);
}

static void concurrency_bounds_transfers_in_flight(void **state)
{
  struct fixture *f = *state;
  run(f->L, "local items = {} for i = 1, 12 do items[i] = i end\n"
            "opsrun.sweep(items, function() http_get(BASE .. '/delay/50') end,"
            " { concurrency = 3 })");
  assert_int_equal(loopback_server_requests(f->server), 12);
  assert_int_equal(loopback_server_peak_concurrency(f->server), 3);
}

static void a_deadline_cancels_the_transfer_of_a_task(void **state)
{
  struct fixture *f = *state;
  run(f->L, "local r = opsrun.sweep({1, 2}, function(i)\n"
            "  if i == 1 then return (http_get(BASE .. '/hang')) end\n"
            "  return (http_get(BASE .. '/status/200'))\n"
            "end, { timeout = 0.3 })\n"
            "assert(not r[1].ok and r[1].error.kind == 'timeout', tostring(r[1].error))\n"
            "assert(r[2].ok and r[2].value == 200)");
  /* the hung request's connection was closed by the cancel, not left open */
  for (int i = 0; i < 100 && loopback_server_abandoned(f->server) == 0; i++)
    run(f->L, "opsrun.sleep(0.01)");
  assert_int_equal(loopback_server_abandoned(f->server), 1);
}

/* Code without a deadline of its own (a main chunk, a REPL entry, code outside any task) has each
 * wait bounded by --timeout (issue 14: a hung initialize took 360 s outside a sweep); a sleep and
 * a sweep's wait for its tasks are not bounded by it. */
static void outside_sweeps_each_wait_is_bounded_by_the_timeout(void **state)
{
  struct fixture *f = *state;
  struct ops_config config;
  ops_config_defaults(&config);
  config.timeout_seconds = 0.3;
  ops_config_store(f->L, &config);
  uint64_t started = ops_loop_now_ms();
  run(f->L, "local ok, err = pcall(http_get, BASE .. '/hang')\n"
            "assert(not ok and err.kind == 'timeout' and err.code == 'Timeout', tostring(err))\n"
            "assert(tostring(err) == 'Timeout: gave up waiting after 0.3 s (--timeout)')");
  assert_true(ops_loop_now_ms() - started < 1000);
  run(f->L, "opsrun.sleep(0.4)\n"
            "local r = opsrun.sweep({1}, function() opsrun.sleep(0.4) return 'slept' end)\n"
            "assert(r[1].ok and r[1].value == 'slept', tostring(r[1].error))");
  assert_int_equal(luaL_dostring(f->L, "local ok, err = pcall(http_get, BASE .. '/hang')\n"
                                       "assert(not ok and err.code == 'Timeout', tostring(err))"),
                   LUA_OK);
}

static void transport_failures_raise_error_objects(void **state)
{
  struct fixture *f = *state;
  run(f->L, "local ok, err = pcall(http_get, 'http://127.0.0.1:1/')\n"
            "assert(not ok and err.kind == 'transport' and err.retryable, tostring(err))\n"
            "ok, err = pcall(http_get, 'http://example.com/')\n"
            "assert(not ok and err.kind == 'config', tostring(err))\n"
            "assert(tostring(err):match('^config %(test%): refusing plain http://'),"
            " tostring(err))");
}

static void outside_any_task_a_wait_drives_the_engine_in_place(void **state)
{
  struct fixture *f = *state;
  /* plain lua_pcall on the main thread, as busted calls a spec */
  assert_int_equal(luaL_dostring(f->L, "local status = http_get(BASE .. '/delay/20')\n"
                                       "assert(status == 200)"),
                   LUA_OK);
}

/* A new coroutine's stack holds about 40 values: starting a task with more arguments, or
 * taking more results from it, must grow the receiving stack first (under valgrind an overrun
 * shows even where it does not crash). */
static void a_task_takes_a_thousand_arguments_and_returns_them(void **state)
{
  struct fixture *f = *state;
  enum { COUNT = 1000 };
  int top = lua_gettop(f->L);
  if (luaL_loadstring(f->L, "assert(select('#', ...) == 1000) return ...") != LUA_OK)
    fail_msg("syntax: %s", lua_tostring(f->L, -1));
  luaL_checkstack(f->L, COUNT, NULL);
  for (int i = 1; i <= COUNT; i++)
    lua_pushinteger(f->L, i);
  if (ops_engine_run(f->L, COUNT) != LUA_OK)
    fail_msg("%s", lua_tostring(f->L, -1));
  assert_int_equal(lua_gettop(f->L), top + COUNT);
  for (int i = 1; i <= COUNT; i++)
    assert_int_equal(lua_tointeger(f->L, top + i), i);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(a_task_awaits_a_transfer_and_gets_its_response, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_sweep_keeps_every_transfer_in_flight_at_once, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(concurrency_bounds_transfers_in_flight, setup, teardown),
      cmocka_unit_test_setup_teardown(a_deadline_cancels_the_transfer_of_a_task, setup, teardown),
      cmocka_unit_test_setup_teardown(outside_sweeps_each_wait_is_bounded_by_the_timeout, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(transport_failures_raise_error_objects, setup, teardown),
      cmocka_unit_test_setup_teardown(outside_any_task_a_wait_drives_the_engine_in_place, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_task_takes_a_thousand_arguments_and_returns_them, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
