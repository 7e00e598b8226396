/* hash.h: a map of strings to pointers with constant-time lookup, for the core and the bindings:
 * open addressing with linear probing (FNV-1a hashes kept beside the keys), doubled when three
 * quarters full, removal by shifting the following entries back (no tombstones). Keys are
 * borrowed: each must stay unchanged while it is in the map. */
#ifndef OPS_HASH_H
#define OPS_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ops_hash_slot {
  const char *key; /* NULL: empty */
  uint64_t hash;
  void *value;
};

/* Zero-initialised: empty. */
struct ops_hash {
  struct ops_hash_slot *slots;
  size_t capacity; /* 0, or a power of two */
  size_t count;
};

/* Maps `key` to `value` (replacing its previous value); false when out of memory (the map is
 * then unchanged). */
bool ops_hash_put(struct ops_hash *map, const char *key, void *value);

/* The value of `key`, or NULL. */
void *ops_hash_get(const struct ops_hash *map, const char *key);

/* Removes `key`; its value, or NULL when it was not there. */
void *ops_hash_remove(struct ops_hash *map, const char *key);

/* Releases the map's memory (not its keys or values); it is empty again. */
void ops_hash_clear(struct ops_hash *map);

/* Calls `release` on each value, in no order, then clears the map as ops_hash_clear does: for a
 * map that owns its values (and, through them, its keys). */
void ops_hash_clear_values(struct ops_hash *map, void (*release)(void *value));

#endif
