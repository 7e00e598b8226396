/* fuzz_sigv4.c: runtime/sigv4.h's canonicalisation on arbitrary requests. The input is a flags
 * byte, then lines: method, path, query ("" means none), headers as "name:value" up to an empty
 * line, and the rest is the body. A request is either refused with a message or signed: then the
 * signature is 64 lowercase hex digits, the string to sign and the Authorization header (or the
 * presigned query) carry it, signing again (fresh or into the same result) gives the same
 * signature, ops_sigv4_sign_canonical of the canonical request agrees, and the secret key never
 * appears in anything the signer returns. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/sigv4.h"

#define MAX_HEADERS 24
#define SECRET      "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzFuzzSecretKey"

static struct ops_sigv4_signer *s_signer;

static bool s_contains(const char *haystack, size_t len, const char *needle)
{
  size_t n = strlen(needle);
  for (size_t i = 0; i + n <= len; i++)
    if (memcmp(haystack + i, needle, n) == 0)
      return true;
  return false;
}

static bool s_has_secret(const char *text)
{
  return text && strstr(text, SECRET);
}

static void s_check_result(const struct ops_sigv4_result *r, const struct ops_sigv4_config *c,
                           const char *method, bool secret_in_input)
{
  if (strlen(r->signature) != 64 || strspn(r->signature, "0123456789abcdef") != 64)
    abort();
  if (!r->canonical_request || !r->string_to_sign ||
      strncmp(r->canonical_request, method, strlen(method)) != 0 ||
      r->canonical_request[strlen(method)] != '\n' ||
      strncmp(r->string_to_sign, "AWS4-HMAC-SHA256\n", 17) != 0)
    abort();
  if (c->mode == OPS_SIGV4_MODE_HEADER) {
    const char *sig = r->authorization ? strstr(r->authorization, "Signature=") : NULL;
    if (!sig || strcmp(sig + 10, r->signature) != 0 || r->query_count != 0 || r->header_count < 2 ||
        r->header_count > 4 || strcmp(r->headers[r->header_count - 1].value, r->authorization) != 0)
      abort();
  } else {
    if (r->authorization || r->header_count != 0 || r->query_count < 6 || r->query_count > 7 ||
        strcmp(r->query[r->query_count - 1].name, "X-Amz-Signature") != 0 ||
        strcmp(r->query[r->query_count - 1].value, r->signature) != 0)
      abort();
  }
  if (secret_in_input)
    return;
  if (s_has_secret(r->canonical_request) || s_has_secret(r->string_to_sign) ||
      s_has_secret(r->authorization))
    abort();
  for (size_t i = 0; i < r->header_count; i++)
    if (s_has_secret(r->headers[i].value))
      abort();
  for (size_t i = 0; i < r->query_count; i++)
    if (s_has_secret(r->query[i].value))
      abort();
}

/* The next line of the input (without its '\n'), NUL-terminated in `line`. */
static const char *s_line(const char **at, const char *end, char *line, size_t size)
{
  const char *nl = memchr(*at, '\n', (size_t)(end - *at));
  size_t len = nl ? (size_t)(nl - *at) : (size_t)(end - *at);
  if (len >= size)
    len = size - 1;
  memcpy(line, *at, len);
  line[len] = '\0';
  *at = nl ? nl + 1 : end;
  return line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 3)
    return 0;
  if (!s_signer && ops_sigv4_signer_new(&s_signer, 4, NULL) != OPS_OK)
    abort();
  uint8_t flags = data[0], when = data[1];
  const char *at = (const char *)data + 2, *end = (const char *)data + size;
  bool secret_in_input = s_contains((const char *)data, size, SECRET);

  static char method[64], path[1024], query[1024], lines[MAX_HEADERS][256];
  struct ops_sigv4_pair headers[MAX_HEADERS + 1];
  size_t header_count = 0;
  s_line(&at, end, method, sizeof(method));
  s_line(&at, end, path, sizeof(path));
  s_line(&at, end, query, sizeof(query));
  if (flags & 0x80)
    headers[header_count++] = (struct ops_sigv4_pair){"Host", "example.amazonaws.com"};
  while (at < end && header_count < MAX_HEADERS) {
    char *line = lines[header_count];
    s_line(&at, end, line, sizeof(lines[0]));
    if (!*line)
      break;
    char *colon = strchr(line, ':');
    if (colon)
      *colon = '\0';
    headers[header_count++] = (struct ops_sigv4_pair){line, colon ? colon + 1 : ""};
  }

  struct ops_sigv4_credentials credentials = {"AKIDFUZZEXAMPLE", SECRET,
                                              (flags & 0x10) ? "FwoGZXIvYXdzEFuzzToken/+=" : NULL};
  struct ops_sigv4_request request = {.method = method,
                                      .path = path,
                                      .query = query[0] ? query : NULL,
                                      .headers = headers,
                                      .header_count = header_count,
                                      .body = end > at ? at : NULL,
                                      .body_len = (size_t)(end - at),
                                      .payload_hash = (flags & 0x20) ? "UNSIGNED-PAYLOAD" : NULL};
  struct ops_sigv4_config config = {.credentials = &credentials,
                                    .region = (flags & 0x40) ? "eu-west-1" : "us-east-1",
                                    .service = "execute-api",
                                    .time = 1700000000 + (int64_t)when * 86400 / 7,
                                    .mode =
                                        (flags & 1) ? OPS_SIGV4_MODE_QUERY : OPS_SIGV4_MODE_HEADER,
                                    .flags = (flags >> 1) & 7,
                                    .expires = (flags & 1) ? 1u + when * 100u : 0};
  struct ops_sigv4_result first = {0}, again = {0};
  struct ops_error err = {0};
  int rc = ops_sigv4_sign(s_signer, &request, &config, &first, &err);
  if (rc != OPS_OK) {
    if (rc != err.kind || !err.message[0] || first.canonical_request || first.authorization)
      abort();
    ops_sigv4_result_free(&first);
    return 0;
  }
  s_check_result(&first, &config, method, secret_in_input);
  char signature[65];
  memcpy(signature, first.signature, sizeof(signature));
  if (ops_sigv4_sign(s_signer, &request, &config, &again, NULL) != OPS_OK ||
      strcmp(again.signature, signature) != 0)
    abort();
  /* into the same result, whose storage is reused */
  if (ops_sigv4_sign(s_signer, &request, &config, &first, NULL) != OPS_OK ||
      strcmp(first.signature, signature) != 0)
    abort();
  s_check_result(&first, &config, method, secret_in_input);
  /* the last three steps alone, on the canonical request the full signer made */
  struct ops_sigv4_result steps = {0};
  if (ops_sigv4_sign_canonical(s_signer, again.canonical_request, strlen(again.canonical_request),
                               &config, &steps, NULL) != OPS_OK ||
      strcmp(steps.signature, signature) != 0 ||
      strcmp(steps.string_to_sign, again.string_to_sign) != 0)
    abort();
  ops_sigv4_result_free(&steps);
  ops_sigv4_result_free(&again);
  ops_sigv4_result_free(&first);
  return 0;
}
