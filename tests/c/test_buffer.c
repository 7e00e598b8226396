/* test_buffer.c: the growable buffer (runtime/buffer.h): appends across growth stay whole and
 * NUL-terminated, room reserved for a caller's own writes, and secret buffers keeping their bytes
 * as they move and wiping them when emptied. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <string.h>

#include "runtime/buffer.h"

/* Appends "0123456789" `times` times, one piece at a time. */
static void append_digits(struct ops_buffer *buffer, int times)
{
  for (int i = 0; i < times; i++)
    assert_true(ops_buffer_append(buffer, "0123456789", 10));
}

static void assert_digits(const struct ops_buffer *buffer, int times)
{
  assert_int_equal(buffer->len, (size_t)times * 10);
  for (int i = 0; i < times; i++)
    assert_memory_equal(buffer->data + i * 10, "0123456789", 10);
  assert_int_equal(buffer->data[buffer->len], '\0');
}

static void appends_grow_and_stay_terminated(void **state)
{
  (void)state;
  struct ops_buffer buffer = {0};
  assert_true(ops_buffer_append(&buffer, "", 0));
  assert_string_equal(buffer.data, "");
  append_digits(&buffer, 1000); /* many times the first capacity */
  assert_digits(&buffer, 1000);
  assert_true(ops_buffer_set(&buffer, "again", 5));
  assert_string_equal(buffer.data, "again");
  assert_int_equal(buffer.len, 5);
  ops_buffer_free(&buffer);
  assert_null(buffer.data);
  assert_int_equal(buffer.len, 0);
  assert_int_equal(buffer.capacity, 0);
}

static void reserved_room_is_the_callers_to_fill(void **state)
{
  (void)state;
  struct ops_buffer buffer = {0};
  assert_true(ops_buffer_append(&buffer, "abc", 3));
  assert_true(ops_buffer_reserve(&buffer, 5000));
  assert_true(buffer.capacity >= 3 + 5000 + 1);
  assert_string_equal(buffer.data, "abc");
  memset(buffer.data + buffer.len, 'x', 5000);
  buffer.len += 5000;
  size_t capacity = buffer.capacity;
  assert_true(ops_buffer_reserve(&buffer, 0)); /* the NUL's byte was kept free */
  assert_int_equal(buffer.capacity, capacity);
  assert_true(ops_buffer_append(&buffer, "", 0));
  assert_int_equal(strlen(buffer.data), 5003);
  ops_buffer_free(&buffer);
}

static void a_secret_buffer_keeps_its_bytes_as_it_moves(void **state)
{
  (void)state;
  struct ops_buffer buffer = {.secret = true};
  append_digits(&buffer, 1000);
  assert_digits(&buffer, 1000);
  assert_true(ops_buffer_reserve(&buffer, buffer.capacity)); /* moves it once more */
  assert_digits(&buffer, 1000);
  ops_buffer_free(&buffer);
  assert_null(buffer.data);
  assert_false(buffer.secret);
}

static void emptying_a_secret_buffer_wipes_its_bytes(void **state)
{
  (void)state;
  static const char zeros[32];
  struct ops_buffer secret = {.secret = true}, plain = {0};
  assert_true(ops_buffer_append(&secret, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEX", 32));
  assert_true(ops_buffer_append(&plain, "not a secret", 12));
  size_t capacity = secret.capacity;
  ops_buffer_clear(&secret);
  ops_buffer_clear(&plain);
  assert_int_equal(secret.len, 0);
  assert_int_equal(secret.capacity, capacity); /* its storage is kept for the next bytes */
  assert_memory_equal(secret.data, zeros, sizeof(zeros));
  assert_string_equal(plain.data, "");
  ops_buffer_free(&secret);
  ops_buffer_free(&plain);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(appends_grow_and_stay_terminated),
      cmocka_unit_test(reserved_room_is_the_callers_to_fill),
      cmocka_unit_test(a_secret_buffer_keeps_its_bytes_as_it_moves),
      cmocka_unit_test(emptying_a_secret_buffer_wipes_its_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
