/* cli.h: the command line of SPEC section 1, parsed into a struct ops_cli without side
 * effects (no printing, no exit) so that it can be tested and the host decides what to say. */
#ifndef OPS_CLI_H
#define OPS_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "bindings/lua_config.h"

enum ops_cli_mode {
  OPS_CLI_SCRIPT,
  OPS_CLI_CHUNK,
  OPS_CLI_COMMAND, /* doctor, tools, call, serve: run by bindings/lua/commands.lua */
  OPS_CLI_REPL,
  OPS_CLI_HELP,
  OPS_CLI_VERSION,
};

struct ops_cli {
  enum ops_cli_mode mode;
  struct ops_config config;
  const char *chunk;   /* -e CHUNK */
  const char *command; /* "doctor", "tools", "call" or "serve" */
  bool interactive;    /* -i: a REPL after the script or chunk, if any */
  int script_index;    /* argv index of SCRIPT, CHUNK or the command; argc when there is none */
};

/* Parses argv. Returns 0, or -1 with a one-line reason in `error` (a usage error: exit 2). */
int ops_cli_parse(int argc, char **argv, struct ops_cli *cli, char *error, size_t error_len);

/* The --help text. */
extern const char ops_cli_usage[];

#endif
