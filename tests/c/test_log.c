/* test_log.c: the log of runtime/log.h written to a temporary file: whatever a message holds
 * (newlines, escape sequences, C1 controls, bytes that are not UTF-8; as a server may send
 * them), a text line stays one line of plain characters and a JSON line one object with the
 * message in it, escaped rather than dropped; the error report keeps a traceback's lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "runtime/log.h"

/* Server text that, written as it is, forges a log line, recolours and clears the terminal. */
static const char HOSTILE[] = "denied\n2099-01-01T00:00:00.000Z ERROR [999999999999] forged\r"
                              "\x1b[2K\x1b[31mred\x1b[0m\ttab \x7f \xc2\x9b bad \xff\xfe end";

static char s_written[8192];

/* What `write` logs in `format`, all of it. */
static const char *logged(enum ops_log_format format, void (*write)(void))
{
  FILE *file = tmpfile();
  assert_non_null(file);
  ops_log_configure(OPS_LOG_DEBUG, format, file);
  write();
  rewind(file);
  size_t n = fread(s_written, 1, sizeof(s_written) - 1, file);
  s_written[n] = '\0';
  fclose(file);
  ops_log_configure(OPS_LOG_WARN, OPS_LOG_TEXT, NULL);
  return s_written;
}

static int lines_in(const char *text)
{
  int lines = 0;
  for (; *text; text++)
    lines += *text == '\n';
  return lines;
}

static void write_hostile(void)
{
  ops_log_write(OPS_LOG_ERROR, "222222222222\x1b[2J", HOSTILE);
}

static void a_text_line_stays_one_line_of_plain_characters(void **state)
{
  (void)state;
  const char *text = logged(OPS_LOG_TEXT, write_hostile);
  assert_int_equal(lines_in(text), 1);
  assert_non_null(strstr(text, " ERROR [222222222222\\x1b[2J] denied\\n2099-01-01T00:00:00.000Z "
                               "ERROR [999999999999] forged\\r\\x1b[2K\\x1b[31mred\\x1b[0m\\ttab "
                               "\\x7f \\xc2\\x9b bad \\xff\\xfe end\n"));
  for (const unsigned char *c = (const unsigned char *)text; *c; c++)
    assert_true(*c == '\n' || (*c >= 0x20 && *c < 0x7f));
}

static void write_utf8(void)
{
  ops_log_write(OPS_LOG_WARN, NULL, "héllo ✓ 😀 U+00A0:\xc2\xa0.");
}

static void write_not_utf8(void)
{
  /* an overlong '/', a surrogate, past U+10FFFF, a lone continuation, a cut sequence */
  ops_log_write(OPS_LOG_WARN, NULL, "\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \x80 \xe2\x9c");
}

static void utf8_is_kept_and_what_is_not_utf8_is_escaped_byte_by_byte(void **state)
{
  (void)state;
  assert_non_null(strstr(logged(OPS_LOG_TEXT, write_utf8), " WARN  héllo ✓ 😀 U+00A0:\xc2\xa0.\n"));
  assert_non_null(
      strstr(logged(OPS_LOG_TEXT, write_not_utf8),
             " WARN  \\xc0\\xaf \\xed\\xa0\\x80 \\xf4\\x90\\x80\\x80 \\x80 \\xe2\\x9c\n"));
}

/* Parses a JSON log line and returns the string field `name` (valid until the next call). */
static const char *json_field(const char *line, const char *name)
{
  static char value[4096];
  json_error_t error;
  json_t *object = json_loads(line, 0, &error);
  assert_non_null(object);
  const char *text = json_string_value(json_object_get(object, name));
  snprintf(value, sizeof(value), "%s", text ? text : "(none)");
  json_decref(object);
  return value;
}

/* A message that was not UTF-8 replaced the whole line with "log line not encodable". */
static void a_json_line_keeps_the_message_escaped_not_dropped(void **state)
{
  (void)state;
  const char *text = logged(OPS_LOG_JSON, write_hostile);
  assert_int_equal(lines_in(text), 1);
  assert_string_equal(json_field(text, "message"),
                      "denied\n2099-01-01T00:00:00.000Z ERROR [999999999999] forged\r"
                      "\x1b[2K\x1b[31mred\x1b[0m\ttab \x7f \xc2\x9b bad \\xff\\xfe end");
  assert_string_equal(json_field(text, "account"), "222222222222\x1b[2J");
  assert_string_equal(json_field(text, "level"), "error");
  assert_null(strchr(text, '\x1b')); /* jansson escapes the controls as \u001b */
}

static void write_report(void)
{
  ops_log_error_report("opsrun: ", "x: denied\n\x1b[31mforged",
                       "x: denied\n\x1b[31mforged\nstack traceback:\n\t[C]: in ?\x1b[0m");
}

static void an_error_report_escapes_the_message_and_keeps_the_traceback_lines(void **state)
{
  (void)state;
  assert_string_equal(
      logged(OPS_LOG_TEXT, write_report),
      "opsrun: x: denied\\n\\x1b[31mforged\nstack traceback:\n\t[C]: in ?\\x1b[0m\n");
  const char *text = logged(OPS_LOG_JSON, write_report);
  assert_int_equal(lines_in(text), 1);
  assert_string_equal(json_field(text, "message"), "x: denied\n\x1b[31mforged");
  assert_string_equal(json_field(text, "traceback"), "stack traceback:\n\t[C]: in ?\x1b[0m");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_text_line_stays_one_line_of_plain_characters),
      cmocka_unit_test(utf8_is_kept_and_what_is_not_utf8_is_escaped_byte_by_byte),
      cmocka_unit_test(a_json_line_keeps_the_message_escaped_not_dropped),
      cmocka_unit_test(an_error_report_escapes_the_message_and_keeps_the_traceback_lines),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
