/* test_transport.c: ops_transport_start_signed (runtime/transport.h) through the recording fake
 * transport (fakes.h): the request goes out with its own headers, then the signature's, signed
 * at the clock's time exactly as runtime/sigv4.h signs it alone; a request that cannot be signed
 * is never started. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "fakes.h"
#include "runtime/sigv4.h"
#include "runtime/transport.h"

#define BODY "Action=GetCallerIdentity&Version=2011-06-15"

static const struct ops_sigv4_credentials s_credentials = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG",
                                                           "FwoGZXIvYXdzEXAMPLE"};

struct fixture {
  struct ops_loop *loop;
  struct fake_transport ft;
  struct ops_transport transport;
  double now;
  struct ops_sigv4_signer *signer;
  struct ops_transport_signing signing;
};

static int setup(void **state)
{
  struct fixture *f = calloc(1, sizeof(*f));
  f->loop = ops_loop_new();
  fake_transport_init(&f->ft, f->loop);
  f->transport = fake_transport_get(&f->ft);
  f->now = 1440938160.5; /* 2015-08-30T12:36:00Z */
  assert_int_equal(ops_sigv4_signer_new(&f->signer, 0, NULL), OPS_OK);
  f->signing = (struct ops_transport_signing){.signer = f->signer,
                                              .credentials = &s_credentials,
                                              .region = "us-east-1",
                                              .service = "sts",
                                              .clock = fake_clock(&f->now),
                                              .path = "/"};
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  ops_sigv4_signer_free(f->signer);
  fake_transport_clear(&f->ft);
  ops_loop_free(f->loop);
  free(f);
  return 0;
}

static void on_done(const struct ops_http_response *response, const struct ops_error *err, void *ud)
{
  (void)response, (void)err;
  *(bool *)ud = true;
}

static const struct ops_http_header s_headers[] = {
    {"Host", "sts.us-east-1.amazonaws.com"},
    {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
};

static struct ops_http_request s_request(const struct ops_http_header *headers, size_t count)
{
  return (struct ops_http_request){.method = "POST",
                                   .url = "https://sts.us-east-1.amazonaws.com/",
                                   .headers = headers,
                                   .header_count = count,
                                   .body = BODY,
                                   .body_len = strlen(BODY)};
}

/* The Authorization runtime/sigv4.h gives the same request on its own. */
static void expected_authorization(struct fixture *f, char *out, size_t len)
{
  struct ops_sigv4_pair pairs[] = {{s_headers[0].name, s_headers[0].value},
                                   {s_headers[1].name, s_headers[1].value}};
  struct ops_sigv4_request request = {.method = "POST",
                                      .path = "/",
                                      .headers = pairs,
                                      .header_count = 2,
                                      .body = BODY,
                                      .body_len = strlen(BODY)};
  struct ops_sigv4_config config = {.credentials = &s_credentials,
                                    .region = "us-east-1",
                                    .service = "sts",
                                    .time = 1440938160,
                                    .mode = OPS_SIGV4_MODE_HEADER,
                                    .flags = OPS_SIGV4_NORMALIZE_PATH};
  struct ops_sigv4_result result = {0};
  assert_int_equal(ops_sigv4_sign(f->signer, &request, &config, &result, NULL), OPS_OK);
  snprintf(out, len, "%s", result.authorization);
  ops_sigv4_result_free(&result);
}

static void a_signed_request_keeps_its_headers_and_gains_the_signature(void **state)
{
  struct fixture *f = *state;
  struct ops_http_request request = s_request(s_headers, 2);
  struct ops_error err = {0};
  bool done = false;
  fake_reply(&f->ft, 200, "");
  assert_non_null(
      ops_transport_start_signed(&f->transport, &request, &f->signing, on_done, &done, &err));
  fake_run_until(f->loop, &done);

  assert_int_equal(f->ft.request_count, 1);
  const struct fake_request *sent = &f->ft.requests[0];
  assert_string_equal(sent->method, "POST");
  assert_string_equal(sent->url, "https://sts.us-east-1.amazonaws.com/");
  assert_string_equal(sent->body, BODY);
  static const char *const names[] = {"Host", "Content-Type", "X-Amz-Date", "X-Amz-Security-Token",
                                      "Authorization"};
  assert_int_equal(sent->header_count, 5);
  for (size_t i = 0; i < 5; i++)
    assert_string_equal(sent->header_names[i], names[i]);
  assert_string_equal(fake_header(sent, "X-Amz-Date"), "20150830T123600Z");
  assert_string_equal(fake_header(sent, "X-Amz-Security-Token"), "FwoGZXIvYXdzEXAMPLE");
  char authorization[512];
  expected_authorization(f, authorization, sizeof(authorization));
  assert_string_equal(fake_header(sent, "Authorization"), authorization);
  assert_non_null(strstr(authorization, "Credential=AKIDEXAMPLE/20150830/us-east-1/sts/"
                                        "aws4_request, SignedHeaders=content-type;host;"
                                        "x-amz-date;x-amz-security-token, Signature="));
}

static void a_request_that_cannot_be_signed_is_not_started(void **state)
{
  struct fixture *f = *state;
  struct ops_http_header many[OPS_TRANSPORT_MAX_SIGNED_HEADERS + 1];
  for (size_t i = 0; i < OPS_TRANSPORT_MAX_SIGNED_HEADERS + 1; i++)
    many[i] = s_headers[0];
  struct ops_http_request request = s_request(many, OPS_TRANSPORT_MAX_SIGNED_HEADERS + 1);
  struct ops_error err = {0};
  bool done = false;
  assert_null(
      ops_transport_start_signed(&f->transport, &request, &f->signing, on_done, &done, &err));
  assert_int_equal(err.kind, OPS_ERR_CONFIG);
  assert_string_equal(err.message,
                      "POST https://sts.us-east-1.amazonaws.com/: more than 12 headers to sign");

  request = s_request(s_headers + 1, 1); /* no Host: SigV4 refuses it */
  assert_null(
      ops_transport_start_signed(&f->transport, &request, &f->signing, on_done, &done, &err));
  assert_int_equal(err.kind, OPS_ERR_CONFIG);
  assert_non_null(strstr(err.message, "no Host header"));
  assert_int_equal(f->ft.request_count, 0);
  assert_false(done);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(a_signed_request_keeps_its_headers_and_gains_the_signature,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(a_request_that_cannot_be_signed_is_not_started, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
