/* sigv4_json.c: reads a signing case from a JSON object (see sigv4_json.h) for the differential
 * test's driver and the benchmark. Uses jansson. */
#include "tests/sigv4-diff/sigv4_json.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int s_fail(char *error, size_t error_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int s_fail(char *error, size_t error_size, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(error, error_size, fmt, ap);
  va_end(ap);
  return -1;
}

static const char *s_string(json_t *root, const char *key, const char *fallback)
{
  const char *value = json_string_value(json_object_get(root, key));
  return value ? value : fallback;
}

static int s_load_body(struct sigv4_json_case *c, char *error, size_t error_size)
{
  json_t *text = json_object_get(c->root, "body");
  const char *hex = s_string(c->root, "body_hex", NULL);
  if (json_is_string(text)) {
    c->request.body = json_string_value(text);
    c->request.body_len = json_string_length(text);
    return 0;
  }
  if (!hex)
    return 0;
  size_t len = strlen(hex);
  if (len % 2)
    return s_fail(error, error_size, "body_hex has an odd length");
  c->body = malloc(len / 2 + 1);
  if (!c->body)
    return s_fail(error, error_size, "out of memory");
  for (size_t i = 0; i < len; i += 2) {
    char pair[3] = {hex[i], hex[i + 1], '\0'};
    if (!isxdigit((unsigned char)pair[0]) || !isxdigit((unsigned char)pair[1]))
      return s_fail(error, error_size, "body_hex is not hex");
    c->body[i / 2] = (unsigned char)strtoul(pair, NULL, 16);
  }
  c->request.body = c->body;
  c->request.body_len = len / 2;
  return 0;
}

static int s_load_headers(struct sigv4_json_case *c, char *error, size_t error_size)
{
  json_t *headers = json_object_get(c->root, "headers");
  size_t count = json_array_size(headers);
  c->headers = calloc(count ? count : 1, sizeof(*c->headers));
  if (!c->headers)
    return s_fail(error, error_size, "out of memory");
  for (size_t i = 0; i < count; i++) {
    json_t *pair = json_array_get(headers, i);
    const char *name = json_string_value(json_array_get(pair, 0));
    const char *value = json_string_value(json_array_get(pair, 1));
    if (!name || !value)
      return s_fail(error, error_size, "header %zu is not [name, value]", i);
    c->headers[i] = (struct ops_sigv4_pair){name, value};
  }
  c->request.headers = c->headers;
  c->request.header_count = count;
  return 0;
}

int sigv4_json_case_load(struct sigv4_json_case *out, json_t *root, char *error, size_t error_size)
{
  memset(out, 0, sizeof(*out));
  if (!json_is_object(root))
    return s_fail(error, error_size, "a case must be a JSON object");
  out->root = json_incref(root);
  out->credentials = (struct ops_sigv4_credentials){s_string(root, "access_key_id", NULL),
                                                    s_string(root, "secret_access_key", NULL),
                                                    s_string(root, "session_token", NULL)};
  out->request.method = s_string(root, "method", NULL);
  out->request.path = s_string(root, "path", "");
  out->request.query = s_string(root, "query", NULL);
  out->request.payload_hash = s_string(root, "payload_hash", NULL);
  out->config.credentials = &out->credentials;
  out->config.region = s_string(root, "region", NULL);
  out->config.service = s_string(root, "service", NULL);
  out->config.time = json_integer_value(json_object_get(root, "time"));
  out->config.mode = strcmp(s_string(root, "mode", "header"), "query") == 0 ? OPS_SIGV4_MODE_QUERY
                                                                            : OPS_SIGV4_MODE_HEADER;
  out->config.expires = (unsigned)json_integer_value(json_object_get(root, "expires"));
  if (json_is_true(json_object_get(root, "normalize")))
    out->config.flags |= OPS_SIGV4_NORMALIZE_PATH;
  if (json_is_true(json_object_get(root, "content_sha256")))
    out->config.flags |= OPS_SIGV4_CONTENT_SHA256;
  if (json_is_true(json_object_get(root, "omit_session_token")))
    out->config.flags |= OPS_SIGV4_OMIT_SESSION_TOKEN;
  if (s_load_headers(out, error, error_size))
    return -1;
  return s_load_body(out, error, error_size);
}

void sigv4_json_case_free(struct sigv4_json_case *c)
{
  free(c->headers);
  free(c->body);
  json_decref(c->root);
  memset(c, 0, sizeof(*c));
}
