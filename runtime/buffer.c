/* buffer.c: the growable buffer of buffer.h (capacity doubles). */
#include "runtime/buffer.h"

#include <stdlib.h>
#include <string.h>

bool ops_buffer_append(struct ops_buffer *buffer, const char *data, size_t len)
{
  if (buffer->len + len + 1 > buffer->capacity) {
    size_t capacity = buffer->capacity ? buffer->capacity : 256;
    while (capacity < buffer->len + len + 1)
      capacity *= 2;
    char *grown = realloc(buffer->data, capacity);
    if (!grown)
      return false;
    buffer->data = grown;
    buffer->capacity = capacity;
  }
  if (len)
    memcpy(buffer->data + buffer->len, data, len);
  buffer->len += len;
  buffer->data[buffer->len] = '\0';
  return true;
}

bool ops_buffer_set(struct ops_buffer *buffer, const char *data, size_t len)
{
  buffer->len = 0;
  return ops_buffer_append(buffer, data, len);
}

void ops_buffer_free(struct ops_buffer *buffer)
{
  free(buffer->data);
  *buffer = (struct ops_buffer){0};
}
