/* http_server.c: the HTTP/1.1 server of http_server.h. A non-blocking listening socket and its
 * connections, each a watch on the event loop (runtime/loop.h) with one timer (idle or lingering);
 * requests parsed step by step from a buffer (runtime/buffer.h), replies queued and flushed when
 * the socket is writable. Linux (accept4, MSG_NOSIGNAL). */
#define _GNU_SOURCE /* accept4 */
#include "runtime/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/buffer.h"
#include "runtime/list.h"

#define LISTEN_BACKLOG  128
#define READ_CHUNK      16384
#define LINGER_MS       2000u /* at most, after a closing reply, to let the client read it */
#define ACCEPT_PAUSE_MS 100u  /* out of descriptors: try accepting again after this */
#define CHUNK_LINE_MAX  1024u /* a chunk size and its extensions */
#define TEXT_PLAIN      "Content-Type: text/plain; charset=utf-8\r\n"

/* Where the parser is in the request it reads. */
enum s_state {
  S_HEAD,        /* request line and headers, up to the empty line */
  S_LENGTH_BODY, /* body_left bytes of a Content-Length body */
  S_CHUNK_SIZE,  /* a chunk's size line */
  S_CHUNK_DATA,  /* body_left bytes of a chunk */
  S_CHUNK_END,   /* the line end after a chunk's data */
  S_TRAILERS,    /* trailer lines after the last chunk, up to the empty line */
};

/* What one parsing step did. */
enum s_step {
  STEP_MORE,   /* needs more input */
  STEP_AGAIN,  /* progressed: parse on */
  STEP_DONE,   /* a whole request */
  STEP_FAILED, /* an error reply is going out and the connection will close */
};

struct s_header {
  const char *name;
  const char *value;
};

/* A header value joined from several lines, kept until the request is finished. */
struct s_joined {
  struct s_joined *next;
  const char *name;
  char text[];
};

struct ops_http_request {
  struct s_connection *connection; /* NULL once the client is gone or the server freed */
  char *head;                      /* request line and headers, split in place */
  const char *method;
  const char *target;
  struct s_header *headers;
  size_t header_count;
  struct ops_buffer body;
  struct s_joined *joined;
  bool http10;
  bool keep_alive;     /* HTTP/1.1 without Connection: close; HTTP/1.0 with keep-alive */
  bool head_only;      /* a HEAD request: replies carry no body */
  bool answered;       /* a reply or a stream's head went out */
  bool streaming;      /* the reply is a stream, ended by finish */
  bool stream_chunked; /* its writes are chunks (not for HTTP/1.0, HEAD, 204, 304) */
  bool stream_raw;     /* HTTP/1.0: its writes are raw, and the connection's end ends it */
  void (*on_disconnect)(void *ud);
  void *disconnect_ud;
};

struct s_connection {
  struct ops_http_server *server; /* NULL once closed */
  int fd;
  struct ops_watch *watch;
  struct ops_timer *timer; /* idle timeout, or the end of lingering */
  struct ops_buffer in;    /* received; the first in_parsed bytes already parsed */
  size_t in_parsed;
  size_t head_scanned;   /* bytes of the header section already searched for its end */
  struct ops_buffer out; /* to send; the first out_sent bytes already sent */
  size_t out_sent;
  enum s_state state;
  size_t body_left;                 /* of a Content-Length body or of a chunk */
  size_t trailer_bytes;             /* of the trailer section so far */
  struct ops_http_request *parsing; /* being read */
  struct ops_http_request *request; /* handed to on_request, not yet finished */
  bool input_on, output_on;         /* what the watch asks for */
  bool closing;                     /* closes once its output is out */
  bool lingering; /* output out and write side shut: input discarded until the client closes */
  bool failed;    /* a send failed: dropped at its next callback */
  bool busy;      /* inside s_parse, which frees it if it is closed meanwhile */
  bool dead;      /* closed while busy */
  struct ops_list_node node;
};

struct ops_http_server {
  struct ops_loop *loop;
  struct ops_http_server_options options;
  ops_http_request_fn on_request;
  void *ud;
  int fd;
  int port;
  struct ops_watch *watch;
  struct ops_timer *accept_timer; /* accepting paused: out of descriptors */
  struct ops_list connections;    /* of struct s_connection */
  size_t connection_count;
};

static void s_parse(struct s_connection *conn);
static void s_flush(struct s_connection *conn);

/* ------------------------------------------------------------------ small helpers */

static const char *s_reason(int status)
{
  switch (status) {
  case 100: return "Continue";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 304: return "Not Modified";
  case 307: return "Temporary Redirect";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 406: return "Not Acceptable";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 411: return "Length Required";
  case 413: return "Content Too Large";
  case 415: return "Unsupported Media Type";
  case 422: return "Unprocessable Content";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  default: return "";
  }
}

/* 1xx, 204 and 304 replies have no body and no Content-Length (RFC 9110 8.6). */
static bool s_status_has_body(int status)
{
  return status >= 200 && status != 204 && status != 304;
}

static bool s_is_token_char(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool s_is_token(const char *text)
{
  if (!*text)
    return false;
  for (; *text; text++)
    if (!s_is_token_char((unsigned char)*text))
      return false;
  return true;
}

/* Control characters other than tab, which field values may hold (RFC 9110 5.5). */
static bool s_has_control(const char *text)
{
  for (; *text; text++)
    if (((unsigned char)*text < 0x20 && *text != '\t') || *text == 0x7f)
      return true;
  return false;
}

static char *s_trim(char *text)
{
  while (*text == ' ' || *text == '\t')
    text++;
  size_t len = strlen(text);
  while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
    text[--len] = '\0';
  return text;
}

/* Whether a comma-separated list (a Connection header) holds `token`, in any case. */
static bool s_list_has(const char *list, const char *token)
{
  size_t len = strlen(token);
  while (list && *list) {
    while (*list == ' ' || *list == '\t' || *list == ',')
      list++;
    size_t item = strcspn(list, ",");
    size_t trimmed = item;
    while (trimmed > 0 && (list[trimmed - 1] == ' ' || list[trimmed - 1] == '\t'))
      trimmed--;
    if (trimmed == len && strncasecmp(list, token, len) == 0)
      return true;
    list += item;
  }
  return false;
}

static size_t s_min(size_t a, size_t b)
{
  return a < b ? a : b;
}

static size_t s_add_saturating(size_t a, size_t b)
{
  return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/* ------------------------------------------------------------------ requests */

static void s_request_free(struct ops_http_request *request)
{
  if (!request)
    return;
  while (request->joined) {
    struct s_joined *next = request->joined->next;
    free(request->joined);
    request->joined = next;
  }
  ops_buffer_free(&request->body);
  free(request->headers);
  free(request->head);
  free(request);
}

const char *ops_http_request_method(const struct ops_http_request *request)
{
  return request->method;
}

const char *ops_http_request_target(const struct ops_http_request *request)
{
  return request->target;
}

const char *ops_http_request_body(const struct ops_http_request *request, size_t *len)
{
  if (len)
    *len = request->body.len;
  return request->body.data ? request->body.data : "";
}

size_t ops_http_request_header_count(const struct ops_http_request *request)
{
  return request->header_count;
}

void ops_http_request_header(const struct ops_http_request *request, size_t i, const char **name,
                             const char **value)
{
  *name = request->headers[i].name;
  *value = request->headers[i].value;
}

/* Several lines of one header joined with ", " (RFC 9110 5.3), made once and kept. */
static const char *s_join_values(struct ops_http_request *request, const char *name, size_t count)
{
  for (struct s_joined *joined = request->joined; joined; joined = joined->next)
    if (strcasecmp(joined->name, name) == 0)
      return joined->text;
  size_t size = 1;
  for (size_t i = 0; i < request->header_count; i++)
    if (strcasecmp(request->headers[i].name, name) == 0)
      size += strlen(request->headers[i].value) + 2;
  struct s_joined *joined = malloc(sizeof(*joined) + size);
  if (!joined)
    return NULL;
  char *end = joined->text;
  for (size_t i = 0, seen = 0; i < request->header_count; i++) {
    if (strcasecmp(request->headers[i].name, name) != 0)
      continue;
    size_t len = strlen(request->headers[i].value);
    memcpy(end, request->headers[i].value, len);
    end += len;
    if (++seen < count) {
      memcpy(end, ", ", 2);
      end += 2;
    }
  }
  *end = '\0';
  for (size_t i = 0; i < request->header_count; i++)
    if (strcasecmp(request->headers[i].name, name) == 0)
      joined->name = request->headers[i].name;
  joined->next = request->joined;
  request->joined = joined;
  return joined->text;
}

const char *ops_http_request_header_value(struct ops_http_request *request, const char *name)
{
  size_t count = 0;
  const char *first = NULL;
  for (size_t i = 0; i < request->header_count; i++) {
    if (strcasecmp(request->headers[i].name, name) != 0)
      continue;
    if (count++ == 0)
      first = request->headers[i].value;
  }
  return count <= 1 ? first : s_join_values(request, name, count);
}

bool ops_http_request_connected(const struct ops_http_request *request)
{
  return request->connection && !request->connection->failed;
}

void ops_http_request_on_disconnect(struct ops_http_request *request, void (*fn)(void *ud),
                                    void *ud)
{
  request->on_disconnect = fn;
  request->disconnect_ud = ud;
}

/* ------------------------------------------------------------------ connection state */

static size_t s_pending_input(const struct s_connection *conn)
{
  return conn->in.len - conn->in_parsed;
}

static const char *s_input(const struct s_connection *conn)
{
  return conn->in.data + conn->in_parsed;
}

static bool s_has_output(const struct s_connection *conn)
{
  return conn->out_sent < conn->out.len;
}

/* While a request is outstanding the next is only buffered, up to what one request may take. */
static bool s_has_room(const struct s_connection *conn)
{
  const struct ops_http_server_options *options = &conn->server->options;
  return !conn->request || s_pending_input(conn) <
                               s_add_saturating(options->max_header_bytes, options->max_body_bytes);
}

/* Level-triggered: input is asked for only when it will be read, output only when queued. */
static void s_update_events(struct s_connection *conn)
{
  if (!conn->watch)
    return;
  bool input = !conn->failed && (conn->lingering || (!conn->closing && s_has_room(conn)));
  bool output = conn->failed || s_has_output(conn); /* a failed one wakes up to be dropped */
  if (input == conn->input_on && output == conn->output_on)
    return;
  if (ops_loop_watch_set_events(conn->server->loop, conn->watch, input, output) == 0) {
    conn->input_on = input;
    conn->output_on = output;
  }
}

static void s_cancel_timer(struct s_connection *conn)
{
  if (conn->timer)
    ops_loop_timer_cancel(conn->server->loop, conn->timer);
  conn->timer = NULL;
}

static void s_on_timer(void *ud);

/* No timer for 0 ms: an idle timeout of 0 means none. */
static void s_start_timer(struct s_connection *conn, unsigned ms)
{
  s_cancel_timer(conn);
  if (ms > 0)
    conn->timer = ops_loop_timer_start(conn->server->loop, ms, s_on_timer, conn);
}

/* A send failed or memory ran out: the output is dropped and the connection with it, at its
 * next callback, not here: this may run inside the caller's reply, where on_disconnect must not. */
static void s_fail_connection(struct s_connection *conn)
{
  conn->failed = true;
  ops_buffer_clear(&conn->out);
  conn->out_sent = 0;
  s_update_events(conn);
}

static void s_connection_free(struct s_connection *conn)
{
  ops_buffer_free(&conn->in);
  ops_buffer_free(&conn->out);
  free(conn);
}

/* Closes the socket and lets go of the request (which stays valid until finished); the memory
 * waits when s_parse is running on this connection. */
static void s_connection_close(struct s_connection *conn)
{
  struct ops_http_server *server = conn->server;
  if (!server)
    return;
  ops_list_remove(&server->connections, &conn->node);
  server->connection_count--;
  s_cancel_timer(conn);
  if (conn->watch)
    ops_loop_watch_cancel(server->loop, conn->watch);
  conn->watch = NULL;
  close(conn->fd);
  conn->fd = -1;
  conn->server = NULL;
  if (conn->request)
    conn->request->connection = NULL;
  conn->request = NULL;
  s_request_free(conn->parsing);
  conn->parsing = NULL;
  if (conn->busy)
    conn->dead = true;
  else
    s_connection_free(conn);
}

/* The client went away (or the connection is done): close, then tell the outstanding request's
 * owner, last, as its handler may finish the request or free the server. */
static void s_drop(struct s_connection *conn)
{
  struct ops_http_request *request = conn->request;
  void (*notify)(void *ud) = request ? request->on_disconnect : NULL;
  void *notify_ud = request ? request->disconnect_ud : NULL;
  if (request)
    request->on_disconnect = NULL;
  s_connection_close(conn);
  if (notify)
    notify(notify_ud);
}

static unsigned s_linger_ms(const struct ops_http_server *server)
{
  unsigned idle = server->options.idle_timeout_ms;
  return idle > 0 && idle < LINGER_MS ? idle : LINGER_MS;
}

/* The last reply is out: shut the write side, so the client sees the end, and read what it still
 * sends until it closes. Closing at once with unread input would reset the connection, and the
 * client could lose the reply (a 413 sent before its body). */
static void s_linger(struct s_connection *conn)
{
  conn->lingering = true;
  shutdown(conn->fd, SHUT_WR);
  ops_buffer_clear(&conn->in);
  conn->in_parsed = 0;
  s_start_timer(conn, s_linger_ms(conn->server));
  s_update_events(conn);
}

static void s_close_after_flush(struct s_connection *conn)
{
  conn->closing = true;
  s_cancel_timer(conn);
  if (s_has_output(conn))
    s_update_events(conn);
  else
    s_linger(conn);
}

/* ------------------------------------------------------------------ output */

static void s_out_append(struct s_connection *conn, const char *data, size_t len)
{
  if (!conn->failed && len > 0 && !ops_buffer_append(&conn->out, data, len))
    s_fail_connection(conn);
}

static void s_out_format(struct s_connection *conn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void s_out_format(struct s_connection *conn, const char *fmt, ...)
{
  char text[256];
  va_list args;
  va_start(args, fmt);
  int len = vsnprintf(text, sizeof(text), fmt, args);
  va_end(args);
  if (len > 0)
    s_out_append(conn, text, s_min((size_t)len, sizeof(text) - 1));
}

static void s_compact_output(struct s_connection *conn)
{
  if (conn->out_sent == conn->out.len) {
    ops_buffer_clear(&conn->out);
    conn->out_sent = 0;
  } else if (conn->out_sent > conn->out.len / 2) {
    memmove(conn->out.data, conn->out.data + conn->out_sent, conn->out.len - conn->out_sent);
    conn->out.len -= conn->out_sent;
    conn->out_sent = 0;
  }
}

/* Sends what is queued, as far as the socket takes it now; the rest waits for writability. */
static void s_flush(struct s_connection *conn)
{
  while (!conn->failed && s_has_output(conn)) {
    ssize_t sent = send(conn->fd, conn->out.data + conn->out_sent, conn->out.len - conn->out_sent,
                        MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent > 0)
      conn->out_sent += (size_t)sent;
    else if (sent < 0 && errno == EINTR)
      continue;
    else if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    else
      s_fail_connection(conn); /* EPIPE, ECONNRESET: the client is gone */
  }
  s_compact_output(conn);
  if (conn->closing && !conn->lingering && !conn->failed && !s_has_output(conn))
    s_linger(conn);
  else
    s_update_events(conn);
}

/* The status line and the caller's headers; framing and Connection follow. */
static void s_write_status(struct s_connection *conn, int status, const char *headers)
{
  s_out_format(conn, "HTTP/1.1 %d %s\r\n", status, s_reason(status));
  if (headers)
    s_out_append(conn, headers, strlen(headers));
}

/* HTTP/1.1 keeps the connection unless told; HTTP/1.0 closes it unless told (RFC 9112 9.3). */
static void s_write_connection(struct s_connection *conn, const struct ops_http_request *request)
{
  if (!request->keep_alive)
    s_out_append(conn, "Connection: close\r\n", 19);
  else if (request->http10)
    s_out_append(conn, "Connection: keep-alive\r\n", 24);
  s_out_append(conn, "\r\n", 2);
}

/* Out of range (or 1xx, which a final reply cannot be): a 500. */
static int s_final_status(int status)
{
  return status >= 200 && status <= 999 ? status : 500;
}

static void s_write_reply(struct ops_http_request *request, int status, const char *headers,
                          const char *body, size_t len)
{
  struct s_connection *conn = request->connection;
  request->answered = true;
  if (!conn || conn->failed)
    return;
  status = s_final_status(status);
  s_write_status(conn, status, headers);
  if (s_status_has_body(status))
    s_out_format(conn, "Content-Length: %zu\r\n", len);
  s_write_connection(conn, request);
  if (s_status_has_body(status) && !request->head_only)
    s_out_append(conn, body, len);
  s_flush(conn);
}

/* A reply the server makes itself, for a request it could not read: it closes the connection. */
static void s_write_error(struct s_connection *conn, int status, const char *message)
{
  size_t len = strlen(message);
  s_write_status(conn, status, TEXT_PLAIN);
  s_out_format(conn, "Content-Length: %zu\r\nConnection: close\r\n\r\n", len + 1);
  s_out_append(conn, message, len);
  s_out_append(conn, "\n", 1);
}

/* ------------------------------------------------------------------ replies */

void ops_http_request_reply(struct ops_http_request *request, int status, const char *headers,
                            const char *body, size_t len)
{
  if (!request->answered)
    s_write_reply(request, status, headers, body, len);
  ops_http_request_finish(request);
}

bool ops_http_request_stream_start(struct ops_http_request *request, int status,
                                   const char *headers)
{
  struct s_connection *conn = request->connection;
  if (request->answered)
    return false;
  request->answered = true;
  request->streaming = true;
  if (!conn || conn->failed)
    return false;
  status = s_final_status(status);
  bool has_body = s_status_has_body(status);
  /* HTTP/1.0 has no chunks: the body runs to the connection's end */
  request->stream_raw = has_body && !request->head_only && request->http10;
  request->stream_chunked = has_body && !request->head_only && !request->http10;
  if (request->stream_raw)
    request->keep_alive = false;
  s_write_status(conn, status, headers);
  if (has_body && !request->http10)
    s_out_append(conn, "Transfer-Encoding: chunked\r\n", 28);
  s_write_connection(conn, request);
  s_flush(conn);
  return !conn->failed;
}

bool ops_http_request_stream_write(struct ops_http_request *request, const char *data, size_t len)
{
  struct s_connection *conn = request->connection;
  if (!request->streaming || !conn || conn->failed)
    return false;
  if (len == 0 || !(request->stream_chunked || request->stream_raw))
    return true;
  if (request->stream_chunked)
    s_out_format(conn, "%zx\r\n", len);
  s_out_append(conn, data, len);
  if (request->stream_chunked)
    s_out_append(conn, "\r\n", 2);
  s_flush(conn);
  return !conn->failed;
}

/* The request is done: the connection closes, or waits for the next one and parses what came. */
static void s_after_request(struct s_connection *conn, bool keep_alive)
{
  if (conn->failed)
    return;
  if (!keep_alive) {
    s_close_after_flush(conn);
    return;
  }
  s_start_timer(conn, conn->server->options.idle_timeout_ms);
  s_parse(conn);
}

void ops_http_request_finish(struct ops_http_request *request)
{
  static const char unanswered[] = "the server ended this request without an answer\n";
  struct s_connection *conn = request->connection;
  if (!request->answered)
    s_write_reply(request, 500, TEXT_PLAIN, unanswered, sizeof(unanswered) - 1);
  else if (request->stream_chunked && conn && !conn->failed) {
    s_out_append(conn, "0\r\n\r\n", 5);
    s_flush(conn);
  }
  bool keep_alive = request->keep_alive;
  s_request_free(request);
  if (!conn)
    return;
  conn->request = NULL;
  s_after_request(conn, keep_alive);
}

/* ------------------------------------------------------------------ parsing */

static void s_consume(struct s_connection *conn, size_t len)
{
  conn->in_parsed += len;
}

/* Ends reading: drops the request being read and what is buffered, answers, closes. */
static enum s_step s_reject(struct s_connection *conn, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum s_step s_reject(struct s_connection *conn, int status, const char *fmt, ...)
{
  char message[256];
  va_list args;
  va_start(args, fmt);
  vsnprintf(message, sizeof(message), fmt, args);
  va_end(args);
  s_request_free(conn->parsing);
  conn->parsing = NULL;
  ops_buffer_clear(&conn->in);
  conn->in_parsed = 0;
  s_write_error(conn, status, message);
  s_close_after_flush(conn);
  s_flush(conn);
  return STEP_FAILED;
}

/* The length of the header section (through its empty line) when all of it has come, else 0.
 * Lines end in CRLF or a bare LF (RFC 9112 2.2). */
static size_t s_find_head_end(struct s_connection *conn)
{
  const char *start = s_input(conn);
  size_t available = s_pending_input(conn);
  for (size_t i = conn->head_scanned; i < available; i++) {
    if (start[i] != '\n')
      continue;
    if ((i >= 1 && start[i - 1] == '\n') ||
        (i >= 2 && start[i - 1] == '\r' && start[i - 2] == '\n'))
      return i + 1;
  }
  conn->head_scanned = available;
  return 0;
}

/* The next line of the NUL-terminated head, terminated in place without its CR LF; NULL at end. */
static char *s_next_line(char **cursor)
{
  char *line = *cursor;
  if (!*line)
    return NULL;
  char *end = strchr(line, '\n');
  if (end) {
    *cursor = end + 1;
    *end = '\0';
  } else {
    *cursor = line + strlen(line);
  }
  size_t len = strlen(line);
  if (len > 0 && line[len - 1] == '\r')
    line[len - 1] = '\0';
  return line;
}

/* "HTTP/" DIGIT "." DIGIT (RFC 9112 2.3). */
static bool s_is_http_version(const char *version)
{
  return strncmp(version, "HTTP/", 5) == 0 && version[5] >= '0' && version[5] <= '9' &&
         version[6] == '.' && version[7] >= '0' && version[7] <= '9' && version[8] == '\0';
}

/* METHOD SP TARGET SP HTTP-VERSION. Returns 0, or the status to answer. */
static int s_parse_request_line(struct ops_http_request *request, char *line)
{
  char *target = strchr(line, ' ');
  char *version = target ? strchr(target + 1, ' ') : NULL;
  if (!version)
    return 400;
  *target++ = '\0';
  *version++ = '\0';
  if (!s_is_token(line) || !*target || s_has_control(target) || strchr(target, '\t'))
    return 400;
  if (strcmp(version, "HTTP/1.1") != 0 && strcmp(version, "HTTP/1.0") != 0)
    return s_is_http_version(version) ? 505 : 400;
  request->method = line;
  request->target = target;
  request->http10 = strcmp(version, "HTTP/1.0") == 0;
  request->head_only = strcmp(line, "HEAD") == 0;
  return 0;
}

/* name ":" OWS value OWS; no space before the colon, no obs-fold (RFC 9112 5). Returns 0 or 400. */
static int s_parse_header_line(struct ops_http_request *request, char *line)
{
  char *colon = strchr(line, ':');
  if (!colon)
    return 400;
  *colon = '\0';
  if (!s_is_token(line))
    return 400;
  for (char *c = line; *c; c++)
    if (*c >= 'A' && *c <= 'Z')
      *c = (char)(*c - 'A' + 'a');
  char *value = s_trim(colon + 1);
  if (s_has_control(value))
    return 400;
  request->headers[request->header_count++] = (struct s_header){.name = line, .value = value};
  return 0;
}

static const char *s_why_bad_head(int status, bool in_request_line)
{
  if (status == 505)
    return "HTTP version not supported: send HTTP/1.1 (or HTTP/1.0)";
  return in_request_line ? "malformed request line: expected METHOD SP TARGET SP HTTP/1.1"
                         : "malformed header line: expected \"Name: value\", without line folding";
}

/* A request from its header section (`len` bytes at `start`); NULL with *status set when the
 * section is malformed (or memory ran out: 500). */
static struct ops_http_request *s_request_from_head(const char *start, size_t len, int *status,
                                                    bool *in_request_line)
{
  *status = 500;
  *in_request_line = true;
  struct ops_http_request *request = calloc(1, sizeof(*request));
  size_t lines = 1;
  for (size_t i = 0; i < len; i++)
    lines += start[i] == '\n';
  if (!request || !(request->head = malloc(len + 1)) ||
      !(request->headers = calloc(lines, sizeof(*request->headers)))) {
    s_request_free(request);
    return NULL;
  }
  memcpy(request->head, start, len);
  request->head[len] = '\0';
  char *cursor = request->head;
  *status = memchr(start, '\0', len) ? 400 : s_parse_request_line(request, s_next_line(&cursor));
  *in_request_line = false;
  for (char *line; *status == 0 && (line = s_next_line(&cursor)) && *line;)
    *status = (*line == ' ' || *line == '\t') ? 400 : s_parse_header_line(request, line);
  if (*status != 0) {
    s_request_free(request);
    return NULL;
  }
  return request;
}

/* Content-Length: digits, the same in every line and list item (RFC 9110 8.6). Returns false
 * when malformed; a value too large for size_t is SIZE_MAX (then 413). */
static bool s_parse_content_length(const char *text, size_t *length)
{
  bool seen = false;
  while (*text) {
    while (*text == ' ' || *text == '\t' || *text == ',')
      text++;
    if (!*text)
      break;
    size_t value = 0;
    const char *digits = text;
    for (; *text >= '0' && *text <= '9'; text++)
      value = value > (SIZE_MAX - 9) / 10 ? SIZE_MAX : value * 10 + (size_t)(*text - '0');
    while (*text == ' ' || *text == '\t')
      text++;
    if (text == digits || (*text && *text != ',') || (seen && value != *length))
      return false;
    *length = value;
    seen = true;
  }
  return seen;
}

/* `Expect: 100-continue`: the client waits for this before it sends the body (RFC 9110 10.1.1). */
static void s_send_continue(struct s_connection *conn, struct ops_http_request *request)
{
  const char *expect = ops_http_request_header_value(request, "expect");
  if (expect && !request->http10 && strcasecmp(expect, "100-continue") == 0) {
    s_out_append(conn, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    s_flush(conn);
  }
}

/* How the body comes: by Content-Length, in chunks, or not at all. */
static enum s_step s_start_body(struct s_connection *conn, struct ops_http_request *request)
{
  size_t max_body = conn->server->options.max_body_bytes;
  const char *connection = ops_http_request_header_value(request, "connection");
  const char *encoding = ops_http_request_header_value(request, "transfer-encoding");
  const char *length_text = ops_http_request_header_value(request, "content-length");
  size_t length = 0;
  request->keep_alive =
      request->http10 ? s_list_has(connection, "keep-alive") : !s_list_has(connection, "close");
  if (encoding && (length_text || request->http10))
    return s_reject(conn, 400, "Transfer-Encoding with %s: send one way of framing the body",
                    request->http10 ? "HTTP/1.0" : "Content-Length");
  if (encoding && strcasecmp(encoding, "chunked") != 0)
    return s_reject(conn, 501,
                    "Transfer-Encoding \"%s\" not supported: send chunked or a "
                    "Content-Length",
                    encoding);
  if (length_text && !s_parse_content_length(length_text, &length))
    return s_reject(conn, 400, "invalid Content-Length \"%s\"", length_text);
  if (length > max_body)
    return s_reject(conn, 413, "request body larger than %zu bytes", max_body);
  if (!encoding && length == 0)
    return STEP_DONE;
  if (length > 0 && !ops_buffer_reserve(&request->body, length))
    return s_reject(conn, 500, "out of memory for a %zu byte request body", length);
  conn->state = encoding ? S_CHUNK_SIZE : S_LENGTH_BODY;
  conn->body_left = length;
  s_send_continue(conn, request);
  return STEP_AGAIN;
}

static enum s_step s_parse_head(struct s_connection *conn)
{
  size_t max_header = conn->server->options.max_header_bytes;
  /* empty lines before a request line are ignored (RFC 9112 2.2) */
  while (conn->head_scanned == 0 && s_pending_input(conn) > 0 &&
         (*s_input(conn) == '\r' || *s_input(conn) == '\n'))
    s_consume(conn, 1);
  size_t end = s_find_head_end(conn);
  if ((end == 0 && s_pending_input(conn) > max_header) || end > max_header)
    return s_reject(conn, 431, "request header section larger than %zu bytes", max_header);
  if (end == 0)
    return STEP_MORE;
  int status;
  bool in_request_line;
  struct ops_http_request *request =
      s_request_from_head(s_input(conn), end, &status, &in_request_line);
  if (!request)
    return s_reject(conn, status, "%s",
                    status == 500 ? "out of memory" : s_why_bad_head(status, in_request_line));
  s_consume(conn, end);
  conn->head_scanned = 0;
  conn->parsing = request;
  return s_start_body(conn, request);
}

/* Moves up to body_left bytes of input into the body. */
static void s_take_body(struct s_connection *conn)
{
  size_t len = s_min(s_pending_input(conn), conn->body_left);
  if (!ops_buffer_append(&conn->parsing->body, s_input(conn), len)) {
    s_reject(conn, 500, "out of memory for the request body");
    return;
  }
  s_consume(conn, len);
  conn->body_left -= len;
}

static enum s_step s_parse_length_body(struct s_connection *conn)
{
  s_take_body(conn);
  if (!conn->parsing)
    return STEP_FAILED;
  return conn->body_left == 0 ? STEP_DONE : STEP_MORE;
}

/* The length of the next input line with its LF, or 0 when it has not all come. */
static size_t s_line_length(const struct s_connection *conn)
{
  const char *end = memchr(s_input(conn), '\n', s_pending_input(conn));
  return end ? (size_t)(end - s_input(conn)) + 1 : 0;
}

static int s_hex_value(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* chunk-size [ chunk-ext ] CRLF; extensions ignored (RFC 9112 7.1). */
static enum s_step s_parse_chunk_size(struct s_connection *conn)
{
  size_t max_body = conn->server->options.max_body_bytes;
  size_t len = s_line_length(conn);
  if (len == 0)
    return s_pending_input(conn) > CHUNK_LINE_MAX
               ? s_reject(conn, 400, "chunk size line longer than %u bytes", CHUNK_LINE_MAX)
               : STEP_MORE;
  const char *line = s_input(conn);
  size_t size = 0, digits = 0;
  for (int value; (value = s_hex_value(line[digits])) >= 0; digits++)
    size = size > (SIZE_MAX >> 4) ? SIZE_MAX : size * 16 + (size_t)value;
  char after = line[digits];
  if (digits == 0 ||
      !(after == ';' || after == ' ' || after == '\t' || after == '\r' || after == '\n'))
    return s_reject(conn, 400, "malformed chunk size line in a chunked body");
  s_consume(conn, len);
  if (size > max_body - s_min(max_body, conn->parsing->body.len))
    return s_reject(conn, 413, "request body larger than %zu bytes", max_body);
  conn->body_left = size;
  conn->trailer_bytes = 0;
  conn->state = size == 0 ? S_TRAILERS : S_CHUNK_DATA;
  return STEP_AGAIN;
}

static enum s_step s_parse_chunk_data(struct s_connection *conn)
{
  s_take_body(conn);
  if (!conn->parsing)
    return STEP_FAILED;
  if (conn->body_left > 0)
    return STEP_MORE;
  conn->state = S_CHUNK_END;
  return STEP_AGAIN;
}

/* The CRLF (or LF) after a chunk's data. */
static enum s_step s_parse_chunk_end(struct s_connection *conn)
{
  size_t available = s_pending_input(conn);
  const char *input = s_input(conn);
  if (available == 0 || (available == 1 && input[0] == '\r'))
    return STEP_MORE;
  size_t len = input[0] == '\n' ? 1 : (input[0] == '\r' && input[1] == '\n') ? 2 : 0;
  if (len == 0)
    return s_reject(conn, 400, "chunk data longer than its chunk size");
  s_consume(conn, len);
  conn->state = S_CHUNK_SIZE;
  return STEP_AGAIN;
}

/* Trailer lines are read and dropped, up to the empty line. */
static enum s_step s_parse_trailers(struct s_connection *conn)
{
  size_t max_header = conn->server->options.max_header_bytes;
  size_t len = s_line_length(conn);
  size_t seen = s_add_saturating(conn->trailer_bytes, len ? len : s_pending_input(conn));
  if (seen > max_header)
    return s_reject(conn, 431, "request trailer section larger than %zu bytes", max_header);
  if (len == 0)
    return STEP_MORE;
  bool empty = len == 1 || (len == 2 && s_input(conn)[0] == '\r');
  s_consume(conn, len);
  conn->trailer_bytes = seen;
  return empty ? STEP_DONE : STEP_AGAIN;
}

static enum s_step s_parse_step(struct s_connection *conn)
{
  switch (conn->state) {
  case S_HEAD: return s_parse_head(conn);
  case S_LENGTH_BODY: return s_parse_length_body(conn);
  case S_CHUNK_SIZE: return s_parse_chunk_size(conn);
  case S_CHUNK_DATA: return s_parse_chunk_data(conn);
  case S_CHUNK_END: return s_parse_chunk_end(conn);
  case S_TRAILERS: return s_parse_trailers(conn);
  }
  return STEP_MORE;
}

/* Hands a whole request to its owner; no idle timeout while it is outstanding. */
static void s_deliver(struct s_connection *conn)
{
  struct ops_http_request *request = conn->parsing;
  conn->parsing = NULL;
  conn->state = S_HEAD;
  conn->request = request;
  request->connection = conn;
  s_cancel_timer(conn);
  conn->server->on_request(request, conn->server->ud);
}

static void s_compact_input(struct s_connection *conn)
{
  if (conn->in_parsed == 0)
    return;
  memmove(conn->in.data, conn->in.data + conn->in_parsed, s_pending_input(conn));
  conn->in.len -= conn->in_parsed;
  conn->in.data[conn->in.len] = '\0';
  conn->in_parsed = 0;
}

/* Parses what is buffered, request after request, while none is outstanding. The owner may
 * finish a request inside on_request (the loop then goes on here: no recursion) or free the
 * server (the connection is freed here once it returns). */
static void s_parse(struct s_connection *conn)
{
  if (conn->busy)
    return;
  conn->busy = true;
  while (!conn->request && !conn->closing && !conn->dead && !conn->failed) {
    enum s_step step = s_parse_step(conn);
    if (step == STEP_MORE)
      break;
    if (step == STEP_DONE)
      s_deliver(conn);
  }
  conn->busy = false;
  if (conn->dead) {
    s_connection_free(conn);
    return;
  }
  s_compact_input(conn);
  s_update_events(conn);
}

/* ------------------------------------------------------------------ connection events */

/* Reads once; parses unless a request is outstanding (then it is only buffered). */
static void s_read(struct s_connection *conn)
{
  size_t want = READ_CHUNK;
  if (conn->request && !conn->lingering) {
    const struct ops_http_server_options *options = &conn->server->options;
    size_t limit = s_add_saturating(options->max_header_bytes, options->max_body_bytes);
    if (s_pending_input(conn) >= limit) {
      s_update_events(conn);
      return;
    }
    want = s_min(want, limit - s_pending_input(conn));
  }
  if (!ops_buffer_reserve(&conn->in, want)) {
    s_drop(conn);
    return;
  }
  ssize_t got = recv(conn->fd, conn->in.data + conn->in.len, want, MSG_DONTWAIT);
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return;
  if (got <= 0) {
    s_drop(conn); /* the client closed or reset; a lingering connection is simply done */
    return;
  }
  if (conn->lingering)
    return; /* discarded */
  conn->in.len += (size_t)got;
  conn->in.data[conn->in.len] = '\0';
  if (conn->request)
    s_update_events(conn);
  else
    s_parse(conn);
}

/* The watch does not say why it ran: poll says what the socket is ready for. */
static short s_ready_events(int fd)
{
  struct pollfd poll_fd = {.fd = fd, .events = POLLIN | POLLOUT};
  return poll(&poll_fd, 1, 0) == 1 ? poll_fd.revents : 0;
}

static void s_on_connection_ready(void *ud)
{
  struct s_connection *conn = ud;
  short events = s_ready_events(conn->fd);
  if (conn->failed || (events & (POLLERR | POLLHUP | POLLNVAL))) {
    s_drop(conn);
    return;
  }
  if ((events & POLLOUT) && s_has_output(conn)) {
    s_flush(conn);
    if (conn->failed) {
      s_drop(conn);
      return;
    }
  }
  if ((events & POLLIN) && conn->input_on)
    s_read(conn);
}

/* Idle: closed, with a 408 when part of a request came. Lingering: done. */
static void s_on_timer(void *ud)
{
  struct s_connection *conn = ud;
  conn->timer = NULL;
  if (conn->lingering)
    s_drop(conn);
  else if (conn->parsing || conn->state != S_HEAD || s_pending_input(conn) > 0)
    s_reject(conn, 408, "no whole request within %u ms", conn->server->options.idle_timeout_ms);
  else if (s_has_output(conn))
    s_close_after_flush(conn);
  else
    s_drop(conn);
}

/* ------------------------------------------------------------------ listening */

static void s_connection_open(struct ops_http_server *server, int fd)
{
  struct s_connection *conn = calloc(1, sizeof(*conn));
  if (!conn) {
    close(fd);
    return;
  }
  conn->server = server;
  conn->fd = fd;
  conn->input_on = true;
  conn->watch = ops_loop_watch_start(server->loop, fd, s_on_connection_ready, conn);
  if (!conn->watch) {
    close(fd);
    free(conn);
    return;
  }
  ops_list_push_back(&server->connections, &conn->node);
  server->connection_count++;
  s_start_timer(conn, server->options.idle_timeout_ms);
}

static void s_on_listen_ready(void *ud);

static void s_on_accept_resume(void *ud)
{
  struct ops_http_server *server = ud;
  server->accept_timer = NULL;
  ops_loop_watch_set_events(server->loop, server->watch, true, false);
}

/* Out of descriptors: the listening socket stays readable, so stop watching it for a while
 * rather than spin. */
static void s_pause_accepting(struct ops_http_server *server)
{
  if (server->accept_timer)
    return;
  server->accept_timer =
      ops_loop_timer_start(server->loop, ACCEPT_PAUSE_MS, s_on_accept_resume, server);
  if (server->accept_timer)
    ops_loop_watch_set_events(server->loop, server->watch, false, false);
}

static void s_on_listen_ready(void *ud)
{
  struct ops_http_server *server = ud;
  for (;;) {
    int fd = accept4(server->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        s_pause_accepting(server); /* EMFILE, ENFILE, ENOBUFS, ENOMEM */
      return;
    }
    if (server->connection_count >= server->options.max_connections)
      close(fd);
    else
      s_connection_open(server, fd);
  }
}

/* "127.0.0.1:8080" or "[::1]:8080", for messages. */
static void s_format_address(char *text, size_t size, const char *host, int port)
{
  snprintf(text, size, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

static int s_listen_error(struct ops_error *err, const char *address, int error)
{
  const char *why = strerror(error);
  const char *hint = "";
  if (error == EADDRINUSE) {
    why = "address already in use";
    hint = " (another opsrun serve? pick another --listen port)";
  } else if (error == EACCES) {
    why = "permission denied";
    hint = " (ports below 1024 need privileges: pick a port above 1023)";
  } else if (error == EADDRNOTAVAIL) {
    why = "address not available";
    hint = " (not an address of this machine: use 127.0.0.1, ::1 or 0.0.0.0)";
  }
  return ops_error_set(err, OPS_ERR_CONFIG, "cannot listen on %s: %s%s", address, why, hint);
}

/* A bound, listening, non-blocking socket; -1 with `err` set. */
static int s_listen_socket(const struct addrinfo *address, const char *text, int *port,
                           struct ops_error *err)
{
  int one = 1;
  struct sockaddr_storage bound;
  socklen_t bound_len = sizeof(bound);
  int fd = socket(address->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      bind(fd, address->ai_addr, address->ai_addrlen) != 0 || listen(fd, LISTEN_BACKLOG) != 0 ||
      getsockname(fd, (struct sockaddr *)&bound, &bound_len) != 0) {
    int error = errno;
    if (fd >= 0)
      close(fd);
    s_listen_error(err, text, error);
    return -1;
  }
  *port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                      : ntohs(((struct sockaddr_in *)&bound)->sin_port);
  return fd;
}

struct ops_http_server *ops_http_server_new(struct ops_loop *loop, const char *host, int port,
                                            const struct ops_http_server_options *options,
                                            ops_http_request_fn on_request, void *ud,
                                            struct ops_error *err)
{
  struct ops_http_server *server = NULL;
  struct addrinfo *address = NULL;
  struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                           .ai_socktype = SOCK_STREAM};
  char text[128], service[16];
  s_format_address(text, sizeof(text), host, port);
  snprintf(service, sizeof(service), "%d", port);
  if (port < 0 || port > 65535) {
    ops_error_set(err, OPS_ERR_CONFIG, "cannot listen on %s: the port must be from 0 to 65535",
                  text);
    goto cleanup;
  }
  if (getaddrinfo(host, service, &hints, &address) != 0 || !address) {
    ops_error_set(err, OPS_ERR_CONFIG,
                  "cannot listen on %s: \"%s\" is not a numeric IPv4 or IPv6 address (use "
                  "127.0.0.1 or ::1, for example)",
                  text, host);
    goto cleanup;
  }
  server = calloc(1, sizeof(*server));
  if (!server) {
    ops_error_set(err, OPS_ERR_NOMEM, "cannot listen on %s: out of memory", text);
    goto cleanup;
  }
  *server = (struct ops_http_server){
      .loop = loop, .options = *options, .on_request = on_request, .ud = ud, .port = port};
  server->fd = s_listen_socket(address, text, &server->port, err);
  if (server->fd < 0) {
    free(server);
    server = NULL;
    goto cleanup;
  }
  server->watch = ops_loop_watch_start(loop, server->fd, s_on_listen_ready, server);
  if (!server->watch) {
    ops_error_set(err, OPS_ERR_NOMEM, "cannot listen on %s: cannot watch the socket", text);
    close(server->fd);
    free(server);
    server = NULL;
  }
cleanup:
  if (address)
    freeaddrinfo(address);
  return server;
}

int ops_http_server_port(const struct ops_http_server *server)
{
  return server->port;
}

void ops_http_server_free(struct ops_http_server *server)
{
  if (!server)
    return;
  if (server->accept_timer)
    ops_loop_timer_cancel(server->loop, server->accept_timer);
  ops_loop_watch_cancel(server->loop, server->watch);
  close(server->fd);
  while (server->connections.head)
    s_connection_close(OPS_LIST_ENTRY(server->connections.head, struct s_connection, node));
  free(server);
}
