/* http.c: an HTTP exchange as a libcurl easy handle on the event loop. Collects the final
 * response's headers and body (or streams the body), keeps the bodies of every transfer in
 * flight within one budget, checks and applies the configured CA bundle (OpenSSL reads it
 * first), words transport failures, and logs the exchange at the trace level with its secrets
 * redacted (runtime/log.h). */
#include "runtime/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "runtime/buffer.h"
#include "runtime/log.h"
#include "runtime/loop.h"

struct ops_http_transfer {
  struct ops_loop *loop;
  CURL *easy;
  struct curl_slist *request_headers;
  char *request_body;
  size_t request_body_len;
  size_t request_body_read; /* by libcurl, through s_on_read */
  char method[16];
  struct ops_http_response response;
  size_t header_capacity;
  struct ops_buffer body; /* the response body (secret); response.body points into it at end */
  size_t max_response_bytes;
  size_t streamed; /* body bytes handed to on_data so far */
  bool too_large;
  size_t held;                /* body bytes counted against the budget of replies in flight */
  bool over_budget;           /* failed to keep that budget; its bytes are about to be freed */
  struct ops_timer *eviction; /* ending it for the budget, from the loop's next turn */
  bool paused;                /* waiting for bytes being freed (CURL_WRITEFUNC_PAUSE) */
  struct ops_timer *wake;     /* resuming it, from the loop's next turn */
  struct ops_http_transfer *newer, *older; /* every transfer in flight, in the order started */
  bool (*on_data)(void *ud, const struct ops_http_response *head, const char *data, size_t len);
  ops_http_done_fn done;
  void *ud;
  char curl_error[CURL_ERROR_SIZE];
};

/* The budget of replies in flight, process-wide (one loop, one thread): what they hold
 * together, the part held by transfers failed for it and about to be freed, and every transfer
 * in flight, newest first. */
static size_t s_reply_budget = OPS_HTTP_REPLY_BUDGET_BYTES;
static size_t s_replies_held;
static size_t s_replies_failing;
static struct ops_http_transfer *s_newest;

/* The CA bundle every transfer trusts (NULL: the system's), and where its path came from. */
static char *s_ca_bundle;
static char *s_ca_bundle_source;

/* --- transport rules --- */

bool ops_http_is_loopback_host(const char *host)
{
  if (strcasecmp(host, "localhost") == 0)
    return true;
  struct in_addr v4;
  if (inet_pton(AF_INET, host, &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  char bare[INET6_ADDRSTRLEN];
  size_t len = strlen(host);
  if (len > 2 && host[0] == '[' && host[len - 1] == ']' && len - 2 < sizeof(bare)) {
    memcpy(bare, host + 1, len - 2); /* "[::1]", as libcurl's URL parser gives it */
    bare[len - 2] = '\0';
    host = bare;
  }
  struct in6_addr v6;
  return inet_pton(AF_INET6, host, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

/* The AWS credential endpoints that only speak plain http, by design: the container endpoint
 * and instance metadata, over IPv4 and IPv6. */
static bool s_is_credential_endpoint(const char *host)
{
  static const char *const hosts[] = {"169.254.170.2",   "169.254.170.23",  "[fd00:ec2::23]",
                                      "169.254.169.254", "[fd00:ec2::254]", NULL};
  for (const char *const *h = hosts; *h; h++)
    if (strcasecmp(host, *h) == 0 || (**h == '[' && strlen(host) + 2 == strlen(*h) &&
                                      strncasecmp(host, *h + 1, strlen(host)) == 0))
      return true;
  return false;
}

static int s_check_url(const char *url, bool credential_endpoint, struct ops_error *err)
{
  int rc = OPS_OK;
  char *scheme = NULL, *host = NULL;
  CURLU *parsed = curl_url();
  if (!parsed)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  if (curl_url_set(parsed, CURLUPART_URL, url, 0) != CURLUE_OK ||
      curl_url_get(parsed, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(parsed, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
    rc = ops_error_set(err, OPS_ERR_CONFIG, "'%s' is not a valid URL", url);
    goto cleanup;
  }
  if (strcmp(scheme, "https") == 0)
    goto cleanup;
  if (strcmp(scheme, "http") != 0)
    rc = ops_error_set(err, OPS_ERR_CONFIG, "'%s': only https:// URLs are supported", url);
  else if (!ops_http_is_loopback_host(host) &&
           !(credential_endpoint && s_is_credential_endpoint(host)))
    rc = ops_error_set(err, OPS_ERR_CONFIG,
                       "refusing plain http:// to %s (not loopback): use https://", host);
cleanup:
  curl_free(scheme);
  curl_free(host);
  curl_url_cleanup(parsed);
  return rc;
}

int ops_http_check_url(const char *url, struct ops_error *err)
{
  return s_check_url(url, false, err);
}

int ops_http_check_credential_url(const char *url, struct ops_error *err)
{
  return s_check_url(url, true, err);
}

int ops_http_url_split(const char *url, struct ops_http_url_parts *out, struct ops_error *err)
{
  int rc = OPS_OK;
  char *host = NULL, *port = NULL, *path = NULL, *query = NULL;
  *out = (struct ops_http_url_parts){0};
  CURLU *u = curl_url();
  if (!u)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
    rc = ops_error_set(err, OPS_ERR_CONFIG, "'%s' is not a valid URL", url);
    goto cleanup;
  }
  curl_url_get(u, CURLUPART_PORT, &port, 0); /* each absent when the URL has none */
  curl_url_get(u, CURLUPART_PATH, &path, 0);
  curl_url_get(u, CURLUPART_QUERY, &query, 0);
  size_t len = strlen(host) + (port ? strlen(port) + 1 : 0) + 1;
  out->host = malloc(len);
  out->path = strdup(path && *path ? path : "/");
  out->query = query ? strdup(query) : NULL;
  if (!out->host || !out->path || (query && !out->query)) {
    ops_http_url_parts_free(out);
    rc = ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
    goto cleanup;
  }
  snprintf(out->host, len, "%s%s%s", host, port ? ":" : "", port ? port : "");
cleanup:
  curl_free(host);
  curl_free(port);
  curl_free(path);
  curl_free(query);
  curl_url_cleanup(u);
  return rc;
}

void ops_http_url_parts_free(struct ops_http_url_parts *parts)
{
  free(parts->host);
  free(parts->path);
  free(parts->query);
  *parts = (struct ops_http_url_parts){0};
}

/* --- the CA bundle --- */

/* How many certificates the PEM file `file` holds (0 when it holds none or is not PEM). */
static int s_count_certificates(FILE *file)
{
  STACK_OF(X509_INFO) *infos = PEM_X509_INFO_read(file, NULL, NULL, NULL);
  int certificates = 0;
  for (int i = 0; infos && i < sk_X509_INFO_num(infos); i++)
    if (sk_X509_INFO_value(infos, i)->x509)
      certificates++;
  sk_X509_INFO_pop_free(infos, X509_INFO_free);
  ERR_clear_error(); /* a refusal stays on OpenSSL's error queue for the next TLS user to find */
  return certificates;
}

/* Checked here, once: libcurl would only find a bad bundle at a handshake, and then fail every
 * transfer with it. */
static int s_check_ca_bundle(const char *path, const char *source, struct ops_error *err)
{
  FILE *file = fopen(path, "r");
  if (!file)
    return ops_error_set(err, OPS_ERR_CONFIG, "%s: cannot read the CA bundle '%s': %s", source,
                         path, strerror(errno));
  int certificates = s_count_certificates(file);
  fclose(file);
  if (certificates == 0)
    return ops_error_set(err, OPS_ERR_CONFIG,
                         "%s: the CA bundle '%s' holds no PEM certificate (it should be a file "
                         "of \"-----BEGIN CERTIFICATE-----\" blocks)",
                         source, path);
  return OPS_OK;
}

int ops_http_set_ca_bundle(const char *path, const char *source, struct ops_error *err)
{
  char *copy = NULL, *source_copy = NULL;
  if (path) {
    int rc = s_check_ca_bundle(path, source, err);
    if (rc != OPS_OK)
      return rc;
    copy = strdup(path);
    source_copy = strdup(source);
    if (!copy || !source_copy) {
      free(copy);
      free(source_copy);
      return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
    }
  }
  free(s_ca_bundle);
  free(s_ca_bundle_source);
  s_ca_bundle = copy;
  s_ca_bundle_source = source_copy;
  return OPS_OK;
}

/* --- the budget of replies in flight --- */

void ops_http_set_reply_budget(size_t bytes)
{
  s_reply_budget = bytes ? bytes : OPS_HTTP_REPLY_BUDGET_BYTES;
}

static void s_track(struct ops_http_transfer *t)
{
  t->older = s_newest;
  if (s_newest)
    s_newest->newer = t;
  s_newest = t;
}

static void s_unpause(void *ud)
{
  struct ops_http_transfer *t = ud;
  t->wake = NULL;
  t->paused = false;
  curl_easy_pause(t->easy, CURLPAUSE_CONT); /* hands the held-back bytes to s_on_body again */
}

/* Bytes went back to the budget: the transfers waiting for them try again, from the loop's next
 * turn (libcurl's functions may not be called from inside its callbacks, where this may run). */
static void s_wake_paused(void)
{
  for (struct ops_http_transfer *t = s_newest; t; t = t->older)
    if (t->paused && !t->wake)
      t->wake = ops_loop_timer_start(t->loop, 0, s_unpause, t);
}

static void s_release(struct ops_http_transfer *t)
{
  s_replies_held -= t->held;
  if (t->over_budget)
    s_replies_failing -= t->held;
  t->held = 0;
  s_wake_paused();
}

static void s_untrack(struct ops_http_transfer *t)
{
  s_release(t);
  if (t->newer)
    t->newer->older = t->older;
  else if (s_newest == t)
    s_newest = t->older;
  if (t->older)
    t->older->newer = t->newer;
  t->newer = t->older = NULL;
}

static void s_finish(struct ops_http_transfer *t, CURLcode result);

static void s_end_evicted(void *ud)
{
  struct ops_http_transfer *t = ud;
  t->eviction = NULL;
  ops_loop_transfer_cancel(t->loop, t->easy);
  s_finish(t, CURLE_WRITE_ERROR);
}

/* Fails a transfer for the budget: its bytes count until they are freed, so no other transfer
 * grows into them before. A buffered body is freed now; a streamed one belongs to the caller,
 * who frees it when done tells of the failure. */
static void s_fail_for_budget(struct ops_http_transfer *t)
{
  t->over_budget = true;
  s_replies_failing += t->held;
  if (!t->on_data) {
    ops_buffer_free(&t->body);
    s_release(t);
  }
}

/* As s_fail_for_budget, for a transfer other than the one libcurl is delivering to: it ends
 * from the loop's next turn, as a transfer cannot be removed inside libcurl's callbacks, or at
 * its next bytes, should those come first. */
static void s_evict(struct ops_http_transfer *t)
{
  s_fail_for_budget(t);
  t->eviction = ops_loop_timer_start(t->loop, 0, s_end_evicted, t);
}

enum s_charge { CHARGE_TAKEN, CHARGE_WAIT, CHARGE_REFUSED };

/* Counts `len` more body bytes of `t` against the budget. Past it, the newest transfer holding
 * reply bytes fails, then the next newest, until they would fit: CHARGE_REFUSED when that is `t`
 * itself, CHARGE_WAIT while the bytes of those that failed are still being freed. */
static enum s_charge s_charge(struct ops_http_transfer *t, size_t len)
{
  while (s_replies_held - s_replies_failing + len > s_reply_budget) {
    struct ops_http_transfer *newest = s_newest;
    while (newest != t && (newest->held == 0 || newest->over_budget))
      newest = newest->older;
    if (newest == t) {
      s_fail_for_budget(t);
      return CHARGE_REFUSED;
    }
    s_evict(newest);
  }
  if (s_replies_held + len > s_reply_budget) {
    t->paused = true;
    return CHARGE_WAIT;
  }
  t->held += len;
  s_replies_held += len;
  return CHARGE_TAKEN;
}

/* --- response collection (libcurl callbacks) --- */

static void s_free_headers(struct ops_http_response *response)
{
  for (size_t i = 0; i < response->header_count; i++) {
    free(response->headers[i].name);
    free(response->headers[i].value);
  }
  response->header_count = 0;
}

static bool s_add_header(struct ops_http_transfer *t, const char *line, size_t len)
{
  const char *colon = memchr(line, ':', len);
  if (!colon)
    return true; /* the blank line ending the headers, or a folded line we do not keep */
  const char *value = colon + 1;
  const char *end = line + len;
  while (value < end && (*value == ' ' || *value == '\t'))
    value++;
  while (end > value && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
    end--;
  struct ops_http_response *r = &t->response;
  if (r->header_count == t->header_capacity) {
    size_t capacity = t->header_capacity ? t->header_capacity * 2 : 16;
    struct ops_http_header *headers = realloc(r->headers, capacity * sizeof(*headers));
    if (!headers)
      return false;
    r->headers = headers;
    t->header_capacity = capacity;
  }
  char *name = strndup(line, (size_t)(colon - line));
  char *val = strndup(value, (size_t)(end - value));
  if (!name || !val) {
    free(name);
    free(val);
    return false;
  }
  r->headers[r->header_count++] = (struct ops_http_header){name, val};
  return true;
}

static size_t s_on_header(char *data, size_t size, size_t count, void *ud)
{
  struct ops_http_transfer *t = ud;
  size_t len = size * count;
  if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
    s_free_headers(&t->response); /* a new response (after 100 Continue): keep the final one */
    return len;
  }
  return s_add_header(t, data, len) ? len : 0;
}

static size_t s_on_body(char *data, size_t size, size_t count, void *ud)
{
  struct ops_http_transfer *t = ud;
  size_t len = size * count;
  if (t->over_budget) /* failed by another transfer's bytes, before its end came round */
    return 0;
  /* a stream is bounded too: a server that never ends one must not grow the client without end */
  if ((t->on_data ? t->streamed : t->body.len) + len > t->max_response_bytes) {
    t->too_large = true;
    return 0;
  }
  switch (s_charge(t, len)) {
  case CHARGE_WAIT: return CURL_WRITEFUNC_PAUSE;
  case CHARGE_REFUSED: return 0;
  case CHARGE_TAKEN: break;
  }
  if (!t->on_data)
    return ops_buffer_append(&t->body, data, len) ? len : 0;
  t->streamed += len;
  if (t->response.status == 0)
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->response.status);
  return t->on_data(t->ud, &t->response, data, len) ? len : 0;
}

/* --- the request body (libcurl callbacks) --- */

static size_t s_on_read(char *buffer, size_t size, size_t count, void *ud)
{
  struct ops_http_transfer *t = ud;
  size_t len = t->request_body_len - t->request_body_read;
  if (len > size * count)
    len = size * count;
  memcpy(buffer, t->request_body + t->request_body_read, len);
  t->request_body_read += len;
  return len;
}

/* libcurl rewinds a body only to send it again by itself: when a kept-alive connection closes
 * after the request went out and before any answer, it replays the request on a new one
 * (Curl_retry_request, libcurl 7.88). The server may have acted on it (a tools/call may have
 * run), so whether to send it again is the retry policy's to decide: refusing the rewind makes
 * libcurl fail the transfer (CURLE_SEND_FAIL_REWIND) instead. A request without a body has
 * nothing to rewind and may still be replayed: ours are reads or idempotent (GET, an MCP
 * session's DELETE, the instance metadata token's PUT). */
static int s_on_seek(void *ud, curl_off_t offset, int origin)
{
  (void)ud, (void)offset, (void)origin;
  return CURL_SEEKFUNC_CANTSEEK;
}

/* --- completion --- */

/* Request headers carry session tokens and response bodies credentials (STS, the credential
 * endpoints): both are wiped before they are freed. */
static void s_transfer_free(struct ops_http_transfer *t)
{
  if (t->eviction)
    ops_loop_timer_cancel(t->loop, t->eviction);
  if (t->wake)
    ops_loop_timer_cancel(t->loop, t->wake);
  s_untrack(t);
  curl_easy_cleanup(t->easy);
  for (struct curl_slist *line = t->request_headers; line; line = line->next)
    OPENSSL_cleanse(line->data, strlen(line->data));
  curl_slist_free_all(t->request_headers);
  free(t->request_body);
  s_free_headers(&t->response);
  free(t->response.headers);
  ops_buffer_free(&t->body);
  free(t);
}

/* What a libcurl result means, for the policies above the transport. */
static enum ops_transport_failure s_failure_of(CURLcode result)
{
  switch (result) {
  case CURLE_COULDNT_CONNECT: return OPS_TRANSPORT_CONNECT;
  case CURLE_COULDNT_RESOLVE_HOST: return OPS_TRANSPORT_RESOLVE;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS: return OPS_TRANSPORT_TLS;
  case CURLE_OPERATION_TIMEDOUT: return OPS_TRANSPORT_TIMEOUT;
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR: return OPS_TRANSPORT_RESET;
  case CURLE_SEND_FAIL_REWIND: return OPS_TRANSPORT_CLOSED_AFTER_SEND;
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE: return OPS_TRANSPORT_INCOMPLETE;
  default: return OPS_TRANSPORT_OTHER;
  }
}

/* Whether the same request may succeed later: the failure was the network's or the load's, not
 * the answer's (too large) nor the set-up's (TLS). */
static bool s_retryable(enum ops_transport_failure failure)
{
  switch (failure) {
  case OPS_TRANSPORT_CONNECT:
  case OPS_TRANSPORT_RESOLVE:
  case OPS_TRANSPORT_TIMEOUT:
  case OPS_TRANSPORT_RESET:
  case OPS_TRANSPORT_CLOSED_AFTER_SEND:
  case OPS_TRANSPORT_INCOMPLETE:
  case OPS_TRANSPORT_OVER_BUDGET: return true;
  default: return false;
  }
}

/* How transfer `t` failed: what libcurl says, unless this file's own limits stopped it. */
static enum ops_transport_failure s_failure(const struct ops_http_transfer *t, CURLcode result)
{
  enum ops_transport_failure failure = s_failure_of(result);
  if (failure == OPS_TRANSPORT_TIMEOUT || failure == OPS_TRANSPORT_CLOSED_AFTER_SEND)
    return failure;
  if (t->over_budget)
    return OPS_TRANSPORT_OVER_BUDGET;
  return t->too_large ? OPS_TRANSPORT_TOO_LARGE : failure;
}

static void s_describe_failure(struct ops_http_transfer *t, CURLcode result, struct ops_error *err)
{
  const char *url = NULL;
  curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &url);
  const char *why = t->curl_error[0] ? t->curl_error : curl_easy_strerror(result);
  enum ops_transport_failure failure = s_failure(t, result);
  if (failure == OPS_TRANSPORT_TIMEOUT) {
    ops_error_set(err, OPS_ERR_TIMEOUT, "%s %s: no complete answer in time (%s)", t->method, url,
                  why);
  } else if (failure == OPS_TRANSPORT_CLOSED_AFTER_SEND) { /* s_on_seek: libcurl would resend */
    ops_error_set(err, OPS_ERR_TRANSPORT,
                  "%s %s: the connection closed after the request was sent, before any answer "
                  "(the server may have acted on it)",
                  t->method, url);
  } else if (failure == OPS_TRANSPORT_OVER_BUDGET) {
    char budget[32];
    if (s_reply_budget % ((size_t)1 << 20) == 0)
      snprintf(budget, sizeof(budget), "%zu MiB", s_reply_budget >> 20);
    else
      snprintf(budget, sizeof(budget), "%zu bytes", s_reply_budget);
    ops_error_set(err, OPS_ERR_TRANSPORT,
                  "%s %s: replies in flight hold more than %s together: the newest, this one, "
                  "was abandoned to keep opsrun's memory bounded",
                  t->method, url, budget);
  } else if (failure == OPS_TRANSPORT_TOO_LARGE) {
    ops_error_set(err, OPS_ERR_TRANSPORT, "%s %s: response larger than %zu bytes, abandoned",
                  t->method, url, t->max_response_bytes);
  } else if (failure == OPS_TRANSPORT_TLS && s_ca_bundle) {
    ops_error_set(err, OPS_ERR_TRANSPORT, "%s %s: %s (trusting only the CA bundle '%s' of %s)",
                  t->method, url, why, s_ca_bundle, s_ca_bundle_source);
  } else if (failure == OPS_TRANSPORT_TLS) {
    ops_error_set(err, OPS_ERR_TRANSPORT,
                  "%s %s: %s (trusting the system's CA certificates; AWS_CA_BUNDLE or the "
                  "profile's ca_bundle names a bundle of others)",
                  t->method, url, why);
  } else {
    ops_error_set(err, OPS_ERR_TRANSPORT, "%s %s: %s", t->method, url, why);
  }
  err->retryable = s_retryable(failure); /* over budget: the load failed it; later it may fit */
  ops_error_set_transport(err, failure);
}

/* --- the wire log (-vvv) --- */

#define REDACTED           "<redacted>"
#define SIGV4_ALGORITHM    "AWS4-HMAC-SHA256 "
#define KEY_ID_SHOWN_CHARS 4

static bool s_names_a_secret(const char *name)
{
  static const char *const secret_words[] = {"token", "cookie", "secret", "password"};
  char lower[128];
  size_t n = 0;
  for (; name[n] && n + 1 < sizeof(lower); n++)
    lower[n] = (char)tolower((unsigned char)name[n]);
  if (name[n])
    return true; /* a name this long is nobody's header: show no value */
  lower[n] = '\0';
  for (size_t i = 0; i < sizeof(secret_words) / sizeof(secret_words[0]); i++)
    if (strstr(lower, secret_words[i]))
      return true;
  return false;
}

/* "AWS4-HMAC-SHA256 Credential=AKIA…/date/region/service/aws4_request, SignedHeaders=…,
 * Signature=<redacted>": the scope says which region and service it was signed for. */
static void s_sigv4_for_log(const char *value, char *out, size_t len)
{
  const char *credential = strstr(value, "Credential=");
  const char *scope = credential ? strchr(credential, '/') : NULL;
  const char *signature = strstr(value, "Signature=");
  if (!credential || !scope || !signature || signature < scope) {
    snprintf(out, len, REDACTED);
    return;
  }
  int key_chars = (int)(scope - credential) - (int)strlen("Credential=");
  snprintf(out, len, "%.*s%.*s…%.*s" REDACTED,
           (int)(credential - value) + (int)strlen("Credential="), value,
           key_chars < KEY_ID_SHOWN_CHARS ? key_chars : KEY_ID_SHOWN_CHARS,
           credential + strlen("Credential="), (int)(signature - scope) + (int)strlen("Signature="),
           scope);
}

void ops_http_header_for_log(const char *name, const char *value, char *out, size_t len)
{
  char shown[1024];
  if (strcasecmp(name, "Authorization") == 0 &&
      strncmp(value, SIGV4_ALGORITHM, strlen(SIGV4_ALGORITHM)) == 0)
    s_sigv4_for_log(value, shown, sizeof(shown));
  else if (strcasecmp(name, "Authorization") == 0 || s_names_a_secret(name))
    snprintf(shown, sizeof(shown), REDACTED);
  else
    snprintf(shown, sizeof(shown), "%s", value);
  snprintf(out, len, "%s: %s", name, shown);
}

/* "; "-joined headers as the wire log shows them, in `out` (freed by the caller). */
static bool s_headers_for_log(const struct ops_http_header *headers, size_t count,
                              struct ops_buffer *out)
{
  char line[1280];
  for (size_t i = 0; i < count; i++) {
    ops_http_header_for_log(headers[i].name, headers[i].value, line, sizeof(line));
    if ((i > 0 && !ops_buffer_append(out, "; ", 2)) || !ops_buffer_append(out, line, strlen(line)))
      return false;
  }
  return ops_buffer_append(out, "", 0);
}

static void s_log_request(const struct ops_http_request *req)
{
  if (!ops_log_enabled(OPS_LOG_TRACE))
    return;
  struct ops_buffer headers = {0};
  if (s_headers_for_log(req->headers, req->header_count, &headers))
    ops_log(OPS_LOG_TRACE, NULL, "http > %s %s (%zu bytes), headers: %s", req->method, req->url,
            req->body ? req->body_len : 0, headers.data);
  ops_buffer_free(&headers);
}

static void s_log_response(struct ops_http_transfer *t, const struct ops_error *err)
{
  if (!ops_log_enabled(OPS_LOG_TRACE))
    return;
  const char *url = NULL;
  curl_off_t micros = 0;
  curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &url);
  curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME_T, &micros);
  struct ops_buffer headers = {0};
  if (!s_headers_for_log(t->response.headers, t->response.header_count, &headers))
    goto cleanup;
  if (err)
    ops_log(OPS_LOG_TRACE, NULL, "http < %s %s failed after %.0f ms: %s", t->method, url ? url : "",
            (double)micros / 1000.0, err->message);
  else
    ops_log(OPS_LOG_TRACE, NULL, "http < %ld %s %s in %.0f ms (%zu bytes), headers: %s",
            t->response.status, t->method, url ? url : "", (double)micros / 1000.0,
            t->on_data ? t->streamed : t->body.len, headers.data);
cleanup:
  ops_buffer_free(&headers);
}

/* The transfer has left the loop: its caller learns how it ended, then it is freed. */
static void s_finish(struct ops_http_transfer *t, CURLcode result)
{
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->response.status);
  struct ops_error err;
  if (result != CURLE_OK)
    s_describe_failure(t, result, &err);
  if (!t->on_data && (t->body.data || ops_buffer_append(&t->body, "", 0))) {
    t->response.body = t->body.data;
    t->response.body_len = t->body.len;
  }
  s_log_response(t, result == CURLE_OK ? NULL : &err);
  t->done(&t->response, result == CURLE_OK ? NULL : &err, t->ud);
  s_transfer_free(t);
}

static void s_on_done(CURL *easy, CURLcode result, void *ud)
{
  (void)easy;
  s_finish(ud, result);
}

/* --- starting --- */

static int s_set_request_headers(struct ops_http_transfer *t, const struct ops_http_request *req)
{
  /* "Expect:" stops libcurl from holding a body back for 100-continue */
  t->request_headers = curl_slist_append(NULL, "Expect:");
  for (size_t i = 0; t->request_headers && i < req->header_count; i++) {
    const struct ops_http_header *h = &req->headers[i];
    size_t len = strlen(h->name) + strlen(h->value) + 3;
    char *line = malloc(len);
    if (!line)
      return OPS_ERR_NOMEM;
    /* "Name;" is libcurl's spelling of a header sent with an empty value */
    if (h->value[0])
      snprintf(line, len, "%s: %s", h->name, h->value);
    else
      snprintf(line, len, "%s;", h->name);
    struct curl_slist *grown = curl_slist_append(t->request_headers, line);
    free(line);
    if (!grown)
      return OPS_ERR_NOMEM;
    t->request_headers = grown;
  }
  return t->request_headers ? OPS_OK : OPS_ERR_NOMEM;
}

static int s_set_request_body(struct ops_http_transfer *t, const struct ops_http_request *req)
{
  if (!req->body) {
    if (strcmp(req->method, "POST") == 0)
      curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, "");
    return OPS_OK;
  }
  t->request_body = malloc(req->body_len + 1);
  if (!t->request_body)
    return OPS_ERR_NOMEM;
  memcpy(t->request_body, req->body, req->body_len);
  t->request_body_len = req->body_len;
  /* through a read callback, not CURLOPT_POSTFIELDS, which libcurl may send twice (s_on_seek) */
  curl_easy_setopt(t->easy, CURLOPT_POST, 1L);
  curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
  curl_easy_setopt(t->easy, CURLOPT_READFUNCTION, s_on_read);
  curl_easy_setopt(t->easy, CURLOPT_READDATA, t);
  curl_easy_setopt(t->easy, CURLOPT_SEEKFUNCTION, s_on_seek);
  curl_easy_setopt(t->easy, CURLOPT_SEEKDATA, t);
  return OPS_OK;
}

/* libcurl (7.88) opens its sockets without close-on-exec: every program opsrun starts
 * (credential_process, a playbook's os.execute) would inherit every open connection. */
static curl_socket_t s_open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *address)
{
  (void)ud, (void)purpose;
  return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

static void s_set_options(struct ops_http_transfer *t, const struct ops_http_request *req)
{
  CURL *e = t->easy;
  curl_easy_setopt(e, CURLOPT_URL, req->url);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, s_open_socket);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  if (s_ca_bundle) { /* the bundle alone, as the AWS CLI trusts it: not the system's directory */
    curl_easy_setopt(e, CURLOPT_CAINFO, s_ca_bundle);
    curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
  }
  /* HTTP/1.1, as botocore and the AWS CLI speak it, even where the endpoint offers HTTP/2
   * (libcurl's default over TLS): libcurl 7.88 resets (RST_STREAM) nearly every HTTP/2 stream it
   * completes, and a server defending against "rapid reset" (CVE-2023-44487; nghttp2 >= 1.57
   * allows a burst of 1,000) then closes the connection, failing the requests in flight on it. */
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->curl_error);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, s_on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->request_headers);
  if (req->timeout_ms > 0)
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms);
  if (strcmp(req->method, "GET") == 0 && !req->body)
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  else if (strcmp(req->method, "HEAD") == 0)
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  else if (strcmp(req->method, "POST") != 0)
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
}

/* libcurl's global state (OpenSSL's TLS set-up among it) is made at the first transfer, not at
 * start-up, so a run that sends nothing does not wait for it; the host cleans it up at exit. */
static bool s_curl_ready(void)
{
  static bool initialised;
  if (!initialised)
    initialised = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  return initialised;
}

struct ops_http_transfer *ops_http_start(struct ops_loop *loop,
                                         const struct ops_http_request *request,
                                         ops_http_done_fn done, void *ud, struct ops_error *err)
{
  if (s_check_url(request->url, request->credential_endpoint, err) != OPS_OK)
    return NULL;
  if (!s_curl_ready()) {
    ops_error_set(err, OPS_ERR_TRANSPORT, "cannot start %s %s: libcurl failed to initialise",
                  request->method, request->url);
    return NULL;
  }
  struct ops_http_transfer *t = calloc(1, sizeof(*t));
  if (!t)
    goto nomem;
  t->loop = loop;
  t->done = done;
  t->ud = ud;
  t->on_data = request->on_data;
  t->body.secret = true;
  t->max_response_bytes =
      request->max_response_bytes ? request->max_response_bytes : OPS_HTTP_MAX_RESPONSE_BYTES;
  snprintf(t->method, sizeof(t->method), "%s", request->method);
  t->easy = curl_easy_init();
  if (!t->easy || s_set_request_headers(t, request) != OPS_OK ||
      s_set_request_body(t, request) != OPS_OK)
    goto nomem;
  s_set_options(t, request);
  CURLMcode added = ops_loop_transfer_add(loop, t->easy, s_on_done, t);
  if (added == CURLM_OK) {
    s_track(t);
    s_log_request(request);
    return t;
  }
  if (added != CURLM_OUT_OF_MEMORY) { /* e.g. started from inside one of libcurl's callbacks */
    s_transfer_free(t);
    ops_error_set(err, OPS_ERR_TRANSPORT, "cannot start %s %s: libcurl refused it (%s)",
                  request->method, request->url, curl_multi_strerror(added));
    return NULL;
  }
nomem:
  if (t)
    s_transfer_free(t);
  ops_error_set(err, OPS_ERR_NOMEM, "out of memory starting %s %s", request->method, request->url);
  return NULL;
}

void ops_http_cancel(struct ops_http_transfer *transfer)
{
  ops_loop_transfer_cancel(transfer->loop, transfer->easy);
  s_transfer_free(transfer);
}

const char *ops_http_response_header(const struct ops_http_response *response, const char *name)
{
  for (size_t i = 0; i < response->header_count; i++)
    if (strcasecmp(response->headers[i].name, name) == 0)
      return response->headers[i].value;
  return NULL;
}
