/* fuzz_sse.c: runtime/sse.h on arbitrary bytes. The stream is parsed twice, whole and in pieces
 * whose size the first byte picks, and both must dispatch the same events (type, data, last id)
 * and end with the same last id and retry: framing must not depend on where the network split
 * the bytes. Events are checked for shape (NUL-terminated data of the length given, no line
 * break in type or id). The second byte stops the parse after that many events, as MCP does
 * once the reply arrives. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "runtime/sse.h"

struct record {
  char *text; /* every event as type \x1f data \x1f id \x1e */
  size_t len;
  size_t events;
  size_t stop_after; /* 0: never stop */
};

static void s_add(struct record *r, const char *data, size_t len)
{
  char *grown = realloc(r->text, r->len + len + 1);
  if (!grown)
    abort();
  memcpy(grown + r->len, data, len);
  r->text = grown;
  r->len += len;
}

static bool s_on_event(void *ud, const struct ops_sse_event *event)
{
  struct record *r = ud;
  if (!event->type || !event->data || !event->last_event_id || event->data[event->data_len] ||
      strpbrk(event->type, "\r\n") || strpbrk(event->last_event_id, "\r\n") ||
      memchr(event->data, '\r', event->data_len))
    abort();
  s_add(r, event->type, strlen(event->type));
  s_add(r, "\x1f", 1);
  s_add(r, event->data, event->data_len);
  s_add(r, "\x1f", 1);
  s_add(r, event->last_event_id, strlen(event->last_event_id));
  s_add(r, "\x1e", 1);
  r->events++;
  return !r->stop_after || r->events < r->stop_after;
}

/* Feeds `data` in pieces of `piece` bytes (0: at once); returns the final id and retry. */
static void s_parse(const uint8_t *data, size_t len, size_t piece, struct record *r, char **last_id,
                    long *retry)
{
  struct ops_sse_parser *parser = ops_sse_parser_new(s_on_event, r);
  if (!parser)
    abort();
  size_t step = piece ? piece : (len ? len : 1);
  for (size_t at = 0; at < len; at += step) {
    int rc = ops_sse_feed(parser, (const char *)data + at, at + step > len ? len - at : step);
    if (rc == OPS_ERR_CANCELLED)
      break;
    if (rc != OPS_OK)
      abort();
  }
  *last_id = strdup(ops_sse_last_event_id(parser));
  *retry = ops_sse_retry_ms(parser);
  ops_sse_parser_free(parser);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 2)
    return 0;
  size_t piece = (size_t)(data[0] % 8) + 1; /* 1-8 bytes: splits CRLF, BOMs and fields */
  size_t stop_after = data[1] % 4;
  data += 2;
  size -= 2;
  struct record whole = {.stop_after = stop_after}, pieces = {.stop_after = stop_after};
  char *whole_id = NULL, *pieces_id = NULL;
  long whole_retry = 0, pieces_retry = 0;
  s_parse(data, size, 0, &whole, &whole_id, &whole_retry);
  s_parse(data, size, piece, &pieces, &pieces_id, &pieces_retry);
  if (whole.len != pieces.len || (whole.len && memcmp(whole.text, pieces.text, whole.len) != 0) ||
      strcmp(whole_id, pieces_id) != 0 || whole_retry != pieces_retry) {
    fprintf(stderr,
            "events differ when fed in pieces of %zu bytes: %zu events (%zu bytes) whole, "
            "%zu (%zu bytes) in pieces; last id '%s' / '%s'\n",
            piece, whole.events, whole.len, pieces.events, pieces.len, whole_id, pieces_id);
    abort();
  }
  free(whole.text);
  free(pieces.text);
  free(whole_id);
  free(pieces_id);
  return 0;
}
