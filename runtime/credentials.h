/* credentials.h: AWS credentials and the sources they come from, as one small asynchronous
 * provider interface (aws-c-auth's credentials_provider vtable). Each source lives in its own
 * file (credentials_env.c, credentials_profile.c, credentials_process.c, credentials_sso.c,
 * credentials_web_identity.c, credentials_ecs.c, credentials_imds.c) and credentials_chain.c
 * composes them in the AWS CLI v2's order; credentials_cached.c wraps any provider with a cache
 * that every user of one identity shares (single flight, refresh, invalidation), and
 * credentials_role.c assumes a role over any provider (STS, with retries and pacing). Network and
 * time go through runtime/transport.h, the environment through runtime/env.h, so tests inject all
 * three.
 *
 * A fetch always ends in its callback, run from the event loop, never inside the call that
 * started it; so a binding can start one and suspend its task (bindings/lua_engine.h). */
#ifndef OPS_CREDENTIALS_H
#define OPS_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/env.h"
#include "runtime/error.h"
#include "runtime/loop.h"
#include "runtime/sigv4.h"
#include "runtime/transport.h"

/* The error code of a source that is simply not configured (the chain goes on to the next one);
 * its message says in a few words what was looked at, for the chain's final message. */
#define OPS_CREDENTIALS_NOT_FOUND "CredentialsNotFound"

/* The error code when the whole chain found nothing. */
#define OPS_CREDENTIALS_NONE "NoCredentials"

/* A set of credentials. Every string is owned by the struct and wiped when it is freed. */
struct ops_credentials {
  char *access_key_id;
  char *secret_access_key;
  char *session_token; /* NULL when there is none */
  int64_t expiration;  /* seconds since the epoch; 0 when they do not expire */
  /* Where they came from, for `doctor` and messages; never a secret: "environment",
   * "profile ops in /root/.aws/credentials", "credential_process of profile x", "SSO (profile
   * x)", "web identity", "container endpoint", "instance metadata", "role R via profile x". */
  char *source;
};

/* Makes credentials from copies of the strings (`session_token` may be NULL or ""). Returns 0
 * with *out owned by the caller (ops_credentials_free), or OPS_ERR_NOMEM. */
int ops_credentials_new(struct ops_credentials **out, const char *access_key_id,
                        const char *secret_access_key, const char *session_token,
                        int64_t expiration, const char *source, struct ops_error *err);

/* A copy of `credentials`, as ops_credentials_new. */
int ops_credentials_copy(struct ops_credentials **out, const struct ops_credentials *credentials,
                         struct ops_error *err);

/* Replaces the description (copied). Returns 0 or OPS_ERR_NOMEM. */
int ops_credentials_set_source(struct ops_credentials *credentials, const char *source,
                               struct ops_error *err);

/* Wipes every string with OPENSSL_cleanse and frees. NULL is a no-op. */
void ops_credentials_free(struct ops_credentials *credentials);

/* A view for runtime/sigv4.h, borrowing the strings of `credentials`. */
struct ops_sigv4_credentials ops_credentials_for_signing(const struct ops_credentials *credentials);

/* Reads a one-time code for an MFA device: writes `message` (no secrets in it) to the user and
 * reads one line into `answer` (NUL-terminated, without the newline). Returns 0, or an error
 * such as OPS_ERR_CONFIG ("no terminal to ask for the MFA code"). Runs on the loop's thread and
 * blocks it: MFA is for interactive use. */
typedef int (*ops_credentials_prompt_fn)(void *self, const char *message, char *answer, size_t size,
                                         struct ops_error *err);

/* Asks on /dev/tty with echo off (getpass-like). `self` is unused. */
int ops_credentials_prompt_terminal(void *self, const char *message, char *answer, size_t size,
                                    struct ops_error *err);

/* What every source works with. Copied into each provider; the pointed-to loop, transport and
 * clock state, environment state and prompt state are borrowed and must outlive it. */
struct ops_credentials_context {
  struct ops_loop *loop;          /* callbacks are delivered from here */
  struct ops_transport transport; /* HTTP: STS, SSO portal, container and instance metadata */
  struct ops_clock clock;
  struct ops_env env; /* AWS_* variables and HOME */
  /* The operating region, for the STS calls of role_arn profiles and web identity (NULL:
   * OPS_AWS_DEFAULT_REGION). Copied by the providers. */
  const char *region;
  ops_credentials_prompt_fn prompt; /* NULL: a profile with mfa_serial fails clearly */
  void *prompt_self;
  long process_timeout_ms; /* credential_process's time limit; 0: the default below */
};

/* How long a credential_process command may run before it is killed and the fetch fails: the
 * AWS SDK for Go's default (processcreds.DefaultTimeout, one minute); the AWS CLI has none. */
#define OPS_CREDENTIALS_PROCESS_TIMEOUT_MS 60000

struct ops_credentials_provider;
struct ops_credentials_fetch;

/* The end of a fetch. On success `credentials` is set (the callee takes ownership) and `err` is
 * NULL; on failure `credentials` is NULL and `err` (borrowed for the call) says why. A source that
 * is not configured at all fails with code OPS_CREDENTIALS_NOT_FOUND. */
typedef void (*ops_credentials_fn)(struct ops_credentials *credentials, const struct ops_error *err,
                                   void *ud);

/* Starts fetching credentials from `provider` (borrowed; it must outlive the fetch). Returns the
 * fetch, whose callback then runs exactly once from the loop unless ops_credentials_fetch_cancel
 * comes first; or NULL with `err` set when out of memory (the callback will not run). */
struct ops_credentials_fetch *
ops_credentials_provider_get(struct ops_credentials_provider *provider, ops_credentials_fn done,
                             void *ud, struct ops_error *err);

/* Abandons a fetch whose callback has not run: stops its transfers, frees it; the callback will
 * not run. */
void ops_credentials_fetch_cancel(struct ops_credentials_fetch *fetch);

/* Frees a provider (no fetch of it may be in flight). NULL is a no-op. */
void ops_credentials_provider_free(struct ops_credentials_provider *provider);

/* The provider's short name ("environment", "profile", "chain", ...). */
const char *ops_credentials_provider_name(const struct ops_credentials_provider *provider);

/* The credentials a caching provider (ops_credentials_provider_cached_new) holds when they are
 * fresh now: valid, and not yet due for refresh. NULL otherwise, and always for the sources,
 * which keep nothing; the caller then fetches with ops_credentials_provider_get, which refreshes.
 * This lets a request sign at once, without the loop turn a fetch takes. Borrowed: valid until
 * control returns to the loop (a fetch of the provider may end there and replace them) or the
 * next ops_credentials_provider_invalidate of the provider, whichever comes first. */
const struct ops_credentials *
ops_credentials_provider_cached(const struct ops_credentials_provider *provider);

/* A request signed with the credentials of key id `refused_access_key_id` was refused as if
 * they had expired (ExpiredToken and the like): a caching provider forgets them when they are
 * still the ones it holds, so that the next fetch gets new ones, never the same again; when it
 * already holds others (a refresh or another refused request came first) nothing changes, so
 * requests refused together cause one fetch, not one each. No-op for the sources. */
void ops_credentials_provider_invalidate(struct ops_credentials_provider *provider,
                                         const char *refused_access_key_id);

/* --- caching, and roles assumed over other credentials --- */

/* How far ahead of their expiry cached credentials are fetched again: 5 minutes, or halfway
 * through lifetimes shorter than 10 minutes. */
#define OPS_CREDENTIALS_REFRESH_MARGIN_SECONDS 300

/* A provider that caches what `inner` fetches (aws-c-auth's cached provider), so that every
 * user of one identity shares its credentials:
 * - fresh credentials are handed out (as copies) without asking `inner`;
 * - otherwise one fetch of `inner` is made, shared by every get made while it is in flight
 *   (single flight); when every such get was cancelled, it is cancelled too;
 * - credentials are due for refresh OPS_CREDENTIALS_REFRESH_MARGIN_SECONDS before they expire
 *   (ops_credentials_provider_cached then says NULL and a get fetches); a refresh that fails
 *   while the old credentials are still valid hands out the old ones, else its error;
 * - credentials that have expired when they arrive fail the fetch: "`what` (SOURCE) expired at
 *   T (this machine's clock says T'): renew them", since every request they signed would fail;
 * - ops_credentials_provider_invalidate forgets refused credentials (see there);
 * - new credentials are logged at debug level: "`what` from SOURCE".
 * `inner` is owned (freed with the provider, and on failure here); `what` names the credentials
 * in messages ("the base credentials"; copied; NULL: "the credentials"). The context supplies
 * the loop and the clock. */
int ops_credentials_provider_cached_new(struct ops_credentials_provider **out,
                                        const struct ops_credentials_context *context,
                                        struct ops_credentials_provider *inner, const char *what,
                                        struct ops_error *err);

/* --- the sources; each returns 0 with *out owned by the caller, or an error --- */

/* AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (or AWS_SECURITY_TOKEN) and
 * AWS_CREDENTIAL_EXPIRATION. A key id without a secret is an error, not a fall-through. */
int ops_credentials_provider_env_new(struct ops_credentials_provider **out,
                                     const struct ops_credentials_context *context,
                                     struct ops_error *err);

/* The profile of the shared files: `explicit_profile` (--profile; NULL: AWS_PROFILE, else
 * "default"). Follows the AWS CLI v2: role_arn with source_profile (chains, cycles refused) or
 * credential_source (Environment, Ec2InstanceMetadata, EcsContainer), external_id,
 * role_session_name (default opsrun-EPOCH), duration_seconds, mfa_serial (code from
 * context->prompt); role_arn with web_identity_token_file; SSO (sso_session or legacy keys);
 * static keys; credential_process. A profile named by --profile or AWS_PROFILE must exist. */
int ops_credentials_provider_profile_new(struct ops_credentials_provider **out,
                                         const struct ops_credentials_context *context,
                                         const char *explicit_profile, struct ops_error *err);

/* Runs `command` with /bin/sh -c on the context's loop and reads the JSON (Version 1) it
 * prints. `profile` names the profile in messages and the description. The run ends when the
 * command exits, even if a process it started in the background holds its output open; a
 * command still running after context->process_timeout_ms is killed (SIGKILL) and the fetch
 * fails; cancelling the fetch kills it too. */
int ops_credentials_provider_process_new(struct ops_credentials_provider **out,
                                         const struct ops_credentials_context *context,
                                         const char *command, const char *profile,
                                         struct ops_error *err);

/* SSO settings of one profile, resolved from the profile and its [sso-session]. All copied. */
struct ops_credentials_sso_config {
  const char *profile;      /* for messages and the description */
  const char *session_name; /* sso_session, or NULL for the legacy keys */
  const char *start_url;
  const char *region; /* sso_region */
  const char *account_id;
  const char *role_name;
};

/* The cached token in ~/.aws/sso/cache/SHA1.json (of the sso-session name, or of the start URL
 * for legacy profiles), then the portal's GetRoleCredentials (AWS_ENDPOINT_URL_SSO, else
 * AWS_ENDPOINT_URL, else https://portal.sso.REGION.amazonaws.com). With an sso-session the
 * token is refreshed near its expiry (SSO OIDC CreateToken, runtime/sso_oidc.h) and the cache
 * written back; a legacy profile's is not. An expired token that cannot be refreshed asks the
 * user to run `aws sso login`. OPS_ERR_CONFIG when the region is not a region name
 * (runtime/region.h). */
int ops_credentials_provider_sso_new(struct ops_credentials_provider **out,
                                     const struct ops_credentials_context *context,
                                     const struct ops_credentials_sso_config *config,
                                     struct ops_error *err);

/* Web identity settings; NULL fields come from AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE and
 * AWS_ROLE_SESSION_NAME. All copied. */
struct ops_credentials_web_identity_config {
  const char *role_arn;
  const char *token_file;
  const char *session_name;
};

/* Reads the token file and calls STS AssumeRoleWithWebIdentity (unsigned). With `config` NULL
 * (or no token file anywhere) and AWS_WEB_IDENTITY_TOKEN_FILE unset it is not configured. */
int ops_credentials_provider_web_identity_new(
    struct ops_credentials_provider **out, const struct ops_credentials_context *context,
    const struct ops_credentials_web_identity_config *config, struct ops_error *err);

/* The container credentials endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on
 * http://169.254.170.2) or AWS_CONTAINER_CREDENTIALS_FULL_URI (loopback, 169.254.170.2,
 * 169.254.170.23, fd00:ec2::23 or localhost), with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or
 * AWS_CONTAINER_AUTHORIZATION_TOKEN as the Authorization header. */
int ops_credentials_provider_ecs_new(struct ops_credentials_provider **out,
                                     const struct ops_credentials_context *context,
                                     struct ops_error *err);

/* EC2 instance metadata: IMDSv2 token, then the role name and its credentials; falls back to
 * IMDSv1 when the token request is refused (403, 404, 405) or times out, unless
 * AWS_EC2_METADATA_V1_DISABLED=true. AWS_EC2_METADATA_DISABLED=true turns it off;
 * AWS_EC2_METADATA_SERVICE_ENDPOINT (or AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6) moves it. An
 * unreachable service means "not configured", as in the CLI. */
int ops_credentials_provider_imds_new(struct ops_credentials_provider **out,
                                      const struct ops_credentials_context *context,
                                      struct ops_error *err);

/* The AWS CLI v2 order: environment, the profile, web identity from the environment,
 * container, instance metadata; with --profile (`explicit_profile`) the two environment sources
 * are skipped, as the CLI does. The first source
 * that has credentials wins; one that is configured but fails stops the chain with its error;
 * when none is configured the error is OPS_ERR_CREDENTIALS, code OPS_CREDENTIALS_NONE, with a
 * message that says what was looked at and what to do. */
int ops_credentials_provider_chain_new(struct ops_credentials_provider **out,
                                       const struct ops_credentials_context *context,
                                       const char *explicit_profile, struct ops_error *err);

/* A provider that hands out copies of `credentials` (owned: freed with the provider, and on
 * failure here): static keys as the base of a role. */
int ops_credentials_provider_static_new(struct ops_credentials_provider **out,
                                        const struct ops_credentials_context *context,
                                        struct ops_credentials *credentials, struct ops_error *err);

struct ops_retry;
struct ops_sts_client;

/* An IAM role to assume. Strings borrowed for the call that takes it (copied). */
struct ops_credentials_role_config {
  const char *role_arn;     /* arn:PARTITION:iam::ACCOUNT:role/NAME: messages name ACCOUNT */
  const char *session_name; /* NULL: opsrun-EPOCH, when each fetch starts */
  const char *external_id;  /* or NULL */
  int duration_seconds;     /* 0: STS's default */
  const char *mfa_serial;   /* or NULL: with one, each fetch asks context->prompt for a code */
  /* The profile whose role_arn this is, or NULL. With one, the credentials' source is "role R of
   * profile P, from BASE-SOURCE" and messages about MFA name it; without, STS's "role ARN". */
  const char *profile;
  /* Names the role in its own failures (its AssumeRole's, not its base's, which pass as they
   * are): "LABEL: MESSAGE", as a chain's hop says which it is ("hop 2 of 2 (role Ops)"). NULL:
   * none. Copied. */
  const char *label;
  /* Borrowed, and must outlive the provider; NULL: the provider makes its own from the context.
   * `sts` the STS client; `retry` the quota and send rate of this identity's STS calls (whoami()
   * as the role shares them, as an SDK client would). */
  struct ops_sts_client *sts;
  struct ops_retry *retry;
};

/* STS AssumeRole signed with the credentials of `base` (borrowed; it must outlive the provider),
 * fetched afresh for every attempt. Throttling, 5xx answers and failed connections are sent
 * again on runtime/retry.h's policy (the retry logged at debug level with the role's account),
 * each attempt waiting for the adaptive send rate; the error that ends a fetch says how many
 * attempts it made. A failure to get the base credentials is the fetch's error as it is.
 * Credentials that expired before they arrived fail: "STS AssumeRole of ROLE in account ACCOUNT
 * returned credentials that expired at T, before they arrived (this machine's clock says T'):
 * check the clock and the STS endpoint". Parameters STS would reject are refused here
 * (OPS_ERR_CONFIG, ValidationError, as ops_sts_validate_assume_role). */
int ops_credentials_provider_role_new(struct ops_credentials_provider **out,
                                      const struct ops_credentials_context *context,
                                      struct ops_credentials_provider *base,
                                      const struct ops_credentials_role_config *config,
                                      struct ops_error *err);

/* The ARN of the session the last successful AssumeRole of a role provider made
 * (arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION), or NULL before one. Borrowed until the
 * provider's next fetch ends. */
const char *ops_credentials_role_assumed_arn(const struct ops_credentials_provider *role);

/* --- for the source files: how a provider is built and a fetch ended --- */

struct ops_credentials_provider_vtable {
  const char *name;
  /* Begins `fetch`. Returns 0 and then ends it with ops_credentials_fetch_complete exactly once,
   * now or from a later loop callback, unless cancel runs first; or returns an error with `err`
   * set (its state freed, complete not called) and the plumbing ends the fetch with it. */
  int (*start)(struct ops_credentials_provider *provider, struct ops_credentials_fetch *fetch,
               struct ops_error *err);
  /* Stops work in flight and frees the fetch's state (ops_credentials_fetch_state). NULL when
   * the source always completes within start. */
  void (*cancel)(struct ops_credentials_fetch *fetch);
  void (*destroy)(void *impl); /* frees the provider's impl; NULL: free() */
  /* A provider that keeps credentials: ops_credentials_provider_cached and _invalidate. NULL
   * for the sources, which keep none. */
  const struct ops_credentials *(*cached)(const struct ops_credentials_provider *provider);
  void (*invalidate)(struct ops_credentials_provider *provider, const char *refused_access_key_id);
};

/* Wraps `impl` (ownership taken, even on failure) as a provider. */
int ops_credentials_provider_new(struct ops_credentials_provider **out,
                                 const struct ops_credentials_provider_vtable *vtable,
                                 const struct ops_credentials_context *context, void *impl,
                                 struct ops_error *err);

void *ops_credentials_provider_impl(const struct ops_credentials_provider *provider);
const struct ops_credentials_context *
ops_credentials_provider_context(const struct ops_credentials_provider *provider);

/* The source's per-fetch state (NULL until set). */
void *ops_credentials_fetch_state(const struct ops_credentials_fetch *fetch);
void ops_credentials_fetch_set_state(struct ops_credentials_fetch *fetch, void *state);

/* Ends `fetch` with credentials (ownership taken) or `err` (copied). The source must have freed
 * its state first and must not touch the fetch afterwards. Called within start, the callback is
 * deferred to the loop. */
void ops_credentials_fetch_complete(struct ops_credentials_fetch *fetch,
                                    struct ops_credentials *credentials,
                                    const struct ops_error *err);

/* Sets `err` to the "not configured" outcome: OPS_ERR_CREDENTIALS, code
 * OPS_CREDENTIALS_NOT_FOUND, and a short note. Returns OPS_ERR_CREDENTIALS. */
int ops_credentials_not_found(struct ops_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* True when `err` is the "not configured" outcome. */
bool ops_credentials_is_not_found(const struct ops_error *err);

/* The state of a source waiting on one HTTP exchange; a source's own state may start with it. */
struct ops_credentials_exchange {
  struct ops_credentials_fetch *fetch;
  const struct ops_credentials_context *context;
  void *transfer;
};

/* Starts `method` `url` through the context's transport for a source (`headers` copied; with
 * `credential_endpoint`, the link-local container and instance metadata hosts are allowed over
 * http, see runtime/http.h) and records it in `x`, which becomes the fetch's state. Returns 0,
 * or the transport's error (the fetch's state is then unset). */
int ops_credentials_exchange_start(struct ops_credentials_exchange *x, const char *method,
                                   const char *url, const struct ops_http_header *headers,
                                   size_t header_count, long timeout_ms, bool credential_endpoint,
                                   ops_http_done_fn done, struct ops_error *err);

/* vtable.cancel for a source whose state is a struct ops_credentials_exchange (or starts with
 * one) freed with free(): cancels the transfer and frees the state. */
void ops_credentials_exchange_cancel(struct ops_credentials_fetch *fetch);

/* Frees `x` (free()) and ends its fetch with `credentials` or `err`, from the exchange's
 * completion. */
void ops_credentials_exchange_complete(struct ops_credentials_exchange *x,
                                       struct ops_credentials *credentials,
                                       const struct ops_error *err);

/* Words an exchange of a source that failed (`transport_err` set) or answered with a status that
 * is not 2xx: "WHAT: ..." with the transport's kind, or for a status: throttled (429), transport
 * (5xx, retryable) or credentials (other), quoting up to 200 bytes of the answer. */
void ops_credentials_http_error(struct ops_error *err, const char *what,
                                const struct ops_http_response *response,
                                const struct ops_error *transport_err);

/* The largest token file read: STS takes web identity tokens of up to 20,000 characters, so
 * anything much larger is not a token (and /dev/zero never ends). */
#define OPS_CREDENTIALS_MAX_TOKEN_FILE_BYTES ((size_t)64 << 10)

/* Reads a small file (a token, at most OPS_CREDENTIALS_MAX_TOKEN_FILE_BYTES) into a
 * NUL-terminated string with trailing whitespace removed. Returns 0 with *out owned by the
 * caller (wipe it before freeing), or OPS_ERR_CREDENTIALS naming `what` and the path:
 * "WHAT: PATH: cannot read: larger than N bytes". */
int ops_credentials_read_token_file(const char *path, const char *what, char **out,
                                    struct ops_error *err);

/* A copy of `s`, or NULL when `s` is NULL; a copy that failed clears *ok. */
char *ops_credentials_dup_optional(const char *s, bool *ok);

/* Frees a string holding a secret, wiping it first. NULL is a no-op. */
void ops_credentials_wipe_free(char *secret);

/* Credentials from a JSON object's string members (the container, instance metadata and
 * credential_process shapes): names of the key id, secret, token and expiration members; token
 * and expiration may be absent when `require_expiring` is false. `what` names the source in
 * messages. `json` is a json_t *. */
int ops_credentials_from_json(const void *json, const char *const names[4], bool require_expiring,
                              const char *what, const char *source, struct ops_credentials **out,
                              struct ops_error *err);

#endif
