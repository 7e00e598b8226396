/* fuzz_registry.c: runtime/registry.h's loader and validator on arbitrary text (JSON or not).
 * Rejection must be one message naming the source; acceptance must give accounts whose effective
 * values hold what registry.h promises (12-digit ids, non-empty names, a role name, a session
 * duration in range, string regions and tags, a role chain ending in the role name, at most one
 * central account), and every shard must list each workload account exactly once across its N
 * parts. The same text loaded as an overlay (--org) is laid over a listing of its own ids and
 * one more, and the result must hold the same promises. */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/registry.h"

/* `unnamed`: a loaded overlay, whose accounts need no name. */
static void s_check_account(const struct ops_registry_account *a, bool unnamed)
{
  if (!a->id || strlen(a->id) != 12 || (!unnamed && !a->name) || (a->name && !*a->name) ||
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
  for (size_t i = 0; i < a->role_chain_count; i++)
    if (!a->role_chain[i].role || !*a->role_chain[i].role)
      abort();
  if (a->role_chain_count && (!strstr(a->role_chain[a->role_chain_count - 1].role, a->role_name) ||
                              a->role_chain[a->role_chain_count - 1].external_id != a->external_id))
    abort();
  if (a->regions_enabled && a->region_count)
    abort();
  if (a->external_id)
    (void)strlen(a->external_id);
  if (a->environment)
    (void)strlen(a->environment);
}

static void s_check(const struct ops_registry *registry, bool unnamed)
{
  size_t count = ops_registry_count(registry), centrals = 0;
  for (size_t i = 0; i < count; i++) {
    const struct ops_registry_account *a = ops_registry_at(registry, i);
    s_check_account(a, unnamed);
    if (i > 0 && a->index <= ops_registry_at(registry, i - 1)->index)
      abort();
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

/* An id the overlay has no account of (the listing's ids are distinct), in `id` (13 bytes). */
static void s_unused_id(const struct ops_registry *overlay, char *id)
{
  for (size_t c = 0;; c++) {
    snprintf(id, 13, "%012zu", c);
    size_t i = 0;
    while (i < ops_registry_count(overlay) && strcmp(ops_registry_at(overlay, i)->id, id) != 0)
      i++;
    if (i == ops_registry_count(overlay))
      return;
  }
}

/* The overlay as ops_registry_overlay makes it of the overlay's own ids and one more, the first
 * of them central. */
static void s_check_overlay(const struct ops_registry *overlay)
{
  size_t count = ops_registry_count(overlay);
  struct ops_registry_listed *listed = calloc(count + 1, sizeof(*listed));
  static const struct ops_registry_tag tag = {"team", "listed"};
  if (!listed)
    abort();
  for (size_t i = 0; i < count; i++)
    listed[i] = (struct ops_registry_listed){.id = ops_registry_at(overlay, i)->id,
                                             .name = "Listed",
                                             .ou_id = "ou-ab12-cdef3456",
                                             .ou_path = "Root/Workloads",
                                             .tags = &tag,
                                             .tag_count = 1};
  char unused[13];
  s_unused_id(overlay, unused);
  listed[count] = (struct ops_registry_listed){.id = unused};
  struct ops_registry *result = NULL;
  struct ops_error err = {0};
  if (ops_registry_overlay(overlay, NULL, listed, count + 1, listed[0].id, &result, &err) != 0)
    abort();
  s_check(result, false);
  if (ops_registry_count(result) != count + 1 || !ops_registry_central(result) ||
      ops_registry_at(result, count)->index != count || ops_registry_at(result, count)->ou ||
      (count && strcmp(ops_registry_at(result, 0)->ou_path, "Root/Workloads") != 0))
    abort();
  for (size_t i = 0; i < ops_registry_unlisted_count(result); i++)
    if (!ops_registry_unlisted_id(result, i))
      abort();
  ops_registry_free(result);
  free(listed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char *const overrides[] = {NULL, "", "OverrideRole"};
  for (size_t o = 0; o < 3; o += 2) {
    struct ops_registry *registry = NULL;
    struct ops_error err = {0};
    const struct ops_registry_options options = {.role_override = overrides[o]};
    int rc =
        ops_registry_load_text("fuzz.json", (const char *)data, size, &options, &registry, &err);
    if (rc == OPS_OK) {
      if (!registry)
        abort();
      s_check(registry, ops_registry_from_organizations(registry));
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
  const struct ops_registry_options organizations = {.organizations = true};
  struct ops_registry *overlay = NULL;
  struct ops_error err = {0};
  if (ops_registry_load_text("fuzz.json", (const char *)data, size, &organizations, &overlay,
                             &err) == OPS_OK)
    s_check_overlay(overlay);
  ops_registry_free(overlay);
  return 0;
}
