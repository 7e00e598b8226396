/* lua_config.h: the settings a run is made with (SPEC section 1): defaults from the environment,
 * overridden by the command line (host/cli.c), stored in the Lua state for the bindings. */
#ifndef OPS_LUA_CONFIG_H
#define OPS_LUA_CONFIG_H

#include <lua.h>
#include <stdbool.h>

#include "runtime/log.h"

enum ops_output { OPS_OUTPUT_TABLE, OPS_OUTPUT_JSON, OPS_OUTPUT_JSONL, OPS_OUTPUT_CSV };

/* Strings are borrowed from argv or the environment: they live as long as the process. */
struct ops_config {
  const char *registry_path; /* -r, else $OPSRUN_REGISTRY; NULL: $ACCOUNT_REGISTRY holds JSON */
  const char *profile;       /* NULL: $AWS_PROFILE, else "default" (resolved by the chain) */
  const char *region;        /* NULL: resolved from the environment and profile */
  const char *role;          /* NULL: registry defaults.role_name, else CentralOpsTargetRole */
  const char *mcp_url;
  const char *account; /* --account, for call/tools/doctor */
  int concurrency;
  double timeout_seconds;
  enum ops_output output;
  bool output_given;            /* -o was on the command line (not the terminal-based default) */
  const char *columns;          /* --columns: names shown first, comma-separated; NULL: none */
  int shard_index, shard_count; /* --shard K/N as K-1 and N; 0 and 1 keep every account */
  enum ops_log_level log_level;
  enum ops_log_format log_format;
  bool progress;
  bool read_only; /* --read-only, $OPSRUN_READ_ONLY: refuse what is not a read */
  bool csv_safe;  /* --csv-safe, $OPSRUN_CSV_SAFE: csv text cells never start a formula */
  double mcp_requests_per_second; /* --mcp-rate, $OPSRUN_MCP_RATE; 0: not paced */
  bool org;                       /* --org, $OPSRUN_ORG: workload accounts from AWS Organizations */
  long org_max_age_seconds;       /* --org-max-age: reuse of the cached listing */
  bool org_refresh;               /* --org-refresh: never reuse the cached listing */
};

#define OPS_DEFAULT_MCP_URL         "https://aws-mcp.us-east-1.api.aws/mcp"
#define OPS_DEFAULT_CONCURRENCY     16
#define OPS_MAX_CONCURRENCY         1024
#define OPS_DEFAULT_TIMEOUT_SECONDS 300.0
/* The longest timeout or sleep accepted anywhere (--timeout, sweep's and mcp's opts.timeout,
 * sleep): about 31 years, "no deadline" for any practical purpose. Longer ones, inf and NaN are
 * refused with a message naming this bound; in milliseconds it still fits every timer. */
#define OPS_MAX_SECONDS 1e9
/* The hosted AWS MCP Server's quota: "Requests per account per Region: 3 per second (sustained)",
 * not adjustable (Agent Toolkit for AWS user guide, Quotas for AWS MCP Server). */
#define OPS_DEFAULT_MCP_RATE 3.0
/* How long a cached Organizations listing is reused: an hour, so a cron sweep every few minutes
 * reads Organizations once an hour; --org-max-age takes up to a year. */
#define OPS_DEFAULT_ORG_MAX_AGE 3600L
#define OPS_MAX_ORG_MAX_AGE     31536000L

/* Fills the defaults that do not depend on the command line. */
void ops_config_defaults(struct ops_config *config);

/* Reads the settings whose environment variables can be wrong ($OPSRUN_READ_ONLY,
 * $OPSRUN_CSV_SAFE, $OPSRUN_MCP_RATE, $OPSRUN_ORG). Returns 0, or -1 with a one-line reason in
 * `error` (exit 2).
 */
int ops_config_from_environment(struct ops_config *config, char *error, size_t error_len);

/* Parses a request rate: a number of requests a second, 0 or more. False when it is not. */
bool ops_config_parse_rate(const char *text, double *out);

/* Keeps a copy of `config` in L's registry for the bindings. */
void ops_config_store(lua_State *L, const struct ops_config *config);

/* The stored configuration, or the defaults when none was stored (the module under busted). */
const struct ops_config *ops_config_get(lua_State *L);

/* Pushes the configuration as a Lua table, for the embedded Lua. */
void ops_config_push(lua_State *L, const struct ops_config *config);

const char *ops_config_output_name(enum ops_output output);

/* Parses "table", "json", "jsonl" or "csv"; -1 when unknown. */
int ops_config_output_from_name(const char *name);

#endif
