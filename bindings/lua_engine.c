/* lua_engine.c: tasks (Lua coroutines anchored in the registry), a ready queue, deadlines, result
 * groups, and the driver that alternates between resuming ready tasks and the event loop. */
#include "bindings/lua_engine.h"

#include <lauxlib.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/lua_aux.h"
#include "bindings/lua_config.h"
#include "bindings/lua_error.h"
#include "bindings/lua_opsrun.h"
#include "runtime/list.h"
#include "runtime/log.h"

#define TASKS_KEY                   "opsrun.tasks" /* thread -> task, for ops_engine_running_task */
#define GROUP_METATABLE             "opsrun.Group"
#define WAIT_METATABLE              "opsrun.Wait" /* of ops_engine_wait_new's userdata */
#define DEADLINE_CHECK_INSTRUCTIONS 10000

enum s_task_state { TASK_READY, TASK_RUNNING, TASK_SUSPENDED };

struct ops_task {
  struct ops_engine *engine;
  lua_State *co;
  int co_ref;    /* anchors the coroutine while the task lives */
  int group_ref; /* the group that receives the result */
  int key_ref;   /* the key the result is filed under */
  int traceback_ref;
  enum s_task_state state;
  int resume_nargs;
  struct ops_wait *wait;
  struct ops_timer *deadline;
  double timeout_seconds; /* 0: none */
  uint64_t started_ms;
  bool timed_out;
  struct ops_list *queue; /* the queue it is in, when TASK_READY */
  struct ops_list_node queue_node;
  struct ops_list_node live_node;
  void *context;
  /* the served tool call it works for (0: none), inherited by the tasks it spawns, and whether
   * that call was cancelled (ops_engine_cancel_scope) */
  lua_Integer scope;
  bool cancelled;
  char account[64];
};

struct ops_engine {
  lua_State *L; /* the main thread */
  struct ops_loop *loop;
  struct ops_list ready; /* tasks in line to be resumed, first in first out */
  /* tasks that yielded with a bare coroutine.yield(): ready again once the loop has run, so
   * that a task spinning on yield cannot starve timers and transfers */
  struct ops_list yielded;
  struct ops_task *current; /* the task whose code runs now (the innermost, when they nest) */
  struct ops_list live;     /* every task not yet finished, for cleanup */
  int failures;
  volatile sig_atomic_t interrupt_pending; /* set by the signal handler */
  volatile sig_atomic_t interrupt_signal;  /* ... with the signal's number */
  bool interrupted;
  bool interrupt_told; /* a line said so already */
};

/* A result group: the tasks it spawned file their results in its queue (its uservalue). */
struct s_group {
  struct ops_engine *engine;
  int pending;            /* tasks spawned whose result next() has not returned yet */
  lua_Integer head, tail; /* queue[head..tail-1]: results filed, not yet returned */
  struct ops_wait *waiter;
};

/* ---------------------------------------------------------------- engine */

static void s_task_release(struct ops_task *task);
static void s_wait_unlimit(struct ops_wait *wait);

/* At lua_close: tasks still waiting (a script that ended while others ran) are dropped. */
static void s_engine_release(void *object)
{
  struct ops_engine *engine = object;
  while (engine->live.head) {
    struct ops_task *task = OPS_LIST_ENTRY(engine->live.head, struct ops_task, live_node);
    if (task->wait) {
      s_wait_unlimit(task->wait);
      task->wait->cancel(task->wait);
    }
    s_task_release(task);
  }
  ops_loop_free(engine->loop);
  engine->loop = NULL;
}

static int s_engine_init(lua_State *L, void *object, struct ops_error *err)
{
  (void)err;
  struct ops_engine *engine = object;
  engine->loop = ops_loop_new();
  if (!engine->loop)
    luaL_error(L, "cannot start the event loop (libcurl multi handle)");
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  engine->L = lua_tothread(L, -1);
  lua_pop(L, 1);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, TASKS_KEY);
  return 0;
}

static const struct ops_lua_aux_state_type s_engine_type = {.name = "opsrun.Engine",
                                                            .size = sizeof(struct ops_engine),
                                                            .init = s_engine_init,
                                                            .release = s_engine_release};

struct ops_engine *ops_engine_of(lua_State *L)
{
  return ops_lua_aux_state_object(L, &s_engine_type, NULL);
}

struct ops_loop *ops_engine_loop(struct ops_engine *engine)
{
  return engine->loop;
}

int ops_engine_failures(const struct ops_engine *engine)
{
  return engine->failures;
}

/* ---------------------------------------------------------------- queues */

static void s_queue_push(struct ops_list *queue, struct ops_task *task)
{
  task->state = TASK_READY;
  task->queue = queue;
  ops_list_push_back(queue, &task->queue_node);
}

static void s_queue_remove(struct ops_task *task)
{
  ops_list_remove(task->queue, &task->queue_node);
  task->queue = NULL;
}

/* The first task of a queue, or NULL. */
static struct ops_task *s_queue_head(const struct ops_list *queue)
{
  return queue->head ? OPS_LIST_ENTRY(queue->head, struct ops_task, queue_node) : NULL;
}

static void s_ready_push(struct ops_task *task)
{
  s_queue_push(&task->engine->ready, task);
}

/* Moves every task of `from` to the end of `to`, in order. */
static void s_queue_append(struct ops_list *to, struct ops_list *from)
{
  struct ops_task *task;
  while ((task = s_queue_head(from))) {
    s_queue_remove(task);
    s_queue_push(to, task);
  }
}

/* ---------------------------------------------------------------- tasks */

struct ops_task *ops_engine_running_task(lua_State *L)
{
  lua_getfield(L, LUA_REGISTRYINDEX, TASKS_KEY);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    return NULL;
  }
  lua_pushthread(L);
  lua_rawget(L, -2);
  struct ops_task *task = lua_touserdata(L, -1);
  lua_pop(L, 2);
  return task && task->state == TASK_RUNNING ? task : NULL;
}

const char *ops_engine_task_account(const struct ops_task *task)
{
  return task ? task->account : "";
}

void ops_engine_set_task_account(struct ops_task *task, const char *account)
{
  snprintf(task->account, sizeof(task->account), "%s", account ? account : "");
}

void *ops_engine_task_context(const struct ops_task *task)
{
  return task->context;
}

void ops_engine_set_task_context(struct ops_task *task, void *context)
{
  task->context = context;
}

static double s_seconds_since(uint64_t start_ms)
{
  return (double)(ops_loop_now_ms() - start_ms) / 1000.0;
}

static void s_push_timeout_error(lua_State *L, const struct ops_task *task)
{
  struct ops_error err;
  ops_error_set(&err, OPS_ERR_TIMEOUT, "task did not finish within its %g s deadline",
                task->timeout_seconds);
  ops_error_set_code(&err, "TaskTimeout");
  err.retryable = true;
  ops_lua_error_push(L, &err, NULL, task->account);
}

/* Files [key, ok, seconds, traceback, n, values...] in the group's queue and wakes its waiter.
 * The `nvalues` values are on top of L's stack (the engine's main thread) and are popped. */
static void s_file_result(struct ops_task *task, lua_State *L, bool ok, int nvalues)
{
  lua_rawgeti(L, LUA_REGISTRYINDEX, task->group_ref);
  struct s_group *group = lua_touserdata(L, -1);
  lua_getiuservalue(L, -1, 1);
  lua_createtable(L, 5 + nvalues, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, task->key_ref);
  lua_rawseti(L, -2, 1);
  lua_pushboolean(L, ok);
  lua_rawseti(L, -2, 2);
  lua_pushnumber(L, s_seconds_since(task->started_ms));
  lua_rawseti(L, -2, 3);
  lua_rawgeti(L, LUA_REGISTRYINDEX, task->traceback_ref);
  lua_rawseti(L, -2, 4);
  lua_pushinteger(L, nvalues);
  lua_rawseti(L, -2, 5);
  for (int i = 0; i < nvalues; i++) {
    lua_pushvalue(L, -(nvalues + 3) + i);
    lua_rawseti(L, -2, 6 + i);
  }
  lua_rawseti(L, -2, group->tail++); /* queue[tail] = record */
  lua_pop(L, 2 + nvalues);           /* queue, group, values */
  if (group->waiter)
    ops_engine_wait_done(group->waiter);
}

static void s_log_failure(struct ops_task *task, lua_State *L)
{
  if (!ops_log_enabled(OPS_LOG_DEBUG))
    return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, task->traceback_ref);
  const char *trace = lua_tostring(L, -1);
  ops_log(OPS_LOG_DEBUG, task->account, "task failed: %s",
          trace ? trace : luaL_tolstring(L, -2, NULL));
  lua_settop(L, lua_gettop(L) - (trace ? 1 : 2));
}

/* Releases everything that anchored a task and frees it. */
static void s_task_release(struct ops_task *task)
{
  struct ops_engine *engine = task->engine;
  lua_State *L = engine->L;
  if (task->deadline)
    ops_loop_timer_cancel(engine->loop, task->deadline);
  if (task->state == TASK_READY)
    s_queue_remove(task);
  ops_list_remove(&engine->live, &task->live_node);
  lua_getfield(L, LUA_REGISTRYINDEX, TASKS_KEY);
  lua_rawgeti(L, LUA_REGISTRYINDEX, task->co_ref);
  lua_pushnil(L);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  luaL_unref(L, LUA_REGISTRYINDEX, task->group_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, task->key_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, task->traceback_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, task->co_ref); /* the coroutine may be collected now */
  free(task);
}

/* Ends a task: files its result and releases it. The outcome, `ok` then `nvalues` values, is
 * on top of the stack of the engine's main thread: functions cannot be called on a suspended
 * or dead coroutine, so all of this happens there. */
static void s_finish(struct ops_task *task, bool ok, int nvalues)
{
  lua_State *L = task->engine->L;
  if (task->timed_out) {
    lua_pop(L, 1 + nvalues);
    ok = false;
    nvalues = 1;
    lua_pushboolean(L, 0);
    s_push_timeout_error(L, task);
  }
  if (!ok)
    s_log_failure(task, L);
  lua_remove(L, -1 - nvalues); /* the ok flag */
  s_file_result(task, L, ok, nvalues);
  s_task_release(task);
}

/* Ends a task past its deadline without running any more of its code: its coroutine, wherever
 * it stopped, is dropped. */
static void s_abandon(struct ops_task *task)
{
  lua_State *L = task->engine->L;
  lua_checkstack(L, 8);
  lua_pushboolean(L, 0);
  lua_pushnil(L);
  s_finish(task, false, 1); /* replaced by the timeout error */
}

/* A task past its deadline that is waiting is abandoned, its wait cancelled. One that is running
 * (a busy loop, or a coroutine of its own waiting in place) is flagged: the count hook, or the
 * wait in place, ends it. */
static void s_deadline_passed(void *ud)
{
  struct ops_task *task = ud;
  task->deadline = NULL;
  task->timed_out = true;
  if (task->state == TASK_RUNNING)
    return;
  if (task->wait) {
    struct ops_wait *wait = task->wait;
    task->wait = NULL;
    wait->cancel(wait);
  }
  s_abandon(task);
}

static struct ops_engine *s_engine_find(lua_State *L)
{
  return ops_lua_aux_state_find(L, &s_engine_type);
}

/* The count hook of every thread a task's code runs in: the task's coroutine, and the coroutines
 * its code makes (a new thread inherits its creator's hook). It holds the deadline of the task
 * running now, whatever thread it fires in, so neither a busy loop, nor one inside a coroutine
 * of the script's, nor an error caught by pcall escapes it. Past the deadline the thread yields
 * (pcall cannot catch a yield): the task's own coroutine yields to the engine, which abandons it;
 * a script's coroutine yields to whoever resumed it, and the hook then fires at every instruction
 * until control is back in the task's coroutine. Where yielding is impossible (inside a C call
 * such as table.sort's comparator) the timeout error is raised instead. */
static void s_deadline_hook(lua_State *L, lua_Debug *ar)
{
  (void)ar;
  struct ops_engine *engine = s_engine_find(L);
  struct ops_task *task = engine ? engine->current : NULL;
  if (!task || !task->timed_out) {
    if (lua_gethookcount(L) != DEADLINE_CHECK_INSTRUCTIONS) /* a coroutine a timed-out task left */
      lua_sethook(L, s_deadline_hook, LUA_MASKCOUNT, DEADLINE_CHECK_INSTRUCTIONS);
    if (!task || !task->timeout_seconds ||
        s_seconds_since(task->started_ms) < task->timeout_seconds)
      return;
  }
  task->timed_out = true;
  lua_sethook(task->co, s_deadline_hook, LUA_MASKCOUNT, 1);
  lua_sethook(L, s_deadline_hook, LUA_MASKCOUNT, 1);
  if (lua_isyieldable(L)) {
    lua_yield(L, 0); /* a hook yields by returning right after this */
    return;
  }
  s_push_timeout_error(L, task);
  lua_error(L);
}

/* The message handler of a task's pcall: keeps the error value as it is (error objects stay
 * tables) and records the traceback beside it. */
static int s_task_traceback(lua_State *L)
{
  struct ops_task *task = ops_engine_running_task(L);
  luaL_traceback(L, L, ops_lua_error_text(L, 1), 1);
  if (task) {
    luaL_unref(L, LUA_REGISTRYINDEX, task->traceback_ref);
    task->traceback_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  lua_settop(L, 1);
  return 1;
}

/* The body every task coroutine runs: [traceback handler, fn, args...] -> ok, results... */
static int s_task_body_k(lua_State *co, int status, lua_KContext ctx)
{
  (void)ctx;
  lua_pushboolean(co, status == LUA_OK || status == LUA_YIELD);
  lua_replace(co, 1);
  return lua_gettop(co);
}

static int s_task_body(lua_State *co)
{
  int nargs = lua_gettop(co) - 1;
  lua_pushcfunction(co, s_task_traceback);
  lua_insert(co, 1);
  return s_task_body_k(co, lua_pcallk(co, nargs, LUA_MULTRET, 1, 0, s_task_body_k), 0);
}

/* Makes a task of the function and `nargs` arguments on top of L's stack (popped), filing its
 * result in the group at `group_index` under the key at `key_index`; it starts when the engine
 * next runs ready tasks. */
static void s_spawn(lua_State *L, int group_index, int key_index, double timeout_seconds,
                    const char *account, int nargs)
{
  struct ops_engine *engine = ops_engine_of(L);
  luaL_checkstack(L, 4, "starting a task");
  lua_State *co = lua_newthread(L);
  /* a new thread's stack holds about 40 values: grow it for the body and every argument */
  if (!lua_checkstack(co, nargs + 1))
    luaL_error(L, "too many arguments (%d) to a task", nargs);
  struct ops_task *task = calloc(1, sizeof(*task));
  if (!task)
    luaL_error(L, "out of memory starting a task");
  task->engine = engine;
  task->timeout_seconds = timeout_seconds;
  if (engine->current) {
    task->scope = engine->current->scope;
    task->cancelled = engine->current->cancelled;
  }
  task->traceback_ref = LUA_NOREF;
  ops_engine_set_task_account(task, account);
  lua_pushvalue(L, group_index);
  task->group_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, key_index);
  task->key_ref = luaL_ref(L, LUA_REGISTRYINDEX);

  task->co = co;
  lua_getfield(L, LUA_REGISTRYINDEX, TASKS_KEY);
  lua_pushvalue(L, -2);
  lua_pushlightuserdata(L, task);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  task->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);

  lua_pushcfunction(task->co, s_task_body);
  lua_xmove(L, task->co, nargs + 1);
  task->resume_nargs = nargs + 1;
  /* every task has the hook, deadline or not: a coroutine made in one may be resumed in another */
  lua_sethook(task->co, s_deadline_hook, LUA_MASKCOUNT, DEADLINE_CHECK_INSTRUCTIONS);
  if (timeout_seconds > 0)
    task->deadline = ops_loop_timer_start(engine->loop, (uint64_t)(timeout_seconds * 1000.0),
                                          s_deadline_passed, task);
  task->started_ms = ops_loop_now_ms();
  ops_list_push_front(&engine->live, &task->live_node);
  s_ready_push(task);
  ((struct s_group *)lua_touserdata(L, group_index))->pending++;
}

static void s_resume(struct ops_task *task)
{
  struct ops_engine *engine = task->engine;
  struct ops_task *outer = engine->current;
  task->state = TASK_RUNNING;
  task->wait = NULL;
  int nargs = task->resume_nargs;
  task->resume_nargs = 0;
  int nresults = 0;
  engine->current = task;
  int status = lua_resume(task->co, NULL, nargs, &nresults);
  engine->current = outer;
  if (status == LUA_YIELD) {
    if (task->state != TASK_RUNNING) /* suspended in a wait */
      return;
    lua_pop(task->co, nresults);
    if (task->timed_out) /* the count hook yielded it */
      s_abandon(task);
    else /* a bare coroutine.yield(): the others and the loop go first */
      s_queue_push(&engine->yielded, task);
    return;
  }
  lua_State *L = engine->L;
  if (status == LUA_OK && !lua_checkstack(L, nresults + 8)) { /* fails the task, not L's code */
    lua_settop(task->co, 0);
    lua_pushfstring(task->co, "too many results (%d) from a task", nresults - 1);
    status = LUA_ERRRUN;
  }
  if (status == LUA_OK) {
    lua_xmove(task->co, L, nresults);
    s_finish(task, lua_toboolean(L, -nresults), nresults - 1);
  } else { /* an error the body's pcall could not catch (memory, or in the handler) */
    lua_checkstack(L, 8);
    lua_pushboolean(L, 0);
    lua_xmove(task->co, L, 1);
    s_finish(task, false, 1);
  }
}

/* ---------------------------------------------------------------- waiting */

/* Whether the task whose code runs now (L's, or the one running a coroutine of its script) was
 * cancelled with its scope. */
static bool s_running_task_cancelled(lua_State *L)
{
  struct ops_task *task = ops_engine_running_task(L);
  if (!task)
    task = ops_engine_of(L)->current;
  return task && task->cancelled;
}

/* The words for what stopped the running task: its call cancelled, or the signal. */
static const char *s_push_interruption_words(lua_State *L)
{
  if (s_running_task_cancelled(L))
    return lua_pushliteral(L, "cancelled by the client");
  return lua_pushfstring(L, "interrupted by %s", ops_engine_interrupt_name(ops_engine_of(L)));
}

static void s_push_interrupted_error(lua_State *L)
{
  struct ops_error err;
  ops_error_set(&err, OPS_ERR_CANCELLED, "%s", s_push_interruption_words(L));
  lua_pop(L, 1);
  ops_error_set_code(&err, s_running_task_cancelled(L) ? "Cancelled" : "Interrupted");
  ops_lua_error_push(L, &err, NULL, ops_engine_task_account(ops_engine_running_task(L)));
}

/* The error of a wait whose --timeout passed (lua_engine.h). */
static void s_push_expired_error(lua_State *L)
{
  struct ops_error err;
  ops_error_set(&err, OPS_ERR_TIMEOUT, "gave up waiting after %g s (--timeout)",
                ops_config_get(L)->timeout_seconds);
  ops_error_set_code(&err, "Timeout");
  err.retryable = true;
  ops_lua_error_push(L, &err, NULL, ops_engine_task_account(ops_engine_running_task(L)));
}

static void s_wait_unlimit(struct ops_wait *wait)
{
  if (wait->limit)
    ops_loop_timer_cancel(wait->engine->loop, wait->limit);
  wait->limit = NULL;
}

/* Cancels a wait's work and resumes where it was made, where s_resume_k then raises. */
static void s_end_wait_early(struct ops_wait *wait)
{
  s_wait_unlimit(wait);
  wait->cancel(wait);
  wait->done = true;
  struct ops_task *task = wait->task;
  if (task && task->state == TASK_SUSPENDED && task->wait == wait) {
    task->wait = NULL;
    s_ready_push(task);
  }
}

static void s_interrupt_wait(struct ops_wait *wait)
{
  wait->interrupted = true;
  s_end_wait_early(wait);
}

static void s_wait_expired(void *ud)
{
  struct ops_wait *wait = ud;
  wait->limit = NULL;
  wait->expired = true;
  s_end_wait_early(wait);
}

/* Bounds a wait of code without a deadline of its own by --timeout. False when out of memory. */
static bool s_limit_wait(lua_State *L, struct ops_wait *wait)
{
  double seconds = ops_config_get(L)->timeout_seconds;
  wait->limit =
      ops_loop_timer_start(wait->engine->loop, (uint64_t)(seconds * 1000.0), s_wait_expired, wait);
  return wait->limit != NULL;
}

/* The interrupt the signal handler noted: every suspended task's wait is interrupted. */
static void s_take_interrupt(struct ops_engine *engine)
{
  engine->interrupt_pending = 0;
  engine->interrupted = true;
  for (struct ops_list_node *node = engine->live.head; node; node = node->next) {
    struct ops_task *task = OPS_LIST_ENTRY(node, struct ops_task, live_node);
    struct ops_wait *wait = task->state == TASK_SUSPENDED ? task->wait : NULL;
    if (wait && !wait->survives_interrupt)
      s_interrupt_wait(wait);
    else if (wait && wait->on_interrupt)
      wait->on_interrupt(wait);
  }
}

void ops_engine_interrupt(struct ops_engine *engine, int signal_number)
{
  engine->interrupt_signal = signal_number;
  engine->interrupt_pending = 1;
  ops_loop_wakeup(engine->loop);
}

bool ops_engine_interrupted(const struct ops_engine *engine)
{
  return engine->interrupted || engine->interrupt_pending;
}

int ops_engine_interrupt_signal(const struct ops_engine *engine)
{
  return ops_engine_interrupted(engine) ? engine->interrupt_signal : 0;
}

const char *ops_engine_interrupt_name(const struct ops_engine *engine)
{
  switch (ops_engine_interrupt_signal(engine)) {
  case 0: return "";
  case SIGINT: return "Ctrl-C";
  case SIGTERM: return "SIGTERM";
  case SIGHUP: return "SIGHUP";
  default: return "a signal";
  }
}

bool ops_engine_interrupt_told(const struct ops_engine *engine)
{
  return ops_engine_interrupted(engine) && engine->interrupt_told;
}

void ops_engine_clear_interrupt(struct ops_engine *engine)
{
  if (engine->interrupt_signal != SIGINT)
    return;
  engine->interrupt_pending = 0;
  engine->interrupt_signal = 0;
  engine->interrupted = false;
  engine->interrupt_told = false;
}

/* Drives the engine until *done, or until the task `owner` (may be NULL) is past its deadline:
 * resumes ready tasks, else waits on the loop. The blocking wait of code outside any task
 * (`blocking`, may be NULL) is interrupted like a task's. */
static void s_run_until(lua_State *L, struct ops_engine *engine, const bool *done,
                        struct ops_wait *blocking, const struct ops_task *owner)
{
  while (!*done && !(owner && owner->timed_out)) {
    if (engine->interrupt_pending) {
      s_take_interrupt(engine);
      if (blocking && !blocking->survives_interrupt)
        s_interrupt_wait(blocking);
    } else if (engine->ready.head) {
      struct ops_task *task = s_queue_head(&engine->ready);
      s_queue_remove(task);
      s_resume(task);
    } else if (engine->yielded.head) {
      ops_loop_run_once(engine->loop, 0); /* due timers and ready transfers, without waiting */
      s_queue_append(&engine->ready, &engine->yielded);
    } else if (ops_loop_idle(engine->loop)) {
      luaL_error(L, "deadlock: waiting, but nothing is left that could finish the wait");
    } else {
      ops_loop_run_once(engine->loop, -1);
    }
  }
}

/* Every resumption passes here: an interrupted or expired wait raises, others go on in the
 * binding's k. */
static int s_resume_k(lua_State *L, int status, lua_KContext ctx)
{
  struct ops_wait *wait = (struct ops_wait *)ctx;
  if (wait->interrupted) {
    s_push_interrupted_error(L);
    return lua_error(L);
  }
  if (wait->expired) {
    s_push_expired_error(L);
    return lua_error(L);
  }
  return wait->k(L, status, wait->ctx);
}

static int s_wait_gc(lua_State *L)
{
  struct ops_wait *wait = luaL_checkudata(L, 1, WAIT_METATABLE);
  wait->cancel(wait);
  return 0;
}

void *ops_engine_wait_new(lua_State *L, size_t size, void (*release)(struct ops_wait *wait))
{
  struct ops_wait *wait = lua_newuserdatauv(L, size, 0);
  memset(wait, 0, size);
  wait->cancel = release;
  if (luaL_newmetatable(L, WAIT_METATABLE)) {
    lua_pushcfunction(L, s_wait_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return wait;
}

int ops_engine_suspend(lua_State *L, struct ops_wait *wait, lua_KFunction k, lua_KContext ctx)
{
  struct ops_task *task = ops_engine_running_task(L);
  struct ops_engine *engine = ops_engine_of(L);
  if (wait->done) /* the work ended before the binding could wait for it */
    return k(L, LUA_OK, ctx);
  wait->engine = engine;
  wait->task = task;
  wait->k = k;
  wait->ctx = ctx;
  /* the task whose deadline holds: L's own, or the one that runs a coroutine the script made */
  struct ops_task *owner = task ? task : engine->current;
  if (owner && owner->timed_out) {
    wait->cancel(wait);
    s_push_timeout_error(L, owner);
    return lua_error(L);
  }
  if ((ops_engine_interrupted(engine) || (owner && owner->cancelled)) &&
      !wait->survives_interrupt) {
    wait->cancel(wait);
    s_push_interrupted_error(L);
    return lua_error(L);
  }
  if (!(owner && owner->timeout_seconds) && !wait->unbounded && !s_limit_wait(L, wait)) {
    wait->cancel(wait);
    return luaL_error(L, "out of memory starting a timer");
  }
  if (task) {
    task->wait = wait;
    task->state = TASK_SUSPENDED;
    return lua_yieldk(L, 0, (lua_KContext)wait, s_resume_k);
  }
  s_run_until(L, engine, &wait->done, wait, owner);
  if (!wait->done) { /* the owner's deadline passed while it waited in place */
    wait->cancel(wait);
    s_push_timeout_error(L, owner);
    return lua_error(L);
  }
  return s_resume_k(L, LUA_YIELD, (lua_KContext)wait);
}

void ops_engine_wait_done(struct ops_wait *wait)
{
  s_wait_unlimit(wait);
  wait->done = true;
  struct ops_task *task = wait->task;
  if (task && task->state == TASK_SUSPENDED && task->wait == wait) {
    task->wait = NULL;
    s_ready_push(task);
  }
}

/* ---------------------------------------------------------------- sleep */

struct s_sleep {
  struct ops_wait wait;
  struct ops_loop *loop;
  struct ops_timer *timer;
};

static void s_sleep_fired(void *ud)
{
  struct s_sleep *sleep = ud;
  sleep->timer = NULL;
  ops_engine_wait_done(&sleep->wait);
}

static void s_sleep_cancel(struct ops_wait *wait)
{
  struct s_sleep *sleep = (struct s_sleep *)wait;
  if (sleep->timer)
    ops_loop_timer_cancel(sleep->loop, sleep->timer);
  sleep->timer = NULL;
}

static int s_sleep_k(lua_State *L, int status, lua_KContext ctx)
{
  (void)L, (void)status, (void)ctx;
  return 0;
}

static int engine_sleep(lua_State *L)
{
  lua_Number seconds = luaL_checknumber(L, 1);
  luaL_argcheck(L, seconds >= 0 && seconds <= OPS_MAX_SECONDS, 1,
                "seconds must be between 0 and 1e9");
  struct ops_loop *loop = ops_engine_loop(ops_engine_of(L));
  struct s_sleep *sleep = ops_engine_wait_new(L, sizeof(*sleep), s_sleep_cancel);
  sleep->wait.unbounded = true;
  sleep->loop = loop;
  sleep->timer =
      ops_loop_timer_start(loop, (uint64_t)(seconds * 1000.0 + 0.5), s_sleep_fired, sleep);
  if (!sleep->timer)
    return luaL_error(L, "out of memory starting a timer");
  return ops_engine_suspend(L, &sleep->wait, s_sleep_k, 0);
}

/* ---------------------------------------------------------------- groups */

struct s_group_wait {
  struct ops_wait wait;
  struct s_group *group;
};

static struct s_group *s_check_group(lua_State *L)
{
  return luaL_checkudata(L, 1, GROUP_METATABLE);
}

static int engine_group(lua_State *L)
{
  struct s_group *group = lua_newuserdatauv(L, sizeof(*group), 1);
  *group = (struct s_group){.engine = ops_engine_of(L), .head = 1, .tail = 1};
  lua_newtable(L);
  lua_setiuservalue(L, -2, 1);
  luaL_setmetatable(L, GROUP_METATABLE);
  return 1;
}

/* group:spawn(key, timeout, account, fn, ...) */
static int group_spawn(lua_State *L)
{
  s_check_group(L);
  luaL_checkany(L, 2);
  lua_Number timeout = luaL_optnumber(L, 3, 0);
  luaL_argcheck(L, timeout >= 0 && timeout <= OPS_MAX_SECONDS, 3,
                "timeout must be a number of seconds from 0 (none) to 1e9");
  const char *account = luaL_optstring(L, 4, "");
  luaL_checktype(L, 5, LUA_TFUNCTION);
  s_spawn(L, 1, 2, timeout, account, lua_gettop(L) - 5);
  return 0;
}

static int group_pending(lua_State *L)
{
  lua_pushinteger(L, s_check_group(L)->pending);
  return 1;
}

/* Pops the oldest record and pushes key, ok, seconds, traceback, n, values... */
static int s_group_pop(lua_State *L, struct s_group *group)
{
  group->pending--;
  lua_getiuservalue(L, 1, 1);
  lua_rawgeti(L, -1, group->head);
  lua_pushnil(L);
  lua_rawseti(L, -3, group->head++);
  lua_remove(L, -2);
  int base = lua_gettop(L);
  lua_rawgeti(L, base, 5);
  int n = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  luaL_checkstack(L, n + 5, "too many results");
  for (int i = 1; i <= 5 + n; i++)
    lua_rawgeti(L, base, i);
  lua_remove(L, base);
  return 5 + n;
}

static int s_group_next_k(lua_State *L, int status, lua_KContext ctx)
{
  (void)status;
  struct s_group_wait *gw = (struct s_group_wait *)ctx;
  gw->group->waiter = NULL;
  return s_group_pop(L, gw->group);
}

static void s_group_wait_cancel(struct ops_wait *wait)
{
  ((struct s_group_wait *)wait)->group->waiter = NULL;
}

/* group:next() -> key, ok, seconds, traceback, n, values... of the next task to end, in the
 * order they end; nil when no task of the group is left. */
static int group_next(lua_State *L)
{
  struct s_group *group = s_check_group(L);
  lua_settop(L, 1);
  if (group->head < group->tail)
    return s_group_pop(L, group);
  if (group->pending == 0)
    return 0;
  if (group->waiter)
    return luaL_error(L, "another task is already waiting on this group");
  /* not ops_engine_wait_new: a __gc calling the cancel would touch the group, which the
   * collector may have freed first; the wait holds nothing to free */
  struct s_group_wait *gw = lua_newuserdatauv(L, sizeof(*gw), 0);
  *gw = (struct s_group_wait){
      .wait = {.cancel = s_group_wait_cancel, .survives_interrupt = true, .unbounded = true},
      .group = group};
  group->waiter = &gw->wait;
  return ops_engine_suspend(L, &gw->wait, s_group_next_k, (lua_KContext)gw);
}

/* ---------------------------------------------------------------- running a function */

int ops_engine_run(lua_State *L, int nargs)
{
  luaL_checkstack(L, 2, "running a function"); /* the group and the key below it */
  int function_index = lua_gettop(L) - nargs;
  lua_pushcfunction(L, engine_group);
  lua_call(L, 0, 1);
  lua_insert(L, function_index); /* group, fn, args... */
  lua_pushboolean(L, 1);         /* the key: any value */
  lua_insert(L, function_index + 1);
  s_spawn(L, function_index, function_index + 1, 0, "", nargs);
  lua_settop(L, function_index);
  lua_pushcfunction(L, group_next);
  lua_insert(L, function_index);
  lua_call(L, 1, LUA_MULTRET); /* key, ok, seconds, traceback, n, values... */
  bool ok = lua_toboolean(L, function_index + 1);
  if (ok) {
    lua_rotate(L, function_index, -5);
    lua_pop(L, 5);
    return LUA_OK;
  }
  /* key, false, seconds, traceback, 1, error -> error, traceback */
  lua_pushvalue(L, function_index + 3);
  if (lua_isnil(L, -1)) { /* the error escaped the handler: describe it plainly */
    lua_pop(L, 1);
    luaL_traceback(L, L, luaL_tolstring(L, function_index + 5, NULL), 0);
    lua_remove(L, -2);
  }
  lua_rotate(L, function_index, 2);
  lua_settop(L, function_index + 1);
  return LUA_ERRRUN;
}

/* ---------------------------------------------------------------- private primitives */

static int engine_note_failure(lua_State *L)
{
  ops_engine_of(L)->failures += (int)luaL_optinteger(L, 1, 1);
  return 0;
}

static int engine_clock(lua_State *L)
{
  lua_pushnumber(L, (lua_Number)ops_loop_now_ms() / 1000.0);
  return 1;
}

/* interrupted() -> whether a signal interrupted opsrun or the running task's call was
 * cancelled. */
static int engine_interrupted(lua_State *L)
{
  lua_pushboolean(L, ops_engine_interrupted(ops_engine_of(L)) || s_running_task_cancelled(L));
  return 1;
}

/* interruption() -> "interrupted by SIGTERM" (or "cancelled by the client"), for a line that
 * tells the user: opsrun then adds none of its own (main.c). */
static int engine_interruption(lua_State *L)
{
  if (!s_running_task_cancelled(L))
    ops_engine_of(L)->interrupt_told = true;
  s_push_interruption_words(L);
  return 1;
}

/* scope([n]) -> the running task's scope (0: none), after setting it to n when given: the tasks
 * it spawns from then on inherit it. */
static int engine_scope(lua_State *L)
{
  struct ops_task *task = ops_engine_running_task(L);
  if (!lua_isnoneornil(L, 1)) {
    lua_Integer scope = luaL_checkinteger(L, 1);
    luaL_argcheck(L, task != NULL, 1, "only a task has a scope");
    task->scope = scope;
  }
  lua_pushinteger(L, task ? task->scope : 0);
  return 1;
}

/* cancel_scope(n): every task of scope n stops where it waits, with an error of kind
 * "cancelled", code "Cancelled" (a sweep's wait for its tasks goes on, as at an interrupt, and
 * ends with what finished); a task of it that waits later fails at once. */
static int engine_cancel_scope(lua_State *L)
{
  lua_Integer scope = luaL_checkinteger(L, 1);
  luaL_argcheck(L, scope != 0, 1, "scope 0 is every task outside a call");
  struct ops_engine *engine = ops_engine_of(L);
  for (struct ops_list_node *node = engine->live.head; node; node = node->next) {
    struct ops_task *task = OPS_LIST_ENTRY(node, struct ops_task, live_node);
    if (task->scope != scope)
      continue;
    task->cancelled = true;
    struct ops_wait *wait = task->state == TASK_SUSPENDED ? task->wait : NULL;
    if (wait && !wait->survives_interrupt)
      s_interrupt_wait(wait);
    else if (wait && wait->on_interrupt)
      wait->on_interrupt(wait);
  }
  return 0;
}

static int engine_status(lua_State *L)
{
  ops_log_status(luaL_optstring(L, 1, NULL));
  return 0;
}

int luaopen_opsrun_engine(lua_State *L)
{
  ops_engine_of(L);
  static const luaL_Reg group_methods[] = {
      {"spawn", group_spawn}, {"next", group_next}, {"pending", group_pending}, {NULL, NULL}};
  luaL_newmetatable(L, GROUP_METATABLE);
  luaL_newlib(L, group_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  static const luaL_Reg functions[] = {{"sleep", engine_sleep},
                                       {"group", engine_group},
                                       {"note_failure", engine_note_failure},
                                       {"clock", engine_clock},
                                       {"status", engine_status},
                                       {"interrupted", engine_interrupted},
                                       {"interruption", engine_interruption},
                                       {"scope", engine_scope},
                                       {"cancel_scope", engine_cancel_scope},
                                       {NULL, NULL}};
  luaL_newlib(L, functions);
  lua_pushnumber(L, OPS_MAX_SECONDS);
  lua_setfield(L, -2, "MAX_SECONDS");
  return 1;
}
