/* log.c: log lines on stderr (text or JSON via jansson) below a sticky status line. */
#include "runtime/log.h"

#include <jansson.h>
#include <stdarg.h>
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
  json_t *line = json_pack("{s:s, s:s, s:s}", "time", when, "level", s_level_names[level],
                           "message", msg);
  if (line && account && *account)
    json_object_set_new(line, "account", json_string(account));
  char *text = line ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  fprintf(out, "%s\n", text ? text : "{\"level\":\"error\",\"message\":\"log line not encodable\"}");
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
  s_erase_status(out);
  if (s_log.format == OPS_LOG_JSON)
    s_write_json(out, level, account, message);
  else
    s_write_text(out, level, account, message);
  s_draw_status(out);
  fflush(out);
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
