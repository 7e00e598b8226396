/* lua_serve.c: the transports of `opsrun serve` for bindings/lua/serve.lua: an HTTP listener
 * (runtime/http_server.h) whose requests a task waits for with server:next(), and stdin read as
 * lines on the event loop, with stdout written whole. Each wait is an engine wait
 * (bindings/lua_engine.h); what the messages mean is serve.lua's. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bindings/lua_engine.h"
#include "bindings/lua_opsrun.h"
#include "runtime/buffer.h"
#include "runtime/http_server.h"

#define SERVER_METATABLE  "opsrun.HttpServer"
#define REQUEST_METATABLE "opsrun.HttpRequest"
#define READER_METATABLE  "opsrun.LineReader"

/* ---------------------------------------------------------------- waiting for one event */

/* A task waiting for the next request or line: a plain userdata without __gc (as group:next's),
 * since the collector may free the source before it; the wait holds nothing to free. */
struct s_next_wait {
  struct ops_wait wait;
  struct ops_wait **slot; /* the source's waiter field, cleared when the wait ends */
};

static void s_next_wait_cancel(struct ops_wait *wait)
{
  struct s_next_wait *next = (struct s_next_wait *)wait;
  if (next->slot && *next->slot == wait)
    *next->slot = NULL;
  next->slot = NULL;
}

/* Suspends the task until *slot's source calls s_wake, then continues in k. An interrupt (Ctrl-C,
 * SIGTERM) ends the wait with its error: serve.lua then shuts down. */
static int s_wait_for_next(lua_State *L, struct ops_wait **slot, lua_KFunction k)
{
  if (*slot)
    return luaL_error(L, "another task is already waiting here");
  struct s_next_wait *next = lua_newuserdatauv(L, sizeof(*next), 0);
  *next =
      (struct s_next_wait){.wait = {.cancel = s_next_wait_cancel, .unbounded = true}, .slot = slot};
  *slot = &next->wait;
  return ops_engine_suspend(L, &next->wait, k, 0);
}

static void s_wake(struct ops_wait **slot)
{
  struct ops_wait *wait = *slot;
  if (!wait)
    return;
  *slot = NULL;
  ((struct s_next_wait *)wait)->slot = NULL;
  ops_engine_wait_done(wait);
}

/* ---------------------------------------------------------------- HTTP requests */

struct s_request {
  struct ops_http_request *request; /* NULL once finished */
};

struct s_queued {
  struct ops_http_request *request;
  struct s_queued *next;
};

struct s_server {
  struct ops_http_server *server;
  struct s_queued *head, *tail; /* requests not yet handed to Lua */
  struct ops_wait *waiter;
};

static void s_on_request(struct ops_http_request *request, void *ud)
{
  struct s_server *server = ud;
  struct s_queued *queued = malloc(sizeof(*queued));
  if (!queued) {
    ops_http_request_reply(request, 500, NULL, "out of memory\n", 14);
    return;
  }
  *queued = (struct s_queued){.request = request};
  if (server->tail)
    server->tail->next = queued;
  else
    server->head = queued;
  server->tail = queued;
  s_wake(&server->waiter);
}

static struct s_request *s_check_request(lua_State *L)
{
  struct s_request *request = luaL_checkudata(L, 1, REQUEST_METATABLE);
  luaL_argcheck(L, request->request != NULL, 1, "the request was answered already");
  return request;
}

static int request_method(lua_State *L)
{
  lua_pushstring(L, ops_http_request_method(s_check_request(L)->request));
  return 1;
}

static int request_target(lua_State *L)
{
  lua_pushstring(L, ops_http_request_target(s_check_request(L)->request));
  return 1;
}

/* request:header(name) -> its value (several joined with ", "), or nil */
static int request_header(lua_State *L)
{
  struct s_request *request = s_check_request(L);
  const char *value = ops_http_request_header_value(request->request, luaL_checkstring(L, 2));
  if (!value)
    return 0;
  lua_pushstring(L, value);
  return 1;
}

static int request_body(lua_State *L)
{
  size_t len;
  const char *body = ops_http_request_body(s_check_request(L)->request, &len);
  lua_pushlstring(L, body, len);
  return 1;
}

/* request:reply(status, headers, body): "Name: value\r\n" lines, then the whole body; ends it. */
static int request_reply(lua_State *L)
{
  struct s_request *request = s_check_request(L);
  int status = (int)luaL_checkinteger(L, 2);
  const char *headers = luaL_optstring(L, 3, NULL);
  size_t len = 0;
  const char *body = luaL_optlstring(L, 4, "", &len);
  ops_http_request_reply(request->request, status, headers, body, len);
  request->request = NULL;
  return 0;
}

/* request:stream(status, headers): starts a chunked reply; request:write(data) sends a chunk and
 * returns whether the client is still there; request:finish() ends it. */
static int request_stream(lua_State *L)
{
  struct s_request *request = s_check_request(L);
  int status = (int)luaL_checkinteger(L, 2);
  lua_pushboolean(
      L, ops_http_request_stream_start(request->request, status, luaL_optstring(L, 3, NULL)));
  return 1;
}

static int request_write(lua_State *L)
{
  struct s_request *request = s_check_request(L);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  lua_pushboolean(L, ops_http_request_stream_write(request->request, data, len));
  return 1;
}

static int request_finish(lua_State *L)
{
  struct s_request *request = luaL_checkudata(L, 1, REQUEST_METATABLE);
  if (request->request)
    ops_http_request_finish(request->request);
  request->request = NULL;
  return 0;
}

static int request_connected(lua_State *L)
{
  struct s_request *request = luaL_checkudata(L, 1, REQUEST_METATABLE);
  lua_pushboolean(L, request->request && ops_http_request_connected(request->request));
  return 1;
}

static void s_push_request(lua_State *L, struct ops_http_request *http_request)
{
  struct s_request *request = lua_newuserdatauv(L, sizeof(*request), 0);
  request->request = http_request;
  luaL_setmetatable(L, REQUEST_METATABLE);
}

/* ---------------------------------------------------------------- HTTP server */

static struct s_server *s_check_server(lua_State *L)
{
  struct s_server *server = luaL_checkudata(L, 1, SERVER_METATABLE);
  luaL_argcheck(L, server->server != NULL, 1, "the server is closed");
  return server;
}

static int s_server_next_k(lua_State *L, int status, lua_KContext ctx)
{
  (void)status, (void)ctx;
  struct s_server *server = luaL_checkudata(L, 1, SERVER_METATABLE);
  struct s_queued *queued = server->head;
  if (!queued)
    return 0; /* closed while waiting */
  server->head = queued->next;
  if (!server->head)
    server->tail = NULL;
  s_push_request(L, queued->request);
  free(queued);
  return 1;
}

/* server:next() -> the next request, or nil once the server is closed */
static int server_next(lua_State *L)
{
  struct s_server *server = luaL_checkudata(L, 1, SERVER_METATABLE);
  lua_settop(L, 1);
  if (server->head || !server->server)
    return s_server_next_k(L, LUA_OK, 0);
  return s_wait_for_next(L, &server->waiter, s_server_next_k);
}

static int server_port(lua_State *L)
{
  lua_pushinteger(L, ops_http_server_port(s_check_server(L)->server));
  return 1;
}

/* server:close(): stops listening; requests not yet handed out get a 503 */
static int server_close(lua_State *L)
{
  struct s_server *server = luaL_checkudata(L, 1, SERVER_METATABLE);
  while (server->head) {
    struct s_queued *queued = server->head;
    server->head = queued->next;
    static const char body[] = "opsrun serve is shutting down\n";
    ops_http_request_reply(queued->request, 503, NULL, body, sizeof(body) - 1);
    free(queued);
  }
  server->tail = NULL;
  if (server->server)
    ops_http_server_free(server->server);
  server->server = NULL;
  s_wake(&server->waiter);
  return 0;
}

static size_t s_size_field(lua_State *L, int index, const char *name, size_t fallback)
{
  lua_getfield(L, index, name);
  lua_Integer value = luaL_optinteger(L, -1, (lua_Integer)fallback);
  lua_pop(L, 1);
  luaL_argcheck(L, value > 0, index, name);
  return (size_t)value;
}

/* listen(host, port, {max_body_bytes, max_header_bytes, max_connections, idle_timeout_ms})
 * -> server, or nil and why not */
static int serve_listen(lua_State *L)
{
  const char *host = luaL_checkstring(L, 1);
  lua_Integer port = luaL_checkinteger(L, 2);
  luaL_argcheck(L, port >= 0 && port <= 65535, 2, "port must be from 0 to 65535");
  luaL_checktype(L, 3, LUA_TTABLE);
  struct ops_http_server_options options = {
      .max_body_bytes = s_size_field(L, 3, "max_body_bytes", 1 << 20),
      .max_header_bytes = s_size_field(L, 3, "max_header_bytes", 16 << 10),
      .max_connections = s_size_field(L, 3, "max_connections", 256),
      .idle_timeout_ms = (unsigned)s_size_field(L, 3, "idle_timeout_ms", 60000),
  };
  struct s_server *server = lua_newuserdatauv(L, sizeof(*server), 0);
  *server = (struct s_server){0};
  luaL_setmetatable(L, SERVER_METATABLE);
  struct ops_error err;
  server->server = ops_http_server_new(ops_engine_loop(ops_engine_of(L)), host, (int)port, &options,
                                       s_on_request, server, &err);
  if (!server->server) {
    lua_pushnil(L);
    lua_pushstring(L, err.message);
    return 2;
  }
  return 1;
}

/* ---------------------------------------------------------------- lines on stdin */

struct s_reader {
  int fd;
  size_t max_line;
  struct ops_loop *loop;
  struct ops_watch *watch; /* NULL for a file, which epoll cannot watch: it never blocks */
  int flags;               /* the descriptor's status flags before, given back at the end */
  struct ops_buffer buffer;
  bool eof;
  bool skipping; /* the rest of a line too long, dropped up to its end */
  struct ops_wait *waiter;
};

/* Drops the end of a line too long, as far as it has come. */
static void s_reader_skip(struct s_reader *reader)
{
  struct ops_buffer *buffer = &reader->buffer;
  if (!reader->skipping || buffer->len == 0)
    return;
  const char *end = memchr(buffer->data, '\n', buffer->len);
  size_t taken = end ? (size_t)(end - buffer->data) + 1 : buffer->len;
  memmove(buffer->data, buffer->data + taken, buffer->len - taken);
  buffer->len -= taken;
  buffer->data[buffer->len] = '\0';
  reader->skipping = end == NULL;
}

/* Reads what is there without blocking; false when nothing came. */
static bool s_reader_fill(struct s_reader *reader)
{
  if (!ops_buffer_reserve(&reader->buffer, 65536))
    return false;
  ssize_t n = read(reader->fd, reader->buffer.data + reader->buffer.len, 65536);
  if (n > 0) {
    reader->buffer.len += (size_t)n;
    reader->buffer.data[reader->buffer.len] = '\0';
    return true;
  }
  if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    reader->eof = true;
    if (reader->watch)
      ops_loop_watch_cancel(reader->loop, reader->watch);
    reader->watch = NULL;
    return true;
  }
  return false;
}

static bool s_reader_has_line(struct s_reader *reader)
{
  s_reader_skip(reader);
  return reader->eof ||
         memchr(reader->buffer.data ? reader->buffer.data : "", '\n', reader->buffer.len) != NULL ||
         reader->buffer.len > reader->max_line;
}

static void s_reader_ready(void *ud)
{
  struct s_reader *reader = ud;
  if (s_reader_fill(reader) && s_reader_has_line(reader))
    s_wake(&reader->waiter);
}

/* Pushes the next line (without its LF, or CR LF), or nil at the end of input; false when a line
 * outgrew max_line (it is dropped, up to its end). */
static int s_reader_pop_line(lua_State *L, struct s_reader *reader)
{
  struct ops_buffer *buffer = &reader->buffer;
  const char *data = buffer->data ? buffer->data : "";
  const char *end = memchr(data, '\n', buffer->len);
  if (!end && buffer->len > reader->max_line) {
    lua_pushboolean(L, 0);
    ops_buffer_clear(buffer);
    reader->skipping = true;
    return 1;
  }
  if (!end && buffer->len == 0)
    return 0; /* the end of input */
  size_t len = end ? (size_t)(end - data) : buffer->len;
  size_t taken = end ? len + 1 : len;
  if (len > 0 && data[len - 1] == '\r')
    len--;
  lua_pushlstring(L, data, len);
  memmove(buffer->data, data + taken, buffer->len - taken);
  buffer->len -= taken;
  buffer->data[buffer->len] = '\0';
  return 1;
}

static int s_reader_next_k(lua_State *L, int status, lua_KContext ctx)
{
  (void)status, (void)ctx;
  return s_reader_pop_line(L, luaL_checkudata(L, 1, READER_METATABLE));
}

/* reader:next() -> the next line; nil at the end of input; false for a line too long */
static int reader_next(lua_State *L)
{
  struct s_reader *reader = luaL_checkudata(L, 1, READER_METATABLE);
  lua_settop(L, 1);
  while (!s_reader_has_line(reader)) {
    if (reader->watch)
      return s_wait_for_next(L, &reader->waiter, s_reader_next_k);
    s_reader_fill(reader);
  }
  return s_reader_pop_line(L, reader);
}

static int reader_gc(lua_State *L)
{
  struct s_reader *reader = luaL_checkudata(L, 1, READER_METATABLE);
  if (reader->watch)
    ops_loop_watch_cancel(reader->loop, reader->watch);
  reader->watch = NULL;
  /* the descriptor is shared with the process that started opsrun: leave it blocking again */
  if (reader->flags >= 0)
    fcntl(reader->fd, F_SETFL, reader->flags);
  reader->flags = -1;
  ops_buffer_free(&reader->buffer);
  return 0;
}

/* stdin_lines(max_line) -> a reader of standard input's lines */
static int serve_stdin_lines(lua_State *L)
{
  lua_Integer max_line = luaL_checkinteger(L, 1);
  luaL_argcheck(L, max_line > 0, 1, "max_line must be positive");
  struct s_reader *reader = lua_newuserdatauv(L, sizeof(*reader), 0);
  *reader = (struct s_reader){.fd = STDIN_FILENO, .max_line = (size_t)max_line, .flags = -1};
  luaL_setmetatable(L, READER_METATABLE);
  reader->loop = ops_engine_loop(ops_engine_of(L));
  reader->watch = ops_loop_watch_start(reader->loop, reader->fd, s_reader_ready, reader);
  if (reader->watch) {
    reader->flags = fcntl(reader->fd, F_GETFL);
    fcntl(reader->fd, F_SETFL, reader->flags | O_NONBLOCK);
  }
  return 1;
}

/* ---------------------------------------------------------------- stdout, secrets */

/* write_stdout(text) -> true, or nil and why: all of it, waiting while the reader is slow (the
 * agent at the other end reads as it goes). */
static int serve_write_stdout(lua_State *L)
{
  size_t len;
  const char *data = luaL_checklstring(L, 1, &len);
  while (len > 0) {
    ssize_t n = write(STDOUT_FILENO, data, len);
    if (n > 0) {
      data += n;
      len -= (size_t)n;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct pollfd out = {.fd = STDOUT_FILENO, .events = POLLOUT};
      poll(&out, 1, -1);
    } else if (n < 0 && errno != EINTR) {
      lua_pushnil(L);
      lua_pushstring(L, strerror(errno));
      return 2;
    }
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* same_secret(a, b) -> whether two strings are equal, in a time that does not depend on where
 * they differ (a bearer token must not be guessed a byte at a time). */
static int serve_same_secret(lua_State *L)
{
  size_t a_len, b_len;
  const unsigned char *a = (const unsigned char *)luaL_checklstring(L, 1, &a_len);
  const unsigned char *b = (const unsigned char *)luaL_checklstring(L, 2, &b_len);
  volatile unsigned char difference = a_len != b_len;
  for (size_t i = 0; i < a_len; i++)
    difference |= a[i] ^ (b_len ? b[i % b_len] : 0);
  lua_pushboolean(L, difference == 0);
  return 1;
}

/* ---------------------------------------------------------------- playbook files */

static bool s_is_lua_file(int dir_fd, const char *name)
{
  size_t len = strlen(name);
  struct stat info;
  return name[0] != '.' && len > 4 && strcmp(name + len - 4, ".lua") == 0 &&
         fstatat(dir_fd, name, &info, 0) == 0 && S_ISREG(info.st_mode);
}

/* lua_files(dir) -> the names of the *.lua files in dir, sorted; or nil and why not */
static int serve_lua_files(lua_State *L)
{
  const char *path = luaL_checkstring(L, 1);
  DIR *dir = opendir(path);
  if (!dir) {
    lua_pushnil(L);
    lua_pushstring(L, strerror(errno));
    return 2;
  }
  lua_newtable(L);
  lua_Integer count = 0;
  struct dirent *entry;
  while ((entry = readdir(dir)))
    if (s_is_lua_file(dirfd(dir), entry->d_name)) {
      lua_pushstring(L, entry->d_name);
      lua_rawseti(L, -2, ++count);
    }
  closedir(dir);
  lua_getglobal(L, "table");
  lua_getfield(L, -1, "sort");
  lua_pushvalue(L, -3);
  lua_call(L, 1, 0);
  lua_pop(L, 1);
  return 1;
}

/* ---------------------------------------------------------------- the module */

static void s_new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc)
{
  luaL_newmetatable(L, name);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  if (gc) {
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
}

int luaopen_opsrun_serve(lua_State *L)
{
  static const luaL_Reg server_methods[] = {
      {"next", server_next}, {"port", server_port}, {"close", server_close}, {NULL, NULL}};
  static const luaL_Reg request_methods[] = {
      {"method", request_method},       {"target", request_target},
      {"header", request_header},       {"body", request_body},
      {"reply", request_reply},         {"stream", request_stream},
      {"write", request_write},         {"finish", request_finish},
      {"connected", request_connected}, {NULL, NULL}};
  static const luaL_Reg reader_methods[] = {{"next", reader_next}, {NULL, NULL}};
  s_new_class(L, SERVER_METATABLE, server_methods, server_close);
  s_new_class(L, REQUEST_METATABLE, request_methods, request_finish);
  s_new_class(L, READER_METATABLE, reader_methods, reader_gc);
  static const luaL_Reg functions[] = {{"listen", serve_listen},
                                       {"stdin_lines", serve_stdin_lines},
                                       {"write_stdout", serve_write_stdout},
                                       {"same_secret", serve_same_secret},
                                       {"lua_files", serve_lua_files},
                                       {NULL, NULL}};
  luaL_newlib(L, functions);
  lua_pushstring(L, OPS_VERSION);
  lua_setfield(L, -2, "version");
  return 1;
}
