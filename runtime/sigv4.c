/* sigv4.c: AWS Signature Version 4 signing, one function per documented step (canonical URI,
 * query, headers, request, string to sign, signing key, signature), plus a set-associative cache
 * of signing keys. Uses OpenSSL 3 EVP digests and EVP_MAC HMAC; see runtime/sigv4.h. */
#include "runtime/sigv4.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "runtime/buffer.h"

#define S_ALGORITHM       "AWS4-HMAC-SHA256"
#define S_TERMINATOR      "aws4_request"
#define S_HASH_HEX_LEN    64
#define S_AMZ_DATE_LEN    16 /* 20150830T123600Z */
#define S_DATE_LEN        8  /* 20150830 */
#define S_KEY_CACHE_WAYS  4
#define S_DEFAULT_ENTRIES 64

/* The whitespace collapsed in header values: HTTP's SP and HTAB, and the CR and LF left by
 * folded (multi-line) values. */
#define S_HEADER_SPACE " \t\r\n"

/* Room for ";x-amz-date;x-amz-security-token;x-amz-content-sha256" (53 bytes): the names the
 * signer may add to the signed headers list. */
#define S_GENERATED_NAMES_LEN 54

/* A slice of bytes, not NUL-terminated. */
struct s_span {
  const char *ptr;
  size_t len;
};

/* A write cursor into space reserved beforehand: the bounds are computed, then appends are
 * unchecked (asserted), which keeps the per-character loops free of capacity tests. */
struct s_out {
  char *p;
  char *end;
};

/* One header to sign: its lower-cased name (in the signer's work buffer) and raw value, which is
 * always a C string (value[value_len] is its NUL). */
struct s_header {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
  size_t index; /* position in the request, so repeated headers keep their order */
};

/* One query parameter, key and value already URI-encoded (in the signer's work buffer). */
struct s_param {
  const char *key;
  size_t key_len;
  const char *value;
  size_t value_len;
};

/* A derived signing key for one (secret, date, region, service), held as an HMAC context keyed
 * with it. The identity strings are kept to tell a fingerprint collision from a hit. */
struct s_key_entry {
  uint64_t fingerprint;
  uint64_t last_use; /* 0: empty */
  char date[S_DATE_LEN];
  char *ident; /* secret, region and service back to back; wiped before it is freed */
  size_t secret_len;
  size_t region_len;
  size_t service_len;
  EVP_MAC_CTX *mac;
};

struct ops_sigv4_signer {
  EVP_MD *sha256;
  EVP_MAC *hmac;
  EVP_MD_CTX *md;
  /* Secret (it holds the encoded session token in query mode): lower-cased header names, encoded
   * query parameters, signed headers. */
  struct ops_buffer work;
  struct s_header *headers;
  size_t headers_cap;
  struct s_param *params;
  size_t params_cap;
  struct s_key_entry *keys;
  size_t key_sets; /* keys holds key_sets * S_KEY_CACHE_WAYS entries */
  uint64_t use_clock;
  int64_t amz_date_time; /* the time amz_date was formatted for */
  char amz_date[S_AMZ_DATE_LEN + 1];
};

/* What one signature needs besides the request: formatted time and scope. */
struct s_scope {
  const char *amz_date; /* S_AMZ_DATE_LEN chars */
  struct s_span text;   /* date/region/service/aws4_request, in the signer's work buffer */
};

static const char s_hex_lower[] = "0123456789abcdef";
static const char s_hex_upper[] = "0123456789ABCDEF";

static bool s_is_unreserved(unsigned char c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

static int s_hex_value(unsigned char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static void s_put(struct s_out *out, const char *src, size_t len)
{
  assert((size_t)(out->end - out->p) >= len);
  memcpy(out->p, src, len);
  out->p += len;
}

static void s_put_char(struct s_out *out, char c)
{
  assert(out->p < out->end);
  *out->p++ = c;
}

static void s_put_str(struct s_out *out, const char *src)
{
  s_put(out, src, strlen(src));
}

/* URI-encodes one byte as SigV4 wants: unreserved bytes as they are, others as %XX uppercase. */
static void s_put_encoded_byte(struct s_out *out, unsigned char c)
{
  if (s_is_unreserved(c)) {
    s_put_char(out, (char)c);
    return;
  }
  s_put_char(out, '%');
  s_put_char(out, s_hex_upper[c >> 4]);
  s_put_char(out, s_hex_upper[c & 15]);
}

static void s_put_encoded(struct s_out *out, const char *src, size_t len)
{
  for (size_t i = 0; i < len; i++)
    s_put_encoded_byte(out, (unsigned char)src[i]);
}

static void s_put_hex(struct s_out *out, const unsigned char *bytes, size_t len)
{
  for (size_t i = 0; i < len; i++) {
    s_put_char(out, s_hex_lower[bytes[i] >> 4]);
    s_put_char(out, s_hex_lower[bytes[i] & 15]);
  }
}

/* Writes `value` (0 <= value < 10^width) as `width` decimal digits. */
static void s_put_digits(struct s_out *out, int value, int width)
{
  assert(out->end - out->p >= width);
  for (int i = width - 1; i >= 0; i--, value /= 10)
    out->p[i] = (char)('0' + value % 10);
  out->p += width;
}

/* The cursor over the free space of a buffer reserved beforehand (its NUL's byte left out). */
static struct s_out s_buf_cursor(struct ops_buffer *buf)
{
  return (struct s_out){buf->data + buf->len, buf->data + buf->capacity - 1};
}

/* Grows `*array` (of `size`-byte items) to hold `count` items. */
static int s_array_reserve(void **array, size_t *cap, size_t count, size_t size,
                           struct ops_error *err)
{
  if (*cap >= count)
    return OPS_OK;
  size_t new_cap = count < 16 ? 16 : count * 2;
  void *grown = realloc(*array, new_cap * size);
  if (!grown)
    return ops_error_set(err, OPS_ERR_NOMEM, "sigv4: out of memory (%zu items)", new_cap);
  *array = grown;
  *cap = new_cap;
  return OPS_OK;
}

static bool s_ieq(const char *a, size_t a_len, const char *b)
{
  size_t b_len = strlen(b);
  if (a_len != b_len)
    return false;
  for (size_t i = 0; i < a_len; i++) {
    unsigned char c = (unsigned char)a[i];
    if (c >= 'A' && c <= 'Z')
      c = (unsigned char)(c - 'A' + 'a');
    if (c != (unsigned char)b[i])
      return false;
  }
  return true;
}

static int s_span_compare(const char *a, size_t a_len, const char *b, size_t b_len)
{
  int order = memcmp(a, b, a_len < b_len ? a_len : b_len);
  if (order)
    return order;
  return (a_len > b_len) - (a_len < b_len);
}

static int s_header_order(const void *left, const void *right)
{
  const struct s_header *a = left, *b = right;
  int order = s_span_compare(a->name, a->name_len, b->name, b->name_len);
  if (order)
    return order;
  return (a->index > b->index) - (a->index < b->index);
}

static int s_param_order(const void *left, const void *right)
{
  const struct s_param *a = left, *b = right;
  int order = s_span_compare(a->key, a->key_len, b->key, b->key_len);
  if (order)
    return order;
  return s_span_compare(a->value, a->value_len, b->value, b->value_len);
}

/* Formats X-Amz-Date (YYYYMMDDTHHMMSSZ) for `time`, reusing the last one for the same second. */
static int s_amz_date(struct ops_sigv4_signer *signer, int64_t time, struct ops_error *err)
{
  if (signer->amz_date[0] && signer->amz_date_time == time)
    return OPS_OK;
  time_t seconds = (time_t)time;
  struct tm tm;
  if ((int64_t)seconds != time || !gmtime_r(&seconds, &tm) || tm.tm_year < -1900 ||
      tm.tm_year > 9999 - 1900)
    return ops_error_set(err, OPS_ERR_CONFIG, "sigv4: signing time %lld is out of range",
                         (long long)time);
  struct s_out out = {signer->amz_date, signer->amz_date + S_AMZ_DATE_LEN};
  s_put_digits(&out, tm.tm_year + 1900, 4);
  s_put_digits(&out, tm.tm_mon + 1, 2);
  s_put_digits(&out, tm.tm_mday, 2);
  s_put_char(&out, 'T');
  s_put_digits(&out, tm.tm_hour, 2);
  s_put_digits(&out, tm.tm_min, 2);
  s_put_digits(&out, tm.tm_sec, 2);
  s_put_char(&out, 'Z');
  signer->amz_date[S_AMZ_DATE_LEN] = '\0';
  signer->amz_date_time = time;
  return OPS_OK;
}

static bool s_has_text(const char *s)
{
  return s && s[0];
}

static int s_check_config(const struct ops_sigv4_config *config, struct ops_error *err)
{
  if (!config || !config->credentials)
    return ops_error_set(err, OPS_ERR_CONFIG, "sigv4: no signing configuration or credentials");
  if (!s_has_text(config->credentials->access_key_id) ||
      !s_has_text(config->credentials->secret_access_key))
    return ops_error_set(err, OPS_ERR_CREDENTIALS,
                         "sigv4: the credentials have no access key id or no secret access key");
  if (!s_has_text(config->region) || !s_has_text(config->service))
    return ops_error_set(err, OPS_ERR_CONFIG, "sigv4: a region and a service name are required");
  if (config->mode != OPS_SIGV4_MODE_HEADER && config->mode != OPS_SIGV4_MODE_QUERY)
    return ops_error_set(err, OPS_ERR_CONFIG, "sigv4: unknown signing mode %d", (int)config->mode);
  if (config->mode == OPS_SIGV4_MODE_QUERY &&
      (config->expires < 1 || config->expires > OPS_SIGV4_MAX_EXPIRES))
    return ops_error_set(err, OPS_ERR_CONFIG,
                         "sigv4: a presigned URL must expire in 1 to %d seconds, not %u",
                         OPS_SIGV4_MAX_EXPIRES, config->expires);
  return OPS_OK;
}

/* Formats the time and writes the credential scope (date/region/service/aws4_request) into the
 * work buffer, which s_prepare made room for. */
static int s_scope(struct ops_sigv4_signer *signer, const struct ops_sigv4_config *config,
                   struct s_scope *scope, struct ops_error *err)
{
  int rc = s_amz_date(signer, config->time, err);
  if (rc)
    return rc;
  size_t region_len = strlen(config->region), service_len = strlen(config->service);
  size_t len = S_DATE_LEN + 1 + region_len + 1 + service_len + 1 + strlen(S_TERMINATOR);
  struct s_out out = s_buf_cursor(&signer->work);
  s_put(&out, signer->amz_date, S_DATE_LEN);
  s_put_char(&out, '/');
  s_put(&out, config->region, region_len);
  s_put_char(&out, '/');
  s_put(&out, config->service, service_len);
  s_put_char(&out, '/');
  s_put_str(&out, S_TERMINATOR);
  scope->amz_date = signer->amz_date;
  scope->text = (struct s_span){signer->work.data + signer->work.len, len};
  signer->work.len += len;
  return OPS_OK;
}

/* ---- Signing key cache ---------------------------------------------------------------------- */

static uint64_t s_fnv1a(uint64_t hash, const char *bytes, size_t len)
{
  for (size_t i = 0; i < len; i++) {
    hash ^= (unsigned char)bytes[i];
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

static bool s_entry_matches(const struct s_key_entry *entry, uint64_t fingerprint,
                            const struct s_span *secret, const char *date,
                            const struct s_span *region, const struct s_span *service)
{
  return entry->last_use && entry->fingerprint == fingerprint &&
         memcmp(entry->date, date, S_DATE_LEN) == 0 && entry->secret_len == secret->len &&
         entry->region_len == region->len && entry->service_len == service->len &&
         memcmp(entry->ident, secret->ptr, secret->len) == 0 &&
         memcmp(entry->ident + secret->len, region->ptr, region->len) == 0 &&
         memcmp(entry->ident + secret->len + region->len, service->ptr, service->len) == 0;
}

static void s_entry_clear(struct s_key_entry *entry)
{
  if (entry->ident)
    OPENSSL_clear_free(entry->ident, entry->secret_len + entry->region_len + entry->service_len);
  entry->ident = NULL;
  entry->last_use = 0;
}

/* One HMAC-SHA256 step of the key derivation: out = HMAC(key, data), keyed afresh. */
static int s_hmac_step(EVP_MAC_CTX *mac, const unsigned char *key, size_t key_len, const char *data,
                       size_t data_len, unsigned char out[32])
{
  size_t out_len = 0;
  if (!EVP_MAC_init(mac, key, key_len, NULL) ||
      !EVP_MAC_update(mac, (const unsigned char *)data, data_len) ||
      !EVP_MAC_final(mac, out, &out_len, 32) || out_len != 32)
    return -1;
  return 0;
}

/* Derives the signing key (AWS step "calculate the signature", part 1):
 * kDate = HMAC("AWS4" + secret, date), kRegion, kService, kSigning = HMAC(kService,
 * "aws4_request"), and leaves entry->mac keyed with kSigning. Intermediates are wiped. */
static int s_derive_signing_key(struct ops_sigv4_signer *signer, struct s_key_entry *entry,
                                const struct s_span *secret, const char *date,
                                const struct s_span *region, const struct s_span *service,
                                struct ops_error *err)
{
  int rc = OPS_OK;
  unsigned char key[32] = {0};
  size_t first_len = 4 + secret->len;
  unsigned char *first = malloc(first_len);
  if (!first) {
    rc = ops_error_set(err, OPS_ERR_NOMEM, "sigv4: out of memory deriving a signing key");
    goto cleanup;
  }
  memcpy(first, "AWS4", 4);
  memcpy(first + 4, secret->ptr, secret->len);
  if (!entry->mac) {
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    entry->mac = EVP_MAC_CTX_new(signer->hmac);
    if (!entry->mac || !EVP_MAC_CTX_set_params(entry->mac, params)) {
      rc = ops_error_set(err, OPS_ERR_NOMEM, "sigv4: cannot create an HMAC-SHA256 context");
      goto cleanup;
    }
  }
  if (s_hmac_step(entry->mac, first, first_len, date, S_DATE_LEN, key) ||
      s_hmac_step(entry->mac, key, sizeof(key), region->ptr, region->len, key) ||
      s_hmac_step(entry->mac, key, sizeof(key), service->ptr, service->len, key) ||
      s_hmac_step(entry->mac, key, sizeof(key), S_TERMINATOR, strlen(S_TERMINATOR), key) ||
      !EVP_MAC_init(entry->mac, key, sizeof(key), NULL)) {
    rc = ops_error_set(err, OPS_ERR_NOMEM, "sigv4: HMAC-SHA256 failed deriving a signing key");
    goto cleanup;
  }

cleanup:
  OPENSSL_cleanse(key, sizeof(key));
  if (first)
    OPENSSL_clear_free(first, first_len);
  return rc;
}

/* Finds or derives the signing key for the secret, date, region and service. On a miss the
 * least recently used of the set's ways is replaced. */
static int s_signing_key(struct ops_sigv4_signer *signer, const struct ops_sigv4_config *config,
                         const char *date, struct s_key_entry **found, struct ops_error *err)
{
  struct s_span secret = {config->credentials->secret_access_key,
                          strlen(config->credentials->secret_access_key)};
  struct s_span region = {config->region, strlen(config->region)};
  struct s_span service = {config->service, strlen(config->service)};
  uint64_t fingerprint = 0xcbf29ce484222325ULL;
  fingerprint = s_fnv1a(fingerprint, secret.ptr, secret.len);
  fingerprint = s_fnv1a(fingerprint, date, S_DATE_LEN);
  fingerprint = s_fnv1a(fingerprint, region.ptr, region.len + 1); /* the NUL separates fields */
  fingerprint = s_fnv1a(fingerprint, service.ptr, service.len);

  struct s_key_entry *set = signer->keys + (fingerprint % signer->key_sets) * S_KEY_CACHE_WAYS;
  struct s_key_entry *victim = set;
  for (size_t way = 0; way < S_KEY_CACHE_WAYS; way++) {
    struct s_key_entry *entry = set + way;
    if (s_entry_matches(entry, fingerprint, &secret, date, &region, &service)) {
      entry->last_use = ++signer->use_clock;
      *found = entry;
      return OPS_OK;
    }
    if (entry->last_use < victim->last_use)
      victim = entry;
  }

  s_entry_clear(victim);
  size_t ident_len = secret.len + region.len + service.len;
  victim->ident = malloc(ident_len ? ident_len : 1);
  if (!victim->ident)
    return ops_error_set(err, OPS_ERR_NOMEM, "sigv4: out of memory caching a signing key");
  memcpy(victim->ident, secret.ptr, secret.len);
  memcpy(victim->ident + secret.len, region.ptr, region.len);
  memcpy(victim->ident + secret.len + region.len, service.ptr, service.len);
  victim->secret_len = secret.len;
  victim->region_len = region.len;
  victim->service_len = service.len;
  memcpy(victim->date, date, S_DATE_LEN);
  victim->fingerprint = fingerprint;
  int rc = s_derive_signing_key(signer, victim, &secret, date, &region, &service, err);
  if (rc) {
    s_entry_clear(victim);
    return rc;
  }
  victim->last_use = ++signer->use_clock;
  *found = victim;
  return OPS_OK;
}

/* ---- Canonical request ---------------------------------------------------------------------- */

/* Canonical URI (step 1b). With `normalize`, "." and empty segments are dropped and ".." removes
 * the segment before it; a trailing '/' is kept when any segment is left. Each byte but the
 * unreserved ones and '/' is then percent-encoded. Writes at most 3 * strlen(path) + 2 bytes. */
static void s_canonical_uri(struct s_out *out, const char *path, bool normalize)
{
  size_t len = strlen(path);
  if (len == 0) {
    s_put_char(out, '/');
    return;
  }
  if (!normalize) {
    for (size_t i = 0; i < len; i++) {
      if (path[i] == '/')
        s_put_char(out, '/');
      else
        s_put_encoded_byte(out, (unsigned char)path[i]);
    }
    return;
  }

  char *start = out->p;
  bool rooted = path[0] == '/';
  if (rooted)
    s_put_char(out, '/');
  char *first_segment = out->p;
  size_t segments = 0;
  for (size_t i = 0; i < len;) {
    size_t end = i;
    while (end < len && path[end] != '/')
      end++;
    size_t seg_len = end - i;
    const char *seg = path + i;
    i = end + 1;
    if (seg_len == 0 || (seg_len == 1 && seg[0] == '.'))
      continue;
    if (seg_len == 2 && seg[0] == '.' && seg[1] == '.') {
      if (segments == 0)
        continue;
      /* Back up over the last segment and the '/' that joined it. */
      char *p = out->p;
      while (p > first_segment && p[-1] != '/')
        p--;
      out->p = (--segments == 0) ? first_segment : p - 1;
      continue;
    }
    if (segments++ > 0)
      s_put_char(out, '/');
    s_put_encoded(out, seg, seg_len);
  }
  if (segments > 0 && path[len - 1] == '/')
    s_put_char(out, '/');
  if (out->p == start)
    s_put_char(out, '/');
}

/* Decodes %XX escapes (a '%' not followed by two hex digits stays literal; '+' is literal, as in
 * any URI) and re-encodes with the unreserved set, so "%E1%88%B4" and raw UTF-8 read the same. */
static void s_reencode(struct s_out *out, const char *src, size_t len)
{
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)src[i];
    if (c == '%' && i + 2 < len) {
      int hi = s_hex_value((unsigned char)src[i + 1]), lo = s_hex_value((unsigned char)src[i + 2]);
      if (hi >= 0 && lo >= 0) {
        c = (unsigned char)(hi << 4 | lo);
        i += 2;
      }
    }
    s_put_encoded_byte(out, c);
  }
}

/* Whether a query key (as given, not decoded) is one of the parameters query mode generates. Those
 * are ignored in the request, so a presigned URL can be signed again. */
static bool s_is_generated_param(const char *key, size_t len, bool with_token)
{
  static const char *const names[] = {"X-Amz-Algorithm", "X-Amz-Credential",    "X-Amz-Date",
                                      "X-Amz-Expires",   "X-Amz-SignedHeaders", "X-Amz-Signature"};
  if (len < 6 || memcmp(key, "X-Amz-", 6) != 0)
    return false;
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (strlen(names[i]) == len && memcmp(names[i], key, len) == 0)
      return true;
  return with_token && len == 20 && memcmp(key, "X-Amz-Security-Token", 20) == 0;
}

static int s_push_param(struct ops_sigv4_signer *signer, size_t *count, struct s_param param,
                        struct ops_error *err)
{
  int rc = s_array_reserve((void **)&signer->params, &signer->params_cap, *count + 1,
                           sizeof(*signer->params), err);
  if (rc)
    return rc;
  signer->params[(*count)++] = param;
  return OPS_OK;
}

/* Appends `src` encoded (or decoded and re-encoded) to the work buffer. */
static struct s_span s_work_encoded(struct ops_sigv4_signer *signer, const char *src, size_t len,
                                    bool decode_first)
{
  struct s_out out = s_buf_cursor(&signer->work);
  char *start = out.p;
  if (decode_first)
    s_reencode(&out, src, len);
  else
    s_put_encoded(&out, src, len);
  signer->work.len += (size_t)(out.p - start);
  return (struct s_span){start, (size_t)(out.p - start)};
}

/* Collects the request's query parameters (step 1c): split on '&', empty parts dropped, key and
 * value split at the first '=' (none: empty value), each decoded and re-encoded into the work
 * buffer. */
static int s_collect_query(struct ops_sigv4_signer *signer, const char *query, bool query_mode,
                           bool with_token, size_t *count, struct ops_error *err)
{
  for (const char *part = query; *part;) {
    const char *end = strchr(part, '&');
    size_t part_len = end ? (size_t)(end - part) : strlen(part);
    const char *next = end ? end + 1 : part + part_len;
    if (part_len > 0) {
      const char *eq = memchr(part, '=', part_len);
      size_t key_len = eq ? (size_t)(eq - part) : part_len;
      const char *value = eq ? eq + 1 : part + part_len;
      size_t value_len = part_len - key_len - (eq ? 1 : 0);
      size_t mark = signer->work.len;
      struct s_span key = s_work_encoded(signer, part, key_len, true);
      if (query_mode && s_is_generated_param(part, key_len, with_token)) {
        signer->work.len = mark;
      } else {
        struct s_span val = s_work_encoded(signer, value, value_len, true);
        int rc =
            s_push_param(signer, count, (struct s_param){key.ptr, key.len, val.ptr, val.len}, err);
        if (rc)
          return rc;
      }
    }
    part = next;
  }
  return OPS_OK;
}

/* Lower-cases a header name into the work buffer. */
static struct s_span s_work_lower(struct ops_sigv4_signer *signer, const char *name, size_t len)
{
  char *start = signer->work.data + signer->work.len;
  for (size_t i = 0; i < len; i++) {
    char c = name[i];
    start[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
  }
  signer->work.len += len;
  return (struct s_span){start, len};
}

/* Canonical header value: trimmed, inner whitespace runs (newlines included) collapsed to one
 * space. The value ends with a NUL at `len` (see struct s_header), so the C library's vectorised
 * span functions can find the runs: a session token is a thousand bytes. Writes at most `len`. */
static void s_put_header_value(struct s_out *out, const char *value, size_t len)
{
  const char *p = value, *end = value + len;
  assert(*end == '\0');
  for (bool first = true;; first = false) {
    p += strspn(p, S_HEADER_SPACE);
    if (p >= end)
      break;
    size_t word = strcspn(p, S_HEADER_SPACE);
    if (!first)
      s_put_char(out, ' ');
    s_put(out, p, word);
    p += word;
  }
}

/* Everything one call computes on its way to the result. */
struct s_signing {
  const struct ops_sigv4_request *request;
  const struct ops_sigv4_config *config;
  struct s_scope scope;
  bool query_mode;
  bool token;        /* the credentials carry a session token */
  bool sign_token;   /* ... and it is part of the canonical request */
  bool content_hash; /* x-amz-content-sha256 is added */
  char payload_hex[S_HASH_HEX_LEN + 1];
  struct s_span payload_hash;
  size_t header_count; /* entries in signer->headers, sorted */
  size_t param_count;  /* entries in signer->params, sorted */
  struct s_span signed_headers;
  struct s_span credential_encoded, signed_headers_encoded, token_encoded;
  char expires[12];
};

static int s_payload_hash(struct ops_sigv4_signer *signer, struct s_signing *s,
                          struct ops_error *err)
{
  const struct ops_sigv4_request *request = s->request;
  if (request->payload_hash) {
    if (!request->payload_hash[0])
      return ops_error_set(err, OPS_ERR_CONFIG, "sigv4: the payload hash given is empty");
    s->payload_hash = (struct s_span){request->payload_hash, strlen(request->payload_hash)};
    return OPS_OK;
  }
  unsigned char digest[32];
  unsigned int digest_len = 0;
  if (!EVP_DigestInit_ex2(signer->md, signer->sha256, NULL) ||
      !EVP_DigestUpdate(signer->md, request->body ? request->body : "", request->body_len) ||
      !EVP_DigestFinal_ex(signer->md, digest, &digest_len))
    return ops_error_set(err, OPS_ERR_NOMEM, "sigv4: SHA-256 of the body failed");
  struct s_out out = {s->payload_hex, s->payload_hex + S_HASH_HEX_LEN};
  s_put_hex(&out, digest, sizeof(digest));
  s->payload_hex[S_HASH_HEX_LEN] = '\0';
  s->payload_hash = (struct s_span){s->payload_hex, S_HASH_HEX_LEN};
  return OPS_OK;
}

static void s_add_header(struct ops_sigv4_signer *signer, struct s_signing *s, const char *name,
                         const char *value, size_t value_len)
{
  signer->headers[s->header_count] =
      (struct s_header){name, strlen(name), value, value_len, s->header_count};
  s->header_count++;
}

/* Collects the headers to sign (step 1d): request headers with lower-cased names, less the
 * generated ones, plus the generated ones that are signed; sorted by name, then position. */
static int s_collect_headers(struct ops_sigv4_signer *signer, struct s_signing *s,
                             struct ops_error *err)
{
  const struct ops_sigv4_request *request = s->request;
  int rc = s_array_reserve((void **)&signer->headers, &signer->headers_cap,
                           request->header_count + 3, sizeof(*signer->headers), err);
  if (rc)
    return rc;
  bool host = false;
  for (size_t i = 0; i < request->header_count; i++) {
    const struct ops_sigv4_pair *header = &request->headers[i];
    struct s_span name = s_work_lower(signer, header->name, strlen(header->name));
    if (s_ieq(name.ptr, name.len, "authorization") || s_ieq(name.ptr, name.len, "x-amz-date") ||
        (s->token && s_ieq(name.ptr, name.len, "x-amz-security-token")) ||
        (s->content_hash && s_ieq(name.ptr, name.len, "x-amz-content-sha256"))) {
      signer->work.len -= name.len;
      continue;
    }
    if (name.len == 0)
      return ops_error_set(err, OPS_ERR_CONFIG, "sigv4: header %zu has an empty name", i);
    host = host || s_ieq(name.ptr, name.len, "host");
    signer->headers[s->header_count] = (struct s_header){name.ptr, name.len, header->value,
                                                         strlen(header->value), s->header_count};
    s->header_count++;
  }
  if (!host)
    return ops_error_set(err, OPS_ERR_CONFIG,
                         "sigv4: the request has no Host header, which SigV4 must sign");

  if (!s->query_mode)
    s_add_header(signer, s, "x-amz-date", s->scope.amz_date, S_AMZ_DATE_LEN);
  if (s->sign_token && !s->query_mode) {
    const char *token = s->config->credentials->session_token;
    s_add_header(signer, s, "x-amz-security-token", token, strlen(token));
  }
  if (s->content_hash)
    s_add_header(signer, s, "x-amz-content-sha256", s->payload_hash.ptr, s->payload_hash.len);

  qsort(signer->headers, s->header_count, sizeof(*signer->headers), s_header_order);
  return OPS_OK;
}

/* The signed headers list (step 1e): the distinct sorted names joined with ';'. */
static void s_signed_headers(struct ops_sigv4_signer *signer, struct s_signing *s)
{
  struct s_out out = s_buf_cursor(&signer->work);
  char *start = out.p;
  for (size_t i = 0; i < s->header_count; i++) {
    const struct s_header *h = &signer->headers[i];
    if (i > 0 && s_span_compare(h->name, h->name_len, h[-1].name, h[-1].name_len) == 0)
      continue;
    if (out.p != start)
      s_put_char(&out, ';');
    s_put(&out, h->name, h->name_len);
  }
  s->signed_headers = (struct s_span){start, (size_t)(out.p - start)};
  signer->work.len += s->signed_headers.len;
}

/* Query mode's authentication parameters (X-Amz-Algorithm, -Credential, -Date, -Expires,
 * -SignedHeaders and, when signed, -Security-Token), encoded into the work buffer. */
static int s_add_auth_params(struct ops_sigv4_signer *signer, struct s_signing *s,
                             struct ops_error *err)
{
  int rc = OPS_OK;
  const struct ops_sigv4_config *config = s->config;
  const char *akid = config->credentials->access_key_id;
  const char *token = s->token ? config->credentials->session_token : "";
  struct s_out out = s_buf_cursor(&signer->work);
  char *start = out.p;
  s_put_encoded(&out, akid, strlen(akid));
  s_put_str(&out, "%2F");
  s_put_encoded(&out, s->scope.text.ptr, s->scope.text.len);
  s->credential_encoded = (struct s_span){start, (size_t)(out.p - start)};
  signer->work.len += s->credential_encoded.len;
  s->signed_headers_encoded =
      s_work_encoded(signer, s->signed_headers.ptr, s->signed_headers.len, false);
  s->token_encoded = s_work_encoded(signer, token, strlen(token), false);
  int n = snprintf(s->expires, sizeof(s->expires), "%u", config->expires);
  const struct s_param generated[] = {
      {"X-Amz-Algorithm", 15, S_ALGORITHM, strlen(S_ALGORITHM)},
      {"X-Amz-Credential", 16, s->credential_encoded.ptr, s->credential_encoded.len},
      {"X-Amz-Date", 10, s->scope.amz_date, S_AMZ_DATE_LEN},
      {"X-Amz-Expires", 13, s->expires, (size_t)n},
      {"X-Amz-SignedHeaders", 19, s->signed_headers_encoded.ptr, s->signed_headers_encoded.len},
      {"X-Amz-Security-Token", 20, s->token_encoded.ptr, s->token_encoded.len},
  };
  size_t generated_count = s->sign_token ? 6 : 5;
  for (size_t i = 0; i < generated_count && rc == OPS_OK; i++)
    rc = s_push_param(signer, &s->param_count, generated[i], err);
  return rc;
}

/* The query parameters of the canonical request (step 1c): the request's, plus in query mode the
 * authentication parameters; sorted by encoded key, then encoded value. */
static int s_collect_params(struct ops_sigv4_signer *signer, struct s_signing *s,
                            struct ops_error *err)
{
  const char *query = s->request->query ? s->request->query : "";
  int rc = s_collect_query(signer, query, s->query_mode, s->token, &s->param_count, err);
  if (!rc && s->query_mode)
    rc = s_add_auth_params(signer, s, err);
  if (rc)
    return rc;
  if (s->param_count > 1)
    qsort(signer->params, s->param_count, sizeof(*signer->params), s_param_order);
  return OPS_OK;
}

static size_t s_canonical_request_bound(const struct ops_sigv4_signer *signer,
                                        const struct s_signing *s)
{
  size_t bound = strlen(s->request->method) + 1;
  bound += 3 * strlen(s->request->path ? s->request->path : "") + 2 + 1;
  for (size_t i = 0; i < s->param_count; i++)
    bound += signer->params[i].key_len + 1 + signer->params[i].value_len + 1;
  bound += 1;
  for (size_t i = 0; i < s->header_count; i++)
    bound += signer->headers[i].name_len + 1 + signer->headers[i].value_len + 1;
  bound += 1 + s->signed_headers.len + 1 + s->payload_hash.len + 1;
  return bound;
}

/* The canonical request (step 1): method, URI, query, headers, signed headers, payload hash. */
static void s_canonical_request(const struct ops_sigv4_signer *signer, const struct s_signing *s,
                                struct s_out *out)
{
  s_put_str(out, s->request->method);
  s_put_char(out, '\n');
  s_canonical_uri(out, s->request->path ? s->request->path : "",
                  (s->config->flags & OPS_SIGV4_NORMALIZE_PATH) != 0);
  s_put_char(out, '\n');
  for (size_t i = 0; i < s->param_count; i++) {
    const struct s_param *p = &signer->params[i];
    if (i > 0)
      s_put_char(out, '&');
    s_put(out, p->key, p->key_len);
    s_put_char(out, '=');
    s_put(out, p->value, p->value_len);
  }
  s_put_char(out, '\n');
  for (size_t i = 0; i < s->header_count; i++) {
    const struct s_header *h = &signer->headers[i];
    bool repeat = i > 0 && s_span_compare(h->name, h->name_len, h[-1].name, h[-1].name_len) == 0;
    if (repeat) {
      s_put_char(out, ',');
    } else {
      if (i > 0)
        s_put_char(out, '\n');
      s_put(out, h->name, h->name_len);
      s_put_char(out, ':');
    }
    s_put_header_value(out, h->value, h->value_len);
  }
  if (s->header_count > 0)
    s_put_char(out, '\n');
  s_put_char(out, '\n');
  s_put(out, s->signed_headers.ptr, s->signed_headers.len);
  s_put_char(out, '\n');
  s_put(out, s->payload_hash.ptr, s->payload_hash.len);
}

/* ---- String to sign and signature ---------------------------------------------------------- */

static size_t s_string_to_sign_len(const struct s_scope *scope)
{
  return strlen(S_ALGORITHM) + 1 + S_AMZ_DATE_LEN + 1 + scope->text.len + 1 + S_HASH_HEX_LEN;
}

/* The string to sign (step 2): algorithm, time, scope, hex SHA-256 of the canonical request. */
static int s_string_to_sign(struct ops_sigv4_signer *signer, const struct s_scope *scope,
                            const char *canonical, size_t canonical_len, struct s_out *out,
                            struct ops_error *err)
{
  unsigned char digest[32];
  unsigned int digest_len = 0;
  if (!EVP_DigestInit_ex2(signer->md, signer->sha256, NULL) ||
      !EVP_DigestUpdate(signer->md, canonical, canonical_len) ||
      !EVP_DigestFinal_ex(signer->md, digest, &digest_len))
    return ops_error_set(err, OPS_ERR_NOMEM, "sigv4: SHA-256 of the canonical request failed");
  s_put_str(out, S_ALGORITHM "\n");
  s_put(out, scope->amz_date, S_AMZ_DATE_LEN);
  s_put_char(out, '\n');
  s_put(out, scope->text.ptr, scope->text.len);
  s_put_char(out, '\n');
  s_put_hex(out, digest, sizeof(digest));
  return OPS_OK;
}

/* The signature (step 3): hex HMAC(signing key, string to sign), with the cached key. */
static int s_signature(struct ops_sigv4_signer *signer, const struct ops_sigv4_config *config,
                       const char *string_to_sign, size_t len, char signature[65],
                       struct ops_error *err)
{
  struct s_key_entry *entry = NULL;
  int rc = s_signing_key(signer, config, signer->amz_date, &entry, err);
  if (rc)
    return rc;
  unsigned char mac[32];
  size_t mac_len = 0;
  if (!EVP_MAC_init(entry->mac, NULL, 0, NULL) ||
      !EVP_MAC_update(entry->mac, (const unsigned char *)string_to_sign, len) ||
      !EVP_MAC_final(entry->mac, mac, &mac_len, sizeof(mac)) || mac_len != sizeof(mac))
    return ops_error_set(err, OPS_ERR_NOMEM, "sigv4: HMAC-SHA256 of the string to sign failed");
  struct s_out out = {signature, signature + S_HASH_HEX_LEN};
  s_put_hex(&out, mac, sizeof(mac));
  signature[S_HASH_HEX_LEN] = '\0';
  return OPS_OK;
}

/* ---- Result --------------------------------------------------------------------------------- */

static int s_result_reserve(struct ops_sigv4_result *out, size_t size, struct ops_error *err)
{
  if (out->storage_size < size) {
    ops_sigv4_result_free(out);
    out->storage = malloc(size);
    if (!out->storage)
      return ops_error_set(err, OPS_ERR_NOMEM, "sigv4: out of memory (%zu bytes)", size);
    out->storage_size = size;
  }
  return OPS_OK;
}

static void s_result_reset(struct ops_sigv4_result *out)
{
  char *storage = out->storage;
  size_t storage_size = out->storage_size;
  memset(out, 0, sizeof(*out));
  out->storage = storage;
  out->storage_size = storage_size;
}

/* Copies `len` bytes into the result's storage as a C string and returns it. */
static const char *s_store(struct s_out *out, const char *src, size_t len)
{
  char *start = out->p;
  s_put(out, src, len);
  s_put_char(out, '\0');
  return start;
}

static void s_result_pair(struct ops_sigv4_pair *pairs, size_t *count, const char *name,
                          const char *value)
{
  pairs[*count] = (struct ops_sigv4_pair){name, value};
  (*count)++;
}

/* Fills the headers (header mode) or query parameters (query mode) to add, and Authorization. */
static void s_result_additions(const struct s_signing *s, struct s_out *store,
                               struct ops_sigv4_result *out)
{
  const char *akid = s->config->credentials->access_key_id;
  const char *token = s->token ? s->config->credentials->session_token : NULL;
  const char *amz_date = s_store(store, s->scope.amz_date, S_AMZ_DATE_LEN);
  if (s->query_mode) {
    s_result_pair(out->query, &out->query_count, "X-Amz-Algorithm", S_ALGORITHM);
    s_result_pair(out->query, &out->query_count, "X-Amz-Credential",
                  s_store(store, s->credential_encoded.ptr, s->credential_encoded.len));
    s_result_pair(out->query, &out->query_count, "X-Amz-Date", amz_date);
    s_result_pair(out->query, &out->query_count, "X-Amz-Expires",
                  s_store(store, s->expires, strlen(s->expires)));
    s_result_pair(out->query, &out->query_count, "X-Amz-SignedHeaders",
                  s_store(store, s->signed_headers_encoded.ptr, s->signed_headers_encoded.len));
    if (token)
      s_result_pair(out->query, &out->query_count, "X-Amz-Security-Token",
                    s_store(store, s->token_encoded.ptr, s->token_encoded.len));
    s_result_pair(out->query, &out->query_count, "X-Amz-Signature", out->signature);
    return;
  }

  struct s_out auth_start = *store;
  s_put_str(store, S_ALGORITHM " Credential=");
  s_put_str(store, akid);
  s_put_char(store, '/');
  s_put(store, s->scope.text.ptr, s->scope.text.len);
  s_put_str(store, ", SignedHeaders=");
  s_put(store, s->signed_headers.ptr, s->signed_headers.len);
  s_put_str(store, ", Signature=");
  s_put(store, out->signature, S_HASH_HEX_LEN);
  s_put_char(store, '\0');
  out->authorization = auth_start.p;

  s_result_pair(out->headers, &out->header_count, "X-Amz-Date", amz_date);
  if (token)
    s_result_pair(out->headers, &out->header_count, "X-Amz-Security-Token",
                  s_store(store, token, strlen(token)));
  if (s->content_hash)
    s_result_pair(out->headers, &out->header_count, "x-amz-content-sha256",
                  s_store(store, s->payload_hash.ptr, s->payload_hash.len));
  s_result_pair(out->headers, &out->header_count, "Authorization", out->authorization);
}

static size_t s_additions_bound(const struct s_signing *s)
{
  const struct ops_sigv4_credentials *creds = s->config->credentials;
  size_t token_len = s->token ? strlen(creds->session_token) : 0;
  size_t bound = S_AMZ_DATE_LEN + 1;
  if (s->query_mode)
    return bound + s->credential_encoded.len + 1 + sizeof(s->expires) +
           s->signed_headers_encoded.len + 1 + s->token_encoded.len + 1;
  bound += strlen(S_ALGORITHM " Credential=") + strlen(creds->access_key_id) + 1 +
           s->scope.text.len + strlen(", SignedHeaders=") + s->signed_headers.len +
           strlen(", Signature=") + S_HASH_HEX_LEN + 1;
  return bound + token_len + 1 + s->payload_hash.len + 1;
}

/* ---- Preparation --------------------------------------------------------------------------- */

static size_t s_scope_len(const struct ops_sigv4_config *config)
{
  return S_DATE_LEN + 1 + strlen(config->region) + 1 + strlen(config->service) + 1 +
         strlen(S_TERMINATOR);
}

/* Empties the work buffer and makes room for `bound` bytes: all of one call's scratch is
 * reserved at once, so the spans pointing into it stay valid. */
static int s_work_reserve(struct ops_sigv4_signer *signer, size_t bound, struct ops_error *err)
{
  ops_buffer_clear(&signer->work);
  if (!ops_buffer_reserve(&signer->work, bound))
    return ops_error_set(err, OPS_ERR_NOMEM, "sigv4: out of memory (%zu bytes)", bound);
  return OPS_OK;
}

/* Checks the request and returns the total length of its header names in *names_len. */
static int s_check_request(const struct ops_sigv4_request *request, size_t *names_len,
                           struct ops_error *err)
{
  *names_len = 0;
  if (!s_has_text(request->method))
    return ops_error_set(err, OPS_ERR_CONFIG, "sigv4: the request has no method");
  if ((request->header_count && !request->headers) || (request->body_len && !request->body))
    return ops_error_set(err, OPS_ERR_CONFIG, "sigv4: a header or body length without data");
  for (size_t i = 0; i < request->header_count; i++) {
    if (!request->headers[i].name || !request->headers[i].value)
      return ops_error_set(err, OPS_ERR_CONFIG, "sigv4: header %zu has no name or no value", i);
    *names_len += strlen(request->headers[i].name);
  }
  return OPS_OK;
}

/* Checks the arguments, sizes the work buffer for everything the canonical request needs (the
 * scope, lower-cased names, signed headers, encoded query and X-Amz-* parameters: percent-encoding
 * at most triples a string) and fills the scope. */
static int s_prepare(struct ops_sigv4_signer *signer, const struct ops_sigv4_request *request,
                     const struct ops_sigv4_config *config, struct s_signing *s,
                     struct ops_error *err)
{
  size_t names_len = 0;
  int rc = s_check_config(config, err);
  if (!rc)
    rc = s_check_request(request, &names_len, err);
  if (rc)
    return rc;
  s->request = request;
  s->config = config;
  s->query_mode = config->mode == OPS_SIGV4_MODE_QUERY;
  s->token = s_has_text(config->credentials->session_token);
  s->sign_token = s->token && !(config->flags & OPS_SIGV4_OMIT_SESSION_TOKEN);
  s->content_hash = !s->query_mode && (config->flags & OPS_SIGV4_CONTENT_SHA256);

  size_t scope_len = s_scope_len(config);
  size_t signed_len = names_len + request->header_count + S_GENERATED_NAMES_LEN;
  size_t token_len = s->token ? strlen(config->credentials->session_token) : 0;
  size_t query_len = request->query ? strlen(request->query) : 0;
  size_t bound = scope_len + names_len + signed_len +
                 3 * (query_len + strlen(config->credentials->access_key_id) + 1 + scope_len +
                      signed_len + token_len);
  rc = s_work_reserve(signer, bound, err);
  if (!rc)
    rc = s_scope(signer, config, &s->scope, err);
  return rc;
}

/* ---- Public ---------------------------------------------------------------------------------- */

int ops_sigv4_signer_new(struct ops_sigv4_signer **out, size_t key_cache_entries,
                         struct ops_error *err)
{
  int rc = OPS_OK;
  struct ops_sigv4_signer *signer = NULL;
  if (!out)
    return ops_error_set(err, OPS_ERR_CONFIG, "sigv4: no place to return the signer");
  *out = NULL;
  signer = calloc(1, sizeof(*signer));
  if (!signer) {
    rc = ops_error_set(err, OPS_ERR_NOMEM, "sigv4: out of memory creating a signer");
    goto cleanup;
  }
  signer->work.secret = true;
  if (key_cache_entries == 0)
    key_cache_entries = S_DEFAULT_ENTRIES;
  signer->key_sets = (key_cache_entries + S_KEY_CACHE_WAYS - 1) / S_KEY_CACHE_WAYS;
  signer->keys = calloc(signer->key_sets * S_KEY_CACHE_WAYS, sizeof(*signer->keys));
  if (!signer->keys) {
    rc = ops_error_set(err, OPS_ERR_NOMEM, "sigv4: out of memory creating the key cache");
    goto cleanup;
  }
  /* Fetched once: implicit fetches per call cost more than the hashing of a small request. */
  signer->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
  signer->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  signer->md = EVP_MD_CTX_new();
  if (!signer->sha256 || !signer->hmac || !signer->md) {
    rc = ops_error_set(err, OPS_ERR_CONFIG,
                       "sigv4: OpenSSL provides no SHA256 or HMAC (is the default provider "
                       "loaded?)");
    goto cleanup;
  }
  *out = signer;
  signer = NULL;

cleanup:
  ops_sigv4_signer_free(signer);
  return rc;
}

void ops_sigv4_signer_free(struct ops_sigv4_signer *signer)
{
  if (!signer)
    return;
  for (size_t i = 0; signer->keys && i < signer->key_sets * S_KEY_CACHE_WAYS; i++) {
    s_entry_clear(&signer->keys[i]);
    EVP_MAC_CTX_free(signer->keys[i].mac);
  }
  free(signer->keys);
  ops_buffer_free(&signer->work);
  free(signer->headers);
  free(signer->params);
  EVP_MD_CTX_free(signer->md);
  EVP_MAC_free(signer->hmac);
  EVP_MD_free(signer->sha256);
  free(signer);
}

int ops_sigv4_sign(struct ops_sigv4_signer *signer, const struct ops_sigv4_request *request,
                   const struct ops_sigv4_config *config, struct ops_sigv4_result *out,
                   struct ops_error *err)
{
  int rc = OPS_OK;
  struct s_signing s = {0};
  struct s_out store = {0};
  size_t canonical_len = 0, sts_len = 0;
  char *sts = NULL;
  if (!signer || !request || !out)
    return ops_error_set(err, OPS_ERR_CONFIG, "sigv4: no signer, request or result");
  s_result_reset(out);
  rc = s_prepare(signer, request, config, &s, err);
  if (rc)
    goto cleanup;
  rc = s_payload_hash(signer, &s, err);
  if (!rc)
    rc = s_collect_headers(signer, &s, err);
  if (rc)
    goto cleanup;
  s_signed_headers(signer, &s);
  rc = s_collect_params(signer, &s, err);
  if (rc)
    goto cleanup;

  sts_len = s_string_to_sign_len(&s.scope);
  rc = s_result_reserve(
      out, s_canonical_request_bound(signer, &s) + 1 + sts_len + 1 + s_additions_bound(&s), err);
  if (rc)
    goto cleanup;
  store = (struct s_out){out->storage, out->storage + out->storage_size};
  s_canonical_request(signer, &s, &store);
  canonical_len = (size_t)(store.p - out->storage);
  s_put_char(&store, '\0');
  out->canonical_request = out->storage;

  sts = store.p;
  rc = s_string_to_sign(signer, &s.scope, out->canonical_request, canonical_len, &store, err);
  if (rc)
    goto cleanup;
  s_put_char(&store, '\0');
  out->string_to_sign = sts;
  rc = s_signature(signer, config, sts, sts_len, out->signature, err);
  if (rc)
    goto cleanup;
  s_result_additions(&s, &store, out);

cleanup:
  if (rc)
    s_result_reset(out);
  return rc;
}

int ops_sigv4_sign_canonical(struct ops_sigv4_signer *signer, const char *canonical_request,
                             size_t len, const struct ops_sigv4_config *config,
                             struct ops_sigv4_result *out, struct ops_error *err)
{
  int rc = OPS_OK;
  struct s_scope scope = {0};
  struct s_out store = {0};
  size_t sts_len = 0;
  char *sts = NULL;
  if (!signer || !out || (len && !canonical_request))
    return ops_error_set(err, OPS_ERR_CONFIG, "sigv4: no signer, canonical request or result");
  s_result_reset(out);
  rc = s_check_config(config, err);
  if (!rc)
    rc = s_work_reserve(signer, s_scope_len(config), err);
  if (!rc)
    rc = s_scope(signer, config, &scope, err);
  if (rc)
    goto cleanup;
  sts_len = s_string_to_sign_len(&scope);
  rc = s_result_reserve(out, len + 1 + sts_len + 1, err);
  if (rc)
    goto cleanup;
  store = (struct s_out){out->storage, out->storage + out->storage_size};
  out->canonical_request = s_store(&store, len ? canonical_request : "", len);
  sts = store.p;
  rc = s_string_to_sign(signer, &scope, out->canonical_request, len, &store, err);
  if (rc)
    goto cleanup;
  s_put_char(&store, '\0');
  out->string_to_sign = sts;
  rc = s_signature(signer, config, sts, sts_len, out->signature, err);

cleanup:
  if (rc)
    s_result_reset(out);
  return rc;
}

void ops_sigv4_result_free(struct ops_sigv4_result *result)
{
  if (!result)
    return;
  /* The storage holds the session token. */
  if (result->storage)
    OPENSSL_clear_free(result->storage, result->storage_size);
  memset(result, 0, sizeof(*result));
}
