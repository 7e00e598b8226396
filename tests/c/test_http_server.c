/* test_http_server.c: the HTTP/1.1 server on the event loop, against plain sockets in the same
 * thread (the loop runs between the client's steps): parsing, keep-alive, one request at a time,
 * chunked bodies, 100-continue, whole and streamed replies, limits, errors, disconnects, the idle
 * timeout, the connection limit, and freeing the server under an outstanding request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/http_server.h"
#include "runtime/loop.h"

#define MAX_REQUESTS 8
#define MAX_CLIENTS  8
#define DEADLINE_MS  2000

struct fixture {
  struct ops_loop *loop;
  struct ops_http_server *server;
  struct ops_http_request *requests[MAX_REQUESTS]; /* kept, when not answered at once */
  int request_count;
  bool echo;               /* answer inside on_request: method, target and body */
  bool free_in_on_request; /* free the server inside on_request */
  int disconnects;
  int clients[MAX_CLIENTS];
  int client_count;
};

static const struct ops_http_server_options s_defaults = {
    .max_body_bytes = 1 << 20,
    .max_header_bytes = 8192,
    .max_connections = 16,
    .idle_timeout_ms = 10000,
};

/* Runs the loop until `cond` holds, failing after DEADLINE_MS. */
#define RUN_UNTIL(f, cond)                                                                         \
  do {                                                                                             \
    uint64_t deadline_ = ops_loop_now_ms() + DEADLINE_MS;                                          \
    while (!(cond) && ops_loop_now_ms() < deadline_)                                               \
      ops_loop_run_once((f)->loop, 5);                                                             \
    assert_true(cond);                                                                             \
  } while (0)

static void on_request(struct ops_http_request *request, void *ud)
{
  struct fixture *f = ud;
  f->request_count++;
  if (f->free_in_on_request) {
    ops_http_server_free(f->server);
    f->server = NULL;
  }
  if (!f->echo) {
    assert_true(f->request_count <= MAX_REQUESTS);
    f->requests[f->request_count - 1] = request;
    return;
  }
  char text[256];
  size_t len;
  const char *body = ops_http_request_body(request, &len);
  int n = snprintf(text, sizeof(text), "%s %s %.*s", ops_http_request_method(request),
                   ops_http_request_target(request), (int)len, body);
  ops_http_request_reply(request, 200, NULL, text, (size_t)n);
}

static void on_disconnect(void *ud)
{
  struct fixture *f = ud;
  f->disconnects++;
}

static int setup(void **state)
{
  struct fixture *f = calloc(1, sizeof(*f));
  f->loop = ops_loop_new();
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  ops_http_server_free(f->server);
  for (int i = 0; i < f->client_count; i++)
    close(f->clients[i]);
  ops_loop_free(f->loop);
  free(f);
  return 0;
}

static void start(struct fixture *f, const struct ops_http_server_options *options)
{
  struct ops_error err = {0};
  f->server = ops_http_server_new(f->loop, "127.0.0.1", 0, options, on_request, f, &err);
  if (!f->server)
    fail_msg("%s", err.message);
  assert_true(ops_http_server_port(f->server) > 0);
}

/* A blocking client socket, connected (the kernel completes the handshake before the server
 * accepts). A small receive buffer makes the server queue what it sends. */
static int connect_client(struct fixture *f, int receive_buffer)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  if (receive_buffer > 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
  struct sockaddr_in address = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)ops_http_server_port(f->server)),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(connect(fd, (struct sockaddr *)&address, sizeof(address)), 0);
  assert_true(f->client_count < MAX_CLIENTS);
  f->clients[f->client_count++] = fd;
  return fd;
}

static int client(struct fixture *f)
{
  return connect_client(f, 0);
}

/* Closes a client before the test ends. */
static void close_client(struct fixture *f, int fd)
{
  for (int i = 0; i < f->client_count; i++)
    if (f->clients[i] == fd)
      f->clients[i] = f->clients[--f->client_count];
  close(fd);
}

static void send_bytes(int fd, const char *data, size_t len)
{
  assert_int_equal(send(fd, data, len, MSG_NOSIGNAL), (ssize_t)len);
}

static void send_text(int fd, const char *text)
{
  send_bytes(fd, text, strlen(text));
}

/* Reads until `want` bytes or the end came (then *eof), running the loop in between. */
static size_t receive(struct fixture *f, int fd, char *buffer, size_t want, bool *eof)
{
  size_t got = 0;
  *eof = false;
  uint64_t deadline = ops_loop_now_ms() + DEADLINE_MS;
  while (got < want && !*eof && ops_loop_now_ms() < deadline) {
    ops_loop_run_once(f->loop, 0);
    ssize_t n = recv(fd, buffer + got, want - got, MSG_DONTWAIT);
    if (n > 0)
      got += (size_t)n;
    else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
      *eof = true;
  }
  buffer[got] = '\0';
  return got;
}

/* The next bytes from the server are exactly `expected`. */
static void expect_bytes(struct fixture *f, int fd, const char *expected)
{
  static char buffer[4096];
  bool eof;
  receive(f, fd, buffer, strlen(expected), &eof);
  assert_string_equal(buffer, expected);
}

/* Everything up to the server's end of the connection. */
static const char *read_to_end(struct fixture *f, int fd)
{
  static char buffer[4096];
  bool eof;
  receive(f, fd, buffer, sizeof(buffer) - 1, &eof);
  assert_true(eof);
  return buffer;
}

/* Nothing more has come (after a few turns of the loop), and the connection is open. */
static void expect_quiet(struct fixture *f, int fd)
{
  char byte;
  for (int i = 0; i < 5; i++)
    ops_loop_run_once(f->loop, 2);
  assert_int_equal(recv(fd, &byte, 1, MSG_DONTWAIT), -1);
  assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static void a_post_gives_its_body_and_headers_and_gets_the_exact_reply(void **state)
{
  struct fixture *f = *state;
  start(f, &s_defaults);
  int fd = client(f);
  static const char request[] = "POST /mcp?x=1 HTTP/1.1\r\n"
                                "Host: 127.0.0.1\r\n"
                                "Content-Type: application/json\r\n"
                                "X-Spaced: \t padded value \t\r\n"
                                "Accept: application/json\r\n"
                                "accept: text/event-stream\r\n"
                                "Content-Length: 11\r\n"
                                "\r\n"
                                "hello\0world";
  send_bytes(fd, request, sizeof(request) - 1);
  RUN_UNTIL(f, f->request_count == 1);
  struct ops_http_request *r = f->requests[0];
  assert_string_equal(ops_http_request_method(r), "POST");
  assert_string_equal(ops_http_request_target(r), "/mcp?x=1");
  size_t len;
  const char *body = ops_http_request_body(r, &len);
  assert_int_equal(len, 11);
  assert_memory_equal(body, "hello\0world", 12); /* NUL-terminated too */
  assert_int_equal(ops_http_request_header_count(r), 6);
  const char *name, *value;
  ops_http_request_header(r, 2, &name, &value);
  assert_string_equal(name, "x-spaced");
  assert_string_equal(value, "padded value");
  ops_http_request_header(r, 1, &name, &value);
  assert_string_equal(name, "content-type");
  assert_string_equal(ops_http_request_header_value(r, "content-type"), "application/json");
  assert_string_equal(ops_http_request_header_value(r, "accept"),
                      "application/json, text/event-stream");
  assert_null(ops_http_request_header_value(r, "authorization"));
  assert_true(ops_http_request_connected(r));
  ops_http_request_reply(r, 200, "Content-Type: application/json\r\n", "{}", 2);
  expect_bytes(f, fd,
               "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
  expect_quiet(f, fd);
}

static void keep_alive_serves_two_requests_on_one_connection(void **state)
{
  struct fixture *f = *state;
  f->echo = true;
  start(f, &s_defaults);
  int fd = client(f);
  send_text(fd, "GET /one HTTP/1.1\r\nHost: x\r\n\r\n");
  expect_bytes(f, fd, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nGET /one ");
  send_text(fd, "POST /two HTTP/1.1\nContent-Length: 3\n\nabc"); /* bare LFs */
  expect_bytes(f, fd, "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nPOST /two abc");
  send_text(fd, "GET /three HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  expect_bytes(
      f, fd, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: keep-alive\r\n\r\nGET /three ");
  assert_int_equal(f->request_count, 3);
  expect_quiet(f, fd);
}

static void a_request_sent_early_waits_for_the_reply_before_it(void **state)
{
  struct fixture *f = *state;
  start(f, &s_defaults);
  int fd = client(f);
  send_text(fd, "GET /a HTTP/1.1\r\n\r\nDELETE /b HTTP/1.1\r\n\r\n");
  RUN_UNTIL(f, f->request_count == 1);
  expect_quiet(f, fd);
  assert_int_equal(f->request_count, 1);
  ops_http_request_reply(f->requests[0], 202, NULL, "", 0);
  assert_int_equal(f->request_count, 2); /* parsed from the buffer as the first ended */
  assert_string_equal(ops_http_request_method(f->requests[1]), "DELETE");
  ops_http_request_reply(f->requests[1], 204, "X-A: b\r\n", "ignored", 7);
  expect_bytes(f, fd,
               "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"
               "HTTP/1.1 204 No Content\r\nX-A: b\r\n\r\n");
  expect_quiet(f, fd);
}

/* Input stops while a request is outstanding and its successors fill the buffer: the
 * level-triggered watch must not spin, and reading resumes after the reply. */
static void a_full_buffer_stops_reading_without_spinning(void **state)
{
  struct fixture *f = *state;
  struct ops_http_server_options options = s_defaults;
  options.max_header_bytes = 64;
  options.max_body_bytes = 64;
  f->echo = false;
  start(f, &options);
  int fd = client(f);
  char next[128];
  snprintf(next, sizeof(next), "POST /n HTTP/1.1\r\nContent-Length: 60\r\n\r\n%060d", 7);
  send_text(fd, "GET /first HTTP/1.1\r\n\r\n");
  RUN_UNTIL(f, f->request_count == 1);
  for (int i = 0; i < 3; i++)
    send_text(fd, next);
  for (int i = 0; i < 5; i++)
    ops_loop_run_once(f->loop, 2);
  assert_int_equal(ops_loop_run_once(f->loop, 0), 0); /* full, so not reading: nothing runs */
  ops_http_request_reply(f->requests[0], 200, NULL, "1", 1);
  RUN_UNTIL(f, f->request_count == 2);
  ops_http_request_reply(f->requests[1], 200, NULL, "2", 1);
  RUN_UNTIL(f, f->request_count == 3);
  ops_http_request_reply(f->requests[2], 200, NULL, "3", 1);
  RUN_UNTIL(f, f->request_count == 4);
  size_t len;
  assert_string_equal(ops_http_request_body(f->requests[3], &len), next + strlen(next) - 60);
  ops_http_request_reply(f->requests[3], 200, NULL, "4", 1);
  expect_bytes(f, fd,
               "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1"
               "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2"
               "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n3"
               "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n4");
}

static void a_chunked_body_is_decoded(void **state)
{
  struct fixture *f = *state;
  start(f, &s_defaults);
  int fd = client(f);
  send_text(fd, "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhel");
  for (int i = 0; i < 3; i++)
    ops_loop_run_once(f->loop, 2);
  assert_int_equal(f->request_count, 0);
  send_text(fd, "lo\r\n6\n world\n");
  for (int i = 0; i < 3; i++)
    ops_loop_run_once(f->loop, 2);
  send_text(fd, "0\r\nX-Trailer: t\r\n\r\n");
  RUN_UNTIL(f, f->request_count == 1);
  size_t len;
  assert_string_equal(ops_http_request_body(f->requests[0], &len), "hello world");
  assert_int_equal(len, 11);
  ops_http_request_reply(f->requests[0], 200, NULL, "ok", 2);
  expect_bytes(f, fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
}

static void expect_100_continue_is_answered_before_the_body(void **state)
{
  struct fixture *f = *state;
  start(f, &s_defaults);
  int fd = client(f);
  send_text(fd, "PUT /e HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  expect_bytes(f, fd, "HTTP/1.1 100 Continue\r\n\r\n");
  assert_int_equal(f->request_count, 0);
  send_text(fd, "12345");
  RUN_UNTIL(f, f->request_count == 1);
  size_t len;
  assert_string_equal(ops_http_request_body(f->requests[0], &len), "12345");
  ops_http_request_reply(f->requests[0], 201, NULL, "", 0);
  expect_bytes(f, fd, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
}

static void a_streamed_reply_is_chunked(void **state)
{
  struct fixture *f = *state;
  start(f, &s_defaults);
  int fd = client(f);
  send_text(fd, "GET /sse HTTP/1.1\r\nAccept: text/event-stream\r\n\r\n");
  RUN_UNTIL(f, f->request_count == 1);
  struct ops_http_request *r = f->requests[0];
  assert_true(ops_http_request_stream_start(r, 200, "Content-Type: text/event-stream\r\n"));
  assert_true(ops_http_request_stream_write(r, "data: 1\n\n", 9));
  assert_true(ops_http_request_stream_write(r, "", 0));
  assert_true(ops_http_request_stream_write(r, "data: 22\n\n", 10));
  ops_http_request_finish(r);
  expect_bytes(f, fd,
               "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
               "Transfer-Encoding: chunked\r\n\r\n"
               "9\r\ndata: 1\n\n\r\na\r\ndata: 22\n\n\r\n0\r\n\r\n");
  expect_quiet(f, fd);
}

/* A reply larger than the socket takes at once (loopback's buffers hold a few megabytes) is
 * queued and sent as the client reads. */
static void a_large_reply_to_a_slow_reader_arrives_whole(void **state)
{
  struct fixture *f = *state;
  start(f, &s_defaults);
  int fd = client(f);
  send_text(fd, "GET /big HTTP/1.1\r\n\r\n");
  RUN_UNTIL(f, f->request_count == 1);
  enum { SIZE = 8 << 20 };
  char *body = malloc(SIZE);
  for (size_t i = 0; i < SIZE; i++)
    body[i] = (char)('a' + i % 26);
  ops_http_request_reply(f->requests[0], 200, NULL, body, SIZE);
  for (int i = 0; i < 3; i++)
    ops_loop_run_once(f->loop, 1); /* the client does not read yet */
  static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 8388608\r\n\r\n";
  size_t want = sizeof(head) - 1 + SIZE;
  char *got = malloc(want + 1);
  bool eof;
  assert_int_equal(receive(f, fd, got, want, &eof), want);
  assert_memory_equal(got, head, sizeof(head) - 1);
  assert_memory_equal(got + sizeof(head) - 1, body, SIZE);
  free(got);
  free(body);
  expect_quiet(f, fd);
}

static void a_body_over_the_limit_gets_413_and_close(void **state)
{
  struct fixture *f = *state;
  struct ops_http_server_options options = s_defaults;
  options.max_body_bytes = 16;
  start(f, &options);
  int fd = client(f);
  send_text(fd, "POST / HTTP/1.1\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n");
  assert_string_equal(read_to_end(f, fd), "HTTP/1.1 413 Content Too Large\r\n"
                                          "Content-Type: text/plain; charset=utf-8\r\n"
                                          "Content-Length: 34\r\nConnection: close\r\n\r\n"
                                          "request body larger than 16 bytes\n");
  fd = client(f);
  send_text(fd, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n"
                "9\r\n123456789\r\n0\r\n\r\n");
  assert_non_null(strstr(read_to_end(f, fd), "HTTP/1.1 413 Content Too Large\r\n"));
  assert_int_equal(f->request_count, 0);
}

static void headers_over_the_limit_get_431(void **state)
{
  struct fixture *f = *state;
  struct ops_http_server_options options = s_defaults;
  options.max_header_bytes = 64;
  start(f, &options);
  int fd = client(f);
  send_text(fd, "GET / HTTP/1.1\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  const char *reply = read_to_end(f, fd);
  assert_non_null(strstr(reply, "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  assert_non_null(strstr(reply, "\r\nConnection: close\r\n"));
  assert_non_null(strstr(reply, "request header section larger than 64 bytes\n"));
}

static void a_malformed_request_gets_400(void **state)
{
  struct fixture *f = *state;
  start(f, &s_defaults);
  static const char *const malformed[] = {
      "NOT A VALID REQUEST\r\n\r\n",
      "GET /\r\n\r\n",
      "GET / HTTP/1.1\r\nX-A: b\r\n  folded\r\n\r\n",
      "GET / HTTP/1.1\r\nX-A : b\r\n\r\n",
      "GET / HTTP/1.1\r\nNo colon\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 12x\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
      "POST / HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
  };
  for (size_t i = 0; i < sizeof(malformed) / sizeof(*malformed); i++) {
    int fd = client(f);
    send_text(fd, malformed[i]);
    const char *reply = read_to_end(f, fd);
    if (strncmp(reply, "HTTP/1.1 400 Bad Request\r\n", 26) != 0 ||
        !strstr(reply, "Content-Type: text/plain") || !strstr(reply, "Connection: close\r\n"))
      fail_msg("for %s got %s", malformed[i], reply);
    close_client(f, fd);
  }
  assert_int_equal(f->request_count, 0);
}

static void http_2_gets_505(void **state)
{
  struct fixture *f = *state;
  start(f, &s_defaults);
  int fd = client(f);
  send_text(fd, "GET / HTTP/2.0\r\n\r\n");
  assert_non_null(strstr(read_to_end(f, fd), "HTTP/1.1 505 HTTP Version Not Supported\r\n"));
}

static void a_client_gone_while_outstanding_is_reported_and_its_reply_dropped(void **state)
{
  struct fixture *f = *state;
  start(f, &s_defaults);
  int fd = client(f);
  send_text(fd, "GET /slow HTTP/1.1\r\n\r\n");
  RUN_UNTIL(f, f->request_count == 1);
  struct ops_http_request *r = f->requests[0];
  ops_http_request_on_disconnect(r, on_disconnect, f);
  close_client(f, fd);
  RUN_UNTIL(f, f->disconnects == 1);
  assert_false(ops_http_request_connected(r));
  assert_false(ops_http_request_stream_start(r, 200, NULL));
  assert_false(ops_http_request_stream_write(r, "x", 1));
  for (int i = 0; i < 3; i++)
    ops_loop_run_once(f->loop, 1);
  assert_int_equal(f->disconnects, 1); /* once */
  ops_http_request_finish(r);          /* frees it (ASan checks) */
}

/* A stream's writes to a client that reset the connection fail, and the owner hears of it. */
static void a_stream_to_a_reset_client_fails(void **state)
{
  struct fixture *f = *state;
  start(f, &s_defaults);
  int fd = client(f);
  send_text(fd, "GET /sse HTTP/1.1\r\n\r\n");
  RUN_UNTIL(f, f->request_count == 1);
  struct ops_http_request *r = f->requests[0];
  ops_http_request_on_disconnect(r, on_disconnect, f);
  assert_true(ops_http_request_stream_start(r, 200, NULL));
  struct linger reset = {.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
  close_client(f, fd); /* with unread input: a reset */
  RUN_UNTIL(f, f->disconnects == 1);
  assert_false(ops_http_request_stream_write(r, "data: x\n\n", 9));
  ops_http_request_finish(r);
}

static void an_idle_connection_is_closed(void **state)
{
  struct fixture *f = *state;
  struct ops_http_server_options options = s_defaults;
  options.idle_timeout_ms = 50;
  start(f, &options);
  int quiet = client(f);
  int partial = client(f);
  send_text(partial, "GET / HTT");
  uint64_t start_ms = ops_loop_now_ms();
  assert_string_equal(read_to_end(f, quiet), "");
  assert_true(ops_loop_now_ms() - start_ms >= 40);
  const char *reply = read_to_end(f, partial);
  assert_non_null(strstr(reply, "HTTP/1.1 408 Request Timeout\r\n"));
  assert_non_null(strstr(reply, "no whole request within 50 ms\n"));
}

/* The idle time counts from the end of the last reply, not from the connection's start. */
static void the_idle_timeout_restarts_after_a_reply(void **state)
{
  struct fixture *f = *state;
  struct ops_http_server_options options = s_defaults;
  options.idle_timeout_ms = 50;
  f->echo = true;
  start(f, &options);
  int fd = client(f);
  for (int i = 0; i < 3; i++)
    ops_loop_run_once(f->loop, 10);
  send_text(fd, "GET / HTTP/1.1\r\n\r\n");
  expect_bytes(f, fd, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nGET / ");
  uint64_t replied_ms = ops_loop_now_ms();
  assert_string_equal(read_to_end(f, fd), "");
  assert_true(ops_loop_now_ms() - replied_ms >= 40);
}

static void connections_over_the_limit_are_closed_at_once(void **state)
{
  struct fixture *f = *state;
  struct ops_http_server_options options = s_defaults;
  options.max_connections = 2;
  f->echo = true;
  start(f, &options);
  int first = client(f);
  int second = client(f);
  int third = client(f);
  assert_string_equal(read_to_end(f, third), "");
  send_text(first, "GET /1 HTTP/1.1\r\n\r\n");
  send_text(second, "GET /2 HTTP/1.1\r\n\r\n");
  expect_bytes(f, first, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nGET /1 ");
  expect_bytes(f, second, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nGET /2 ");
}

static void connection_close_from_the_client_closes_after_the_reply(void **state)
{
  struct fixture *f = *state;
  f->echo = true;
  start(f, &s_defaults);
  int fd = client(f);
  send_text(fd, "GET /bye HTTP/1.1\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\n\r\n");
  assert_string_equal(read_to_end(f, fd),
                      "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nGET /bye ");
  fd = client(f);
  send_text(fd, "GET /old HTTP/1.0\r\n\r\n");
  assert_string_equal(read_to_end(f, fd),
                      "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nGET /old ");
  assert_int_equal(f->request_count, 2);
}

static void a_request_finished_unanswered_gets_500(void **state)
{
  struct fixture *f = *state;
  start(f, &s_defaults);
  int fd = client(f);
  send_text(fd, "GET / HTTP/1.1\r\n\r\n");
  RUN_UNTIL(f, f->request_count == 1);
  ops_http_request_finish(f->requests[0]);
  expect_bytes(f, fd,
               "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\n"
               "Content-Length: 48\r\n\r\nthe server ended this request without an answer\n");
}

static void a_request_outlives_the_server(void **state)
{
  struct fixture *f = *state;
  start(f, &s_defaults);
  int fd = client(f);
  send_text(fd, "GET / HTTP/1.1\r\n\r\n");
  RUN_UNTIL(f, f->request_count == 1);
  struct ops_http_request *r = f->requests[0];
  ops_http_request_on_disconnect(r, on_disconnect, f);
  ops_http_server_free(f->server);
  f->server = NULL;
  assert_false(ops_http_request_connected(r));
  assert_string_equal(ops_http_request_target(r), "/");
  ops_http_request_reply(r, 200, NULL, "dropped", 7);
  assert_string_equal(read_to_end(f, fd), "");
  assert_int_equal(f->disconnects, 0);
  assert_true(ops_loop_idle(f->loop));
}

static void the_server_may_be_freed_inside_on_request(void **state)
{
  struct fixture *f = *state;
  f->free_in_on_request = true;
  start(f, &s_defaults);
  int fd = client(f);
  send_text(fd, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
  RUN_UNTIL(f, f->request_count == 1);
  assert_null(f->server);
  assert_false(ops_http_request_connected(f->requests[0]));
  ops_http_request_finish(f->requests[0]);
  assert_string_equal(read_to_end(f, fd), "");
  assert_int_equal(f->request_count, 1);
}

static void listening_errors_say_what_to_do(void **state)
{
  struct fixture *f = *state;
  start(f, &s_defaults);
  struct ops_error err = {0};
  int port = ops_http_server_port(f->server);
  assert_null(ops_http_server_new(f->loop, "127.0.0.1", port, &s_defaults, on_request, f, &err));
  char expected[160];
  snprintf(expected, sizeof(expected),
           "cannot listen on 127.0.0.1:%d: address already in use (another opsrun serve? pick "
           "another --listen port)",
           port);
  assert_string_equal(err.message, expected);
  assert_int_equal(err.kind, OPS_ERR_CONFIG);
  assert_null(ops_http_server_new(f->loop, "localhost", 8080, &s_defaults, on_request, f, &err));
  assert_non_null(strstr(err.message, "not a numeric IPv4 or IPv6 address"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(a_post_gives_its_body_and_headers_and_gets_the_exact_reply,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(keep_alive_serves_two_requests_on_one_connection, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_request_sent_early_waits_for_the_reply_before_it, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_full_buffer_stops_reading_without_spinning, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_chunked_body_is_decoded, setup, teardown),
      cmocka_unit_test_setup_teardown(expect_100_continue_is_answered_before_the_body, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_streamed_reply_is_chunked, setup, teardown),
      cmocka_unit_test_setup_teardown(a_large_reply_to_a_slow_reader_arrives_whole, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_body_over_the_limit_gets_413_and_close, setup, teardown),
      cmocka_unit_test_setup_teardown(headers_over_the_limit_get_431, setup, teardown),
      cmocka_unit_test_setup_teardown(a_malformed_request_gets_400, setup, teardown),
      cmocka_unit_test_setup_teardown(http_2_gets_505, setup, teardown),
      cmocka_unit_test_setup_teardown(
          a_client_gone_while_outstanding_is_reported_and_its_reply_dropped, setup, teardown),
      cmocka_unit_test_setup_teardown(a_stream_to_a_reset_client_fails, setup, teardown),
      cmocka_unit_test_setup_teardown(an_idle_connection_is_closed, setup, teardown),
      cmocka_unit_test_setup_teardown(the_idle_timeout_restarts_after_a_reply, setup, teardown),
      cmocka_unit_test_setup_teardown(connections_over_the_limit_are_closed_at_once, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(connection_close_from_the_client_closes_after_the_reply,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(a_request_finished_unanswered_gets_500, setup, teardown),
      cmocka_unit_test_setup_teardown(a_request_outlives_the_server, setup, teardown),
      cmocka_unit_test_setup_teardown(the_server_may_be_freed_inside_on_request, setup, teardown),
      cmocka_unit_test_setup_teardown(listening_errors_say_what_to_do, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
