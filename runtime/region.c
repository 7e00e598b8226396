/* region.c: the region name shape of region.h, and the message that names where a bad one came
 * from. */
#include "runtime/region.h"

#include <stdio.h>
#include <string.h>

#define QUOTED_MAX 40 /* characters of a bad name shown in a message */

static bool s_is_lower(char ch)
{
  return ch >= 'a' && ch <= 'z';
}

static bool s_is_digit(char ch)
{
  return ch >= '0' && ch <= '9';
}

/* The length of the run of characters from `p` that `is_class` accepts. */
static size_t s_run(const char *p, bool (*is_class)(char))
{
  size_t n = 0;
  while (is_class(p[n]))
    n++;
  return n;
}

bool ops_region_is_name(const char *name)
{
  if (!name || strlen(name) > OPS_REGION_MAX_LENGTH)
    return false;
  size_t first = s_run(name, s_is_lower);
  if (first < 2)
    return false;
  size_t words = 0;
  for (const char *p = name + first; *p == '-';) {
    p++;
    size_t digits = s_run(p, s_is_digit);
    if (digits > 0)
      return p[digits] == '\0' && words > 0;
    size_t letters = s_run(p, s_is_lower);
    if (letters == 0)
      return false;
    p += letters;
    words++;
  }
  return false;
}

/* `name` for a one-line message: at most QUOTED_MAX characters, bytes that are not printable
 * ASCII (and ', \) as \xNN, "..." when cut. */
static void s_quote(char *out, size_t size, const char *name)
{
  size_t used = 0;
  out[0] = '\0';
  for (size_t i = 0; name[i] && used + 8 < size; i++) {
    unsigned char ch = (unsigned char)name[i];
    if (i == QUOTED_MAX) {
      snprintf(out + used, size - used, "...");
      return;
    }
    bool plain = ch >= 0x20 && ch < 0x7f && ch != '\'' && ch != '\\';
    used += (size_t)snprintf(out + used, size - used, plain ? "%c" : "\\x%02x", ch);
  }
}

int ops_region_check(const char *name, const char *source, struct ops_error *err)
{
  if (ops_region_is_name(name))
    return OPS_OK;
  char quoted[QUOTED_MAX * 4 + 8];
  s_quote(quoted, sizeof(quoted), name ? name : "");
  return ops_error_set(err, OPS_ERR_CONFIG,
                       "region '%s' from %s is not a region name (such as us-east-1)", quoted,
                       source);
}
