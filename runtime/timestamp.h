/* timestamp.h: the ISO 8601 / RFC 3339 timestamps AWS sends (STS Expiration, container and
 * instance metadata, credential_process, the SSO token cache) to and from epoch seconds, with
 * calendar arithmetic instead of timegm. */
#ifndef OPS_TIMESTAMP_H
#define OPS_TIMESTAMP_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/error.h"

/* Room for "2026-11-24T06:00:00Z" and its NUL. */
#define OPS_TIMESTAMP_LEN 21

/* Parses "YYYY-MM-DDTHH:MM:SS" with an optional fraction (dropped: seconds are floored) and a zone
 * of "Z" or "+HH:MM" / "-HHMM", into seconds since the epoch. Surrounding whitespace is allowed.
 * Returns 0, or OPS_ERR_CONFIG with `err` (may be NULL) naming the text. */
int ops_timestamp_parse(const char *text, int64_t *out, struct ops_error *err);

/* Writes "YYYY-MM-DDTHH:MM:SSZ" for `epoch` into `buf` (at least OPS_TIMESTAMP_LEN bytes). */
void ops_timestamp_format(int64_t epoch, char *buf, size_t size);

#endif
