/* fuzz_ini.c: runtime/ini.h's parser on arbitrary text, read as a config file and as a
 * credentials file. A parse either fails with a message naming "fuzz:LINE" or gives sections
 * that ops_ini_find finds again by kind and name; every property named on a line of the text is
 * looked up (and as the parent of sub-properties) in every section, reading the whole value. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ini.h"

#define MAX_KEYS 32

/* The text before '=' of each line that has one, trimmed: the keys worth asking for. */
static size_t s_keys(const char *text, size_t len, char keys[MAX_KEYS][64])
{
  size_t count = 0;
  for (size_t at = 0; at < len && count < MAX_KEYS;) {
    const char *line = text + at, *end = memchr(line, '\n', len - at);
    size_t line_len = end ? (size_t)(end - line) : len - at;
    const char *eq = memchr(line, '=', line_len);
    if (eq) {
      const char *a = line, *b = eq;
      while (a < b && isspace((unsigned char)*a))
        a++;
      while (b > a && isspace((unsigned char)b[-1]))
        b--;
      size_t n = (size_t)(b - a) < 63 ? (size_t)(b - a) : 63;
      memcpy(keys[count], a, n);
      keys[count++][n] = '\0';
    }
    at += line_len + 1;
  }
  return count;
}

static void s_check(const struct ops_ini *ini, char keys[MAX_KEYS][64], size_t key_count)
{
  if (!ops_ini_found(ini) || strcmp(ops_ini_path(ini), "fuzz") != 0)
    abort();
  for (size_t i = 0; i < ops_ini_section_count(ini); i++) {
    const struct ops_ini_section *section = ops_ini_section_at(ini, i);
    const char *name = ops_ini_section_name(section);
    enum ops_ini_section_kind kind = ops_ini_section_kind(section);
    const struct ops_ini_section *found = ops_ini_find(ini, kind, name);
    if (!found || strcmp(ops_ini_section_name(found), name) != 0 ||
        ops_ini_section_kind(found) != kind)
      abort();
    for (size_t k = 0; k < key_count; k++) {
      int line = 0;
      const char *value = ops_ini_get(section, keys[k], &line);
      if (value && (strlen(value) > (size_t)1 << 24 || line < 1))
        abort();
      for (size_t s = 0; s < key_count && s < 4; s++) {
        const char *sub = ops_ini_get_sub(section, keys[k], keys[s]);
        if (sub && strlen(sub) > (size_t)1 << 24)
          abort();
      }
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  static char keys[MAX_KEYS][64];
  size_t key_count = s_keys(text, size, keys);
  static const enum ops_ini_file files[] = {OPS_INI_CONFIG, OPS_INI_CREDENTIALS};
  for (size_t f = 0; f < 2; f++) {
    struct ops_ini *ini = NULL;
    struct ops_error err = {0};
    int rc = ops_ini_parse(&ini, text, size, "fuzz", files[f], &err);
    if (rc == OPS_OK) {
      if (!ini)
        abort();
      s_check(ini, keys, key_count);
    } else if (ini || rc != err.kind || strncmp(err.message, "fuzz", 4) != 0) {
      abort();
    }
    ops_ini_free(ini);
  }
  return 0;
}
