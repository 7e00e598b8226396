/* sts.c: STS Query-protocol calls: parameter checks in AWS's words, the form body, SigV4
 * signing, an expat collector for the answer and the mapping of STS error codes onto SPEC
 * section 4's kinds. Uses runtime/transport.h (which signs with runtime/sigv4.h), runtime/buffer.h
 * and runtime/timestamp.h. */
#include "runtime/sts.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>
#include <openssl/crypto.h>

#include "runtime/aws_config.h"
#include "runtime/buffer.h"
#include "runtime/sigv4.h"
#include "runtime/timestamp.h"

#define S_VERSION            "2011-06-15"
#define S_CONTENT_TYPE       "application/x-www-form-urlencoded; charset=utf-8"
#define S_TIMEOUT_MS         30000L
#define S_MAX_RESPONSE_BYTES ((size_t)1 << 20)
#define S_MAX_DEPTH          16

enum s_action {
  S_ASSUME_ROLE,
  S_GET_CALLER_IDENTITY,
  S_ASSUME_ROLE_WITH_WEB_IDENTITY,
};

static const char *const s_action_names[] = {"AssumeRole", "GetCallerIdentity",
                                             "AssumeRoleWithWebIdentity"};

struct ops_sts_client {
  struct ops_transport transport;
  struct ops_clock clock;
  struct ops_sigv4_signer *signer;
  char *region;
  char *endpoint; /* the URL POSTed to */
  char *host;     /* the Host header: host[:port] of the endpoint */
  char *path;     /* the endpoint's path, "/" at least */
  long timeout_ms;
};

struct ops_sts_call {
  struct ops_sts_client *client;
  enum s_action action;
  void *exchange;
  ops_sts_assumed_role_fn role_done;
  ops_sts_identity_fn identity_done;
  void *ud;
};

/* --- parameter checks, worded as STS words them --- */

struct s_problems {
  char text[sizeof(((struct ops_error *)0)->message)];
  size_t len;
  int count;
};

static void s_problem(struct s_problems *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void s_problem(struct s_problems *p, const char *fmt, ...)
{
  if (p->len + 2 >= sizeof(p->text))
    return;
  if (p->count++ > 0) {
    memcpy(p->text + p->len, "; ", 2);
    p->len += 2;
  }
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(p->text + p->len, sizeof(p->text) - p->len, fmt, ap);
  va_end(ap);
  if (n > 0)
    p->len = p->len + (size_t)n < sizeof(p->text) ? p->len + (size_t)n : sizeof(p->text) - 1;
}

/* Characters, not bytes, as AWS counts lengths. */
static size_t s_utf8_length(const char *s)
{
  size_t n = 0;
  for (; *s; s++)
    n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

/* Java's \w (ASCII letters, digits, '_') or one of `extra`. */
static bool s_all_in(const char *s, const char *extra)
{
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '_' && !strchr(extra, *s))
      return false;
  return true;
}

struct s_member {
  const char *field; /* AWS's member name: 'roleSessionName' */
  size_t min, max;
  const char *extra;   /* characters allowed beside \w; NULL: no pattern */
  const char *pattern; /* the pattern as AWS prints it */
  bool secret;         /* never echo the value */
};

static void s_check_member(struct s_problems *p, const struct s_member *m, const char *value)
{
  if (!value) {
    s_problem(p, "Value null at '%s' failed to satisfy constraint: Member must not be null",
              m->field);
    return;
  }
  char shown[128];
  if (m->secret)
    snprintf(shown, sizeof(shown), "Value");
  else
    snprintf(shown, sizeof(shown), "Value '%.100s%s'", value, strlen(value) > 100 ? "..." : "");
  size_t len = s_utf8_length(value);
  if (len < m->min)
    s_problem(p,
              "%s at '%s' failed to satisfy constraint: Member must have length greater than or "
              "equal to %zu",
              shown, m->field, m->min);
  else if (len > m->max)
    s_problem(p,
              "%s at '%s' failed to satisfy constraint: Member must have length less than or "
              "equal to %zu",
              shown, m->field, m->max);
  else if (m->extra && !s_all_in(value, m->extra))
    s_problem(p,
              "%s at '%s' failed to satisfy constraint: Member must satisfy regular expression "
              "pattern: %s",
              shown, m->field, m->pattern);
}

static void s_check_duration(struct s_problems *p, int duration)
{
  if (duration != 0 && duration < 900)
    s_problem(p,
              "Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have "
              "value greater than or equal to 900",
              duration);
  else if (duration > 43200)
    s_problem(p,
              "Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have "
              "value less than or equal to 43200",
              duration);
}

static const struct s_member s_role_arn = {"roleArn", 20, 2048, NULL, NULL, false};
static const struct s_member s_session_name = {"roleSessionName", 2,    64, "+=,.@-",
                                               "[\\w+=,.@-]*",    false};

static int s_problems_error(const struct s_problems *p, struct ops_error *err)
{
  ops_error_set(err, OPS_ERR_CONFIG, "%d validation error%s detected: %s", p->count,
                p->count > 1 ? "s" : "", p->text);
  ops_error_set_code(err, "ValidationError");
  return OPS_ERR_CONFIG;
}

/* arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME, the shape STS accepts for RoleArn. */
static bool s_role_arn_shape(const char *arn)
{
  const char *p = arn;
  if (strncmp(p, "arn:aws", 7) != 0)
    return false;
  for (p += 7; (*p >= 'a' && *p <= 'z') || *p == '-'; p++)
    ;
  if (strncmp(p, ":iam::", 6) != 0)
    return false;
  p += 6;
  for (int i = 0; i < 12; i++, p++)
    if (!isdigit((unsigned char)*p))
      return false;
  if (strncmp(p, ":role/", 6) != 0)
    return false;
  p += 6;
  const char *name = strrchr(p, '/') ? strrchr(p, '/') + 1 : p;
  for (const char *c = p; c < name; c++)
    if (*c < 0x21 || *c > 0x7e)
      return false;
  return *name && s_all_in(name, "+=,.@-");
}

static int s_check_role_arn_shape(const char *arn, struct ops_error *err)
{
  if (s_role_arn_shape(arn))
    return OPS_OK;
  ops_error_set(err, OPS_ERR_CONFIG, "%.200s is invalid", arn);
  ops_error_set_code(err, "ValidationError");
  return OPS_ERR_CONFIG;
}

int ops_sts_validate_assume_role(const struct ops_sts_assume_role_params *params,
                                 struct ops_error *err)
{
  static const struct s_member external_id = {"externalId",       2,    1224, "+=,.@:/-",
                                              "[\\w+=,.@:\\/-]*", false};
  static const struct s_member serial = {"serialNumber",   9,    256, "+=/:,.@-",
                                         "[\\w+=/:,.@-]*", false};
  static const struct s_member token = {"tokenCode", 6, 6, "", "[\\d]*", true};
  struct s_problems p = {0};
  s_check_member(&p, &s_role_arn, params->role_arn);
  s_check_member(&p, &s_session_name, params->role_session_name);
  s_check_duration(&p, params->duration_seconds);
  if (params->external_id)
    s_check_member(&p, &external_id, params->external_id);
  if (params->serial_number)
    s_check_member(&p, &serial, params->serial_number);
  if (params->token_code) {
    s_check_member(&p, &token, params->token_code);
    if (p.count == 0 && strspn(params->token_code, "0123456789") != 6)
      s_problem(&p, "Value at 'tokenCode' failed to satisfy constraint: Member must satisfy "
                    "regular expression pattern: [\\d]*");
  }
  if (p.count)
    return s_problems_error(&p, err);
  return s_check_role_arn_shape(params->role_arn, err);
}

static int s_validate_web_identity(const struct ops_sts_web_identity_params *params,
                                   struct ops_error *err)
{
  static const struct s_member token = {"webIdentityToken", 4, 20000, NULL, NULL, true};
  struct s_problems p = {0};
  s_check_member(&p, &s_role_arn, params->role_arn);
  s_check_member(&p, &s_session_name, params->role_session_name);
  s_check_member(&p, &token, params->web_identity_token);
  s_check_duration(&p, params->duration_seconds);
  if (p.count)
    return s_problems_error(&p, err);
  return s_check_role_arn_shape(params->role_arn, err);
}

/* --- the form body --- */

/* Appends "&name=value", the value percent-encoded as RFC 3986 (every byte but A-Z a-z 0-9
 * - . _ ~), as the AWS SDKs do; nothing when `value` is NULL. False when out of memory. */
static bool s_form_add(struct ops_buffer *b, const char *name, const char *value)
{
  static const char hex[] = "0123456789ABCDEF";
  if (!value)
    return true;
  if (!ops_buffer_append(b, "&", 1) || !ops_buffer_append(b, name, strlen(name)) ||
      !ops_buffer_append(b, "=", 1))
    return false;
  for (const unsigned char *c = (const unsigned char *)value; *c; c++) {
    bool plain = isalnum(*c) || *c == '-' || *c == '.' || *c == '_' || *c == '~';
    char esc[3] = {'%', hex[*c >> 4], hex[*c & 15]};
    if (!(plain ? ops_buffer_append(b, (const char *)c, 1) : ops_buffer_append(b, esc, 3)))
      return false;
  }
  return true;
}

static bool s_form_add_int(struct ops_buffer *b, const char *name, int value)
{
  char text[16];
  if (value == 0)
    return true;
  snprintf(text, sizeof(text), "%d", value);
  return s_form_add(b, name, text);
}

static bool s_form_start(struct ops_buffer *b, enum s_action action)
{
  const char *name = s_action_names[action];
  return ops_buffer_append(b, "Action=", 7) && ops_buffer_append(b, name, strlen(name)) &&
         ops_buffer_append(b, "&Version=" S_VERSION, strlen("&Version=" S_VERSION));
}

/* --- the answer --- */

enum s_field {
  S_ACCESS_KEY_ID,
  S_SECRET_ACCESS_KEY,
  S_SESSION_TOKEN,
  S_EXPIRATION,
  S_ROLE_ARN,
  S_ROLE_ID,
  S_ACCOUNT,
  S_ARN,
  S_USER_ID,
  S_REQUEST_ID,
  S_ERROR_TYPE,
  S_ERROR_CODE,
  S_ERROR_MESSAGE,
  S_FIELD_COUNT,
};

/* Which element (under which parent) fills which field; `compact` drops all whitespace (a
 * token may be wrapped over lines), otherwise only the ends are trimmed. */
static const struct {
  const char *parent;
  const char *name;
  enum s_field field;
  bool compact;
} s_fields[] = {
    {"Credentials", "AccessKeyId", S_ACCESS_KEY_ID, true},
    {"Credentials", "SecretAccessKey", S_SECRET_ACCESS_KEY, true},
    {"Credentials", "SessionToken", S_SESSION_TOKEN, true},
    {"Credentials", "Expiration", S_EXPIRATION, true},
    {"AssumedRoleUser", "Arn", S_ROLE_ARN, false},
    {"AssumedRoleUser", "AssumedRoleId", S_ROLE_ID, false},
    {"GetCallerIdentityResult", "Account", S_ACCOUNT, false},
    {"GetCallerIdentityResult", "Arn", S_ARN, false},
    {"GetCallerIdentityResult", "UserId", S_USER_ID, false},
    {"ResponseMetadata", "RequestId", S_REQUEST_ID, false},
    {"ErrorResponse", "RequestId", S_REQUEST_ID, false},
    {"Error", "Type", S_ERROR_TYPE, false},
    {"Error", "Code", S_ERROR_CODE, false},
    {"Error", "Message", S_ERROR_MESSAGE, false},
};

struct s_answer {
  char *fields[S_FIELD_COUNT];
  char stack[S_MAX_DEPTH][64];
  int depth;
  struct ops_buffer text; /* secret: the character data of the element being read */
  bool nomem;
};

static void s_answer_clear(struct s_answer *a)
{
  for (size_t i = 0; i < S_FIELD_COUNT; i++) {
    if (a->fields[i]) {
      OPENSSL_cleanse(a->fields[i], strlen(a->fields[i]));
      free(a->fields[i]);
    }
  }
  ops_buffer_free(&a->text);
}

static void XMLCALL s_on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
  (void)attrs;
  struct s_answer *a = ud;
  if (a->depth < S_MAX_DEPTH)
    snprintf(a->stack[a->depth], sizeof(a->stack[0]), "%s", name);
  a->depth++;
  ops_buffer_clear(&a->text);
}

/* Expat hands character data in pieces (at least one per line): they are gathered here. */
static void XMLCALL s_on_text(void *ud, const XML_Char *data, int len)
{
  struct s_answer *a = ud;
  a->nomem |= !ops_buffer_append(&a->text, data, (size_t)len);
}

static char *s_field_value(const struct ops_buffer *text, bool compact)
{
  const char *s = text->data ? text->data : "";
  size_t len = text->len;
  char *out = malloc(len + 1);
  size_t n = 0;
  if (!out)
    return NULL;
  if (compact) {
    for (size_t i = 0; i < len; i++)
      if (!isspace((unsigned char)s[i]))
        out[n++] = s[i];
  } else {
    size_t start = 0;
    while (start < len && isspace((unsigned char)s[start]))
      start++;
    while (len > start && isspace((unsigned char)s[len - 1]))
      len--;
    memcpy(out, s + start, len - start);
    n = len - start;
  }
  out[n] = '\0';
  return out;
}

static void XMLCALL s_on_end(void *ud, const XML_Char *name)
{
  (void)name;
  struct s_answer *a = ud;
  a->depth--;
  if (a->depth >= 1 && a->depth < S_MAX_DEPTH) {
    const char *parent = a->stack[a->depth - 1], *element = a->stack[a->depth];
    for (size_t i = 0; i < sizeof(s_fields) / sizeof(s_fields[0]); i++) {
      if (strcmp(s_fields[i].parent, parent) != 0 || strcmp(s_fields[i].name, element) != 0)
        continue;
      char **slot = &a->fields[s_fields[i].field];
      if (*slot) {
        OPENSSL_cleanse(*slot, strlen(*slot));
        free(*slot);
      }
      *slot = s_field_value(&a->text, s_fields[i].compact);
      a->nomem |= !*slot;
    }
  }
  ops_buffer_clear(&a->text);
}

/* Parses `body` into `a`. Returns false with `why` set when it is not XML. */
static bool s_parse(struct s_answer *a, const char *body, size_t len, char *why, size_t why_size)
{
  XML_Parser parser = XML_ParserCreate("UTF-8");
  if (!parser) {
    snprintf(why, why_size, "out of memory");
    return false;
  }
  XML_SetUserData(parser, a);
  XML_SetElementHandler(parser, s_on_start, s_on_end);
  XML_SetCharacterDataHandler(parser, s_on_text);
  bool ok = XML_Parse(parser, body, (int)len, XML_TRUE) == XML_STATUS_OK;
  if (!ok)
    snprintf(why, why_size, "line %lu: %s", (unsigned long)XML_GetCurrentLineNumber(parser),
             XML_ErrorString(XML_GetErrorCode(parser)));
  else if (a->nomem)
    snprintf(why, why_size, "out of memory");
  XML_ParserFree(parser);
  return ok && !a->nomem;
}

/* --- errors --- */

static bool s_code_in(const char *code, const char *const *codes)
{
  for (; *codes; codes++)
    if (strcmp(code, *codes) == 0)
      return true;
  return false;
}

/* The SPEC kind of an STS error code, and whether a retry may succeed. */
static enum ops_err s_kind_of(const char *code, long status, bool *retryable)
{
  static const char *const denied[] = {"AccessDenied", "AccessDeniedException", "IDPRejectedClaim",
                                       NULL};
  static const char *const credentials[] = {"ExpiredToken",
                                            "InvalidClientTokenId",
                                            "SignatureDoesNotMatch",
                                            "IncompleteSignature",
                                            "MissingAuthenticationToken",
                                            "InvalidIdentityToken",
                                            "ExpiredTokenException",
                                            NULL};
  static const char *const throttled[] = {"Throttling", "ThrottlingException",
                                          "RequestLimitExceeded", NULL};
  static const char *const config[] = {"ValidationError", "MalformedPolicyDocument",
                                       "RegionDisabledException", "PackedPolicyTooLarge", NULL};
  *retryable = false;
  if (s_code_in(code, throttled)) {
    *retryable = true;
    return OPS_ERR_THROTTLED;
  }
  if (status >= 500 || strcmp(code, "IDPCommunicationError") == 0) {
    *retryable = true;
    return OPS_ERR_TRANSPORT;
  }
  if (s_code_in(code, denied))
    return OPS_ERR_DENIED;
  if (s_code_in(code, credentials))
    return OPS_ERR_CREDENTIALS;
  if (s_code_in(code, config))
    return OPS_ERR_CONFIG;
  if (status == 429) {
    *retryable = true;
    return OPS_ERR_THROTTLED;
  }
  if (!code[0] && status == 403)
    return OPS_ERR_DENIED;
  return OPS_ERR_CONFIG; /* another 4xx: the request as sent cannot succeed */
}

/* Fills `err` from an answer that is not a success: AWS's message kept whole. */
static void s_error_answer(const struct ops_sts_call *call, long status, const struct s_answer *a,
                           struct ops_error *err)
{
  const char *code = a->fields[S_ERROR_CODE] ? a->fields[S_ERROR_CODE] : "";
  const char *message = a->fields[S_ERROR_MESSAGE];
  bool retryable;
  enum ops_err kind = s_kind_of(code, status, &retryable);
  if (message && message[0])
    ops_error_set(err, kind, "%s", message);
  else
    ops_error_set(err, kind, "STS %s failed with HTTP %ld%s%s and no message (endpoint %s)",
                  s_action_names[call->action], status, code[0] ? " " : "", code,
                  call->client->endpoint);
  ops_error_set_code(err, code);
  err->http_status = (int)status;
  err->retryable = retryable;
}

static void s_bad_answer(const struct ops_sts_call *call, long status, const char *why,
                         struct ops_error *err)
{
  ops_error_set(err, OPS_ERR_TRANSPORT, "STS %s at %s: the answer (HTTP %ld) %s",
                s_action_names[call->action], call->client->endpoint, status, why);
  err->http_status = (int)status;
}

/* --- results --- */

static char *s_take(struct s_answer *a, enum s_field field)
{
  char *value = a->fields[field];
  a->fields[field] = NULL;
  return value;
}

void ops_sts_assumed_role_free(struct ops_sts_assumed_role *role)
{
  if (!role)
    return;
  ops_credentials_free(role->credentials);
  free(role->arn);
  free(role->assumed_role_id);
  free(role->request_id);
  free(role);
}

void ops_sts_identity_free(struct ops_sts_identity *identity)
{
  if (!identity)
    return;
  free(identity->account);
  free(identity->arn);
  free(identity->user_id);
  free(identity->request_id);
  free(identity);
}

static int s_make_role(const struct ops_sts_call *call, struct s_answer *a,
                       struct ops_sts_assumed_role **out, struct ops_error *err)
{
  static const enum s_field required[] = {S_ACCESS_KEY_ID, S_SECRET_ACCESS_KEY, S_SESSION_TOKEN,
                                          S_EXPIRATION};
  static const char *const names[] = {"AccessKeyId", "SecretAccessKey", "SessionToken",
                                      "Expiration"};
  char why[160], source[300];
  int64_t expiration = 0;
  for (size_t i = 0; i < 4; i++) {
    if (!a->fields[required[i]] || !a->fields[required[i]][0]) {
      snprintf(why, sizeof(why), "has no Credentials/%s", names[i]);
      s_bad_answer(call, 200, why, err);
      return err->kind;
    }
  }
  if (ops_timestamp_parse(a->fields[S_EXPIRATION], &expiration, NULL) != OPS_OK) {
    snprintf(why, sizeof(why), "has an Expiration that is not a timestamp: '%.40s'",
             a->fields[S_EXPIRATION]);
    s_bad_answer(call, 200, why, err);
    return err->kind;
  }
  struct ops_sts_assumed_role *role = calloc(1, sizeof(*role));
  if (!role)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  snprintf(source, sizeof(source), "role %s", a->fields[S_ROLE_ARN] ? a->fields[S_ROLE_ARN] : "");
  int rc = ops_credentials_new(&role->credentials, a->fields[S_ACCESS_KEY_ID],
                               a->fields[S_SECRET_ACCESS_KEY], a->fields[S_SESSION_TOKEN],
                               expiration, source, err);
  role->arn = s_take(a, S_ROLE_ARN);
  role->assumed_role_id = s_take(a, S_ROLE_ID);
  role->request_id = s_take(a, S_REQUEST_ID);
  if (rc != OPS_OK) {
    ops_sts_assumed_role_free(role);
    return rc;
  }
  *out = role;
  return OPS_OK;
}

static int s_make_identity(const struct ops_sts_call *call, struct s_answer *a,
                           struct ops_sts_identity **out, struct ops_error *err)
{
  if (!a->fields[S_ACCOUNT] || !a->fields[S_ARN]) {
    s_bad_answer(call, 200, "has no GetCallerIdentityResult/Account and Arn", err);
    return err->kind;
  }
  struct ops_sts_identity *identity = calloc(1, sizeof(*identity));
  if (!identity)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  identity->account = s_take(a, S_ACCOUNT);
  identity->arn = s_take(a, S_ARN);
  identity->user_id = s_take(a, S_USER_ID);
  identity->request_id = s_take(a, S_REQUEST_ID);
  if (!identity->user_id)
    identity->user_id = strdup("");
  if (!identity->user_id) {
    ops_sts_identity_free(identity);
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  }
  *out = identity;
  return OPS_OK;
}

/* --- sending and receiving --- */

static void s_on_response(const struct ops_http_response *response,
                          const struct ops_error *transport_err, void *ud)
{
  struct ops_sts_call *call = ud;
  struct s_answer answer = {.text.secret = true};
  struct ops_error err = {0};
  struct ops_sts_assumed_role *role = NULL;
  struct ops_sts_identity *identity = NULL;
  char why[200];
  int rc = OPS_OK;
  if (transport_err) {
    err = *transport_err;
    rc = err.kind;
  } else if (!s_parse(&answer, response->body, response->body_len, why, sizeof(why)) &&
             response->status >= 200 && response->status < 300) {
    char what[260];
    snprintf(what, sizeof(what), "is not XML (%s)", why);
    s_bad_answer(call, response->status, what, &err);
    rc = err.kind;
  } else if (response->status < 200 || response->status >= 300) {
    s_error_answer(call, response->status, &answer, &err);
    rc = err.kind;
  } else if (call->action == S_GET_CALLER_IDENTITY) {
    rc = s_make_identity(call, &answer, &identity, &err);
  } else {
    rc = s_make_role(call, &answer, &role, &err);
  }
  s_answer_clear(&answer);
  struct ops_sts_call done = *call;
  free(call);
  if (done.action == S_GET_CALLER_IDENTITY)
    done.identity_done(identity, rc == OPS_OK ? NULL : &err, done.ud);
  else
    done.role_done(role, rc == OPS_OK ? NULL : &err, done.ud);
}

/* Signs (unless `caller` is NULL) and starts a POST of `body`. */
static int s_send(struct ops_sts_client *client, struct ops_sts_call *call,
                  const struct ops_credentials *caller, const struct ops_buffer *body,
                  struct ops_error *err)
{
  struct ops_http_header headers[] = {{"Host", client->host}, {"Content-Type", S_CONTENT_TYPE}};
  struct ops_http_request request = {.method = "POST",
                                     .url = client->endpoint,
                                     .headers = headers,
                                     .header_count = sizeof(headers) / sizeof(headers[0]),
                                     .body = body->data,
                                     .body_len = body->len,
                                     .timeout_ms = client->timeout_ms,
                                     .max_response_bytes = S_MAX_RESPONSE_BYTES};
  if (caller) {
    struct ops_sigv4_credentials credentials = ops_credentials_for_signing(caller);
    struct ops_transport_signing signing = {.signer = client->signer,
                                            .credentials = &credentials,
                                            .region = client->region,
                                            .service = "sts",
                                            .clock = client->clock,
                                            .path = client->path};
    call->exchange = ops_transport_start_signed(&client->transport, &request, &signing,
                                                s_on_response, call, err);
  } else {
    call->exchange =
        client->transport.start(client->transport.self, &request, s_on_response, call, err);
  }
  return call->exchange ? OPS_OK : err ? err->kind : OPS_ERR_TRANSPORT;
}

/* Starts the call whose form is `body` (`written`: whole, not cut short for want of memory),
 * then wipes the body: it may hold an MFA code or a web identity token. */
static int s_start(struct ops_sts_client *client, enum s_action action,
                   const struct ops_credentials *caller, struct ops_buffer *body, bool written,
                   ops_sts_assumed_role_fn role_done, ops_sts_identity_fn identity_done, void *ud,
                   struct ops_sts_call **out, struct ops_error *err)
{
  int rc = OPS_OK;
  struct ops_sts_call *call = NULL;
  if (!written) {
    rc = ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
    goto cleanup;
  }
  call = calloc(1, sizeof(*call));
  if (!call) {
    rc = ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
    goto cleanup;
  }
  *call = (struct ops_sts_call){.client = client,
                                .action = action,
                                .role_done = role_done,
                                .identity_done = identity_done,
                                .ud = ud};
  rc = s_send(client, call, caller, body, err);
  if (rc != OPS_OK)
    goto cleanup;
  if (out)
    *out = call;
  call = NULL;
cleanup:
  free(call);
  ops_buffer_free(body);
  return rc;
}

int ops_sts_assume_role(struct ops_sts_client *client, const struct ops_credentials *caller,
                        const struct ops_sts_assume_role_params *params,
                        ops_sts_assumed_role_fn done, void *ud, struct ops_sts_call **call,
                        struct ops_error *err)
{
  struct ops_buffer body = {.secret = true};
  int rc = ops_sts_validate_assume_role(params, err);
  if (rc != OPS_OK)
    return rc;
  bool written = s_form_start(&body, S_ASSUME_ROLE) &&
                 s_form_add(&body, "RoleArn", params->role_arn) &&
                 s_form_add(&body, "RoleSessionName", params->role_session_name) &&
                 s_form_add_int(&body, "DurationSeconds", params->duration_seconds) &&
                 s_form_add(&body, "ExternalId", params->external_id) &&
                 s_form_add(&body, "SerialNumber", params->serial_number) &&
                 s_form_add(&body, "TokenCode", params->token_code);
  return s_start(client, S_ASSUME_ROLE, caller, &body, written, done, NULL, ud, call, err);
}

int ops_sts_get_caller_identity(struct ops_sts_client *client, const struct ops_credentials *caller,
                                ops_sts_identity_fn done, void *ud, struct ops_sts_call **call,
                                struct ops_error *err)
{
  struct ops_buffer body = {.secret = true};
  bool written = s_form_start(&body, S_GET_CALLER_IDENTITY);
  return s_start(client, S_GET_CALLER_IDENTITY, caller, &body, written, NULL, done, ud, call, err);
}

int ops_sts_assume_role_with_web_identity(struct ops_sts_client *client,
                                          const struct ops_sts_web_identity_params *params,
                                          ops_sts_assumed_role_fn done, void *ud,
                                          struct ops_sts_call **call, struct ops_error *err)
{
  struct ops_buffer body = {.secret = true};
  int rc = s_validate_web_identity(params, err);
  if (rc != OPS_OK)
    return rc;
  bool written = s_form_start(&body, S_ASSUME_ROLE_WITH_WEB_IDENTITY) &&
                 s_form_add(&body, "RoleArn", params->role_arn) &&
                 s_form_add(&body, "RoleSessionName", params->role_session_name) &&
                 s_form_add(&body, "WebIdentityToken", params->web_identity_token) &&
                 s_form_add_int(&body, "DurationSeconds", params->duration_seconds);
  return s_start(client, S_ASSUME_ROLE_WITH_WEB_IDENTITY, NULL, &body, written, done, NULL, ud,
                 call, err);
}

void ops_sts_call_cancel(struct ops_sts_call *call)
{
  call->client->transport.cancel(call->client->transport.self, call->exchange);
  free(call);
}

/* --- the client --- */

/* host[:port] and the path of the endpoint, for the Host header and the signature. */
static int s_split_endpoint(struct ops_sts_client *client, struct ops_error *err)
{
  struct ops_http_url_parts parts;
  int rc = ops_http_url_split(client->endpoint, &parts, err);
  if (rc == OPS_ERR_CONFIG)
    return ops_error_set(err, OPS_ERR_CONFIG, "the STS endpoint '%s' is not a valid URL",
                         client->endpoint);
  if (rc != OPS_OK)
    return rc;
  client->host = parts.host;
  client->path = parts.path;
  free(parts.query); /* the Query protocol sends its parameters in the body */
  return OPS_OK;
}

static int s_endpoint(struct ops_sts_client *client, const struct ops_env *env,
                      struct ops_error *err)
{
  const char *variable = NULL;
  const char *url = ops_env_endpoint_url(env, "AWS_ENDPOINT_URL_STS", &variable);
  char regional[256];
  if (!url) {
    bool china = strncmp(client->region, "cn-", 3) == 0;
    snprintf(regional, sizeof(regional), "https://sts.%s.amazonaws.com%s", client->region,
             china ? ".cn" : "");
    url = regional;
    variable = NULL;
  }
  client->endpoint = strdup(url);
  if (!client->endpoint)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  int rc = ops_http_check_url(url, err);
  if (rc != OPS_OK && variable) {
    char why[sizeof(err->message)];
    snprintf(why, sizeof(why), "%s", err->message);
    ops_error_set(err, rc, "%s: %s", variable, why);
  }
  return rc != OPS_OK ? rc : s_split_endpoint(client, err);
}

int ops_sts_client_new(struct ops_sts_client **out, const struct ops_sts_options *options,
                       struct ops_error *err)
{
  *out = NULL;
  struct ops_sts_client *client = calloc(1, sizeof(*client));
  if (!client)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  client->transport = options->transport;
  client->clock = options->clock;
  client->timeout_ms = options->timeout_ms > 0 ? options->timeout_ms : S_TIMEOUT_MS;
  client->region =
      strdup(options->region && options->region[0] ? options->region : OPS_AWS_DEFAULT_REGION);
  int rc = client->region ? OPS_OK : ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  if (rc == OPS_OK)
    rc = s_endpoint(client, &options->env, err);
  if (rc == OPS_OK)
    rc = ops_sigv4_signer_new(&client->signer, 0, err);
  if (rc != OPS_OK) {
    ops_sts_client_free(client);
    return rc;
  }
  *out = client;
  return OPS_OK;
}

void ops_sts_client_free(struct ops_sts_client *client)
{
  if (!client)
    return;
  ops_sigv4_signer_free(client->signer);
  free(client->region);
  free(client->endpoint);
  free(client->host);
  free(client->path);
  free(client);
}

const char *ops_sts_client_endpoint(const struct ops_sts_client *client)
{
  return client->endpoint;
}
