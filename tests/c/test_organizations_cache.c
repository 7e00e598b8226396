/* test_organizations_cache.c: the Organizations cache file in a temporary XDG_CACHE_HOME at a
 * fixed time: its path, a round trip (tags and skipped states kept, mode 0600 in a 0700
 * directory, replaced by rename, no temporary left behind), and the files that are not used:
 * missing, stale (silently), corrupt, foreign, of another version, invalid in a field, written
 * in the future or writable by others (with a warning naming the file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fakes.h"
#include "runtime/organizations.h"

#define CALLER "999999999999"
#define NOW    1700000000.0

struct fixture {
  char root[64];        /* the temporary directory */
  char cache_home[128]; /* XDG_CACHE_HOME, made by the first save */
  char path[256];       /* the cache file of CALLER */
  struct fake_env env;
  double now;
};

static int setup(void **state)
{
  struct fixture *f = calloc(1, sizeof(*f));
  snprintf(f->root, sizeof(f->root), "/tmp/test_org_cache.XXXXXX");
  assert_non_null(mkdtemp(f->root));
  snprintf(f->cache_home, sizeof(f->cache_home), "%s/cache", f->root);
  snprintf(f->path, sizeof(f->path), "%s/opsrun/organizations-" CALLER ".json", f->cache_home);
  fake_env_set(&f->env, "HOME", "/nonexistent");
  fake_env_set(&f->env, "XDG_CACHE_HOME", f->cache_home);
  f->now = NOW;
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  char command[200];
  snprintf(command, sizeof(command), "rm -rf '%s'", f->root);
  assert_int_equal(system(command), 0);
  free(f);
  return 0;
}

/* Two accounts, the first with two tags, the second with none fetched; one suspended skipped. */
static struct ops_org_listing *s_listing(void)
{
  struct ops_org_listing *l = calloc(1, sizeof(*l));
  static const char *const ids[] = {"222222222222", "333333333333"};
  static const char *const paths[] = {"Root/Workloads", "Root/Workloads/Prod \"p\""};
  l->accounts = calloc(2, sizeof(*l->accounts));
  l->count = 2;
  for (size_t i = 0; i < 2; i++) {
    struct ops_org_account *a = &l->accounts[i];
    a->id = strdup(ids[i]);
    a->name = strdup(i ? "Zoë" : "payments");
    a->email = strdup("ops@example.com");
    a->arn = strdup("arn:aws:organizations::999999999999:account/o-x/1");
    a->ou = strdup(i ? "ou-p" : "ou-w");
    a->ou_path = strdup(paths[i]);
  }
  struct ops_org_account *tagged = &l->accounts[0];
  tagged->tags_fetched = true;
  tagged->tag_count = 2;
  tagged->tags = calloc(2, sizeof(*tagged->tags));
  tagged->tags[0] = (struct ops_org_tag){strdup("env"), strdup("prod")};
  tagged->tags[1] = (struct ops_org_tag){strdup("team"), strdup("")};
  l->skipped = calloc(1, sizeof(*l->skipped));
  l->skipped[0] = (struct ops_org_skipped){strdup("SUSPENDED"), 3};
  l->skipped_count = 1;
  l->units = calloc(2, sizeof(*l->units));
  l->units[0] = (struct ops_org_unit){strdup("ou-w"), strdup("Root/Workloads")};
  l->units[1] = (struct ops_org_unit){strdup("r-1"), strdup("Root")};
  l->unit_count = 2;
  return l;
}

static void s_save(struct fixture *f)
{
  struct ops_env env = fake_env_get(&f->env);
  struct ops_org_listing *l = s_listing();
  struct ops_error err = {0};
  assert_int_equal(ops_org_cache_save(&env, fake_clock(&f->now), CALLER, l, &err), OPS_OK);
  ops_org_listing_free(l);
}

static enum ops_org_cache_outcome s_load(struct fixture *f, int64_t max_age,
                                         struct ops_org_listing **l, struct ops_error *warning)
{
  struct ops_env env = fake_env_get(&f->env);
  *warning = (struct ops_error){0};
  return ops_org_cache_load(&env, fake_clock(&f->now), CALLER, max_age, l, warning);
}

static size_t s_files_in(const char *dir)
{
  DIR *d = opendir(dir);
  size_t n = 0;
  assert_non_null(d);
  for (struct dirent *e; (e = readdir(d));)
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

static void the_path_follows_xdg_and_needs_an_account_id(void **state)
{
  struct fixture *f = *state;
  struct ops_env env = fake_env_get(&f->env);
  struct ops_error err = {0};
  char *path = NULL;
  assert_int_equal(ops_org_cache_path(&env, CALLER, &path, &err), OPS_OK);
  assert_string_equal(path, f->path);
  free(path);
  fake_env_set(&f->env, "XDG_CACHE_HOME", "relative/cache"); /* ignored, as XDG says */
  fake_env_set(&f->env, "HOME", "/home/ops");
  assert_int_equal(ops_org_cache_path(&env, CALLER, &path, &err), OPS_OK);
  assert_string_equal(path, "/home/ops/.cache/opsrun/organizations-" CALLER ".json");
  free(path);
  assert_int_equal(ops_org_cache_path(&env, "../../etc/x", &path, &err), OPS_ERR_CONFIG);
  assert_null(path);
  fake_env_set(&f->env, "HOME", NULL);
  assert_int_equal(ops_org_cache_path(&env, CALLER, &path, &err), OPS_ERR_CONFIG);
}

static void a_saved_listing_is_read_back_whole(void **state)
{
  struct fixture *f = *state;
  struct ops_org_listing *l = NULL;
  struct ops_error warning;
  struct stat st;
  s_save(f);
  assert_int_equal(stat(f->path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  char dir[200];
  snprintf(dir, sizeof(dir), "%s/opsrun", f->cache_home);
  assert_int_equal(stat(dir, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
  assert_int_equal(s_files_in(dir), 1);

  f->now = NOW + 3600;
  assert_int_equal(s_load(f, 3600, &l, &warning), OPS_ORG_CACHE_FRESH);
  assert_int_equal(warning.kind, OPS_OK);
  assert_int_equal(l->cached_at, (int64_t)NOW);
  assert_int_equal(l->count, 2);
  assert_string_equal(l->accounts[0].id, "222222222222");
  assert_string_equal(l->accounts[0].ou, "ou-w");
  assert_string_equal(l->accounts[0].ou_path, "Root/Workloads");
  assert_string_equal(l->accounts[0].email, "ops@example.com");
  assert_true(l->accounts[0].tags_fetched);
  assert_int_equal(l->accounts[0].tag_count, 2);
  assert_string_equal(l->accounts[0].tags[0].key, "env");
  assert_string_equal(l->accounts[0].tags[0].value, "prod");
  assert_string_equal(l->accounts[0].tags[1].key, "team");
  assert_string_equal(l->accounts[0].tags[1].value, "");
  assert_string_equal(l->accounts[1].name, "Zoë");
  assert_string_equal(l->accounts[1].ou_path, "Root/Workloads/Prod \"p\"");
  assert_false(l->accounts[1].tags_fetched);
  assert_false(ops_org_listing_has_tags(l));
  assert_int_equal(l->skipped_count, 1);
  assert_string_equal(l->skipped[0].state, "SUSPENDED");
  assert_int_equal(l->skipped[0].count, 3);
  assert_int_equal(l->unit_count, 2);
  assert_string_equal(ops_org_listing_unit_path(l, "ou-w"), "Root/Workloads");
  assert_string_equal(ops_org_listing_unit_path(l, "r-1"), "Root");
  ops_org_listing_free(l);
}

static void a_save_replaces_the_file_by_rename(void **state)
{
  struct fixture *f = *state;
  struct stat before, after;
  s_save(f);
  assert_int_equal(stat(f->path, &before), 0);
  f->now = NOW + 10;
  s_save(f);
  assert_int_equal(stat(f->path, &after), 0);
  assert_int_not_equal(before.st_ino, after.st_ino); /* a new file, never rewritten in place */
  char dir[200];
  snprintf(dir, sizeof(dir), "%s/opsrun", f->cache_home);
  assert_int_equal(s_files_in(dir), 1);
}

/* XDG_CACHE_HOME need not exist yet; a listing read from the cache and saved again (with its
 * tags, say) keeps the time it was read from Organizations. */
static void a_save_makes_missing_directories_and_keeps_a_cached_listings_age(void **state)
{
  struct fixture *f = *state;
  snprintf(f->cache_home, sizeof(f->cache_home), "%s/new/deep", f->root);
  snprintf(f->path, sizeof(f->path), "%s/opsrun/organizations-" CALLER ".json", f->cache_home);
  fake_env_set(&f->env, "XDG_CACHE_HOME", f->cache_home);
  s_save(f);
  struct ops_org_listing *l = NULL;
  struct ops_error warning;
  f->now = NOW + 600;
  assert_int_equal(s_load(f, 3600, &l, &warning), OPS_ORG_CACHE_FRESH);
  struct ops_env env = fake_env_get(&f->env);
  struct ops_error err = {0};
  assert_int_equal(ops_org_cache_save(&env, fake_clock(&f->now), CALLER, l, &err), OPS_OK);
  ops_org_listing_free(l);
  f->now = NOW + 3601;
  assert_int_equal(s_load(f, 3600, &l, &warning), OPS_ORG_CACHE_STALE);
  assert_null(l);
}

static void missing_and_stale_caches_are_not_used_silently(void **state)
{
  struct fixture *f = *state;
  struct ops_org_listing *l = NULL;
  struct ops_error warning;
  assert_int_equal(s_load(f, 3600, &l, &warning), OPS_ORG_CACHE_MISSING);
  assert_null(l);
  assert_int_equal(warning.kind, OPS_OK);
  s_save(f);
  f->now = NOW + 3601;
  assert_int_equal(s_load(f, 3600, &l, &warning), OPS_ORG_CACHE_STALE);
  assert_null(l);
  assert_int_equal(warning.kind, OPS_OK);
}

/* A cache of CALLER written at NOW whose accounts are ACCOUNTS (JSON text). */
#define CACHE(ACCOUNTS)                                                                            \
  "{\"version\":1,\"caller\":\"" CALLER "\",\"written\":1700000000,\"accounts\":" ACCOUNTS         \
  ",\"skipped\":{},\"units\":{\"r-1\":\"Root\"}}"
#define ACCOUNT(ID)                                                                                \
  "{\"id\":\"" ID "\",\"name\":\"n\",\"email\":\"e\",\"arn\":\"a\",\"ou\":\"r-1\",\"ou_path\":"    \
  "\"Root\",\"tags\":null}"

static const struct {
  const char *text;
  const char *why; /* what the warning says after the path */
} s_unusable[] = {
    {"{\"version\":1,", "is not JSON"},
    {"[]", "is not a JSON object"},
    {"{\"version\":2,\"caller\":\"" CALLER "\",\"written\":1700000000,\"accounts\":[],"
     "\"skipped\":{}}",
     "is not of version 1 of the format"},
    {"{\"version\":1,\"caller\":\"111111111111\",\"written\":1700000000,\"accounts\":[],"
     "\"skipped\":{}}",
     "is of another caller account (111111111111, not " CALLER ")"},
    {"{\"version\":1,\"caller\":\"" CALLER "\",\"written\":1800000000,\"accounts\":[],"
     "\"skipped\":{}}",
     "was written in the future"},
    {"{\"version\":1,\"caller\":\"" CALLER "\",\"written\":\"today\",\"accounts\":[],"
     "\"skipped\":{}}",
     "has no time written"},
    {CACHE("[" ACCOUNT("12345") "]"), "accounts[0].id is not an account id (12 digits)"},
    {CACHE("[" ACCOUNT("2222222222222") "]"), "accounts[0].id is not an account id (12 digits)"},
    {CACHE("[" ACCOUNT("333333333333") "," ACCOUNT("222222222222") "]"),
     "accounts[1].id is not after the one before it"},
    {CACHE("[" ACCOUNT("222222222222") "," ACCOUNT("222222222222") "]"),
     "accounts[1].id is not after the one before it"},
    {CACHE("[{\"id\":\"222222222222\",\"name\":1,\"email\":\"e\",\"arn\":\"a\",\"ou\":\"r-1\","
           "\"ou_path\":\"Root\",\"tags\":null}]"),
     "accounts[0].name is not a string"},
    {CACHE("[{\"id\":\"222222222222\",\"name\":\"n\",\"email\":\"e\",\"arn\":\"a\",\"ou\":\"r-1\","
           "\"ou_path\":\"\",\"tags\":null}]"),
     "accounts[0].ou_path is not a string of at least one character"},
    {CACHE("[{\"id\":\"222222222222\",\"name\":\"n\",\"email\":\"e\",\"arn\":\"a\",\"ou\":\"r-1\","
           "\"ou_path\":\"Root\",\"tags\":{\"team\":7}}]"),
     "accounts[0].tags has a value that is not a string"},
    {CACHE("[{\"id\":\"222222222222\",\"name\":\"n\",\"email\":\"e\",\"arn\":\"a\",\"ou\":\"r-1\","
           "\"ou_path\":\"Root\"}]"),
     "accounts[0].tags is missing"},
    {CACHE("[1]"), "accounts[0] is not an object"},
    {CACHE("{}"), "accounts is not a list"},
    {"{\"version\":1,\"caller\":\"" CALLER "\",\"written\":1700000000,\"accounts\":[],"
     "\"skipped\":{\"CLOSED\":-1}}",
     "skipped has a count that is not a whole number"},
    {"{\"version\":1,\"caller\":\"" CALLER "\",\"written\":1700000000,\"accounts\":[],"
     "\"skipped\":{},\"units\":{\"r-1\":7}}",
     "units has an id or a path that is not a string"},
    {"{\"version\":1,\"caller\":\"" CALLER "\",\"written\":1700000000,\"accounts\":[],"
     "\"skipped\":{}}",
     "units is not an object"},
};

static void s_write(const struct fixture *f, const char *text, mode_t mode)
{
  char dir[200];
  snprintf(dir, sizeof(dir), "%s", f->cache_home);
  mkdir(dir, 0700);
  snprintf(dir, sizeof(dir), "%s/opsrun", f->cache_home);
  mkdir(dir, 0700);
  FILE *file = fopen(f->path, "w");
  assert_non_null(file);
  fputs(text, file);
  fclose(file);
  assert_int_equal(chmod(f->path, mode), 0);
}

static void corrupt_foreign_and_invalid_caches_are_ignored_with_a_warning(void **state)
{
  struct fixture *f = *state;
  for (size_t i = 0; i < sizeof(s_unusable) / sizeof(s_unusable[0]); i++) {
    struct ops_org_listing *l = NULL;
    struct ops_error warning;
    char expected[400];
    s_write(f, s_unusable[i].text, 0600);
    assert_int_equal(s_load(f, 3600, &l, &warning), OPS_ORG_CACHE_IGNORED);
    assert_null(l);
    assert_int_equal(warning.kind, OPS_ERR_CONFIG);
    snprintf(expected, sizeof(expected), "the Organizations cache %s %s", f->path,
             s_unusable[i].why);
    if (strncmp(warning.message, expected, strlen(expected)) != 0)
      fail_msg("case %zu: '%s'", i, warning.message);
    assert_non_null(strstr(warning.message, ": not used, Organizations is read instead"));
  }
}

static void a_valid_file_that_others_may_write_is_not_trusted(void **state)
{
  struct fixture *f = *state;
  struct ops_org_listing *l = NULL;
  struct ops_error warning;
  s_write(f, CACHE("[" ACCOUNT("222222222222") "]"), 0600);
  assert_int_equal(s_load(f, 3600, &l, &warning), OPS_ORG_CACHE_FRESH);
  ops_org_listing_free(l);
  assert_int_equal(chmod(f->path, 0666), 0);
  assert_int_equal(s_load(f, 3600, &l, &warning), OPS_ORG_CACHE_IGNORED);
  assert_null(l);
  assert_non_null(strstr(warning.message, "is writable by others"));
}

static void an_unreadable_cache_is_ignored_with_a_warning(void **state)
{
  struct fixture *f = *state;
  struct ops_org_listing *l = NULL;
  struct ops_error warning;
  char dir[200];
  snprintf(dir, sizeof(dir), "%s/opsrun", f->cache_home);
  s_write(f, "{}", 0600);
  unlink(f->path);
  assert_int_equal(mkdir(f->path, 0700), 0); /* a directory where the file should be */
  assert_int_equal(s_load(f, 3600, &l, &warning), OPS_ORG_CACHE_IGNORED);
  assert_null(l);
  assert_non_null(strstr(warning.message, f->path));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(the_path_follows_xdg_and_needs_an_account_id, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_saved_listing_is_read_back_whole, setup, teardown),
      cmocka_unit_test_setup_teardown(a_save_replaces_the_file_by_rename, setup, teardown),
      cmocka_unit_test_setup_teardown(missing_and_stale_caches_are_not_used_silently, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(corrupt_foreign_and_invalid_caches_are_ignored_with_a_warning,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          a_save_makes_missing_directories_and_keeps_a_cached_listings_age, setup, teardown),
      cmocka_unit_test_setup_teardown(a_valid_file_that_others_may_write_is_not_trusted, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(an_unreadable_cache_is_ignored_with_a_warning, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
