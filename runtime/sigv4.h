/* sigv4.h: AWS Signature Version 4 (AWS4-HMAC-SHA256) request signing, in Authorization-header
 * mode or presigned-query mode, with a per-signer cache of derived signing keys. The canonical
 * forms are written here; SHA-256 and HMAC come from OpenSSL 3's EVP API. No Lua, no I/O, no clock.
 */
#ifndef OPS_SIGV4_H
#define OPS_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/error.h"

/* The payload hash to pass when the body is not signed (S3 and presigned URLs accept it). */
#define OPS_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

/* The longest X-Amz-Expires AWS accepts: seven days. */
#define OPS_SIGV4_MAX_EXPIRES 604800

/* Credentials to sign with. All borrowed for the duration of one call. */
struct ops_sigv4_credentials {
  const char *access_key_id;
  const char *secret_access_key;
  const char *session_token; /* NULL or "" when the credentials have none */
};

/* A name and a value: a header, or a query parameter in the result. */
struct ops_sigv4_pair {
  const char *name;
  const char *value;
};

/* The request to sign. Everything is borrowed for the duration of the call. */
struct ops_sigv4_request {
  const char *method; /* "GET", "POST", ... exactly as sent */
  /* The path of the request-target, without '?' and query. It is URI-encoded once while signing
   * (every byte but A-Z a-z 0-9 - . _ ~ and '/'), so pass the path as sent on the wire for
   * ordinary services (AWS wants their paths encoded twice) and the unencoded key path for S3.
   * "" means "/". */
  const char *path;
  const char *query; /* the raw query string after '?' (percent-encoded as sent), or NULL */
  /* In order; repeated names allowed. Must include Host. The headers the signer generates
   * (Authorization, X-Amz-Date, and X-Amz-Security-Token or x-amz-content-sha256 when it adds
   * them) are ignored here, so a request can be signed again for a retry. Every other header given
   * is signed: leave out the ones a proxy may rewrite. */
  const struct ops_sigv4_pair *headers;
  size_t header_count;
  const void *body; /* may be NULL when body_len is 0 */
  size_t body_len;
  /* NULL: the hex SHA-256 of the body. Otherwise used as given: OPS_SIGV4_UNSIGNED_PAYLOAD, or a
   * hash computed beforehand (the body is then not read). */
  const char *payload_hash;
};

enum ops_sigv4_mode {
  OPS_SIGV4_MODE_HEADER, /* Authorization header */
  OPS_SIGV4_MODE_QUERY,  /* presigned URL: the signature travels in X-Amz-* query parameters */
};

enum ops_sigv4_flag {
  /* Remove "." and ".." segments and empty segments from the path before encoding (every service
   * but S3). Without it the path is used as given, S3-style. */
  OPS_SIGV4_NORMALIZE_PATH = 1 << 0,
  /* Header mode: add and sign x-amz-content-sha256 with the payload hash (S3 requires it). */
  OPS_SIGV4_CONTENT_SHA256 = 1 << 1,
  /* Add the session token after signing instead of signing it (some services want that). It is
   * still returned in the result's headers or query parameters. */
  OPS_SIGV4_OMIT_SESSION_TOKEN = 1 << 2,
};

/* How to sign. Borrowed for the duration of the call. */
struct ops_sigv4_config {
  const struct ops_sigv4_credentials *credentials;
  const char *region;  /* "us-east-1" */
  const char *service; /* "sts", "execute-api", ... */
  int64_t time;        /* signing time in seconds since the epoch; the signer never reads a clock */
  enum ops_sigv4_mode mode;
  unsigned flags;   /* enum ops_sigv4_flag bits */
  unsigned expires; /* query mode: X-Amz-Expires in seconds, 1 to OPS_SIGV4_MAX_EXPIRES */
};

/* What signing produced. Zero-initialise before first use ({0}); a result may be passed to
 * further calls, which reuse its storage. All strings point into storage owned by the result (or
 * into the result itself: do not copy the struct) and stay valid until the next call with it or
 * ops_sigv4_result_free. */
struct ops_sigv4_result {
  char signature[65];            /* lowercase hex */
  const char *canonical_request; /* the exact bytes hashed, for debugging a signature mismatch */
  const char *string_to_sign;
  const char *authorization; /* header mode: the Authorization value; NULL in query mode */
  /* Header mode: headers to add to the request, ready to send, in this order: X-Amz-Date,
   * X-Amz-Security-Token (when there is a token), x-amz-content-sha256 (with
   * OPS_SIGV4_CONTENT_SHA256), Authorization. Empty in query mode. */
  struct ops_sigv4_pair headers[4];
  size_t header_count;
  /* Query mode: parameters to append to the request's query string ('&' after a non-empty one),
   * values already URI-encoded: X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders,
   * -Security-Token (when there is a token), -Signature. Empty in header mode. */
  struct ops_sigv4_pair query[7];
  size_t query_count;
  char *storage; /* private */
  size_t storage_size;
};

/* Fetched OpenSSL algorithms, reusable digest and MAC contexts, scratch buffers, and the cache of
 * signing keys. Not thread-safe: use one signer per thread. */
struct ops_sigv4_signer;

/* Creates a signer whose key cache holds `key_cache_entries` signing keys (one per secret, date,
 * region and service; 0 picks 64; rounded up to a multiple of 4, the ways of each set). A key is
 * derived once per UTC day and kept until evicted, least recently used first within its set.
 * On success *out is owned by the caller: release it with ops_sigv4_signer_free. */
int ops_sigv4_signer_new(struct ops_sigv4_signer **out, size_t key_cache_entries,
                         struct ops_error *err);

/* Frees the signer, wiping the cached secrets and keys with OPENSSL_cleanse. NULL is a no-op. */
void ops_sigv4_signer_free(struct ops_sigv4_signer *signer);

/* Signs `request` as `config` says and fills `out` (see struct ops_sigv4_result). Returns 0, or
 * OPS_ERR_CONFIG / OPS_ERR_CREDENTIALS for a request or configuration that cannot be signed, or
 * OPS_ERR_NOMEM, with `err` (may be NULL) saying which. On failure `out` holds no strings but
 * must still be freed. */
int ops_sigv4_sign(struct ops_sigv4_signer *signer, const struct ops_sigv4_request *request,
                   const struct ops_sigv4_config *config, struct ops_sigv4_result *out,
                   struct ops_error *err);

/* The last three steps alone: builds the string to sign from a canonical request made elsewhere
 * (`len` bytes, not NUL-terminated) and signs it with the key for `config`. Fills signature,
 * canonical_request and string_to_sign of `out`; no headers, query or authorization. Returns as
 * ops_sigv4_sign. */
int ops_sigv4_sign_canonical(struct ops_sigv4_signer *signer, const char *canonical_request,
                             size_t len, const struct ops_sigv4_config *config,
                             struct ops_sigv4_result *out, struct ops_error *err);

/* Frees the result's storage and zeroes it. NULL is a no-op. */
void ops_sigv4_result_free(struct ops_sigv4_result *result);

#endif
