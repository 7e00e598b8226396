/* test_registry.c: runtime/registry.h: a valid registry's effective values and fallbacks, the
 * --role override, $ACCOUNT_REGISTRY text, files, --shard K/N, and a table of malformed
 * registries, each with the exact one-line message it must be rejected with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h> /* after the three it needs */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/registry.h"

static const char s_valid[] =
    "{\n"
    "  \"defaults\": { \"role_name\": \"DefaultRole\", \"regions\": [\"us-east-1\"],\n"
    "                \"session_duration\": 7200, \"tags\": { \"owner\": \"ops\", \"team\": "
    "\"core\" } },\n"
    "  \"accounts\": [\n"
    "    { \"id\": \"111111111111\", \"name\": \"Central\", \"environment\": \"ops\", \"role\": "
    "\"central\" },\n"
    "    { \"id\": \"222222222222\", \"name\": \"Production\", \"environment\": \"prod\",\n"
    "      \"role\": \"workload\", \"role_name\": \"OpsReadOnly\", \"external_id\": \"x-123\",\n"
    "      \"regions\": [\"us-east-1\", \"eu-west-1\"], \"session_duration\": 900,\n"
    "      \"tags\": { \"team\": \"payments\" } },\n"
    "    { \"id\": \"333333333333\", \"name\": \"Staging\", \"environment\": \"staging\" }\n"
    "  ]\n"
    "}\n";

static struct ops_registry *s_load(const char *text, const char *role_override)
{
  struct ops_registry *registry = NULL;
  struct ops_error err = {0};
  int rc =
      ops_registry_load_text("registry.json", text, strlen(text), role_override, &registry, &err);
  if (rc != 0)
    fail_msg("a valid registry was rejected: %s", err.message);
  assert_non_null(registry);
  return registry;
}

static const char *s_tag(const struct ops_registry_account *account, const char *key)
{
  for (size_t i = 0; i < account->tag_count; i++)
    if (strcmp(account->tags[i].key, key) == 0)
      return account->tags[i].value;
  return NULL;
}

static void own_values_win_over_defaults(void **state)
{
  (void)state;
  struct ops_registry *registry = s_load(s_valid, NULL);
  assert_int_equal(ops_registry_count(registry), 3);
  const struct ops_registry_account *prod = ops_registry_at(registry, 1);
  assert_int_equal(prod->index, 1);
  assert_string_equal(prod->id, "222222222222");
  assert_string_equal(prod->name, "Production");
  assert_string_equal(prod->environment, "prod");
  assert_false(prod->central);
  assert_string_equal(prod->role_name, "OpsReadOnly");
  assert_string_equal(prod->external_id, "x-123");
  assert_int_equal(prod->region_count, 2);
  assert_string_equal(prod->regions[0], "us-east-1");
  assert_string_equal(prod->regions[1], "eu-west-1");
  assert_int_equal(prod->session_duration, 900);
  assert_int_equal(prod->tag_count, 2);
  assert_string_equal(prod->tags[0].key, "team"); /* own tags first, then the defaults' */
  assert_string_equal(s_tag(prod, "team"), "payments");
  assert_string_equal(s_tag(prod, "owner"), "ops");
  ops_registry_free(registry);
}

static void missing_values_fall_back_to_defaults(void **state)
{
  (void)state;
  struct ops_registry *registry = s_load(s_valid, NULL);
  const struct ops_registry_account *staging = ops_registry_at(registry, 2);
  assert_string_equal(staging->role_name, "DefaultRole");
  assert_null(staging->external_id);
  assert_int_equal(staging->region_count, 1);
  assert_string_equal(staging->regions[0], "us-east-1");
  assert_int_equal(staging->session_duration, 7200);
  assert_int_equal(staging->tag_count, 2);
  assert_string_equal(s_tag(staging, "team"), "core");
  ops_registry_free(registry);
}

static void without_defaults_the_builtin_fallbacks_apply(void **state)
{
  (void)state;
  struct ops_registry *registry =
      s_load("{\"accounts\": [{\"id\": \"222222222222\", \"name\": \"Prod\"}]}", NULL);
  const struct ops_registry_account *prod = ops_registry_at(registry, 0);
  assert_string_equal(prod->role_name, OPS_REGISTRY_DEFAULT_ROLE_NAME);
  assert_string_equal(prod->role_name, "CentralOpsTargetRole");
  assert_null(prod->environment);
  assert_null(prod->external_id);
  assert_int_equal(prod->region_count, 0); /* the caller uses the operating region */
  assert_int_equal(prod->session_duration, 3600);
  assert_int_equal(prod->tag_count, 0);
  assert_null(ops_registry_central(registry));
  ops_registry_free(registry);
}

static void the_role_option_wins_over_the_registry(void **state)
{
  (void)state;
  struct ops_registry *registry = s_load(s_valid, "FromCommandLine");
  for (size_t i = 0; i < ops_registry_count(registry); i++)
    assert_string_equal(ops_registry_at(registry, i)->role_name, "FromCommandLine");
  ops_registry_free(registry);
  registry = s_load(s_valid, ""); /* an empty override is no override */
  assert_string_equal(ops_registry_at(registry, 1)->role_name, "OpsReadOnly");
  ops_registry_free(registry);
}

static void the_central_account_is_found_and_not_a_workload(void **state)
{
  (void)state;
  struct ops_registry *registry = s_load(s_valid, NULL);
  const struct ops_registry_account *central = ops_registry_central(registry);
  assert_non_null(central);
  assert_true(central->central);
  assert_string_equal(central->id, "111111111111");
  assert_int_equal(central->index, 0);
  const struct ops_registry_account *workloads[3];
  assert_int_equal(ops_registry_workloads(registry, 0, 1, workloads), 2);
  assert_string_equal(workloads[0]->id, "222222222222");
  assert_string_equal(workloads[1]->id, "333333333333");
  ops_registry_free(registry);
}

/* Ten accounts, the central one at index 4: shards 1/3, 2/3 and 3/3 hold every workload account
 * exactly once, three each, numbered among the workload accounts (the central one shifts none). */
static void shards_cover_every_workload_account_once(void **state)
{
  (void)state;
  char text[2048];
  size_t len = (size_t)snprintf(text, sizeof(text), "{\"accounts\": [");
  for (int i = 0; i < 10; i++)
    len += (size_t)snprintf(text + len, sizeof(text) - len,
                            "%s{\"id\": \"%012d\", \"name\": \"a%d\"%s}", i ? ", " : "", 100 + i, i,
                            i == 4 ? ", \"role\": \"central\"" : "");
  snprintf(text + len, sizeof(text) - len, "]}");
  struct ops_registry *registry = s_load(text, NULL);
  const struct ops_registry_account *shard[10];
  int seen[10] = {0};
  size_t total = 0;
  for (int k = 0; k < 3; k++) {
    size_t n = ops_registry_workloads(registry, k, 3, shard);
    assert_int_equal(n, 3);
    for (size_t j = 0; j < n; j++) {
      size_t position = shard[j]->index - (shard[j]->index > 4); /* among the workloads */
      assert_int_equal(position % 3, k);
      assert_false(shard[j]->central);
      if (j > 0)
        assert_true(shard[j]->index > shard[j - 1]->index); /* registry order */
      seen[shard[j]->index]++;
    }
    total += n;
  }
  assert_int_equal(total, 9);
  for (int i = 0; i < 10; i++)
    assert_int_equal(seen[i], i == 4 ? 0 : 1);
  assert_int_equal(ops_registry_workloads(registry, 1, 3, shard), 3); /* workloads 1, 4, 7 */
  assert_int_equal(shard[0]->index, 1);
  assert_int_equal(shard[1]->index, 5);
  assert_int_equal(shard[2]->index, 8);
  assert_int_equal(ops_registry_workloads(registry, 0, 0, shard), 9); /* no shard: all */
  ops_registry_free(registry);
}

static void account_registry_env_holds_json_text(void **state)
{
  (void)state;
  struct ops_registry *registry = NULL;
  struct ops_error err = {0};
  setenv("ACCOUNT_REGISTRY", s_valid, 1);
  assert_int_equal(ops_registry_load_env("Role", &registry, &err), 0);
  assert_non_null(registry);
  assert_int_equal(ops_registry_count(registry), 3);
  assert_string_equal(ops_registry_at(registry, 2)->role_name, "Role");
  ops_registry_free(registry);

  setenv("ACCOUNT_REGISTRY", "{\"accounts\": [{\"id\": \"1\"}]}", 1);
  assert_int_equal(ops_registry_load_env(NULL, &registry, &err), OPS_ERR_REGISTRY);
  assert_null(registry);
  assert_string_equal(err.message, "$ACCOUNT_REGISTRY: /accounts/0/id: expected a string of "
                                   "exactly 12 digits, got \"1\"");

  setenv("ACCOUNT_REGISTRY", "{\"accounts\": [}", 1);
  assert_int_equal(ops_registry_load_env(NULL, &registry, &err), OPS_ERR_REGISTRY);
  assert_string_equal(err.message,
                      "$ACCOUNT_REGISTRY:1:15: invalid JSON: unexpected token near '}'");

  unsetenv("ACCOUNT_REGISTRY");
  assert_int_equal(ops_registry_load_env(NULL, &registry, &err), 0);
  assert_null(registry); /* no registry configured is not an error here */
  setenv("ACCOUNT_REGISTRY", "", 1);
  assert_int_equal(ops_registry_load_env(NULL, &registry, &err), 0);
  assert_null(registry);
  unsetenv("ACCOUNT_REGISTRY");
}

static void files_are_read_and_named_as_given(void **state)
{
  (void)state;
  char path[] = "/tmp/test_registry_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *file = fdopen(fd, "w");
  fputs("\xef\xbb\xbf", file); /* a byte order mark from an editor is skipped */
  fputs(s_valid, file);
  fclose(file);
  struct ops_registry *registry = NULL;
  struct ops_error err = {0};
  assert_int_equal(ops_registry_load_file(path, NULL, &registry, &err), 0);
  assert_int_equal(ops_registry_count(registry), 3);
  ops_registry_free(registry);

  file = fopen(path, "w");
  fputs("{\n  \"accounts\": [\n    {\"id\": \"222222222222\", \"name\": \"\"}\n  ]\n}\n", file);
  fclose(file);
  assert_int_equal(ops_registry_load_file(path, NULL, &registry, &err), OPS_ERR_REGISTRY);
  char expected[256];
  snprintf(expected, sizeof(expected),
           "%s: /accounts/0/name: expected a non-empty string, got \"\"", path);
  assert_string_equal(err.message, expected);
  assert_int_equal(err.kind, OPS_ERR_REGISTRY);
  unlink(path);

  assert_int_equal(ops_registry_load_file("./no/such/registry.json", NULL, &registry, &err),
                   OPS_ERR_REGISTRY);
  assert_null(registry);
  assert_string_equal(err.message,
                      "./no/such/registry.json: cannot read: No such file or directory");
  assert_int_equal(ops_registry_load_file("/tmp", NULL, &registry, &err), OPS_ERR_REGISTRY);
  assert_string_equal(err.message, "/tmp: cannot read: Is a directory");
}

/* --- malformed registries ------------------------------------------------------------------- */

/* A one-account registry around the members `m` of account 0. */
#define ACCOUNT(m) "{\"accounts\": [{" m "}]}"
#define GOOD       "\"id\": \"222222222222\", \"name\": \"Prod\""

struct s_bad {
  const char *text;
  const char *message;
};

static const struct s_bad s_bad_registries[] = {
    /* syntax: line and column of jansson's error */
    {"{\n  \"accounts\": [\n    {\"id\": \"222222222222\", \"name\": \"Prod\",}\n  ]\n}",
     "registry.json:3:43: invalid JSON: string or '}' expected near '}'"},
    {"{\"accounts\": [", "registry.json:1:14: invalid JSON: ']' expected near end of file"},
    {"", "registry.json:1:1: invalid JSON: '[' or '{' expected near end of file"},
    {"42", "registry.json:1:2: invalid JSON: '[' or '{' expected near '42'"},
    {"{\"accounts\": []} []", "registry.json:1:18: invalid JSON: end of file expected near '['"},
    {"{\"accounts\": [], \"accounts\": []}",
     "registry.json:1:27: invalid JSON: duplicate object key near '\"accounts\"'"},
    /* found by tests/fuzz/fuzz_registry.c: jansson quotes a bad string's newline as it is */
    {"{\"accounts\": \"a\\\n\tb\"}",
     "registry.json:2:1: invalid JSON: invalid escape near '\"a\\\\n'"},
    {"{\"accounts\": [{\n  \"id\": \"222222222222\",\n  \"id\": \"333333333333\", \"name\": "
     "\"P\"}]}",
     "registry.json:3:6: invalid JSON: duplicate object key near '\"id\"'"},
    /* the top level */
    {"[]", "registry.json: top level: expected an object with \"accounts\", got an empty array"},
    {"{}", "registry.json: top level: missing required key \"accounts\" (an array of accounts)"},
    {"{\"defaults\": {}}",
     "registry.json: top level: missing required key \"accounts\" (an array of accounts)"},
    {"{\"acounts\": []}", "registry.json: /acounts: unknown key (did you mean \"accounts\"?)"},
    {"{\"Defaults\": {}, \"accounts\": []}",
     "registry.json: /Defaults: unknown key (did you mean \"defaults\"?)"},
    {"{\"accounts\": [], \"version\": 2}",
     "registry.json: /version: unknown key (expected one of: defaults, accounts)"},
    {"{\"accounts\": {\"id\": \"222222222222\"}}",
     "registry.json: /accounts: expected an array of accounts, got an object"},
    {"{\"accounts\": null}", "registry.json: /accounts: expected an array of accounts, got null"},
    /* defaults */
    {"{\"defaults\": [], \"accounts\": []}",
     "registry.json: /defaults: expected an object, got an empty array"},
    {"{\"defaults\": {\"region\": [\"us-east-1\"]}, \"accounts\": []}",
     "registry.json: /defaults/region: unknown key (did you mean \"regions\"?)"},
    {"{\"defaults\": {\"roleName\": \"R\"}, \"accounts\": []}",
     "registry.json: /defaults/roleName: unknown key (did you mean \"role_name\"?)"},
    {"{\"defaults\": {\"environment\": \"prod\"}, \"accounts\": []}",
     "registry.json: /defaults/environment: unknown key (expected one of: role_name, "
     "external_id, regions, session_duration, tags)"},
    {"{\"defaults\": {\"session_duration\": 60}, \"accounts\": []}",
     "registry.json: /defaults/session_duration: expected an integer number of seconds from 900 "
     "to 43200, got 60"},
    {"{\"defaults\": {\"regions\": \"us-east-1\"}, \"accounts\": []}",
     "registry.json: /defaults/regions: expected a non-empty array of region names, got "
     "\"us-east-1\""},
    /* an account */
    {"{\"accounts\": [\"222222222222\"]}",
     "registry.json: /accounts/0: expected an account object, got \"222222222222\""},
    {ACCOUNT(GOOD ", \"rolename\": \"R\""),
     "registry.json: /accounts/0/rolename: unknown key (did you mean \"role_name\"?)"},
    {ACCOUNT(GOOD ", \"env\": \"prod\""),
     "registry.json: /accounts/0/env: unknown key (did you mean \"environment\"?)"},
    {ACCOUNT(GOOD ", \"duration\": 900"),
     "registry.json: /accounts/0/duration: unknown key (did you mean \"session_duration\"?)"},
    {ACCOUNT(GOOD ", \"owner\": \"me\""),
     "registry.json: /accounts/0/owner: unknown key (expected one of: id, name, role, "
     "environment, role_name, external_id, regions, session_duration, tags)"},
    {ACCOUNT(GOOD ", \"a/b~c\": 1"),
     "registry.json: /accounts/0/a~1b~0c: unknown key (expected one of: id, name, role, "
     "environment, role_name, external_id, regions, session_duration, tags)"},
    /* id */
    {ACCOUNT("\"id\": \"12345\", \"name\": \"P\""),
     "registry.json: /accounts/0/id: expected a string of exactly 12 digits, got \"12345\""},
    {ACCOUNT("\"id\": 222222222222, \"name\": \"P\""),
     "registry.json: /accounts/0/id: expected a string of exactly 12 digits, got 222222222222"},
    {ACCOUNT("\"id\": \"22222222222x\", \"name\": \"P\""),
     "registry.json: /accounts/0/id: expected a string of exactly 12 digits, got "
     "\"22222222222x\""},
    {ACCOUNT("\"id\": \" 222222222222\", \"name\": \"P\""),
     "registry.json: /accounts/0/id: expected a string of exactly 12 digits, got "
     "\" 222222222222\""},
    {ACCOUNT("\"id\": \"2222222222222222222222222222222222222222222222222222222222222222222222\""),
     "registry.json: /accounts/0/id: expected a string of exactly 12 digits, got "
     "\"22222222222222222222222222222222222222222222222222222222222..."},
    {ACCOUNT("\"name\": \"P\""),
     "registry.json: /accounts/0: missing required key \"id\" (a string of exactly 12 digits)"},
    /* name: checked in document order, before the id that follows it */
    {ACCOUNT("\"name\": \"\", \"id\": \"1\""),
     "registry.json: /accounts/0/name: expected a non-empty string, got \"\""},
    {ACCOUNT("\"id\": \"222222222222\", \"name\": [\"P\"]"),
     "registry.json: /accounts/0/name: expected a non-empty string, got an array"},
    {ACCOUNT("\"id\": \"222222222222\""),
     "registry.json: /accounts/0: missing required key \"name\" (a non-empty string)"},
    /* role, environment, role_name, external_id */
    {ACCOUNT(GOOD ", \"role\": \"admin\""),
     "registry.json: /accounts/0/role: expected \"central\" or \"workload\", got \"admin\""},
    {ACCOUNT(GOOD ", \"role\": \"Central\""),
     "registry.json: /accounts/0/role: expected \"central\" or \"workload\", got \"Central\""},
    {ACCOUNT(GOOD ", \"environment\": 5"),
     "registry.json: /accounts/0/environment: expected a string, got 5"},
    {ACCOUNT(GOOD ", \"role_name\": null"),
     "registry.json: /accounts/0/role_name: expected a non-empty string, got null"},
    {ACCOUNT(GOOD ", \"role_name\": \"\""),
     "registry.json: /accounts/0/role_name: expected a non-empty string, got \"\""},
    {ACCOUNT(GOOD ", \"external_id\": 42"),
     "registry.json: /accounts/0/external_id: expected a non-empty string, got 42"},
    /* regions */
    {ACCOUNT(GOOD ", \"regions\": []"),
     "registry.json: /accounts/0/regions: expected a non-empty array of region names, got an "
     "empty array"},
    {ACCOUNT(GOOD ", \"regions\": [\"us-east-1\", \"US-EAST-1\"]"),
     "registry.json: /accounts/0/regions/1: expected a region name such as \"us-east-1\", got "
     "\"US-EAST-1\""},
    {ACCOUNT(GOOD ", \"regions\": [\"us-east\"]"),
     "registry.json: /accounts/0/regions/0: expected a region name such as \"us-east-1\", got "
     "\"us-east\""},
    {ACCOUNT(GOOD ", \"regions\": [\"eu-west-1\", 1]"),
     "registry.json: /accounts/0/regions/1: expected a region name such as \"us-east-1\", got 1"},
    {ACCOUNT(GOOD ", \"regions\": [\"x@127.0.0.1:1/#\"]"),
     "registry.json: /accounts/0/regions/0: expected a region name such as \"us-east-1\", got "
     "\"x@127.0.0.1:1/#\""},
    {ACCOUNT(GOOD ", \"regions\": [\"us-east-1\\r\\nX: y\"]"),
     "registry.json: /accounts/0/regions/0: expected a region name such as \"us-east-1\", got "
     "\"us-east-1\\r\\nX: y\""},
    /* session_duration */
    {ACCOUNT(GOOD ", \"session_duration\": 899"),
     "registry.json: /accounts/0/session_duration: expected an integer number of seconds from "
     "900 to 43200, got 899"},
    {ACCOUNT(GOOD ", \"session_duration\": 43201"),
     "registry.json: /accounts/0/session_duration: expected an integer number of seconds from "
     "900 to 43200, got 43201"},
    {ACCOUNT(GOOD ", \"session_duration\": 3600.5"),
     "registry.json: /accounts/0/session_duration: expected an integer number of seconds from "
     "900 to 43200, got 3600.5"},
    {ACCOUNT(GOOD ", \"session_duration\": \"3600\""),
     "registry.json: /accounts/0/session_duration: expected an integer number of seconds from "
     "900 to 43200, got \"3600\""},
    /* tags */
    {ACCOUNT(GOOD ", \"tags\": {\"team\": 5}"),
     "registry.json: /accounts/0/tags/team: expected a string, got 5"},
    {ACCOUNT(GOOD ", \"tags\": {\"cost/center\": true}"),
     "registry.json: /accounts/0/tags/cost~1center: expected a string, got true"},
    {ACCOUNT(GOOD ", \"tags\": [\"team\"]"),
     "registry.json: /accounts/0/tags: expected an object of string values, got an array"},
    /* across accounts */
    {"{\"accounts\": [\n"
     "  {\"id\": \"111111111111\", \"name\": \"A\"},\n"
     "  {\"id\": \"222222222222\", \"name\": \"B\"},\n"
     "  {\"id\": \"111111111111\", \"name\": \"C\"}]}",
     "registry.json: /accounts/2/id: duplicate account id \"111111111111\" (first at "
     "/accounts/0/id)"},
    {"{\"accounts\": [\n"
     "  {\"id\": \"111111111111\", \"name\": \"A\", \"role\": \"central\"},\n"
     "  {\"id\": \"222222222222\", \"name\": \"B\"},\n"
     "  {\"id\": \"333333333333\", \"name\": \"C\", \"role\": \"central\"}]}",
     "registry.json: /accounts/2/role: a second central account (first at /accounts/0/role); at "
     "most one is allowed"},
    {"{\"accounts\": [{\"id\": \"111111111111\", \"name\": \"A\"}, {\"id\": \"2\"}]}",
     "registry.json: /accounts/1/id: expected a string of exactly 12 digits, got \"2\""},
};

static void malformed_registries_are_rejected_with_exact_messages(void **state)
{
  (void)state;
  size_t n = sizeof(s_bad_registries) / sizeof(*s_bad_registries), wrong = 0;
  assert_true(n >= 20);
  for (size_t i = 0; i < n; i++) {
    const struct s_bad *bad = &s_bad_registries[i];
    struct ops_registry *registry = (struct ops_registry *)&registry; /* must be set to NULL */
    struct ops_error err = {0};
    int rc = ops_registry_load_text("registry.json", bad->text, strlen(bad->text), NULL, &registry,
                                    &err);
    if (rc != OPS_ERR_REGISTRY || registry || err.kind != OPS_ERR_REGISTRY ||
        strcmp(err.message, bad->message) != 0) {
      print_error("case %zu: %s\n  rc %d, expected\n  %s\n  got\n  %s\n", i, bad->text, rc,
                  bad->message, err.message);
      wrong++;
    }
  }
  assert_int_equal(wrong, 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(own_values_win_over_defaults),
      cmocka_unit_test(missing_values_fall_back_to_defaults),
      cmocka_unit_test(without_defaults_the_builtin_fallbacks_apply),
      cmocka_unit_test(the_role_option_wins_over_the_registry),
      cmocka_unit_test(the_central_account_is_found_and_not_a_workload),
      cmocka_unit_test(shards_cover_every_workload_account_once),
      cmocka_unit_test(account_registry_env_holds_json_text),
      cmocka_unit_test(files_are_read_and_named_as_given),
      cmocka_unit_test(malformed_registries_are_rejected_with_exact_messages),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
