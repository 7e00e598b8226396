/* credentials_chain.c: the default chain in the AWS CLI v2's order (SPEC section 2):
 * environment, the shared-files profile, web identity from the environment, the container
 * endpoint, instance metadata. Tries one source at a time; the first with credentials wins, a
 * configured source that fails stops the chain, and when none is configured the error lists what
 * each source looked at and what the user can do. */
#include "runtime/credentials.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_SOURCES 5

struct s_chain {
  struct ops_credentials_provider *sources[S_MAX_SOURCES];
  size_t count;
};

struct s_walk {
  struct ops_credentials_fetch *fetch;
  const struct s_chain *chain;
  struct ops_credentials_fetch *current;
  size_t next;
  char notes[sizeof(((struct ops_error *)0)->message)];
};

static void s_try_next(struct s_walk *w);

static void s_end(struct s_walk *w, struct ops_credentials *credentials,
                  const struct ops_error *err)
{
  struct ops_credentials_fetch *fetch = w->fetch;
  free(w);
  ops_credentials_fetch_complete(fetch, credentials, err);
}

static void s_on_source(struct ops_credentials *credentials, const struct ops_error *err, void *ud)
{
  struct s_walk *w = ud;
  w->current = NULL;
  if (credentials || !ops_credentials_is_not_found(err)) {
    s_end(w, credentials, err);
    return;
  }
  size_t len = strlen(w->notes);
  snprintf(w->notes + len, sizeof(w->notes) - len, "%s%s", len ? "; " : "", err->message);
  s_try_next(w);
}

/* The chain's last word: what was looked at (the sources' notes) and what to do. */
static void s_none(struct s_walk *w)
{
  struct ops_error err = {0};
  ops_error_set(&err, OPS_ERR_CREDENTIALS,
                "no AWS credentials found. Looked at: %s. Run `aws configure`, set AWS_PROFILE "
                "(or --profile) to a profile with credentials, or export AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY",
                w->notes);
  ops_error_set_code(&err, OPS_CREDENTIALS_NONE);
  s_end(w, NULL, &err);
}

static void s_try_next(struct s_walk *w)
{
  struct ops_error err = {0};
  if (w->next == w->chain->count) {
    s_none(w);
    return;
  }
  w->current = ops_credentials_provider_get(w->chain->sources[w->next++], s_on_source, w, &err);
  if (!w->current)
    s_end(w, NULL, &err);
}

static int s_start(struct ops_credentials_provider *provider, struct ops_credentials_fetch *fetch,
                   struct ops_error *err)
{
  struct s_walk *w = calloc(1, sizeof(*w));
  if (!w)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  w->fetch = fetch;
  w->chain = ops_credentials_provider_impl(provider);
  ops_credentials_fetch_set_state(fetch, w);
  s_try_next(w);
  return OPS_OK;
}

static void s_cancel(struct ops_credentials_fetch *fetch)
{
  struct s_walk *w = ops_credentials_fetch_state(fetch);
  if (w->current)
    ops_credentials_fetch_cancel(w->current);
  free(w);
}

static void s_destroy(void *impl)
{
  struct s_chain *chain = impl;
  if (!chain)
    return;
  for (size_t i = 0; i < chain->count; i++)
    ops_credentials_provider_free(chain->sources[i]);
  free(chain);
}

static const struct ops_credentials_provider_vtable s_vtable = {
    .name = "chain",
    .start = s_start,
    .cancel = s_cancel,
    .destroy = s_destroy,
};

int ops_credentials_provider_chain_new(struct ops_credentials_provider **out,
                                       const struct ops_credentials_context *context,
                                       const char *explicit_profile, struct ops_error *err)
{
  struct s_chain *chain = calloc(1, sizeof(*chain));
  int rc = chain ? OPS_OK : ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  struct ops_credentials_provider **slot = chain ? chain->sources : NULL;
  /* --profile wins over credentials and web identity settings in the environment, as in the
   * AWS CLI */
  if (rc == OPS_OK && !(explicit_profile && explicit_profile[0]))
    rc = ops_credentials_provider_env_new(slot++, context, err);
  if (rc == OPS_OK)
    rc = ops_credentials_provider_profile_new(slot++, context, explicit_profile, err);
  if (rc == OPS_OK && !(explicit_profile && explicit_profile[0]))
    rc = ops_credentials_provider_web_identity_new(slot++, context, NULL, err);
  if (rc == OPS_OK)
    rc = ops_credentials_provider_ecs_new(slot++, context, err);
  if (rc == OPS_OK)
    rc = ops_credentials_provider_imds_new(slot++, context, err);
  if (chain)
    chain->count = (size_t)(slot - chain->sources) - (rc == OPS_OK ? 0 : 1);
  if (rc != OPS_OK) {
    s_destroy(chain);
    return rc;
  }
  return ops_credentials_provider_new(out, &s_vtable, context, chain, err);
}
