/* repl.c: the REPL of `opsrun -i` (SPEC section 5) on libedit's readline API: line editing,
 * history kept between runs, Tab completion, a prompt with the account and region, Ctrl-C.
 * Each entry runs as a task (bindings/lua_engine.h) and the entries share one identity
 * (bindings/lua_identity.h); how values print and what Tab offers is bindings/lua/repl.lua's
 * policy. Without a terminal on stdin it reads plain lines and shows no prompt, as lua.c does. */
#include "host/repl.h"

#include <editline/readline.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <locale.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bindings/lua_engine.h"
#include "bindings/lua_error.h"
#include "bindings/lua_identity.h"
#include "bindings/lua_opsrun.h"
#include "runtime/log.h"

#define HISTORY_ENTRIES              1000
#define LIBEDIT_HISTORY_COOKIE       "_HiStOrY_V2_" /* the first line write_history writes */
#define INTERRUPT_CHECK_INSTRUCTIONS 10000
/* Lua's operators and brackets end a word; `.` and `:` do not, so a whole path is completed */
#define WORD_BREAKS " \t\n\"'`@$><=;|&{(,[+-*/%^#~)}]"

struct s_repl {
  lua_State *L;
  struct ops_engine *engine;
  void (*catch_interrupts)(lua_State *L);
  bool terminal;
  bool history; /* history_path is usable */
  char history_path[4096];
  char *last_entry; /* the last entry added to the history */
  char prompt[160];
  char continuation[160];
};

/* readline's callbacks take no argument: the REPL being run, for completion */
static struct s_repl *s_active;

/* ------------------------------------------------------------------ Lua helpers */

/* A busy loop typed at the prompt does not wait, so no wait raises the interrupt: this does. */
static void s_interrupt_hook(lua_State *L, lua_Debug *ar)
{
  (void)ar;
  if (!ops_engine_interrupted(ops_engine_of(L)))
    return;
  struct ops_error err;
  ops_error_set(&err, OPS_ERR_CANCELLED, "interrupted by %s",
                ops_engine_interrupt_name(ops_engine_of(L)));
  ops_error_set_code(&err, "Interrupted");
  ops_lua_error_push(L, &err, NULL, ops_engine_task_account(ops_engine_running_task(L)));
  lua_error(L);
}

/* The body of an entry's task: fn(args...) acting as the REPL's identity. */
static int s_entry(lua_State *L)
{
  lua_sethook(L, s_interrupt_hook, LUA_MASKCOUNT, INTERRUPT_CHECK_INSTRUCTIONS);
  return ops_identity_run_as_main(L);
}

/* Runs the function and its `nargs` arguments on top of the stack as an entry's task; results
 * and status as ops_engine_run's. */
static int s_run_task(struct s_repl *repl, int nargs)
{
  lua_State *L = repl->L;
  lua_pushcfunction(L, s_entry);
  lua_insert(L, -2 - nargs);
  int status = ops_engine_run(L, nargs + 1);
  ops_identity_unshare_main(L);
  return status;
}

/* ------------------------------------------------------------------ prompt */

static int s_push_identity(lua_State *L)
{
  lua_pushstring(L, ops_identity_main_account(L));
  lua_pushstring(L, ops_identity_region(L));
  return 2;
}

/* "opsrun ACCOUNT REGION> ", the account once known; the continuation prompt as wide. */
static void s_update_prompts(struct s_repl *repl)
{
  lua_State *L = repl->L;
  lua_pushcfunction(L, s_push_identity);
  if (lua_pcall(L, 0, 2, 0) != LUA_OK) {
    snprintf(repl->prompt, sizeof(repl->prompt), "opsrun> ");
    lua_pop(L, 1);
  } else {
    const char *account = lua_tostring(L, -2);
    snprintf(repl->prompt, sizeof(repl->prompt), "opsrun %s%s%s> ", account, *account ? " " : "",
             lua_tostring(L, -1));
    lua_pop(L, 2);
  }
  int width = (int)strlen(repl->prompt) - 2;
  snprintf(repl->continuation, sizeof(repl->continuation), "%*s> ", width > 3 ? width : 3, "...");
}

/* ------------------------------------------------------------------ history */

/* mkdir -p, new directories private to the user (0700). */
static int s_make_directories(char *path)
{
  for (char *p = path + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    int rc = mkdir(path, 0700);
    *p = '/';
    if (rc != 0 && errno != EEXIST)
      return -1;
  }
  return mkdir(path, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* Creates the history file private (0600), or makes one an earlier run left so: write_history
 * creates it 0666 less the umask, and a chmod after each write left it readable in between. */
static int s_history_file_private(const char *path)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return -1;
  int rc = fchmod(fd, 0600);
  close(fd);
  return rc;
}

/* The history file holds one entry a line, as typed: libedit's read_history and write_history
 * would encode it with strvis(3) (a space as \040), unreadable to grep and other tools. An entry
 * of several lines is kept as its lines, each recalled alone after a restart (as GNU readline and
 * bash keep theirs). */
static void s_history_read(const char *path)
{
  FILE *file = fopen(path, "re");
  if (!file)
    return;
  char *line = NULL;
  size_t size = 0;
  ssize_t len;
  while ((len = getline(&line, &size, file)) > 0) {
    if (line[len - 1] == '\n')
      line[--len] = '\0';
    if (len > 0 && strcmp(line, LIBEDIT_HISTORY_COOKIE) != 0) /* an earlier opsrun's file */
      add_history(line);
  }
  free(line);
  fclose(file);
}

/* Rewrites the file with the entries kept (the last HISTORY_ENTRIES); it stays 0600. */
static void s_history_write(const char *path)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  FILE *file = fd < 0 ? NULL : fdopen(fd, "w");
  if (!file) {
    if (fd >= 0)
      close(fd);
    return;
  }
  for (int i = 0; i < history_length; i++) {
    HIST_ENTRY *entry = history_get(history_base + i);
    if (entry && entry->line)
      fprintf(file, "%s\n", entry->line);
  }
  fclose(file);
}

/* $XDG_STATE_HOME/opsrun/history, else ~/.local/state/opsrun/history (the XDG default); its
 * directories made, the file private. Loads what an earlier run saved. */
static void s_history_open(struct s_repl *repl)
{
  const char *state = getenv("XDG_STATE_HOME");
  const char *home = getenv("HOME");
  char *path = repl->history_path;
  size_t size = sizeof(repl->history_path);
  int n;
  if (state && state[0] == '/') /* XDG: a relative path is to be ignored */
    n = snprintf(path, size, "%s/opsrun", state);
  else if (home && home[0])
    n = snprintf(path, size, "%s/.local/state/opsrun", home);
  else
    return;
  if (n < 0 || (size_t)n + sizeof("/history") > size)
    return;
  if (s_make_directories(path) != 0) {
    fprintf(stderr, "opsrun: history not kept: cannot create %s: %s\n", path, strerror(errno));
    return;
  }
  snprintf(path + n, size - (size_t)n, "/history");
  if (s_history_file_private(path) != 0) {
    fprintf(stderr, "opsrun: history not kept: cannot create %s: %s\n", path, strerror(errno));
    return;
  }
  repl->history = true;
  stifle_history(HISTORY_ENTRIES);
  s_history_read(path);
}

/* Adds a whole entry (its lines joined, as lua.c does) unless blank or the same as the last. */
static void s_history_add(struct s_repl *repl, const char *entry)
{
  if (!repl->terminal || entry[strspn(entry, " \t\n")] == '\0')
    return;
  if (repl->last_entry && strcmp(repl->last_entry, entry) == 0)
    return;
  add_history(entry);
  free(repl->last_entry);
  repl->last_entry = strdup(entry);
  if (repl->history)
    s_history_write(repl->history_path);
}

/* ------------------------------------------------------------------ completion */

/* The matches for readline: [what to insert, matches..., NULL], or NULL when there are none or
 * memory ran out. readline frees them. */
static char **s_match_array(lua_State *L, int matches, int insert)
{
  size_t n = lua_rawlen(L, matches);
  char **array = n > 0 ? calloc(n + 2, sizeof(*array)) : NULL;
  if (!array)
    return NULL;
  array[0] = strdup(lua_tostring(L, insert) ? lua_tostring(L, insert) : "");
  if (!array[0])
    goto fail;
  for (size_t i = 1; i <= n; i++) {
    lua_rawgeti(L, matches, (lua_Integer)i);
    array[i] = strdup(lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
    lua_pop(L, 1);
    if (!array[i])
      goto fail;
  }
  return array;
fail:
  for (size_t i = 0; i <= n; i++)
    free(array[i]);
  free(array);
  return NULL;
}

/* rl_attempted_completion_function: private.repl.complete(line, cursor, word), run as a task
 * because finding tool names is a network call. */
static char **s_complete(const char *text, int start, int end)
{
  (void)start;
  rl_attempted_completion_over = 1; /* never file names */
  struct s_repl *repl = s_active;
  lua_State *L = repl->L;
  int top = lua_gettop(L);
  char **array = NULL;
  ops_lua_private_get(L, "repl", "complete");
  lua_pushstring(L, rl_line_buffer);
  lua_pushinteger(L, end); /* in characters: libedit counts wide characters */
  lua_pushstring(L, text);
  if (s_run_task(repl, 3) == LUA_OK && lua_istable(L, top + 1)) {
    const char *append = lua_tostring(L, top + 3);
    rl_completion_append_character = append && append[0] ? append[0] : '\0';
    array = s_match_array(L, top + 1, top + 2);
  }
  lua_settop(L, top);
  ops_engine_clear_interrupt(repl->engine); /* a Ctrl-C while it ran only stops it */
  repl->catch_interrupts(L);
  return array;
}

/* ------------------------------------------------------------------ reading */

static void s_editor_start(struct s_repl *repl)
{
  /* libedit decodes what is typed by LC_CTYPE: in the "C" locale it drops every non-ASCII
   * character. Lua itself classifies characters with its own tables, so this changes nothing
   * else. */
  setlocale(LC_CTYPE, "");
  rl_readline_name = "opsrun"; /* for `opsrun:` lines in ~/.editrc */
  rl_catch_signals = 0;        /* Ctrl-C is the host's handler's: see s_read_line */
  rl_attempted_completion_function = s_complete;
  rl_basic_word_break_characters = WORD_BREAKS;
  rl_completer_word_break_characters = (char *)WORD_BREAKS;
  s_history_open(repl);
}

/* One line without its newline; NULL at end of input, or with *interrupted after a Ctrl-C at
 * the prompt (the handler, not restarting reads, makes readline give up the line). */
static char *s_read_line(struct s_repl *repl, bool first, bool *interrupted)
{
  if (!repl->terminal) {
    char *line = NULL;
    size_t capacity = 0;
    ssize_t len = getline(&line, &capacity, stdin);
    if (len < 0) {
      free(line);
      return NULL;
    }
    if (len > 0 && line[len - 1] == '\n')
      line[len - 1] = '\0';
    return line;
  }
  repl->catch_interrupts(repl->L);
  char *line = readline(first ? repl->prompt : repl->continuation);
  if (ops_engine_interrupted(repl->engine)) {
    ops_engine_clear_interrupt(repl->engine);
    if (!line) {
      *interrupted = true;
      fputc('\n', stdout);
    }
  }
  return line;
}

/* A syntax error at end of input means the statement continues on the next line. */
static bool s_incomplete(lua_State *L, int status)
{
  if (status != LUA_ERRSYNTAX)
    return false;
  size_t len;
  const char *message = lua_tolstring(L, -1, &len);
  return len >= 5 && strcmp(message + len - 5, "<eof>") == 0;
}

/* Compiles `source` as an expression whose values are printed, else as statements. */
static int s_compile(lua_State *L, const char *source)
{
  const char *expression = source[0] == '=' ? source + 1 : source;
  lua_pushfstring(L, "return %s;", expression);
  int status = luaL_loadbuffer(L, lua_tostring(L, -1), lua_rawlen(L, -1), "=stdin");
  lua_remove(L, -2);
  if (status == LUA_OK || source[0] == '=')
    return status;
  lua_pop(L, 1);
  return luaL_loadbuffer(L, source, strlen(source), "=stdin");
}

enum s_read_outcome { READ_CHUNK, READ_COMMAND, READ_INTERRUPTED, READ_END };

/* Reads until a whole chunk compiles (or fails for good), leaving the function or the error
 * and its status in *status; or a REPL command (`:help`), leaving its line. */
static enum s_read_outcome s_read_chunk(struct s_repl *repl, int *status)
{
  lua_State *L = repl->L;
  bool interrupted = false;
  char *line = s_read_line(repl, true, &interrupted);
  if (!line)
    return interrupted ? READ_INTERRUPTED : READ_END;
  lua_pushstring(L, line);
  free(line);
  const char *first = lua_tostring(L, -1) + strspn(lua_tostring(L, -1), " \t");
  if (first[0] == ':' && first[1] != ':') { /* `::label::` is Lua */
    s_history_add(repl, first);
    lua_pushstring(L, first);
    lua_remove(L, -2);
    return READ_COMMAND;
  }
  while ((*status = s_compile(L, lua_tostring(L, -1))), s_incomplete(L, *status)) {
    lua_pop(L, 1);
    char *more = s_read_line(repl, false, &interrupted);
    if (!more) {
      s_history_add(repl, lua_tostring(L, -1));
      lua_pop(L, 1);
      return interrupted ? READ_INTERRUPTED : READ_END;
    }
    lua_pushfstring(L, "%s\n%s", lua_tostring(L, -1), more);
    lua_remove(L, -2);
    free(more);
  }
  s_history_add(repl, lua_tostring(L, -2));
  lua_remove(L, -2); /* the source */
  return READ_CHUNK;
}

/* ------------------------------------------------------------------ evaluating */

/* Runs a REPL command; false when it ends the REPL. */
static bool s_command(struct s_repl *repl, const char *command)
{
  size_t len = strcspn(command, " \t");
  if (strncmp(command, ":quit", len) == 0 && len > 1)
    return false;
  if (strncmp(command, ":help", len) == 0 && len > 1) {
    ops_lua_private_get(repl->L, "repl", "help");
    fputs(lua_tostring(repl->L, -1), stdout);
    lua_pop(repl->L, 1);
  } else {
    fprintf(stderr, "opsrun: unknown command %.*s (:help lists them)\n", (int)len, command);
  }
  return true;
}

/* private.repl.print_values(...) with the values above `base`, under pcall. */
static void s_print_values(lua_State *L, int base)
{
  int n = lua_gettop(L) - base;
  if (n == 0)
    return;
  ops_lua_private_get(L, "repl", "print_values");
  lua_insert(L, base + 1);
  if (lua_pcall(L, n, 0, 0) != LUA_OK) {
    fprintf(stderr, "opsrun: error printing the result: %s\n", luaL_tolstring(L, -1, NULL));
    lua_pop(L, 2);
  }
}

/* Rows passed to emit() in a buffered format (table, json, csv) are printed after each entry. */
static void s_flush_rows(lua_State *L)
{
  lua_getfield(L, LUA_REGISTRYINDEX, OPS_PRIVATE_KEY);
  lua_getfield(L, -1, "emit_flush");
  if (lua_pcall(L, 0, 0, 0) != LUA_OK)
    fprintf(stderr, "opsrun: %s\n", luaL_tolstring(L, -1, NULL));
  lua_pop(L, 1);
}

/* The error and traceback on top of the stack, as ops_engine_run leaves them. */
static void s_report_error(lua_State *L)
{
  const char *traceback = lua_tostring(L, -1);
  ops_log_error_report("", ops_lua_error_text(L, -2), traceback);
}

/* Runs the chunk on top of the stack and prints its values or its error. */
static void s_evaluate(struct s_repl *repl, int base)
{
  lua_State *L = repl->L;
  repl->catch_interrupts(L);
  ops_engine_clear_interrupt(repl->engine);
  int status = s_run_task(repl, 0);
  if (status == LUA_OK)
    s_print_values(L, base);
  else if (ops_engine_interrupted(repl->engine))
    fputs("interrupted\n", stderr);
  else
    s_report_error(L);
  s_flush_rows(L);
  ops_engine_clear_interrupt(repl->engine);
  fflush(stdout);
}

void ops_repl_run(lua_State *L, void (*catch_interrupts)(lua_State *L))
{
  struct s_repl repl = {.L = L,
                        .engine = ops_engine_of(L),
                        .catch_interrupts = catch_interrupts,
                        .terminal = isatty(STDIN_FILENO)};
  s_active = &repl;
  if (repl.terminal)
    s_editor_start(&repl);
  int base = lua_gettop(L);
  for (;;) {
    if (repl.terminal)
      s_update_prompts(&repl);
    int status = LUA_OK;
    enum s_read_outcome outcome = s_read_chunk(&repl, &status);
    if (outcome == READ_END) {
      if (repl.terminal) /* Ctrl-D leaves the cursor after the prompt */
        fputc('\n', stdout);
      break;
    }
    if (outcome == READ_COMMAND && !s_command(&repl, lua_tostring(L, -1)))
      break;
    if (outcome == READ_CHUNK && status == LUA_OK)
      s_evaluate(&repl, base);
    else if (outcome == READ_CHUNK) /* a syntax error: the message alone */
      fprintf(stderr, "%s\n", lua_tostring(L, -1));
    lua_settop(L, base);
    if (ops_engine_interrupted(repl.engine)) /* SIGTERM or SIGHUP, which Ctrl-C's clearing keeps */
      break;
  }
  lua_settop(L, base);
  free(repl.last_entry);
  s_active = NULL;
}
