/* sigv4_json.h: one signing case (request, credentials, configuration) read from a JSON object,
 * the format the differential test's script writes and the benchmark's request file uses.
 * Test support only; uses jansson and runtime/sigv4.h. */
#ifndef OPS_TEST_SIGV4_JSON_H
#define OPS_TEST_SIGV4_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "runtime/sigv4.h"

/* The object's fields: method, path, query, headers ([[name, value], ...]), body (text) or
 * body_hex, payload_hash, access_key_id, secret_access_key, session_token, region, service, time
 * (epoch seconds), mode ("header" or "query"), expires, normalize, content_sha256,
 * omit_session_token. Missing booleans are false. */
struct sigv4_json_case {
  struct ops_sigv4_credentials credentials;
  struct ops_sigv4_request request;
  struct ops_sigv4_config config;
  struct ops_sigv4_pair *headers; /* owned; the strings are borrowed from root */
  unsigned char *body;            /* owned when read from body_hex */
  json_t *root;                   /* a reference held for the strings */
};

/* Fills `out` from `root` (a reference is taken). Returns 0, or -1 with a message in `error`.
 * Release with sigv4_json_case_free either way. */
int sigv4_json_case_load(struct sigv4_json_case *out, json_t *root, char *error, size_t error_size);

void sigv4_json_case_free(struct sigv4_json_case *c);

#endif
