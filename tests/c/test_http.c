/* test_http.c: HTTP transfers on the event loop against the loopback server: bodies, headers,
 * statuses, many in flight at once, deadlines, size limits (each reply's, and the budget of
 * all in flight), cancellation, streaming, and the
 * transport rules (plain http:// only to loopback; a request the server may have read is never
 * sent again by libcurl itself; a CA bundle checked before use). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include "loopback_server.h"
#include "runtime/http.h"
#include "runtime/loop.h"

struct outcome {
  bool done;
  long status;
  char body[256];
  size_t body_len;
  char header[128];
  struct ops_error err;
  bool failed;
};

struct fixture {
  struct loopback_server *server;
  struct ops_loop *loop;
};

static int setup(void **state)
{
  struct fixture *f = calloc(1, sizeof(*f));
  f->server = loopback_server_start();
  f->loop = ops_loop_new();
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  ops_http_set_reply_budget(0);
  ops_loop_free(f->loop); /* closes the client's connections first */
  loopback_server_stop(f->server);
  free(f);
  return 0;
}

static void on_done(const struct ops_http_response *response, const struct ops_error *err, void *ud)
{
  struct outcome *o = ud;
  o->done = true;
  o->status = response->status;
  o->body_len = response->body_len;
  snprintf(o->body, sizeof(o->body), "%s", response->body ? response->body : "");
  const char *echo = ops_http_response_header(response, "x-echo-test");
  snprintf(o->header, sizeof(o->header), "%s", echo ? echo : "");
  if (err) {
    o->failed = true;
    o->err = *err;
  }
}

static char *url_of(struct fixture *f, const char *path)
{
  static char url[128];
  snprintf(url, sizeof(url), "%s%s", loopback_server_url(f->server), path);
  return url;
}

static void run_until_done(struct ops_loop *loop, struct outcome *outcomes, int n)
{
  for (;;) {
    int done = 0;
    for (int i = 0; i < n; i++)
      done += outcomes[i].done;
    if (done == n)
      return;
    ops_loop_run_once(loop, 1000);
  }
}

static void post_carries_body_and_headers_both_ways(void **state)
{
  struct fixture *f = *state;
  struct ops_http_header headers[] = {{"Content-Type", "application/json"},
                                      {"X-Test", "  spaced value"}};
  const char body[] = "{\"jsonrpc\":\"2.0\",\"id\":1}";
  struct ops_http_request req = {.method = "POST",
                                 .url = url_of(f, "/echo"),
                                 .headers = headers,
                                 .header_count = 2,
                                 .body = body,
                                 .body_len = strlen(body)};
  struct outcome o = {0};
  struct ops_error err;
  assert_non_null(ops_http_start(f->loop, &req, on_done, &o, &err));
  run_until_done(f->loop, &o, 1);
  assert_false(o.failed);
  assert_int_equal(o.status, 200);
  assert_string_equal(o.body, body);
  assert_string_equal(o.header, "spaced value");
}

static void large_bodies_are_sent_whole(void **state)
{
  struct fixture *f = *state;
  enum { SIZE = 300000 }; /* several of libcurl's upload buffers */
  char *body = malloc(SIZE);
  for (size_t i = 0; i < SIZE; i++)
    body[i] = (char)('a' + i % 26);
  struct ops_http_request req = {
      .method = "POST", .url = url_of(f, "/echo"), .body = body, .body_len = SIZE};
  struct outcome o = {0};
  assert_non_null(ops_http_start(f->loop, &req, on_done, &o, NULL));
  run_until_done(f->loop, &o, 1);
  free(body);
  assert_false(o.failed);
  assert_int_equal(o.body_len, SIZE);
  assert_memory_equal(o.body, "abcdefghijklmnopqrstuvwxyzabc", 29);
}

/* POSTs `path` with a small JSON-RPC body and runs it to its end. */
static void post(struct fixture *f, const char *path, struct outcome *o)
{
  const char body[] = "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\"}";
  struct ops_http_request req = {
      .method = "POST", .url = url_of(f, path), .body = body, .body_len = strlen(body)};
  assert_non_null(ops_http_start(f->loop, &req, on_done, o, NULL));
  run_until_done(f->loop, o, 1);
}

/* When a kept-alive connection closes after the request went out and before any answer, libcurl
 * would send it again by itself on a new connection. The server may have acted on it (a tool
 * may have run): the transfer fails instead, retryable, and only a new one sends it again. */
static void a_request_the_server_may_have_read_is_not_sent_again(void **state)
{
  struct fixture *f = *state;
  struct outcome first = {0}, closed = {0}, again = {0};
  post(f, "/echo", &first); /* leaves the connection open for the next request */
  assert_false(first.failed);
  post(f, "/close", &closed);
  assert_int_equal(loopback_server_requests(f->server), 2);
  assert_true(closed.failed);
  assert_int_equal(closed.err.kind, OPS_ERR_TRANSPORT);
  assert_true(closed.err.retryable);
  assert_int_equal(closed.err.transport, OPS_TRANSPORT_CLOSED_AFTER_SEND);
  assert_non_null(strstr(closed.err.message, "the server may have acted on it"));
  post(f, "/echo", &again); /* what the retry policy does: a new transfer */
  assert_false(again.failed);
  assert_int_equal(loopback_server_requests(f->server), 3);
}

static void statuses_are_answers_not_failures(void **state)
{
  struct fixture *f = *state;
  struct ops_http_request req = {.method = "GET", .url = url_of(f, "/status/429")};
  struct outcome o = {0};
  assert_non_null(ops_http_start(f->loop, &req, on_done, &o, NULL));
  run_until_done(f->loop, &o, 1);
  assert_false(o.failed);
  assert_int_equal(o.status, 429);
  assert_string_equal(o.body, "status 429");
}

/* Two hundred requests are in flight together, more sockets than one epoll wait returns: the
 * server answers none until it holds all two hundred at once. */
static void transfers_run_concurrently_on_one_thread(void **state)
{
  struct fixture *f = *state;
  enum { N = 200 };
  struct outcome outcomes[N] = {0};
  struct ops_http_request req = {.method = "GET", .url = url_of(f, "/gather/200")};
  for (int i = 0; i < N; i++)
    assert_non_null(ops_http_start(f->loop, &req, on_done, &outcomes[i], NULL));
  run_until_done(f->loop, outcomes, N);
  for (int i = 0; i < N; i++) {
    assert_int_equal(outcomes[i].status, 200);
    assert_string_equal(outcomes[i].body, "gathered 200");
  }
  assert_int_equal(loopback_server_peak_concurrency(f->server), N);
}

static void a_deadline_ends_a_hung_exchange(void **state)
{
  struct fixture *f = *state;
  struct ops_http_request req = {.method = "GET", .url = url_of(f, "/hang"), .timeout_ms = 200};
  struct outcome o = {0};
  assert_non_null(ops_http_start(f->loop, &req, on_done, &o, NULL));
  run_until_done(f->loop, &o, 1);
  assert_true(o.failed);
  assert_int_equal(o.err.kind, OPS_ERR_TIMEOUT);
  assert_int_equal(o.err.transport, OPS_TRANSPORT_TIMEOUT);
  assert_non_null(strstr(o.err.message, "/hang"));
}

static void oversized_responses_are_abandoned(void **state)
{
  struct fixture *f = *state;
  struct ops_http_request req = {
      .method = "GET", .url = url_of(f, "/big/100000"), .max_response_bytes = 1000};
  struct outcome o = {0};
  assert_non_null(ops_http_start(f->loop, &req, on_done, &o, NULL));
  run_until_done(f->loop, &o, 1);
  assert_true(o.failed);
  assert_int_equal(o.err.kind, OPS_ERR_TRANSPORT);
  assert_int_equal(o.err.transport, OPS_TRANSPORT_TOO_LARGE);
  assert_non_null(strstr(o.err.message, "larger than 1000 bytes"));
}

static void cancelling_closes_the_exchange_without_a_callback(void **state)
{
  struct fixture *f = *state;
  struct ops_http_request req = {.method = "GET", .url = url_of(f, "/hang")};
  struct outcome o = {0};
  struct ops_http_transfer *t = ops_http_start(f->loop, &req, on_done, &o, NULL);
  for (int i = 0; i < 5; i++)
    ops_loop_run_once(f->loop, 20);
  ops_http_cancel(t);
  assert_true(ops_loop_idle(f->loop));
  for (int i = 0; i < 50 && loopback_server_abandoned(f->server) == 0; i++)
    ops_loop_run_once(f->loop, 20);
  assert_false(o.done);
  assert_int_equal(loopback_server_abandoned(f->server), 1);
}

struct stream {
  char data[256];
  size_t len;
  int chunks;
  bool done;
};

static bool on_data(void *ud, const struct ops_http_response *head, const char *data, size_t len)
{
  struct stream *s = ud;
  assert_int_equal(head->status, 200);
  assert_non_null(ops_http_response_header(head, "transfer-encoding"));
  memcpy(s->data + s->len, data, len);
  s->len += len;
  s->chunks++;
  return true;
}

static void on_stream_done(const struct ops_http_response *response, const struct ops_error *err,
                           void *ud)
{
  (void)response, (void)err;
  ((struct stream *)ud)->done = true;
}

static void streamed_bodies_arrive_in_pieces(void **state)
{
  struct fixture *f = *state;
  struct stream s = {0};
  struct ops_http_request req = {
      .method = "GET", .url = url_of(f, "/chunks/3"), .on_data = on_data};
  assert_non_null(ops_http_start(f->loop, &req, on_stream_done, &s, NULL));
  while (!s.done)
    ops_loop_run_once(f->loop, 1000);
  assert_string_equal(s.data, "chunk 0\nchunk 1\nchunk 2\n");
  assert_true(s.chunks >= 2); /* sent 10 ms apart: not one buffered blob */
}

struct bounded_stream {
  struct outcome o; /* first: on_done reads the same ud as a struct outcome */
  size_t received;
};

static bool count_data(void *ud, const struct ops_http_response *head, const char *data, size_t len)
{
  (void)head, (void)data;
  ((struct bounded_stream *)ud)->received += len;
  return true;
}

/* A server that never ended a stream (an MCP event stream) grew the client until the server
 * stopped: the bound applies to streamed bodies too, with the same clear error. */
static void oversized_streams_are_abandoned_too(void **state)
{
  struct fixture *f = *state;
  struct bounded_stream b = {0};
  struct ops_http_request req = {.method = "GET",
                                 .url = url_of(f, "/chunks/30"),
                                 .max_response_bytes = 20,
                                 .on_data = count_data};
  assert_non_null(ops_http_start(f->loop, &req, on_done, &b, NULL));
  run_until_done(f->loop, &b.o, 1);
  assert_true(b.o.failed);
  assert_int_equal(b.o.err.kind, OPS_ERR_TRANSPORT);
  assert_false(b.o.err.retryable);
  assert_non_null(strstr(b.o.err.message, "larger than 20 bytes"));
  assert_true(b.received <= 20);
}

/* ------------------------------------------------------------------ the budget in flight */

/* Runs the loop until the stream has received `len` bytes. */
static void run_until_received(struct fixture *f, struct bounded_stream *b, size_t len)
{
  for (int i = 0; i < 200 && b->received < len; i++)
    ops_loop_run_once(f->loop, 10);
  assert_int_equal(b->received, len);
}

static bool mentions_the_budget(const struct outcome *o, const char *budget)
{
  char words[128];
  snprintf(words, sizeof(words),
           "replies in flight hold more than %s together: the newest, this "
           "one, was abandoned",
           budget);
  return o->failed && o->err.kind == OPS_ERR_TRANSPORT && o->err.retryable &&
         o->err.transport == OPS_TRANSPORT_OVER_BUDGET && strstr(o->err.message, words);
}

/* 32 replies of 64 MiB each (the MCP cap) held 1.9 GB at once (issue 14): every reply in flight
 * shares one budget, and the newest one past it fails, not the process. */
static void past_the_budget_the_newest_reply_fails_and_the_older_goes_on(void **state)
{
  struct fixture *f = *state;
  ops_http_set_reply_budget(1000);
  struct bounded_stream older = {0};
  struct ops_http_request half = {
      .method = "GET", .url = url_of(f, "/half/600"), .timeout_ms = 5000, .on_data = count_data};
  struct ops_http_transfer *held = ops_http_start(f->loop, &half, on_done, &older, NULL);
  run_until_received(f, &older, 600);

  struct outcome newer = {0}, fits = {0}, whole = {0};
  struct ops_http_request big = {.method = "GET", .url = url_of(f, "/big/1000")};
  assert_non_null(ops_http_start(f->loop, &big, on_done, &newer, NULL));
  run_until_done(f->loop, &newer, 1);
  assert_true(mentions_the_budget(&newer, "1000 bytes"));
  assert_false(older.o.done); /* still in flight, its 600 bytes held */

  struct ops_http_request small = {.method = "GET", .url = url_of(f, "/big/400")};
  assert_non_null(ops_http_start(f->loop, &small, on_done, &fits, NULL));
  run_until_done(f->loop, &fits, 1);
  assert_false(fits.failed); /* 600 + 400: within the budget */
  assert_int_equal(fits.body_len, 400);

  ops_http_cancel(held);            /* gives its 600 back */
  big.url = url_of(f, "/big/1000"); /* url_of's buffer was used again since */
  assert_non_null(ops_http_start(f->loop, &big, on_done, &whole, NULL));
  run_until_done(f->loop, &whole, 1);
  assert_false(whole.failed);
  assert_int_equal(whole.body_len, 1000);
}

/* The bytes that cross the budget may be an older transfer's: the newest holding any fails
 * even when it is waiting for more (its connection is closed), and the older one finishes. */
static void an_older_transfer_past_the_budget_fails_the_newest(void **state)
{
  struct fixture *f = *state;
  ops_http_set_reply_budget(300);
  struct bounded_stream older = {0}, newer = {0};
  struct ops_http_request chunks = {
      .method = "GET", .url = url_of(f, "/chunks/30"), .on_data = count_data}; /* 260 bytes */
  assert_non_null(ops_http_start(f->loop, &chunks, on_done, &older, NULL));
  struct ops_http_request half = {
      .method = "GET", .url = url_of(f, "/half/200"), .timeout_ms = 5000, .on_data = count_data};
  assert_non_null(ops_http_start(f->loop, &half, on_done, &newer, NULL));
  run_until_received(f, &newer, 200); /* before the older stream's first 100 bytes */
  run_until_done(f->loop, &older.o, 1);
  assert_false(older.o.failed);
  assert_int_equal(older.received, 260);
  run_until_done(f->loop, &newer.o, 1);
  assert_true(mentions_the_budget(&newer.o, "300 bytes"));
  for (int i = 0; i < 50 && loopback_server_abandoned(f->server) == 0; i++)
    ops_loop_run_once(f->loop, 20);
  assert_int_equal(loopback_server_abandoned(f->server), 1);
}

/* Starts a second transfer from inside the first one's data callback, as libcurl forbids. */
struct nested_start {
  struct outcome o; /* first: on_done reads the same ud as a struct outcome */
  struct fixture *f;
  struct ops_error err;
  bool tried, started;
};

static bool start_inside(void *ud, const struct ops_http_response *head, const char *data,
                         size_t len)
{
  (void)head, (void)data, (void)len;
  struct nested_start *n = ud;
  if (n->tried)
    return true;
  n->tried = true;
  struct ops_http_request req = {.method = "POST", .url = url_of(n->f, "/echo")};
  struct outcome ignored = {0};
  n->started = ops_http_start(n->f->loop, &req, on_done, &ignored, &n->err) != NULL;
  return true;
}

/* libcurl refuses a transfer started inside its callbacks (CURLM_RECURSIVE_API_CALL): the error
 * says so instead of "out of memory", which sent the red team looking for a leak (issue 14). */
static void a_transfer_libcurl_refuses_is_not_called_out_of_memory(void **state)
{
  struct fixture *f = *state;
  struct nested_start n = {.f = f};
  struct ops_http_request req = {
      .method = "GET", .url = url_of(f, "/chunks/1"), .on_data = start_inside};
  assert_non_null(ops_http_start(f->loop, &req, on_done, &n, NULL));
  run_until_done(f->loop, &n.o, 1);
  assert_true(n.tried);
  assert_false(n.started);
  assert_int_equal(n.err.kind, OPS_ERR_TRANSPORT);
  assert_non_null(strstr(n.err.message, "cannot start POST"));
  assert_non_null(strstr(n.err.message, "libcurl refused it"));
}

static void refused_connections_are_retryable_transport_errors(void **state)
{
  struct fixture *f = *state;
  struct ops_http_request req = {.method = "GET", .url = "http://127.0.0.1:1/"};
  struct outcome o = {0};
  assert_non_null(ops_http_start(f->loop, &req, on_done, &o, NULL));
  run_until_done(f->loop, &o, 1);
  assert_true(o.failed);
  assert_int_equal(o.err.kind, OPS_ERR_TRANSPORT);
  assert_int_equal(o.err.transport, OPS_TRANSPORT_CONNECT);
  assert_string_equal(o.err.code, "ConnectFailed"); /* Lua's err.code */
  assert_true(o.err.retryable);
}

/* Writes a self-signed certificate (a CA's, as far as a bundle is concerned) to `path`. */
static void write_certificate(const char *path)
{
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *cert = X509_new();
  assert_non_null(key);
  assert_non_null(cert);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                             (const unsigned char *)"test CA", -1, -1, 0);
  X509_set_issuer_name(cert, X509_get_subject_name(cert));
  X509_set_pubkey(cert, key);
  assert_true(X509_sign(cert, key, EVP_sha256()) > 0);
  FILE *file = fopen(path, "w");
  assert_non_null(file);
  assert_int_equal(PEM_write_X509(file, cert), 1);
  fclose(file);
  X509_free(cert);
  EVP_PKEY_free(key);
}

/* A bundle is read when it is set, not at the first handshake: a missing file, or one without a
 * certificate, is a configuration error naming where the path came from, and changes nothing. */
static void a_ca_bundle_is_checked_when_set(void **state)
{
  (void)state;
  char dir[] = "/tmp/test_http_XXXXXX", good[128], junk[128], missing[128];
  assert_non_null(mkdtemp(dir));
  snprintf(good, sizeof(good), "%s/ca.pem", dir);
  snprintf(junk, sizeof(junk), "%s/junk.pem", dir);
  snprintf(missing, sizeof(missing), "%s/missing.pem", dir);
  write_certificate(good);
  FILE *file = fopen(junk, "w");
  assert_non_null(file);
  fputs("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", file);
  fclose(file);

  struct ops_error err;
  char expected[512];
  assert_int_equal(ops_http_set_ca_bundle(missing, "AWS_CA_BUNDLE", &err), OPS_ERR_CONFIG);
  snprintf(expected, sizeof(expected),
           "AWS_CA_BUNDLE: cannot read the CA bundle '%s': No such file or directory", missing);
  assert_string_equal(err.message, expected);
  assert_int_equal(ops_http_set_ca_bundle(junk, "ca_bundle of profile ops in x", &err),
                   OPS_ERR_CONFIG);
  assert_non_null(strstr(err.message, "ca_bundle of profile ops in x: the CA bundle"));
  assert_non_null(strstr(err.message, "holds no PEM certificate"));
  assert_int_equal(ops_http_set_ca_bundle(dir, "AWS_CA_BUNDLE", &err), OPS_ERR_CONFIG);
  assert_int_equal(ops_http_set_ca_bundle(good, "AWS_CA_BUNDLE", &err), OPS_OK);
  assert_int_equal(ops_http_set_ca_bundle(NULL, NULL, &err), OPS_OK); /* the system's again */

  unlink(good);
  unlink(junk);
  rmdir(dir);
}

static void plain_http_is_refused_beyond_loopback(void **state)
{
  (void)state;
  struct ops_error err;
  assert_int_equal(ops_http_check_url("https://sts.us-east-1.amazonaws.com/", &err), OPS_OK);
  assert_int_equal(ops_http_check_url("http://localhost:8080/mcp", &err), OPS_OK);
  assert_int_equal(ops_http_check_url("http://127.0.0.2/", &err), OPS_OK);
  assert_int_equal(ops_http_check_url("http://[::1]:9/", &err), OPS_OK);
  assert_int_equal(ops_http_check_url("http://sts.amazonaws.com/", &err), OPS_ERR_CONFIG);
  assert_string_equal(err.message,
                      "refusing plain http:// to sts.amazonaws.com (not loopback): use https://");
  assert_int_equal(ops_http_check_url("ftp://127.0.0.1/", &err), OPS_ERR_CONFIG);
  assert_int_equal(ops_http_check_url("not a url", &err), OPS_ERR_CONFIG);
}

/* Loopback is a literal address or localhost (which libcurl answers itself), never a name that
 * DNS resolves, however it starts. */
static void loopback_is_an_address_not_a_name(void **state)
{
  (void)state;
  static const char *const loopback[] = {
      "http://127.0.0.1:8080/mcp",
      "http://127.255.255.254/",
      "http://LocalHost/",
      "http://[::1]:9/",
      "http://[0:0:0:0:0:0:0:1]/",
      "http://127.1/", /* libcurl's URL parser normalises IPv4 numbers: 127.0.0.1 */
      "http://2130706433/"};
  static const char *const not_loopback[] = {"http://127.0.0.1.nip.io:8080/mcp",
                                             "http://127.evil.example/",
                                             "http://localhost.evil.example/",
                                             "http://localhost./",
                                             "http://128.0.0.1/",
                                             "http://[::2]/",
                                             "http://[::ffff:127.0.0.1]/",
                                             "http://0.0.0.0/"};
  struct ops_error err;
  for (size_t i = 0; i < sizeof(loopback) / sizeof(*loopback); i++)
    if (ops_http_check_url(loopback[i], &err) != OPS_OK)
      fail_msg("%s: %s", loopback[i], err.message);
  for (size_t i = 0; i < sizeof(not_loopback) / sizeof(*not_loopback); i++)
    if (ops_http_check_url(not_loopback[i], &err) != OPS_ERR_CONFIG)
      fail_msg("%s passed as loopback", not_loopback[i]);
  assert_int_equal(ops_http_check_url("http://127.0.0.1.nip.io:8080/mcp", &err), OPS_ERR_CONFIG);
  assert_string_equal(err.message,
                      "refusing plain http:// to 127.0.0.1.nip.io (not loopback): use https://");
  assert_true(ops_http_is_loopback_host("127.0.0.1"));
  assert_false(ops_http_is_loopback_host("127.0.0.1.nip.io"));
}

/* The credential sources' flag opens plain http to the AWS link-local credential endpoints, and
 * only to them. */
static void credential_endpoints_may_use_plain_http(void **state)
{
  (void)state;
  struct ops_error err;
  assert_int_equal(ops_http_check_url("http://169.254.169.254/latest/api/token", &err),
                   OPS_ERR_CONFIG);
  assert_int_equal(ops_http_check_credential_url("http://169.254.169.254/latest/api/token", &err),
                   OPS_OK);
  assert_int_equal(ops_http_check_credential_url("http://169.254.170.2/v2/credentials/x", &err),
                   OPS_OK);
  assert_int_equal(ops_http_check_credential_url("http://169.254.170.23/v1/credentials", &err),
                   OPS_OK);
  assert_int_equal(ops_http_check_credential_url("http://[fd00:ec2::23]/v1/credentials", &err),
                   OPS_OK);
  assert_int_equal(ops_http_check_credential_url("http://[fd00:ec2::254]/latest/", &err), OPS_OK);
  assert_int_equal(ops_http_check_credential_url("http://127.0.0.1:9/", &err), OPS_OK);
  assert_int_equal(ops_http_check_credential_url("http://169.254.169.253/", &err), OPS_ERR_CONFIG);
  assert_int_equal(ops_http_check_credential_url("http://sts.amazonaws.com/", &err),
                   OPS_ERR_CONFIG);
  struct ops_loop *loop = ops_loop_new();
  struct ops_http_request req = {.method = "GET", .url = "http://169.254.170.2/creds"};
  assert_null(ops_http_start(loop, &req, on_done, NULL, &err));
  assert_int_equal(err.kind, OPS_ERR_CONFIG);
  ops_loop_free(loop);
}

/* The wire log (-vvv) shows headers without their secrets: each case is a header as sent and
 * what the log may show of it. */
static void wire_log_headers_hold_no_secret(void **state)
{
  (void)state;
  static const struct {
    const char *name, *value, *shown;
  } cases[] = {
      {"Authorization",
       "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261204/eu-west-1/aws-mcp/aws4_request, "
       "SignedHeaders=host;x-amz-date, Signature=3f1c0ffee0ddba11deadbeef",
       "Authorization: AWS4-HMAC-SHA256 Credential=AKIA…/20261204/eu-west-1/aws-mcp/aws4_request, "
       "SignedHeaders=host;x-amz-date, Signature=<redacted>"},
      {"authorization", "AWS4-HMAC-SHA256 Signature=abc", "authorization: <redacted>"},
      {"Authorization", "Bearer container-token", "Authorization: <redacted>"},
      {"X-Amz-Security-Token", "FwoGZXIvYXdzEXAMPLE", "X-Amz-Security-Token: <redacted>"},
      {"X-aws-ec2-metadata-token", "AQAEAEXAMPLE", "X-aws-ec2-metadata-token: <redacted>"},
      {"x-amz-sso_bearer_token", "aoaEXAMPLE", "x-amz-sso_bearer_token: <redacted>"},
      {"Cookie", "session=s3cr3t", "Cookie: <redacted>"},
      {"set-cookie", "AWSALB=s3cr3t; Path=/", "set-cookie: <redacted>"},
      {"Mcp-Session-Id", "194a4a16", "Mcp-Session-Id: 194a4a16"},
      {"X-Amz-Date", "20261204T190512Z", "X-Amz-Date: 20261204T190512Z"},
  };
  char shown[512];
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    ops_http_header_for_log(cases[i].name, cases[i].value, shown, sizeof(shown));
    assert_string_equal(shown, cases[i].shown);
  }
  ops_http_header_for_log("Cookie", "x", shown, 4); /* cut to fit, still terminated */
  assert_string_equal(shown, "Coo");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(post_carries_body_and_headers_both_ways, setup, teardown),
      cmocka_unit_test_setup_teardown(large_bodies_are_sent_whole, setup, teardown),
      cmocka_unit_test_setup_teardown(a_request_the_server_may_have_read_is_not_sent_again, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(statuses_are_answers_not_failures, setup, teardown),
      cmocka_unit_test_setup_teardown(transfers_run_concurrently_on_one_thread, setup, teardown),
      cmocka_unit_test_setup_teardown(a_deadline_ends_a_hung_exchange, setup, teardown),
      cmocka_unit_test_setup_teardown(oversized_responses_are_abandoned, setup, teardown),
      cmocka_unit_test_setup_teardown(cancelling_closes_the_exchange_without_a_callback, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(streamed_bodies_arrive_in_pieces, setup, teardown),
      cmocka_unit_test_setup_teardown(oversized_streams_are_abandoned_too, setup, teardown),
      cmocka_unit_test_setup_teardown(past_the_budget_the_newest_reply_fails_and_the_older_goes_on,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(an_older_transfer_past_the_budget_fails_the_newest, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_transfer_libcurl_refuses_is_not_called_out_of_memory, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(refused_connections_are_retryable_transport_errors, setup,
                                      teardown),
      cmocka_unit_test(a_ca_bundle_is_checked_when_set),
      cmocka_unit_test(plain_http_is_refused_beyond_loopback),
      cmocka_unit_test(loopback_is_an_address_not_a_name),
      cmocka_unit_test(credential_endpoints_may_use_plain_http),
      cmocka_unit_test(wire_log_headers_hold_no_secret),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
