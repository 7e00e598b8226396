/* registry.c: the account registry (SPEC section 3). jansson parses (duplicate keys rejected);
 * a validation pass walks the document in order and stops at the first problem, naming its JSON
 * Pointer; a build pass then computes each account's effective values from the validated tree,
 * whose strings the registry keeps borrowing. A registry file is read by runtime/file.h. */
#include "runtime/registry.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/file.h"
#include "runtime/region.h"

#define ACCOUNT_ID_DIGITS 12
#define MAX_SHOWN_VALUE   60 /* bytes of a bad value quoted in a message */
#define MAX_SUGGESTED_KEY 64 /* longer unknown keys get no "did you mean" */
#define COUNT(array)      (sizeof(array) / sizeof(*(array)))

struct ops_registry {
  json_t *root; /* owns every string the accounts point to */
  char *role_override;
  struct ops_registry_account *accounts;
  size_t count;
  const struct ops_registry_account *central;
};

/* The validation walk: where it is (a JSON Pointer) and what it has seen so far. */
struct s_check {
  const char *source;
  char place[512];
  size_t place_len;
  json_t *first_id_at; /* account id -> index of its first account */
  long central_at;     /* index of the central account, -1 while none */
  struct ops_error *err;
};

/* A known key of an object and the check of its value. */
struct s_field {
  const char *key;
  int (*check)(struct s_check *c, const json_t *value);
  const char *required; /* what the value of a required key is, for "missing"; else NULL */
};

static int s_fail(struct s_check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "SOURCE: PLACE: DETAIL", PLACE being the JSON Pointer, or "top level" for the document. */
static int s_fail(struct s_check *c, const char *fmt, ...)
{
  char detail[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof(detail), fmt, ap);
  va_end(ap);
  return ops_error_set(c->err, OPS_ERR_REGISTRY, "%s: %s: %s", c->source,
                       c->place_len ? c->place : "top level", detail);
}

/* Appends one reference token, escaped as RFC 6901 says ('~' as ~0, '/' as ~1). Control bytes
 * become '?' so that the message stays on one line. Returns the length to restore with
 * s_leave. */
static size_t s_enter(struct s_check *c, const char *token)
{
  size_t saved = c->place_len, len = saved;
  const size_t room = sizeof(c->place) - 3; /* the longest escape, and the NUL */
  if (len < room)
    c->place[len++] = '/';
  for (const unsigned char *p = (const unsigned char *)token; *p && len < room; p++) {
    if (*p == '~' || *p == '/') {
      c->place[len++] = '~';
      c->place[len++] = *p == '~' ? '0' : '1';
    } else {
      c->place[len++] = *p < 0x20 || *p == 0x7f ? '?' : (char)*p;
    }
  }
  c->place[len] = '\0';
  c->place_len = len;
  return saved;
}

static size_t s_enter_index(struct s_check *c, size_t index)
{
  char token[32];
  snprintf(token, sizeof(token), "%zu", index);
  return s_enter(c, token);
}

static void s_leave(struct s_check *c, size_t saved)
{
  c->place_len = saved;
  c->place[saved] = '\0';
}

/* What a value is, for "got ...": scalars as JSON text (long ones cut on a character
 * boundary), containers by kind. */
static void s_describe(const json_t *value, char *out, size_t size)
{
  if (json_is_object(value)) {
    snprintf(out, size, "%s", json_object_size(value) ? "an object" : "an empty object");
    return;
  }
  if (json_is_array(value)) {
    snprintf(out, size, "%s", json_array_size(value) ? "an array" : "an empty array");
    return;
  }
  char *text = json_dumps(value, JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
  if (!text) {
    snprintf(out, size, "a value");
    return;
  }
  size_t len = strlen(text);
  if (len <= MAX_SHOWN_VALUE) {
    snprintf(out, size, "%s", text);
  } else {
    len = MAX_SHOWN_VALUE;
    while (len > 0 && ((unsigned char)text[len] & 0xc0) == 0x80)
      len--;
    snprintf(out, size, "%.*s...", (int)len, text);
  }
  free(text);
}

static int s_expected(struct s_check *c, const json_t *value, const char *expected)
{
  char got[MAX_SHOWN_VALUE + 8];
  s_describe(value, got, sizeof(got));
  return s_fail(c, "expected %s, got %s", expected, got);
}

/* --- the nearest known key ---------------------------------------------------------------- */

static char s_lower(char ch)
{
  return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

/* Levenshtein distance, ignoring case; both at most MAX_SUGGESTED_KEY bytes. */
static size_t s_distance(const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b);
  size_t row[MAX_SUGGESTED_KEY + 1];
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t above = row[j];
      size_t replace = diagonal + (s_lower(a[i - 1]) != s_lower(b[j - 1]));
      size_t best = above + 1 < row[j - 1] + 1 ? above + 1 : row[j - 1] + 1;
      row[j] = replace < best ? replace : best;
      diagonal = above;
    }
  }
  return row[lb];
}

/* Whether `part` (3 bytes or more) occurs in `whole`, ignoring case: "env" in "environment". */
static bool s_contains(const char *whole, const char *part)
{
  size_t lw = strlen(whole), lp = strlen(part);
  if (lp < 3 || lp > lw)
    return false;
  for (size_t start = 0; start + lp <= lw; start++) {
    size_t i = 0;
    while (i < lp && s_lower(whole[start + i]) == s_lower(part[i]))
      i++;
    if (i == lp)
      return true;
  }
  return false;
}

/* The known key `key` was most likely meant as, or NULL when none is reasonably close: an edit
 * distance of at most half the shorter key (and at least 1), or `key` being part of it. */
static const char *s_suggest(const char *key, const struct s_field *fields, size_t n)
{
  size_t len = strlen(key);
  if (len > MAX_SUGGESTED_KEY)
    return NULL;
  const char *best = NULL;
  size_t best_distance = SIZE_MAX;
  for (size_t i = 0; i < n; i++) {
    size_t known_len = strlen(fields[i].key);
    size_t shorter = len < known_len ? len : known_len;
    size_t limit = shorter / 2 > 1 ? shorter / 2 : 1;
    size_t distance = s_distance(key, fields[i].key);
    if (distance > limit && !s_contains(fields[i].key, key))
      continue;
    if (distance < best_distance) {
      best = fields[i].key;
      best_distance = distance;
    }
  }
  return best;
}

/* The caller has entered the unknown key's place. */
static int s_unknown_key(struct s_check *c, const char *key, const struct s_field *fields, size_t n)
{
  const char *suggestion = s_suggest(key, fields, n);
  if (suggestion)
    return s_fail(c, "unknown key (did you mean \"%s\"?)", suggestion);
  char known[256] = "";
  size_t len = 0;
  for (size_t i = 0; i < n && len < sizeof(known); i++)
    len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s", i ? ", " : "", fields[i].key);
  return s_fail(c, "unknown key (expected one of: %s)", known);
}

/* Checks every member of `object` in document order against `fields`. */
static int s_check_members(struct s_check *c, const json_t *object, const struct s_field *fields,
                           size_t n)
{
  for (void *it = json_object_iter((json_t *)object); it;
       it = json_object_iter_next((json_t *)object, it)) {
    const char *key = json_object_iter_key(it);
    const json_t *value = json_object_iter_value(it);
    size_t saved = s_enter(c, key);
    const struct s_field *field = NULL;
    for (size_t i = 0; i < n && !field; i++)
      if (strcmp(key, fields[i].key) == 0)
        field = &fields[i];
    int rc = field ? field->check(c, value) : s_unknown_key(c, key, fields, n);
    if (rc < 0)
      return rc;
    s_leave(c, saved);
  }
  return 0;
}

/* Checks that `value` is an object (`what` says what kind), its members, and that its required
 * keys are there. */
static int s_check_object(struct s_check *c, const json_t *value, const char *what,
                          const struct s_field *fields, size_t n)
{
  if (!json_is_object(value))
    return s_expected(c, value, what);
  int rc = s_check_members(c, value, fields, n);
  if (rc < 0)
    return rc;
  for (size_t i = 0; i < n; i++)
    if (fields[i].required && !json_object_get(value, fields[i].key))
      return s_fail(c, "missing required key \"%s\" (%s)", fields[i].key, fields[i].required);
  return 0;
}

/* --- the values ---------------------------------------------------------------------------- */

static int s_check_string(struct s_check *c, const json_t *value)
{
  return json_is_string(value) ? 0 : s_expected(c, value, "a string");
}

static int s_check_nonempty_string(struct s_check *c, const json_t *value)
{
  if (json_is_string(value) && json_string_length(value) > 0)
    return 0;
  return s_expected(c, value, "a non-empty string");
}

static bool s_is_account_id(const json_t *value)
{
  if (!json_is_string(value) || json_string_length(value) != ACCOUNT_ID_DIGITS)
    return false;
  for (const char *p = json_string_value(value); *p; p++)
    if (*p < '0' || *p > '9')
      return false;
  return true;
}

static int s_check_id(struct s_check *c, const json_t *value)
{
  return s_is_account_id(value) ? 0 : s_expected(c, value, "a string of exactly 12 digits");
}

static int s_check_role(struct s_check *c, const json_t *value)
{
  const char *role = json_string_value(value);
  if (role && (strcmp(role, "central") == 0 || strcmp(role, "workload") == 0))
    return 0;
  return s_expected(c, value, "\"central\" or \"workload\"");
}

static int s_check_regions(struct s_check *c, const json_t *value)
{
  if (!json_is_array(value) || json_array_size(value) == 0)
    return s_expected(c, value, "a non-empty array of region names");
  for (size_t i = 0; i < json_array_size(value); i++) {
    const json_t *region = json_array_get(value, i);
    size_t saved = s_enter_index(c, i);
    if (!json_is_string(region) || !ops_region_is_name(json_string_value(region)))
      return s_expected(c, region, "a region name such as \"us-east-1\"");
    s_leave(c, saved);
  }
  return 0;
}

static int s_check_session_duration(struct s_check *c, const json_t *value)
{
  if (json_is_integer(value) && json_integer_value(value) >= OPS_REGISTRY_MIN_SESSION_DURATION &&
      json_integer_value(value) <= OPS_REGISTRY_MAX_SESSION_DURATION)
    return 0;
  return s_expected(c, value, "an integer number of seconds from 900 to 43200");
}

static int s_check_tags(struct s_check *c, const json_t *value)
{
  if (!json_is_object(value))
    return s_expected(c, value, "an object of string values");
  for (void *it = json_object_iter((json_t *)value); it;
       it = json_object_iter_next((json_t *)value, it)) {
    const json_t *tag = json_object_iter_value(it);
    size_t saved = s_enter(c, json_object_iter_key(it));
    if (!json_is_string(tag))
      return s_expected(c, tag, "a string");
    s_leave(c, saved);
  }
  return 0;
}

/* --- the objects --------------------------------------------------------------------------- */

static const struct s_field s_account_fields[] = {
    {"id", s_check_id, "a string of exactly 12 digits"},
    {"name", s_check_nonempty_string, "a non-empty string"},
    {"role", s_check_role, NULL},
    {"environment", s_check_string, NULL},
    {"role_name", s_check_nonempty_string, NULL},
    {"external_id", s_check_nonempty_string, NULL},
    {"regions", s_check_regions, NULL},
    {"session_duration", s_check_session_duration, NULL},
    {"tags", s_check_tags, NULL},
};

/* SPEC section 3: every optional account value but role and environment falls back here. */
static const struct s_field s_defaults_fields[] = {
    {"role_name", s_check_nonempty_string, NULL},
    {"external_id", s_check_nonempty_string, NULL},
    {"regions", s_check_regions, NULL},
    {"session_duration", s_check_session_duration, NULL},
    {"tags", s_check_tags, NULL},
};

static int s_check_defaults(struct s_check *c, const json_t *value)
{
  return s_check_object(c, value, "an object", s_defaults_fields, COUNT(s_defaults_fields));
}

/* An account's id must be new and at most one account central; the caller has entered
 * /accounts/INDEX. */
static int s_check_account_unique(struct s_check *c, const json_t *account, size_t index)
{
  const char *id = json_string_value(json_object_get(account, "id"));
  json_t *first = json_object_get(c->first_id_at, id);
  if (first) {
    s_enter(c, "id");
    return s_fail(c, "duplicate account id \"%s\" (first at /accounts/%lld/id)", id,
                  (long long)json_integer_value(first));
  }
  if (json_object_set_new(c->first_id_at, id, json_integer((json_int_t)index)) != 0)
    return ops_error_set(c->err, OPS_ERR_NOMEM, "out of memory loading %s", c->source);
  const char *role = json_string_value(json_object_get(account, "role"));
  if (role && strcmp(role, "central") == 0) {
    if (c->central_at >= 0) {
      s_enter(c, "role");
      return s_fail(c,
                    "a second central account (first at /accounts/%ld/role); at most one is "
                    "allowed",
                    c->central_at);
    }
    c->central_at = (long)index;
  }
  return 0;
}

static int s_check_account(struct s_check *c, const json_t *account, size_t index)
{
  int rc =
      s_check_object(c, account, "an account object", s_account_fields, COUNT(s_account_fields));
  return rc < 0 ? rc : s_check_account_unique(c, account, index);
}

static int s_check_accounts(struct s_check *c, const json_t *value)
{
  if (!json_is_array(value))
    return s_expected(c, value, "an array of accounts");
  for (size_t i = 0; i < json_array_size(value); i++) {
    const json_t *account = json_array_get(value, i);
    size_t saved = s_enter_index(c, i);
    int rc = s_check_account(c, account, i);
    if (rc < 0)
      return rc;
    s_leave(c, saved);
  }
  return 0;
}

static const struct s_field s_top_fields[] = {
    {"defaults", s_check_defaults, NULL},
    {"accounts", s_check_accounts, "an array of accounts"},
};

static int s_check_registry(struct s_check *c, const json_t *root)
{
  return s_check_object(c, root, "an object with \"accounts\"", s_top_fields, COUNT(s_top_fields));
}

/* --- effective values ---------------------------------------------------------------------- */

/* The account's own value of `key`, else the defaults', else NULL. */
static const json_t *s_effective(const json_t *account, const json_t *defaults, const char *key)
{
  const json_t *own = json_object_get(account, key);
  return own ? own : json_object_get(defaults, key);
}

static int s_build_regions(struct ops_registry_account *account, const json_t *regions)
{
  size_t n = json_array_size(regions);
  if (n == 0)
    return 0;
  const char **names = calloc(n, sizeof(*names));
  if (!names)
    return OPS_ERR_NOMEM;
  for (size_t i = 0; i < n; i++)
    names[i] = json_string_value(json_array_get(regions, i));
  account->regions = names;
  account->region_count = n;
  return 0;
}

static struct ops_registry_tag s_tag_of(void *iter)
{
  return (struct ops_registry_tag){json_object_iter_key(iter),
                                   json_string_value(json_object_iter_value(iter))};
}

/* The account's own tags in their order, then the defaults' tags it does not set. */
static int s_build_tags(struct ops_registry_account *account, const json_t *own,
                        const json_t *defaults)
{
  size_t n = json_object_size(own) + json_object_size(defaults);
  if (n == 0)
    return 0;
  struct ops_registry_tag *tags = calloc(n, sizeof(*tags));
  if (!tags)
    return OPS_ERR_NOMEM;
  size_t count = 0;
  for (void *it = json_object_iter((json_t *)own); it;
       it = json_object_iter_next((json_t *)own, it))
    tags[count++] = s_tag_of(it);
  for (void *it = json_object_iter((json_t *)defaults); it;
       it = json_object_iter_next((json_t *)defaults, it))
    if (!json_object_get(own, json_object_iter_key(it)))
      tags[count++] = s_tag_of(it);
  account->tags = tags;
  account->tag_count = count;
  return 0;
}

static int s_build_account(struct ops_registry *registry, size_t index)
{
  const json_t *defaults = json_object_get(registry->root, "defaults");
  const json_t *json = json_array_get(json_object_get(registry->root, "accounts"), index);
  struct ops_registry_account *account = &registry->accounts[index];
  const char *role = json_string_value(json_object_get(json, "role"));
  const json_t *duration = s_effective(json, defaults, "session_duration");
  const char *role_name = json_string_value(s_effective(json, defaults, "role_name"));

  account->index = index;
  account->id = json_string_value(json_object_get(json, "id"));
  account->name = json_string_value(json_object_get(json, "name"));
  account->environment = json_string_value(json_object_get(json, "environment"));
  account->central = role && strcmp(role, "central") == 0;
  account->role_name = registry->role_override ? registry->role_override
                       : role_name             ? role_name
                                               : OPS_REGISTRY_DEFAULT_ROLE_NAME;
  account->external_id = json_string_value(s_effective(json, defaults, "external_id"));
  account->session_duration =
      duration ? (int)json_integer_value(duration) : OPS_REGISTRY_DEFAULT_SESSION_DURATION;
  if (account->central)
    registry->central = account;
  if (s_build_regions(account, s_effective(json, defaults, "regions")) < 0)
    return OPS_ERR_NOMEM;
  return s_build_tags(account, json_object_get(json, "tags"), json_object_get(defaults, "tags"));
}

static int s_build(struct ops_registry *registry)
{
  registry->count = json_array_size(json_object_get(registry->root, "accounts"));
  if (registry->count == 0)
    return 0;
  registry->accounts = calloc(registry->count, sizeof(*registry->accounts));
  if (!registry->accounts)
    return OPS_ERR_NOMEM;
  for (size_t i = 0; i < registry->count; i++)
    if (s_build_account(registry, i) < 0)
      return OPS_ERR_NOMEM;
  return 0;
}

/* --- loading ------------------------------------------------------------------------------- */

/* "SOURCE:LINE:COLUMN: invalid JSON: jansson's text". Jansson quotes the text near the error
 * as it is: its control characters (a newline inside a bad string) are escaped, so that the
 * message stays one line. */
static int s_syntax_error(const char *source, const json_error_t *error, struct ops_error *err)
{
  int column = error->column > 0 ? error->column : 1; /* jansson says 0 for an empty text */
  char text[sizeof(error->text) * 4];
  size_t n = 0;
  for (const unsigned char *c = (const unsigned char *)error->text; *c; c++) {
    if (*c >= 0x20 && *c != 0x7f)
      text[n++] = (char)*c;
    else if (*c == '\n')
      n += (size_t)snprintf(text + n, sizeof(text) - n, "\\n");
    else
      n += (size_t)snprintf(text + n, sizeof(text) - n, "\\x%02x", *c);
  }
  text[n] = '\0';
  return ops_error_set(err, OPS_ERR_REGISTRY, "%s:%d:%d: invalid JSON: %s", source, error->line,
                       column, text);
}

int ops_registry_load_text(const char *source, const char *text, size_t len,
                           const char *role_override, struct ops_registry **out,
                           struct ops_error *err)
{
  struct ops_registry *registry = NULL;
  struct s_check check = {.source = source, .central_at = -1, .err = err};
  json_error_t error;
  int rc = 0;

  *out = NULL;
  if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) { /* RFC 8259 lets a parser skip a BOM */
    text += 3;
    len -= 3;
  }
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
  if (!root) {
    rc = json_error_code(&error) == json_error_out_of_memory
             ? ops_error_set(err, OPS_ERR_NOMEM, "out of memory loading %s", source)
             : s_syntax_error(source, &error, err);
    goto cleanup;
  }
  check.first_id_at = json_object();
  if (!check.first_id_at) {
    rc = ops_error_set(err, OPS_ERR_NOMEM, "out of memory loading %s", source);
    goto cleanup;
  }
  rc = s_check_registry(&check, root);
  if (rc < 0)
    goto cleanup;

  registry = calloc(1, sizeof(*registry));
  if (!registry ||
      (role_override && *role_override && !(registry->role_override = strdup(role_override)))) {
    rc = ops_error_set(err, OPS_ERR_NOMEM, "out of memory loading %s", source);
    goto cleanup;
  }
  registry->root = json_incref(root);
  rc = s_build(registry);
  if (rc < 0) {
    ops_error_set(err, rc, "out of memory loading %s", source);
    goto cleanup;
  }
  *out = registry;
  registry = NULL;

cleanup:
  ops_registry_free(registry);
  json_decref(check.first_id_at);
  json_decref(root);
  return rc;
}

int ops_registry_load_file(const char *path, const char *role_override, struct ops_registry **out,
                           struct ops_error *err)
{
  char *text = NULL;
  size_t len = 0;
  *out = NULL;
  int rc = ops_file_read(path, OPS_REGISTRY_MAX_FILE_BYTES, OPS_ERR_REGISTRY, &text, &len, err);
  if (rc != OPS_OK)
    return rc;
  rc = ops_registry_load_text(path, text, len, role_override, out, err);
  free(text);
  return rc;
}

int ops_registry_load_env(const char *role_override, struct ops_registry **out,
                          struct ops_error *err)
{
  const char *text = getenv(OPS_REGISTRY_ENV);
  *out = NULL;
  if (!text || !*text)
    return 0;
  return ops_registry_load_text(OPS_REGISTRY_ENV_SOURCE, text, strlen(text), role_override, out,
                                err);
}

void ops_registry_free(struct ops_registry *registry)
{
  if (!registry)
    return;
  for (size_t i = 0; i < registry->count && registry->accounts; i++) {
    free((void *)registry->accounts[i].regions);
    free((void *)registry->accounts[i].tags);
  }
  free(registry->accounts);
  free(registry->role_override);
  json_decref(registry->root);
  free(registry);
}

/* --- reading ------------------------------------------------------------------------------- */

size_t ops_registry_count(const struct ops_registry *registry)
{
  return registry->count;
}

const struct ops_registry_account *ops_registry_at(const struct ops_registry *registry,
                                                   size_t index)
{
  return index < registry->count ? &registry->accounts[index] : NULL;
}

const struct ops_registry_account *ops_registry_central(const struct ops_registry *registry)
{
  return registry->central;
}

size_t ops_registry_workloads(const struct ops_registry *registry, int shard_index, int shard_count,
                              const struct ops_registry_account **out)
{
  size_t n = 0, position = 0;
  for (size_t i = 0; i < registry->count; i++) {
    if (registry->accounts[i].central)
      continue;
    if (shard_count < 1 || position % (size_t)shard_count == (size_t)shard_index)
      out[n++] = &registry->accounts[i];
    position++;
  }
  return n;
}
