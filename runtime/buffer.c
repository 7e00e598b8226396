/* buffer.c: the growable buffer of buffer.h (capacity doubles); a secret one grows by moving
 * its bytes and wiping the old storage (OpenSSL's OPENSSL_cleanse), where realloc would leave a
 * copy behind. */
#include "runtime/buffer.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#define S_FIRST_CAPACITY 256

static char *s_grow_secret(struct ops_buffer *buffer, size_t capacity)
{
  char *grown = malloc(capacity);
  if (grown && buffer->data) {
    memcpy(grown, buffer->data, buffer->len);
    OPENSSL_cleanse(buffer->data, buffer->len);
    free(buffer->data);
  }
  return grown;
}

bool ops_buffer_reserve(struct ops_buffer *buffer, size_t extra)
{
  size_t needed = buffer->len + extra + 1;
  if (needed <= buffer->capacity)
    return true;
  size_t capacity = buffer->capacity ? buffer->capacity : S_FIRST_CAPACITY;
  while (capacity < needed)
    capacity *= 2;
  char *grown = buffer->secret ? s_grow_secret(buffer, capacity) : realloc(buffer->data, capacity);
  if (!grown)
    return false;
  grown[buffer->len] = '\0';
  buffer->data = grown;
  buffer->capacity = capacity;
  return true;
}

bool ops_buffer_append(struct ops_buffer *buffer, const char *data, size_t len)
{
  if (!ops_buffer_reserve(buffer, len))
    return false;
  if (len)
    memcpy(buffer->data + buffer->len, data, len);
  buffer->len += len;
  buffer->data[buffer->len] = '\0';
  return true;
}

bool ops_buffer_set(struct ops_buffer *buffer, const char *data, size_t len)
{
  ops_buffer_clear(buffer);
  return ops_buffer_append(buffer, data, len);
}

void ops_buffer_clear(struct ops_buffer *buffer)
{
  if (!buffer->data)
    return;
  if (buffer->secret)
    OPENSSL_cleanse(buffer->data, buffer->len);
  buffer->len = 0;
  buffer->data[0] = '\0';
}

void ops_buffer_free(struct ops_buffer *buffer)
{
  if (buffer->secret && buffer->data)
    OPENSSL_cleanse(buffer->data, buffer->len);
  free(buffer->data);
  *buffer = (struct ops_buffer){0};
}
