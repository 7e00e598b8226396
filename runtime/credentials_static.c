/* credentials_static.c: a source that hands out copies of credentials it was given: a profile's
 * static keys as the base of its role_arn chain (credentials_profile.c). */
#include "runtime/credentials.h"

static int s_start(struct ops_credentials_provider *provider, struct ops_credentials_fetch *fetch,
                   struct ops_error *err)
{
  struct ops_credentials *copy = NULL;
  int rc = ops_credentials_copy(&copy, ops_credentials_provider_impl(provider), err);
  if (rc == OPS_OK)
    ops_credentials_fetch_complete(fetch, copy, NULL);
  return rc;
}

static void s_destroy(void *impl)
{
  ops_credentials_free(impl);
}

static const struct ops_credentials_provider_vtable s_vtable = {
    .name = "static",
    .start = s_start,
    .destroy = s_destroy,
};

int ops_credentials_provider_static_new(struct ops_credentials_provider **out,
                                        const struct ops_credentials_context *context,
                                        struct ops_credentials *credentials, struct ops_error *err)
{
  return ops_credentials_provider_new(out, &s_vtable, context, credentials, err);
}
