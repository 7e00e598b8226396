/* test_region.c: the region name shape of runtime/region.h against real names (every region of
 * every partition in python3-botocore's endpoints.json, and newer ones) and against what must
 * never pass (header and URL injection, near misses), and the one-line message naming a source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "runtime/region.h"

#define BOTOCORE_ENDPOINTS "/usr/lib/python3/dist-packages/botocore/data/endpoints.json"

static void names_of_every_partition_pass(void **state)
{
  (void)state;
  /* partitions newer than Debian 12's botocore: il, mx, ap-southeast-5, ISO-E, ISO-F, EUSC */
  static const char *const names[] = {
      "us-east-1",      "us-gov-west-1", "cn-northwest-1", "us-iso-east-1",  "us-isob-east-1",
      "eu-isoe-west-1", "il-central-1",  "mx-central-1",   "ap-southeast-5", "us-isof-south-1",
      "eusc-de-east-1", "ca-west-1",     "eu-central-2",   "ap-northeast-3"};
  for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
    if (!ops_region_is_name(names[i]))
      fail_msg("'%s' was refused", names[i]);
}

static void every_region_botocore_lists_passes(void **state)
{
  (void)state;
  if (access(BOTOCORE_ENDPOINTS, R_OK) != 0)
    skip(); /* python3-botocore: scripts/setup.sh installs it */
  json_error_t error;
  json_t *root = json_load_file(BOTOCORE_ENDPOINTS, 0, &error);
  assert_non_null(root);
  size_t index, checked = 0;
  json_t *partition;
  json_array_foreach(json_object_get(root, "partitions"), index, partition)
  {
    const char *name;
    json_t *region;
    json_object_foreach(json_object_get(partition, "regions"), name, region)
    {
      if (!ops_region_is_name(name))
        fail_msg("botocore's region '%s' was refused", name);
      checked++;
    }
  }
  json_decref(root);
  assert_true(checked >= 30);
}

static void anything_else_is_refused(void **state)
{
  (void)state;
  static const char *const names[] = {
      "",
      "us-east-1\r\nX-Injected: yes", /* a header of its own in every signed request */
      "x@127.0.0.1:1/#",              /* https://sts.x@127.0.0.1:1/#.amazonaws.com */
      "us-east-1.evil.example",
      "us-east-1/",
      "us-east-1 ",
      "US-EAST-1",
      "us-east",
      "u-east-1",
      "us-1",
      "us--east-1",
      "us-east--1",
      "-us-east-1",
      "us-east-1-",
      "us-east-1a",
      "us_east_1",
      "aws-global", /* botocore's pseudo-region: no number, not an operating region */
      "abcdefghij-klmnopqrstu-vwxyzabc-1"}; /* 33 characters */
  for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
    if (ops_region_is_name(names[i]))
      fail_msg("'%s' passed", names[i]);
  assert_false(ops_region_is_name(NULL));
  assert_true(ops_region_is_name("abcdefghij-klmnopqrstu-vwxyzab-1")); /* 32 */
}

static void the_message_is_one_printable_line_naming_the_source(void **state)
{
  (void)state;
  struct ops_error err;
  assert_int_equal(ops_region_check("eu-west-1", "--region", &err), OPS_OK);
  assert_int_equal(ops_region_check("us-east-1\r\nX-Injected: 'yes'\\", "--region", &err),
                   OPS_ERR_CONFIG);
  assert_int_equal(err.kind, OPS_ERR_CONFIG);
  assert_string_equal(err.message,
                      "region 'us-east-1\\x0d\\x0aX-Injected: \\x27yes\\x27\\x5c' from --region is "
                      "not a region name (such as us-east-1)");
  char long_name[200];
  memset(long_name, 'a', sizeof(long_name) - 1);
  long_name[sizeof(long_name) - 1] = '\0';
  assert_int_equal(ops_region_check(long_name, "AWS_REGION", &err), OPS_ERR_CONFIG);
  assert_string_equal(err.message, "region 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' from "
                                   "AWS_REGION is not a region name (such as us-east-1)");
  assert_int_equal(ops_region_check(NULL, "AWS_REGION", &err), OPS_ERR_CONFIG);
  assert_string_equal(err.message,
                      "region '' from AWS_REGION is not a region name (such as us-east-1)");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(names_of_every_partition_pass),
      cmocka_unit_test(every_region_botocore_lists_passes),
      cmocka_unit_test(anything_else_is_refused),
      cmocka_unit_test(the_message_is_one_printable_line_naming_the_source),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
