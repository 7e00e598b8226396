/* test_sse.c: the event-stream parser against the WHATWG rules and MCP's uses of them: priming
 * events, comments, multi-line data, the three line endings, retry, and bytes in any pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "runtime/error.h"
#include "runtime/sse.h"

struct seen {
  char log[2048]; /* "type|data|id;" per event */
  int events;
  int stop_after;
};

static bool on_event(void *ud, const struct ops_sse_event *event)
{
  struct seen *seen = ud;
  size_t used = strlen(seen->log);
  snprintf(seen->log + used, sizeof(seen->log) - used, "%s|%.*s|%s;", event->type,
           (int)event->data_len, event->data, event->last_event_id);
  seen->events++;
  return seen->stop_after == 0 || seen->events < seen->stop_after;
}

/* Feeds `stream` in pieces of `piece` bytes (0: all at once) and returns the log. */
static const char *parse(const char *stream, size_t piece, struct seen *seen)
{
  struct ops_sse_parser *parser = ops_sse_parser_new(on_event, seen);
  size_t len = strlen(stream);
  size_t step = piece ? piece : len;
  for (size_t at = 0; at < len; at += step)
    if (ops_sse_feed(parser, stream + at, at + step > len ? len - at : step) != OPS_OK)
      break;
  ops_sse_parser_free(parser);
  return seen->log;
}

static void mcp_stream_with_priming_event_comment_and_notification(void **state)
{
  (void)state;
  const char *stream = "id: 1\ndata:\n\n"
                       ": keep-alive\n\n"
                       "event: message\nid: 2\n"
                       "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n"
                       "id: 3\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n\n";
  for (size_t piece = 0; piece <= 7; piece++) {
    struct seen seen = {0};
    assert_string_equal(
        parse(stream, piece, &seen),
        "message||1;" /* the priming event: empty data, dispatched (the client skips it) */
        "message|{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}|2;"
        "message|{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}|3;");
  }
}

static void data_lines_join_with_newlines_and_line_endings_all_count(void **state)
{
  (void)state;
  struct seen seen = {0};
  assert_string_equal(parse("data: a\r\ndata:b\rdata:  c\n\r\n", 0, &seen), "message|a\nb\n c|;");
  struct seen split = {0};
  assert_string_equal(parse("data: a\r\ndata:b\rdata:  c\n\r\n", 1, &split), "message|a\nb\n c|;");
}

static void event_types_ids_and_retry(void **state)
{
  (void)state;
  struct seen seen = {0};
  struct ops_sse_parser *parser = ops_sse_parser_new(on_event, &seen);
  const char *stream = "retry: 1500\nevent: ping\ndata: x\n\nretry: soon\ndata: y\nid: 9\n\n";
  assert_int_equal(ops_sse_feed(parser, stream, strlen(stream)), OPS_OK);
  assert_string_equal(seen.log, "ping|x|;message|y|9;");
  assert_int_equal(ops_sse_retry_ms(parser), 1500); /* "soon" is not a number: ignored */
  assert_string_equal(ops_sse_last_event_id(parser), "9");
  ops_sse_parser_free(parser);
}

/* A server's retry: of 999999999 ms (11 days) held a stream's reader that long (issue 14). */
static void a_retry_longer_than_the_cap_is_capped(void **state)
{
  (void)state;
  struct seen seen = {0};
  struct ops_sse_parser *parser = ops_sse_parser_new(on_event, &seen);
  const struct {
    const char *line;
    long ms;
  } cases[] = {{"retry: 999999999\n", 30000},
               {"retry: 99999999999999999999999\n", 30000},
               {"retry: 30001\n", 30000},
               {"retry: 29999\n", 29999},
               {"retry: 0\n", 0}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    assert_int_equal(ops_sse_feed(parser, cases[i].line, strlen(cases[i].line)), OPS_OK);
    assert_int_equal(ops_sse_retry_ms(parser), cases[i].ms);
  }
  ops_sse_parser_free(parser);
}

static void an_id_without_data_is_remembered_but_not_dispatched(void **state)
{
  (void)state;
  struct seen seen = {0};
  struct ops_sse_parser *parser = ops_sse_parser_new(on_event, &seen);
  assert_int_equal(ops_sse_feed(parser, "id: prime-42\n\n", 14), OPS_OK);
  assert_int_equal(seen.events, 0);
  assert_string_equal(ops_sse_last_event_id(parser), "prime-42");
  assert_int_equal(ops_sse_feed(parser, "data\n\n", 6), OPS_OK); /* a bare field name */
  assert_string_equal(seen.log, "message||prime-42;");
  ops_sse_parser_free(parser);
}

/* A 1 MiB id went back as a 1 MiB Last-Event-ID header, which libcurl refused as "Out of
 * memory" (issue 14): past OPS_SSE_MAX_ID_LEN an id is ignored, the last one that fit stays. */
static void an_id_longer_than_the_cap_is_ignored(void **state)
{
  (void)state;
  static char stream[OPS_SSE_MAX_ID_LEN + 64];
  int n = snprintf(stream, sizeof(stream), "id: first\ndata: a\n\nid: ");
  memset(stream + n, 'x', OPS_SSE_MAX_ID_LEN + 1);
  snprintf(stream + n + OPS_SSE_MAX_ID_LEN + 1, sizeof(stream) - (size_t)n - OPS_SSE_MAX_ID_LEN - 1,
           "\ndata: b\n\n");
  struct seen seen = {0};
  assert_string_equal(parse(stream, 0, &seen), "message|a|first;message|b|first;");

  static char longest[OPS_SSE_MAX_ID_LEN + 32];
  n = snprintf(longest, sizeof(longest), "id: ");
  memset(longest + n, 'y', OPS_SSE_MAX_ID_LEN);
  snprintf(longest + n + OPS_SSE_MAX_ID_LEN, sizeof(longest) - (size_t)n - OPS_SSE_MAX_ID_LEN,
           "\n\n");
  struct ops_sse_parser *parser = ops_sse_parser_new(on_event, &seen);
  assert_int_equal(ops_sse_feed(parser, longest, strlen(longest)), OPS_OK);
  assert_int_equal(strlen(ops_sse_last_event_id(parser)), OPS_SSE_MAX_ID_LEN); /* at the cap */
  ops_sse_parser_free(parser);
}

/* Control bytes in an id went back in Last-Event-ID (issue 14): an id that is not visible ASCII
 * is ignored like one past the cap. */
static void an_id_that_is_not_visible_ascii_is_ignored(void **state)
{
  (void)state;
  const char *ids[] = {"bad\x1b[31mid", "a\x01b", "a b", "tab\there", "caf\xc3\xa9", "del\x7f"};
  for (size_t i = 0; i < sizeof(ids) / sizeof(*ids); i++) {
    char stream[128];
    snprintf(stream, sizeof(stream), "id: kept-1\ndata: a\n\nid: %s\ndata: b\n\n", ids[i]);
    struct seen seen = {0};
    assert_string_equal(parse(stream, 0, &seen), "message|a|kept-1;message|b|kept-1;");
  }
  struct seen seen = {0};
  assert_string_equal(parse("id: !~AZaz09-_.:/\ndata: a\n\n", 0, &seen),
                      "message|a|!~AZaz09-_.:/;");
}

static void an_unfinished_event_is_not_dispatched(void **state)
{
  (void)state;
  struct seen seen = {0};
  assert_string_equal(parse("data: complete\n\ndata: cut off", 0, &seen), "message|complete|;");
}

static void a_byte_order_mark_at_the_start_is_skipped(void **state)
{
  (void)state;
  struct seen seen = {0};
  assert_string_equal(parse("\xEF\xBB\xBF"
                            "data: x\n\n",
                            0, &seen),
                      "message|x|;");
}

/* Found by tests/fuzz/fuzz_sse.c: a mark split across reads was kept as part of the first
 * field's name, and the first event was lost. Bytes that only start like a mark are kept. */
static void a_byte_order_mark_in_pieces_is_skipped_too(void **state)
{
  (void)state;
  for (size_t piece = 1; piece <= 3; piece++) {
    struct seen seen = {0}, almost = {0};
    assert_string_equal(parse("\xEF\xBB\xBF"
                              "data: x\n\n",
                              piece, &seen),
                        "message|x|;");
    assert_string_equal(parse("\xEF\xBB"
                              "data: x\n\ndata: y\n\n",
                              piece, &almost),
                        "message|y|;");
  }
}

static void the_callback_can_stop_the_parser(void **state)
{
  (void)state;
  struct seen seen = {.stop_after = 1};
  struct ops_sse_parser *parser = ops_sse_parser_new(on_event, &seen);
  const char *stream = "data: 1\n\ndata: 2\n\n";
  assert_int_equal(ops_sse_feed(parser, stream, strlen(stream)), OPS_ERR_CANCELLED);
  assert_string_equal(seen.log, "message|1|;");
  ops_sse_parser_free(parser);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(mcp_stream_with_priming_event_comment_and_notification),
      cmocka_unit_test(data_lines_join_with_newlines_and_line_endings_all_count),
      cmocka_unit_test(event_types_ids_and_retry),
      cmocka_unit_test(a_retry_longer_than_the_cap_is_capped),
      cmocka_unit_test(an_id_without_data_is_remembered_but_not_dispatched),
      cmocka_unit_test(an_id_longer_than_the_cap_is_ignored),
      cmocka_unit_test(an_id_that_is_not_visible_ascii_is_ignored),
      cmocka_unit_test(an_unfinished_event_is_not_dispatched),
      cmocka_unit_test(a_byte_order_mark_at_the_start_is_skipped),
      cmocka_unit_test(a_byte_order_mark_in_pieces_is_skipped_too),
      cmocka_unit_test(the_callback_can_stop_the_parser),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
