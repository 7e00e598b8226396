/* file.c: ops_file_read of file.h: read(2) into a buffer that grows by doubling up to the cap,
 * the old one wiped at each step, as the file may hold secrets (a credentials file). */
#include "runtime/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define FIRST_CAPACITY 4096

static void s_wipe_free(char *buffer, size_t len)
{
  if (buffer)
    OPENSSL_cleanse(buffer, len);
  free(buffer);
}

/* A buffer twice as large (but no larger than `most`) holding the first `len` bytes of `buffer`,
 * which is wiped and freed; NULL when out of memory, `buffer` then freed all the same. */
static char *s_grow(char *buffer, size_t len, size_t *capacity, size_t most)
{
  size_t bigger = *capacity < most / 2 ? *capacity * 2 : most;
  char *grown = malloc(bigger);
  if (grown) {
    memcpy(grown, buffer, len);
    *capacity = bigger;
  }
  s_wipe_free(buffer, len);
  return grown;
}

/* Reads to the end, or until more than `max_bytes` came (then errno is EFBIG). The buffer always
 * has room for one byte more than it holds, for the terminating NUL. */
static char *s_read_all(int fd, size_t max_bytes, size_t *len)
{
  size_t most = max_bytes + 2; /* one byte past the cap proves the file is larger; the NUL */
  size_t capacity = FIRST_CAPACITY < most ? FIRST_CAPACITY : most;
  char *buffer = malloc(capacity);
  *len = 0;
  while (buffer) {
    if (*len + 1 == capacity && !(buffer = s_grow(buffer, *len, &capacity, most)))
      break;
    ssize_t n = read(fd, buffer + *len, capacity - 1 - *len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int saved = errno;
      s_wipe_free(buffer, *len);
      errno = saved;
      return NULL;
    }
    if (n == 0) {
      buffer[*len] = '\0';
      return buffer;
    }
    *len += (size_t)n;
    if (*len > max_bytes) {
      s_wipe_free(buffer, *len);
      errno = EFBIG;
      return NULL;
    }
  }
  errno = ENOMEM;
  return NULL;
}

int ops_file_read(const char *path, size_t max_bytes, enum ops_err kind, char **text, size_t *len,
                  struct ops_error *err)
{
  *text = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size > max_bytes)
    errno = EFBIG; /* known before reading it */
  else if (fd >= 0)
    *text = s_read_all(fd, max_bytes, len);
  int saved = errno;
  if (fd >= 0)
    close(fd);
  errno = saved;
  if (*text)
    return OPS_OK;
  if (saved == ENOMEM)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory reading %s", path);
  if (saved == EFBIG)
    ops_error_set(err, kind, "%s: cannot read: larger than %zu bytes", path, max_bytes);
  else
    ops_error_set(err, kind, "%s: cannot read: %s", path, strerror(saved));
  errno = saved;
  return kind;
}
