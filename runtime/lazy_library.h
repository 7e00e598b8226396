/* lazy_library.h: a shared library loaded at its first use instead of at start-up (dlopen), for
 * the libraries whose loading was most of what starting opsrun cost (runtime/curl_loader.c,
 * runtime/crypto_loader.c). The runtime does not link such a library: a loader defines the
 * library's functions opsrun calls, each of which finds the real one (loading the library at the
 * first call that needs it) and calls it. */
#ifndef OPS_LAZY_LIBRARY_H
#define OPS_LAZY_LIBRARY_H

#include <stdbool.h>

struct ops_lazy_library {
  const char *soname;  /* "libcurl.so.4" */
  const char *package; /* the Debian package that installs it, for the message */
  void *handle;        /* NULL until loaded */
};

/* The library's function `name`, loading the library first if need be. Without it nothing opsrun
 * does can go on: says so in one line and exits 2, as a library missing at start-up would have
 * stopped it. */
void *ops_lazy_symbol(struct ops_lazy_library *library, const char *name);

/* `real`: a pointer to the library's `name`, a function returning `ret` with `params`, found
 * once. */
#define OPS_LAZY_REAL(library, ret, params, name)                                                  \
  static ret(*real) params;                                                                        \
  if (!real)                                                                                       \
  *(void **)&real = ops_lazy_symbol(&(library), name)

/* A function that returns what the library's returns: OPS_LAZY_FORWARD(library, return type,
 * name, (parameters), (arguments)). */
#define OPS_LAZY_FORWARD(library, ret, name, params, args)                                         \
  ret name params                                                                                  \
  {                                                                                                \
    OPS_LAZY_REAL(library, ret, params, #name);                                                    \
    return real args;                                                                              \
  }

/* A function that releases what the library made: nothing to do before the library is loaded,
 * as it has made nothing. */
#define OPS_LAZY_RELEASE(library, name, params, args)                                              \
  void name params                                                                                 \
  {                                                                                                \
    if (!(library).handle)                                                                         \
      return;                                                                                      \
    OPS_LAZY_REAL(library, void, params, #name);                                                   \
    real args;                                                                                     \
  }

#endif
