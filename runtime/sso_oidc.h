/* sso_oidc.h: the one call of IAM Identity Center's OIDC service (SSO OIDC) that opsrun makes:
 * CreateToken with the refresh_token grant, which renews the access token `aws sso login` cached
 * (POST /token, unsigned rest-json). Requests go through struct ops_transport, so tests replay
 * canned answers. Endpoint: AWS_ENDPOINT_URL_SSO_OIDC, else AWS_ENDPOINT_URL, else
 * https://oidc.REGION.amazonaws.com: the variable is the one the AWS SDKs derive from the
 * serviceId "SSO OIDC" (AWS SDKs and Tools Reference Guide, "Identifiers for service-specific
 * endpoints"). Tokens and the client secret are secrets: no message here holds one. */
#ifndef OPS_SSO_OIDC_H
#define OPS_SSO_OIDC_H

#include <stdint.h>

#include "runtime/env.h"
#include "runtime/error.h"
#include "runtime/transport.h"

/* CreateToken's answer. Every string is owned by the struct and wiped when it is freed. */
struct ops_sso_oidc_token {
  char *access_token;
  char *refresh_token; /* NULL when the answer has none: the old one stays valid */
  int64_t expires_in;  /* seconds */
};

void ops_sso_oidc_token_free(struct ops_sso_oidc_token *token);

/* The refresh grant's inputs: the client registration and refresh token the cache holds. All
 * borrowed for the starting call. */
struct ops_sso_oidc_refresh {
  const char *region; /* sso_region: the regional endpoint */
  const char *client_id;
  const char *client_secret;
  const char *refresh_token;
};

/* The end of a CreateToken: `token` (the callee takes ownership) or `err` (borrowed for the
 * call): AWS's error code (`error`'s exception name: InvalidGrantException,
 * ExpiredTokenException, InvalidClientException, ...) with its error_description, kind
 * credentials for a refused grant or client, throttled for 429 and SlowDownException,
 * transport (retryable) for 5xx and failed exchanges. */
typedef void (*ops_sso_oidc_done_fn)(struct ops_sso_oidc_token *token, const struct ops_error *err,
                                     void *ud);

struct ops_sso_oidc_call;

/* Starts CreateToken on `transport` (state borrowed; it must outlive the call). Returns the call,
 * whose `done` then runs once from the transport's completion unless ops_sso_oidc_cancel comes
 * first; or NULL with `err` set (an endpoint override the transport rules refuse, out of
 * memory), and `done` never runs. */
struct ops_sso_oidc_call *ops_sso_oidc_refresh_start(const struct ops_transport *transport,
                                                     const struct ops_env *env,
                                                     const struct ops_sso_oidc_refresh *refresh,
                                                     ops_sso_oidc_done_fn done, void *ud,
                                                     struct ops_error *err);

/* Abandons a call whose `done` has not run. */
void ops_sso_oidc_cancel(struct ops_sso_oidc_call *call);

#endif
