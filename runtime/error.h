/* error.h: the error codes core functions return and the record they fill for the user.
 * The kinds are SPEC section 4's, so the bindings map them one to one onto Lua error objects. */
#ifndef OPS_ERROR_H
#define OPS_ERROR_H

#include <stdbool.h>

enum ops_err {
  OPS_OK = 0,
  OPS_ERR_NOMEM = -1,
  OPS_ERR_CONFIG = -2,
  OPS_ERR_REGISTRY = -3,
  OPS_ERR_CREDENTIALS = -4,
  OPS_ERR_DENIED = -5,
  OPS_ERR_THROTTLED = -6,
  OPS_ERR_TIMEOUT = -7,
  OPS_ERR_TRANSPORT = -8,
  OPS_ERR_RPC = -9,
  OPS_ERR_TOOL = -10,
  OPS_ERR_CANCELLED = -11,
};

/* What went wrong, worded for the user: `message` names what, where and what to do. */
struct ops_error {
  enum ops_err kind;
  int http_status;   /* 0 when no HTTP exchange was involved */
  bool retryable;
  char code[64];     /* AWS error code or JSON-RPC code; "" when there is none */
  char message[1024];
};

/* Sets kind and a printf-style message, clearing the other fields. `err` may be NULL.
 * Returns `kind`, so a caller can write `return ops_error_set(err, OPS_ERR_CONFIG, ...)`. */
int ops_error_set(struct ops_error *err, enum ops_err kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets the AWS or JSON-RPC code of an error already set. */
void ops_error_set_code(struct ops_error *err, const char *code);

/* The SPEC name of a kind: "config", "timeout", ... */
const char *ops_err_kind_name(enum ops_err kind);

#endif
