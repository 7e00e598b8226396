/* http.h: one HTTP exchange as a transfer on the event loop (libcurl easy handle on the loop's
 * multi handle). Transport rules live here: TLS always verified (against the system's CAs or the
 * configured CA bundle), HTTP/1.1 only (see s_set_options), plain http:// only to loopback,
 * no redirects, bounded response size (each, and all in flight together), and a request is sent
 * once: libcurl never replays one the server may have read (sending again is the caller's retry
 * policy's decision). At the trace level (-vvv) each exchange is logged: method, URL, status,
 * time and headers, redacted. */
#ifndef OPS_HTTP_H
#define OPS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/error.h"

struct ops_loop; /* runtime/loop.h, not included: it brings libcurl's header with it */

struct ops_http_header {
  char *name;
  char *value;
};

struct ops_http_response {
  long status;                     /* 0 when no response arrived */
  struct ops_http_header *headers; /* of the final response, in order */
  size_t header_count;
  char *body; /* NUL-terminated */
  size_t body_len;
};

struct ops_http_request {
  const char *method; /* "GET", "POST", "DELETE", ... */
  const char *url;
  const struct ops_http_header *headers; /* in order; copied by ops_http_start */
  size_t header_count;
  const char *body; /* copied by ops_http_start; may be NULL */
  size_t body_len;
  long timeout_ms;           /* whole exchange; 0: none */
  size_t max_response_bytes; /* 0: OPS_HTTP_MAX_RESPONSE_BYTES; streamed bodies too */
  /* Optional streaming: body bytes are handed to on_data as they arrive instead of being
   * buffered (response->body stays empty), with the response's status and headers so far in
   * `head`, so a client can tell JSON from an event stream. Return false to abort the transfer
   * (done then reports a transport error the caller may ignore). */
  bool (*on_data)(void *ud, const struct ops_http_response *head, const char *data, size_t len);
  /* Also allow plain http:// to the AWS link-local credential endpoints, which only speak http:
   * the container endpoint (169.254.170.2, 169.254.170.23, fd00:ec2::23) and instance metadata
   * (169.254.169.254, fd00:ec2::254). For the credential sources only. */
  bool credential_endpoint;
};

#define OPS_HTTP_MAX_RESPONSE_BYTES ((size_t)64 << 20)

/* What the bodies of all replies in flight in the process may hold together (buffered here, or
 * handed to on_data: counted until the transfer ends). 256 MiB: four replies of the largest size
 * a caller allows (MCP's 64 MiB) fit at once, a sweep's ordinary replies (kilobytes) never come
 * near it, and a parsed reply's copies on top (a few times its size) still fit a small machine.
 * Past it the newest transfer holding reply bytes fails ("replies in flight hold more than 256
 * MiB together ..."), so that older ones, further along, finish; a transfer that would grow
 * into room not yet freed waits for it (CURL_WRITEFUNC_PAUSE). */
#define OPS_HTTP_REPLY_BUDGET_BYTES ((size_t)256 << 20)

struct ops_http_transfer;

/* Called once when the exchange ends. On success `err` is NULL and `response` is the server's
 * answer, whatever its status; on failure `err` says why, with err->transport saying how
 * (runtime/error.h: connection, name, TLS, timeout, size limit, the budget of all replies in
 * flight, a connection closed after the request was sent, ...) and err->retryable whether the
 * same request may succeed later, and `response` holds what arrived. Both are borrowed until the
 * callback returns; the transfer is freed after it. */
typedef void (*ops_http_done_fn)(const struct ops_http_response *response,
                                 const struct ops_error *err, void *ud);

/* Starts `request` on `loop`. Returns the transfer (owned by the loop until done runs or
 * ops_http_cancel), or NULL with `err` set when the request is refused before sending (a bad
 * URL, http:// to a host that is not loopback, out of memory). */
struct ops_http_transfer *ops_http_start(struct ops_loop *loop,
                                         const struct ops_http_request *request,
                                         ops_http_done_fn done, void *ud, struct ops_error *err);

/* Aborts a transfer in flight; its callback will not run. */
void ops_http_cancel(struct ops_http_transfer *transfer);

/* Makes every transfer started after it trust the certificate authorities in the PEM file `path`
 * and no others (CURLOPT_CAINFO, with no CA directory) instead of the system's; NULL goes back to
 * the system's. `source` says where the path came from ("AWS_CA_BUNDLE", "ca_bundle of profile
 * ops in ~/.aws/config"), for messages: a TLS failure names it. Returns 0, or OPS_ERR_CONFIG
 * naming the source and the path when the file cannot be read or holds no certificate (nothing
 * changes then), or OPS_ERR_NOMEM. */
int ops_http_set_ca_bundle(const char *path, const char *source, struct ops_error *err);

/* Sets the process's budget for replies in flight (OPS_HTTP_REPLY_BUDGET_BYTES above); 0 sets it
 * back to that. For tests. */
void ops_http_set_reply_budget(size_t bytes);

/* The first header named `name` (case-insensitive), or NULL. */
const char *ops_http_response_header(const struct ops_http_response *response, const char *name);

/* Writes "Name: value" into `out` (`len` bytes, NUL-terminated, cut to fit) as the wire log may
 * show it, with nothing secret in it: a SigV4 Authorization keeps its credential scope (the key
 * id cut to its first 4 characters) and signed headers but not its signature; any other
 * Authorization, and every header whose name mentions a token, cookie, secret or password
 * (X-Amz-Security-Token, X-aws-ec2-metadata-token, x-amz-sso_bearer_token, Cookie, Set-Cookie),
 * shows as <redacted>. */
void ops_http_header_for_log(const char *name, const char *value, char *out, size_t len);

/* What signing a request to a URL needs, owned by the struct: the Host header as sent (the host,
 * with ":port" when the URL names a port), the path ("/" when empty) and the query (NULL when
 * there is none). */
struct ops_http_url_parts {
  char *host;
  char *path;
  char *query;
};

/* Splits `url`. Returns 0, or OPS_ERR_CONFIG ("'URL' is not a valid URL") or OPS_ERR_NOMEM. */
int ops_http_url_split(const char *url, struct ops_http_url_parts *out, struct ops_error *err);

void ops_http_url_parts_free(struct ops_http_url_parts *parts);

/* Whether `host` (as libcurl's URL parser gives it: IPv6 in brackets, IPv4 numbers normalised)
 * is loopback: a literal address in 127.0.0.0/8 or ::1, or the name localhost, which libcurl
 * (7.78 and later; opsrun needs 7.85) answers itself with 127.0.0.1 and ::1 without asking DNS
 * (lib/hostip.c, get_localhost). Never a name that only starts like one: 127.0.0.1.nip.io is
 * whatever DNS says. */
bool ops_http_is_loopback_host(const char *host);

/* Checks the transport rules for `url` alone: https, or http to a loopback host (above). */
int ops_http_check_url(const char *url, struct ops_error *err);

/* The same rules with request.credential_endpoint set: also http to the AWS link-local
 * container and instance metadata endpoints. */
int ops_http_check_credential_url(const char *url, struct ops_error *err);

#endif
