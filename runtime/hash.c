/* hash.c: the string map of hash.h. */
#include "runtime/hash.h"

#include <stdlib.h>
#include <string.h>

#define MIN_CAPACITY 16

/* FNV-1a, 64 bits. */
static uint64_t s_hash(const char *key)
{
  uint64_t hash = 14695981039346656037ULL;
  for (const unsigned char *p = (const unsigned char *)key; *p; p++)
    hash = (hash ^ *p) * 1099511628211ULL;
  return hash;
}

/* The slot holding `key`, or the empty slot where it would go. */
static struct ops_hash_slot *s_slot(const struct ops_hash *map, const char *key, uint64_t hash)
{
  size_t mask = map->capacity - 1;
  for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
    struct ops_hash_slot *slot = &map->slots[i];
    if (!slot->key || (slot->hash == hash && strcmp(slot->key, key) == 0))
      return slot;
  }
}

static bool s_resize(struct ops_hash *map, size_t capacity)
{
  struct ops_hash_slot *slots = calloc(capacity, sizeof(*slots));
  if (!slots)
    return false;
  struct ops_hash old = *map;
  map->slots = slots;
  map->capacity = capacity;
  for (size_t i = 0; i < old.capacity; i++)
    if (old.slots[i].key)
      *s_slot(map, old.slots[i].key, old.slots[i].hash) = old.slots[i];
  free(old.slots);
  return true;
}

bool ops_hash_put(struct ops_hash *map, const char *key, void *value)
{
  size_t wanted = map->capacity ? map->capacity : MIN_CAPACITY;
  if ((map->count + 1) * 4 > wanted * 3)
    wanted *= 2;
  if (wanted != map->capacity && !s_resize(map, wanted))
    return false;
  uint64_t hash = s_hash(key);
  struct ops_hash_slot *slot = s_slot(map, key, hash);
  if (!slot->key)
    map->count++;
  *slot = (struct ops_hash_slot){.key = key, .hash = hash, .value = value};
  return true;
}

void *ops_hash_get(const struct ops_hash *map, const char *key)
{
  if (!map->count)
    return NULL;
  return s_slot(map, key, s_hash(key))->value;
}

/* Whether the entry at `from` may move back to `hole`: its home is not in (hole, from]. */
static bool s_may_fill(const struct ops_hash *map, size_t hole, size_t from)
{
  size_t mask = map->capacity - 1;
  size_t home = (size_t)map->slots[from].hash & mask;
  return ((from - home) & mask) >= ((from - hole) & mask);
}

void *ops_hash_remove(struct ops_hash *map, const char *key)
{
  if (!map->count)
    return NULL;
  struct ops_hash_slot *slot = s_slot(map, key, s_hash(key));
  if (!slot->key)
    return NULL;
  void *value = slot->value;
  size_t mask = map->capacity - 1;
  size_t hole = (size_t)(slot - map->slots);
  for (size_t i = (hole + 1) & mask; map->slots[i].key; i = (i + 1) & mask)
    if (s_may_fill(map, hole, i)) {
      map->slots[hole] = map->slots[i];
      hole = i;
    }
  map->slots[hole] = (struct ops_hash_slot){0};
  map->count--;
  return value;
}

void ops_hash_clear(struct ops_hash *map)
{
  free(map->slots);
  *map = (struct ops_hash){0};
}

void ops_hash_clear_values(struct ops_hash *map, void (*release)(void *value))
{
  for (size_t i = 0; i < map->capacity; i++)
    if (map->slots[i].key)
      release(map->slots[i].value);
  ops_hash_clear(map);
}
