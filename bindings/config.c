/* config.c: the run's settings: environment defaults, a copy in the registry, a Lua view. */
#include "bindings/config.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONFIG_KEY "opsrun.config"

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
  };
}

void ops_config_store(lua_State *L, const struct ops_config *config)
{
  struct ops_config *copy = lua_newuserdatauv(L, sizeof(*copy), 0);
  *copy = *config;
  lua_setfield(L, LUA_REGISTRYINDEX, CONFIG_KEY);
}

const struct ops_config *ops_config_get(lua_State *L)
{
  lua_getfield(L, LUA_REGISTRYINDEX, CONFIG_KEY);
  const struct ops_config *config = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (config)
    return config;
  struct ops_config defaults;
  ops_config_defaults(&defaults);
  defaults.progress = false; /* a library inside another program draws nothing on its own */
  ops_config_store(L, &defaults);
  return ops_config_get(L);
}

static void s_set_string(lua_State *L, const char *name, const char *value)
{
  lua_pushstring(L, value);
  lua_setfield(L, -2, name);
}

void ops_config_push(lua_State *L, const struct ops_config *config)
{
  lua_createtable(L, 0, 12);
  s_set_string(L, "registry", config->registry_path);
  s_set_string(L, "profile", config->profile);
  s_set_string(L, "region", config->region);
  s_set_string(L, "role", config->role);
  s_set_string(L, "mcp_url", config->mcp_url);
  s_set_string(L, "account", config->account);
  s_set_string(L, "output", ops_output_name(config->output));
  lua_pushboolean(L, config->output_given);
  lua_setfield(L, -2, "output_given");
  lua_pushinteger(L, config->concurrency);
  lua_setfield(L, -2, "concurrency");
  lua_pushnumber(L, config->timeout_seconds);
  lua_setfield(L, -2, "timeout");
  lua_pushboolean(L, config->progress);
  lua_setfield(L, -2, "progress");
}

const char *ops_output_name(enum ops_output output)
{
  return s_output_names[output];
}

int ops_output_from_name(const char *name)
{
  for (size_t i = 0; i < sizeof(s_output_names) / sizeof(*s_output_names); i++)
    if (strcmp(name, s_output_names[i]) == 0)
      return (int)i;
  return -1;
}
