/* test_sigv4.c: cmocka runner for runtime/sigv4: every case of AWS's SigV4 test suite (aws-c-auth's
 * v4/ in both modes, botocore's copy), the two STS AssumeRole vectors of FORMAT.md, and the API's
 * edges. Reads tests/fixtures/sigv4 from the project root; jansson parses context.json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jansson.h>

#include "runtime/sigv4.h"

#define S_FIXTURES   "tests/fixtures/sigv4"
#define S_MAX_FIELDS 64

/* A request parsed from the suite's HTTP/1.1 text. All strings point into `text`. */
struct s_request {
  char *text;
  const char *method;
  const char *path;
  const char *query; /* NULL when the target has no '?' */
  struct ops_sigv4_pair headers[S_MAX_FIELDS];
  size_t header_count;
  const char *body;
  size_t body_len;
};

/* One data-driven case: a fixture folder and how to run it. */
struct s_case {
  char dir[512];
  char base[128]; /* botocore: the file name stem */
  enum ops_sigv4_mode mode;
};

/* A name and a trimmed value, for comparing headers or parameters as multisets. */
struct s_field {
  const char *name;
  const char *value;
  size_t value_len;
};

/* ---- Fixture reading ------------------------------------------------------------------------ */

/* Reads a whole file with '\r' removed; *len (may be NULL) gets its length. Caller frees. */
static char *s_read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (!f)
    fail_msg("cannot open %s", path);
  char *data = NULL;
  size_t size = 0, cap = 0;
  int c;
  while ((c = fgetc(f)) != EOF) {
    if (c == '\r')
      continue;
    if (size + 1 >= cap) {
      cap = cap ? cap * 2 : 4096;
      data = realloc(data, cap);
      assert_non_null(data);
    }
    data[size++] = (char)c;
  }
  fclose(f);
  if (!data)
    data = calloc(1, 1);
  assert_non_null(data);
  data[size] = '\0';
  if (len)
    *len = size;
  return data;
}

static char *s_read_fixture(const char *dir, const char *name)
{
  char path[1024];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  return s_read_file(path, NULL);
}

static bool s_is_space(char c)
{
  return c == ' ' || c == '\t';
}

/* Parses "METHOD SP target SP HTTP/1.1", header lines (a line starting with whitespace continues
 * the value before it), an empty line and the body. The target may hold spaces. */
static void s_parse_request(const char *path, struct s_request *req)
{
  size_t len = 0;
  memset(req, 0, sizeof(*req));
  req->text = s_read_file(path, &len);
  char *text = req->text;
  char *line_end = strchr(text, '\n');
  char *end = line_end ? line_end : text + len;
  char *space = strchr(text, ' ');
  assert_true(space && space < end);
  *space = '\0';
  req->method = text;
  char *version = NULL;
  for (char *p = space + 1; p + 5 < end; p++)
    if (memcmp(p, " HTTP/", 6) == 0)
      version = p;
  assert_non_null(version);
  *version = '\0';
  req->path = space + 1;
  char *question = strchr(space + 1, '?');
  if (question) {
    *question = '\0';
    req->query = question + 1;
  }
  req->body = "";
  for (char *line = line_end ? line_end + 1 : end; line < text + len;) {
    if (*line == '\n') {
      req->body = line + 1;
      req->body_len = (size_t)(text + len - (line + 1));
      break;
    }
    char *colon = strchr(line, ':');
    assert_non_null(colon);
    *colon = '\0';
    char *value = colon + 1, *stop = value;
    for (;;) {
      stop = strchr(stop, '\n');
      if (!stop || !s_is_space(stop[1]))
        break;
      stop++; /* a folded line: the value goes on */
    }
    assert_true(req->header_count < S_MAX_FIELDS);
    req->headers[req->header_count++] = (struct ops_sigv4_pair){line, value};
    if (!stop)
      break;
    *stop = '\0';
    line = stop + 1;
  }
}

static void s_free_request(struct s_request *req)
{
  free(req->text);
  memset(req, 0, sizeof(*req));
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t s_days_from_civil(int64_t y, int m, int d)
{
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int64_t s_parse_timestamp(const char *iso)
{
  int y, mo, d, h, mi, s;
  assert_int_equal(sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2dZ", &y, &mo, &d, &h, &mi, &s), 6);
  return s_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

/* The signing configuration of a v4 case's context.json. Strings point into *root. */
static void s_load_context(const char *dir, json_t **root, struct ops_sigv4_credentials *creds,
                           struct ops_sigv4_config *config)
{
  char path[1024];
  json_error_t error;
  snprintf(path, sizeof(path), "%s/context.json", dir);
  *root = json_load_file(path, 0, &error);
  if (!*root)
    fail_msg("%s: %s", path, error.text);
  json_t *c = json_object_get(*root, "credentials");
  *creds =
      (struct ops_sigv4_credentials){json_string_value(json_object_get(c, "access_key_id")),
                                     json_string_value(json_object_get(c, "secret_access_key")),
                                     json_string_value(json_object_get(c, "token"))};
  memset(config, 0, sizeof(*config));
  config->credentials = creds;
  config->region = json_string_value(json_object_get(*root, "region"));
  config->service = json_string_value(json_object_get(*root, "service"));
  config->time = s_parse_timestamp(json_string_value(json_object_get(*root, "timestamp")));
  config->expires = (unsigned)json_integer_value(json_object_get(*root, "expiration_in_seconds"));
  if (json_is_true(json_object_get(*root, "normalize")))
    config->flags |= OPS_SIGV4_NORMALIZE_PATH;
  if (json_is_true(json_object_get(*root, "sign_body")))
    config->flags |= OPS_SIGV4_CONTENT_SHA256;
  if (json_is_true(json_object_get(*root, "omit_session_token")))
    config->flags |= OPS_SIGV4_OMIT_SESSION_TOKEN;
}

/* ---- Comparing signed requests -------------------------------------------------------------- */

static struct s_field s_field_of(const char *name, const char *value, size_t value_len)
{
  while (value_len && s_is_space(*value)) {
    value++;
    value_len--;
  }
  while (value_len && s_is_space(value[value_len - 1]))
    value_len--;
  return (struct s_field){name, value, value_len};
}

static int s_field_order(const void *left, const void *right)
{
  const struct s_field *a = left, *b = right;
  int order = strcasecmp(a->name, b->name);
  if (order)
    return order;
  size_t n = a->value_len < b->value_len ? a->value_len : b->value_len;
  order = memcmp(a->value, b->value, n);
  return order ? order : (a->value_len > b->value_len) - (a->value_len < b->value_len);
}

/* Asserts the two lists hold the same fields: names case-insensitive, values exact. */
static void s_assert_same_fields(struct s_field *expected, size_t expected_count,
                                 struct s_field *actual, size_t actual_count, const char *what)
{
  qsort(expected, expected_count, sizeof(*expected), s_field_order);
  qsort(actual, actual_count, sizeof(*actual), s_field_order);
  for (size_t i = 0; i < expected_count && i < actual_count; i++)
    if (s_field_order(&expected[i], &actual[i]) != 0)
      fail_msg("%s differ: expected %s: %.*s, got %s: %.*s", what, expected[i].name,
               (int)expected[i].value_len, expected[i].value, actual[i].name,
               (int)actual[i].value_len, actual[i].value);
  if (expected_count != actual_count)
    fail_msg("%s: expected %zu, got %zu", what, expected_count, actual_count);
}

/* Splits a raw query string into fields (name and value stay encoded) in `names`, a copy. */
static size_t s_query_fields(char *query, struct s_field *fields, size_t count)
{
  for (char *part = query; part && *part;) {
    char *amp = strchr(part, '&');
    if (amp)
      *amp = '\0';
    char *eq = strchr(part, '=');
    if (eq)
      *eq = '\0';
    assert_true(count < S_MAX_FIELDS);
    const char *value = eq ? eq + 1 : "";
    fields[count++] = s_field_of(part, value, strlen(value));
    part = amp ? amp + 1 : NULL;
  }
  return count;
}

/* Whether the signer ignores a request header because it generates that header itself. */
static bool s_is_replaced(const char *name, const struct ops_sigv4_config *config)
{
  bool token = config->credentials->session_token && config->credentials->session_token[0];
  return strcasecmp(name, "authorization") == 0 || strcasecmp(name, "x-amz-date") == 0 ||
         (token && strcasecmp(name, "x-amz-security-token") == 0) ||
         (config->mode == OPS_SIGV4_MODE_HEADER && (config->flags & OPS_SIGV4_CONTENT_SHA256) &&
          strcasecmp(name, "x-amz-content-sha256") == 0);
}

/* The request as it goes out (its headers, less the ones the signer replaces, plus the result's)
 * compared with an expected signed request, as aws-c-auth's runner does: method and path exact,
 * headers and query parameters as multisets. With `skip_authorization` the Authorization header
 * is left to the caller. */
static void s_assert_signed_request(const struct s_request *req,
                                    const struct ops_sigv4_config *config,
                                    const struct ops_sigv4_result *result, const char *path,
                                    bool skip_authorization)
{
  struct s_request expected;
  struct s_field want[S_MAX_FIELDS], got[S_MAX_FIELDS];
  size_t want_count = 0, got_count = 0;
  s_parse_request(path, &expected);
  assert_string_equal(expected.method, req->method);
  assert_string_equal(expected.path, req->path);
  assert_int_equal(expected.body_len, req->body_len);
  assert_memory_equal(expected.body, req->body, req->body_len);

  for (size_t i = 0; i < expected.header_count; i++)
    if (!skip_authorization || strcasecmp(expected.headers[i].name, "authorization") != 0)
      want[want_count++] = s_field_of(expected.headers[i].name, expected.headers[i].value,
                                      strlen(expected.headers[i].value));
  for (size_t i = 0; i < req->header_count; i++)
    if (!s_is_replaced(req->headers[i].name, config))
      got[got_count++] =
          s_field_of(req->headers[i].name, req->headers[i].value, strlen(req->headers[i].value));
  for (size_t i = 0; i < result->header_count; i++)
    if (!skip_authorization || strcmp(result->headers[i].name, "Authorization") != 0)
      got[got_count++] = s_field_of(result->headers[i].name, result->headers[i].value,
                                    strlen(result->headers[i].value));
  s_assert_same_fields(want, want_count, got, got_count, "signed request headers");

  char *query = strdup(req->query ? req->query : "");
  assert_non_null(query);
  want_count = s_query_fields((char *)expected.query, want, 0);
  got_count = s_query_fields(query, got, 0);
  for (size_t i = 0; i < result->query_count; i++)
    got[got_count++] =
        s_field_of(result->query[i].name, result->query[i].value, strlen(result->query[i].value));
  s_assert_same_fields(want, want_count, got, got_count, "signed request query parameters");
  free(query);
  s_free_request(&expected);
}

/* ---- Suite runners -------------------------------------------------------------------------- */

static struct ops_sigv4_signer *s_signer(void)
{
  struct ops_sigv4_signer *signer = NULL;
  struct ops_error err = {0};
  if (ops_sigv4_signer_new(&signer, 0, &err))
    fail_msg("%s", err.message);
  return signer;
}

static void s_sign(struct ops_sigv4_signer *signer, const struct s_request *req,
                   const struct ops_sigv4_config *config, struct ops_sigv4_result *result)
{
  struct ops_error err = {0};
  struct ops_sigv4_request request = {req->method,       req->path, req->query,    req->headers,
                                      req->header_count, req->body, req->body_len, NULL};
  if (ops_sigv4_sign(signer, &request, config, result, &err))
    fail_msg("sign: %s", err.message);
}

/* The separate check that needs no request parsing: the expected canonical request, signed. */
static void s_assert_canonical_signature(struct ops_sigv4_signer *signer, const char *canonical,
                                         const struct ops_sigv4_config *config,
                                         const char *expected_signature)
{
  struct ops_sigv4_result result = {0};
  struct ops_error err = {0};
  if (ops_sigv4_sign_canonical(signer, canonical, strlen(canonical), config, &result, &err))
    fail_msg("sign_canonical: %s", err.message);
  assert_string_equal(result.signature, expected_signature);
  ops_sigv4_result_free(&result);
}

/* One v4/ case in one mode: canonical request, string to sign and signature byte for byte, the
 * signed request as multisets, and the canonical-only signature. */
static void s_test_v4(void **state)
{
  const struct s_case *tc = *state;
  const char *mode = tc->mode == OPS_SIGV4_MODE_QUERY ? "query" : "header";
  char name[64], path[1024];
  json_t *context = NULL;
  struct ops_sigv4_credentials creds;
  struct ops_sigv4_config config;
  struct ops_sigv4_result result = {0};
  struct s_request req;
  s_load_context(tc->dir, &context, &creds, &config);
  config.mode = tc->mode;
  snprintf(path, sizeof(path), "%s/request.txt", tc->dir);
  s_parse_request(path, &req);
  struct ops_sigv4_signer *signer = s_signer();
  s_sign(signer, &req, &config, &result);

  snprintf(name, sizeof(name), "%s-canonical-request.txt", mode);
  char *canonical = s_read_fixture(tc->dir, name);
  assert_string_equal(result.canonical_request, canonical);
  snprintf(name, sizeof(name), "%s-string-to-sign.txt", mode);
  char *sts = s_read_fixture(tc->dir, name);
  assert_string_equal(result.string_to_sign, sts);
  snprintf(name, sizeof(name), "%s-signature.txt", mode);
  char *signature = s_read_fixture(tc->dir, name);
  assert_string_equal(result.signature, signature);
  snprintf(path, sizeof(path), "%s/%s-signed-request.txt", tc->dir, mode);
  s_assert_signed_request(&req, &config, &result, path, false);
  s_assert_canonical_signature(signer, canonical, &config, signature);

  free(canonical);
  free(sts);
  free(signature);
  ops_sigv4_result_free(&result);
  ops_sigv4_signer_free(signer);
  s_free_request(&req);
  json_decref(context);
}

/* The value of a "name:value" line of a canonical request or signed request, or NULL. Caller
 * frees. */
static char *s_line_value(const char *text, const char *name)
{
  size_t len = strlen(name);
  for (const char *line = text; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    if (strncasecmp(line, name, len) == 0 && line[len] == ':') {
      const char *value = line + len + 1;
      const char *end = strchr(value, '\n');
      return strndup(value, end ? (size_t)(end - value) : strlen(value));
    }
  }
  return NULL;
}

static char *s_read_botocore(const struct s_case *tc, const char *extension)
{
  char name[256];
  snprintf(name, sizeof(name), "%s.%s", tc->base, extension);
  return s_read_fixture(tc->dir, name);
}

/* One botocore case, header mode, path always normalised, payload hash of the body. Its token, as
 * botocore's own runner does, comes from the .creq when signed; a token only in the .sreq was
 * added after signing. The Authorization header is checked against .authz: the .sreq of
 * get-vanilla-with-session-token carries a corrupted signature upstream (rotated by 32 digits). */
static void s_test_botocore(void **state)
{
  const struct s_case *tc = *state;
  char path[1024];
  struct s_request req;
  struct ops_sigv4_result result = {0};
  snprintf(path, sizeof(path), "%s/%s.req", tc->dir, tc->base);
  s_parse_request(path, &req);
  char *creq = s_read_botocore(tc, "creq"), *sts = s_read_botocore(tc, "sts");
  char *authz = s_read_botocore(tc, "authz"), *sreq = s_read_botocore(tc, "sreq");
  char *token = s_line_value(creq, "x-amz-security-token");
  unsigned flags = OPS_SIGV4_NORMALIZE_PATH;
  if (!token && (token = s_line_value(sreq, "X-Amz-Security-Token")) != NULL)
    flags |= OPS_SIGV4_OMIT_SESSION_TOKEN;
  struct ops_sigv4_credentials creds = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                        token};
  struct ops_sigv4_config config = {
      &creds, "us-east-1", "service", 1440938160, OPS_SIGV4_MODE_HEADER, flags, 0};
  struct ops_sigv4_signer *signer = s_signer();
  s_sign(signer, &req, &config, &result);

  assert_string_equal(result.canonical_request, creq);
  assert_string_equal(result.string_to_sign, sts);
  assert_string_equal(result.authorization, authz);
  snprintf(path, sizeof(path), "%s/%s.sreq", tc->dir, tc->base);
  s_assert_signed_request(&req, &config, &result, path, true);
  s_assert_canonical_signature(signer, creq, &config, strstr(authz, "Signature=") + 10);

  ops_sigv4_result_free(&result);
  ops_sigv4_signer_free(signer);
  free(token);
  free(creq);
  free(sts);
  free(authz);
  free(sreq);
  s_free_request(&req);
}

/* ---- STS vectors (aws-c-auth credentials_provider_sts_tests.c) ------------------------------- */

static void s_assert_sts_vector(const char *host, const char *region, const char *expected)
{
  static const char body[] = "Version=2011-06-15&Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A"
                             "67895%3Arole%2Ftest_role&RoleSessionName=test_session&"
                             "DurationSeconds=900";
  const struct ops_sigv4_pair headers[] = {
      {"host", host},
      {"content-type", "application/x-www-form-urlencoded"},
      {"content-length", "139"},
  };
  struct ops_sigv4_credentials creds = {"accessKey12345", "secretKey12345",
                                        "sessionToken123456789"};
  struct ops_sigv4_request request = {"POST", "/", NULL, headers, 3, body, strlen(body), NULL};
  struct ops_sigv4_config config = {
      &creds, region, "sts", 0, OPS_SIGV4_MODE_HEADER, OPS_SIGV4_NORMALIZE_PATH, 0};
  struct ops_sigv4_result result = {0};
  struct ops_error err = {0};
  struct ops_sigv4_signer *signer = s_signer();
  assert_int_equal(strlen(body), 139);
  assert_int_equal(ops_sigv4_sign(signer, &request, &config, &result, &err), 0);
  assert_string_equal(result.signature, expected);
  assert_non_null(strstr(result.authorization,
                         "SignedHeaders=content-length;content-type;host;x-amz-date;"
                         "x-amz-security-token, "));
  assert_string_equal(result.headers[0].value, "19700101T000000Z");
  ops_sigv4_result_free(&result);
  ops_sigv4_signer_free(signer);
}

static void s_test_sts_us_east_1(void **state)
{
  (void)state;
  s_assert_sts_vector("sts.amazonaws.com", "us-east-1",
                      "06e941853a2cc010ed8ac7072754e0089be8aae59e319924fb0105b20dda77cd");
}

static void s_test_sts_us_west_2(void **state)
{
  (void)state;
  s_assert_sts_vector("sts.us-west-2.amazonaws.com", "us-west-2",
                      "a4a164e00acb40795ea491092dfcfbbfcda817b6b0bb5d06d328f535ec163ac6");
}

/* ---- API edges ------------------------------------------------------------------------------ */

static const struct ops_sigv4_credentials s_creds = {
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL};
static const struct ops_sigv4_pair s_host[] = {{"Host", "example.amazonaws.com"}};

static struct ops_sigv4_config s_config(unsigned flags)
{
  return (struct ops_sigv4_config){
      &s_creds, "us-east-1", "service", 1440938160, OPS_SIGV4_MODE_HEADER, flags, 3600};
}

/* The line of a canonical request at `index` (0: method, 1: URI, 2: query, ...). */
static void s_assert_canonical_line(const char *canonical, int index, const char *expected)
{
  const char *line = canonical;
  for (int i = 0; i < index; i++) {
    line = strchr(line, '\n');
    assert_non_null(line);
    line++;
  }
  const char *end = strchr(line, '\n');
  size_t len = end ? (size_t)(end - line) : strlen(line);
  if (len != strlen(expected) || memcmp(line, expected, len) != 0)
    fail_msg("canonical line %d: expected \"%s\", got \"%.*s\"", index, expected, (int)len, line);
}

/* Signs GET path?query (Host only) and checks line `index` of the canonical request. */
static void s_assert_canonical(const char *path, const char *query, unsigned flags, int index,
                               const char *expected)
{
  struct ops_sigv4_signer *signer = s_signer();
  struct ops_sigv4_request request = {"GET", path, query, s_host, 1, NULL, 0, NULL};
  struct ops_sigv4_config config = s_config(flags);
  struct ops_sigv4_result result = {0};
  assert_int_equal(ops_sigv4_sign(signer, &request, &config, &result, NULL), 0);
  s_assert_canonical_line(result.canonical_request, index, expected);
  ops_sigv4_result_free(&result);
  ops_sigv4_signer_free(signer);
}

static void s_assert_canonical_uri(const char *path, unsigned flags, const char *expected)
{
  s_assert_canonical(path, NULL, flags, 1, expected);
}

static void s_test_canonical_uri(void **state)
{
  (void)state;
  s_assert_canonical_uri("", OPS_SIGV4_NORMALIZE_PATH, "/");
  s_assert_canonical_uri("", 0, "/");
  s_assert_canonical_uri("/a/b/..", OPS_SIGV4_NORMALIZE_PATH, "/a");
  s_assert_canonical_uri("/a/b/../", OPS_SIGV4_NORMALIZE_PATH, "/a/");
  s_assert_canonical_uri("/a/./b/.", OPS_SIGV4_NORMALIZE_PATH, "/a/b");
  s_assert_canonical_uri("/../..", OPS_SIGV4_NORMALIZE_PATH, "/");
  s_assert_canonical_uri("/a/../../b//c/", OPS_SIGV4_NORMALIZE_PATH, "/b/c/");
  s_assert_canonical_uri("/a/..b/...", OPS_SIGV4_NORMALIZE_PATH, "/a/..b/...");
  /* Ordinary services get the wire path encoded again ("double encoding"). */
  s_assert_canonical_uri("/a%20b/$", OPS_SIGV4_NORMALIZE_PATH, "/a%2520b/%24");
  s_assert_canonical_uri("/a//b/../c d", 0, "/a//b/../c%20d");
}

static void s_assert_canonical_query(const char *query, const char *expected)
{
  s_assert_canonical("/", query, 0, 2, expected);
}

static void s_test_canonical_query(void **state)
{
  (void)state;
  s_assert_canonical_query("", "");
  s_assert_canonical_query("b&a=&&=c", "=c&a=&b=");
  s_assert_canonical_query("k=b&k=a&k=B&k", "k=&k=B&k=a&k=b");
  s_assert_canonical_query("x=1=2&y=a+b&z=%zz%4", "x=1%3D2&y=a%2Bb&z=%25zz%254");
  s_assert_canonical_query("%7e%41=%2f%20", "~A=%2F%20");
  /* Header mode leaves X-Amz-* parameters alone: they are the caller's. */
  s_assert_canonical_query("X-Amz-Date=1", "X-Amz-Date=1");
}

static void s_test_canonical_headers(void **state)
{
  (void)state;
  const struct ops_sigv4_pair headers[] = {
      {"X-B", "  two   words\t\there  "},
      {"host", "example.amazonaws.com"},
      {"x-b", "second"},
      {"X-Empty", ""},
      {"x-a", "\r\n folded\r\n  line "},
  };
  struct ops_sigv4_signer *signer = s_signer();
  struct ops_sigv4_request request = {"GET", "/", NULL, headers, 5, NULL, 0, NULL};
  struct ops_sigv4_config config = s_config(0);
  struct ops_sigv4_result result = {0};
  assert_int_equal(ops_sigv4_sign(signer, &request, &config, &result, NULL), 0);
  s_assert_canonical_line(result.canonical_request, 3, "host:example.amazonaws.com");
  s_assert_canonical_line(result.canonical_request, 4, "x-a:folded line");
  s_assert_canonical_line(result.canonical_request, 5, "x-amz-date:20150830T123600Z");
  s_assert_canonical_line(result.canonical_request, 6, "x-b:two words here,second");
  s_assert_canonical_line(result.canonical_request, 7, "x-empty:");
  s_assert_canonical_line(result.canonical_request, 9, "host;x-a;x-amz-date;x-b;x-empty");
  ops_sigv4_result_free(&result);
  ops_sigv4_signer_free(signer);
}

/* Headers and parameters the signer generates are ignored in the request, so a signed request can
 * be signed again (a retry) and get the same signature as the first time. */
static void s_test_resign_ignores_generated(void **state)
{
  (void)state;
  const struct ops_sigv4_pair headers[] = {{"Host", "example.amazonaws.com"},
                                           {"Authorization", "AWS4-HMAC-SHA256 old"},
                                           {"X-Amz-Date", "20000101T000000Z"},
                                           {"X-Amz-Security-Token", "old"},
                                           {"x-amz-content-sha256", "old"}};
  struct ops_sigv4_credentials creds = s_creds;
  creds.session_token = "token";
  struct ops_sigv4_request plain = {"GET", "/", "a=1", headers, 1, NULL, 0, NULL};
  struct ops_sigv4_request signed_before = {
      "GET", "/", "a=1&X-Amz-Signature=old&X-Amz-Date=x", headers, 5, NULL, 0, NULL};
  struct ops_sigv4_signer *signer = s_signer();
  struct ops_sigv4_result first = {0}, second = {0};
  for (int mode = OPS_SIGV4_MODE_HEADER; mode <= OPS_SIGV4_MODE_QUERY; mode++) {
    struct ops_sigv4_config config = s_config(OPS_SIGV4_CONTENT_SHA256);
    config.credentials = &creds;
    config.mode = (enum ops_sigv4_mode)mode;
    assert_int_equal(ops_sigv4_sign(signer, &plain, &config, &first, NULL), 0);
    /* Query mode adds no x-amz-content-sha256, so one in the request is the caller's own. */
    signed_before.header_count = mode == OPS_SIGV4_MODE_HEADER ? 5 : 4;
    signed_before.query =
        mode == OPS_SIGV4_MODE_HEADER ? "a=1" : "a=1&X-Amz-Signature=old&X-Amz-Date=x";
    assert_int_equal(ops_sigv4_sign(signer, &signed_before, &config, &second, NULL), 0);
    assert_string_equal(first.canonical_request, second.canonical_request);
    assert_string_equal(first.signature, second.signature);
  }
  ops_sigv4_result_free(&first);
  ops_sigv4_result_free(&second);
  ops_sigv4_signer_free(signer);
}

static void s_test_payload_options(void **state)
{
  (void)state;
  struct ops_sigv4_signer *signer = s_signer();
  struct ops_sigv4_request request = {"PUT", "/", NULL, s_host, 1, "abc", 3, NULL};
  struct ops_sigv4_config config = s_config(OPS_SIGV4_CONTENT_SHA256);
  struct ops_sigv4_result result = {0};
  assert_int_equal(ops_sigv4_sign(signer, &request, &config, &result, NULL), 0);
  const char *abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  assert_string_equal(strrchr(result.canonical_request, '\n') + 1, abc);
  assert_int_equal(result.header_count, 3);
  assert_string_equal(result.headers[1].name, "x-amz-content-sha256");
  assert_string_equal(result.headers[1].value, abc);

  request.payload_hash = OPS_SIGV4_UNSIGNED_PAYLOAD;
  assert_int_equal(ops_sigv4_sign(signer, &request, &config, &result, NULL), 0);
  assert_string_equal(strrchr(result.canonical_request, '\n') + 1, "UNSIGNED-PAYLOAD");
  assert_string_equal(result.headers[1].value, "UNSIGNED-PAYLOAD");
  s_assert_canonical_line(result.canonical_request, 4, "x-amz-content-sha256:UNSIGNED-PAYLOAD");

  /* Query mode never adds the header; the hash is still the last line. */
  config.mode = OPS_SIGV4_MODE_QUERY;
  assert_int_equal(ops_sigv4_sign(signer, &request, &config, &result, NULL), 0);
  assert_int_equal(result.header_count, 0);
  assert_null(result.authorization);
  assert_int_equal(result.query_count, 6);
  assert_string_equal(result.query[5].name, "X-Amz-Signature");
  assert_string_equal(result.query[5].value, result.signature);
  ops_sigv4_result_free(&result);
  ops_sigv4_signer_free(signer);
}

static void s_assert_sign_fails(const struct ops_sigv4_request *request,
                                const struct ops_sigv4_config *config, int expected,
                                const char *message_part)
{
  struct ops_sigv4_signer *signer = s_signer();
  struct ops_sigv4_result result = {0};
  struct ops_error err = {0};
  assert_int_equal(ops_sigv4_sign(signer, request, config, &result, &err), expected);
  assert_int_equal(err.kind, expected);
  if (!strstr(err.message, message_part))
    fail_msg("error \"%s\" does not mention \"%s\"", err.message, message_part);
  assert_null(result.canonical_request);
  ops_sigv4_result_free(&result);
  ops_sigv4_signer_free(signer);
}

static void s_test_errors(void **state)
{
  (void)state;
  const struct ops_sigv4_pair no_host[] = {{"x-a", "1"}};
  struct ops_sigv4_request request = {"GET", "/", NULL, s_host, 1, NULL, 0, NULL};
  struct ops_sigv4_request hostless = {"GET", "/", NULL, no_host, 1, NULL, 0, NULL};
  struct ops_sigv4_credentials no_secret = {"AKID", "", NULL};
  struct ops_sigv4_config config = s_config(0);
  s_assert_sign_fails(&hostless, &config, OPS_ERR_CONFIG, "Host");
  config.credentials = &no_secret;
  s_assert_sign_fails(&request, &config, OPS_ERR_CREDENTIALS, "secret");
  config = s_config(0);
  config.region = "";
  s_assert_sign_fails(&request, &config, OPS_ERR_CONFIG, "region");
  config = s_config(0);
  config.mode = OPS_SIGV4_MODE_QUERY;
  config.expires = 0;
  s_assert_sign_fails(&request, &config, OPS_ERR_CONFIG, "expire");
  config.expires = OPS_SIGV4_MAX_EXPIRES + 1;
  s_assert_sign_fails(&request, &config, OPS_ERR_CONFIG, "expire");
  config = s_config(0);
  config.time = INT64_MAX;
  s_assert_sign_fails(&request, &config, OPS_ERR_CONFIG, "time");
  request.payload_hash = "";
  config = s_config(0);
  s_assert_sign_fails(&request, &config, OPS_ERR_CONFIG, "payload hash");
  request.payload_hash = NULL;
  request.method = NULL;
  s_assert_sign_fails(&request, &config, OPS_ERR_CONFIG, "method");
}

/* A tiny cache (one set of 4 ways) under churn gives the same signatures as a fresh signer, and a
 * signer that signs the same thing twice gives the same answer from its cache. */
static void s_test_key_cache(void **state)
{
  (void)state;
  struct ops_sigv4_signer *small = NULL, *fresh = NULL;
  assert_int_equal(ops_sigv4_signer_new(&small, 1, NULL), 0);
  struct ops_sigv4_request request = {"GET", "/", NULL, s_host, 1, NULL, 0, NULL};
  struct ops_sigv4_result a = {0}, b = {0};
  static const char *const secrets[] = {"s1", "s2", "s3"};
  static const char *const regions[] = {"us-east-1", "eu-west-1", "ap-south-1"};
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 27; i++) {
      struct ops_sigv4_credentials creds = {"AKID", secrets[i % 3], NULL};
      struct ops_sigv4_config config = s_config(0);
      config.credentials = &creds;
      config.region = regions[(i / 3) % 3];
      config.time += 86400 * (i / 9);
      fresh = s_signer();
      assert_int_equal(ops_sigv4_sign(small, &request, &config, &a, NULL), 0);
      assert_int_equal(ops_sigv4_sign(fresh, &request, &config, &b, NULL), 0);
      assert_string_equal(a.signature, b.signature);
      assert_int_equal(ops_sigv4_sign(fresh, &request, &config, &b, NULL), 0);
      assert_string_equal(a.signature, b.signature);
      ops_sigv4_signer_free(fresh);
    }
  }
  ops_sigv4_result_free(&a);
  ops_sigv4_result_free(&b);
  ops_sigv4_signer_free(small);
}

/* ---- Test discovery ------------------------------------------------------------------------- */

static bool s_is_dir(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool s_is_file(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

struct s_suite {
  struct CMUnitTest *tests;
  size_t count;
  size_t cap;
};

static void s_add_test(struct s_suite *suite, const char *name, CMUnitTestFunction fn,
                       struct s_case *tc)
{
  if (suite->count == suite->cap) {
    suite->cap = suite->cap ? suite->cap * 2 : 64;
    suite->tests = realloc(suite->tests, suite->cap * sizeof(*suite->tests));
    if (!suite->tests)
      abort();
  }
  char *copy = strdup(name);
  if (!copy)
    abort();
  suite->tests[suite->count++] = (struct CMUnitTest){copy, fn, NULL, NULL, tc};
}

static struct s_case *s_new_case(const char *dir, const char *base, enum ops_sigv4_mode mode)
{
  struct s_case *tc = calloc(1, sizeof(*tc));
  if (!tc)
    abort();
  snprintf(tc->dir, sizeof(tc->dir), "%s", dir);
  snprintf(tc->base, sizeof(tc->base), "%s", base);
  tc->mode = mode;
  return tc;
}

static int s_name_order(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted entries of a folder (caller frees each and the array); *count gets their number. */
static char **s_list_dir(const char *path, size_t *count)
{
  DIR *dir = opendir(path);
  char **names = NULL;
  size_t cap = 0;
  *count = 0;
  if (!dir) {
    fprintf(stderr, "test_sigv4: cannot open %s (run from the project root)\n", path);
    exit(1);
  }
  for (struct dirent *entry; (entry = readdir(dir)) != NULL;) {
    if (entry->d_name[0] == '.')
      continue;
    if (*count == cap) {
      cap = cap ? cap * 2 : 64;
      names = realloc(names, cap * sizeof(*names));
      if (!names)
        abort();
    }
    names[(*count)++] = strdup(entry->d_name);
  }
  closedir(dir);
  qsort(names, *count, sizeof(*names), s_name_order);
  return names;
}

static void s_free_list(char **names, size_t count)
{
  for (size_t i = 0; i < count; i++)
    free(names[i]);
  free(names);
}

/* Every v4/ case folder with a request and expectations, once per mode. Two folders upstream hold
 * only context.json and request.txt; they have no expectations to check. */
static void s_add_v4_cases(struct s_suite *suite)
{
  size_t count = 0;
  char **names = s_list_dir(S_FIXTURES "/v4", &count);
  for (size_t i = 0; i < count; i++) {
    char dir[512], file[600], test_name[300];
    snprintf(dir, sizeof(dir), "%s/v4/%s", S_FIXTURES, names[i]);
    snprintf(file, sizeof(file), "%s/header-signature.txt", dir);
    if (!s_is_dir(dir) || !s_is_file(file))
      continue;
    snprintf(test_name, sizeof(test_name), "v4/%s/header", names[i]);
    s_add_test(suite, test_name, s_test_v4, s_new_case(dir, "", OPS_SIGV4_MODE_HEADER));
    snprintf(test_name, sizeof(test_name), "v4/%s/query", names[i]);
    s_add_test(suite, test_name, s_test_v4, s_new_case(dir, "", OPS_SIGV4_MODE_QUERY));
  }
  s_free_list(names, count);
}

/* Every botocore case: a folder holding <folder>.req, at any depth. */
static void s_add_botocore_cases(struct s_suite *suite, const char *dir, const char *label)
{
  size_t count = 0;
  char **names = s_list_dir(dir, &count);
  for (size_t i = 0; i < count; i++) {
    char sub[512], req[700], test_name[300];
    snprintf(sub, sizeof(sub), "%s/%s", dir, names[i]);
    if (!s_is_dir(sub))
      continue;
    snprintf(test_name, sizeof(test_name), "%s/%s", label, names[i]);
    snprintf(req, sizeof(req), "%s/%s.req", sub, names[i]);
    if (s_is_file(req))
      s_add_test(suite, test_name, s_test_botocore,
                 s_new_case(sub, names[i], OPS_SIGV4_MODE_HEADER));
    else
      s_add_botocore_cases(suite, sub, test_name);
  }
  s_free_list(names, count);
}

int main(void)
{
  struct s_suite suite = {0};
  s_add_v4_cases(&suite);
  s_add_botocore_cases(&suite, S_FIXTURES "/botocore-aws4_testsuite", "botocore");
  s_add_test(&suite, "sts/us-east-1", s_test_sts_us_east_1, NULL);
  s_add_test(&suite, "sts/us-west-2", s_test_sts_us_west_2, NULL);
  s_add_test(&suite, "canonical_uri", s_test_canonical_uri, NULL);
  s_add_test(&suite, "canonical_query", s_test_canonical_query, NULL);
  s_add_test(&suite, "canonical_headers", s_test_canonical_headers, NULL);
  s_add_test(&suite, "resign_ignores_generated", s_test_resign_ignores_generated, NULL);
  s_add_test(&suite, "payload_options", s_test_payload_options, NULL);
  s_add_test(&suite, "errors", s_test_errors, NULL);
  s_add_test(&suite, "key_cache", s_test_key_cache, NULL);

  int failed = _cmocka_run_group_tests("sigv4", suite.tests, suite.count, NULL, NULL);
  for (size_t i = 0; i < suite.count; i++) {
    free((char *)suite.tests[i].name);
    free(suite.tests[i].initial_state);
  }
  free(suite.tests);
  return failed;
}
