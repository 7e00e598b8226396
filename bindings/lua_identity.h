/* lua_identity.h: who the running task acts as (SPEC section 4): the role it assumed with assume(),
 * else the base credentials of the AWS credential chain. Bindings that sign requests (STS, MCP)
 * borrow the identity's provider here; its credentials are resolved on first use and refreshed
 * before they expire, so a request always signs with credentials that are valid now. */
#ifndef OPS_LUA_IDENTITY_H
#define OPS_LUA_IDENTITY_H

#include <lua.h>

#include "runtime/credentials.h"
#include "runtime/sigv4.h"

/* The running task's identity as a caching credentials provider (runtime/credentials.h): the
 * role it assumed, else the base credentials. Borrowed: it lives as long as L's state, so a
 * request may keep it across waits and, for each attempt, take its credentials at once with
 * ops_credentials_provider_cached or fetch them with ops_credentials_provider_get, and
 * invalidate those a server refused as expired. Raises when the AWS settings cannot be read
 * (an unreadable region). */
struct ops_credentials_provider *ops_identity_provider(lua_State *L);

/* The base credentials' caching provider (the credential chain), whatever the running task acts
 * as: for what is read as the caller who runs opsrun (AWS Organizations). Borrowed, as above. */
struct ops_credentials_provider *ops_identity_base_provider(lua_State *L);

/* Raises `err`, the running task's provider's failure to give credentials, as its identity's
 * own error: for an assumed role, assume()'s in the role's account (a refused AssumeRole reads
 * the same wherever the credentials were wanted); for the base credentials, the task's. */
int ops_identity_raise_credentials_error(lua_State *L, const struct ops_error *err);

/* Whom the running task's credentials belong to, the same across their refreshes: "base" for
 * the base credentials, the role ARN (and external id) for an assumed role. Borrowed: it lives
 * as long as L's state. */
const char *ops_identity_owner(lua_State *L);

/* The account whose assume() made the running task's role (a role chain's: the chain's
 * account), or NULL for the base credentials. Borrowed: it lives as long as L's state. */
const char *ops_identity_account(lua_State *L);

/* The SigV4 signer shared by every binding of L's state (created on first use). */
struct ops_sigv4_signer *ops_identity_signer(lua_State *L);

/* The operating region: --region, $AWS_REGION, $AWS_DEFAULT_REGION, the profile's region,
 * else us-east-1. */
const char *ops_identity_region(lua_State *L);

/* For the script and the REPL, whose entries each run as a task of their own yet act as one
 * identity, as the lines of one script do. Called in a task, ops_identity_share_main makes the
 * task act as code outside tasks does (the base credentials until a role is assumed) and its
 * assume() change that identity too, until ops_identity_unshare_main (called anywhere, when the
 * task has ended). Makes no AWS object (nothing is read until the first AWS call); raises only
 * when out of memory. */
void ops_identity_share_main(lua_State *L);
void ops_identity_unshare_main(lua_State *L);

/* A task body (a lua_CFunction): calls the function at index 1 with the values above it, acting
 * as the state's own identity (ops_identity_share_main), and returns what it returns. The
 * script and each REPL entry run in it; the caller unshares when the task has ended. */
int ops_identity_run_as_main(lua_State *L);

/* The account code outside tasks acts as: the assumed role's; the base credentials' once a
 * whoami() with them told it; else "". Never calls STS. Borrowed until the next assume(). */
const char *ops_identity_main_account(lua_State *L);

#endif
