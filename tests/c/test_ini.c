/* test_ini.c: the AWS shared-file INI dialect: profile sections in each file, comments, inline
 * comments, continuation lines, sub-properties, key case, whitespace, repeated sections and
 * properties, [profile default] over [default], and malformed lines named by file:line; plus the
 * merged profile view and the region of runtime/aws_config.h, refused when it is not a region
 * name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fakes.h"
#include "runtime/aws_config.h"
#include "runtime/ini.h"

static struct ops_ini *parse(const char *text, enum ops_ini_file file)
{
  struct ops_ini *ini = NULL;
  struct ops_error err = {0};
  int rc = ops_ini_parse(&ini, text, strlen(text), "/home/u/.aws/config", file, &err);
  if (rc != OPS_OK)
    fail_msg("unexpected parse error: %s", err.message);
  return ini;
}

static const char *get(const struct ops_ini *ini, const char *profile, const char *key)
{
  return ops_ini_get(ops_ini_find(ini, OPS_INI_PROFILE, profile), key, NULL);
}

static void config_sections_need_the_profile_prefix(void **state)
{
  (void)state;
  struct ops_ini *ini = parse("[default]\nregion = us-east-1\n"
                              "[profile ops]\nregion = eu-west-1\n"
                              "[profile\tTabbed]\nregion = 1\n"
                              "[   profile spaced    ]\nregion = 2\n"
                              "[bare]\nregion = ignored\n"
                              "[profilefoo]\nregion = ignored\n"
                              "[profile in valid]\nregion = ignored\n"
                              "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n"
                              "[services local]\nsts =\n  endpoint_url = http://127.0.0.1:1\n",
                              OPS_INI_CONFIG);
  assert_string_equal(get(ini, "default", "region"), "us-east-1");
  assert_string_equal(get(ini, "ops", "region"), "eu-west-1");
  assert_string_equal(get(ini, "Tabbed", "region"), "1");
  assert_string_equal(get(ini, "spaced", "region"), "2");
  assert_null(ops_ini_find(ini, OPS_INI_PROFILE, "bare"));
  assert_null(ops_ini_find(ini, OPS_INI_PROFILE, "profilefoo"));
  assert_null(ops_ini_find(ini, OPS_INI_PROFILE, "in valid"));
  assert_null(ops_ini_find(ini, OPS_INI_PROFILE, "Ops")); /* names are case-sensitive */
  assert_string_equal(
      ops_ini_get(ops_ini_find(ini, OPS_INI_SSO_SESSION, "corp"), "sso_start_url", NULL),
      "https://corp.awsapps.com/start");
  assert_string_equal(
      ops_ini_get_sub(ops_ini_find(ini, OPS_INI_SERVICES, "local"), "sts", "endpoint_url"),
      "http://127.0.0.1:1");
  assert_int_equal(ops_ini_section_count(ini), 6);
  ops_ini_free(ini);
}

static void credentials_sections_are_bare_names(void **state)
{
  (void)state;
  struct ops_ini *ini = parse("[default]\naws_access_key_id = AKID\n"
                              "[profile ops]\naws_access_key_id = ignored\n"
                              "[  ops  ]\naws_access_key_id = OPS\n",
                              OPS_INI_CREDENTIALS);
  assert_string_equal(get(ini, "default", "aws_access_key_id"), "AKID");
  assert_string_equal(get(ini, "ops", "aws_access_key_id"), "OPS");
  assert_int_equal(ops_ini_section_count(ini), 2);
  ops_ini_free(ini);
}

static void comments_whole_line_and_inline(void **state)
{
  (void)state;
  struct ops_ini *ini = parse("# a comment\n"
                              "; another\n"
                              "[profile foo] # after the header\n"
                              "   # an indented comment is still a comment\n"
                              "name = value # Comment with # sign\n"
                              "semi = value ; Comment\n"
                              "adjacent = value;not a comment\n"
                              "pound = value#not a comment\n"
                              "empty = ;\n"
                              "[profile bar]; adjacent\n"
                              "x = 1\n",
                              OPS_INI_CONFIG);
  assert_string_equal(get(ini, "foo", "name"), "value");
  assert_string_equal(get(ini, "foo", "semi"), "value");
  assert_string_equal(get(ini, "foo", "adjacent"), "value;not a comment");
  assert_string_equal(get(ini, "foo", "pound"), "value#not a comment");
  assert_string_equal(get(ini, "foo", "empty"), "");
  assert_string_equal(get(ini, "bar", "x"), "1");
  ops_ini_free(ini);
}

static void whitespace_case_and_line_endings(void **state)
{
  (void)state;
  struct ops_ini *ini = parse("\t \n[profile foo]\r\n"
                              "AWS_Access_Key_ID \t=  \tAKID \t\r\n"
                              "name=val=ue\r\n"
                              "in valid = skipped\n"
                              "unicode = \xf0\x9f\x98\x82\n"
                              "blank =\n",
                              OPS_INI_CONFIG);
  int line = 0;
  assert_string_equal(
      ops_ini_get(ops_ini_find(ini, OPS_INI_PROFILE, "foo"), "aws_access_key_id", &line), "AKID");
  assert_int_equal(line, 3);
  assert_string_equal(get(ini, "foo", "AWS_ACCESS_KEY_ID"), "AKID");
  assert_string_equal(get(ini, "foo", "name"), "val=ue");
  assert_null(get(ini, "foo", "in valid"));
  assert_string_equal(get(ini, "foo", "unicode"), "\xf0\x9f\x98\x82");
  assert_string_equal(get(ini, "foo", "blank"), "");
  ops_ini_free(ini);
}

static void continuation_lines_and_sub_properties(void **state)
{
  (void)state;
  struct ops_ini *ini = parse("[profile foo]\n"
                              "name = value\n"
                              " -continued\n"
                              " \t -and-continued \t \n"
                              "\t# not part of it\n"
                              "kept = first\n"
                              "  second # stays\n"
                              "s3 =\n"
                              "  addressing_style = path\n"
                              "\n"
                              "  Max_Concurrent_Requests = 20\n"
                              "  addressing_style = virtual\n"
                              "after = 1\n",
                              OPS_INI_CONFIG);
  assert_string_equal(get(ini, "foo", "name"), "value\n-continued\n-and-continued");
  assert_string_equal(get(ini, "foo", "kept"), "first\nsecond # stays");
  const struct ops_ini_section *s = ops_ini_find(ini, OPS_INI_PROFILE, "foo");
  assert_string_equal(ops_ini_get_sub(s, "s3", "addressing_style"), "virtual");
  assert_string_equal(ops_ini_get_sub(s, "S3", "max_concurrent_requests"), "20");
  assert_null(ops_ini_get_sub(s, "s3", "missing"));
  assert_string_equal(get(ini, "foo", "s3"), "\naddressing_style = path\n"
                                             "Max_Concurrent_Requests = 20\n"
                                             "addressing_style = virtual");
  assert_string_equal(get(ini, "foo", "after"), "1");
  ops_ini_free(ini);
}

static void repeats_merge_and_the_last_value_wins(void **state)
{
  (void)state;
  struct ops_ini *ini = parse("[profile foo]\nname = value\nname = value2\n"
                              "[profile bar]\nx = 1\n"
                              "[profile foo]\nname2 = other\nname = value3\n",
                              OPS_INI_CONFIG);
  assert_string_equal(get(ini, "foo", "name"), "value3");
  assert_string_equal(get(ini, "foo", "name2"), "other");
  assert_int_equal(ops_ini_section_count(ini), 2);
  ops_ini_free(ini);
  /* [profile default] wins over [default], before or after it */
  ini = parse("[profile default]\nname = value\n[default]\nname2 = value2\n[profile default]\n"
              "name3 = value3\n",
              OPS_INI_CONFIG);
  assert_string_equal(get(ini, "default", "name"), "value");
  assert_string_equal(get(ini, "default", "name3"), "value3");
  assert_null(get(ini, "default", "name2"));
  assert_int_equal(ops_ini_section_count(ini), 1);
  ops_ini_free(ini);
}

struct bad_case {
  const char *text;
  const char *message;
};

static void malformed_lines_are_named_by_file_and_line(void **state)
{
  (void)state;
  const struct bad_case cases[] = {
      {"[profile foo", "/home/u/.aws/config:1: a section header must end with ']'"},
      {"\n\n[profile foo] junk", "/home/u/.aws/config:3: unexpected text after the section "
                                 "header's ']' (only a # or ; comment may follow it)"},
      {"name = value", "/home/u/.aws/config:1: a property must follow a section header such as "
                       "[default] or [profile NAME]"},
      {"[profile foo]\nkey : value", "/home/u/.aws/config:2: expected 'name = value'"},
      {"[profile foo]\n= value", "/home/u/.aws/config:2: the property has no name before '='"},
      {" -continued", "/home/u/.aws/config:1: an indented line must follow a property in a "
                      "section such as [default]"},
      {"[profile foo]\n -continued", "/home/u/.aws/config:2: an indented line continues a "
                                     "property, but no property precedes it in this section"},
      {"[profile foo]\nname = value\n[profile foo]\n -continued",
       "/home/u/.aws/config:4: an indented line continues a property, but no property precedes "
       "it in this section"},
      {"[profile foo]\ns3 =\n invalid",
       "/home/u/.aws/config:3: expected an indented 'name = value' under 's3 ='"},
      {"[profile foo]\ns3 =\n = value",
       "/home/u/.aws/config:3: the sub-property under 's3 =' has no name before '='"},
      {"[bare]\nsecret_without_equals", "/home/u/.aws/config:2: expected 'name = value'"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct ops_ini *ini = (struct ops_ini *)1;
    struct ops_error err = {0};
    assert_int_equal(ops_ini_parse(&ini, cases[i].text, strlen(cases[i].text),
                                   "/home/u/.aws/config", OPS_INI_CONFIG, &err),
                     OPS_ERR_CONFIG);
    assert_null(ini);
    assert_string_equal(err.message, cases[i].message);
    assert_string_equal(err.code, "ConfigParseError");
  }
}

static void write_file(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void files_load_merge_and_name_the_region(void **state)
{
  (void)state;
  char dir[] = "/tmp/test_ini_XXXXXX", path[256];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/.aws", dir);
  assert_int_equal(mkdir(path, 0700), 0);
  snprintf(path, sizeof(path), "%s/.aws/config", dir);
  write_file(path, "[default]\nregion = eu-central-1\noutput = json\n"
                   "[profile ops]\nregion = eu-west-1\naws_access_key_id = FROM_CONFIG\n");
  snprintf(path, sizeof(path), "%s/.aws/credentials", dir);
  write_file(path, "[ops]\naws_access_key_id = FROM_CREDENTIALS\n");

  struct fake_env fe = {0};
  fake_env_set(&fe, "HOME", dir);
  struct ops_env env = fake_env_get(&fe);
  struct ops_aws_config config;
  const char *from = NULL;
  assert_int_equal(ops_aws_config_load(&config, &env, NULL), OPS_OK);
  assert_true(ops_aws_config_has_profile(&config, "ops"));
  assert_false(ops_aws_config_has_profile(&config, "other"));
  assert_string_equal(ops_aws_config_get(&config, "ops", "aws_access_key_id", &from),
                      "FROM_CREDENTIALS");
  assert_string_equal(from, path);
  assert_string_equal(ops_aws_config_get(&config, "ops", "region", NULL), "eu-west-1");
  ops_aws_config_clear(&config);

  char region[64];
  assert_int_equal(ops_aws_config_region(&env, NULL, region, sizeof(region), NULL), OPS_OK);
  assert_string_equal(region, "eu-central-1");
  assert_int_equal(ops_aws_config_region(&env, "ops", region, sizeof(region), NULL), OPS_OK);
  assert_string_equal(region, "eu-west-1");
  fake_env_set(&fe, "AWS_PROFILE", "nothing-here");
  assert_int_equal(ops_aws_config_region(&env, NULL, region, sizeof(region), NULL), OPS_OK);
  assert_string_equal(region, "us-east-1");
  fake_env_set(&fe, "AWS_DEFAULT_REGION", "ap-south-1");
  assert_int_equal(ops_aws_config_region(&env, "ops", region, sizeof(region), NULL), OPS_OK);
  assert_string_equal(region, "ap-south-1");
  fake_env_set(&fe, "AWS_REGION", "sa-east-1");
  assert_int_equal(ops_aws_config_region(&env, "ops", region, sizeof(region), NULL), OPS_OK);
  assert_string_equal(region, "sa-east-1");

  /* overrides, "~/" expanded; a missing file is empty, not an error */
  fake_env_set(&fe, "AWS_CONFIG_FILE", "~/.aws/credentials");
  fake_env_set(&fe, "AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials");
  assert_int_equal(ops_aws_config_load(&config, &env, NULL), OPS_OK);
  assert_false(ops_ini_found(config.credentials));
  assert_true(ops_ini_found(config.config));
  assert_false(ops_aws_config_has_profile(&config, "ops")); /* [ops] is not a config section */
  ops_aws_config_clear(&config);

  /* a malformed file is an error naming it */
  snprintf(path, sizeof(path), "%s/.aws/credentials", dir);
  write_file(path, "[ops]\naws_access_key_id\n");
  struct ops_error err = {0};
  fake_env_set(&fe, "AWS_REGION", NULL);
  fake_env_set(&fe, "AWS_DEFAULT_REGION", NULL);
  assert_int_equal(ops_aws_config_region(&env, NULL, region, sizeof(region), &err), OPS_ERR_CONFIG);
  char expected[300];
  snprintf(expected, sizeof(expected), "%s:2: expected 'name = value'", path);
  assert_string_equal(err.message, expected);
  unlink(path);
  snprintf(path, sizeof(path), "%s/.aws/config", dir);
  unlink(path);
  snprintf(path, sizeof(path), "%s/.aws", dir);
  rmdir(path);
  rmdir(dir);
}

/* A region goes into host names, headers and signatures: one that is not a region name is
 * refused wherever it comes from, and the message names that source. */
static void a_region_that_is_not_a_region_name_is_refused_naming_its_source(void **state)
{
  (void)state;
  char dir[] = "/tmp/test_ini_XXXXXX", path[256];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/config", dir);
  write_file(path, "[default]\nregion = eu-west-1.evil.example\n");
  struct fake_env fe = {0};
  fake_env_set(&fe, "HOME", dir);
  fake_env_set(&fe, "AWS_CONFIG_FILE", path);
  struct ops_env env = fake_env_get(&fe);
  char region[64] = "", expected[400];
  struct ops_error err = {0};

  assert_int_equal(ops_aws_config_region(&env, NULL, region, sizeof(region), &err), OPS_ERR_CONFIG);
  snprintf(expected, sizeof(expected),
           "region 'eu-west-1.evil.example' from profile default in %s is not a region name "
           "(such as us-east-1)",
           path);
  assert_string_equal(err.message, expected);

  fake_env_set(&fe, "AWS_DEFAULT_REGION", "x@127.0.0.1:1/#");
  assert_int_equal(ops_aws_config_region(&env, NULL, region, sizeof(region), &err), OPS_ERR_CONFIG);
  assert_string_equal(err.message, "region 'x@127.0.0.1:1/#' from AWS_DEFAULT_REGION is not a "
                                   "region name (such as us-east-1)");

  fake_env_set(&fe, "AWS_REGION", "us-east-1\r\nX-Injected: yes");
  assert_int_equal(ops_aws_config_region(&env, NULL, region, sizeof(region), &err), OPS_ERR_CONFIG);
  assert_string_equal(err.message, "region 'us-east-1\\x0d\\x0aX-Injected: yes' from AWS_REGION "
                                   "is not a region name (such as us-east-1)");
  assert_string_equal(region, ""); /* nothing written */

  fake_env_set(&fe, "AWS_REGION", ""); /* empty is unset: the next source counts */
  fake_env_set(&fe, "AWS_DEFAULT_REGION", "eusc-de-east-1");
  assert_int_equal(ops_aws_config_region(&env, NULL, region, sizeof(region), &err), OPS_OK);
  assert_string_equal(region, "eusc-de-east-1");

  unlink(path);
  rmdir(dir);
}

/* AWS_CA_BUNDLE, else the profile's ca_bundle (the AWS CLI's precedence), each named as the
 * source; an empty value is none. */
static void the_ca_bundle_comes_from_the_environment_else_the_profile(void **state)
{
  (void)state;
  char dir[] = "/tmp/test_ini_XXXXXX", config[256], bundle[4096], source[512];
  assert_non_null(mkdtemp(dir));
  snprintf(config, sizeof(config), "%s/config", dir);
  write_file(config, "[default]\nca_bundle = /etc/corp/ca.pem\n[profile bare]\nca_bundle =\n");
  struct fake_env fe = {0};
  fake_env_set(&fe, "HOME", dir);
  fake_env_set(&fe, "AWS_CONFIG_FILE", config);
  struct ops_env env = fake_env_get(&fe);

  assert_int_equal(
      ops_aws_config_ca_bundle(&env, NULL, bundle, sizeof(bundle), source, sizeof(source), NULL),
      OPS_OK);
  assert_string_equal(bundle, "/etc/corp/ca.pem");
  char expected[512];
  snprintf(expected, sizeof(expected), "ca_bundle of profile default in %s", config);
  assert_string_equal(source, expected);

  assert_int_equal(
      ops_aws_config_ca_bundle(&env, "bare", bundle, sizeof(bundle), source, sizeof(source), NULL),
      OPS_OK);
  assert_string_equal(bundle, "");
  assert_string_equal(source, "");

  fake_env_set(&fe, "AWS_CA_BUNDLE", "/run/ca/bundle.pem");
  assert_int_equal(
      ops_aws_config_ca_bundle(&env, NULL, bundle, sizeof(bundle), source, sizeof(source), NULL),
      OPS_OK);
  assert_string_equal(bundle, "/run/ca/bundle.pem");
  assert_string_equal(source, "AWS_CA_BUNDLE");

  fake_env_set(&fe, "AWS_CA_BUNDLE", ""); /* empty is unset: the profile's counts */
  assert_int_equal(
      ops_aws_config_ca_bundle(&env, NULL, bundle, sizeof(bundle), source, sizeof(source), NULL),
      OPS_OK);
  assert_string_equal(bundle, "/etc/corp/ca.pem");

  unlink(config);
  rmdir(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(config_sections_need_the_profile_prefix),
      cmocka_unit_test(credentials_sections_are_bare_names),
      cmocka_unit_test(comments_whole_line_and_inline),
      cmocka_unit_test(whitespace_case_and_line_endings),
      cmocka_unit_test(continuation_lines_and_sub_properties),
      cmocka_unit_test(repeats_merge_and_the_last_value_wins),
      cmocka_unit_test(malformed_lines_are_named_by_file_and_line),
      cmocka_unit_test(files_load_merge_and_name_the_region),
      cmocka_unit_test(a_region_that_is_not_a_region_name_is_refused_naming_its_source),
      cmocka_unit_test(the_ca_bundle_comes_from_the_environment_else_the_profile),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
