/* env.c: the real environment behind struct ops_env, and the lookup every reader uses. */
#include "runtime/env.h"

#include <stdlib.h>

static const char *s_getenv(void *self, const char *name)
{
  (void)self;
  return getenv(name);
}

struct ops_env ops_env_process(void)
{
  return (struct ops_env){.get = s_getenv, .self = NULL};
}

const char *ops_env_get(const struct ops_env *env, const char *name)
{
  const char *value = env->get(env->self, name);
  return value && value[0] ? value : NULL;
}

const char *ops_env_endpoint_url(const struct ops_env *env, const char *service_variable,
                                 const char **variable)
{
  const char *names[] = {service_variable, "AWS_ENDPOINT_URL"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    const char *url = ops_env_get(env, names[i]);
    if (url) {
      if (variable)
        *variable = names[i];
      return url;
    }
  }
  return NULL;
}
