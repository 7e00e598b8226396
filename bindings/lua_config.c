/* lua_config.c: the run's settings: environment defaults, a copy kept in the Lua state
 * (bindings/lua_aux.h), a Lua view. */
#include "bindings/lua_config.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "bindings/lua_aux.h"

static const char *const s_output_names[] = {"table", "json", "jsonl", "csv"};

static const char *s_env(const char *name)
{
  const char *value = getenv(name);
  return value && *value ? value : NULL;
}

void ops_config_defaults(struct ops_config *config)
{
  *config = (struct ops_config){
      .registry_path = s_env("OPSRUN_REGISTRY"),
      .mcp_url = s_env("OPSRUN_MCP_URL") ? s_env("OPSRUN_MCP_URL") : OPS_DEFAULT_MCP_URL,
      .concurrency = OPS_DEFAULT_CONCURRENCY,
      .timeout_seconds = OPS_DEFAULT_TIMEOUT_SECONDS,
      .output = isatty(STDOUT_FILENO) ? OPS_OUTPUT_TABLE : OPS_OUTPUT_JSONL,
      .shard_count = 1,
      .log_level = OPS_LOG_NOTICE,
      .log_format = OPS_LOG_TEXT,
      .progress = isatty(STDERR_FILENO),
      .mcp_requests_per_second = OPS_DEFAULT_MCP_RATE,
      .org_max_age_seconds = OPS_DEFAULT_ORG_MAX_AGE,
  };
}

bool ops_config_parse_rate(const char *text, double *out)
{
  char *end;
  double rate = strtod(text, &end);
  if (end == text || *end || !isfinite(rate) || rate < 0)
    return false;
  *out = rate;
  return true;
}

/* A yes/no setting as people write it in an environment file: 1/0, true/false, yes/no, on/off. */
static int s_parse_flag(const char *text)
{
  static const char *const yes[] = {"1", "true", "yes", "on"};
  static const char *const no[] = {"0", "false", "no", "off"};
  for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++) {
    if (strcasecmp(text, yes[i]) == 0)
      return 1;
    if (strcasecmp(text, no[i]) == 0)
      return 0;
  }
  return -1;
}

/* Sets *out from the yes/no variable `name` when it is set. Returns 0, or -1 with the reason. */
static int s_env_flag(const char *name, bool *out, char *error, size_t error_len)
{
  const char *text = s_env(name);
  int flag = text ? s_parse_flag(text) : *out;
  if (flag < 0) {
    snprintf(error, error_len, "%s must be 1 or 0 (true or false), got '%s'", name, text);
    return -1;
  }
  *out = flag == 1;
  return 0;
}

int ops_config_from_environment(struct ops_config *config, char *error, size_t error_len)
{
  const char *rate = s_env("OPSRUN_MCP_RATE");
  if (s_env_flag("OPSRUN_READ_ONLY", &config->read_only, error, error_len) != 0 ||
      s_env_flag("OPSRUN_CSV_SAFE", &config->csv_safe, error, error_len) != 0 ||
      s_env_flag("OPSRUN_ORG", &config->org, error, error_len) != 0)
    return -1;
  if (rate && !ops_config_parse_rate(rate, &config->mcp_requests_per_second)) {
    snprintf(error, error_len,
             "OPSRUN_MCP_RATE must be MCP requests a second per account, 0 or more (0: no "
             "pacing), got '%s'",
             rate);
    return -1;
  }
  return 0;
}

/* The defaults, until the host stores its configuration (the module under busted). */
static int s_config_init(lua_State *L, void *object, struct ops_error *err)
{
  (void)L, (void)err;
  struct ops_config *config = object;
  ops_config_defaults(config);
  config->progress = false; /* a library inside another program draws nothing on its own */
  return 0;
}

static const struct ops_lua_aux_state_type s_config_type = {
    .name = "opsrun.Config", .size = sizeof(struct ops_config), .init = s_config_init};

void ops_config_store(lua_State *L, const struct ops_config *config)
{
  *(struct ops_config *)ops_lua_aux_state_object(L, &s_config_type, NULL) = *config;
}

const struct ops_config *ops_config_get(lua_State *L)
{
  return ops_lua_aux_state_object(L, &s_config_type, NULL);
}

static void s_set_boolean(lua_State *L, const char *name, bool value)
{
  lua_pushboolean(L, value);
  lua_setfield(L, -2, name);
}

static void s_set_number(lua_State *L, const char *name, lua_Number value)
{
  lua_pushnumber(L, value);
  lua_setfield(L, -2, name);
}

/* The settings given as text, by their names in the Lua view. */
static const struct ops_lua_aux_string_field s_string_fields[] = {
    OPS_LUA_AUX_STRING_FIELD(struct ops_config, registry_path, "registry"),
    OPS_LUA_AUX_STRING_FIELD(struct ops_config, profile, "profile"),
    OPS_LUA_AUX_STRING_FIELD(struct ops_config, region, "region"),
    OPS_LUA_AUX_STRING_FIELD(struct ops_config, role, "role"),
    OPS_LUA_AUX_STRING_FIELD(struct ops_config, mcp_url, "mcp_url"),
    OPS_LUA_AUX_STRING_FIELD(struct ops_config, account, "account"),
    OPS_LUA_AUX_STRING_FIELD(struct ops_config, columns, "columns"),
};

void ops_config_push(lua_State *L, const struct ops_config *config)
{
  lua_createtable(L, 0, 18);
  ops_lua_aux_set_strings(L, config, s_string_fields,
                          sizeof(s_string_fields) / sizeof(*s_string_fields));
  ops_lua_aux_set_string(L, "output", ops_config_output_name(config->output));
  s_set_boolean(L, "output_given", config->output_given);
  lua_pushinteger(L, config->concurrency);
  lua_setfield(L, -2, "concurrency");
  s_set_number(L, "timeout", config->timeout_seconds);
  s_set_boolean(L, "progress", config->progress);
  s_set_boolean(L, "read_only", config->read_only);
  s_set_boolean(L, "csv_safe", config->csv_safe);
  s_set_number(L, "mcp_rate", config->mcp_requests_per_second);
  s_set_boolean(L, "org", config->org);
  lua_pushinteger(L, config->org_max_age_seconds);
  lua_setfield(L, -2, "org_max_age");
  s_set_boolean(L, "org_refresh", config->org_refresh);
}

const char *ops_config_output_name(enum ops_output output)
{
  return s_output_names[output];
}

int ops_config_output_from_name(const char *name)
{
  for (size_t i = 0; i < sizeof(s_output_names) / sizeof(*s_output_names); i++)
    if (strcmp(name, s_output_names[i]) == 0)
      return (int)i;
  return -1;
}
