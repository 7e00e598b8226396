/* fuzz_registry.c: runtime/registry.h's loader and validator on arbitrary text (JSON or not).
 * Rejection must be one message naming the source; acceptance must give accounts whose effective
 * values hold what registry.h promises (12-digit ids, non-empty names, a role name, a session
 * duration in range, string regions and tags, at most one central account), and every shard
 * must list each workload account exactly once across its N parts. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/registry.h"

static void s_check_account(const struct ops_registry_account *a, size_t index)
{
  if (a->index != index || !a->id || strlen(a->id) != 12 || !a->name || !*a->name ||
      !a->role_name || !*a->role_name || a->session_duration < OPS_REGISTRY_MIN_SESSION_DURATION ||
      a->session_duration > OPS_REGISTRY_MAX_SESSION_DURATION)
    abort();
  for (size_t i = 0; i < 12; i++)
    if (!isdigit((unsigned char)a->id[i]))
      abort();
  for (size_t i = 0; i < a->region_count; i++)
    if (!a->regions[i] || !*a->regions[i])
      abort();
  for (size_t i = 0; i < a->tag_count; i++)
    if (!a->tags[i].key || !a->tags[i].value)
      abort();
  if (a->external_id)
    (void)strlen(a->external_id);
  if (a->environment)
    (void)strlen(a->environment);
}

static void s_check(const struct ops_registry *registry)
{
  size_t count = ops_registry_count(registry), centrals = 0;
  for (size_t i = 0; i < count; i++) {
    const struct ops_registry_account *a = ops_registry_at(registry, i);
    s_check_account(a, i);
    centrals += a->central;
  }
  const struct ops_registry_account *central = ops_registry_central(registry);
  if (centrals > 1 || (centrals == 1) != (central != NULL) || (central && !central->central))
    abort();
  const struct ops_registry_account **all = calloc(count + 1, sizeof(*all));
  const struct ops_registry_account **part = calloc(count + 1, sizeof(*part));
  if (!all || !part)
    abort();
  size_t workloads = ops_registry_workloads(registry, 0, 1, all);
  if (workloads != count - centrals)
    abort();
  for (size_t i = 0; i < workloads; i++)
    if (all[i]->central)
      abort();
  for (int n = 2; n <= 3; n++) {
    size_t seen = 0;
    for (int k = 0; k < n; k++) {
      size_t got = ops_registry_workloads(registry, k, n, part);
      for (size_t i = 0; i < got; i++) {
        size_t position = (size_t)k + i * (size_t)n;
        if (position >= workloads || part[i] != all[position])
          abort();
      }
      seen += got;
    }
    if (seen != workloads)
      abort();
  }
  free(part);
  free(all);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char *const overrides[] = {NULL, "", "OverrideRole"};
  for (size_t o = 0; o < 3; o += 2) {
    struct ops_registry *registry = NULL;
    struct ops_error err = {0};
    int rc = ops_registry_load_text("fuzz.json", (const char *)data, size, overrides[o], &registry,
                                    &err);
    if (rc == OPS_OK) {
      if (!registry)
        abort();
      s_check(registry);
      if (o == 2)
        for (size_t i = 0; i < ops_registry_count(registry); i++)
          if (strcmp(ops_registry_at(registry, i)->role_name, "OverrideRole") != 0)
            abort();
    } else if (registry || rc != err.kind || strncmp(err.message, "fuzz.json", 9) != 0 ||
               strchr(err.message, '\n')) {
      abort();
    }
    ops_registry_free(registry);
  }
  return 0;
}
