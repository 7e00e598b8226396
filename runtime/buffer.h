/* buffer.h: a growable byte buffer, always NUL-terminated, for reply bodies and parsers. */
#ifndef OPS_BUFFER_H
#define OPS_BUFFER_H

#include <stdbool.h>
#include <stddef.h>

/* Zero-initialise before first use; `data` is NULL until something is appended. */
struct ops_buffer {
  char *data;
  size_t len;
  size_t capacity;
};

/* Appends `len` bytes. Returns false when out of memory, leaving the buffer as it was. */
bool ops_buffer_append(struct ops_buffer *buffer, const char *data, size_t len);

/* Replaces the contents with `len` bytes. Returns false when out of memory. */
bool ops_buffer_set(struct ops_buffer *buffer, const char *data, size_t len);

/* Frees the storage and zeroes the buffer. */
void ops_buffer_free(struct ops_buffer *buffer);

#endif
