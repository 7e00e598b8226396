/* fuzz_sts.c: the STS client's answer handling (the expat collector, the error mapping, the
 * credentials and identity it builds) on arbitrary bytes, through the public API: a transport
 * stand-in captures the exchange and answers it with the input as the body. The first byte picks
 * the call (AssumeRole, GetCallerIdentity, AssumeRoleWithWebIdentity) and the HTTP status, the
 * second whether the transport fails instead. The callback must run exactly once, with either a
 * complete result or an error whose kind and message are set; the request must bound its answer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/sts.h"

struct exchange {
  ops_http_done_fn done;
  void *ud;
  size_t max_response_bytes;
  int started;
};

struct outcome {
  int calls;
};

static void *s_start(void *self, const struct ops_http_request *request, ops_http_done_fn done,
                     void *ud, struct ops_error *err)
{
  (void)err;
  struct exchange *x = self;
  x->done = done;
  x->ud = ud;
  x->max_response_bytes = request->max_response_bytes;
  x->started++;
  return x;
}

static void s_cancel(void *self, void *exchange)
{
  (void)self, (void)exchange;
}

static double s_now(void *self)
{
  (void)self;
  return 1700000000.0;
}

static const char *s_getenv(void *self, const char *name)
{
  (void)self;
  return strcmp(name, "AWS_ENDPOINT_URL_STS") == 0 ? "https://sts.fuzz.example/" : NULL;
}

static void s_check_error(const struct ops_error *err)
{
  if (!err || err->kind >= 0 || err->kind < OPS_ERR_CANCELLED || !err->message[0])
    abort();
}

static void s_role_done(struct ops_sts_assumed_role *role, const struct ops_error *err, void *ud)
{
  struct outcome *o = ud;
  o->calls++;
  if (!role) {
    s_check_error(err);
    return;
  }
  const struct ops_credentials *c = role->credentials;
  if (err || !c || !c->access_key_id[0] || !c->secret_access_key[0] || !c->session_token ||
      !c->session_token[0] || !c->expiration)
    abort();
  ops_sts_assumed_role_free(role);
}

static void s_identity_done(struct ops_sts_identity *identity, const struct ops_error *err,
                            void *ud)
{
  struct outcome *o = ud;
  o->calls++;
  if (!identity) {
    s_check_error(err);
    return;
  }
  if (err || !identity->account || !identity->arn || !identity->user_id)
    abort();
  ops_sts_identity_free(identity);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const long statuses[] = {200, 200, 200, 200, 400, 403, 500, 503, 302, 429, 404, 0};
  if (size < 2)
    return 0;
  int action = data[0] % 3;
  long status = statuses[(data[0] / 3) % (sizeof(statuses) / sizeof(*statuses))];
  bool transport_fails = data[1] == 'F';
  data += 2;
  size -= 2;

  struct exchange x = {0};
  struct ops_sts_options options = {.transport = {s_start, s_cancel, &x},
                                    .clock = {s_now, NULL},
                                    .env = {s_getenv, NULL},
                                    .region = "eu-west-1"};
  struct ops_sts_client *client = NULL;
  struct ops_credentials *caller = NULL;
  if (ops_sts_client_new(&client, &options, NULL) != OPS_OK ||
      ops_credentials_new(&caller, "AKIDEXAMPLE", "fuzz-secret", NULL, 0, "fuzz", NULL) != OPS_OK)
    abort();
  struct outcome outcome = {0};
  struct ops_error err = {0};
  int rc;
  if (action == 0) {
    struct ops_sts_assume_role_params params = {
        .role_arn = "arn:aws:iam::222222222222:role/OpsReadOnly", .role_session_name = "fuzz"};
    rc = ops_sts_assume_role(client, caller, &params, s_role_done, &outcome, NULL, &err);
  } else if (action == 1) {
    rc = ops_sts_get_caller_identity(client, caller, s_identity_done, &outcome, NULL, &err);
  } else {
    struct ops_sts_web_identity_params params = {
        .role_arn = "arn:aws:iam::222222222222:role/OpsWeb",
        .role_session_name = "fuzz",
        .web_identity_token = "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"};
    rc = ops_sts_assume_role_with_web_identity(client, &params, s_role_done, &outcome, NULL, &err);
  }
  if (rc != OPS_OK || x.started != 1 || x.max_response_bytes == 0)
    abort();

  char *body = malloc(size + 1); /* a response body is NUL-terminated (http.h) */
  if (!body)
    abort();
  memcpy(body, data, size);
  body[size] = '\0';
  struct ops_http_header header = {"Content-Type", "text/xml"};
  struct ops_http_response response = {
      .status = status, .headers = &header, .header_count = 1, .body = body, .body_len = size};
  struct ops_error failure = {0};
  if (transport_fails) {
    ops_error_set(&failure, OPS_ERR_TRANSPORT, "connection reset");
    failure.retryable = true;
  }
  x.done(&response, transport_fails ? &failure : NULL, x.ud);
  if (outcome.calls != 1)
    abort();
  free(body);
  ops_credentials_free(caller);
  ops_sts_client_free(client);
  return 0;
}
