/* log.h: the process's log on stderr, as text or one JSON object a line, and the sticky
 * status line (sweep progress) that log lines are printed above. Uses jansson for JSON. */
#ifndef OPS_LOG_H
#define OPS_LOG_H

#include <stdbool.h>
#include <stdio.h>

/* In increasing verbosity. NOTICE is for the few lines a run always shows (a sweep's summary). */
enum ops_log_level {
  OPS_LOG_ERROR,
  OPS_LOG_WARN,
  OPS_LOG_NOTICE,
  OPS_LOG_INFO,
  OPS_LOG_DEBUG,
  OPS_LOG_TRACE,
};

enum ops_log_format { OPS_LOG_TEXT, OPS_LOG_JSON };

/* Shows levels up to `threshold` in `format` on `out` (borrowed; stderr when NULL). */
void ops_log_configure(enum ops_log_level threshold, enum ops_log_format format, FILE *out);

bool ops_log_enabled(enum ops_log_level level);

/* Writes one line: time, level, account (may be NULL or "") and message. A NOTICE in text
 * format is the bare message, as a summary a person reads. Control characters (in text) and
 * bytes that are not UTF-8 are escaped as \n, \t, \xNN: the line stays one line. */
void ops_log_write(enum ops_log_level level, const char *account, const char *message);

/* Writes an error no code caught (a script's, a command's, a REPL entry's): in text, `prefix` and
 * `message` on one line, then the lines of `traceback` (luaL_traceback's text, whose first line,
 * the message, is not repeated; NULL when none) with their control characters but newlines and
 * tabs escaped; in json, one object with level "error", message and traceback. Unlike
 * ops_log_write, whatever the verbosity. */
void ops_log_error_report(const char *prefix, const char *message, const char *traceback);

/* Formats and writes, as ops_log_write. */
void ops_log(enum ops_log_level level, const char *account, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets the status line kept at the bottom of a terminal, redrawn after every log line;
 * NULL clears it. Only for terminals: callers check isatty themselves. */
void ops_log_status(const char *line);

/* Parses "error", "warn", ... as used by log.* names; returns -1 when unknown. */
int ops_log_level_from_name(const char *name);

#endif
