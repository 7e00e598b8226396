/* sse.h: an incremental parser of Server-Sent Events (text/event-stream, WHATWG HTML "event
 * stream interpretation"): bytes in as they arrive, whole events out. Lines end in CRLF, LF or
 * CR; ':' starts a comment; fields data (joined with "\n"), event, id and retry. */
#ifndef OPS_SSE_H
#define OPS_SSE_H

#include <stdbool.h>
#include <stddef.h>

/* One dispatched event; the strings are borrowed until the callback returns. */
struct ops_sse_event {
  const char *type; /* "message" unless an event field said otherwise */
  const char *data; /* the data lines joined with "\n", without the final newline */
  size_t data_len;
  const char *last_event_id; /* the stream's last event id so far ("" when none) */
};

/* Return false to stop parsing: ops_sse_feed then returns early. */
typedef bool (*ops_sse_event_fn)(void *ud, const struct ops_sse_event *event);

struct ops_sse_parser;

struct ops_sse_parser *ops_sse_parser_new(ops_sse_event_fn on_event, void *ud);
void ops_sse_parser_free(struct ops_sse_parser *parser);

/* Parses `len` more bytes, calling on_event for each complete event. Returns 0; false from the
 * callback returns OPS_ERR_CANCELLED; OPS_ERR_NOMEM when out of memory. */
int ops_sse_feed(struct ops_sse_parser *parser, const char *data, size_t len);

/* The longest event id kept. An id is kept to be sent back in a header, so a longer one, or one
 * holding anything but visible ASCII (0x21 to 0x7E, as MCP allows in session ids: no control
 * byte, CR or LF reaches a header), is ignored, as the standard ignores one holding NUL: the
 * last event id stays what it was, so a stream that ends early resumes from the last id that
 * was kept (the server replays what followed it), or, without one, is not resumed. */
#define OPS_SSE_MAX_ID_LEN 1024

/* The id of the last event seen (kept across events, "" when none): a resumed stream sends it
 * as Last-Event-ID. Empty-data events, such as MCP's priming event, set it too. */
const char *ops_sse_last_event_id(const struct ops_sse_parser *parser);

/* The longest reconnection delay honoured, in milliseconds: a server's retry: of 999999999 would
 * otherwise hold a stream's reader for 11 days. 30 s is the MCP TypeScript SDK's default
 * maxReconnectionDelay, the ceiling of its own reconnection backoff; our choice to apply it to
 * the server's value too. */
#define OPS_SSE_MAX_RETRY_MS 30000L

/* The reconnection delay the server asked for with retry:, in milliseconds, at most
 * OPS_SSE_MAX_RETRY_MS; -1 when none. */
long ops_sse_retry_ms(const struct ops_sse_parser *parser);

#endif
