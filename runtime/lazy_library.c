/* lazy_library.c: see lazy_library.h. */
#include "runtime/lazy_library.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

void *ops_lazy_symbol(struct ops_lazy_library *library, const char *name)
{
  if (!library->handle)
    library->handle = dlopen(library->soname, RTLD_NOW | RTLD_LOCAL);
  void *symbol = library->handle ? dlsym(library->handle, name) : NULL;
  if (!symbol) {
    fprintf(stderr, "opsrun: cannot load %s from %s: %s (install %s)\n", name, library->soname,
            dlerror(), library->package);
    exit(2);
  }
  return symbol;
}
