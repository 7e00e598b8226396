/* region.h: what an AWS region name may look like, checked wherever a region comes from (the
 * command line, the environment, a profile, the registry, Lua) before it reaches a host name, a
 * header or a signature. No I/O; messages through runtime/error.h. */
#ifndef OPS_REGION_H
#define OPS_REGION_H

#include <stdbool.h>

#include "runtime/error.h"

#define OPS_REGION_MAX_LENGTH 32

/* Whether `name` has the shape of an AWS region name: words of lowercase letters then a number,
 * joined by '-', the first word of two letters or more, at most OPS_REGION_MAX_LENGTH characters
 * (us-east-1, us-gov-west-1, us-isob-east-1, eusc-de-east-1). Every partition's regionRegex in
 * botocore's partitions.json ("^(us|eu|ap|sa|ca|me|af|il|mx)\-\w+\-\d+$", "^cn\-\w+\-\d+$",
 * "^us\-gov\-\w+\-\d+$", "^eusc\-(de)\-\w+\-\d+$", ...) describes names of this shape; the shape
 * is stricter than their \w (no capitals, digits or '_' inside a word) and admits a new
 * partition's prefix. Nothing that can end a host name or a header line passes. NULL is not. */
bool ops_region_is_name(const char *name);

/* OPS_OK when `name` is a region name, else OPS_ERR_CONFIG with "region 'NAME' from SOURCE is
 * not a region name (such as us-east-1)", NAME cut short and its control bytes, quotes and
 * backslashes written as \xNN so that the message stays one printable line. */
int ops_region_check(const char *name, const char *source, struct ops_error *err);

#endif
