/* ini.c: a line-by-line parser for the AWS shared-file INI dialect (see runtime/ini.h), keeping
 * sections and properties in file order with the line that set each, for messages. */
#include "runtime/ini.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "runtime/file.h"

#define S_MAX_FILE_BYTES ((size_t)16 << 20) /* real ones hold kilobytes; /dev/zero never ends */
#define S_BLANK          " \t"

struct s_pair {
  char *key;
  char *value;
};

struct s_property {
  char *key; /* lower case */
  char *value;
  int line;
  bool opens_block; /* the key line had no value: indented lines are sub-properties */
  struct s_pair *subs;
  size_t sub_count;
};

struct ops_ini_section {
  enum ops_ini_section_kind kind;
  char *name;
  bool bare_default; /* config file `[default]`, which `[profile default]` overrides */
  struct s_property *properties;
  size_t count;
  size_t capacity;
};

struct ops_ini {
  char *path;
  bool found;
  struct ops_ini_section **sections;
  size_t count;
  size_t capacity;
};

/* Where the parser is: the section properties go to (NULL inside an ignored section or before
 * any), and the property indented lines continue (-1: none; -2: an ignored property). */
struct s_parser {
  struct ops_ini *ini;
  enum ops_ini_file file;
  int line;
  bool in_section;
  struct ops_ini_section *section;
  long property;
  struct ops_error *err;
};

/* --- freeing --- */

static void s_wipe_free(char *s)
{
  if (s) {
    OPENSSL_cleanse(s, strlen(s));
    free(s);
  }
}

static void s_property_clear(struct s_property *p)
{
  s_wipe_free(p->key);
  s_wipe_free(p->value);
  for (size_t i = 0; i < p->sub_count; i++) {
    s_wipe_free(p->subs[i].key);
    s_wipe_free(p->subs[i].value);
  }
  free(p->subs);
  memset(p, 0, sizeof(*p));
}

static void s_section_free(struct ops_ini_section *s)
{
  for (size_t i = 0; i < s->count; i++)
    s_property_clear(&s->properties[i]);
  free(s->properties);
  free(s->name);
  free(s);
}

void ops_ini_free(struct ops_ini *ini)
{
  if (!ini)
    return;
  for (size_t i = 0; i < ini->count; i++)
    s_section_free(ini->sections[i]);
  free(ini->sections);
  free(ini->path);
  free(ini);
}

/* --- small text helpers --- */

static bool s_is_blank(char c)
{
  return c == ' ' || c == '\t';
}

/* Trims spaces and tabs from both ends of [*start, *end). */
static void s_trim(const char **start, const char **end)
{
  while (*start < *end && s_is_blank(**start))
    (*start)++;
  while (*end > *start && s_is_blank((*end)[-1]))
    (*end)--;
}

static bool s_has_blank(const char *start, const char *end)
{
  for (const char *p = start; p < end; p++)
    if (s_is_blank(*p))
      return true;
  return false;
}

static char *s_lower_dup(const char *start, const char *end)
{
  char *s = strndup(start, (size_t)(end - start));
  for (char *p = s; p && *p; p++)
    *p = (char)tolower((unsigned char)*p);
  return s;
}

static int s_fail(struct s_parser *ps, const char *what)
{
  int rc = ops_error_set(ps->err, OPS_ERR_CONFIG, "%s:%d: %s", ps->ini->path, ps->line, what);
  ops_error_set_code(ps->err, "ConfigParseError");
  return rc;
}

static int s_nomem(struct s_parser *ps)
{
  return ops_error_set(ps->err, OPS_ERR_NOMEM, "out of memory parsing %s", ps->ini->path);
}

/* --- sections --- */

static struct ops_ini_section *s_section_lookup(const struct ops_ini *ini,
                                                enum ops_ini_section_kind kind, const char *name,
                                                bool bare_default)
{
  for (size_t i = 0; i < ini->count; i++) {
    struct ops_ini_section *s = ini->sections[i];
    if (s->kind == kind && s->bare_default == bare_default && strcmp(s->name, name) == 0)
      return s;
  }
  return NULL;
}

/* The section a header opens: an existing one of the same kind and name (repeats merge), or a
 * new one. */
static int s_section_open(struct s_parser *ps, enum ops_ini_section_kind kind, const char *start,
                          const char *end, bool bare_default)
{
  struct ops_ini *ini = ps->ini;
  char *name = strndup(start, (size_t)(end - start));
  if (!name)
    return s_nomem(ps);
  ps->section = s_section_lookup(ini, kind, name, bare_default);
  if (ps->section) {
    free(name);
    return OPS_OK;
  }
  if (ini->count == ini->capacity) {
    size_t capacity = ini->capacity ? ini->capacity * 2 : 8;
    struct ops_ini_section **grown = realloc(ini->sections, capacity * sizeof(*grown));
    if (!grown) {
      free(name);
      return s_nomem(ps);
    }
    ini->sections = grown;
    ini->capacity = capacity;
  }
  struct ops_ini_section *s = calloc(1, sizeof(*s));
  if (!s) {
    free(name);
    return s_nomem(ps);
  }
  s->kind = kind;
  s->name = name;
  s->bare_default = bare_default;
  ini->sections[ini->count++] = s;
  ps->section = s;
  return OPS_OK;
}

/* Splits "prefix NAME" (prefix followed by at least one blank) into NAME, or returns false. */
static bool s_prefixed(const char *start, const char *end, const char *prefix, const char **name)
{
  size_t n = strlen(prefix);
  if ((size_t)(end - start) <= n || strncmp(start, prefix, n) != 0 || !s_is_blank(start[n]))
    return false;
  *name = start + n;
  return true;
}

/* `[ ... ]` at column 0: picks the section the following properties go to. Sections this reader
 * does not use, and names with blanks, are skipped with their properties, as the SDKs do. */
static int s_section_line(struct s_parser *ps, const char *start, const char *end)
{
  const char *close = memchr(start, ']', (size_t)(end - start));
  if (!close)
    return s_fail(ps, "a section header must end with ']'");
  const char *rest = close + 1, *rest_end = end;
  s_trim(&rest, &rest_end);
  if (rest < rest_end && *rest != '#' && *rest != ';')
    return s_fail(ps, "unexpected text after the section header's ']' (only a # or ; comment "
                      "may follow it)");
  const char *inner = start + 1, *inner_end = close;
  s_trim(&inner, &inner_end);
  ps->in_section = true;
  ps->section = NULL;
  ps->property = -1;

  enum ops_ini_section_kind kind = OPS_INI_PROFILE;
  const char *name = inner;
  bool bare_default = false;
  if (ps->file == OPS_INI_CREDENTIALS) {
    const char *ignored;
    if (s_prefixed(inner, inner_end, "profile", &ignored))
      return OPS_OK; /* `[profile x]` means nothing in the credentials file */
  } else if ((size_t)(inner_end - inner) == 7 && strncmp(inner, "default", 7) == 0) {
    bare_default = true;
  } else if (s_prefixed(inner, inner_end, "profile", &name)) {
    kind = OPS_INI_PROFILE;
  } else if (s_prefixed(inner, inner_end, "sso-session", &name)) {
    kind = OPS_INI_SSO_SESSION;
  } else if (s_prefixed(inner, inner_end, "services", &name)) {
    kind = OPS_INI_SERVICES;
  } else {
    return OPS_OK; /* `[foo]` in the config file: not a profile */
  }
  s_trim(&name, &inner_end);
  if (name == inner_end || s_has_blank(name, inner_end))
    return OPS_OK;
  return s_section_open(ps, kind, name, inner_end, bare_default);
}

/* --- properties --- */

static struct s_property *s_property_slot(struct s_parser *ps, const char *key)
{
  struct ops_ini_section *s = ps->section;
  for (size_t i = 0; i < s->count; i++) {
    if (strcmp(s->properties[i].key, key) == 0) {
      s_property_clear(&s->properties[i]); /* a repeat: the last one wins */
      ps->property = (long)i;
      return &s->properties[i];
    }
  }
  if (s->count == s->capacity) {
    size_t capacity = s->capacity ? s->capacity * 2 : 8;
    struct s_property *grown = realloc(s->properties, capacity * sizeof(*grown));
    if (!grown)
      return NULL;
    s->properties = grown;
    s->capacity = capacity;
  }
  ps->property = (long)s->count;
  struct s_property *p = &s->properties[s->count++];
  memset(p, 0, sizeof(*p));
  return p;
}

/* The end of a property value without its inline comment: a # or ; after a blank. */
static const char *s_value_end(const char *start, const char *end)
{
  for (const char *p = start; p < end; p++)
    if ((*p == '#' || *p == ';') && p > start && s_is_blank(p[-1]))
      return p;
  return end;
}

static int s_property_line(struct s_parser *ps, const char *start, const char *end)
{
  if (!ps->in_section)
    return s_fail(ps, "a property must follow a section header such as [default] or "
                      "[profile NAME]");
  const char *eq = memchr(start, '=', (size_t)(end - start));
  if (!eq)
    return s_fail(ps, "expected 'name = value'");
  const char *key = start, *key_end = eq;
  s_trim(&key, &key_end);
  if (key == key_end)
    return s_fail(ps, "the property has no name before '='");
  if (!ps->section || s_has_blank(key, key_end)) {
    ps->property = -2; /* in an ignored section, or not a valid name: skipped */
    return OPS_OK;
  }
  const char *value = eq + 1, *value_end = s_value_end(eq + 1, end);
  s_trim(&value, &value_end);
  char *k = s_lower_dup(key, key_end);
  char *v = strndup(value, (size_t)(value_end - value));
  struct s_property *p = k && v ? s_property_slot(ps, k) : NULL;
  if (!p) {
    free(k);
    free(v);
    return s_nomem(ps);
  }
  p->key = k;
  p->value = v;
  p->line = ps->line;
  p->opens_block = value == value_end;
  return OPS_OK;
}

static bool s_append_line(char **value, const char *start, const char *end)
{
  size_t old = strlen(*value), add = (size_t)(end - start);
  char *grown = malloc(old + add + 2);
  if (!grown)
    return false;
  memcpy(grown, *value, old);
  grown[old] = '\n';
  memcpy(grown + old + 1, start, add);
  grown[old + add + 1] = '\0';
  s_wipe_free(*value);
  *value = grown;
  return true;
}

static int s_sub_property(struct s_parser *ps, struct s_property *p, const char *start,
                          const char *end)
{
  char what[160];
  const char *eq = memchr(start, '=', (size_t)(end - start));
  if (!eq) {
    snprintf(what, sizeof(what), "expected an indented 'name = value' under '%.64s ='", p->key);
    return s_fail(ps, what);
  }
  const char *key = start, *key_end = eq, *value = eq + 1, *value_end = end;
  s_trim(&key, &key_end);
  s_trim(&value, &value_end);
  if (key == key_end) {
    snprintf(what, sizeof(what), "the sub-property under '%.64s =' has no name before '='", p->key);
    return s_fail(ps, what);
  }
  struct s_pair *grown = realloc(p->subs, (p->sub_count + 1) * sizeof(*grown));
  if (!grown)
    return s_nomem(ps);
  p->subs = grown;
  struct s_pair *pair = &p->subs[p->sub_count];
  pair->key = s_lower_dup(key, key_end);
  pair->value = strndup(value, (size_t)(value_end - value));
  if (!pair->key || !pair->value) {
    free(pair->key);
    free(pair->value);
    return s_nomem(ps);
  }
  p->sub_count++;
  return OPS_OK;
}

/* An indented line: a sub-property when the property's own line had no value, otherwise more of
 * the value. Either way the raw value grows by "\n" and the trimmed line, as the SDKs keep it. */
static int s_indented_line(struct s_parser *ps, const char *start, const char *end)
{
  if (!ps->in_section)
    return s_fail(ps, "an indented line must follow a property in a section such as [default]");
  if (ps->property == -1)
    return s_fail(ps, "an indented line continues a property, but no property precedes it in "
                      "this section");
  if (ps->property == -2)
    return OPS_OK;
  struct s_property *p = &ps->section->properties[ps->property];
  s_trim(&start, &end);
  if (p->opens_block) {
    int rc = s_sub_property(ps, p, start, end);
    if (rc != OPS_OK)
      return rc;
  }
  return s_append_line(&p->value, start, end) ? OPS_OK : s_nomem(ps);
}

static int s_line(struct s_parser *ps, const char *start, const char *end)
{
  const char *first = start;
  while (first < end && s_is_blank(*first))
    first++;
  if (first == end || *first == '#' || *first == ';')
    return OPS_OK; /* blank or a comment: blank lines inside a value or block are skipped too */
  if (*start == '[')
    return s_section_line(ps, start, end);
  if (first != start)
    return s_indented_line(ps, start, end);
  return s_property_line(ps, start, end);
}

/* `[profile default]` overrides `[default]` in the config file: drop the bare one then. */
static void s_resolve_default(struct ops_ini *ini)
{
  struct ops_ini_section *bare = s_section_lookup(ini, OPS_INI_PROFILE, "default", true);
  if (!bare)
    return;
  if (s_section_lookup(ini, OPS_INI_PROFILE, "default", false)) {
    size_t i = 0;
    while (ini->sections[i] != bare)
      i++;
    memmove(&ini->sections[i], &ini->sections[i + 1], (ini->count - i - 1) * sizeof(bare));
    ini->count--;
    s_section_free(bare);
  } else {
    bare->bare_default = false;
  }
}

static struct ops_ini *s_ini_new(const char *path)
{
  struct ops_ini *ini = calloc(1, sizeof(*ini));
  if (ini && !(ini->path = strdup(path))) {
    free(ini);
    return NULL;
  }
  return ini;
}

int ops_ini_parse(struct ops_ini **out, const char *text, size_t len, const char *path,
                  enum ops_ini_file file, struct ops_error *err)
{
  int rc = OPS_OK;
  *out = NULL;
  struct ops_ini *ini = s_ini_new(path);
  if (!ini)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory parsing %s", path);
  ini->found = true;
  struct s_parser ps = {.ini = ini, .file = file, .property = -1, .err = err};
  const char *p = text, *end = text + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *line_end = nl ? nl : end;
    ps.line++;
    const char *content_end = line_end;
    if (content_end > p && content_end[-1] == '\r')
      content_end--;
    rc = s_line(&ps, p, content_end);
    if (rc != OPS_OK)
      goto cleanup;
    p = nl ? nl + 1 : end;
  }
  if (file == OPS_INI_CONFIG)
    s_resolve_default(ini);
  *out = ini;
  ini = NULL;
cleanup:
  ops_ini_free(ini);
  return rc;
}

/* --- loading --- */

int ops_ini_load(struct ops_ini **out, const char *path, enum ops_ini_file file,
                 struct ops_error *err)
{
  char *text = NULL;
  size_t len = 0;
  *out = NULL;
  int rc = ops_file_read(path, S_MAX_FILE_BYTES, OPS_ERR_CONFIG, &text, &len, err);
  if (rc == OPS_ERR_CONFIG && errno == ENOENT) {
    *out = s_ini_new(path);
    return *out ? OPS_OK : ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  }
  if (rc == OPS_OK)
    rc = ops_ini_parse(out, text, len, path, file, err);
  if (text) {
    OPENSSL_cleanse(text, len);
    free(text);
  }
  return rc;
}

/* --- lookups --- */

const char *ops_ini_path(const struct ops_ini *ini)
{
  return ini->path;
}

bool ops_ini_found(const struct ops_ini *ini)
{
  return ini->found;
}

const struct ops_ini_section *ops_ini_find(const struct ops_ini *ini,
                                           enum ops_ini_section_kind kind, const char *name)
{
  return s_section_lookup(ini, kind, name, false);
}

size_t ops_ini_section_count(const struct ops_ini *ini)
{
  return ini->count;
}

const struct ops_ini_section *ops_ini_section_at(const struct ops_ini *ini, size_t index)
{
  return index < ini->count ? ini->sections[index] : NULL;
}

const char *ops_ini_section_name(const struct ops_ini_section *section)
{
  return section->name;
}

enum ops_ini_section_kind ops_ini_section_kind(const struct ops_ini_section *section)
{
  return section->kind;
}

static const struct s_property *s_property_find(const struct ops_ini_section *section,
                                                const char *key)
{
  for (size_t i = 0; section && i < section->count; i++)
    if (strcasecmp(section->properties[i].key, key) == 0)
      return &section->properties[i];
  return NULL;
}

const char *ops_ini_get(const struct ops_ini_section *section, const char *key, int *line)
{
  const struct s_property *p = s_property_find(section, key);
  if (line)
    *line = p ? p->line : 0;
  return p ? p->value : NULL;
}

const char *ops_ini_get_sub(const struct ops_ini_section *section, const char *key,
                            const char *sub_key)
{
  const struct s_property *p = s_property_find(section, key);
  for (size_t i = p ? p->sub_count : 0; i > 0; i--) /* the last of repeats wins */
    if (strcasecmp(p->subs[i - 1].key, sub_key) == 0)
      return p->subs[i - 1].value;
  return NULL;
}
