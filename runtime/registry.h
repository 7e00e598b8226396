/* registry.h: the account registry of SPEC section 3: loading it from a file or from the JSON
 * text in $ACCOUNT_REGISTRY, validating it whole, and each account's effective values (own value,
 * else `defaults`, else the built-in fallback); and the registry as an overlay of the accounts
 * AWS Organizations lists (ops_registry_overlay). Parses with jansson; no Lua, and nothing of
 * runtime/organizations.h: the caller hands the listing over as plain structs. */
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

/* The most roles a role_chain may name. */
#define OPS_REGISTRY_MAX_ROLE_CHAIN 10

struct ops_registry_tag {
  const char *key;
  const char *value;
};

/* One role of a role_chain: `role` is a role name (the role of that name in the target account)
 * or a role ARN (arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME), as the registry gave it. */
struct ops_registry_hop {
  const char *role;
  const char *external_id; /* NULL when the hop has none */
};

/* One account with its effective values. Everything is owned by the registry and lives as long
 * as it does; read-only for callers. */
struct ops_registry_account {
  /* 0-based position in the registry's "accounts" array; in an overlay's result, in the listing */
  size_t index;
  const char *id;          /* 12 digits */
  const char *name;        /* non-empty; NULL only in a loaded overlay, whose entries need none */
  const char *environment; /* NULL when the account has none */
  bool central;            /* "role": "central"; in an overlay's result, the caller's account */
  /* effective: never NULL (see ops_registry_load_text); with a role_chain, its last role's name */
  const char *role_name;
  /* effective: NULL when neither the account nor defaults has one; with a role_chain, its last
   * role's */
  const char *external_id;
  /* effective: the roles to assume in turn, each with the session of the one before (the first
   * with the base credentials); the last is the role in this account. None: role_name alone */
  const struct ops_registry_hop *role_chain;
  size_t role_chain_count;
  /* effective: "regions": "enabled" (the regions enabled in the account, found when it is swept;
   * region_count is then 0) */
  bool regions_enabled;
  const char *const *regions; /* effective: region_count names; none means the operating region */
  size_t region_count;
  int session_duration;                /* effective, seconds: 900-43200 */
  const struct ops_registry_tag *tags; /* see ops_registry_load_text and ops_registry_overlay */
  size_t tag_count;
  const char *ou;      /* an overlay's result: the account's OU (or root) id; else NULL */
  const char *ou_path; /* an overlay's result: "Root/Workloads/Prod"; else NULL */
};

/* A validated registry (opaque). */
struct ops_registry;

/* How a registry is loaded. NULL options: all zero. */
struct ops_registry_options {
  const char *role_override; /* the --role option; NULL or "": none */
  /* --org: the registry overlays AWS Organizations' accounts, as with "source": "organizations":
   * an account needs only its "id", "accounts" may be absent, an account's "role" is ignored (the
   * central account is the caller's: see ops_registry_overlay) */
  bool organizations;
};

/* Parses and validates registry JSON `text` (`len` bytes, need not be NUL-terminated). `source`
 * names it in messages, verbatim: the path the user gave, or OPS_REGISTRY_ENV_SOURCE. Effective
 * role: `options->role_override` (the --role option: the command line wins over the registry)
 * when neither NULL nor "", else the account's role_name or role_chain, else the defaults'
 * role_name or role_chain, else OPS_REGISTRY_DEFAULT_ROLE_NAME (an object giving both role_name
 * and role_chain is rejected: the chain's last role is the role in the account). --role replaces
 * a chain's last role. The last role of a chain takes the effective external_id when it has
 * none of its own. regions, session_duration and external_id fall back to `defaults`; tags are
 * the account's own, then defaults.tags it does not set. An account with "exclude": true is left
 * out (its index is not reused). The top level's "source" is "registry" (the default) or
 * "organizations" (ops_registry_from_organizations).
 * Returns 0 and sets *out (the caller owns it: ops_registry_free), or a negative enum ops_err
 * with *out NULL and `err` filled: OPS_ERR_REGISTRY with one line naming the source, the place
 * and what was expected, e.g.
 *   registry.json: /accounts/3/id: expected a string of exactly 12 digits, got "12345"
 *   registry.json:4:17: invalid JSON: string or '}' expected near ']'
 * The first problem found rejects the whole registry. Nothing is borrowed after the call. */
int ops_registry_load_text(const char *source, const char *text, size_t len,
                           const struct ops_registry_options *options, struct ops_registry **out,
                           struct ops_error *err);

/* The largest registry file read: about 200,000 accounts with names and tags, twenty times
 * what AWS Organizations allows by default; -r /dev/zero fails at it instead of exhausting
 * memory. */
#define OPS_REGISTRY_MAX_FILE_BYTES ((size_t)64 << 20)

/* Reads the file at `path` (runtime/file.h, at most OPS_REGISTRY_MAX_FILE_BYTES) and loads it as
 * ops_registry_load_text with `path` as the source. An unreadable file is OPS_ERR_REGISTRY:
 * "PATH: cannot read: No such file or directory", "PATH: cannot read: larger than N bytes". */
int ops_registry_load_file(const char *path, const struct ops_registry_options *options,
                           struct ops_registry **out, struct ops_error *err);

/* Loads the JSON text of $ACCOUNT_REGISTRY as ops_registry_load_text, with source
 * "$ACCOUNT_REGISTRY". When the variable is unset or empty there is no registry: returns 0 with
 * *out NULL. */
int ops_registry_load_env(const struct ops_registry_options *options, struct ops_registry **out,
                          struct ops_error *err);

void ops_registry_free(struct ops_registry *registry);

/* One account as AWS Organizations lists it. Borrowed for the call of ops_registry_overlay. */
struct ops_registry_listed {
  const char *id;      /* 12 digits */
  const char *name;    /* NULL or "": the id stands for it */
  const char *email;   /* may be NULL (not kept) */
  const char *ou_id;   /* the OU (or root) holding it; may be NULL */
  const char *ou_path; /* "Root/Workloads/Prod"; may be NULL */
  const struct ops_registry_tag *tags;
  size_t tag_count;
};

/* The registry of an Organizations listing overlaid by `overlay` (a loaded registry, borrowed;
 * NULL: none). The result lists the `count` listed accounts in their order (the caller's: by id)
 * but those an overlay entry of the same id excludes; the one whose id is `central_id` (the
 * caller's account; NULL: none) is the central account; their ids are distinct. Each account's
 * effective values come from its overlay entry (by id), else the overlay's defaults, else the
 * built-ins, as in ops_registry_load_text, with `role_override` (else the overlay's own) winning;
 * its name is the entry's, else the listed one; environment is the entry's; tags are the entry's
 * own, then defaults.tags it does not set, then the listed tags neither sets (the registry's word
 * wins over Organizations'); ou and ou_path the listed ones. Nothing is borrowed after the call.
 * Returns 0 with *out (ops_registry_free), or OPS_ERR_NOMEM with *out NULL. */
int ops_registry_overlay(const struct ops_registry *overlay, const char *role_override,
                         const struct ops_registry_listed *listed, size_t count,
                         const char *central_id, struct ops_registry **out, struct ops_error *err);

/* Whether the registry's document said "source": "organizations"; true of an overlay's result. */
bool ops_registry_from_organizations(const struct ops_registry *registry);

/* The overlay entries of ops_registry_overlay's result whose id the listing did not have (to
 * warn about: a typo, or an account gone from the organisation), in registry order; 0 for a
 * registry that was loaded. The id is borrowed from the registry. */
size_t ops_registry_unlisted_count(const struct ops_registry *registry);
const char *ops_registry_unlisted_id(const struct ops_registry *registry, size_t index);

/* Every account, central included, in registry order (excluded accounts left out). */
size_t ops_registry_count(const struct ops_registry *registry);

/* The account at 0-based position `index` (< ops_registry_count); borrowed from the
 * registry. */
const struct ops_registry_account *ops_registry_at(const struct ops_registry *registry,
                                                   size_t index);

/* The first account (central or workload) of id `id`, borrowed from the registry, or NULL; in
 * constant time. */
const struct ops_registry_account *ops_registry_find(const struct ops_registry *registry,
                                                     const char *id);

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
