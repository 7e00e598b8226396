/* test_hash.c: the string map of runtime/hash.h: put, get, replace and remove; growth to 100,000
 * keys with every key still found; keys whose hashes collide in the table (and removals among
 * them) keep the others reachable; a map that owns its values releases each once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "runtime/hash.h"

static void an_empty_map_finds_nothing(void **state)
{
  (void)state;
  struct ops_hash map = {0};
  assert_null(ops_hash_get(&map, "a"));
  assert_null(ops_hash_remove(&map, "a"));
  ops_hash_clear(&map);
}

static void a_key_put_is_found_replaced_and_removed(void **state)
{
  (void)state;
  struct ops_hash map = {0};
  int one = 1, two = 2;
  assert_true(ops_hash_put(&map, "alpha", &one));
  assert_ptr_equal(ops_hash_get(&map, "alpha"), &one);
  assert_null(ops_hash_get(&map, "alph"));
  assert_true(ops_hash_put(&map, "alpha", &two));
  assert_int_equal(map.count, 1);
  assert_ptr_equal(ops_hash_get(&map, "alpha"), &two);
  assert_ptr_equal(ops_hash_remove(&map, "alpha"), &two);
  assert_null(ops_hash_get(&map, "alpha"));
  assert_null(ops_hash_remove(&map, "alpha"));
  assert_int_equal(map.count, 0);
  ops_hash_clear(&map);
}

/* Keys compare by content, not address: an equal string elsewhere finds the entry. */
static void keys_compare_by_content(void **state)
{
  (void)state;
  struct ops_hash map = {0};
  char stored[] = "arn:aws:iam::123456789012:role/R", asked[] = "arn:aws:iam::123456789012:role/R";
  int value = 0;
  assert_true(ops_hash_put(&map, stored, &value));
  assert_ptr_equal(ops_hash_get(&map, asked), &value);
  ops_hash_clear(&map);
}

static int s_released;

static void s_count_release(void *value)
{
  (*(int *)value)++;
  s_released++;
}

/* A map that owns its values releases each once, removed ones not at all. */
static void clear_values_releases_each_value_once(void **state)
{
  (void)state;
  struct ops_hash map = {0};
  char keys[40][8];
  int counts[40] = {0};
  for (int i = 0; i < 40; i++) {
    snprintf(keys[i], sizeof(keys[i]), "k%d", i);
    assert_true(ops_hash_put(&map, keys[i], &counts[i]));
  }
  assert_ptr_equal(ops_hash_remove(&map, keys[7]), &counts[7]);
  s_released = 0;
  ops_hash_clear_values(&map, s_count_release);
  assert_int_equal(s_released, 39);
  for (int i = 0; i < 40; i++)
    assert_int_equal(counts[i], i == 7 ? 0 : 1);
  assert_int_equal(map.count, 0);
  assert_null(ops_hash_get(&map, keys[0]));
}

#define MANY 100000

static void it_grows_to_100k_keys_and_finds_each(void **state)
{
  (void)state;
  struct ops_hash map = {0};
  static char keys[MANY][16];
  for (int i = 0; i < MANY; i++) {
    snprintf(keys[i], sizeof(keys[i]), "key-%d", i);
    assert_true(ops_hash_put(&map, keys[i], keys[i]));
  }
  assert_int_equal(map.count, MANY);
  assert_true(map.capacity * 3 >= map.count * 4);
  for (int i = 0; i < MANY; i++)
    assert_ptr_equal(ops_hash_get(&map, keys[i]), keys[i]);
  for (int i = 0; i < MANY; i += 2)
    assert_ptr_equal(ops_hash_remove(&map, keys[i]), keys[i]);
  assert_int_equal(map.count, MANY / 2);
  for (int i = 0; i < MANY; i++)
    assert_ptr_equal(ops_hash_get(&map, keys[i]), i % 2 ? keys[i] : NULL);
  ops_hash_clear(&map);
  assert_int_equal(map.count, 0);
}

/* In a 16-slot table, keys that land in the same slots make probe runs that wrap around the end;
 * removing any one of them leaves every other found. */
static void removal_among_collisions_keeps_the_others_found(void **state)
{
  (void)state;
  enum { KEYS = 11 }; /* stays below three quarters of 16: no growth */
  char keys[KEYS][8];
  for (int removed = 0; removed < KEYS; removed++) {
    struct ops_hash map = {0};
    for (int i = 0; i < KEYS; i++) {
      snprintf(keys[i], sizeof(keys[i]), "k%d", i);
      assert_true(ops_hash_put(&map, keys[i], keys[i]));
    }
    assert_int_equal(map.capacity, 16);
    assert_ptr_equal(ops_hash_remove(&map, keys[removed]), keys[removed]);
    for (int i = 0; i < KEYS; i++)
      assert_ptr_equal(ops_hash_get(&map, keys[i]), i == removed ? NULL : keys[i]);
    ops_hash_clear(&map);
  }
}

/* The slot a key takes alone in a fresh table of 16: its home slot there. */
static size_t s_home_slot(const char *key)
{
  struct ops_hash map = {0};
  assert_true(ops_hash_put(&map, key, (void *)key));
  size_t home = 0;
  while (map.slots[home].key != key)
    home++;
  ops_hash_clear(&map);
  return home;
}

/* Keys of one home slot (a real collision in the table) are all kept and found, and removing
 * the first of them leaves the rest found. */
static void keys_of_one_home_slot_are_all_found(void **state)
{
  (void)state;
  enum { KEYS = 11 };
  static char candidates[1000][8];
  const char *keys[KEYS];
  int found = 0;
  for (int i = 0; i < 1000 && found < KEYS; i++) {
    snprintf(candidates[i], sizeof(candidates[i]), "c%d", i);
    if (found == 0 || s_home_slot(candidates[i]) == s_home_slot(keys[0]))
      keys[found++] = candidates[i];
  }
  assert_int_equal(found, KEYS);
  struct ops_hash map = {0};
  for (int i = 0; i < KEYS; i++)
    assert_true(ops_hash_put(&map, keys[i], (void *)keys[i]));
  assert_int_equal(map.capacity, 16);
  for (int i = 0; i < KEYS; i++)
    assert_ptr_equal(ops_hash_get(&map, keys[i]), keys[i]);
  assert_ptr_equal(ops_hash_remove(&map, keys[0]), keys[0]);
  for (int i = 1; i < KEYS; i++)
    assert_ptr_equal(ops_hash_get(&map, keys[i]), keys[i]);
  assert_null(ops_hash_get(&map, keys[0]));
  ops_hash_clear(&map);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(an_empty_map_finds_nothing),
      cmocka_unit_test(a_key_put_is_found_replaced_and_removed),
      cmocka_unit_test(keys_compare_by_content),
      cmocka_unit_test(clear_values_releases_each_value_once),
      cmocka_unit_test(it_grows_to_100k_keys_and_finds_each),
      cmocka_unit_test(removal_among_collisions_keeps_the_others_found),
      cmocka_unit_test(keys_of_one_home_slot_are_all_found),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
