/* log.c: log lines on stderr (text or JSON via jansson) below a sticky status line. What goes in
 * them is escaped, never dropped: text shows control characters as \n, \t, \xNN (so no message,
 * server text included, starts a line of its own or drives the terminal), and bytes that are
 * not UTF-8 as \xNN in both formats (JSON strings must be UTF-8). */
#include "runtime/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

static const char *const s_level_names[] = {"error", "warn", "notice", "info", "debug", "trace"};
static const char *const s_level_labels[] = {"ERROR", "WARN", "NOTICE", "INFO", "DEBUG", "TRACE"};

static struct {
  enum ops_log_level threshold;
  enum ops_log_format format;
  FILE *out;
  char status[512];
} s_log = {OPS_LOG_WARN, OPS_LOG_TEXT, NULL, ""};

static FILE *s_out(void)
{
  return s_log.out ? s_log.out : stderr;
}

void ops_log_configure(enum ops_log_level threshold, enum ops_log_format format, FILE *out)
{
  s_log.threshold = threshold;
  s_log.format = format;
  s_log.out = out;
}

bool ops_log_enabled(enum ops_log_level level)
{
  return level <= s_log.threshold;
}

int ops_log_level_from_name(const char *name)
{
  for (size_t i = 0; i < sizeof(s_level_names) / sizeof(*s_level_names); i++)
    if (strcasecmp(name, s_level_names[i]) == 0)
      return (int)i;
  return -1;
}

/* ------------------------------------------------------------------ escaping */

enum s_escape {
  ESCAPE_NOT_UTF8,   /* bytes that are not UTF-8 only (JSON, whose encoder escapes the rest) */
  ESCAPE_CONTROLS,   /* and every control character (text: one line of plain characters) */
  ESCAPE_KEEP_LINES, /* and every control character but newline and tab (a traceback) */
};

/* The length of the UTF-8 sequence at `s` (RFC 3629: no overlong forms, no surrogates, nothing
 * past U+10FFFF), or 0 when the byte at `s` does not start one. */
static size_t s_utf8_length(const unsigned char *s)
{
  unsigned char lowest = 0x80, highest = 0xbf; /* of the second byte */
  size_t len;
  if (s[0] < 0x80)
    return 1;
  if (s[0] >= 0xc2 && s[0] <= 0xdf)
    len = 2;
  else if (s[0] >= 0xe0 && s[0] <= 0xef)
    len = 3, lowest = s[0] == 0xe0 ? 0xa0 : 0x80, highest = s[0] == 0xed ? 0x9f : 0xbf;
  else if (s[0] >= 0xf0 && s[0] <= 0xf4)
    len = 4, lowest = s[0] == 0xf0 ? 0x90 : 0x80, highest = s[0] == 0xf4 ? 0x8f : 0xbf;
  else
    return 0;
  if (s[1] < lowest || s[1] > highest)
    return 0; /* a NUL ends the string here too */
  for (size_t i = 2; i < len; i++)
    if (s[i] < 0x80 || s[i] > 0xbf)
      return 0;
  return len;
}

/* C0 controls, DEL, and C1 controls (U+0080 to U+009F, which terminals may obey too). */
static bool s_is_control(const unsigned char *s, size_t len)
{
  return (len == 1 && (s[0] < 0x20 || s[0] == 0x7f)) || (len == 2 && s[0] == 0xc2 && s[1] < 0xa0);
}

static char *s_put_hex(char *out, const unsigned char *s, size_t len)
{
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    *out++ = '\\';
    *out++ = 'x';
    *out++ = digits[s[i] >> 4];
    *out++ = digits[s[i] & 15];
  }
  return out;
}

/* `text` escaped as `how` says, in a new string (NULL when out of memory). */
static char *s_escaped(const char *text, enum s_escape how)
{
  char *escaped = malloc(4 * strlen(text) + 1), *out = escaped; /* \xNN: 4 bytes for one */
  if (!escaped)
    return NULL;
  for (const unsigned char *s = (const unsigned char *)text; *s;) {
    size_t len = s_utf8_length(s);
    if (len == 0) {
      out = s_put_hex(out, s++, 1);
      continue;
    }
    bool line = s[0] == '\n' || s[0] == '\t';
    if (how == ESCAPE_NOT_UTF8 || !s_is_control(s, len) || (how == ESCAPE_KEEP_LINES && line)) {
      memcpy(out, s, len);
      out += len;
    } else if (line || s[0] == '\r') {
      *out++ = '\\';
      *out++ = s[0] == '\n' ? 'n' : s[0] == '\t' ? 't' : 'r';
    } else {
      out = s_put_hex(out, s, len);
    }
    s += len;
  }
  *out = '\0';
  return escaped;
}

/* ------------------------------------------------------------------ lines */

static void s_timestamp(char *buf, size_t len)
{
  struct timeval now;
  struct tm tm;
  gettimeofday(&now, NULL);
  gmtime_r(&now.tv_sec, &tm);
  size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, len - n, ".%03ldZ", (long)(now.tv_usec / 1000));
}

static void s_write_text(FILE *out, enum ops_log_level level, const char *account, const char *msg)
{
  if (!account || !msg) {
    fputs("(log line not written: out of memory)\n", out);
    return;
  }
  if (level == OPS_LOG_NOTICE) {
    fprintf(out, "%s\n", msg);
    return;
  }
  char when[40];
  s_timestamp(when, sizeof(when));
  if (account && *account)
    fprintf(out, "%s %-5s [%s] %s\n", when, s_level_labels[level], account, msg);
  else
    fprintf(out, "%s %-5s %s\n", when, s_level_labels[level], msg);
}

static void s_write_json(FILE *out, enum ops_log_level level, const char *account, const char *msg)
{
  char when[40];
  s_timestamp(when, sizeof(when));
  json_t *line =
      json_pack("{s:s, s:s, s:s}", "time", when, "level", s_level_names[level], "message", msg);
  if (line && account && *account)
    json_object_set_new(line, "account", json_string(account));
  char *text = line ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  fprintf(out, "%s\n",
          text ? text
               : "{\"level\":\"error\",\"message\":\"log line not written: out of memory\"}");
  free(text);
  json_decref(line);
}

static void s_draw_status(FILE *out)
{
  if (s_log.status[0])
    fprintf(out, "%s", s_log.status);
}

static void s_erase_status(FILE *out)
{
  if (s_log.status[0])
    fputs("\r\033[K", out);
}

void ops_log_write(enum ops_log_level level, const char *account, const char *message)
{
  if (!ops_log_enabled(level))
    return;
  FILE *out = s_out();
  bool json = s_log.format == OPS_LOG_JSON;
  char *shown_account = s_escaped(account ? account : "", json ? ESCAPE_NOT_UTF8 : ESCAPE_CONTROLS);
  char *shown = s_escaped(message, json ? ESCAPE_NOT_UTF8 : ESCAPE_CONTROLS);
  s_erase_status(out);
  if (json)
    s_write_json(out, level, shown_account, shown);
  else
    s_write_text(out, level, shown_account, shown);
  s_draw_status(out);
  fflush(out);
  free(shown_account);
  free(shown);
}

void ops_log_error_report(const char *prefix, const char *message, const char *traceback)
{
  size_t len = strlen(message);
  if (traceback && strncmp(traceback, message, len) == 0 && traceback[len] == '\n')
    traceback += len + 1; /* luaL_traceback's text begins with the message */
  FILE *out = s_out();
  bool json = s_log.format == OPS_LOG_JSON;
  char *shown = s_escaped(message, json ? ESCAPE_NOT_UTF8 : ESCAPE_CONTROLS);
  char *trace = traceback ? s_escaped(traceback, json ? ESCAPE_NOT_UTF8 : ESCAPE_KEEP_LINES) : NULL;
  s_erase_status(out);
  if (json) {
    char when[40];
    s_timestamp(when, sizeof(when));
    json_t *line =
        shown ? json_pack("{s:s, s:s, s:s}", "time", when, "level", "error", "message", shown)
              : NULL;
    if (line && trace)
      json_object_set_new(line, "traceback", json_string(trace));
    char *text = line ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    fprintf(out, "%s\n", text ? text : "{\"level\":\"error\",\"message\":\"(out of memory)\"}");
    free(text);
    json_decref(line);
  } else {
    fprintf(out, "%s%s\n", prefix, shown ? shown : "(out of memory)");
    if (trace)
      fprintf(out, "%s\n", trace);
  }
  fflush(out);
  free(shown);
  free(trace);
}

void ops_log(enum ops_log_level level, const char *account, const char *fmt, ...)
{
  if (!ops_log_enabled(level))
    return;
  char message[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof(message), fmt, ap);
  va_end(ap);
  ops_log_write(level, account, message);
}

void ops_log_status(const char *line)
{
  FILE *out = s_out();
  s_erase_status(out);
  snprintf(s_log.status, sizeof(s_log.status), "%s", line ? line : "");
  s_draw_status(out);
  fflush(out);
}
