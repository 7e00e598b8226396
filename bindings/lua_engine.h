/* lua_engine.h: the task engine. All user code runs in tasks (the main chunk, each sweep item, each
 * REPL line): Lua coroutines on one thread, resumed from the event loop of runtime/loop.h.
 *
 * How a binding waits (sleep, an HTTP transfer, a sweep's next result):
 *   1. check its arguments and copy what it needs out of Lua (strings may move after a yield);
 *   2. make its state, a struct beginning with a struct ops_wait, with ops_engine_wait_new (a
 *      userdata on the task's stack, which then lives exactly as long as the wait, and whose
 *      `release` stops the work and frees what the state holds), and start the work on
 *      ops_engine_loop();
 *   3. `return ops_engine_suspend(L, &state->wait, k, ctx);`
 *   4. the loop callback that completes the work stores its outcome in the state and calls
 *      ops_engine_wait_done(&state->wait);
 *   5. the engine resumes the task in `k(L, status, ctx)`, which pushes the binding's results
 *      or raises its error object (bindings/lua_error.h).
 * If the task is abandoned while suspended (its deadline passed), wait->cancel (the `release`)
 * runs instead of `k`: it must stop the work and free what the wait holds. Exactly one of the
 * two runs; `release` runs again when the userdata is collected.
 * A sweep task's deadline bounds everything it does. Code without a deadline of its own (a
 * script's main chunk, a REPL entry, `opsrun tools`, `call` and each doctor check) has each
 * of its waits bounded by --timeout instead: past it, wait->cancel runs and the wait raises an
 * error of kind "timeout", code "Timeout", where it was made (a script may catch it).
 * The wait starts zeroed (ops_engine_wait_new zeroes the state): work that ends at once (its
 * callback runs before the binding suspends) is then seen as done, and k runs without waiting.
 * runtime/http.h transfers get all of this ready-made from bindings/lua_task_http.h. */
#ifndef OPS_LUA_ENGINE_H
#define OPS_LUA_ENGINE_H

#include <lua.h>
#include <stdbool.h>
#include <stddef.h>

#include "runtime/loop.h"

struct ops_engine;
struct ops_task;

struct ops_wait {
  void (*cancel)(struct ops_wait *wait);
  /* Ctrl-C interrupts every wait but those that set this: a sweep's wait for its tasks goes on,
   * so that it ends with every finished result (its tasks are interrupted instead). */
  bool survives_interrupt;
  /* Called, when not NULL, as an interrupt comes while a wait that survives it waits (closing
   * the MCP sessions then hurries). */
  void (*on_interrupt)(struct ops_wait *wait);
  /* Not bounded by --timeout outside sweep tasks (above): a sleep, whose length the caller
   * chose, and a sweep's wait for its tasks, which each have a deadline. */
  bool unbounded;
  /* engine-private */
  struct ops_engine *engine;
  struct ops_task *task;
  struct ops_timer *limit; /* --timeout, for code without a deadline */
  bool done;
  bool interrupted;
  bool expired; /* its --timeout passed */
  lua_KFunction k;
  lua_KContext ctx;
};

/* The engine of L's Lua state, created on first use and freed when the state closes. */
struct ops_engine *ops_engine_of(lua_State *L);

/* The loop that waits are registered on (borrowed, lives as long as the engine). */
struct ops_loop *ops_engine_loop(struct ops_engine *engine);

/* Pushes a zeroed userdata of `size` bytes, the state of a binding that waits, which begins with
 * its struct ops_wait, and returns it. `release` is both the wait's cancel and the userdata's
 * __gc: it stops the work and frees what the state holds, and must do nothing the second time.
 * Raises on a memory error. */
void *ops_engine_wait_new(lua_State *L, size_t size, void (*release)(struct ops_wait *wait));

/* Suspends the calling task until ops_engine_wait_done(wait), then continues in k (see above).
 * Outside any task (a plain Lua state under busted, or a coroutine the script made itself) it
 * drives the engine in place until the wait is done and then calls k, so a binding works anywhere.
 * Raises the task's timeout error instead if its deadline has already passed. Use it as
 * `return ops_engine_suspend(...)`. */
int ops_engine_suspend(lua_State *L, struct ops_wait *wait, lua_KFunction k, lua_KContext ctx);

/* Marks a wait complete so its task is resumed. Call it from loop callbacks only. */
void ops_engine_wait_done(struct ops_wait *wait);

/* Ctrl-C (SIGINT), SIGTERM or SIGHUP. Async-signal-safe: notes the interrupt and its signal and
 * wakes the loop, which then cancels every wait (but those that survive interrupts) and raises
 * an error of kind "cancelled", code "Interrupted", "interrupted by SIGTERM", where each task
 * waited. Later waits raise it at once, until cleared. */
void ops_engine_interrupt(struct ops_engine *engine, int signal_number);
bool ops_engine_interrupted(const struct ops_engine *engine);
/* The signal of the interrupt, or 0. */
int ops_engine_interrupt_signal(const struct ops_engine *engine);
/* "Ctrl-C", "SIGTERM" or "SIGHUP": the interrupt as a user names it ("" without one). */
const char *ops_engine_interrupt_name(const struct ops_engine *engine);
/* Whether a line has told the user of the interrupt already (a sweep's summary, through the
 * private `interruption()`), so that opsrun adds none of its own. */
bool ops_engine_interrupt_told(const struct ops_engine *engine);
/* Forgets a Ctrl-C (at the REPL it stops only the entry that ran). SIGTERM and SIGHUP ask
 * opsrun to end: they stay. */
void ops_engine_clear_interrupt(struct ops_engine *engine);

/* The task whose coroutine is L, or NULL (the main thread, or a script's own coroutine). */
struct ops_task *ops_engine_running_task(lua_State *L);

/* The account a task acts for, shown in its log lines: "" until set. */
const char *ops_engine_task_account(const struct ops_task *task);
void ops_engine_set_task_account(struct ops_task *task, const char *account);

/* One pointer a binding keeps per task, NULL when the task starts (bindings/lua_identity.c keeps
 * the role the task acts as). Not owned by the task. */
void *ops_engine_task_context(const struct ops_task *task);
void ops_engine_set_task_context(struct ops_task *task, void *context);

/* Runs a function as a task without a deadline (the function, then its `nargs` arguments, on
 * top of L's stack) and drives the engine, and so every other task and wait, until it ends.
 * Pops them and pushes the function's results, returning LUA_OK; or pushes its error value and
 * a traceback string, returning LUA_ERRRUN. */
int ops_engine_run(lua_State *L, int nargs);

/* Sweep tasks that failed so far; the host's exit status is 3 when this is not zero. */
int ops_engine_failures(const struct ops_engine *engine);

#endif
