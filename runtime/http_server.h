/* http_server.h: a small HTTP/1.1 server on the event loop (runtime/loop.h), for `opsrun serve
 * --listen`: one listening socket, keep-alive connections, one request at a time on each (no
 * pipelining: what a client sends early waits, buffered), bodies by Content-Length or chunked,
 * replies whole (Content-Length) or streamed (chunked, for Server-Sent Events). It parses and
 * frames; what a request means (MCP, tokens, origins) is its caller's business. */
#ifndef OPS_HTTP_SERVER_H
#define OPS_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/error.h"
#include "runtime/loop.h"

struct ops_http_server;
struct ops_http_request;

/* Called once for each complete request, in the order they complete. The request is the
 * callee's (borrowed from the server) until ops_http_request_finish. */
typedef void (*ops_http_request_fn)(struct ops_http_request *request, void *ud);

struct ops_http_server_options {
  size_t max_body_bytes;   /* larger bodies are answered 413 and the connection closed */
  size_t max_header_bytes; /* request line and headers; larger: 431 and closed */
  size_t max_connections;  /* more are accepted and closed at once */
  /* a connection that has not sent a whole request this long after it opened or its last reply
   * ended is closed (a 408 first when part of a request came); 0: never */
  unsigned idle_timeout_ms;
};

/* Listens on `host` (a numeric IPv4 or IPv6 address) and `port` (0: any free port; see
 * ops_http_server_port). Returns NULL with `err` filled (the address in use, not an address, no
 * permission...). */
struct ops_http_server *ops_http_server_new(struct ops_loop *loop, const char *host, int port,
                                            const struct ops_http_server_options *options,
                                            ops_http_request_fn on_request, void *ud,
                                            struct ops_error *err);

/* The port it listens on. */
int ops_http_server_port(const struct ops_http_server *server);

/* Stops listening and closes every connection. Requests not yet finished stay valid until
 * ops_http_request_finish (their replies go nowhere; their on_disconnect handlers are not
 * called). May be called from on_request. */
void ops_http_server_free(struct ops_http_server *server);

/* The request: method and target as sent ("POST", "/mcp?x=1"), its body (NUL-terminated; the
 * length may include NULs), and its headers. */
const char *ops_http_request_method(const struct ops_http_request *request);
const char *ops_http_request_target(const struct ops_http_request *request);
const char *ops_http_request_body(const struct ops_http_request *request, size_t *len);
/* How many headers, and the i-th: its name in lower case and its value without surrounding
 * whitespace, in the order sent. */
size_t ops_http_request_header_count(const struct ops_http_request *request);
void ops_http_request_header(const struct ops_http_request *request, size_t i, const char **name,
                             const char **value);
/* The value of the header named `name` (in any case); several of them joined with ", "; NULL
 * when absent. Valid until the request is finished. */
const char *ops_http_request_header_value(struct ops_http_request *request, const char *name);

/* Whether the client is still connected (false once it closed or the server was freed): a
 * reply written then is dropped. */
bool ops_http_request_connected(const struct ops_http_request *request);

/* Sets the connection's other end going away handler: called once, from the loop, when the
 * client closes or resets the connection before the request is finished (the request is still
 * the callee's to finish). Not called if the client was already gone when it was set (see
 * ops_http_request_connected). */
void ops_http_request_on_disconnect(struct ops_http_request *request, void (*fn)(void *ud),
                                    void *ud);

/* A whole reply: status, reason from the status, the `headers` given ("Name: value\r\n" lines,
 * may be NULL; not Content-Length, Transfer-Encoding or Connection, which the server writes),
 * Content-Length, then the body. 204 and 304 have neither, a HEAD request's reply no body; a
 * status outside 200-999 is a 500. Ends the request (as ops_http_request_finish). */
void ops_http_request_reply(struct ops_http_request *request, int status, const char *headers,
                            const char *body, size_t len);

/* A streamed reply: the status line and headers with Transfer-Encoding: chunked; then each
 * ops_http_request_stream_write sends one chunk (nothing for len 0), in order, buffered while the
 * client reads slowly. (To an HTTP/1.0 client: no chunks, the connection's end ends the body.)
 * Returns false when already answered, out of memory or the client is gone. */
bool ops_http_request_stream_start(struct ops_http_request *request, int status,
                                   const char *headers);
bool ops_http_request_stream_write(struct ops_http_request *request, const char *data, size_t len);

/* Ends the request: a streamed reply gets its last chunk; one never answered gets a 500. The
 * connection then reads its next request (or closes, for Connection: close or HTTP/1.0). The
 * request must not be used after. */
void ops_http_request_finish(struct ops_http_request *request);

#endif
