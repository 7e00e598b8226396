/* env.h: the process environment as an injectable lookup. The credential chain, the STS client
 * and the shared-file loader read AWS_* variables and HOME only through this table, so tests set
 * them without touching the real environment. */
#ifndef OPS_ENV_H
#define OPS_ENV_H

struct ops_env {
  /* The value of `name`, or NULL when it is unset. Borrowed until the environment changes. */
  const char *(*get)(void *self, const char *name);
  void *self;
};

/* The real environment (getenv). */
struct ops_env ops_env_process(void);

/* The value of `name`, or NULL when it is unset or empty (the AWS CLI treats both alike). */
const char *ops_env_get(const struct ops_env *env, const char *name);

/* The endpoint the AWS configuration gives a service (the SDKs' service-specific endpoints):
 * $`service_variable` (AWS_ENDPOINT_URL_STS, ...), else $AWS_ENDPOINT_URL, else NULL. *variable
 * (may be NULL) is set to the name of the variable it came from, for messages. */
const char *ops_env_endpoint_url(const struct ops_env *env, const char *service_variable,
                                 const char **variable);

#endif
