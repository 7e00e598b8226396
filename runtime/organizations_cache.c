/* organizations_cache.c: the cache file of organizations.h: a listing written as JSON (jansson)
 * to a temporary file beside the cache and renamed over it, and read back only when every field
 * is what this opsrun writes. Uses runtime/file.h to read and POSIX calls to write. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "runtime/file.h"
#include "runtime/organizations.h"

/* How far in the future a cache may say it was written (another machine's clock, a shared
 * home) before it is taken as corrupt rather than fresh. */
#define S_FUTURE_SLACK_SECONDS 300

/* A new string formatted as printf does, or NULL when out of memory. */
static char *s_format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *s_format(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *text = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (!text)
    return NULL;
  va_start(ap, fmt);
  vsnprintf(text, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return text;
}

/* $XDG_CACHE_HOME (only when absolute, as the XDG Base Directory Specification says), else
 * $HOME/.cache; NULL when neither can be had. */
static char *s_cache_home(const struct ops_env *env)
{
  const char *xdg = ops_env_get(env, "XDG_CACHE_HOME");
  const char *home = ops_env_get(env, "HOME");
  if (xdg && xdg[0] == '/')
    return strdup(xdg);
  return home ? s_format("%s/.cache", home) : NULL;
}

int ops_org_cache_path(const struct ops_env *env, const char *caller_account, char **path,
                       struct ops_error *err)
{
  *path = NULL;
  if (!ops_org_is_account_id(caller_account))
    return ops_error_set(err, OPS_ERR_CONFIG,
                         "the Organizations cache is kept per caller account, and '%.40s' is not "
                         "an account id (12 digits)",
                         caller_account ? caller_account : "");
  if (!ops_env_get(env, "HOME") && !ops_env_get(env, "XDG_CACHE_HOME"))
    return ops_error_set(err, OPS_ERR_CONFIG,
                         "neither HOME nor XDG_CACHE_HOME is set: no place for the Organizations "
                         "cache");
  char *base = s_cache_home(env);
  if (!base)
    return ops_error_set(err, OPS_ERR_CONFIG,
                         "XDG_CACHE_HOME is not an absolute path and HOME is not set: no place "
                         "for the Organizations cache");
  *path = s_format("%s/opsrun/organizations-%s.json", base, caller_account);
  free(base);
  return *path ? OPS_OK : ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
}

/* --- writing --- */

static json_t *s_tags_json(const struct ops_org_account *account)
{
  if (!account->tags_fetched)
    return json_null();
  json_t *tags = json_object();
  for (size_t i = 0; tags && i < account->tag_count; i++) {
    if (json_object_set_new(tags, account->tags[i].key, json_string(account->tags[i].value))) {
      json_decref(tags);
      return NULL;
    }
  }
  return tags;
}

static json_t *s_account_json(const struct ops_org_account *account)
{
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o?}", "id", account->id, "name", account->name,
                   "email", account->email, "arn", account->arn, "ou", account->ou, "ou_path",
                   account->ou_path, "tags", s_tags_json(account));
}

static json_t *s_listing_json(const char *caller_account, int64_t written,
                              const struct ops_org_listing *listing)
{
  json_t *accounts = json_array(), *skipped = json_object(), *units = json_object();
  bool built = accounts && skipped && units;
  for (size_t i = 0; built && i < listing->count; i++)
    built = json_array_append_new(accounts, s_account_json(&listing->accounts[i])) == 0;
  for (size_t i = 0; built && i < listing->skipped_count; i++)
    built = json_object_set_new(skipped, listing->skipped[i].state,
                                json_integer((json_int_t)listing->skipped[i].count)) == 0;
  for (size_t i = 0; built && i < listing->unit_count; i++)
    built =
        json_object_set_new(units, listing->units[i].id, json_string(listing->units[i].path)) == 0;
  if (!built) {
    json_decref(accounts);
    json_decref(skipped);
    json_decref(units);
    return NULL;
  }
  return json_pack("{s:i, s:s, s:I, s:o, s:o, s:o}", "version", OPS_ORG_CACHE_VERSION, "caller",
                   caller_account, "written", (json_int_t)written, "accounts", accounts, "skipped",
                   skipped, "units", units);
}

/* Makes `dir` (mode 0700) unless it is there. */
static int s_make_dir(const char *dir, struct ops_error *err)
{
  if (mkdir(dir, 0700) == 0 || errno == EEXIST)
    return OPS_OK;
  return ops_error_set(err, OPS_ERR_CONFIG, "%s: cannot make the directory: %s", dir,
                       strerror(errno));
}

/* The cache's directory and every one above it that is missing ($XDG_CACHE_HOME may not exist
 * yet: XDG asks that it be made). */
static int s_make_dirs(const char *path, struct ops_error *err)
{
  char *dir = strdup(path);
  if (!dir)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  *strrchr(dir, '/') = '\0'; /* .../opsrun */
  int rc = OPS_OK;
  for (char *slash = strchr(dir + 1, '/'); rc == OPS_OK && slash; slash = strchr(slash + 1, '/')) {
    *slash = '\0';
    rc = s_make_dir(dir, err);
    *slash = '/';
  }
  if (rc == OPS_OK)
    rc = s_make_dir(dir, err);
  free(dir);
  return rc;
}

int ops_org_cache_save(const struct ops_env *env, struct ops_clock clock,
                       const char *caller_account, const struct ops_org_listing *listing,
                       struct ops_error *err)
{
  char *path = NULL, *text = NULL;
  json_t *document = NULL;
  int rc = ops_org_cache_path(env, caller_account, &path, err);
  if (rc != OPS_OK)
    goto cleanup;
  /* a listing read from the cache keeps its age when it is saved again (with tags) */
  int64_t written = listing->cached_at ? listing->cached_at : (int64_t)clock.now(clock.self);
  document = s_listing_json(caller_account, written, listing);
  text = document ? json_dumps(document, JSON_INDENT(1) | JSON_ENSURE_ASCII) : NULL;
  if (!text) {
    rc = ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
    goto cleanup;
  }
  rc = s_make_dirs(path, err);
  if (rc == OPS_OK)
    rc = ops_file_replace(path, text, strlen(text), OPS_ERR_CONFIG, err);
cleanup:
  free(text);
  json_decref(document);
  free(path);
  return rc;
}

/* --- reading --- */

/* Why a cache is not used, for the warning. */
struct s_why {
  char text[200];
};

static bool s_reject(struct s_why *why, const char *what, size_t index, const char *field)
{
  if (field)
    snprintf(why->text, sizeof(why->text), "accounts[%zu]%s%s %s", index, field[0] ? "." : "",
             field, what);
  else
    snprintf(why->text, sizeof(why->text), "%s", what);
  return false;
}

/* A copy of the string member `name` of `object` into *out; false when it is not a string (or
 * out of memory). `nonempty`: "" is refused too. */
static bool s_copy_string(const json_t *object, const char *name, bool nonempty, char **out)
{
  const char *value = json_string_value(json_object_get(object, name));
  if (!value || (nonempty && !value[0]))
    return false;
  *out = strdup(value);
  return *out != NULL;
}

static bool s_read_tags(const json_t *tags, struct ops_org_account *account, size_t index,
                        struct s_why *why)
{
  if (json_is_null(tags))
    return true;
  if (!json_is_object(tags))
    return s_reject(why, "is neither null nor an object", index, "tags");
  account->tags_fetched = true;
  size_t count = json_object_size(tags);
  if (!count)
    return true;
  if (!(account->tags = calloc(count, sizeof(*account->tags))))
    return s_reject(why, "out of memory", 0, NULL);
  const char *key;
  json_t *value;
  json_object_foreach((json_t *)tags, key, value)
  {
    if (!json_is_string(value))
      return s_reject(why, "has a value that is not a string", index, "tags");
    struct ops_org_tag *tag = &account->tags[account->tag_count++];
    tag->key = strdup(key);
    tag->value = strdup(json_string_value(value));
    if (!tag->key || !tag->value)
      return s_reject(why, "out of memory", 0, NULL);
  }
  ops_org_account_sort_tags(account);
  return true;
}

static bool s_read_account(const json_t *item, struct ops_org_account *account, size_t index,
                           struct s_why *why)
{
  static const struct {
    const char *name;
    size_t offset;
    bool nonempty;
  } fields[] = {
      {"name", offsetof(struct ops_org_account, name), false},
      {"email", offsetof(struct ops_org_account, email), false},
      {"arn", offsetof(struct ops_org_account, arn), false},
      {"ou", offsetof(struct ops_org_account, ou), true},
      {"ou_path", offsetof(struct ops_org_account, ou_path), true},
  };
  if (!json_is_object(item))
    return s_reject(why, "is not an object", index, "");
  if (!s_copy_string(item, "id", true, &account->id) || !ops_org_is_account_id(account->id))
    return s_reject(why, "is not an account id (12 digits)", index, "id");
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
    char **slot = (char **)((char *)account + fields[i].offset);
    if (!s_copy_string(item, fields[i].name, fields[i].nonempty, slot))
      return s_reject(
          why, fields[i].nonempty ? "is not a string of at least one character" : "is not a string",
          index, fields[i].name);
  }
  if (!json_object_get(item, "tags"))
    return s_reject(why, "is missing", index, "tags");
  return s_read_tags(json_object_get(item, "tags"), account, index, why);
}

static bool s_read_accounts(const json_t *accounts, struct ops_org_listing *listing,
                            struct s_why *why)
{
  if (!json_is_array(accounts))
    return s_reject(why, "accounts is not a list", 0, NULL);
  size_t count = json_array_size(accounts);
  if (count && !(listing->accounts = calloc(count, sizeof(*listing->accounts))))
    return s_reject(why, "out of memory", 0, NULL);
  for (size_t i = 0; i < count; i++) {
    struct ops_org_account *account = &listing->accounts[listing->count++];
    if (!s_read_account(json_array_get(accounts, i), account, i, why))
      return false;
    if (i > 0 && strcmp(listing->accounts[i - 1].id, account->id) >= 0)
      return s_reject(why, "is not after the one before it (ids sorted, each once)", i, "id");
  }
  return true;
}

static bool s_read_skipped(const json_t *skipped, struct ops_org_listing *listing,
                           struct s_why *why)
{
  if (!json_is_object(skipped))
    return s_reject(why, "skipped is not an object", 0, NULL);
  size_t count = json_object_size(skipped);
  if (count && !(listing->skipped = calloc(count, sizeof(*listing->skipped))))
    return s_reject(why, "out of memory", 0, NULL);
  const char *state;
  json_t *value;
  json_object_foreach((json_t *)skipped, state, value)
  {
    if (!json_is_integer(value) || json_integer_value(value) < 0)
      return s_reject(why, "skipped has a count that is not a whole number", 0, NULL);
    struct ops_org_skipped *entry = &listing->skipped[listing->skipped_count++];
    entry->count = (size_t)json_integer_value(value);
    if (!(entry->state = strdup(state)))
      return s_reject(why, "out of memory", 0, NULL);
  }
  return true;
}

static bool s_read_units(const json_t *units, struct ops_org_listing *listing, struct s_why *why)
{
  if (!json_is_object(units))
    return s_reject(why, "units is not an object", 0, NULL);
  size_t count = json_object_size(units);
  if (count && !(listing->units = calloc(count, sizeof(*listing->units))))
    return s_reject(why, "out of memory", 0, NULL);
  const char *id;
  json_t *path;
  json_object_foreach((json_t *)units, id, path)
  {
    if (!json_is_string(path) || !id[0] || !json_string_value(path)[0])
      return s_reject(why, "units has an id or a path that is not a string", 0, NULL);
    struct ops_org_unit *unit = &listing->units[listing->unit_count++];
    if (!(unit->id = strdup(id)) || !(unit->path = strdup(json_string_value(path))))
      return s_reject(why, "out of memory", 0, NULL);
  }
  ops_org_listing_sort_units(listing);
  return true;
}

/* Reads the listing out of `document`, whose header has been checked. */
static struct ops_org_listing *s_read_listing(const json_t *document, int64_t written,
                                              struct s_why *why)
{
  struct ops_org_listing *listing = calloc(1, sizeof(*listing));
  if (!listing) {
    s_reject(why, "out of memory", 0, NULL);
    return NULL;
  }
  listing->cached_at = written;
  if (!s_read_accounts(json_object_get(document, "accounts"), listing, why) ||
      !s_read_skipped(json_object_get(document, "skipped"), listing, why) ||
      !s_read_units(json_object_get(document, "units"), listing, why)) {
    ops_org_listing_free(listing);
    return NULL;
  }
  return listing;
}

/* Checks the version, the caller and the time written, into *written. */
static bool s_read_header(const json_t *document, const char *caller_account, double now,
                          int64_t *written, struct s_why *why)
{
  const json_t *version = json_object_get(document, "version");
  const json_t *stamp = json_object_get(document, "written");
  const char *caller = json_string_value(json_object_get(document, "caller"));
  if (!json_is_object(document))
    return s_reject(why, "is not a JSON object", 0, NULL);
  if (!json_is_integer(version) || json_integer_value(version) != OPS_ORG_CACHE_VERSION) {
    snprintf(why->text, sizeof(why->text), "is not of version %d of the format",
             OPS_ORG_CACHE_VERSION);
    return false;
  }
  if (!caller || strcmp(caller, caller_account) != 0) {
    snprintf(why->text, sizeof(why->text), "is of another caller account (%.20s, not %s)",
             caller ? caller : "none", caller_account);
    return false;
  }
  if (!json_is_integer(stamp) || json_integer_value(stamp) <= 0)
    return s_reject(why, "has no time written", 0, NULL);
  *written = (int64_t)json_integer_value(stamp);
  if ((double)*written > now + S_FUTURE_SLACK_SECONDS)
    return s_reject(why, "was written in the future (check this machine's clock)", 0, NULL);
  return true;
}

/* A file that others may write is not ours to trust, whatever it holds. */
static bool s_private(const char *path, struct s_why *why)
{
  struct stat st;
  if (stat(path, &st) != 0)
    return s_reject(why, "cannot be examined", 0, NULL);
  if (st.st_uid != geteuid() || (st.st_mode & 022))
    return s_reject(why, "is writable by others, or not owned by this user", 0, NULL);
  return true;
}

enum ops_org_cache_outcome ops_org_cache_load(const struct ops_env *env, struct ops_clock clock,
                                              const char *caller_account, int64_t max_age_seconds,
                                              struct ops_org_listing **listing,
                                              struct ops_error *warning)
{
  char *path = NULL, *text = NULL;
  size_t len = 0;
  json_t *document = NULL;
  struct s_why why = {{0}};
  int64_t written = 0;
  double now = clock.now(clock.self);
  enum ops_org_cache_outcome outcome = OPS_ORG_CACHE_IGNORED;
  *listing = NULL;
  if (ops_org_cache_path(env, caller_account, &path, warning) != OPS_OK)
    goto cleanup; /* the warning says why */
  if (ops_file_read(path, OPS_ORG_CACHE_MAX_BYTES, OPS_ERR_CONFIG, &text, &len, warning) !=
      OPS_OK) {
    if (errno == ENOENT)
      outcome = OPS_ORG_CACHE_MISSING;
    else
      snprintf(why.text, sizeof(why.text), "cannot be read (%s)",
               errno == EFBIG ? "too large" : strerror(errno));
  } else if (!(document = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL)))
    snprintf(why.text, sizeof(why.text), "is not JSON");
  else if (s_private(path, &why) && s_read_header(document, caller_account, now, &written, &why)) {
    if (now - (double)written > (double)max_age_seconds)
      outcome = OPS_ORG_CACHE_STALE;
    else if ((*listing = s_read_listing(document, written, &why)))
      outcome = OPS_ORG_CACHE_FRESH;
  }
  if (outcome == OPS_ORG_CACHE_IGNORED)
    ops_error_set(warning, OPS_ERR_CONFIG,
                  "the Organizations cache %s %s: not used, Organizations is read instead", path,
                  why.text);
cleanup:
  if (outcome != OPS_ORG_CACHE_IGNORED && warning)
    *warning = (struct ops_error){0};
  json_decref(document);
  free(text);
  free(path);
  return outcome;
}
