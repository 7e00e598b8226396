/* test_file.c: whole files read within a cap (runtime/file.h): a small file exactly, the cap
 * itself allowed and one byte more refused, endless and unsized sources (/dev/zero, a pipe)
 * stopped at the cap, and missing files and directories worded with errno kept for the caller. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/file.h"

/* A temporary file holding `len` bytes 'a'; the path is written into `path` (unlink it). */
static void write_file(char path[64], size_t len)
{
  snprintf(path, 64, "/tmp/test_file_XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  char block[4096];
  memset(block, 'a', sizeof(block));
  for (size_t left = len; left > 0;) {
    size_t n = left < sizeof(block) ? left : sizeof(block);
    assert_int_equal(write(fd, block, n), (ssize_t)n);
    left -= n;
  }
  close(fd);
}

static void a_small_file_is_read_whole_and_terminated(void **state)
{
  (void)state;
  char path[64];
  write_file(path, 10000); /* more than the first buffer: it grows */
  char *text = NULL;
  size_t len = 0;
  assert_int_equal(ops_file_read(path, 1 << 20, OPS_ERR_CONFIG, &text, &len, NULL), OPS_OK);
  assert_int_equal(len, 10000);
  assert_int_equal(strspn(text, "a"), 10000);
  assert_int_equal(text[len], '\0');
  free(text);
  unlink(path);
}

static void the_cap_is_allowed_and_one_byte_more_is_refused(void **state)
{
  (void)state;
  char exact[64], over[64];
  write_file(exact, 8192);
  write_file(over, 8193);
  char *text = NULL;
  size_t len = 0;
  struct ops_error err;
  assert_int_equal(ops_file_read(exact, 8192, OPS_ERR_CONFIG, &text, &len, &err), OPS_OK);
  assert_int_equal(len, 8192);
  free(text);
  text = NULL;
  assert_int_equal(ops_file_read(over, 8192, OPS_ERR_REGISTRY, &text, &len, &err),
                   OPS_ERR_REGISTRY);
  assert_int_equal(errno, EFBIG);
  assert_null(text);
  char expected[128];
  snprintf(expected, sizeof(expected), "%s: cannot read: larger than 8192 bytes", over);
  assert_string_equal(err.message, expected);
  unlink(exact);
  unlink(over);
}

/* Neither has a size to look at first: the reading itself stops at the cap. */
static void endless_sources_stop_at_the_cap(void **state)
{
  (void)state;
  char *text = NULL;
  size_t len = 0;
  struct ops_error err;
  assert_int_equal(ops_file_read("/dev/zero", 1 << 20, OPS_ERR_REGISTRY, &text, &len, &err),
                   OPS_ERR_REGISTRY);
  assert_string_equal(err.message, "/dev/zero: cannot read: larger than 1048576 bytes");

  int ends[2];
  assert_int_equal(pipe(ends), 0);
  char block[1000];
  memset(block, 'p', sizeof(block));
  assert_int_equal(write(ends[1], block, sizeof(block)), (ssize_t)sizeof(block));
  close(ends[1]);
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/fd/%d", ends[0]);
  assert_int_equal(ops_file_read(path, 999, OPS_ERR_CONFIG, &text, &len, &err), OPS_ERR_CONFIG);
  assert_int_equal(errno, EFBIG);
  close(ends[0]);
}

static void what_cannot_be_read_is_worded_with_errno_kept(void **state)
{
  (void)state;
  char *text = NULL;
  size_t len = 0;
  struct ops_error err;
  assert_int_equal(ops_file_read("/no/such/file", 100, OPS_ERR_CONFIG, &text, &len, &err),
                   OPS_ERR_CONFIG);
  assert_int_equal(errno, ENOENT); /* ini.c takes a missing file as an empty one */
  assert_string_equal(err.message, "/no/such/file: cannot read: No such file or directory");
  assert_int_equal(ops_file_read("/tmp", 100, OPS_ERR_CONFIG, &text, &len, &err), OPS_ERR_CONFIG);
  assert_string_equal(err.message, "/tmp: cannot read: Is a directory");
  assert_null(text);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_small_file_is_read_whole_and_terminated),
      cmocka_unit_test(the_cap_is_allowed_and_one_byte_more_is_refused),
      cmocka_unit_test(endless_sources_stop_at_the_cap),
      cmocka_unit_test(what_cannot_be_read_is_worded_with_errno_kept),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
