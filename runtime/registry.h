/* registry.h: the account registry of SPEC section 3: loading it from a file or from the JSON
 * text in $ACCOUNT_REGISTRY, validating it whole, and each account's effective values (own value,
 * else `defaults`, else the built-in fallback). Parses with jansson; no Lua. */
#ifndef OPS_REGISTRY_H
#define OPS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/error.h"

/* The environment variable holding registry JSON text (the original plan's behaviour), and the
 * source name its messages show. */
#define OPS_REGISTRY_ENV        "ACCOUNT_REGISTRY"
#define OPS_REGISTRY_ENV_SOURCE "$ACCOUNT_REGISTRY"

/* role_name when neither the caller, the account nor `defaults` gives one. */
#define OPS_REGISTRY_DEFAULT_ROLE_NAME "CentralOpsTargetRole"

/* session_duration when neither the account nor `defaults` gives one: STS's own default. */
#define OPS_REGISTRY_DEFAULT_SESSION_DURATION 3600
#define OPS_REGISTRY_MIN_SESSION_DURATION     900
#define OPS_REGISTRY_MAX_SESSION_DURATION     43200

struct ops_registry_tag {
  const char *key;
  const char *value;
};

/* One account with its effective values. Everything is owned by the registry and lives as long
 * as it does; read-only for callers. */
struct ops_registry_account {
  size_t index;               /* 0-based position in the registry's "accounts" array */
  const char *id;             /* 12 digits */
  const char *name;           /* non-empty */
  const char *environment;    /* NULL when the account has none */
  bool central;               /* "role": "central" */
  const char *role_name;      /* effective: never NULL (see ops_registry_load_text) */
  const char *external_id;    /* effective: NULL when neither the account nor defaults has one */
  const char *const *regions; /* effective: region_count names; none means the operating region */
  size_t region_count;
  int session_duration;                /* effective, seconds: 900-43200 */
  const struct ops_registry_tag *tags; /* defaults.tags merged under the account's own */
  size_t tag_count;
};

/* A validated registry (opaque). */
struct ops_registry;

/* Parses and validates registry JSON `text` (`len` bytes, need not be NUL-terminated). `source`
 * names it in messages, verbatim: the path the user gave, or OPS_REGISTRY_ENV_SOURCE. Effective
 * role_name: `role_override` (the --role option: the command line wins over the registry) when
 * neither NULL nor "", else the account's role_name, else defaults.role_name, else
 * OPS_REGISTRY_DEFAULT_ROLE_NAME. regions, session_duration and external_id fall back to
 * `defaults`; tags are defaults.tags with the account's own added over them.
 * Returns 0 and sets *out (the caller owns it: ops_registry_free), or a negative enum ops_err
 * with *out NULL and `err` filled: OPS_ERR_REGISTRY with one line naming the source, the place
 * and what was expected, e.g.
 *   registry.json: /accounts/3/id: expected a string of exactly 12 digits, got "12345"
 *   registry.json:4:17: invalid JSON: string or '}' expected near ']'
 * The first problem found rejects the whole registry. Nothing is borrowed after the call. */
int ops_registry_load_text(const char *source, const char *text, size_t len,
                           const char *role_override, struct ops_registry **out,
                           struct ops_error *err);

/* The largest registry file read: about 200,000 accounts with names and tags, twenty times
 * what AWS Organizations allows by default; -r /dev/zero fails at it instead of exhausting
 * memory. */
#define OPS_REGISTRY_MAX_FILE_BYTES ((size_t)64 << 20)

/* Reads the file at `path` (runtime/file.h, at most OPS_REGISTRY_MAX_FILE_BYTES) and loads it as
 * ops_registry_load_text with `path` as the source. An unreadable file is OPS_ERR_REGISTRY:
 * "PATH: cannot read: No such file or directory", "PATH: cannot read: larger than N bytes". */
int ops_registry_load_file(const char *path, const char *role_override, struct ops_registry **out,
                           struct ops_error *err);

/* Loads the JSON text of $ACCOUNT_REGISTRY as ops_registry_load_text, with source
 * "$ACCOUNT_REGISTRY". When the variable is unset or empty there is no registry: returns 0 with
 * *out NULL. */
int ops_registry_load_env(const char *role_override, struct ops_registry **out,
                          struct ops_error *err);

void ops_registry_free(struct ops_registry *registry);

/* Every account, central included, in registry order. */
size_t ops_registry_count(const struct ops_registry *registry);

/* The account at 0-based registry index `index` (< ops_registry_count); borrowed from the
 * registry. */
const struct ops_registry_account *ops_registry_at(const struct ops_registry *registry,
                                                   size_t index);

/* The central account (borrowed), or NULL when the registry has none. */
const struct ops_registry_account *ops_registry_central(const struct ops_registry *registry);

/* The workload accounts (central excluded) of shard K/N, given as shard_index K-1 and
 * shard_count N, in registry order: those whose 0-based position i among the workload accounts
 * has i % N == K-1 (a shard_count below 1 keeps them all), so the central account, wherever it
 * stands, shifts no shard. Stores borrowed pointers in `out`, which has room for
 * ops_registry_count entries, and returns how many. */
size_t ops_registry_workloads(const struct ops_registry *registry, int shard_index, int shard_count,
                              const struct ops_registry_account **out);

#endif
