/* file.c: file.h's ops_file_read, read(2) into a secret buffer (runtime/buffer.h: it wipes the
 * old storage at each step as it grows), as the file may hold secrets (a credentials file); and
 * ops_file_replace, mkstemp(3) then rename(2). */
#include "runtime/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/buffer.h"

#define READ_SIZE 4096

/* Reads to the end, or until more than `max_bytes` came (then errno is EFBIG). Returns the bytes,
 * NUL-terminated, owned by the caller. */
static char *s_read_all(int fd, size_t max_bytes, size_t *len)
{
  struct ops_buffer buffer = {.secret = true};
  *len = 0;
  for (;;) {
    if (buffer.len + 1 >= buffer.capacity && !ops_buffer_reserve(&buffer, READ_SIZE)) {
      ops_buffer_free(&buffer);
      errno = ENOMEM;
      return NULL;
    }
    size_t room = buffer.capacity - 1 - buffer.len;
    size_t wanted = max_bytes + 1 - buffer.len; /* one byte past the cap proves it is larger */
    ssize_t n = read(fd, buffer.data + buffer.len, room < wanted ? room : wanted);
    if (n < 0 && errno == EINTR)
      continue;
    int saved = n < 0 ? errno : EFBIG;
    if (n > 0)
      buffer.len += (size_t)n;
    if (n < 0 || buffer.len > max_bytes) {
      ops_buffer_free(&buffer);
      errno = saved;
      return NULL;
    }
    if (n == 0) {
      buffer.data[buffer.len] = '\0';
      *len = buffer.len;
      return buffer.data;
    }
  }
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

static bool s_write_all(int fd, const char *text, size_t len)
{
  while (len > 0) {
    ssize_t n = write(fd, text, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    text += n;
    len -= (size_t)n;
  }
  return true;
}

int ops_file_replace(const char *path, const char *text, size_t len, enum ops_err kind,
                     struct ops_error *err)
{
  size_t size = strlen(path) + sizeof(".XXXXXX");
  char *temporary = malloc(size);
  if (!temporary)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  snprintf(temporary, size, "%s.XXXXXX", path);
  int fd = mkstemp(temporary); /* mode 0600 */
  bool written = fd >= 0 && fchmod(fd, 0600) == 0 && s_write_all(fd, text, len) && fsync(fd) == 0;
  int saved = errno;
  if (fd >= 0 && close(fd) != 0 && written) {
    written = false;
    saved = errno;
  }
  if (written && rename(temporary, path) != 0) {
    written = false;
    saved = errno;
  }
  if (!written && fd >= 0)
    unlink(temporary);
  free(temporary);
  if (!written)
    return ops_error_set(err, kind, "%s: cannot write: %s", path, strerror(saved ? saved : EIO));
  return OPS_OK;
}
