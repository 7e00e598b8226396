/* registry.c: the account registry (SPEC section 3). jansson parses (duplicate keys rejected);
 * a validation pass walks the document in order and stops at the first problem, naming its JSON
 * Pointer; a build pass then computes each account's effective values from the validated tree,
 * whose strings the registry keeps borrowing. An overlay's result is built the same way from the
 * overlay's tree and an Organizations listing, whose strings it copies into a JSON array it owns.
 * A registry file is read by runtime/file.h. */
#include "runtime/registry.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/file.h"
#include "runtime/hash.h"
#include "runtime/region.h"

#define ACCOUNT_ID_DIGITS 12
#define MAX_SHOWN_VALUE   60 /* bytes of a bad value quoted in a message */
#define MAX_SUGGESTED_KEY 64 /* longer unknown keys get no "did you mean" */
#define COUNT(array)      (sizeof(array) / sizeof(*(array)))

struct ops_registry {
  json_t *root;   /* owns every string the accounts point to but the copies; NULL: none */
  json_t *copies; /* an overlay's result: the listed strings, copied (a JSON array of strings) */
  char *role_override;
  bool from_organizations;
  struct ops_registry_account *accounts;
  size_t count;
  struct ops_hash by_id; /* account id -> its first account */
  const struct ops_registry_account *central;
  const char **unlisted; /* an overlay's result: entries the listing did not have */
  size_t unlisted_count;
};

/* The validation walk: where it is (a JSON Pointer) and what it has seen so far. */
struct s_check {
  const char *source;
  char place[512];
  size_t place_len;
  json_t *first_id_at; /* account id -> index of its first account */
  long central_at;     /* index of the central account, -1 while none */
  bool overlay;        /* an overlay of Organizations: accounts need only an id */
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

static int s_require(struct s_check *c, const json_t *object, const char *key, const char *what)
{
  if (json_object_get(object, key))
    return 0;
  return s_fail(c, "missing required key \"%s\" (%s)", key, what);
}

/* Checks that `value` is an object (`what` says what kind), its members, and that its required
 * keys are there. */
static int s_check_object(struct s_check *c, const json_t *value, const char *what,
                          const struct s_field *fields, size_t n)
{
  if (!json_is_object(value))
    return s_expected(c, value, what);
  int rc = s_check_members(c, value, fields, n);
  for (size_t i = 0; i < n && rc == 0; i++)
    if (fields[i].required)
      rc = s_require(c, value, fields[i].key, fields[i].required);
  return rc;
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

/* The value is the string `one` or the string `other`. */
static int s_check_either(struct s_check *c, const json_t *value, const char *one,
                          const char *other)
{
  const char *text = json_string_value(value);
  if (text && (strcmp(text, one) == 0 || strcmp(text, other) == 0))
    return 0;
  char expected[64];
  snprintf(expected, sizeof(expected), "\"%s\" or \"%s\"", one, other);
  return s_expected(c, value, expected);
}

static int s_check_role(struct s_check *c, const json_t *value)
{
  return s_check_either(c, value, "central", "workload");
}

static int s_check_boolean(struct s_check *c, const json_t *value)
{
  return json_is_boolean(value) ? 0 : s_expected(c, value, "true or false");
}

static int s_check_source(struct s_check *c, const json_t *value)
{
  return s_check_either(c, value, "registry", "organizations");
}

static bool s_is_enabled_regions(const json_t *value)
{
  return json_is_string(value) && strcmp(json_string_value(value), "enabled") == 0;
}

static int s_check_regions(struct s_check *c, const json_t *value)
{
  if (s_is_enabled_regions(value))
    return 0;
  if (!json_is_array(value) || json_array_size(value) == 0)
    return s_expected(c, value, "a non-empty array of region names, or \"enabled\"");
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

/* --- role chains --------------------------------------------------------------------------- */

#define MAX_ROLE_NAME 64   /* IAM's limit */
#define MAX_ROLE_ARN  2048 /* STS's limit on RoleArn */

/* An IAM role name: 1 to 64 of A-Z a-z 0-9 + = , . @ _ - (IAM's pattern [\w+=,.@-]+). */
static bool s_is_role_name(const char *name)
{
  size_t len = strlen(name);
  if (len == 0 || len > MAX_ROLE_NAME)
    return false;
  return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+=,.@_-") ==
         len;
}

/* Whether `text` is arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME; its ACCOUNT then goes to
 * `account` (13 bytes). */
static bool s_parse_role_arn(const char *text, char *account)
{
  size_t len = strlen(text);
  if (len > MAX_ROLE_ARN || strncmp(text, "arn:", 4) != 0)
    return false;
  const char *p = text + 4;
  size_t partition = strspn(p, "abcdefghijklmnopqrstuvwxyz-");
  if (partition == 0 || strncmp(p + partition, ":iam::", 6) != 0)
    return false;
  p += partition + 6;
  if (strspn(p, "0123456789") != ACCOUNT_ID_DIGITS || strncmp(p + ACCOUNT_ID_DIGITS, ":role/", 6))
    return false;
  memcpy(account, p, ACCOUNT_ID_DIGITS);
  account[ACCOUNT_ID_DIGITS] = '\0';
  p += ACCOUNT_ID_DIGITS + 6;
  for (const char *q = p; *q; q++)
    if (*q < 0x21 || *q > 0x7e)
      return false;
  return s_is_role_name(strrchr(p - 1, '/') + 1);
}

/* A hop's role as a string: its own, or its object's "role". */
static const char *s_hop_role(const json_t *hop)
{
  return json_string_value(json_is_object(hop) ? json_object_get(hop, "role") : hop);
}

static int s_check_hop_role(struct s_check *c, const json_t *value)
{
  char account[ACCOUNT_ID_DIGITS + 1];
  const char *role = json_string_value(value);
  if (role && (s_is_role_name(role) || s_parse_role_arn(role, account)))
    return 0;
  return s_expected(c, value, "a role name or a role ARN (arn:aws:iam::ACCOUNT:role/NAME)");
}

static const struct s_field s_hop_fields[] = {
    {"role", s_check_hop_role, "a role name or a role ARN"},
    {"external_id", s_check_nonempty_string, NULL},
};

static int s_check_hop(struct s_check *c, const json_t *value)
{
  if (json_is_string(value))
    return s_check_hop_role(c, value);
  return s_check_object(c, value,
                        "a role name, a role ARN or an object with \"role\" and \"external_id\"",
                        s_hop_fields, COUNT(s_hop_fields));
}

static int s_check_role_chain(struct s_check *c, const json_t *value)
{
  size_t n = json_array_size(value);
  if (!json_is_array(value) || n == 0 || n > OPS_REGISTRY_MAX_ROLE_CHAIN)
    return s_expected(c, value, "an array of 1 to 10 roles to assume in turn");
  for (size_t i = 0; i < n; i++) {
    size_t saved = s_enter_index(c, i);
    int rc = s_check_hop(c, json_array_get(value, i));
    if (rc < 0)
      return rc;
    s_leave(c, saved);
  }
  return 0;
}

/* An object's role_name and role_chain agree: not both, and the chain's last role is the role in
 * the account `id` (NULL for `defaults`: in every account, so a name). The caller has entered the
 * object. */
static int s_check_role_choice(struct s_check *c, const json_t *object, const char *id)
{
  const json_t *chain = json_object_get(object, "role_chain");
  if (!chain)
    return 0;
  s_enter(c, "role_chain");
  if (json_object_get(object, "role_name"))
    return s_fail(c, "role_chain and role_name together: the chain's last role is the role in the "
                     "account, so give one of them");
  size_t last = json_array_size(chain) - 1;
  char account[ACCOUNT_ID_DIGITS + 1];
  if (!s_parse_role_arn(s_hop_role(json_array_get(chain, last)), account))
    return 0;
  s_enter_index(c, last);
  if (!id)
    return s_fail(c, "the last role of the defaults' chain is the role in each account: a role "
                     "name, not an ARN");
  if (strcmp(account, id) != 0)
    return s_fail(c,
                  "the last role of the chain is the role in account %s, got a role of "
                  "account %s",
                  id, account);
  return 0;
}

/* --- the objects --------------------------------------------------------------------------- */

#define NAME_EXPECTED "a non-empty string"

/* "name" is required but in an overlay (s_check_account). */
static const struct s_field s_account_fields[] = {
    {"id", s_check_id, "a string of exactly 12 digits"},
    {"name", s_check_nonempty_string, NULL},
    {"role", s_check_role, NULL},
    {"environment", s_check_string, NULL},
    {"role_name", s_check_nonempty_string, NULL},
    {"role_chain", s_check_role_chain, NULL},
    {"external_id", s_check_nonempty_string, NULL},
    {"regions", s_check_regions, NULL},
    {"session_duration", s_check_session_duration, NULL},
    {"tags", s_check_tags, NULL},
    {"exclude", s_check_boolean, NULL},
};

/* SPEC section 3: every optional account value but role, environment and exclude falls back
 * here. */
static const struct s_field s_defaults_fields[] = {
    {"role_name", s_check_nonempty_string, NULL},         {"role_chain", s_check_role_chain, NULL},
    {"external_id", s_check_nonempty_string, NULL},       {"regions", s_check_regions, NULL},
    {"session_duration", s_check_session_duration, NULL}, {"tags", s_check_tags, NULL},
};

static int s_check_defaults(struct s_check *c, const json_t *value)
{
  int rc = s_check_object(c, value, "an object", s_defaults_fields, COUNT(s_defaults_fields));
  return rc < 0 ? rc : s_check_role_choice(c, value, NULL);
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
  if (!c->overlay && role && strcmp(role, "central") == 0) {
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
  if (rc == 0 && !c->overlay)
    rc = s_require(c, account, "name", NAME_EXPECTED);
  if (rc == 0) {
    size_t saved = c->place_len;
    rc = s_check_role_choice(c, account, json_string_value(json_object_get(account, "id")));
    s_leave(c, saved);
  }
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

#define ACCOUNTS_EXPECTED "an array of accounts"

/* "accounts" is required but in an overlay (s_check_registry). */
static const struct s_field s_top_fields[] = {
    {"defaults", s_check_defaults, NULL},
    {"accounts", s_check_accounts, NULL},
    {"source", s_check_source, NULL},
};

static bool s_says_organizations(const json_t *root)
{
  const char *source = json_string_value(json_object_get(root, "source"));
  return source && strcmp(source, "organizations") == 0;
}

static int s_check_registry(struct s_check *c, const json_t *root)
{
  c->overlay = c->overlay || s_says_organizations(root);
  int rc =
      s_check_object(c, root, "an object with \"accounts\"", s_top_fields, COUNT(s_top_fields));
  return rc < 0 || c->overlay ? rc : s_require(c, root, "accounts", ACCOUNTS_EXPECTED);
}

/* --- effective values ---------------------------------------------------------------------- */

/* Where an account's values come from: its registry entry and the defaults (each NULL when there
 * is none), and the tags Organizations lists (none for a loaded registry). */
struct s_layers {
  const json_t *entry;
  const json_t *defaults;
  const struct ops_registry_tag *listed_tags;
  size_t listed_tag_count;
};

/* The account's own value of `key`, else the defaults', else NULL. */
static const json_t *s_effective(const struct s_layers *layers, const char *key)
{
  const json_t *own = json_object_get(layers->entry, key);
  return own ? own : json_object_get(layers->defaults, key);
}

/* A copy of `text` the registry owns, or NULL (also for NULL `text`): *ok becomes false when
 * memory ran out. */
static const char *s_copy(struct ops_registry *registry, const char *text, bool *ok)
{
  json_t *copy = text ? json_stringn_nocheck(text, strlen(text)) : NULL;
  if (text && (!copy || json_array_append_new(registry->copies, copy) != 0)) {
    *ok = false;
    return NULL;
  }
  return json_string_value(copy);
}

static int s_build_regions(struct ops_registry_account *account, const json_t *regions)
{
  size_t n = json_array_size(regions);
  account->regions_enabled = s_is_enabled_regions(regions);
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

static bool s_has_tag(const struct ops_registry_tag *tags, size_t count, const char *key)
{
  for (size_t i = 0; i < count; i++)
    if (strcmp(tags[i].key, key) == 0)
      return true;
  return false;
}

/* Appends the tags of a JSON object that `tags` does not hold yet. */
static size_t s_add_tags(struct ops_registry_tag *tags, size_t count, const json_t *object)
{
  for (void *it = json_object_iter((json_t *)object); it;
       it = json_object_iter_next((json_t *)object, it))
    if (!s_has_tag(tags, count, json_object_iter_key(it)))
      tags[count++] = (struct ops_registry_tag){json_object_iter_key(it),
                                                json_string_value(json_object_iter_value(it))};
  return count;
}

/* The account's own tags in their order, then the defaults' it does not set, then the listed
 * ones neither sets (copied). */
static int s_build_tags(struct ops_registry *registry, struct ops_registry_account *account,
                        const struct s_layers *layers)
{
  const json_t *own = json_object_get(layers->entry, "tags");
  const json_t *defaults = json_object_get(layers->defaults, "tags");
  size_t n = json_object_size(own) + json_object_size(defaults) + layers->listed_tag_count;
  if (n == 0)
    return 0;
  struct ops_registry_tag *tags = calloc(n, sizeof(*tags));
  if (!tags)
    return OPS_ERR_NOMEM;
  account->tags = tags;
  size_t count = s_add_tags(tags, s_add_tags(tags, 0, own), defaults);
  bool ok = true;
  for (size_t i = 0; i < layers->listed_tag_count; i++) {
    const struct ops_registry_tag *listed = &layers->listed_tags[i];
    if (!s_has_tag(tags, count, listed->key))
      tags[count++] = (struct ops_registry_tag){s_copy(registry, listed->key, &ok),
                                                s_copy(registry, listed->value, &ok)};
  }
  account->tag_count = count;
  return ok ? 0 : OPS_ERR_NOMEM;
}

/* The object's role: its role_chain (an array) or its role_name (a string), or NULL. */
static const json_t *s_role_of(const json_t *object)
{
  const json_t *chain = json_object_get(object, "role_chain");
  return chain ? chain : json_object_get(object, "role_name");
}

/* The role's name of a chain's role (an ARN's last part). */
static const char *s_role_name_of(const char *role)
{
  return strncmp(role, "arn:", 4) == 0 ? strrchr(role, '/') + 1 : role;
}

/* The hops of a validated chain; --role replaces the last role, whose external id falls back to
 * the account's (or the defaults') external_id. */
static int s_build_chain(struct ops_registry *registry, struct ops_registry_account *account,
                         const json_t *chain)
{
  size_t n = json_array_size(chain);
  struct ops_registry_hop *hops = calloc(n, sizeof(*hops));
  if (!hops)
    return OPS_ERR_NOMEM;
  for (size_t i = 0; i < n; i++) {
    const json_t *hop = json_array_get(chain, i);
    hops[i].role = s_hop_role(hop);
    hops[i].external_id = json_string_value(json_object_get(hop, "external_id"));
  }
  struct ops_registry_hop *last = &hops[n - 1];
  if (registry->role_override)
    last->role = registry->role_override;
  if (!last->external_id)
    last->external_id = account->external_id;
  account->role_chain = hops;
  account->role_chain_count = n;
  account->role_name = s_role_name_of(last->role);
  account->external_id = last->external_id;
  return 0;
}

/* role_name, external_id and role_chain: the entry's role, else the defaults'. */
static int s_build_role(struct ops_registry *registry, struct ops_registry_account *account,
                        const struct s_layers *layers)
{
  const json_t *role = s_role_of(layers->entry);
  if (!role)
    role = s_role_of(layers->defaults);
  account->external_id = json_string_value(s_effective(layers, "external_id"));
  if (json_is_array(role))
    return s_build_chain(registry, account, role);
  account->role_name = registry->role_override ? registry->role_override
                       : role                  ? json_string_value(role)
                                               : OPS_REGISTRY_DEFAULT_ROLE_NAME;
  return 0;
}

/* The values every account has: role, regions, session duration and tags. */
static int s_build_effective(struct ops_registry *registry, struct ops_registry_account *account,
                             const struct s_layers *layers)
{
  const json_t *duration = s_effective(layers, "session_duration");
  account->session_duration =
      duration ? (int)json_integer_value(duration) : OPS_REGISTRY_DEFAULT_SESSION_DURATION;
  if (s_build_role(registry, account, layers) < 0 ||
      s_build_regions(account, s_effective(layers, "regions")) < 0)
    return OPS_ERR_NOMEM;
  return s_build_tags(registry, account, layers);
}

static bool s_excluded(const json_t *entry)
{
  return json_is_true(json_object_get(entry, "exclude"));
}

/* The loaded registry's account from its entry at `index`; `overlay`: its role is ignored. */
static int s_build_account(struct ops_registry *registry, struct ops_registry_account *account,
                           size_t index, bool overlay)
{
  const json_t *entry = json_array_get(json_object_get(registry->root, "accounts"), index);
  const struct s_layers layers = {entry, json_object_get(registry->root, "defaults"), NULL, 0};
  const char *role = json_string_value(json_object_get(entry, "role"));

  account->index = index;
  account->id = json_string_value(json_object_get(entry, "id"));
  account->name = json_string_value(json_object_get(entry, "name"));
  account->environment = json_string_value(json_object_get(entry, "environment"));
  account->central = !overlay && role && strcmp(role, "central") == 0;
  if (account->central)
    registry->central = account;
  return s_build_effective(registry, account, &layers);
}

/* Fills by_id from the accounts built. */
static int s_index(struct ops_registry *registry)
{
  for (size_t i = 0; i < registry->count; i++) {
    struct ops_registry_account *account = &registry->accounts[i];
    if (!ops_hash_get(&registry->by_id, account->id) &&
        !ops_hash_put(&registry->by_id, account->id, account))
      return OPS_ERR_NOMEM;
  }
  return 0;
}

static int s_build(struct ops_registry *registry, bool overlay)
{
  const json_t *entries = json_object_get(registry->root, "accounts");
  size_t n = json_array_size(entries);
  if (n == 0)
    return 0;
  registry->accounts = calloc(n, sizeof(*registry->accounts));
  if (!registry->accounts)
    return OPS_ERR_NOMEM;
  for (size_t i = 0; i < n; i++) {
    if (s_excluded(json_array_get(entries, i)))
      continue;
    if (s_build_account(registry, &registry->accounts[registry->count++], i, overlay) < 0)
      return OPS_ERR_NOMEM;
  }
  return s_index(registry);
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

/* A new registry keeping --role (NULL or "": none), or NULL when out of memory. */
static struct ops_registry *s_registry_new(const char *role_override)
{
  struct ops_registry *registry = calloc(1, sizeof(*registry));
  if (registry && role_override && *role_override &&
      !(registry->role_override = strdup(role_override))) {
    free(registry);
    return NULL;
  }
  return registry;
}

int ops_registry_load_text(const char *source, const char *text, size_t len,
                           const struct ops_registry_options *options, struct ops_registry **out,
                           struct ops_error *err)
{
  static const struct ops_registry_options none = {0};
  struct ops_registry *registry = NULL;
  if (!options)
    options = &none;
  struct s_check check = {
      .source = source, .central_at = -1, .overlay = options->organizations, .err = err};
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

  registry = s_registry_new(options->role_override);
  if (!registry) {
    rc = ops_error_set(err, OPS_ERR_NOMEM, "out of memory loading %s", source);
    goto cleanup;
  }
  registry->root = json_incref(root);
  registry->from_organizations = s_says_organizations(root);
  rc = s_build(registry, check.overlay);
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

int ops_registry_load_file(const char *path, const struct ops_registry_options *options,
                           struct ops_registry **out, struct ops_error *err)
{
  char *text = NULL;
  size_t len = 0;
  *out = NULL;
  int rc = ops_file_read(path, OPS_REGISTRY_MAX_FILE_BYTES, OPS_ERR_REGISTRY, &text, &len, err);
  if (rc != OPS_OK)
    return rc;
  rc = ops_registry_load_text(path, text, len, options, out, err);
  free(text);
  return rc;
}

int ops_registry_load_env(const struct ops_registry_options *options, struct ops_registry **out,
                          struct ops_error *err)
{
  const char *text = getenv(OPS_REGISTRY_ENV);
  *out = NULL;
  if (!text || !*text)
    return 0;
  return ops_registry_load_text(OPS_REGISTRY_ENV_SOURCE, text, strlen(text), options, out, err);
}

void ops_registry_free(struct ops_registry *registry)
{
  if (!registry)
    return;
  for (size_t i = 0; i < registry->count && registry->accounts; i++) {
    free((void *)registry->accounts[i].regions);
    free((void *)registry->accounts[i].tags);
    free((void *)registry->accounts[i].role_chain);
  }
  free(registry->accounts);
  ops_hash_clear(&registry->by_id);
  free(registry->unlisted);
  free(registry->role_override);
  json_decref(registry->copies);
  json_decref(registry->root);
  free(registry);
}

/* --- the overlay of an Organizations listing ----------------------------------------------- */

/* An object of the overlay's entries by id. */
static json_t *s_entries_by_id(const json_t *root)
{
  const json_t *entries = json_object_get(root, "accounts");
  json_t *by_id = json_object();
  for (size_t i = 0; by_id && i < json_array_size(entries); i++) {
    json_t *entry = json_array_get(entries, i);
    if (json_object_set(by_id, json_string_value(json_object_get(entry, "id")), entry) != 0) {
      json_decref(by_id);
      return NULL;
    }
  }
  return by_id;
}

/* The listed account overlaid by its entry (NULL: none). */
static int s_build_listed(struct ops_registry *registry, struct ops_registry_account *account,
                          const struct ops_registry_listed *listed, const json_t *entry,
                          const char *central_id)
{
  const struct s_layers layers = {entry, json_object_get(registry->root, "defaults"), listed->tags,
                                  listed->tag_count};
  const char *name = json_string_value(json_object_get(entry, "name"));
  bool ok = true;
  account->id = s_copy(registry, listed->id, &ok);
  account->name = name                            ? name
                  : listed->name && *listed->name ? s_copy(registry, listed->name, &ok)
                                                  : account->id;
  account->environment = json_string_value(json_object_get(entry, "environment"));
  account->ou = s_copy(registry, listed->ou_id, &ok);
  account->ou_path = s_copy(registry, listed->ou_path, &ok);
  account->central = central_id && strcmp(listed->id, central_id) == 0;
  if (account->central)
    registry->central = account;
  if (!ok)
    return OPS_ERR_NOMEM;
  return s_build_effective(registry, account, &layers);
}

static int s_build_overlay(struct ops_registry *registry, const struct ops_registry_listed *listed,
                           size_t count, const char *central_id)
{
  json_t *by_id = s_entries_by_id(registry->root);
  if (!by_id || (count && !(registry->accounts = calloc(count, sizeof(*registry->accounts))))) {
    json_decref(by_id);
    return OPS_ERR_NOMEM;
  }
  int rc = 0;
  for (size_t i = 0; i < count && rc == 0; i++) {
    const json_t *entry = json_object_get(by_id, listed[i].id);
    if (entry)
      json_object_del(by_id, listed[i].id); /* what stays was not listed */
    if (s_excluded(entry))
      continue;
    struct ops_registry_account *account = &registry->accounts[registry->count];
    account->index = registry->count++;
    rc = s_build_listed(registry, account, &listed[i], entry, central_id);
  }
  if (rc == 0 && json_object_size(by_id) &&
      !(registry->unlisted = calloc(json_object_size(by_id), sizeof(*registry->unlisted))))
    rc = OPS_ERR_NOMEM;
  const json_t *entries = json_object_get(registry->root, "accounts");
  for (size_t i = 0; rc == 0 && i < json_array_size(entries); i++) {
    const char *id = json_string_value(json_object_get(json_array_get(entries, i), "id"));
    if (json_object_get(by_id, id))
      registry->unlisted[registry->unlisted_count++] = id;
  }
  json_decref(by_id);
  return rc == 0 ? s_index(registry) : rc;
}

int ops_registry_overlay(const struct ops_registry *overlay, const char *role_override,
                         const struct ops_registry_listed *listed, size_t count,
                         const char *central_id, struct ops_registry **out, struct ops_error *err)
{
  struct ops_registry *registry = s_registry_new(role_override && *role_override ? role_override
                                                 : overlay ? overlay->role_override
                                                           : NULL);
  *out = NULL;
  if (!registry || !(registry->copies = json_array())) {
    ops_registry_free(registry);
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory overlaying the registry");
  }
  registry->root = overlay ? json_incref(overlay->root) : NULL;
  registry->from_organizations = true;
  if (s_build_overlay(registry, listed, count, central_id) < 0) {
    ops_registry_free(registry);
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory overlaying the registry");
  }
  *out = registry;
  return 0;
}

/* --- reading ------------------------------------------------------------------------------- */

bool ops_registry_from_organizations(const struct ops_registry *registry)
{
  return registry->from_organizations;
}

size_t ops_registry_unlisted_count(const struct ops_registry *registry)
{
  return registry->unlisted_count;
}

const char *ops_registry_unlisted_id(const struct ops_registry *registry, size_t index)
{
  return index < registry->unlisted_count ? registry->unlisted[index] : NULL;
}

size_t ops_registry_count(const struct ops_registry *registry)
{
  return registry->count;
}

const struct ops_registry_account *ops_registry_at(const struct ops_registry *registry,
                                                   size_t index)
{
  return index < registry->count ? &registry->accounts[index] : NULL;
}

const struct ops_registry_account *ops_registry_find(const struct ops_registry *registry,
                                                     const char *id)
{
  return ops_hash_get(&registry->by_id, id);
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
