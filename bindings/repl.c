/* repl.c: a line-by-line REPL in the manner of lua.c: `=expr` and bare expressions print their
 * values, incomplete statements continue on the next line, each entry runs as a task. */
#include "bindings/repl.h"

#include <lauxlib.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bindings/engine.h"

#define PROMPT "opsrun> "
#define CONTINUATION_PROMPT "   ...> "

/* Reads one line without its newline; NULL at end of input. The caller frees it. */
static char *s_read_line(bool first)
{
  if (isatty(STDIN_FILENO)) {
    fputs(first ? PROMPT : CONTINUATION_PROMPT, stdout);
    fflush(stdout);
  }
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

/* Reads until a whole chunk compiles (or fails for good); leaves the function or the error. */
static int s_read_chunk(lua_State *L, bool *eof)
{
  char *line = s_read_line(true);
  if (!line) {
    *eof = true;
    return LUA_ERRSYNTAX;
  }
  lua_pushstring(L, line);
  free(line);
  int status;
  while ((status = s_compile(L, lua_tostring(L, -1))), s_incomplete(L, status)) {
    lua_pop(L, 1);
    char *more = s_read_line(false);
    if (!more)
      break;
    lua_pushfstring(L, "%s\n%s", lua_tostring(L, -1), more);
    lua_remove(L, -2);
    free(more);
  }
  lua_remove(L, -2); /* the source */
  return status;
}

static void s_print_values(lua_State *L, int base)
{
  int n = lua_gettop(L) - base;
  if (n == 0)
    return;
  lua_getglobal(L, "print");
  lua_insert(L, base + 1);
  if (lua_pcall(L, n, 0, 0) != LUA_OK) {
    fprintf(stderr, "opsrun: error printing the result: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
}

void ops_repl_run(lua_State *L)
{
  for (;;) {
    int base = lua_gettop(L);
    bool eof = false;
    int status = s_read_chunk(L, &eof);
    if (eof)
      break;
    if (status == LUA_OK)
      status = ops_engine_run(L, 0);
    if (status == LUA_OK) {
      s_print_values(L, base);
    } else {
      /* a traceback when the chunk ran, the message alone for a syntax error */
      fprintf(stderr, "%s\n", lua_tostring(L, -1) ? lua_tostring(L, -1) : "(error object)");
    }
    lua_settop(L, base);
  }
  if (isatty(STDIN_FILENO))
    fputc('\n', stdout);
}
