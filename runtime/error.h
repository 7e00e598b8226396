/* error.h: the error codes core functions return and the record they fill for the user.
 * The kinds are SPEC section 4's, so the bindings map them one to one onto Lua error objects. */
#ifndef OPS_ERROR_H
#define OPS_ERROR_H

#include <stdbool.h>
#include <stddef.h>

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

/* How an HTTP exchange failed below HTTP, so that retry and resend policies decide without
 * knowing the HTTP library (runtime/http.c maps libcurl's codes onto these). */
enum ops_transport_failure {
  OPS_TRANSPORT_NONE = 0,          /* not a transport failure */
  OPS_TRANSPORT_CONNECT,           /* connection refused or host unreachable: nothing was sent */
  OPS_TRANSPORT_RESOLVE,           /* the host name did not resolve: nothing was sent */
  OPS_TRANSPORT_TLS,               /* the TLS handshake or the certificate check failed */
  OPS_TRANSPORT_TIMEOUT,           /* no complete answer within the request's timeout */
  OPS_TRANSPORT_RESET,             /* the connection failed while sending or receiving */
  OPS_TRANSPORT_CLOSED_AFTER_SEND, /* closed after the request went out, before any answer */
  OPS_TRANSPORT_INCOMPLETE,        /* the server closed with no answer or only part of one */
  OPS_TRANSPORT_TOO_LARGE,         /* the answer outgrew the request's max_response_bytes */
  OPS_TRANSPORT_OVER_BUDGET,       /* abandoned to keep the replies in flight within budget */
  OPS_TRANSPORT_OTHER,             /* anything else (a protocol error, a callback's refusal) */
};

/* What went wrong, worded for the user: `message` names what, where and what to do. */
struct ops_error {
  enum ops_err kind;
  int http_status; /* 0 when no HTTP exchange was involved */
  bool retryable;
  enum ops_transport_failure transport; /* OPS_TRANSPORT_NONE unless the exchange failed */
  char code[64]; /* AWS error code, JSON-RPC code or transport failure's name; "" when none */
  char message[1024];
};

/* Sets kind and a printf-style message, clearing the other fields. `err` may be NULL.
 * Returns `kind`, so a caller can write `return ops_error_set(err, OPS_ERR_CONFIG, ...)`. */
int ops_error_set(struct ops_error *err, enum ops_err kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets the AWS or JSON-RPC code of an error already set. */
void ops_error_set_code(struct ops_error *err, const char *code);

/* The error code in an AWS JSON error type as services send it in `__type` or X-Amzn-ErrorType:
 * "Name", "namespace#Name" and "Name:http://..." are all "Name". Into `code` (`size` bytes). */
void ops_error_aws_code(const char *type, char *code, size_t size);

/* Sets the transport failure of an error already set, and its code to the failure's name. */
void ops_error_set_transport(struct ops_error *err, enum ops_transport_failure failure);

/* The stable name a transport failure has as an error's code (Lua's `err.code`):
 * "ConnectFailed", "UnknownHost", "TlsFailed", "RequestTimeout", "ConnectionReset",
 * "ClosedAfterSend", "IncompleteResponse", "ResponseTooLarge", "ReplyBudgetExceeded",
 * "TransportError"; "" for OPS_TRANSPORT_NONE. */
const char *ops_transport_failure_name(enum ops_transport_failure failure);

/* The SPEC name of a kind: "config", "timeout", ... */
const char *ops_err_kind_name(enum ops_err kind);

#endif
