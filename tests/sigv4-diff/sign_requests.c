/* sign_requests.c: the differential test's C side. Reads one JSON case a line on stdin (see
 * sigv4_json.h), signs it with runtime/sigv4 and writes one JSON result a line on stdout:
 * {id, signature, canonical_request, string_to_sign, authorization, headers, query} or {id, error}.
 * One signer serves every line, so its key cache is exercised too. Uses jansson. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "runtime/sigv4.h"
#include "tests/sigv4-diff/sigv4_json.h"

static json_t *s_pairs(const struct ops_sigv4_pair *pairs, size_t count)
{
  json_t *array = json_array();
  for (size_t i = 0; i < count; i++)
    json_array_append_new(array, json_pack("[ss]", pairs[i].name, pairs[i].value));
  return array;
}

/* Signs one case and returns the line to print (owned by the caller). */
static json_t *s_sign_line(struct ops_sigv4_signer *signer, json_t *line,
                           struct ops_sigv4_result *result)
{
  struct sigv4_json_case c;
  struct ops_error err = {0};
  char error[256] = "";
  json_t *out = json_object();
  json_object_set(out, "id", json_object_get(line, "id"));
  if (sigv4_json_case_load(&c, line, error, sizeof(error))) {
    json_object_set_new(out, "error", json_string(error));
  } else if (ops_sigv4_sign(signer, &c.request, &c.config, result, &err)) {
    json_object_set_new(out, "error", json_string(err.message));
  } else {
    json_object_set_new(out, "signature", json_string(result->signature));
    json_object_set_new(out, "canonical_request", json_string(result->canonical_request));
    json_object_set_new(out, "string_to_sign", json_string(result->string_to_sign));
    json_object_set_new(out, "authorization",
                        result->authorization ? json_string(result->authorization) : json_null());
    json_object_set_new(out, "headers", s_pairs(result->headers, result->header_count));
    json_object_set_new(out, "query", s_pairs(result->query, result->query_count));
  }
  sigv4_json_case_free(&c);
  return out;
}

int main(void)
{
  int rc = 1;
  struct ops_sigv4_signer *signer = NULL;
  struct ops_sigv4_result result = {0};
  struct ops_error err = {0};
  char *line = NULL;
  size_t cap = 0;
  if (ops_sigv4_signer_new(&signer, 0, &err)) {
    fprintf(stderr, "sign_requests: %s\n", err.message);
    goto cleanup;
  }
  for (ssize_t len; (len = getline(&line, &cap, stdin)) > 0;) {
    json_error_t error;
    json_t *in = json_loadb(line, (size_t)len, JSON_ALLOW_NUL, &error);
    if (!in) {
      fprintf(stderr, "sign_requests: bad input line: %s\n", error.text);
      goto cleanup;
    }
    json_t *out = s_sign_line(signer, in, &result);
    char *text = json_dumps(out, JSON_COMPACT);
    if (text)
      puts(text);
    free(text);
    json_decref(out);
    json_decref(in);
  }
  rc = 0;

cleanup:
  free(line);
  ops_sigv4_result_free(&result);
  ops_sigv4_signer_free(signer);
  return rc;
}
