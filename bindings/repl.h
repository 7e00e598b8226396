/* repl.h: the interactive read-eval-print loop of `opsrun -i`. */
#ifndef OPS_REPL_H
#define OPS_REPL_H

#include <lua.h>

/* Reads statements from stdin until end of input, running each as a task and printing the
 * values of expressions. Errors are printed and the loop goes on. */
void ops_repl_run(lua_State *L);

#endif
