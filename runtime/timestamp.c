/* timestamp.c: ISO 8601 timestamps to epoch seconds by civil-calendar arithmetic (days from
 * 1970-01-01 of a proleptic Gregorian date), and back with gmtime_r. */
#include "runtime/timestamp.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

/* Days from 1970-01-01 to y-m-d: the count of days in whole 400-year eras since 0000-03-01 plus
 * the day of the era, with March as the first month so the leap day is the last of a year. */
static int64_t s_days_from_civil(int64_t y, int64_t m, int64_t d)
{
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t year_of_era = y - era * 400;
  int64_t day_of_year = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

static int s_days_in_month(int64_t y, int64_t m)
{
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : days[m - 1];
}

/* Reads exactly `n` digits at *p into *out and advances. */
static bool s_digits(const char **p, int n, int64_t *out)
{
  int64_t v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)(*p)[i]))
      return false;
    v = v * 10 + ((*p)[i] - '0');
  }
  *p += n;
  *out = v;
  return true;
}

static bool s_expect(const char **p, char c)
{
  if (**p != c)
    return false;
  (*p)++;
  return true;
}

/* The zone suffix: Z, +HH:MM, +HHMM (or -), as seconds east of UTC. */
static bool s_zone(const char **p, int64_t *offset)
{
  char sign = **p;
  int64_t hours = 0, minutes = 0;
  if (sign == 'Z' || sign == 'z') {
    (*p)++;
    *offset = 0;
    return true;
  }
  if (sign != '+' && sign != '-')
    return false;
  (*p)++;
  if (!s_digits(p, 2, &hours))
    return false;
  if (**p == ':')
    (*p)++;
  if (!s_digits(p, 2, &minutes) || hours > 23 || minutes > 59)
    return false;
  *offset = (sign == '-' ? -1 : 1) * (hours * 3600 + minutes * 60);
  return true;
}

int ops_timestamp_parse(const char *text, int64_t *out, struct ops_error *err)
{
  const char *p = text;
  int64_t y, mo, d, h, mi, s, offset;
  while (isspace((unsigned char)*p))
    p++;
  bool ok = s_digits(&p, 4, &y) && s_expect(&p, '-') && s_digits(&p, 2, &mo) && s_expect(&p, '-') &&
            s_digits(&p, 2, &d);
  ok = ok && (*p == 'T' || *p == 't' || *p == ' ') && (p++, true);
  ok = ok && s_digits(&p, 2, &h) && s_expect(&p, ':') && s_digits(&p, 2, &mi) &&
       s_expect(&p, ':') && s_digits(&p, 2, &s);
  if (ok && *p == '.') {
    p++;
    ok = isdigit((unsigned char)*p);
    while (isdigit((unsigned char)*p))
      p++;
  }
  ok = ok && s_zone(&p, &offset);
  while (ok && isspace((unsigned char)*p))
    p++;
  ok = ok && *p == '\0' && mo >= 1 && mo <= 12 && d >= 1 && d <= s_days_in_month(y, mo) &&
       h <= 23 && mi <= 59 && s <= 60;
  if (!ok)
    return ops_error_set(err, OPS_ERR_CONFIG,
                         "'%.64s' is not an ISO 8601 timestamp such as 2026-11-24T06:00:00Z", text);
  *out = s_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset;
  return OPS_OK;
}

void ops_timestamp_format(int64_t epoch, char *buf, size_t size)
{
  time_t t = (time_t)epoch;
  struct tm tm;
  if (!gmtime_r(&t, &tm)) {
    snprintf(buf, size, "@%lld", (long long)epoch);
    return;
  }
  strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
