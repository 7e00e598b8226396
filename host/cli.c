/* cli.c: parsing SPEC section 1's options (short, long, --opt=value, bundled -vv) and checking
 * their values, stopping at the script, at `-e CHUNK`, at `-` or after `--`. */
#include "host/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/aws_config.h"
#include "runtime/region.h"
#include "runtime/retry.h"

const char ops_cli_usage[] =
    "Usage: opsrun [options] SCRIPT [ARGS...]    run a playbook (ARGS go to `arg` and `...`;\n"
    "                                            SCRIPT - reads it from stdin)\n"
    "       opsrun [options] -e CHUNK [ARGS...]  run a chunk of Lua\n"
    "       opsrun [options] -i [SCRIPT]         interactive REPL (after SCRIPT, if given)\n"
    "       opsrun [options] doctor [CHECK...]   check the set-up: credentials, role (with\n"
    "                                            --account), clock, registry, mcp (all, or\n"
    "                                            the CHECKs named)\n"
    "       opsrun [options] tools               list the MCP server's tools\n"
    "       opsrun [options] call TOOL [JSON | key=value ...]   call one tool, print its result\n"
    "       opsrun [options] serve [DIR] [--listen HOST:PORT [--token-file FILE]]\n"
    "                                            serve DIR's playbooks (default ./playbooks)\n"
    "                                            as MCP tools, on stdin and stdout or HTTP\n"
    "       opsrun --version | --help\n"
    "\n"
    "Options:\n"
    "  -r, --registry FILE     account registry (default $OPSRUN_REGISTRY, else the JSON\n"
    "                          text in $ACCOUNT_REGISTRY)\n"
    "      --profile NAME      profile for the base credentials (default $AWS_PROFILE,\n"
    "                          else default)\n"
    "      --region REGION     region AWS operations run in (default $AWS_REGION,\n"
    "                          $AWS_DEFAULT_REGION, the profile's region, else us-east-1)\n"
    "      --role NAME         role assumed in target accounts (default the registry's\n"
    "                          defaults.role_name, else CentralOpsTargetRole)\n"
    "      --mcp-url URL       MCP endpoint (default $OPSRUN_MCP_URL, else\n"
    "                          " OPS_DEFAULT_MCP_URL ")\n"
    "      --account ID        with call, tools, doctor: act as the role in that account\n"
    "  -j, --concurrency N     tasks at once in sweep, 1-1024 (default 16)\n"
    "      --timeout SECONDS   deadline of one sweep task, and of each wait outside sweeps\n"
    "                          (default 300, at most 1e9)\n"
    "  -o, --output FMT        table, json, jsonl or csv for rows passed to emit\n"
    "                          (default table on a terminal, else jsonl)\n"
    "      --columns A,B,...   these columns first, in this order, in every format\n"
    "      --shard K/N         keep only the workload accounts whose 0-based position i\n"
    "                          among them (central not counted) has i % N == K-1\n"
    "  -q, --quiet             less logging on stderr (repeatable)\n"
    "  -v, --verbose           more logging on stderr (repeatable; -vvv: each HTTP request\n"
    "                          and answer, secrets redacted)\n"
    "      --log-format FMT    text or json (one object a line) (default text)\n"
    "      --no-progress       no progress line on stderr (default: shown on a terminal)\n"
    "      --read-only         refuse AWS operations that are not reads, and raw\n"
    "                          aws___run_script code, before sending (default\n"
    "                          $OPSRUN_READ_ONLY)\n"
    "      --csv-safe          csv text cells starting with = + - @ tab CR get a leading '\n"
    "                          so spreadsheets show them as text (default $OPSRUN_CSV_SAFE)\n"
    "      --mcp-rate N        MCP requests a second per account, 0 for no pacing\n"
    "                          (default $OPSRUN_MCP_RATE, else 3: the hosted quota)\n"
    "      --org               workload accounts come from AWS Organizations; a registry,\n"
    "                          if given, overlays them (default $OPSRUN_ORG)\n"
    "      --org-max-age SECONDS\n"
    "                          reuse the cached Organizations listing this long\n"
    "                          (default 3600)\n"
    "      --org-refresh       read Organizations again, ignoring the cached listing\n"
    "  -e CHUNK                run CHUNK instead of a script file\n"
    "  -i                      interactive REPL\n"
    "  -h, --help              this text\n"
    "      --version           versions of opsrun, Lua, libcurl and OpenSSL\n"
    "      --                  end of the options\n"
    "\n"
    "Environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE,\n"
    "AWS_REGION, AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, AWS_ENDPOINT_URL_STS,\n"
    "OPSRUN_REGISTRY, ACCOUNT_REGISTRY, OPSRUN_MCP_URL and more: see opsrun(1).\n"
    "\n"
    "Exit status: 0 success; 1 Lua error or a failed doctor check; 2 usage or\n"
    "configuration error; 3 the script finished but at least one sweep task failed;\n"
    "128+signal when interrupted: 130 Ctrl-C (SIGINT), 143 SIGTERM, 129 SIGHUP.\n";

enum s_option_id {
  OPT_REGISTRY,
  OPT_PROFILE,
  OPT_REGION,
  OPT_ROLE,
  OPT_MCP_URL,
  OPT_ACCOUNT,
  OPT_CONCURRENCY,
  OPT_TIMEOUT,
  OPT_OUTPUT,
  OPT_COLUMNS,
  OPT_SHARD,
  OPT_QUIET,
  OPT_VERBOSE,
  OPT_LOG_FORMAT,
  OPT_NO_PROGRESS,
  OPT_READ_ONLY,
  OPT_CSV_SAFE,
  OPT_MCP_RATE,
  OPT_ORG,
  OPT_ORG_MAX_AGE,
  OPT_ORG_REFRESH,
  OPT_CHUNK,
  OPT_INTERACTIVE,
  OPT_HELP,
  OPT_VERSION,
};

struct s_option {
  const char *long_name; /* without "--"; NULL for short-only */
  char short_name;       /* 0 for long-only */
  bool takes_value;
  enum s_option_id id;
};

static const struct s_option s_options[] = {
    {"registry", 'r', true, OPT_REGISTRY},
    {"profile", 0, true, OPT_PROFILE},
    {"region", 0, true, OPT_REGION},
    {"role", 0, true, OPT_ROLE},
    {"mcp-url", 0, true, OPT_MCP_URL},
    {"account", 0, true, OPT_ACCOUNT},
    {"concurrency", 'j', true, OPT_CONCURRENCY},
    {"timeout", 0, true, OPT_TIMEOUT},
    {"output", 'o', true, OPT_OUTPUT},
    {"columns", 0, true, OPT_COLUMNS},
    {"shard", 0, true, OPT_SHARD},
    {"quiet", 'q', false, OPT_QUIET},
    {"verbose", 'v', false, OPT_VERBOSE},
    {"log-format", 0, true, OPT_LOG_FORMAT},
    {"no-progress", 0, false, OPT_NO_PROGRESS},
    {"read-only", 0, false, OPT_READ_ONLY},
    {"csv-safe", 0, false, OPT_CSV_SAFE},
    {"mcp-rate", 0, true, OPT_MCP_RATE},
    {"org", 0, false, OPT_ORG},
    {"org-max-age", 0, true, OPT_ORG_MAX_AGE},
    {"org-refresh", 0, false, OPT_ORG_REFRESH},
    {NULL, 'e', true, OPT_CHUNK},
    {NULL, 'i', false, OPT_INTERACTIVE},
    {"help", 'h', false, OPT_HELP},
    {"version", 0, false, OPT_VERSION},
};

struct s_parser {
  struct ops_cli *cli;
  int verbosity; /* -v minus -q */
  char *error;
  size_t error_len;
};

static int s_fail(struct s_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int s_fail(struct s_parser *p, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->error, p->error_len, fmt, ap);
  va_end(ap);
  return -1;
}

static bool s_parse_long(const char *text, long min, long max, long *out)
{
  char *end;
  errno = 0;
  long value = strtol(text, &end, 10);
  if (errno || end == text || *end || value < min || value > max)
    return false;
  *out = value;
  return true;
}

static int s_parse_shard(struct s_parser *p, const char *text)
{
  const char *slash = strchr(text, '/');
  char k_text[32];
  long k, n;
  if (!slash || (size_t)(slash - text) >= sizeof(k_text))
    return s_fail(p, "--shard must be K/N (such as 2/3), got '%s'", text);
  snprintf(k_text, sizeof(k_text), "%.*s", (int)(slash - text), text);
  if (!s_parse_long(slash + 1, 1, 1000000, &n) || !s_parse_long(k_text, 1, n, &k))
    return s_fail(p, "--shard must be K/N with 1 <= K <= N (such as 2/3), got '%s'", text);
  p->cli->config.shard_index = (int)(k - 1);
  p->cli->config.shard_count = (int)n;
  return 0;
}

/* "a,b,c": one name or more, none empty. */
static bool s_is_name_list(const char *text)
{
  size_t length = strlen(text);
  return length > 0 && text[0] != ',' && text[length - 1] != ',' && !strstr(text, ",,");
}

static int s_apply(struct s_parser *p, const struct s_option *option, const char *value)
{
  struct ops_config *config = &p->cli->config;
  long number;
  char *end;
  struct ops_error err;
  switch (option->id) {
  case OPT_REGISTRY: config->registry_path = value; break;
  case OPT_PROFILE: config->profile = value; break;
  case OPT_REGION:
    if (ops_region_check(value, "--region", &err) != OPS_OK)
      return s_fail(p, "%s", err.message);
    config->region = value;
    break;
  case OPT_ROLE: config->role = value; break;
  case OPT_MCP_URL: config->mcp_url = value; break;
  case OPT_ACCOUNT:
    if (strlen(value) != 12 || strspn(value, "0123456789") != 12)
      return s_fail(p, "--account must be an account id of 12 digits, got '%s'", value);
    config->account = value;
    break;
  case OPT_CONCURRENCY:
    if (!s_parse_long(value, 1, OPS_MAX_CONCURRENCY, &number))
      return s_fail(p, "--concurrency must be an integer from 1 to %d, got '%s'",
                    OPS_MAX_CONCURRENCY, value);
    config->concurrency = (int)number;
    break;
  case OPT_TIMEOUT:
    config->timeout_seconds = strtod(value, &end);
    if (end == value || *end || !(config->timeout_seconds > 0) ||
        config->timeout_seconds > OPS_MAX_SECONDS)
      return s_fail(p, "--timeout must be a positive number of seconds up to 1e9, got '%s'", value);
    break;
  case OPT_OUTPUT: {
    int output = ops_config_output_from_name(value);
    if (output < 0)
      return s_fail(p, "--output must be table, json, jsonl or csv, got '%s'", value);
    config->output = (enum ops_output)output;
    config->output_given = true;
    break;
  }
  case OPT_COLUMNS:
    if (!s_is_name_list(value))
      return s_fail(p,
                    "--columns must be column names separated by commas (such as account,region), "
                    "got '%s'",
                    value);
    config->columns = value;
    break;
  case OPT_SHARD: return s_parse_shard(p, value);
  case OPT_QUIET: p->verbosity--; break;
  case OPT_VERBOSE: p->verbosity++; break;
  case OPT_LOG_FORMAT:
    if (strcmp(value, "text") != 0 && strcmp(value, "json") != 0)
      return s_fail(p, "--log-format must be text or json, got '%s'", value);
    config->log_format = strcmp(value, "json") == 0 ? OPS_LOG_JSON : OPS_LOG_TEXT;
    break;
  case OPT_NO_PROGRESS: config->progress = false; break;
  case OPT_READ_ONLY: config->read_only = true; break;
  case OPT_CSV_SAFE: config->csv_safe = true; break;
  case OPT_MCP_RATE:
    if (!ops_config_parse_rate(value, &config->mcp_requests_per_second))
      return s_fail(p,
                    "--mcp-rate must be MCP requests a second per account, 0 or more (0: no "
                    "pacing), got '%s'",
                    value);
    break;
  case OPT_ORG: config->org = true; break;
  case OPT_ORG_MAX_AGE:
    if (!s_parse_long(value, 0, OPS_MAX_ORG_MAX_AGE, &number))
      return s_fail(p, "--org-max-age must be a whole number of seconds from 0 to %ld, got '%s'",
                    OPS_MAX_ORG_MAX_AGE, value);
    config->org_max_age_seconds = number;
    break;
  case OPT_ORG_REFRESH: config->org_refresh = true; break;
  case OPT_CHUNK:
    p->cli->mode = OPS_CLI_CHUNK;
    p->cli->chunk = value;
    break;
  case OPT_INTERACTIVE: p->cli->interactive = true; break;
  case OPT_HELP: p->cli->mode = OPS_CLI_HELP; break;
  case OPT_VERSION: p->cli->mode = OPS_CLI_VERSION; break;
  }
  return 0;
}

static const struct s_option *s_find_long(const char *name, size_t len)
{
  for (size_t i = 0; i < sizeof(s_options) / sizeof(*s_options); i++)
    if (s_options[i].long_name && strlen(s_options[i].long_name) == len &&
        strncmp(s_options[i].long_name, name, len) == 0)
      return &s_options[i];
  return NULL;
}

static const struct s_option *s_find_short(char name)
{
  for (size_t i = 0; i < sizeof(s_options) / sizeof(*s_options); i++)
    if (s_options[i].short_name == name)
      return &s_options[i];
  return NULL;
}

/* --name, --name=value or --name value; returns the next argv index, or -1. */
static int s_long_option(struct s_parser *p, int argc, char **argv, int i)
{
  const char *name = argv[i] + 2;
  const char *equals = strchr(name, '=');
  size_t len = equals ? (size_t)(equals - name) : strlen(name);
  const struct s_option *option = s_find_long(name, len);
  if (!option)
    return s_fail(p, "unknown option '--%.*s'", (int)len, name);
  if (!option->takes_value) {
    if (equals)
      return s_fail(p, "option '--%s' takes no value", option->long_name);
    return s_apply(p, option, NULL) < 0 ? -1 : i + 1;
  }
  if (equals)
    return s_apply(p, option, equals + 1) < 0 ? -1 : i + 1;
  if (i + 1 >= argc)
    return s_fail(p, "option '--%s' needs a value", option->long_name);
  return s_apply(p, option, argv[i + 1]) < 0 ? -1 : i + 2;
}

/* -vq (bundled flags), -j8 or -j 8; returns the next argv index, or -1. */
static int s_short_options(struct s_parser *p, int argc, char **argv, int i)
{
  for (const char *c = argv[i] + 1; *c; c++) {
    const struct s_option *option = s_find_short(*c);
    if (!option)
      return s_fail(p, "unknown option '-%c'", *c);
    if (!option->takes_value) {
      s_apply(p, option, NULL);
      continue;
    }
    if (c[1])
      return s_apply(p, option, c + 1) < 0 ? -1 : i + 1;
    if (i + 1 >= argc)
      return s_fail(p, "option '-%c' needs a value", *c);
    return s_apply(p, option, argv[i + 1]) < 0 ? -1 : i + 2;
  }
  return i + 1;
}

static void s_finish(struct s_parser *p)
{
  struct ops_config *config = &p->cli->config;
  int level = OPS_LOG_NOTICE + p->verbosity;
  config->log_level = (enum ops_log_level)(level < OPS_LOG_ERROR   ? OPS_LOG_ERROR
                                           : level > OPS_LOG_TRACE ? OPS_LOG_TRACE
                                                                   : level);
  if (config->log_level < OPS_LOG_NOTICE)
    config->progress = false;
}

/* A region from the environment goes into host names and signatures: one that is not a region
 * name stops the run before anything starts, as a bad --region does. (A profile's is checked
 * when the files are read, at the first AWS call.) */
static int s_check_env_region(struct s_parser *p)
{
  struct ops_env env = ops_env_process();
  const char *variable = NULL;
  const char *region = ops_aws_config_env_region(&env, &variable);
  struct ops_error err;
  if (region && ops_region_check(region, variable, &err) != OPS_OK)
    return s_fail(p, "%s", err.message);
  return 0;
}

/* AWS_MAX_ATTEMPTS and AWS_RETRY_MODE are read when the first AWS client is made, in whichever
 * task comes first: a bad one stops the run before it starts, not every task of a sweep. */
static int s_check_env_retry(struct s_parser *p)
{
  struct ops_env env = ops_env_process();
  struct ops_error err;
  if (ops_retry_check_env(&env, &err) != OPS_OK)
    return s_fail(p, "%s", err.message);
  return 0;
}

int ops_cli_parse(int argc, char **argv, struct ops_cli *cli, char *error, size_t error_len)
{
  struct s_parser p = {.cli = cli, .error = error, .error_len = error_len};
  memset(cli, 0, sizeof(*cli));
  ops_config_defaults(&cli->config);
  if (ops_config_from_environment(&cli->config, error, error_len) < 0)
    return -1;
  cli->mode = OPS_CLI_SCRIPT;
  int i = 1;
  while (i < argc && cli->mode == OPS_CLI_SCRIPT) {
    const char *arg = argv[i];
    if (strcmp(arg, "--") == 0) {
      i++;
      break;
    }
    if (arg[0] != '-' || arg[1] == '\0') /* the script, or "-" for stdin */
      break;
    i = arg[1] == '-' ? s_long_option(&p, argc, argv, i) : s_short_options(&p, argc, argv, i);
    if (i < 0)
      return -1;
  }
  s_finish(&p);
  bool runs = cli->mode == OPS_CLI_SCRIPT || cli->mode == OPS_CLI_CHUNK; /* not --help */
  if (runs && !cli->config.region && s_check_env_region(&p) < 0)
    return -1;
  if (runs && s_check_env_retry(&p) < 0)
    return -1;
  if (cli->mode == OPS_CLI_CHUNK) {
    cli->script_index = i - 1; /* the chunk stands where a script would */
    return 0;
  }
  if (cli->mode != OPS_CLI_SCRIPT)
    return 0;
  cli->script_index = i;
  if (i < argc && (strcmp(argv[i], "tools") == 0 || strcmp(argv[i], "call") == 0 ||
                   strcmp(argv[i], "doctor") == 0 || strcmp(argv[i], "serve") == 0)) {
    cli->mode = OPS_CLI_COMMAND;
    cli->command = argv[i];
  }
  if (i < argc)
    return 0;
  if (cli->interactive) {
    cli->mode = OPS_CLI_REPL;
    return 0;
  }
  return s_fail(&p, "no script given");
}
