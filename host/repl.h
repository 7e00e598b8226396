/* repl.h: the interactive read-eval-print loop of `opsrun -i` (SPEC section 5). */
#ifndef OPS_REPL_H
#define OPS_REPL_H

#include <lua.h>

/* Reads entries from stdin until end of input or `:quit`, running each as a task (all of them
 * acting as one identity) and printing the values of expressions and the rows passed to emit;
 * errors are printed and the loop goes on. On a terminal: line editing, history, completion and
 * a prompt with the account and region. `catch_interrupts` installs the host's handler of
 * SIGINT, SIGTERM and SIGHUP, which interrupts the engine and resets itself: it is called before
 * each prompt and entry. Ctrl-C stops the entry that runs; SIGTERM or SIGHUP ends the REPL. */
void ops_repl_run(lua_State *L, void (*catch_interrupts)(lua_State *L));

#endif
