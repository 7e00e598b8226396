/* aws_config.h: the shared config and credentials files as the AWS CLI v2 reads them together:
 * where they are (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/config and
 * ~/.aws/credentials), one profile's settings with the credentials file winning over the config
 * file, `[sso-session]` sections, which profile is selected, and the operating region. Parsing
 * is runtime/ini.h; the environment comes through runtime/env.h. */
#ifndef OPS_AWS_CONFIG_H
#define OPS_AWS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/env.h"
#include "runtime/error.h"
#include "runtime/ini.h"

/* The region used when neither the environment nor the profile names one (SPEC section 1). */
#define OPS_AWS_DEFAULT_REGION "us-east-1"

struct ops_aws_config {
  struct ops_ini *config;      /* owned; a missing file loads as an empty one */
  struct ops_ini *credentials; /* owned */
};

/* Loads both files. Returns 0 with `out` filled (release with ops_aws_config_clear), or the
 * error of runtime/ini.h (a malformed line names file:line). */
int ops_aws_config_load(struct ops_aws_config *out, const struct ops_env *env,
                        struct ops_error *err);

/* Frees what ops_aws_config_load filled and zeroes it; safe on a zeroed struct. */
void ops_aws_config_clear(struct ops_aws_config *config);

/* True when either file has a section for `profile`. */
bool ops_aws_config_has_profile(const struct ops_aws_config *config, const char *profile);

/* The value of `key` in `profile`: the credentials file's if it has one, else the config
 * file's; NULL when neither has it. `path` (may be NULL) receives the file it came from.
 * Borrowed, valid until ops_aws_config_clear. */
const char *ops_aws_config_get(const struct ops_aws_config *config, const char *profile,
                               const char *key, const char **path);

/* The config file's `[sso-session NAME]`, or NULL. */
const struct ops_ini_section *ops_aws_config_sso_session(const struct ops_aws_config *config,
                                                         const char *name);

/* "CREDENTIALS_PATH and CONFIG_PATH", for messages that say where profiles were looked for. */
void ops_aws_config_describe_files(const struct ops_aws_config *config, char *buf, size_t size);

/* The profile in use: `explicit_profile` (--profile) if not NULL, else AWS_PROFILE, else
 * "default". Borrowed from the arguments or the environment. */
const char *ops_aws_config_profile(const struct ops_env *env, const char *explicit_profile);

/* The region the environment names: AWS_REGION, else AWS_DEFAULT_REGION, an empty value
 * counting as none; NULL when neither does. *variable receives the name of the one used.
 * Borrowed from the environment. */
const char *ops_aws_config_env_region(const struct ops_env *env, const char **variable);

/* The operating region when --region is not given: AWS_REGION, else AWS_DEFAULT_REGION, else
 * the `region` of the profile (`explicit_profile` as for ops_aws_config_profile), else
 * OPS_AWS_DEFAULT_REGION; an empty value counts as none. Writes it to `out`; returns 0, the
 * error of a malformed file, or OPS_ERR_CONFIG naming the source of a value that is not a
 * region name (runtime/region.h). */
int ops_aws_config_region(const struct ops_env *env, const char *explicit_profile, char *out,
                          size_t size, struct ops_error *err);

/* The CA bundle the configuration names, as the AWS CLI reads it: AWS_CA_BUNDLE, else the
 * profile's `ca_bundle` (`explicit_profile` as for ops_aws_config_profile), the path as written;
 * an empty value counts as none. Writes the path to `path` and where it came from to `source`
 * ("AWS_CA_BUNDLE", "ca_bundle of profile NAME in FILE"), both empty when nothing names one.
 * Returns 0, the error of a malformed file, or OPS_ERR_CONFIG when the path is too long. */
int ops_aws_config_ca_bundle(const struct ops_env *env, const char *explicit_profile, char *path,
                             size_t path_size, char *source, size_t source_size,
                             struct ops_error *err);

#endif
