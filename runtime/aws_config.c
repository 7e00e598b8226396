/* aws_config.c: locating, loading and reading the AWS shared files as one profile view. */
#include "runtime/aws_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/region.h"

/* The path of a shared file: the override variable (a leading "~/" is the home directory, as
 * the CLI expands it), else HOME/.aws/NAME. */
static int s_path(const struct ops_env *env, const char *variable, const char *name, char **out,
                  struct ops_error *err)
{
  const char *override = ops_env_get(env, variable);
  const char *home = ops_env_get(env, "HOME");
  char buf[4096];
  int n;
  if (override && strncmp(override, "~/", 2) == 0 && home)
    n = snprintf(buf, sizeof(buf), "%s/%s", home, override + 2);
  else if (override)
    n = snprintf(buf, sizeof(buf), "%s", override);
  else
    n = snprintf(buf, sizeof(buf), "%s/.aws/%s", home ? home : "~", name);
  if (n < 0 || (size_t)n >= sizeof(buf))
    return ops_error_set(err, OPS_ERR_CONFIG, "the path of the AWS %s file is too long", name);
  *out = strdup(buf);
  return *out ? OPS_OK : ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
}

int ops_aws_config_load(struct ops_aws_config *out, const struct ops_env *env,
                        struct ops_error *err)
{
  char *config_path = NULL, *credentials_path = NULL;
  memset(out, 0, sizeof(*out));
  int rc = s_path(env, "AWS_CONFIG_FILE", "config", &config_path, err);
  if (rc == OPS_OK)
    rc = s_path(env, "AWS_SHARED_CREDENTIALS_FILE", "credentials", &credentials_path, err);
  if (rc == OPS_OK)
    rc = ops_ini_load(&out->config, config_path, OPS_INI_CONFIG, err);
  if (rc == OPS_OK)
    rc = ops_ini_load(&out->credentials, credentials_path, OPS_INI_CREDENTIALS, err);
  if (rc != OPS_OK)
    ops_aws_config_clear(out);
  free(config_path);
  free(credentials_path);
  return rc;
}

void ops_aws_config_clear(struct ops_aws_config *config)
{
  ops_ini_free(config->config);
  ops_ini_free(config->credentials);
  memset(config, 0, sizeof(*config));
}

bool ops_aws_config_has_profile(const struct ops_aws_config *config, const char *profile)
{
  return ops_ini_find(config->credentials, OPS_INI_PROFILE, profile) ||
         ops_ini_find(config->config, OPS_INI_PROFILE, profile);
}

const char *ops_aws_config_get(const struct ops_aws_config *config, const char *profile,
                               const char *key, const char **path)
{
  struct ops_ini *files[] = {config->credentials, config->config};
  for (size_t i = 0; i < 2; i++) {
    const char *value = ops_ini_get(ops_ini_find(files[i], OPS_INI_PROFILE, profile), key, NULL);
    if (value) {
      if (path)
        *path = ops_ini_path(files[i]);
      return value;
    }
  }
  return NULL;
}

const struct ops_ini_section *ops_aws_config_sso_session(const struct ops_aws_config *config,
                                                         const char *name)
{
  return ops_ini_find(config->config, OPS_INI_SSO_SESSION, name);
}

void ops_aws_config_describe_files(const struct ops_aws_config *config, char *buf, size_t size)
{
  snprintf(buf, size, "%s and %s", ops_ini_path(config->credentials), ops_ini_path(config->config));
}

const char *ops_aws_config_profile(const struct ops_env *env, const char *explicit_profile)
{
  if (explicit_profile && explicit_profile[0])
    return explicit_profile;
  const char *profile = ops_env_get(env, "AWS_PROFILE");
  return profile ? profile : "default";
}

/* Writes `region` to `out` when it is a region name, else says where it came from. */
static int s_take_region(const char *region, const char *source, char *out, size_t size,
                         struct ops_error *err)
{
  int rc = ops_region_check(region, source, err);
  if (rc == OPS_OK)
    snprintf(out, size, "%s", region);
  return rc;
}

const char *ops_aws_config_env_region(const struct ops_env *env, const char **variable)
{
  static const char *const variables[] = {"AWS_REGION", "AWS_DEFAULT_REGION"};
  for (size_t i = 0; i < sizeof(variables) / sizeof(*variables); i++) {
    const char *region = ops_env_get(env, variables[i]);
    if (region && region[0]) { /* set but empty is unset, as in a profile */
      *variable = variables[i];
      return region;
    }
  }
  return NULL;
}

int ops_aws_config_region(const struct ops_env *env, const char *explicit_profile, char *out,
                          size_t size, struct ops_error *err)
{
  const char *variable = NULL;
  const char *from_env = ops_aws_config_env_region(env, &variable);
  if (from_env)
    return s_take_region(from_env, variable, out, size, err);
  struct ops_aws_config config = {0};
  int rc = ops_aws_config_load(&config, env, err);
  if (rc != OPS_OK)
    return rc;
  const char *profile = ops_aws_config_profile(env, explicit_profile);
  const char *path = NULL;
  const char *region = ops_aws_config_get(&config, profile, "region", &path);
  if (region && region[0]) {
    char source[512];
    snprintf(source, sizeof(source), "profile %.64s in %s", profile, path);
    rc = s_take_region(region, source, out, size, err);
  } else {
    snprintf(out, size, "%s", OPS_AWS_DEFAULT_REGION);
  }
  ops_aws_config_clear(&config);
  return rc;
}

/* Copies `value` from `where` to `out`, refusing one that would be cut short. */
static int s_take_path(const char *value, const char *where, char *out, size_t size,
                       struct ops_error *err)
{
  if (strlen(value) >= size)
    return ops_error_set(err, OPS_ERR_CONFIG, "%s: the CA bundle path is too long", where);
  snprintf(out, size, "%s", value);
  return OPS_OK;
}

int ops_aws_config_ca_bundle(const struct ops_env *env, const char *explicit_profile, char *path,
                             size_t path_size, char *source, size_t source_size,
                             struct ops_error *err)
{
  path[0] = source[0] = '\0';
  const char *from_env = ops_env_get(env, "AWS_CA_BUNDLE");
  if (from_env) {
    snprintf(source, source_size, "AWS_CA_BUNDLE");
    return s_take_path(from_env, source, path, path_size, err);
  }
  struct ops_aws_config config = {0};
  int rc = ops_aws_config_load(&config, env, err);
  if (rc != OPS_OK)
    return rc;
  const char *profile = ops_aws_config_profile(env, explicit_profile);
  const char *file = NULL;
  const char *bundle = ops_aws_config_get(&config, profile, "ca_bundle", &file);
  if (bundle && bundle[0]) {
    snprintf(source, source_size, "ca_bundle of profile %.64s in %s", profile, file);
    rc = s_take_path(bundle, source, path, path_size, err);
  }
  ops_aws_config_clear(&config);
  return rc;
}
