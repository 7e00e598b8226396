/* sse.c: the event-stream parser of sse.h: a line assembler feeding the field rules. */
#include "runtime/sse.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/buffer.h"
#include "runtime/error.h"

struct ops_sse_parser {
  ops_sse_event_fn on_event;
  void *ud;
  struct ops_buffer line;
  struct ops_buffer data;
  struct ops_buffer type;
  struct ops_buffer last_id;
  long retry_ms;
  bool after_cr;   /* the previous byte ended a line with CR: a following LF belongs to it */
  bool started;    /* past a leading byte order mark, or sure there is none */
  size_t bom_seen; /* bytes of a leading byte order mark seen so far (it may come in pieces) */
};

struct ops_sse_parser *ops_sse_parser_new(ops_sse_event_fn on_event, void *ud)
{
  struct ops_sse_parser *parser = calloc(1, sizeof(*parser));
  if (!parser)
    return NULL;
  parser->on_event = on_event;
  parser->ud = ud;
  parser->retry_ms = -1;
  if (!ops_buffer_set(&parser->last_id, "", 0)) {
    free(parser);
    return NULL;
  }
  return parser;
}

void ops_sse_parser_free(struct ops_sse_parser *parser)
{
  if (!parser)
    return;
  ops_buffer_free(&parser->line);
  ops_buffer_free(&parser->data);
  ops_buffer_free(&parser->type);
  ops_buffer_free(&parser->last_id);
  free(parser);
}

static bool s_all_digits(const char *text, size_t len)
{
  for (size_t i = 0; i < len; i++)
    if (text[i] < '0' || text[i] > '9')
      return false;
  return len > 0;
}

/* A retry field's digits as milliseconds, at most OPS_SSE_MAX_RETRY_MS however many there are. */
static long s_retry_ms(const char *digits, size_t len)
{
  long ms = 0;
  for (size_t i = 0; i < len && ms < OPS_SSE_MAX_RETRY_MS; i++)
    ms = ms * 10 + (digits[i] - '0');
  return ms < OPS_SSE_MAX_RETRY_MS ? ms : OPS_SSE_MAX_RETRY_MS;
}

/* A blank line: dispatch what was gathered, if there is data, then start a new event. */
static int s_dispatch(struct ops_sse_parser *parser)
{
  bool go_on = true;
  if (parser->data.len > 0) {
    size_t len = parser->data.len - 1; /* the data buffer always ends in "\n" */
    parser->data.data[len] = '\0';
    struct ops_sse_event event = {
        .type = parser->type.len ? parser->type.data : "message",
        .data = parser->data.data,
        .data_len = len,
        .last_event_id = parser->last_id.data,
    };
    go_on = parser->on_event(parser->ud, &event);
  }
  parser->data.len = 0;
  parser->type.len = 0;
  return go_on ? OPS_OK : OPS_ERR_CANCELLED;
}

/* An id that can go back to the server as Last-Event-ID (sse.h says why others are ignored). */
static bool s_id_kept(const char *value, size_t len)
{
  if (len > OPS_SSE_MAX_ID_LEN)
    return false;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)value[i] < 0x21 || (unsigned char)value[i] > 0x7e)
      return false;
  return true;
}

static int s_field(struct ops_sse_parser *parser, const char *name, size_t name_len,
                   const char *value, size_t value_len)
{
#define IS(field) (name_len == sizeof(field) - 1 && memcmp(name, field, name_len) == 0)
  bool ok = true;
  if (IS("data"))
    ok = ops_buffer_append(&parser->data, value, value_len) &&
         ops_buffer_append(&parser->data, "\n", 1);
  else if (IS("event"))
    ok = ops_buffer_set(&parser->type, value, value_len);
  else if (IS("id") && s_id_kept(value, value_len))
    ok = ops_buffer_set(&parser->last_id, value, value_len);
  else if (IS("retry") && s_all_digits(value, value_len))
    parser->retry_ms = s_retry_ms(value, value_len);
#undef IS
  return ok ? OPS_OK : OPS_ERR_NOMEM;
}

static int s_line(struct ops_sse_parser *parser, const char *line, size_t len)
{
  if (len == 0)
    return s_dispatch(parser);
  if (line[0] == ':')
    return OPS_OK; /* a comment */
  const char *colon = memchr(line, ':', len);
  if (!colon)
    return s_field(parser, line, len, "", 0);
  const char *value = colon + 1;
  if (value < line + len && *value == ' ')
    value++;
  return s_field(parser, line, (size_t)(colon - line), value, (size_t)(line + len - value));
}

/* Skips one leading byte order mark, even one split across feeds; bytes that turn out not to
 * be one are kept as the start of the first line. */
static bool s_skip_bom(struct ops_sse_parser *parser, const char **data, size_t *len)
{
  static const char bom[] = "\xEF\xBB\xBF";
  while (!parser->started && *len > 0) {
    if (**data != bom[parser->bom_seen]) {
      parser->started = true;
      return ops_buffer_append(&parser->line, bom, parser->bom_seen);
    }
    ++*data;
    --*len;
    parser->started = ++parser->bom_seen == 3;
  }
  return true;
}

int ops_sse_feed(struct ops_sse_parser *parser, const char *data, size_t len)
{
  if (!parser->started && !s_skip_bom(parser, &data, &len))
    return OPS_ERR_NOMEM;
  for (size_t i = 0; i < len; i++) {
    char c = data[i];
    if (c == '\n' && parser->after_cr) {
      parser->after_cr = false;
      continue;
    }
    parser->after_cr = c == '\r';
    if (c != '\n' && c != '\r') {
      size_t run = 1; /* take the whole run of ordinary bytes at once */
      while (i + run < len && data[i + run] != '\n' && data[i + run] != '\r')
        run++;
      if (!ops_buffer_append(&parser->line, data + i, run))
        return OPS_ERR_NOMEM;
      i += run - 1;
      continue;
    }
    int rc = s_line(parser, parser->line.data ? parser->line.data : "", parser->line.len);
    parser->line.len = 0;
    if (rc != OPS_OK)
      return rc;
  }
  return OPS_OK;
}

const char *ops_sse_last_event_id(const struct ops_sse_parser *parser)
{
  return parser->last_id.data;
}

long ops_sse_retry_ms(const struct ops_sse_parser *parser)
{
  return parser->retry_ms;
}
