/* test_sts.c: the STS client against an injected transport at a fixed time: the exact form
 * bodies, the signed headers and a SigV4 Authorization that matches the bytes sent; answers with
 * a token wrapped over lines and a fractional-second Expiration; every STS error code's kind with
 * AWS's message kept whole; 5xx and transport failures; parameter checks in AWS's words;
 * endpoint overrides; cancellation; and the ISO 8601 timestamps of runtime/timestamp.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakes.h"
#include "runtime/sigv4.h"
#include "runtime/sts.h"
#include "runtime/timestamp.h"

#define ROLE_ARN "arn:aws:iam::222222222222:role/OpsReadOnly"

struct fixture {
  struct ops_loop *loop;
  struct fake_transport ft;
  struct fake_env env;
  double now;
  struct ops_sts_client *sts;
  struct ops_credentials *caller;
};

/* What a callback saw. */
struct outcome {
  bool done;
  struct ops_sts_assumed_role *role;
  struct ops_sts_identity *identity;
  bool failed;
  struct ops_error err;
};

static int s_client(struct fixture *f, const char *region, struct ops_error *err)
{
  ops_sts_client_free(f->sts);
  f->sts = NULL;
  struct ops_sts_options options = {.transport = fake_transport_get(&f->ft),
                                    .clock = fake_clock(&f->now),
                                    .env = fake_env_get(&f->env),
                                    .region = region};
  return ops_sts_client_new(&f->sts, &options, err);
}

static int setup(void **state)
{
  struct fixture *f = calloc(1, sizeof(*f));
  f->loop = ops_loop_new();
  fake_transport_init(&f->ft, f->loop);
  f->now = 1700000000.25; /* 2023-11-14T22:13:20Z */
  assert_int_equal(s_client(f, "eu-west-1", NULL), OPS_OK);
  assert_int_equal(ops_credentials_new(&f->caller, "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG",
                                       "FwoGZXIvYXdzEXAMPLE", 0, "test", NULL),
                   OPS_OK);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  ops_sts_client_free(f->sts);
  ops_credentials_free(f->caller);
  fake_transport_clear(&f->ft);
  ops_loop_free(f->loop);
  free(f);
  return 0;
}

static void on_role(struct ops_sts_assumed_role *role, const struct ops_error *err, void *ud)
{
  struct outcome *o = ud;
  o->done = true;
  o->role = role;
  if (err) {
    o->failed = true;
    o->err = *err;
  }
}

static void on_identity(struct ops_sts_identity *identity, const struct ops_error *err, void *ud)
{
  struct outcome *o = ud;
  o->done = true;
  o->identity = identity;
  if (err) {
    o->failed = true;
    o->err = *err;
  }
}

static void outcome_clear(struct outcome *o)
{
  ops_sts_assumed_role_free(o->role);
  ops_sts_identity_free(o->identity);
  memset(o, 0, sizeof(*o));
}

static const struct ops_sts_assume_role_params s_params = {.role_arn = ROLE_ARN,
                                                           .role_session_name = "ops-session",
                                                           .external_id = "x-123",
                                                           .duration_seconds = 3600};

static void assume(struct fixture *f, const struct ops_sts_assume_role_params *params,
                   struct outcome *o)
{
  memset(o, 0, sizeof(*o));
  struct ops_error err;
  assert_int_equal(ops_sts_assume_role(f->sts, f->caller, params, on_role, o, NULL, &err), OPS_OK);
  assert_false(o->done); /* never inside the starting call */
  fake_run_until(f->loop, &o->done);
}

/* Signs the recorded request again, independently of what the client kept, and compares. */
static void assert_signature_covers_request(const struct fake_request *r, const char *path,
                                            int64_t time)
{
  struct ops_sigv4_signer *signer = NULL;
  struct ops_sigv4_result result = {0};
  assert_int_equal(ops_sigv4_signer_new(&signer, 0, NULL), OPS_OK);
  struct ops_sigv4_pair headers[] = {{"Host", fake_header(r, "Host")},
                                     {"Content-Type", fake_header(r, "Content-Type")}};
  struct ops_sigv4_request request = {.method = r->method,
                                      .path = path,
                                      .headers = headers,
                                      .header_count = 2,
                                      .body = r->body,
                                      .body_len = r->body_len};
  struct ops_sigv4_credentials credentials = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG",
                                              "FwoGZXIvYXdzEXAMPLE"};
  struct ops_sigv4_config config = {.credentials = &credentials,
                                    .region = "eu-west-1",
                                    .service = "sts",
                                    .time = time,
                                    .flags = OPS_SIGV4_NORMALIZE_PATH};
  assert_int_equal(ops_sigv4_sign(signer, &request, &config, &result, NULL), OPS_OK);
  assert_string_equal(fake_header(r, "Authorization"), result.authorization);
  ops_sigv4_result_free(&result);
  ops_sigv4_signer_free(signer);
}

static const char s_assume_ok[] =
    "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
    "  <AssumeRoleResult>\n"
    "    <AssumedRoleUser>\n"
    "      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:ops-session</AssumedRoleId>\n"
    "      <Arn>arn:aws:sts::222222222222:assumed-role/OpsReadOnly/ops-session</Arn>\n"
    "    </AssumedRoleUser>\n"
    "    <Credentials>\n"
    "      <AccessKeyId>ASIAEXAMPLE</AccessKeyId>\n"
    "      <SecretAccessKey>9drTJvcXLB89EXAMPLE</SecretAccessKey>\n"
    "      <SessionToken>\n"
    "        IQoJb3JpZ2luX2VjEXAMPLEpart1\n"
    "        AnotherLineOfTheToken+/==\n"
    "      </SessionToken>\n"
    "      <Expiration>2026-11-24T06:00:00.123Z</Expiration>\n"
    "    </Credentials>\n"
    "  </AssumeRoleResult>\n"
    "  <ResponseMetadata>\n"
    "    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>\n"
    "  </ResponseMetadata>\n"
    "</AssumeRoleResponse>\n";

static void assume_role_sends_a_signed_form_and_reads_the_answer(void **state)
{
  struct fixture *f = *state;
  struct outcome o;
  fake_reply(&f->ft, 200, s_assume_ok);
  assume(f, &s_params, &o);
  assert_false(o.failed);

  const struct fake_request *r = &f->ft.requests[0];
  assert_int_equal(f->ft.request_count, 1);
  assert_string_equal(r->method, "POST");
  assert_string_equal(r->url, "https://sts.eu-west-1.amazonaws.com");
  assert_string_equal(r->body, "Action=AssumeRole&Version=2011-06-15"
                               "&RoleArn=arn%3Aaws%3Aiam%3A%3A222222222222%3Arole%2FOpsReadOnly"
                               "&RoleSessionName=ops-session&DurationSeconds=3600"
                               "&ExternalId=x-123");
  assert_string_equal(fake_header(r, "Host"), "sts.eu-west-1.amazonaws.com");
  assert_string_equal(fake_header(r, "Content-Type"),
                      "application/x-www-form-urlencoded; charset=utf-8");
  assert_string_equal(fake_header(r, "X-Amz-Date"), "20231114T221320Z");
  assert_string_equal(fake_header(r, "X-Amz-Security-Token"), "FwoGZXIvYXdzEXAMPLE");
  const char *auth = fake_header(r, "Authorization");
  const char *prefix = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/eu-west-1/sts/"
                       "aws4_request, SignedHeaders=content-type;host;x-amz-date;"
                       "x-amz-security-token, Signature=";
  assert_non_null(auth);
  assert_int_equal(strncmp(auth, prefix, strlen(prefix)), 0);
  assert_int_equal(strlen(auth + strlen(prefix)), 64);
  assert_int_equal(strspn(auth + strlen(prefix), "0123456789abcdef"), 64);
  assert_signature_covers_request(r, "/", 1700000000);

  struct ops_credentials *c = o.role->credentials;
  assert_string_equal(c->access_key_id, "ASIAEXAMPLE");
  assert_string_equal(c->secret_access_key, "9drTJvcXLB89EXAMPLE");
  assert_string_equal(c->session_token, "IQoJb3JpZ2luX2VjEXAMPLEpart1AnotherLineOfTheToken+/==");
  assert_int_equal(c->expiration, 1795500000);
  assert_string_equal(o.role->arn,
                      "arn:aws:sts::222222222222:assumed-role/OpsReadOnly/ops-session");
  assert_string_equal(o.role->assumed_role_id, "AROA3XFRBF535PLBIFPI4:ops-session");
  assert_string_equal(o.role->request_id, "c6104cbe-af31-11e0-8154-cbc7ccf896c7");
  assert_string_equal(c->source,
                      "role arn:aws:sts::222222222222:assumed-role/OpsReadOnly/ops-session");
  outcome_clear(&o);
}

/* Expat may hand the token over in many pieces: one byte per line of a long token. */
static void a_long_token_in_many_pieces_is_joined(void **state)
{
  struct fixture *f = *state;
  static char xml[40000];
  size_t len = (size_t)snprintf(xml, sizeof(xml),
                                "<AssumeRoleResponse><AssumeRoleResult><Credentials>"
                                "<AccessKeyId>A</AccessKeyId><SecretAccessKey>S</SecretAccessKey>"
                                "<Expiration>2026-11-24T06:00:00Z</Expiration><SessionToken>");
  for (int i = 0; i < 3000; i++)
    len += (size_t)snprintf(xml + len, sizeof(xml) - len, "%c\r\n", 'a' + i % 26);
  snprintf(xml + len, sizeof(xml) - len,
           "&amp;</SessionToken></Credentials></AssumeRoleResult></AssumeRoleResponse>");
  struct outcome o;
  fake_reply(&f->ft, 200, xml);
  assume(f, &s_params, &o);
  assert_false(o.failed);
  const char *token = o.role->credentials->session_token;
  assert_int_equal(strlen(token), 3001);
  assert_int_equal(token[0], 'a');
  assert_int_equal(token[25], 'z');
  assert_int_equal(token[3000], '&');
  outcome_clear(&o);
}

static void get_caller_identity_reads_account_arn_and_user_id(void **state)
{
  struct fixture *f = *state;
  struct outcome o = {0};
  fake_reply(&f->ft, 200,
             "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
             "  <GetCallerIdentityResult>\n"
             "    <Arn>arn:aws:iam::111111111111:user/ops</Arn>\n"
             "    <UserId>AIDAEXAMPLE</UserId>\n"
             "    <Account>111111111111</Account>\n"
             "  </GetCallerIdentityResult>\n"
             "  <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>\n"
             "</GetCallerIdentityResponse>\n");
  assert_int_equal(ops_sts_get_caller_identity(f->sts, f->caller, on_identity, &o, NULL, NULL),
                   OPS_OK);
  fake_run_until(f->loop, &o.done);
  assert_false(o.failed);
  assert_string_equal(f->ft.requests[0].body, "Action=GetCallerIdentity&Version=2011-06-15");
  assert_signature_covers_request(&f->ft.requests[0], "/", 1700000000);
  assert_string_equal(o.identity->account, "111111111111");
  assert_string_equal(o.identity->arn, "arn:aws:iam::111111111111:user/ops");
  assert_string_equal(o.identity->user_id, "AIDAEXAMPLE");
  assert_string_equal(o.identity->request_id, "r-1");
  outcome_clear(&o);
}

static void web_identity_is_unsigned(void **state)
{
  struct fixture *f = *state;
  struct outcome o = {0};
  fake_reply(&f->ft, 200, s_assume_ok);
  struct ops_sts_web_identity_params params = {
      .role_arn = ROLE_ARN, .role_session_name = "ci", .web_identity_token = "eyJ0.eyJz.c2ln"};
  assert_int_equal(ops_sts_assume_role_with_web_identity(f->sts, &params, on_role, &o, NULL, NULL),
                   OPS_OK);
  fake_run_until(f->loop, &o.done);
  assert_false(o.failed);
  const struct fake_request *r = &f->ft.requests[0];
  assert_string_equal(r->body, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
                               "&RoleArn=arn%3Aaws%3Aiam%3A%3A222222222222%3Arole%2FOpsReadOnly"
                               "&RoleSessionName=ci&WebIdentityToken=eyJ0.eyJz.c2ln");
  assert_null(fake_header(r, "Authorization"));
  assert_null(fake_header(r, "X-Amz-Date"));
  assert_null(fake_header(r, "X-Amz-Security-Token"));
  assert_string_equal(fake_header(r, "Host"), "sts.eu-west-1.amazonaws.com");
  assert_string_equal(o.role->credentials->access_key_id, "ASIAEXAMPLE");
  outcome_clear(&o);
}

/* Values that need escaping are percent-encoded, RFC 3986 style. */
static void form_values_are_percent_encoded(void **state)
{
  struct fixture *f = *state;
  struct outcome o;
  struct ops_sts_assume_role_params params = {.role_arn = ROLE_ARN,
                                              .role_session_name = "a+b=c,d.e@f-g_h",
                                              .external_id = "ext:/id",
                                              .serial_number = "arn:aws:iam::111111111111:mfa/ops",
                                              .token_code = "123456"};
  fake_reply(&f->ft, 200, s_assume_ok);
  assume(f, &params, &o);
  assert_string_equal(f->ft.requests[0].body,
                      "Action=AssumeRole&Version=2011-06-15"
                      "&RoleArn=arn%3Aaws%3Aiam%3A%3A222222222222%3Arole%2FOpsReadOnly"
                      "&RoleSessionName=a%2Bb%3Dc%2Cd.e%40f-g_h&ExternalId=ext%3A%2Fid"
                      "&SerialNumber=arn%3Aaws%3Aiam%3A%3A111111111111%3Amfa%2Fops"
                      "&TokenCode=123456");
  outcome_clear(&o);
}

struct error_case {
  long status;
  const char *code;
  enum ops_err kind;
  bool retryable;
};

static const struct error_case s_error_cases[] = {
    {403, "AccessDenied", OPS_ERR_DENIED, false},
    {400, "ExpiredToken", OPS_ERR_CREDENTIALS, false},
    {403, "InvalidClientTokenId", OPS_ERR_CREDENTIALS, false},
    {403, "SignatureDoesNotMatch", OPS_ERR_CREDENTIALS, false},
    {400, "IncompleteSignature", OPS_ERR_CREDENTIALS, false},
    {403, "MissingAuthenticationToken", OPS_ERR_CREDENTIALS, false},
    {400, "InvalidIdentityToken", OPS_ERR_CREDENTIALS, false},
    {400, "ExpiredTokenException", OPS_ERR_CREDENTIALS, false},
    {400, "Throttling", OPS_ERR_THROTTLED, true},
    {400, "ThrottlingException", OPS_ERR_THROTTLED, true},
    {400, "RequestLimitExceeded", OPS_ERR_THROTTLED, true},
    {400, "ValidationError", OPS_ERR_CONFIG, false},
    {400, "MalformedPolicyDocument", OPS_ERR_CONFIG, false},
    {403, "RegionDisabledException", OPS_ERR_CONFIG, false},
    {500, "InternalFailure", OPS_ERR_TRANSPORT, true},
    {503, "ServiceUnavailable", OPS_ERR_TRANSPORT, true},
};

/* Each code's kind, with the message exactly as AWS wrote it (entities decoded). */
static void error_codes_map_to_kinds_and_keep_the_message(void **state)
{
  struct fixture *f = *state;
  static char bodies[sizeof(s_error_cases) / sizeof(s_error_cases[0])][1024];
  const char *message = "User: arn:aws:iam::111111111111:user/ops is not authorized to perform: "
                        "sts:AssumeRole on resource: " ROLE_ARN " & \"more\" <here>";
  for (size_t i = 0; i < sizeof(s_error_cases) / sizeof(s_error_cases[0]); i++) {
    const struct error_case *c = &s_error_cases[i];
    snprintf(bodies[i], sizeof(bodies[i]),
             "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
             "  <Error>\n    <Type>Sender</Type>\n    <Code>%s</Code>\n"
             "    <Message>User: arn:aws:iam::111111111111:user/ops is not authorized to "
             "perform: sts:AssumeRole on resource: " ROLE_ARN " &amp; &quot;more&quot; "
             "&lt;here&gt;</Message>\n  </Error>\n  <RequestId>r-%zu</RequestId>\n"
             "</ErrorResponse>\n",
             c->code, i);
    fake_reply(&f->ft, c->status, bodies[i]);
    struct outcome o;
    assume(f, &s_params, &o);
    assert_true(o.failed);
    assert_null(o.role);
    assert_int_equal(o.err.kind, c->kind);
    assert_int_equal(o.err.retryable, c->retryable);
    assert_int_equal(o.err.http_status, c->status);
    assert_string_equal(o.err.code, c->code);
    assert_string_equal(o.err.message, message);
    outcome_clear(&o);
  }
}

static void a_5xx_without_xml_is_a_retryable_transport_error(void **state)
{
  struct fixture *f = *state;
  struct outcome o;
  fake_reply(&f->ft, 502, "<html><body>Bad Gateway</body>");
  assume(f, &s_params, &o);
  assert_true(o.failed);
  assert_int_equal(o.err.kind, OPS_ERR_TRANSPORT);
  assert_true(o.err.retryable);
  assert_int_equal(o.err.http_status, 502);
  assert_string_equal(o.err.message, "STS AssumeRole failed with HTTP 502 and no message "
                                     "(endpoint https://sts.eu-west-1.amazonaws.com)");
  outcome_clear(&o);
}

static void transport_failures_pass_through(void **state)
{
  struct fixture *f = *state;
  struct outcome o;
  fake_fail(&f->ft, OPS_ERR_TIMEOUT);
  assume(f, &s_params, &o);
  assert_true(o.failed);
  assert_int_equal(o.err.kind, OPS_ERR_TIMEOUT);
  assert_true(o.err.retryable);
  outcome_clear(&o);
}

static void broken_success_answers_are_reported(void **state)
{
  struct fixture *f = *state;
  struct outcome o;
  fake_reply(&f->ft, 200,
             "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>A</AccessKeyId>"
             "<SecretAccessKey>S</SecretAccessKey><Expiration>2026-11-24T06:00:00Z</Expiration>"
             "</Credentials></AssumeRoleResult></AssumeRoleResponse>");
  assume(f, &s_params, &o);
  assert_int_equal(o.err.kind, OPS_ERR_TRANSPORT);
  assert_string_equal(o.err.message, "STS AssumeRole at https://sts.eu-west-1.amazonaws.com: the "
                                     "answer (HTTP 200) has no Credentials/SessionToken");
  outcome_clear(&o);
  fake_reply(&f->ft, 200, "<AssumeRoleResponse><oops></AssumeRoleResponse>");
  assume(f, &s_params, &o);
  assert_int_equal(o.err.kind, OPS_ERR_TRANSPORT);
  assert_string_equal(o.err.message,
                      "STS AssumeRole at https://sts.eu-west-1.amazonaws.com: the answer (HTTP "
                      "200) is not XML (line 1: mismatched tag)");
  outcome_clear(&o);
}

struct validation_case {
  struct ops_sts_assume_role_params params;
  const char *message;
};

static void parameters_are_checked_before_sending(void **state)
{
  struct fixture *f = *state;
  const struct validation_case cases[] = {
      {{.role_arn = ROLE_ARN, .role_session_name = "a"},
       "1 validation error detected: Value 'a' at 'roleSessionName' failed to satisfy "
       "constraint: Member must have length greater than or equal to 2"},
      {{.role_arn = ROLE_ARN,
        .role_session_name = "0123456789012345678901234567890123456789012345678901234567890123X"},
       "1 validation error detected: Value "
       "'0123456789012345678901234567890123456789012345678901234567890123X' at 'roleSessionName' "
       "failed to satisfy constraint: Member must have length less than or equal to 64"},
      {{.role_arn = ROLE_ARN, .role_session_name = "bad name!"},
       "1 validation error detected: Value 'bad name!' at 'roleSessionName' failed to satisfy "
       "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"},
      {{.role_arn = ROLE_ARN, .role_session_name = "ok", .duration_seconds = 899},
       "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy "
       "constraint: Member must have value greater than or equal to 900"},
      {{.role_arn = ROLE_ARN, .role_session_name = "ok", .duration_seconds = 43201},
       "1 validation error detected: Value '43201' at 'durationSeconds' failed to satisfy "
       "constraint: Member must have value less than or equal to 43200"},
      {{.role_arn = ROLE_ARN, .role_session_name = "ok", .external_id = "x"},
       "1 validation error detected: Value 'x' at 'externalId' failed to satisfy constraint: "
       "Member must have length greater than or equal to 2"},
      {{.role_arn = ROLE_ARN, .role_session_name = "ok", .external_id = "bad id#"},
       "1 validation error detected: Value 'bad id#' at 'externalId' failed to satisfy "
       "constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]*"},
      {{.role_arn = ROLE_ARN, .role_session_name = "a", .duration_seconds = 100},
       "2 validation errors detected: Value 'a' at 'roleSessionName' failed to satisfy "
       "constraint: Member must have length greater than or equal to 2; Value '100' at "
       "'durationSeconds' failed to satisfy constraint: Member must have value greater than or "
       "equal to 900"},
      {{.role_session_name = "ok"},
       "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: "
       "Member must not be null"},
      {{.role_arn = "arn:aws:iam::123:role/x", .role_session_name = "ok"},
       "arn:aws:iam::123:role/x is invalid"},
      {{.role_arn = "arn:aws:iam::222222222222:user/ops", .role_session_name = "ok"},
       "arn:aws:iam::222222222222:user/ops is invalid"},
      {{.role_arn = ROLE_ARN,
        .role_session_name = "ok",
        .serial_number = "arn:aws:iam::111111111111:mfa/ops",
        .token_code = "12ab56"},
       "1 validation error detected: Value at 'tokenCode' failed to satisfy constraint: Member "
       "must satisfy regular expression pattern: [\\d]*"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct ops_error err = {0};
    struct outcome o = {0};
    assert_int_equal(
        ops_sts_assume_role(f->sts, f->caller, &cases[i].params, on_role, &o, NULL, &err),
        OPS_ERR_CONFIG);
    assert_string_equal(err.code, "ValidationError");
    assert_string_equal(err.message, cases[i].message);
  }
  struct ops_sts_assume_role_params path_role = {
      .role_arn = "arn:aws-us-gov:iam::222222222222:role/team/ops/Reader",
      .role_session_name = "ok"};
  assert_int_equal(ops_sts_validate_assume_role(&path_role, NULL), OPS_OK);
  assert_int_equal(f->ft.request_count, 0);
}

static void endpoint_overrides_come_from_the_environment(void **state)
{
  struct fixture *f = *state;
  struct ops_error err = {0};
  struct outcome o;
  fake_env_set(&f->env, "AWS_ENDPOINT_URL", "http://127.0.0.1:9999");
  assert_int_equal(s_client(f, "us-east-1", &err), OPS_OK);
  assert_string_equal(ops_sts_client_endpoint(f->sts), "http://127.0.0.1:9999");
  fake_env_set(&f->env, "AWS_ENDPOINT_URL_STS", "http://127.0.0.1:4566/sts/");
  assert_int_equal(s_client(f, "eu-west-1", &err), OPS_OK);
  fake_reply(&f->ft, 200, s_assume_ok);
  assume(f, &s_params, &o);
  assert_false(o.failed);
  assert_string_equal(f->ft.requests[0].url, "http://127.0.0.1:4566/sts/");
  assert_string_equal(fake_header(&f->ft.requests[0], "Host"), "127.0.0.1:4566");
  assert_signature_covers_request(&f->ft.requests[0], "/sts/", 1700000000);
  outcome_clear(&o);

  fake_env_set(&f->env, "AWS_ENDPOINT_URL_STS", "http://sts.example.com");
  assert_int_equal(s_client(f, "eu-west-1", &err), OPS_ERR_CONFIG);
  assert_string_equal(err.message, "AWS_ENDPOINT_URL_STS: refusing plain http:// to "
                                   "sts.example.com (not loopback): use https://");
  fake_env_set(&f->env, "AWS_ENDPOINT_URL_STS", NULL);
  fake_env_set(&f->env, "AWS_ENDPOINT_URL", NULL);
  assert_int_equal(s_client(f, "cn-north-1", &err), OPS_OK);
  assert_string_equal(ops_sts_client_endpoint(f->sts), "https://sts.cn-north-1.amazonaws.com.cn");
}

static void a_cancelled_call_never_calls_back(void **state)
{
  struct fixture *f = *state;
  struct outcome o = {0};
  struct ops_sts_call *call = NULL;
  fake_reply(&f->ft, 200, s_assume_ok);
  assert_int_equal(ops_sts_assume_role(f->sts, f->caller, &s_params, on_role, &o, &call, NULL),
                   OPS_OK);
  ops_sts_call_cancel(call);
  assert_int_equal(f->ft.in_flight, 0);
  for (int i = 0; i < 3; i++)
    ops_loop_run_once(f->loop, 10);
  assert_false(o.done);
}

static void timestamps_parse_to_epoch_seconds(void **state)
{
  (void)state;
  const struct {
    const char *text;
    int64_t epoch;
  } good[] = {
      {"2026-11-24T06:00:00Z", 1795500000},      {"2026-11-24T06:00:00.123Z", 1795500000},
      {"2026-11-24T07:00:00+01:00", 1795500000}, {"2026-11-24T05:30:00-0030", 1795500000},
      {" 2024-02-29T23:59:59Z\n", 1709251199},   {"1969-12-31T23:00:00Z", -3600},
      {"2023-11-14t22:13:20z", 1700000000},
  };
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    int64_t epoch = 0;
    assert_int_equal(ops_timestamp_parse(good[i].text, &epoch, NULL), OPS_OK);
    assert_int_equal(epoch, good[i].epoch);
  }
  const char *bad[] = {"2023-02-29T00:00:00Z",
                       "2026-11-24T06:00:00",
                       "2026-11-24 06:00Z",
                       "2026-13-01T00:00:00Z",
                       "2026-11-24T06:00:00.Z",
                       "tomorrow",
                       ""};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int64_t epoch = 0;
    struct ops_error err;
    assert_int_equal(ops_timestamp_parse(bad[i], &epoch, &err), OPS_ERR_CONFIG);
  }
  char buf[OPS_TIMESTAMP_LEN];
  ops_timestamp_format(1795500000, buf, sizeof(buf));
  assert_string_equal(buf, "2026-11-24T06:00:00Z");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(assume_role_sends_a_signed_form_and_reads_the_answer, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_long_token_in_many_pieces_is_joined, setup, teardown),
      cmocka_unit_test_setup_teardown(get_caller_identity_reads_account_arn_and_user_id, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(web_identity_is_unsigned, setup, teardown),
      cmocka_unit_test_setup_teardown(form_values_are_percent_encoded, setup, teardown),
      cmocka_unit_test_setup_teardown(error_codes_map_to_kinds_and_keep_the_message, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_5xx_without_xml_is_a_retryable_transport_error, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(transport_failures_pass_through, setup, teardown),
      cmocka_unit_test_setup_teardown(broken_success_answers_are_reported, setup, teardown),
      cmocka_unit_test_setup_teardown(parameters_are_checked_before_sending, setup, teardown),
      cmocka_unit_test_setup_teardown(endpoint_overrides_come_from_the_environment, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_cancelled_call_never_calls_back, setup, teardown),
      cmocka_unit_test(timestamps_parse_to_epoch_seconds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
