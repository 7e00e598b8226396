/* test_registry.c: runtime/registry.h: a valid registry's effective values and fallbacks, the
 * --role override, $ACCOUNT_REGISTRY text, files, --shard K/N, role chains, "enabled" regions,
 * exclusion, the overlay of an Organizations listing, and a table of malformed registries, each
 * with the exact one-line message it must be rejected with. */
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

static struct ops_registry *s_load_with(const char *text,
                                        const struct ops_registry_options *options)
{
  struct ops_registry *registry = NULL;
  struct ops_error err = {0};
  int rc = ops_registry_load_text("registry.json", text, strlen(text), options, &registry, &err);
  if (rc != 0)
    fail_msg("a valid registry was rejected: %s", err.message);
  assert_non_null(registry);
  return registry;
}

static struct ops_registry *s_load(const char *text, const char *role_override)
{
  const struct ops_registry_options options = {.role_override = role_override};
  return s_load_with(text, &options);
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
  const struct ops_registry_options options = {.role_override = "Role"};
  assert_int_equal(ops_registry_load_env(&options, &registry, &err), 0);
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

/* --- role chains, "enabled" regions, exclusion --------------------------------------------- */

#define HUB "arn:aws:iam::111111111111:role/OpsHub"

static const char s_chained[] =
    "{\n"
    "  \"defaults\": { \"role_chain\": [\"" HUB "\", \"OpsReadOnly\"], \"regions\": \"enabled\",\n"
    "                \"external_id\": \"default-x\" },\n"
    "  \"accounts\": [\n"
    "    { \"id\": \"222222222222\", \"name\": \"Prod\", \"external_id\": \"x-2\" },\n"
    "    { \"id\": \"333333333333\", \"name\": \"Staging\", \"regions\": [\"eu-west-1\"],\n"
    "      \"role_chain\": [{ \"role\": \"" HUB "\", \"external_id\": \"hub-x\" },\n"
    "                     \"arn:aws:iam::333333333333:role/team/Ops\"] },\n"
    "    { \"id\": \"444444444444\", \"name\": \"Direct\", \"role_name\": \"Plain\" },\n"
    "    { \"id\": \"555555555555\", \"name\": \"Gone\", \"exclude\": true },\n"
    "    { \"id\": \"666666666666\", \"name\": \"Kept\", \"exclude\": false }\n"
    "  ]\n"
    "}\n";

static void role_chains_come_from_the_account_else_the_defaults(void **state)
{
  (void)state;
  struct ops_registry *registry = s_load(s_chained, NULL);
  const struct ops_registry_account *prod = ops_registry_at(registry, 0);
  assert_int_equal(prod->role_chain_count, 2);
  assert_string_equal(prod->role_chain[0].role, HUB);
  assert_null(prod->role_chain[0].external_id);
  assert_string_equal(prod->role_chain[1].role, "OpsReadOnly");
  /* the last role is the account's: its external_id is the account's */
  assert_string_equal(prod->role_chain[1].external_id, "x-2");
  assert_string_equal(prod->external_id, "x-2");
  assert_string_equal(prod->role_name, "OpsReadOnly");
  assert_true(prod->regions_enabled);
  assert_int_equal(prod->region_count, 0);

  const struct ops_registry_account *staging = ops_registry_at(registry, 1);
  assert_int_equal(staging->role_chain_count, 2);
  assert_string_equal(staging->role_chain[0].external_id, "hub-x");
  assert_string_equal(staging->role_chain[1].role, "arn:aws:iam::333333333333:role/team/Ops");
  assert_string_equal(staging->role_chain[1].external_id, "default-x");
  assert_string_equal(staging->role_name, "Ops"); /* an ARN's name */
  assert_false(staging->regions_enabled);
  assert_int_equal(staging->region_count, 1);

  const struct ops_registry_account *direct = ops_registry_at(registry, 2);
  assert_int_equal(direct->role_chain_count, 0); /* its role_name wins over the defaults' chain */
  assert_null(direct->role_chain);
  assert_string_equal(direct->role_name, "Plain");
  assert_string_equal(direct->external_id, "default-x");
  ops_registry_free(registry);
}

static void the_role_option_replaces_a_chains_last_role(void **state)
{
  (void)state;
  struct ops_registry *registry = s_load(s_chained, "FromCommandLine");
  const struct ops_registry_account *prod = ops_registry_at(registry, 0);
  assert_int_equal(prod->role_chain_count, 2);
  assert_string_equal(prod->role_chain[0].role, HUB);
  assert_string_equal(prod->role_chain[1].role, "FromCommandLine");
  assert_string_equal(prod->role_name, "FromCommandLine");
  ops_registry_free(registry);
}

static void excluded_accounts_are_left_out(void **state)
{
  (void)state;
  struct ops_registry *registry = s_load(s_chained, NULL);
  assert_int_equal(ops_registry_count(registry), 4);
  const struct ops_registry_account *kept = ops_registry_at(registry, 3);
  assert_string_equal(kept->id, "666666666666");
  assert_int_equal(kept->index, 4); /* its place in the file */
  const struct ops_registry_account *workloads[4];
  assert_int_equal(ops_registry_workloads(registry, 1, 2, workloads), 2);
  assert_string_equal(workloads[0]->id, "333333333333");
  assert_string_equal(workloads[1]->id, "666666666666");
  assert_false(ops_registry_from_organizations(registry));
  assert_int_equal(ops_registry_unlisted_count(registry), 0);
  ops_registry_free(registry);
}

/* --- the overlay of Organizations ----------------------------------------------------------- */

static const char s_overlay[] =
    "{\n"
    "  \"source\": \"organizations\",\n"
    "  \"defaults\": { \"role_name\": \"OverlayRole\", \"session_duration\": 1800,\n"
    "                \"tags\": { \"team\": \"ops\", \"owner\": \"platform\" } },\n"
    "  \"accounts\": [\n"
    "    { \"id\": \"999999999999\", \"role_name\": \"Typo\" },\n"
    "    { \"id\": \"300000000003\", \"exclude\": true },\n"
    "    { \"id\": \"200000000002\", \"name\": \"Renamed\", \"environment\": \"prod\",\n"
    "      \"role\": \"central\", \"external_id\": \"x-2\", \"regions\": \"enabled\",\n"
    "      \"role_chain\": [\"" HUB "\", \"Ops\"], \"tags\": { \"team\": \"payments\" } },\n"
    "    { \"id\": \"888888888888\", \"exclude\": true }\n"
    "  ]\n"
    "}\n";

static const struct ops_registry_tag s_listed_tags[] = {
    {"owner", "listed-owner"}, {"cost", "42"}, {"team", "listed-team"}};

static const struct ops_registry_listed s_listed[] = {
    {"111111111111", "Management", "m@example.com", "r-ab12", "Root", NULL, 0},
    {"200000000001", "One", NULL, "ou-ab12-11111111", "Root/Workloads", s_listed_tags, 3},
    {"200000000002", "Two", NULL, "ou-ab12-22222222", "Root/Workloads/Prod", s_listed_tags, 1},
    {"300000000003", "Three", NULL, "ou-ab12-33333333", "Root/Sandbox", NULL, 0},
    {"400000000004", "", NULL, NULL, NULL, NULL, 0},
};

static struct ops_registry *s_overlaid(const struct ops_registry *overlay, const char *role)
{
  struct ops_registry *result = NULL;
  struct ops_error err = {0};
  assert_int_equal(ops_registry_overlay(overlay, role, s_listed, 5, "111111111111", &result, &err),
                   0);
  assert_non_null(result);
  return result;
}

static void an_overlay_needs_only_ids(void **state)
{
  (void)state;
  struct ops_registry *overlay = s_load(s_overlay, NULL);
  assert_true(ops_registry_from_organizations(overlay));
  assert_int_equal(ops_registry_count(overlay), 2); /* the excluded are left out */
  assert_null(ops_registry_at(overlay, 0)->name);
  assert_null(ops_registry_central(overlay)); /* "role" is ignored: the caller is central */
  ops_registry_free(overlay);

  const struct ops_registry_options org = {.organizations = true};
  overlay = s_load_with("{\"accounts\": [{\"id\": \"222222222222\"}]}", &org); /* --org */
  assert_false(ops_registry_from_organizations(overlay));
  assert_int_equal(ops_registry_count(overlay), 1);
  ops_registry_free(overlay);
  overlay = s_load("{\"source\": \"organizations\", \"defaults\": {\"role_name\": \"R\"}}", NULL);
  assert_int_equal(ops_registry_count(overlay), 0); /* "accounts" may be absent */
  ops_registry_free(overlay);
  overlay = s_load("{\"source\": \"registry\", \"accounts\": []}", NULL);
  assert_false(ops_registry_from_organizations(overlay));
  ops_registry_free(overlay);
}

/* Each account is found by its id, in a loaded registry and an overlaid one; an excluded or
 * unknown id is not. */
static void accounts_are_found_by_id(void **state)
{
  (void)state;
  struct ops_registry *loaded = s_load(s_chained, NULL);
  struct ops_registry *overlay = s_load(s_overlay, NULL);
  struct ops_registry *overlaid = s_overlaid(overlay, NULL);
  const struct ops_registry *registries[] = {loaded, overlaid};
  for (size_t r = 0; r < 2; r++) {
    for (size_t i = 0; i < ops_registry_count(registries[r]); i++) {
      const struct ops_registry_account *account = ops_registry_at(registries[r], i);
      assert_ptr_equal(ops_registry_find(registries[r], account->id), account);
    }
    assert_null(ops_registry_find(registries[r], "999999999999"));
  }
  assert_null(ops_registry_find(overlaid, "300000000003")); /* excluded */
  ops_registry_free(loaded);
  ops_registry_free(overlay);
  ops_registry_free(overlaid);
}

static void the_overlay_sets_effective_values_by_id(void **state)
{
  (void)state;
  struct ops_registry *overlay = s_load(s_overlay, NULL);
  struct ops_registry *result = s_overlaid(overlay, NULL);
  ops_registry_free(overlay); /* nothing is borrowed from it */
  assert_true(ops_registry_from_organizations(result));
  assert_int_equal(ops_registry_count(result), 4); /* 300000000003 excluded */

  const struct ops_registry_account *central = ops_registry_central(result);
  assert_non_null(central);
  assert_ptr_equal(central, ops_registry_at(result, 0));
  assert_string_equal(central->name, "Management");
  assert_string_equal(central->ou, "r-ab12");
  assert_string_equal(central->ou_path, "Root");

  const struct ops_registry_account *one = ops_registry_at(result, 1);
  assert_int_equal(one->index, 1);
  assert_false(one->central);
  assert_string_equal(one->name, "One");
  assert_null(one->environment);
  assert_string_equal(one->role_name, "OverlayRole"); /* the defaults' */
  assert_int_equal(one->session_duration, 1800);
  assert_int_equal(one->role_chain_count, 0);
  assert_string_equal(one->ou_path, "Root/Workloads");
  assert_int_equal(one->tag_count, 3); /* the defaults' over the listed ones */
  assert_string_equal(one->tags[0].key, "team");
  assert_string_equal(one->tags[0].value, "ops");
  assert_string_equal(one->tags[1].key, "owner");
  assert_string_equal(one->tags[1].value, "platform");
  assert_string_equal(one->tags[2].key, "cost");
  assert_string_equal(one->tags[2].value, "42");

  const struct ops_registry_account *two = ops_registry_at(result, 2);
  assert_string_equal(two->id, "200000000002");
  assert_string_equal(two->name, "Renamed");
  assert_string_equal(two->environment, "prod");
  assert_false(two->central); /* its "role" says central: the caller's account is */
  assert_int_equal(two->role_chain_count, 2);
  assert_string_equal(two->role_chain[1].role, "Ops");
  assert_string_equal(two->role_chain[1].external_id, "x-2");
  assert_string_equal(two->role_name, "Ops");
  assert_true(two->regions_enabled);
  assert_string_equal(s_tag(two, "team"), "payments");  /* its own over the defaults' */
  assert_string_equal(s_tag(two, "owner"), "platform"); /* the defaults' over the listed */
  assert_int_equal(two->tag_count, 2);

  const struct ops_registry_account *four = ops_registry_at(result, 3);
  assert_string_equal(four->id, "400000000004");
  assert_string_equal(four->name, "400000000004"); /* no listed name: the id */
  assert_null(four->ou);
  assert_int_equal(four->index, 3);

  /* entries of accounts not listed: the typo and the excluded one, in registry order */
  assert_int_equal(ops_registry_unlisted_count(result), 2);
  assert_string_equal(ops_registry_unlisted_id(result, 0), "999999999999");
  assert_string_equal(ops_registry_unlisted_id(result, 1), "888888888888");
  assert_null(ops_registry_unlisted_id(result, 2));

  const struct ops_registry_account *workloads[4];
  assert_int_equal(ops_registry_workloads(result, 0, 2, workloads), 2); /* --shard 1/2 */
  assert_string_equal(workloads[0]->id, "200000000001");
  assert_string_equal(workloads[1]->id, "400000000004");
  ops_registry_free(result);
}

static void without_an_overlay_the_builtins_apply(void **state)
{
  (void)state;
  struct ops_registry *result = s_overlaid(NULL, NULL);
  assert_int_equal(ops_registry_count(result), 5);
  const struct ops_registry_account *one = ops_registry_at(result, 1);
  assert_string_equal(one->role_name, OPS_REGISTRY_DEFAULT_ROLE_NAME);
  assert_int_equal(one->session_duration, OPS_REGISTRY_DEFAULT_SESSION_DURATION);
  assert_int_equal(one->tag_count, 3);
  assert_string_equal(s_tag(one, "team"), "listed-team");
  assert_int_equal(ops_registry_unlisted_count(result), 0);
  ops_registry_free(result);

  result = s_overlaid(NULL, "FromCommandLine");
  assert_string_equal(ops_registry_at(result, 4)->role_name, "FromCommandLine");
  ops_registry_free(result);

  struct ops_registry *overlay = s_load(s_overlay, "Loaded");
  result = s_overlaid(overlay, NULL); /* the overlay's own --role */
  assert_string_equal(ops_registry_at(result, 1)->role_name, "Loaded");
  assert_string_equal(ops_registry_at(result, 2)->role_chain[1].role, "Loaded");
  ops_registry_free(result);
  ops_registry_free(overlay);

  struct ops_error err = {0};
  assert_int_equal(ops_registry_overlay(NULL, NULL, NULL, 0, NULL, &result, &err), 0);
  assert_int_equal(ops_registry_count(result), 0);
  assert_null(ops_registry_central(result));
  ops_registry_free(result);
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
     "registry.json: /version: unknown key (expected one of: defaults, accounts, source)"},
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
     "role_chain, external_id, regions, session_duration, tags)"},
    {"{\"defaults\": {\"session_duration\": 60}, \"accounts\": []}",
     "registry.json: /defaults/session_duration: expected an integer number of seconds from 900 "
     "to 43200, got 60"},
    {"{\"defaults\": {\"regions\": \"us-east-1\"}, \"accounts\": []}",
     "registry.json: /defaults/regions: expected a non-empty array of region names, or "
     "\"enabled\", got \"us-east-1\""},
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
     "environment, role_name, role_chain, external_id, regions, session_duration, tags, "
     "exclude)"},
    {ACCOUNT(GOOD ", \"a/b~c\": 1"),
     "registry.json: /accounts/0/a~1b~0c: unknown key (expected one of: id, name, role, "
     "environment, role_name, role_chain, external_id, regions, session_duration, tags, "
     "exclude)"},
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
     "registry.json: /accounts/0/regions: expected a non-empty array of region names, or "
     "\"enabled\", got an empty array"},
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
    /* source, and an overlay's accounts */
    {"{\"source\": \"Organizations\", \"accounts\": []}",
     "registry.json: /source: expected \"registry\" or \"organizations\", got \"Organizations\""},
    {"{\"sources\": \"organizations\"}",
     "registry.json: /sources: unknown key (did you mean \"source\"?)"},
    {"{\"source\": \"registry\"}",
     "registry.json: top level: missing required key \"accounts\" (an array of accounts)"},
    {"{\"source\": \"organizations\", \"accounts\": [{\"name\": \"P\"}]}",
     "registry.json: /accounts/0: missing required key \"id\" (a string of exactly 12 digits)"},
    {"{\"source\": \"organizations\", \"accounts\": [{\"id\": \"2\"}]}",
     "registry.json: /accounts/0/id: expected a string of exactly 12 digits, got \"2\""},
    {"{\"accounts\": [{\"id\": \"222222222222\"}], \"source\": \"organizations\", \"x\": 1}",
     "registry.json: /x: unknown key (expected one of: defaults, accounts, source)"},
    /* exclude, regions "enabled" */
    {ACCOUNT(GOOD ", \"exclude\": \"yes\""),
     "registry.json: /accounts/0/exclude: expected true or false, got \"yes\""},
    {ACCOUNT(GOOD ", \"excluded\": true"),
     "registry.json: /accounts/0/excluded: unknown key (did you mean \"exclude\"?)"},
    {ACCOUNT(GOOD ", \"regions\": \"all\""),
     "registry.json: /accounts/0/regions: expected a non-empty array of region names, or "
     "\"enabled\", got \"all\""},
    {ACCOUNT(GOOD ", \"regions\": \"Enabled\""),
     "registry.json: /accounts/0/regions: expected a non-empty array of region names, or "
     "\"enabled\", got \"Enabled\""},
    /* role_chain */
    {ACCOUNT(GOOD ", \"role_chain\": []"),
     "registry.json: /accounts/0/role_chain: expected an array of 1 to 10 roles to assume in turn, "
     "got an empty array"},
    {ACCOUNT(GOOD ", \"role_chain\": \"" HUB "\""),
     "registry.json: /accounts/0/role_chain: expected an array of 1 to 10 roles to assume in turn, "
     "got \"" HUB "\""},
    {ACCOUNT(
         GOOD
         ", \"role_chain\": [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\"]"),
     "registry.json: /accounts/0/role_chain: expected an array of 1 to 10 roles to assume in turn, "
     "got an array"},
    {ACCOUNT(GOOD ", \"role_chain\": [\"" HUB "\", \"Ops Role\"]"),
     "registry.json: /accounts/0/role_chain/1: expected a role name or a role ARN "
     "(arn:aws:iam::ACCOUNT:role/NAME), got \"Ops Role\""},
    {ACCOUNT(GOOD ", \"role_chain\": [\"arn:aws:iam::11111111111:role/Hub\", \"Ops\"]"),
     "registry.json: /accounts/0/role_chain/0: expected a role name or a role ARN "
     "(arn:aws:iam::ACCOUNT:role/NAME), got \"arn:aws:iam::11111111111:role/Hub\""},
    {ACCOUNT(GOOD ", \"role_chain\": [\"arn:aws:iam::111111111111:user/ops\", \"Ops\"]"),
     "registry.json: /accounts/0/role_chain/0: expected a role name or a role ARN "
     "(arn:aws:iam::ACCOUNT:role/NAME), got \"arn:aws:iam::111111111111:user/ops\""},
    {ACCOUNT(GOOD ", \"role_chain\": [\"arn:aws:iam::111111111111:role/\", \"Ops\"]"),
     "registry.json: /accounts/0/role_chain/0: expected a role name or a role ARN "
     "(arn:aws:iam::ACCOUNT:role/NAME), got \"arn:aws:iam::111111111111:role/\""},
    {ACCOUNT(GOOD ", \"role_chain\": [{\"role\": \"" HUB "\", \"externalId\": \"x\"}, \"Ops\"]"),
     "registry.json: /accounts/0/role_chain/0/externalId: unknown key (did you mean "
     "\"external_id\"?)"},
    {ACCOUNT(GOOD ", \"role_chain\": [{\"external_id\": \"x-1\"}, \"Ops\"]"),
     "registry.json: /accounts/0/role_chain/0: missing required key \"role\" (a role name or a "
     "role ARN)"},
    {ACCOUNT(GOOD ", \"role_chain\": [{\"role\": \"" HUB "\", \"external_id\": \"\"}, \"Ops\"]"),
     "registry.json: /accounts/0/role_chain/0/external_id: expected a non-empty string, got \"\""},
    {ACCOUNT(GOOD ", \"role_chain\": [42]"),
     "registry.json: /accounts/0/role_chain/0: expected a role name, a role ARN or an object with "
     "\"role\" and \"external_id\", got 42"},
    {ACCOUNT(GOOD ", \"role_name\": \"Ops\", \"role_chain\": [\"" HUB "\", \"Ops\"]"),
     "registry.json: /accounts/0/role_chain: role_chain and role_name together: the chain's last "
     "role is the role in the account, so give one of them"},
    {ACCOUNT(GOOD ", \"role_chain\": [\"" HUB "\", \"arn:aws:iam::333333333333:role/Ops\"]"),
     "registry.json: /accounts/0/role_chain/1: the last role of the chain is the role in account "
     "222222222222, got a role of account 333333333333"},
    {"{\"defaults\": {\"role_chain\": [{\"role\": \"" HUB "\"}]}, \"accounts\": []}",
     "registry.json: /defaults/role_chain/0: the last role of the defaults' chain is the role in "
     "each account: a role name, not an ARN"},
    {"{\"defaults\": {\"role_chain\": [\"Ops\"], \"role_name\": \"Ops\"}, \"accounts\": []}",
     "registry.json: /defaults/role_chain: role_chain and role_name together: the chain's last "
     "role is the role in the account, so give one of them"},
    {"{\"defaults\": {\"rolechain\": [\"Ops\"]}, \"accounts\": []}",
     "registry.json: /defaults/rolechain: unknown key (did you mean \"role_chain\"?)"},
    {"{\"defaults\": {\"exclude\": true}, \"accounts\": []}",
     "registry.json: /defaults/exclude: unknown key (expected one of: role_name, role_chain, "
     "external_id, regions, session_duration, tags)"},
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
      cmocka_unit_test(role_chains_come_from_the_account_else_the_defaults),
      cmocka_unit_test(the_role_option_replaces_a_chains_last_role),
      cmocka_unit_test(excluded_accounts_are_left_out),
      cmocka_unit_test(an_overlay_needs_only_ids),
      cmocka_unit_test(accounts_are_found_by_id),
      cmocka_unit_test(the_overlay_sets_effective_values_by_id),
      cmocka_unit_test(without_an_overlay_the_builtins_apply),
      cmocka_unit_test(malformed_registries_are_rejected_with_exact_messages),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
