/* buffer.h: a growable byte buffer, NUL-terminated, for request and reply bodies, parsers and
 * scratch space; one that holds secrets wipes every copy of them it leaves behind. */
#ifndef OPS_BUFFER_H
#define OPS_BUFFER_H

#include <stdbool.h>
#include <stddef.h>

/* Zero-initialise before first use; `data` is NULL until something is appended or reserved. */
struct ops_buffer {
  char *data;
  size_t len;
  size_t capacity;
  /* Set before the first append for a buffer that will hold secrets (credentials, tokens): its
   * bytes are wiped (OPENSSL_cleanse) before any storage holding them is let go, when it grows
   * (the bytes move to new storage), empties or is freed. */
  bool secret;
};

/* Appends `len` bytes. Returns false when out of memory, leaving the buffer as it was. */
bool ops_buffer_append(struct ops_buffer *buffer, const char *data, size_t len);

/* Replaces the contents with `len` bytes. Returns false when out of memory. */
bool ops_buffer_set(struct ops_buffer *buffer, const char *data, size_t len);

/* Makes room for `extra` more bytes and the NUL after them, contents unchanged, so that a caller
 * may write them at data + len itself and then add what it wrote to len (and wipe what it drops
 * when it shortens len of a secret buffer). Returns false when out of memory. */
bool ops_buffer_reserve(struct ops_buffer *buffer, size_t extra);

/* Empties the buffer (wiping a secret one's bytes), keeping its storage. */
void ops_buffer_clear(struct ops_buffer *buffer);

/* Frees the storage (wiping a secret one's bytes first) and zeroes the buffer. */
void ops_buffer_free(struct ops_buffer *buffer);

#endif
