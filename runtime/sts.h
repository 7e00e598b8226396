/* sts.h: the AWS STS client: AssumeRole, GetCallerIdentity and AssumeRoleWithWebIdentity over
 * the Query protocol (form-encoded POST, Version 2011-06-15), signed with runtime/sigv4.h as
 * service "sts" in the operating region (AssumeRoleWithWebIdentity is unsigned), answers parsed
 * with expat. Requests go through struct ops_transport and the signing time comes from struct
 * ops_clock, so tests replay canned answers at a fixed time. Endpoint: AWS_ENDPOINT_URL_STS, else
 * AWS_ENDPOINT_URL, else https://sts.REGION.amazonaws.com (read through struct ops_env).
 *
 * Calls are asynchronous: a call that starts returns 0 and its callback runs once, later, from
 * the transport's completion (the event loop), unless ops_sts_call_cancel comes first. A call
 * refused before sending (parameters AWS would reject, out of memory) returns the error at once
 * and never calls back. Errors carry SPEC section 4's kind, AWS's code, AWS's message whole, the
 * HTTP status and whether a retry may succeed; this client never retries by itself. */
#ifndef OPS_STS_H
#define OPS_STS_H

#include <stdint.h>

#include "runtime/credentials.h"
#include "runtime/env.h"
#include "runtime/error.h"
#include "runtime/transport.h"

struct ops_sts_options {
  struct ops_transport transport; /* state borrowed; must outlive the client */
  struct ops_clock clock;
  struct ops_env env; /* for AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL, read once at creation */
  const char *region; /* signing region and regional endpoint; NULL: us-east-1. Copied */
  long timeout_ms;    /* per exchange; 0: 30 s */
};

struct ops_sts_client;
struct ops_sts_call;

/* Returns 0 with *out owned by the caller (ops_sts_client_free), or OPS_ERR_CONFIG for an
 * endpoint override that is not a URL the transport rules accept, or OPS_ERR_NOMEM. */
int ops_sts_client_new(struct ops_sts_client **out, const struct ops_sts_options *options,
                       struct ops_error *err);

/* Frees the client; no call may be in flight. NULL is a no-op. */
void ops_sts_client_free(struct ops_sts_client *client);

/* The endpoint URL calls are sent to (borrowed from the client). */
const char *ops_sts_client_endpoint(const struct ops_sts_client *client);

/* AssumeRole's parameters; all borrowed for the duration of the starting call. */
struct ops_sts_assume_role_params {
  const char *role_arn;          /* arn:aws:iam::123456789012:role/NAME */
  const char *role_session_name; /* 2-64 of [\w+=,.@-] */
  const char *external_id;       /* NULL or 2-1224 of [\w+=,.@:/-] */
  int duration_seconds;          /* 0: STS's default (1 hour); else 900-43200 */
  const char *serial_number;     /* MFA device, or NULL */
  const char *token_code;        /* the MFA code (6 digits) when serial_number is set */
};

/* AssumeRoleWithWebIdentity's parameters; borrowed for the duration of the starting call. */
struct ops_sts_web_identity_params {
  const char *role_arn;
  const char *role_session_name;
  const char *web_identity_token; /* 4-20000 bytes; a secret: never in messages */
  int duration_seconds;           /* 0: default */
};

/* The answer of AssumeRole and AssumeRoleWithWebIdentity. Owns everything. */
struct ops_sts_assumed_role {
  struct ops_credentials *credentials; /* source: "role ARN" */
  char *arn;                           /* AssumedRoleUser/Arn */
  char *assumed_role_id;               /* AssumedRoleUser/AssumedRoleId */
  char *request_id;
};

/* The answer of GetCallerIdentity. Owns everything. */
struct ops_sts_identity {
  char *account;
  char *arn;
  char *user_id;
  char *request_id;
};

/* Frees (wiping the credentials). NULL is a no-op. */
void ops_sts_assumed_role_free(struct ops_sts_assumed_role *role);
void ops_sts_identity_free(struct ops_sts_identity *identity);

/* Completion of AssumeRole / AssumeRoleWithWebIdentity: `role` on success (the callee takes
 * ownership), else NULL with `err` (borrowed for the call). */
typedef void (*ops_sts_assumed_role_fn)(struct ops_sts_assumed_role *role,
                                        const struct ops_error *err, void *ud);

/* Completion of GetCallerIdentity, likewise. */
typedef void (*ops_sts_identity_fn)(struct ops_sts_identity *identity, const struct ops_error *err,
                                    void *ud);

/* Starts AssumeRole signed with `caller` (borrowed for this call only). On 0, *call (may be NULL
 * if not wanted) is the call for ops_sts_call_cancel, valid until its callback runs. Returns
 * OPS_ERR_CONFIG (code "ValidationError", AWS's wording) for parameters STS would reject. */
int ops_sts_assume_role(struct ops_sts_client *client, const struct ops_credentials *caller,
                        const struct ops_sts_assume_role_params *params,
                        ops_sts_assumed_role_fn done, void *ud, struct ops_sts_call **call,
                        struct ops_error *err);

/* Starts GetCallerIdentity signed with `caller`. As ops_sts_assume_role. */
int ops_sts_get_caller_identity(struct ops_sts_client *client, const struct ops_credentials *caller,
                                ops_sts_identity_fn done, void *ud, struct ops_sts_call **call,
                                struct ops_error *err);

/* Starts AssumeRoleWithWebIdentity, unsigned. As ops_sts_assume_role. */
int ops_sts_assume_role_with_web_identity(struct ops_sts_client *client,
                                          const struct ops_sts_web_identity_params *params,
                                          ops_sts_assumed_role_fn done, void *ud,
                                          struct ops_sts_call **call, struct ops_error *err);

/* Abandons a call whose callback has not run; the callback will not run. */
void ops_sts_call_cancel(struct ops_sts_call *call);

/* Checks the parameters as STS would, without sending. Returns 0 or OPS_ERR_CONFIG with code
 * "ValidationError" and a message in AWS's words ("1 validation error detected: Value 'x' at
 * 'roleSessionName' failed to satisfy constraint: ..."). */
int ops_sts_validate_assume_role(const struct ops_sts_assume_role_params *params,
                                 struct ops_error *err);

#endif
