/* error.c: filling struct ops_error and naming its kinds. */
#include "runtime/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int ops_error_set(struct ops_error *err, enum ops_err kind, const char *fmt, ...)
{
  if (err) {
    memset(err, 0, sizeof(*err));
    err->kind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
  }
  return kind;
}

void ops_error_set_code(struct ops_error *err, const char *code)
{
  if (err)
    snprintf(err->code, sizeof(err->code), "%s", code);
}

void ops_error_aws_code(const char *type, char *code, size_t size)
{
  const char *hash = strrchr(type, '#');
  if (hash)
    type = hash + 1;
  snprintf(code, size, "%.*s", (int)strcspn(type, ":"), type);
}

void ops_error_set_transport(struct ops_error *err, enum ops_transport_failure failure)
{
  if (err) {
    err->transport = failure;
    ops_error_set_code(err, ops_transport_failure_name(failure));
  }
}

const char *ops_transport_failure_name(enum ops_transport_failure failure)
{
  switch (failure) {
  case OPS_TRANSPORT_NONE: return "";
  case OPS_TRANSPORT_CONNECT: return "ConnectFailed";
  case OPS_TRANSPORT_RESOLVE: return "UnknownHost";
  case OPS_TRANSPORT_TLS: return "TlsFailed";
  case OPS_TRANSPORT_TIMEOUT: return "RequestTimeout";
  case OPS_TRANSPORT_RESET: return "ConnectionReset";
  case OPS_TRANSPORT_CLOSED_AFTER_SEND: return "ClosedAfterSend";
  case OPS_TRANSPORT_INCOMPLETE: return "IncompleteResponse";
  case OPS_TRANSPORT_TOO_LARGE: return "ResponseTooLarge";
  case OPS_TRANSPORT_OVER_BUDGET: return "ReplyBudgetExceeded";
  case OPS_TRANSPORT_OTHER: return "TransportError";
  }
  return "TransportError";
}

const char *ops_err_kind_name(enum ops_err kind)
{
  switch (kind) {
  case OPS_OK: return "ok";
  case OPS_ERR_NOMEM: return "memory";
  case OPS_ERR_CONFIG: return "config";
  case OPS_ERR_REGISTRY: return "registry";
  case OPS_ERR_CREDENTIALS: return "credentials";
  case OPS_ERR_DENIED: return "denied";
  case OPS_ERR_THROTTLED: return "throttled";
  case OPS_ERR_TIMEOUT: return "timeout";
  case OPS_ERR_TRANSPORT: return "transport";
  case OPS_ERR_RPC: return "rpc";
  case OPS_ERR_TOOL: return "tool";
  case OPS_ERR_CANCELLED: return "cancelled";
  }
  return "unknown";
}
