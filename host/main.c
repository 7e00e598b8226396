/* main.c: the opsrun host. Parses the command line, opens Lua with lua-cjson and the opsrun
 * module as globals, runs the script, chunk or REPL as tasks, and maps the outcome to SPEC
 * section 1's exit statuses. */
#include <curl/curl.h>
#include <lauxlib.h>
#include <lua-cjson.h>
#include <lualib.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "bindings/lua_engine.h"
#include "bindings/lua_error.h"
#include "bindings/lua_identity.h"
#include "bindings/lua_opsrun.h"
#include "bindings/lua_registry.h"
#include "host/cli.h"
#include "host/repl.h"
#include "runtime/log.h"

/* SPEC section 1; EXIT_USAGE also covers configuration errors (registry, credentials); an
 * interrupted run exits as the shell reports a signal: 128 + its number (EXIT_SIGNAL_BASE) */
enum {
  EXIT_OK = 0,
  EXIT_LUA_ERROR = 1,
  EXIT_USAGE = 2,
  EXIT_TASKS_FAILED = 3,
  EXIT_SIGNAL_BASE = 128
};

/* Ctrl-C, and the signals with which systemd, timeout(1), cron wrappers and Kubernetes end a
 * process or a closed terminal ends its session: each ends opsrun as Ctrl-C does. */
static const int s_interrupt_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define INTERRUPT_SIGNAL_COUNT (sizeof(s_interrupt_signals) / sizeof(*s_interrupt_signals))

static struct ops_engine *s_engine; /* for the signal handler */

/* The first signal interrupts the tasks (their finished results are kept, the sessions are
 * closed); any second one ends opsrun at once, as the handler gives every signal back to its
 * default action (sigaction is async-signal-safe). */
static void s_on_interrupt(int signal_number)
{
  struct sigaction fallback = {.sa_handler = SIG_DFL};
  sigemptyset(&fallback.sa_mask);
  for (size_t i = 0; i < INTERRUPT_SIGNAL_COUNT; i++)
    sigaction(s_interrupt_signals[i], &fallback, NULL);
  ops_engine_interrupt(s_engine, signal_number);
}

static void s_catch_interrupts(lua_State *L)
{
  s_engine = ops_engine_of(L);
  struct sigaction action = {.sa_handler = s_on_interrupt};
  sigemptyset(&action.sa_mask);
  for (size_t i = 0; i < INTERRUPT_SIGNAL_COUNT; i++)
    sigaddset(&action.sa_mask, s_interrupt_signals[i]); /* one handler runs at a time */
  for (size_t i = 0; i < INTERRUPT_SIGNAL_COUNT; i++)
    sigaction(s_interrupt_signals[i], &action, NULL);
}

/* 128 + the signal, with one line saying so unless a sweep's summary said it already. */
static int s_interrupted_status(lua_State *L)
{
  struct ops_engine *engine = ops_engine_of(L);
  if (!ops_engine_interrupt_told(engine))
    fprintf(stderr, "opsrun: interrupted by %s\n", ops_engine_interrupt_name(engine));
  return EXIT_SIGNAL_BASE + ops_engine_interrupt_signal(engine);
}

static int s_panic(lua_State *L)
{
  const char *message = lua_tostring(L, -1);
  fprintf(stderr, "opsrun: unprotected Lua error: %s\n", message ? message : "(not a string)");
  return 0; /* Lua aborts */
}

static void s_print_version(void)
{
  printf("opsrun %s (%s, libcurl %s, %s)\n", OPS_VERSION, LUA_RELEASE,
         curl_version_info(CURLVERSION_NOW)->version, OpenSSL_version(OPENSSL_VERSION));
}

/* package.preload entries, then `opsrun` required and its fields made globals. A playbook's
 * require "cjson" gives the global `json` (lua-cjson whose encode leaves "/" as it is): one JSON
 * for the script, whichever way it names it. */
static void s_open_opsrun(lua_State *L)
{
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_cjson);
  lua_setfield(L, -2, "cjson");
  lua_pushcfunction(L, luaopen_opsrun);
  lua_setfield(L, -2, "opsrun");
  lua_pop(L, 1);
  luaL_requiref(L, "opsrun", luaopen_opsrun, 0);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -2, "json");
  lua_setfield(L, -2, "cjson");
  lua_pop(L, 1);
  lua_pushnil(L);
  while (lua_next(L, -2)) /* every key is a string: lua_tostring leaves it as it is */
    lua_setglobal(L, lua_tostring(L, -2));
  lua_pop(L, 1);
}

/* os.exit as the host keeps it: the rows the buffered output formats hold are printed first (as at
 * a script's end, [] for -o json with no rows; at the REPL only the rows), and
 * an exit with success (none, true or 0) after a sweep task failed exits 3, as the script's end
 * would (SPEC section 1): a playbook's os.exit(0) cannot hide a failed account from cron. At
 * the REPL, whose user saw the failure, success stays 0. Then Lua's own os.exit (upvalue 1). */
static int s_os_exit(lua_State *L)
{
  int nargs = lua_gettop(L) < 2 ? lua_gettop(L) : 2; /* code, close */
  lua_settop(L, nargs);
  bool success = lua_isnoneornil(L, 1) || (lua_isboolean(L, 1) && lua_toboolean(L, 1)) ||
                 (lua_isinteger(L, 1) && lua_tointeger(L, 1) == EXIT_OK);
  bool interactive = lua_toboolean(L, lua_upvalueindex(2));
  if (success && !interactive && ops_engine_failures(ops_engine_of(L)) > 0) {
    lua_pushinteger(L, EXIT_TASKS_FAILED);
    if (nargs == 0)
      nargs = 1;
    else
      lua_replace(L, 1);
  }
  lua_getfield(L, LUA_REGISTRYINDEX, OPS_PRIVATE_KEY);
  lua_getfield(L, -1, interactive ? "emit_flush" : "emit_finish");
  if (lua_pcall(L, 0, 0, 0) != LUA_OK)
    ops_log_error_report("opsrun: ", luaL_tolstring(L, -1, NULL), NULL);
  lua_settop(L, nargs);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, nargs, 0);
  return 0;
}

static void s_keep_exit_status(lua_State *L, bool interactive)
{
  lua_getglobal(L, "os");
  lua_getfield(L, -1, "exit");
  lua_pushboolean(L, interactive);
  lua_pushcclosure(L, s_os_exit, 2);
  lua_setfield(L, -2, "exit");
  lua_pop(L, 1);
}

/* `arg` as lua.c makes it: the script at 0, its arguments from 1, what precedes it below 0. */
static void s_create_arg_table(lua_State *L, int argc, char **argv, int script_index)
{
  lua_createtable(L, argc - script_index, script_index + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script_index);
  }
  lua_setglobal(L, "arg");
}

/* Pushes the script's arguments (after SCRIPT or CHUNK), with room for the function that runs
 * them (s_run_script); returns how many. */
static int s_push_script_args(lua_State *L, int argc, char **argv, int script_index)
{
  int n = argc - script_index - 1;
  luaL_checkstack(L, (n > 0 ? n : 0) + 1, "too many arguments to the script");
  for (int i = script_index + 1; i < argc; i++)
    lua_pushstring(L, argv[i]);
  return n > 0 ? n : 0;
}

/* A configuration problem (SPEC kinds config and registry, no credentials at all, an SSO sign-in
 * to renew with `aws sso login`, the caller's own credentials refused) is not a bug in the
 * script: it exits 2 with the error's one line and no traceback. The test is the one a sweep
 * applies to its tasks' errors (sweep.lua's private.is_configuration_error). */
static bool s_is_configuration_error(lua_State *L, int index)
{
  index = lua_absindex(L, index);
  lua_getfield(L, LUA_REGISTRYINDEX, OPS_PRIVATE_KEY);
  lua_getfield(L, -1, "is_configuration_error");
  lua_pushvalue(L, index);
  bool configuration = lua_pcall(L, 1, 1, 0) == LUA_OK && lua_toboolean(L, -1);
  lua_pop(L, 2);
  return configuration;
}

/* Runs the loaded chunk on top of the stack with `nargs` arguments as the main task. A script's
 * error is shown with its traceback (it points into the user's code); a command's error (doctor,
 * tools, call) with its one line, the traceback being opsrun's own. */
static int s_run_main_task(lua_State *L, int nargs, bool show_traceback)
{
  if (ops_engine_run(L, nargs) == LUA_OK)
    return EXIT_OK;
  if (ops_engine_interrupted(ops_engine_of(L)))
    return s_interrupted_status(L);
  if (s_is_configuration_error(L, -2)) {
    ops_log_error_report("opsrun: ", ops_lua_error_text(L, -2), NULL);
    return EXIT_USAGE;
  }
  const char *traceback = show_traceback ? lua_tostring(L, -1) : NULL;
  ops_log_error_report("opsrun: ", ops_lua_error_text(L, -2), traceback);
  return EXIT_LUA_ERROR;
}

/* Runs the loaded script (or chunk) and its `nargs` arguments as the main task, acting as the
 * state's own identity: the role it assumes is the one `opsrun -i SCRIPT` goes on with. */
static int s_run_script(lua_State *L, int nargs)
{
  lua_pushcfunction(L, ops_identity_run_as_main);
  lua_insert(L, -2 - nargs);
  int status = s_run_main_task(L, nargs + 1, true);
  ops_identity_unshare_main(L);
  return status;
}

/* `opsrun tools`, `opsrun call ...` and `opsrun doctor`: commands.lua's function with the words
 * after it. A command may return its exit status (doctor: 1 when a check failed). */
static int s_run_command(lua_State *L, const struct ops_cli *cli, int argc, char **argv)
{
  int top = lua_gettop(L);
  ops_lua_private_get(L, "commands", cli->command);
  lua_createtable(L, argc - cli->script_index - 1, 0);
  for (int i = cli->script_index + 1; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - cli->script_index);
  }
  int status = s_run_main_task(L, 1, false);
  if (status == EXIT_OK && lua_gettop(L) > top && lua_isinteger(L, -1))
    status = (int)lua_tointeger(L, -1);
  lua_settop(L, top);
  return status;
}

/* Runs private.<field>.<name>() or private.<name>() as a task at the end of a run. */
static void s_run_epilogue(lua_State *L, const char *field, const char *name)
{
  if (field) {
    ops_lua_private_get(L, field, name);
  } else {
    lua_getfield(L, LUA_REGISTRYINDEX, OPS_PRIVATE_KEY);
    lua_getfield(L, -1, name);
    lua_remove(L, -2);
  }
  if (ops_engine_run(L, 0) != LUA_OK)
    ops_log_error_report("opsrun: ", luaL_tolstring(L, -2, NULL), NULL);
  lua_settop(L, 0);
}

static int s_load(lua_State *L, const struct ops_cli *cli, char **argv)
{
  if (cli->mode == OPS_CLI_CHUNK)
    return luaL_loadbuffer(L, cli->chunk, strlen(cli->chunk), "=(command line)");
  const char *script = argv[cli->script_index];
  return luaL_loadfile(L, strcmp(script, "-") == 0 ? NULL : script);
}

/* The whole run, under lua_pcall (as lua.c's pmain): returns the exit status as an integer. */
static int s_main(lua_State *L)
{
  const struct ops_cli *cli = lua_touserdata(L, 1);
  int argc = (int)lua_tointeger(L, 2);
  char **argv = lua_touserdata(L, 3);
  lua_settop(L, 0);
  luaL_openlibs(L);
  s_open_opsrun(L);
  s_keep_exit_status(L, cli->interactive);
  s_catch_interrupts(L);
  s_create_arg_table(L, argc, argv, cli->script_index);
  struct ops_error err;
  /* an invalid registry stops a script before it starts, not after its first sweeps; the
   * commands load it only when they use it (--account's entry; doctor reports it as a check) */
  if (cli->mode != OPS_CLI_COMMAND && ops_lua_registry_preload(L, &err) != 0) {
    ops_log_error_report("opsrun: ", err.message, NULL);
    lua_pushinteger(L, EXIT_USAGE);
    return 1;
  }
  int status = EXIT_OK;
  if (cli->mode == OPS_CLI_SCRIPT || cli->mode == OPS_CLI_CHUNK) {
    if (s_load(L, cli, argv) != LUA_OK) {
      ops_log_error_report("opsrun: ", lua_tostring(L, -1), NULL);
      lua_pushinteger(L, EXIT_LUA_ERROR);
      return 1;
    }
    status = s_run_script(L, s_push_script_args(L, argc, argv, cli->script_index));
  } else if (cli->mode == OPS_CLI_COMMAND) {
    status = s_run_command(L, cli, argc, argv);
  }
  /* table, json and csv rows, even after an error; a script's end prints [] for -o json with no
   * rows (emit.lua) */
  bool script = cli->mode == OPS_CLI_SCRIPT || cli->mode == OPS_CLI_CHUNK;
  s_run_epilogue(L, NULL, script ? "emit_finish" : "emit_flush");
  if (status == EXIT_OK && cli->interactive)
    ops_repl_run(L, s_catch_interrupts);
  s_run_epilogue(L, "mcp", "close"); /* DELETE each MCP session, as the specification asks */
  /* a signal after the script's end (one that ended the REPL, or came while closing) */
  if (status < EXIT_SIGNAL_BASE && ops_engine_interrupted(ops_engine_of(L)))
    status = s_interrupted_status(L);
  /* exit status 3 tells cron a sweep failed; a person at the REPL has seen it already */
  if (status == EXIT_OK && !cli->interactive && ops_engine_failures(ops_engine_of(L)) > 0)
    status = EXIT_TASKS_FAILED;
  lua_pushinteger(L, status);
  return 1;
}

int main(int argc, char **argv)
{
  /* Keys and session tokens live in this process's memory: a crash must not write them to a
   * core file, nor may other processes of the same user read them (ptrace, /proc/PID/mem). So
   * the process is not dumpable, from before any credential is read. */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  struct ops_cli cli;
  char error[256];
  if (ops_cli_parse(argc, argv, &cli, error, sizeof(error)) != 0) {
    fprintf(stderr, "opsrun: %s\nTry 'opsrun --help' for more information.\n", error);
    return EXIT_USAGE;
  }
  if (cli.mode == OPS_CLI_HELP) {
    fputs(ops_cli_usage, stdout);
    return EXIT_OK;
  }
  if (cli.mode == OPS_CLI_VERSION) {
    s_print_version();
    return EXIT_OK;
  }
  ops_log_configure(cli.config.log_level, cli.config.log_format, stderr);
  lua_State *L = luaL_newstate();
  if (!L) {
    fprintf(stderr, "opsrun: cannot create a Lua state: out of memory\n");
    return EXIT_LUA_ERROR;
  }
  lua_atpanic(L, s_panic);
  ops_config_store(L, &cli.config);
  lua_pushcfunction(L, s_main);
  lua_pushlightuserdata(L, &cli);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int status;
  if (lua_pcall(L, 3, 1, 0) == LUA_OK) {
    status = (int)lua_tointeger(L, -1);
  } else {
    ops_log_error_report("opsrun: ", luaL_tolstring(L, -1, NULL), NULL);
    status = EXIT_LUA_ERROR;
  }
  lua_close(L);
  curl_global_cleanup(); /* of the first transfer's curl_global_init (runtime/http.c) */
  return status;
}
