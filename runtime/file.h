/* file.h: a whole small file read into memory (a registry, an AWS configuration file, a token,
 * the SSO token cache), never more than a cap the caller names: a path such as /dev/zero, a FIFO
 * or a runaway file fails with an error naming the file and the cap instead of reading until
 * memory runs out; and a file replaced whole, atomically (a cache). Uses POSIX read(2) and
 * runtime/buffer.h's secret buffers. */
#ifndef OPS_FILE_H
#define OPS_FILE_H

#include <stddef.h>

#include "runtime/error.h"

/* Reads the file at `path` whole: *text (NUL-terminated, owned by the caller, who wipes it when
 * it may hold secrets) and *len. Returns OPS_OK, or `kind` with `err` saying "PATH: cannot read:
 * REASON" and errno why: ENOENT when there is no such file, EFBIG when it holds more than
 * `max_bytes` ("PATH: cannot read: larger than N bytes"), or OPS_ERR_NOMEM. What it let go of on
 * the way is wiped. */
int ops_file_read(const char *path, size_t max_bytes, enum ops_err kind, char **text, size_t *len,
                  struct ops_error *err);

/* Replaces the file at `path` with `len` bytes of `text` so that a reader sees the old file or the
 * new one, never a part: a new file beside it (mode 0600), written, synced, renamed over it (as
 * botocore's JSONFileCache writes the SSO cache). Returns OPS_OK, or `kind` with `err` saying
 * "PATH: cannot write: REASON" (the temporary file removed). */
int ops_file_replace(const char *path, const char *text, size_t len, enum ops_err kind,
                     struct ops_error *err);

#endif
