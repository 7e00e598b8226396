/* organizations.c: the AWS Organizations client of organizations.h: AWS JSON 1.1 requests built
 * and read with jansson, signed through runtime/transport.h, paced with runtime/pacer.h and sent
 * again on runtime/retry.h's policy; the walk of the tree and the tag fetch as one machine of
 * list requests, several in flight at once, each followed through its pages. */
#include "runtime/organizations.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "runtime/list.h"
#include "runtime/pacer.h"
#include "runtime/sigv4.h"

/* Organizations is a global service with one endpoint for the commercial partition, in
 * us-east-1, where requests are signed: "AWS Organizations endpoints and quotas",
 * https://docs.aws.amazon.com/general/latest/gr/ao.html, and the API reference's "Endpoint to
 * call" (https://docs.aws.amazon.com/organizations/latest/APIReference/Welcome.html). */
#define S_ENDPOINT           "https://organizations.us-east-1.amazonaws.com"
#define S_REGION             "us-east-1"
#define S_SERVICE            "organizations"
#define S_TARGET_PREFIX      "AWSOrganizationsV20161128."
#define S_CONTENT_TYPE       "application/x-amz-json-1.1"
#define S_TIMEOUT_MS         30000L
#define S_MAX_RESPONSE_BYTES ((size_t)4 << 20)

/* OPS_ORG_REQUESTS_PER_SECOND: Organizations throttles each caller account ("Quotas and service
 * limits for AWS Organizations", https://docs.aws.amazon.com/organizations/latest/userguide/
 * orgs_reference_limits.html, section "Throttling limits"), answering TooManyRequestsException,
 * "You have sent too many requests in too short a period of time" or "AWS Organizations can't
 * complete your request because another request is already in progress" (HTTP 400), well before
 * the tens a second other services allow: users of parallel walks hit it at a handful of
 * requests (awsdocs/aws-organizations-docs#39, which also notes that the figures were long
 * undocumented; awslabs/aws-deployment-framework#788 on ListRoots and ListParents). A walk of a
 * large organization is hundreds of small list requests, so the client keeps to 5 a second, every
 * operation counted, and retries what is throttled all the same. */

enum s_op {
  S_LIST_ROOTS,
  S_LIST_OUS,
  S_LIST_ACCOUNTS,
  S_LIST_TAGS,
};

static const char *const s_op_names[] = {"ListRoots", "ListOrganizationalUnitsForParent",
                                         "ListAccountsForParent", "ListTagsForResource"};

/* The member of each operation's answer that holds its page of results. */
static const char *const s_op_results[] = {"Roots", "OrganizationalUnits", "Accounts", "Tags"};

struct ops_org_client {
  struct ops_transport transport;
  struct ops_clock clock;
  struct ops_loop *loop;
  struct ops_sigv4_signer *signer;
  struct ops_retry *retry; /* the quota and send rate of this caller's requests */
  struct ops_pacer *pacer;
  int concurrency;
  long timeout_ms;
  char *endpoint; /* the URL POSTed to */
  char *host;     /* the Host header: host[:port] of the endpoint */
  char *path;     /* the endpoint's path, "/" at least */
};

/* One list operation on its way through its pages and their attempts. */
struct s_request {
  struct ops_list_node node;
  struct ops_org_call *call;
  enum s_op op;
  char *subject;                   /* ParentId or ResourceId; NULL for ListRoots */
  char *ou_path;                   /* the walk: the path of the parent `subject` */
  struct ops_org_account *account; /* the tag fetch: whose tags (in the caller's listing) */
  json_t *tags;                    /* the tag fetch: the pages' tags so far */
  char *next_token;                /* the page to ask for; NULL: the first */
  struct ops_retry_request attempts;
  bool renewed;            /* sent again once with new credentials after a refusal as expired */
  char key_id[128];        /* the access key id the last attempt was signed with */
  void *exchange;          /* in the transport */
  struct ops_timer *timer; /* waiting to be sent (pacing) or sent again (a retry) */
  struct ops_credentials_fetch *fetch; /* waiting for credentials */
};

struct ops_org_call {
  struct ops_org_client *client;
  struct ops_credentials_provider *credentials;
  struct ops_list waiting; /* requests not yet started */
  struct ops_list active;  /* requests started and not ended */
  int active_count;
  struct ops_timer *kickoff;     /* the first turn of the machine, from the loop */
  struct ops_org_listing *found; /* the walk: what it has found so far */
  size_t found_capacity;
  json_t *parents; /* the walk: the roots and OUs met, id -> path */
  ops_org_listing_fn listing_done;
  ops_org_tags_fn tags_done;
  void *ud;
};

/* --- listings --- */

static void s_account_clear(struct ops_org_account *account)
{
  free(account->id);
  free(account->name);
  free(account->email);
  free(account->arn);
  free(account->ou);
  free(account->ou_path);
  for (size_t i = 0; i < account->tag_count; i++) {
    free(account->tags[i].key);
    free(account->tags[i].value);
  }
  free(account->tags);
}

void ops_org_listing_free(struct ops_org_listing *listing)
{
  if (!listing)
    return;
  for (size_t i = 0; i < listing->count; i++)
    s_account_clear(&listing->accounts[i]);
  free(listing->accounts);
  for (size_t i = 0; i < listing->skipped_count; i++)
    free(listing->skipped[i].state);
  free(listing->skipped);
  for (size_t i = 0; i < listing->unit_count; i++) {
    free(listing->units[i].id);
    free(listing->units[i].path);
  }
  free(listing->units);
  free(listing);
}

static int s_compare_units(const void *a, const void *b)
{
  return strcmp(((const struct ops_org_unit *)a)->id, ((const struct ops_org_unit *)b)->id);
}

void ops_org_listing_sort_units(struct ops_org_listing *listing)
{
  if (listing->unit_count)
    qsort(listing->units, listing->unit_count, sizeof(listing->units[0]), s_compare_units);
}

const char *ops_org_listing_unit_path(const struct ops_org_listing *listing, const char *id)
{
  if (!listing->unit_count)
    return NULL;
  struct ops_org_unit key = {.id = (char *)id};
  const struct ops_org_unit *unit = bsearch(&key, listing->units, listing->unit_count,
                                            sizeof(listing->units[0]), s_compare_units);
  return unit ? unit->path : NULL;
}

bool ops_org_is_account_id(const char *id)
{
  return id && strlen(id) == 12 && strspn(id, "0123456789") == 12;
}

static int s_compare_tags(const void *a, const void *b)
{
  return strcmp(((const struct ops_org_tag *)a)->key, ((const struct ops_org_tag *)b)->key);
}

void ops_org_account_sort_tags(struct ops_org_account *account)
{
  if (account->tag_count)
    qsort(account->tags, account->tag_count, sizeof(account->tags[0]), s_compare_tags);
}

bool ops_org_listing_has_tags(const struct ops_org_listing *listing)
{
  for (size_t i = 0; i < listing->count; i++)
    if (!listing->accounts[i].tags_fetched)
      return false;
  return true;
}

/* --- requests --- */

static void s_request_free(struct s_request *r)
{
  struct ops_org_client *client = r->call->client;
  if (r->exchange)
    client->transport.cancel(client->transport.self, r->exchange);
  if (r->timer)
    ops_loop_timer_cancel(client->loop, r->timer);
  if (r->fetch)
    ops_credentials_fetch_cancel(r->fetch);
  json_decref(r->tags);
  free(r->subject);
  free(r->ou_path);
  free(r->next_token);
  free(r);
}

/* Queues a request of `op` about `subject` (copied; may be NULL); false when out of memory. */
static struct s_request *s_request_add(struct ops_org_call *call, enum s_op op, const char *subject,
                                       const char *ou_path)
{
  struct s_request *r = calloc(1, sizeof(*r));
  if (!r)
    return NULL;
  *r = (struct s_request){.call = call, .op = op};
  if ((subject && !(r->subject = strdup(subject))) ||
      (ou_path && !(r->ou_path = strdup(ou_path)))) {
    free(r->subject);
    free(r);
    return NULL;
  }
  ops_list_push_back(&call->waiting, &r->node);
  return r;
}

/* Ends a request that has read its last page. */
static void s_request_end(struct s_request *r)
{
  struct ops_org_call *call = r->call;
  ops_list_remove(&call->active, &r->node);
  call->active_count--;
  s_request_free(r);
}

static void s_call_free(struct ops_org_call *call)
{
  struct ops_list *lists[] = {&call->waiting, &call->active};
  for (size_t i = 0; i < 2; i++) {
    while (lists[i]->head) {
      struct s_request *r = OPS_LIST_ENTRY(lists[i]->head, struct s_request, node);
      ops_list_remove(lists[i], &r->node);
      s_request_free(r);
    }
  }
  if (call->kickoff)
    ops_loop_timer_cancel(call->client->loop, call->kickoff);
  ops_org_listing_free(call->found);
  json_decref(call->parents);
  free(call);
}

void ops_org_call_cancel(struct ops_org_call *call)
{
  s_call_free(call);
}

/* The call fails with `err`: every other request is stopped, then the callback runs. */
static void s_fail(struct ops_org_call *call, const struct ops_error *err)
{
  struct ops_error copy = *err;
  ops_org_listing_fn listing_done = call->listing_done;
  ops_org_tags_fn tags_done = call->tags_done;
  void *ud = call->ud;
  s_call_free(call);
  if (listing_done)
    listing_done(NULL, &copy, ud);
  else
    tags_done(&copy, ud);
}

static int s_compare_accounts(const void *a, const void *b)
{
  return strcmp(((const struct ops_org_account *)a)->id, ((const struct ops_org_account *)b)->id);
}

static int s_compare_skipped(const void *a, const void *b)
{
  return strcmp(((const struct ops_org_skipped *)a)->state,
                ((const struct ops_org_skipped *)b)->state);
}

/* Sorts the accounts by id, keeping the first of any id listed twice, and the skipped states by
 * name: a deterministic order whatever order the pages came in. */
static void s_listing_sort(struct ops_org_listing *listing)
{
  size_t kept = 0;
  if (listing->count)
    qsort(listing->accounts, listing->count, sizeof(listing->accounts[0]), s_compare_accounts);
  for (size_t i = 0; i < listing->count; i++) {
    if (kept && strcmp(listing->accounts[kept - 1].id, listing->accounts[i].id) == 0)
      s_account_clear(&listing->accounts[i]);
    else
      listing->accounts[kept++] = listing->accounts[i];
  }
  listing->count = kept;
  if (listing->skipped_count)
    qsort(listing->skipped, listing->skipped_count, sizeof(listing->skipped[0]), s_compare_skipped);
}

/* The roots and OUs the walk met, into the listing, sorted by id. */
static int s_take_units(struct ops_org_call *call, struct ops_error *err)
{
  struct ops_org_listing *found = call->found;
  size_t count = json_object_size(call->parents);
  if (count && !(found->units = calloc(count, sizeof(*found->units))))
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  const char *id;
  json_t *path;
  json_object_foreach(call->parents, id, path)
  {
    struct ops_org_unit *unit = &found->units[found->unit_count++];
    if (!(unit->id = strdup(id)) || !(unit->path = strdup(json_string_value(path))))
      return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  }
  ops_org_listing_sort_units(found);
  return OPS_OK;
}

/* Every request has read its last page. */
static void s_succeed(struct ops_org_call *call)
{
  ops_org_listing_fn listing_done = call->listing_done;
  ops_org_tags_fn tags_done = call->tags_done;
  void *ud = call->ud;
  struct ops_error err;
  if (listing_done && s_take_units(call, &err) != OPS_OK) {
    s_fail(call, &err);
    return;
  }
  struct ops_org_listing *found = call->found;
  call->found = NULL;
  s_call_free(call);
  if (listing_done) {
    s_listing_sort(found);
    listing_done(found, NULL, ud);
  } else {
    tags_done(NULL, ud);
  }
}

/* --- errors --- */

static bool s_code_in(const char *code, const char *const *codes)
{
  for (; *codes; codes++)
    if (strcmp(code, *codes) == 0)
      return true;
  return false;
}

/* The SPEC kind of an Organizations error code (the API reference's Errors, and the common
 * errors of every AWS API), and whether a retry may succeed. */
static enum ops_err s_kind_of(const char *code, long status, bool *retryable)
{
  static const char *const throttled[] = {"TooManyRequestsException", "ThrottlingException",
                                          "Throttling", NULL};
  static const char *const denied[] = {"AccessDeniedException", "AccessDenied",
                                       "AccessDeniedForDependencyException", NULL};
  static const char *const credentials[] = {
      "UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException",
      "SignatureDoesNotMatch",       "IncompleteSignature",  "MissingAuthenticationToken",
      "ExpiredTokenException",       "ExpiredToken",         NULL};
  *retryable = false;
  if (s_code_in(code, throttled) || (!code[0] && status == 429)) {
    *retryable = true;
    return OPS_ERR_THROTTLED;
  }
  if (status >= 500 || strcmp(code, "ServiceException") == 0) {
    *retryable = true;
    return OPS_ERR_TRANSPORT;
  }
  if (s_code_in(code, denied) || (!code[0] && status == 403))
    return OPS_ERR_DENIED;
  if (s_code_in(code, credentials))
    return OPS_ERR_CREDENTIALS;
  return OPS_ERR_CONFIG; /* AWSOrganizationsNotInUseException, InvalidInputException, ... */
}

/* The error code of an AWS JSON answer: `__type`, else the X-Amzn-ErrorType header, without a
 * "namespace#" before it or a ":detail" after it, into `code`. */
static void s_error_code(const json_t *answer, const struct ops_http_response *response, char *code,
                         size_t size)
{
  const char *type = json_string_value(json_object_get(answer, "__type"));
  if (!type)
    type = ops_http_response_header(response, "x-amzn-errortype");
  ops_error_aws_code(type ? type : "", code, size);
}

/* What a caller refused, or outside any organization, can do instead: a sentence after AWS's
 * message. */
static const char *s_advice(enum ops_err kind, const char *code)
{
  if (kind == OPS_ERR_DENIED || strcmp(code, "AWSOrganizationsNotInUseException") == 0)
    return "To list the accounts from AWS Organizations, run as the organization's management "
           "account or a delegated administrator, or list them in a registry file instead.";
  return NULL;
}

/* Fills `err` from an answer that is not a success, AWS's message kept whole. */
static void s_error_answer(const struct s_request *r, const struct ops_http_response *response,
                           const json_t *answer, struct ops_error *err)
{
  char code[sizeof(err->code)];
  bool retryable;
  s_error_code(answer, response, code, sizeof(code));
  const char *message = json_string_value(json_object_get(answer, "message"));
  if (!message)
    message = json_string_value(json_object_get(answer, "Message"));
  enum ops_err kind = s_kind_of(code, response->status, &retryable);
  const char *advice = s_advice(kind, code);
  if (message && message[0])
    ops_error_set(err, kind, "%s%s%s", message,
                  !advice                               ? ""
                  : message[strlen(message) - 1] == '.' ? " "
                                                        : ". ",
                  advice ? advice : "");
  else
    ops_error_set(err, kind,
                  "Organizations %s failed with HTTP %ld%s%s and no message (endpoint %s)%s%s",
                  s_op_names[r->op], response->status, code[0] ? " " : "", code,
                  r->call->client->endpoint, advice ? ". " : "", advice ? advice : "");
  ops_error_set_code(err, code);
  err->http_status = (int)response->status;
  err->retryable = retryable;
}

/* An answer that cannot be read: not retried, as the same request would get the same. */
static int s_bad_answer(const struct s_request *r, long status, const char *why,
                        struct ops_error *err)
{
  ops_error_set(err, OPS_ERR_TRANSPORT, "Organizations %s at %s: the answer (HTTP %ld) %s",
                s_op_names[r->op], r->call->client->endpoint, status, why);
  err->http_status = (int)status;
  return OPS_ERR_TRANSPORT;
}

/* --- reading a page --- */

/* The string member `name` of `object`, or `fallback` when it is absent or not a string. */
static const char *s_member(const json_t *object, const char *name, const char *fallback)
{
  const char *value = json_string_value(json_object_get(object, name));
  return value ? value : fallback;
}

static int s_count_skipped(struct ops_org_listing *listing, const char *state)
{
  for (size_t i = 0; i < listing->skipped_count; i++) {
    if (strcmp(listing->skipped[i].state, state) == 0) {
      listing->skipped[i].count++;
      return OPS_OK;
    }
  }
  struct ops_org_skipped *grown =
      realloc(listing->skipped, (listing->skipped_count + 1) * sizeof(*grown));
  if (!grown)
    return OPS_ERR_NOMEM;
  listing->skipped = grown;
  grown[listing->skipped_count] = (struct ops_org_skipped){.state = strdup(state), .count = 1};
  if (!grown[listing->skipped_count].state)
    return OPS_ERR_NOMEM;
  listing->skipped_count++;
  return OPS_OK;
}

static int s_keep_account(const struct s_request *r, const json_t *item)
{
  struct ops_org_call *call = r->call;
  struct ops_org_listing *found = call->found;
  if (found->count == call->found_capacity) {
    size_t capacity = call->found_capacity ? call->found_capacity * 2 : 64;
    struct ops_org_account *grown = realloc(found->accounts, capacity * sizeof(*grown));
    if (!grown)
      return OPS_ERR_NOMEM;
    found->accounts = grown;
    call->found_capacity = capacity;
  }
  struct ops_org_account *account = &found->accounts[found->count];
  *account = (struct ops_org_account){
      .id = strdup(s_member(item, "Id", "")),
      .name = strdup(s_member(item, "Name", "")),
      .email = strdup(s_member(item, "Email", "")),
      .arn = strdup(s_member(item, "Arn", "")),
      .ou = strdup(r->subject),
      .ou_path = strdup(r->ou_path),
  };
  found->count++; /* freed with the listing even when a copy failed */
  bool copied = account->id && account->name && account->email && account->arn && account->ou &&
                account->ou_path;
  return copied ? OPS_OK : OPS_ERR_NOMEM;
}

/* An account of a ListAccountsForParent page: kept when ACTIVE (State, else the retired Status),
 * otherwise counted under its state. */
static int s_take_account(struct s_request *r, const json_t *item, struct ops_error *err)
{
  const char *id = s_member(item, "Id", NULL);
  if (!ops_org_is_account_id(id))
    return s_bad_answer(r, 200, "has an account whose Id is not 12 digits", err);
  const char *state = s_member(item, "State", s_member(item, "Status", "UNKNOWN"));
  int rc = strcmp(state, "ACTIVE") == 0 ? s_keep_account(r, item)
                                        : s_count_skipped(r->call->found, state);
  return rc == OPS_OK ? OPS_OK : ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
}

/* "PARENT/NAME", or NAME for a root (no parent); NULL when out of memory. */
static char *s_child_path(const char *parent, const char *name)
{
  size_t len = (parent ? strlen(parent) + 1 : 0) + strlen(name) + 1;
  char *path = malloc(len);
  if (path)
    snprintf(path, len, "%s%s%s", parent ? parent : "", parent ? "/" : "", name);
  return path;
}

/* A root or an OU of a page: its OUs and its accounts are listed next. */
static int s_take_parent(struct s_request *r, const json_t *item, struct ops_error *err)
{
  const char *id = s_member(item, "Id", NULL);
  const char *name = s_member(item, "Name", id);
  if (!id || !id[0])
    return s_bad_answer(r, 200, "has a root or an OU without an Id", err);
  if (json_object_get(r->call->parents, id)) /* a tree never does: a cycle would never end */
    return s_bad_answer(r, 200, "lists a root or an OU met before", err);
  char *path = s_child_path(r->ou_path, name);
  if (!path || json_object_set_new(r->call->parents, id, json_string(path)) != 0) {
    free(path);
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  }
  bool queued = s_request_add(r->call, S_LIST_OUS, id, path) &&
                s_request_add(r->call, S_LIST_ACCOUNTS, id, path);
  free(path);
  return queued ? OPS_OK : ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
}

static int s_take_tag(struct s_request *r, json_t *item, struct ops_error *err)
{
  if (!json_is_string(json_object_get(item, "Key")))
    return s_bad_answer(r, 200, "has a tag without a Key", err);
  if (json_array_append(r->tags, item) != 0)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  return OPS_OK;
}

/* The last page of an account's tags has arrived: they become its tags, sorted by key. */
static int s_settle_tags(struct s_request *r, struct ops_error *err)
{
  struct ops_org_account *account = r->account;
  size_t count = json_array_size(r->tags);
  struct ops_org_tag *tags = count ? calloc(count, sizeof(*tags)) : NULL;
  bool copied = !count || tags;
  for (size_t i = 0; copied && i < count; i++) {
    const json_t *item = json_array_get(r->tags, i);
    tags[i].key = strdup(s_member(item, "Key", ""));
    tags[i].value = strdup(s_member(item, "Value", ""));
    copied = tags[i].key && tags[i].value;
  }
  if (!copied) {
    for (size_t i = 0; tags && i < count; i++) {
      free(tags[i].key);
      free(tags[i].value);
    }
    free(tags);
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  }
  account->tags = tags;
  account->tag_count = count;
  account->tags_fetched = true;
  ops_org_account_sort_tags(account);
  return OPS_OK;
}

static int s_take_item(struct s_request *r, json_t *item, struct ops_error *err)
{
  if (!json_is_object(item))
    return s_bad_answer(r, 200, "lists something that is not an object", err);
  switch (r->op) {
  case S_LIST_ROOTS:
  case S_LIST_OUS: return s_take_parent(r, item, err);
  case S_LIST_ACCOUNTS: return s_take_account(r, item, err);
  case S_LIST_TAGS: return s_take_tag(r, item, err);
  }
  return OPS_OK;
}

/* The page's NextToken, when there is one more page: absent, null and "" all end the list. */
static int s_next_token(struct s_request *r, const json_t *answer, struct ops_error *err)
{
  const char *token = json_string_value(json_object_get(answer, "NextToken"));
  if (token && r->next_token && strcmp(token, r->next_token) == 0)
    return s_bad_answer(r, 200, "gives the NextToken it was asked for again", err);
  free(r->next_token);
  r->next_token = token && token[0] ? strdup(token) : NULL;
  if (token && token[0] && !r->next_token)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  return OPS_OK;
}

/* Reads a page: its items (a page may be empty while a token remains) and its NextToken. */
static int s_take_page(struct s_request *r, json_t *answer, struct ops_error *err)
{
  if (!json_is_object(answer))
    return s_bad_answer(r, 200, "is not a JSON object", err);
  json_t *items = json_object_get(answer, s_op_results[r->op]);
  if (items && !json_is_array(items) && !json_is_null(items)) {
    char why[120];
    snprintf(why, sizeof(why), "has a %s that is not a list", s_op_results[r->op]);
    return s_bad_answer(r, 200, why, err);
  }
  size_t i;
  json_t *item;
  json_array_foreach(items, i, item)
  {
    int rc = s_take_item(r, item, err);
    if (rc != OPS_OK)
      return rc;
  }
  int rc = s_next_token(r, answer, err);
  if (rc == OPS_OK && !r->next_token && r->op == S_LIST_TAGS)
    rc = s_settle_tags(r, err);
  return rc;
}

/* --- sending and receiving --- */

static int s_go(struct s_request *r, struct ops_error *err);
static void s_pump(struct ops_org_call *call);

/* The request's JSON body: the operation's subject and the page asked for. */
static char *s_body(const struct s_request *r)
{
  static const char *const subject_names[] = {NULL, "ParentId", "ParentId", "ResourceId"};
  json_t *body = json_object();
  char *text = NULL;
  bool built = body != NULL;
  if (built && r->subject)
    built = json_object_set_new(body, subject_names[r->op], json_string(r->subject)) == 0;
  if (built && r->next_token)
    built = json_object_set_new(body, "NextToken", json_string(r->next_token)) == 0;
  if (built)
    text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  return text;
}

static void s_on_response(const struct ops_http_response *response,
                          const struct ops_error *transport_err, void *ud);

/* Signs the request with `credentials` and starts it. */
static int s_send(struct s_request *r, const struct ops_credentials *credentials,
                  struct ops_error *err)
{
  struct ops_org_client *client = r->call->client;
  char target[96];
  char *body = s_body(r);
  if (!body)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  snprintf(target, sizeof(target), S_TARGET_PREFIX "%s", s_op_names[r->op]);
  snprintf(r->key_id, sizeof(r->key_id), "%s", credentials->access_key_id);
  struct ops_http_header headers[] = {
      {"Host", client->host}, {"Content-Type", S_CONTENT_TYPE}, {"X-Amz-Target", target}};
  struct ops_http_request request = {.method = "POST",
                                     .url = client->endpoint,
                                     .headers = headers,
                                     .header_count = sizeof(headers) / sizeof(headers[0]),
                                     .body = body,
                                     .body_len = strlen(body),
                                     .timeout_ms = client->timeout_ms,
                                     .max_response_bytes = S_MAX_RESPONSE_BYTES};
  struct ops_sigv4_credentials signing_credentials = ops_credentials_for_signing(credentials);
  struct ops_transport_signing signing = {.signer = client->signer,
                                          .credentials = &signing_credentials,
                                          .region = S_REGION,
                                          .service = S_SERVICE,
                                          .clock = client->clock,
                                          .path = client->path};
  r->exchange =
      ops_transport_start_signed(&client->transport, &request, &signing, s_on_response, r, err);
  free(body);
  return r->exchange ? OPS_OK : err->kind;
}

static void s_on_credentials(struct ops_credentials *credentials, const struct ops_error *err,
                             void *ud)
{
  struct s_request *r = ud;
  struct ops_error failure = {0};
  r->fetch = NULL;
  int rc = credentials ? s_send(r, credentials, &failure) : OPS_OK;
  ops_credentials_free(credentials);
  if (!credentials)
    s_fail(r->call, err);
  else if (rc != OPS_OK)
    s_fail(r->call, &failure);
}

static void s_on_timer(void *ud)
{
  struct s_request *r = ud;
  struct ops_error err = {0};
  r->timer = NULL;
  if (s_go(r, &err) != OPS_OK)
    s_fail(r->call, &err);
}

/* Sends an attempt once the client's request rate, then (in adaptive retry mode) its send rate,
 * allow it, signed with the caller's credentials as they are then. */
static int s_go(struct s_request *r, struct ops_error *err)
{
  struct ops_org_client *client = r->call->client;
  struct ops_credentials_provider *provider = r->call->credentials;
  uint64_t wait = ops_pacer_delay_ms(client->pacer, ops_loop_now_ms());
  struct ops_retry_timer timer = {.loop = client->loop, .fire = s_on_timer, .ud = r};
  if (wait)
    r->timer = ops_loop_timer_start(client->loop, wait, s_on_timer, r);
  else
    r->timer = ops_retry_pace(client->retry, &timer);
  if (wait && !r->timer)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  if (r->timer)
    return OPS_OK;
  const struct ops_credentials *cached = ops_credentials_provider_cached(provider);
  if (cached)
    return s_send(r, cached, err);
  r->fetch = ops_credentials_provider_get(provider, s_on_credentials, r, err);
  return r->fetch ? OPS_OK : err->kind;
}

/* A refusal of the credentials as expired: the provider forgets them and the request goes once
 * more with new ones. */
static bool s_renew(struct s_request *r, const struct ops_error *err)
{
  bool expired =
      err->kind == OPS_ERR_CREDENTIALS &&
      (strcmp(err->code, "ExpiredTokenException") == 0 || strcmp(err->code, "ExpiredToken") == 0);
  if (!expired || r->renewed)
    return false;
  ops_credentials_provider_invalidate(r->call->credentials, r->key_id);
  r->renewed = true;
  return true;
}

/* An attempt failed with *failure: it is sent again when the retry policy allows, else the call
 * fails. */
static void s_attempt_failed(struct s_request *r, const struct ops_http_response *response,
                             struct ops_error *failure)
{
  struct ops_org_client *client = r->call->client;
  char what[80];
  snprintf(what, sizeof(what), "Organizations %s", s_op_names[r->op]);
  long retry_after = -1;
  if (response && response->status)
    retry_after = ops_retry_after_ms(ops_http_response_header(response, "retry-after"),
                                     ops_http_response_header(response, "x-amz-retry-after"),
                                     client->clock.now(client->clock.self));
  struct ops_retry_timer timer = {.loop = client->loop, .fire = s_on_timer, .ud = r, .what = what};
  struct ops_error err = {0};
  if (s_renew(r, failure)) {
    if (s_go(r, &err) != OPS_OK)
      s_fail(r->call, &err);
    return;
  }
  r->timer = ops_retry_schedule(client->retry, &r->attempts, ops_retry_classify(failure),
                                retry_after, failure, &timer);
  if (!r->timer)
    s_fail(r->call, failure);
}

/* A page was read: the next one is asked for, or the request ends and others may start. */
static void s_page_read(struct s_request *r)
{
  struct ops_org_call *call = r->call;
  struct ops_error err = {0};
  ops_retry_succeeded(call->client->retry, &r->attempts);
  if (r->next_token) {
    r->attempts = (struct ops_retry_request){0};
    r->renewed = false;
    if (s_go(r, &err) != OPS_OK)
      s_fail(call, &err);
    return;
  }
  s_request_end(r);
  s_pump(call);
}

static void s_on_response(const struct ops_http_response *response,
                          const struct ops_error *transport_err, void *ud)
{
  struct s_request *r = ud;
  struct ops_error failure = {0};
  json_error_t json_err;
  json_t *answer = NULL;
  int rc = OPS_OK;
  r->exchange = NULL;
  if (transport_err) {
    failure = *transport_err;
    rc = failure.kind;
  } else {
    answer = json_loadb(response->body ? response->body : "", response->body_len, 0, &json_err);
    if (response->status < 200 || response->status >= 300) {
      s_error_answer(r, response, answer, &failure);
      rc = failure.kind;
    } else if (!answer) {
      char why[240];
      snprintf(why, sizeof(why), "is not JSON (%s)", json_err.text);
      rc = s_bad_answer(r, response->status, why, &failure);
    } else {
      rc = s_take_page(r, answer, &failure);
    }
  }
  json_decref(answer);
  ops_retry_observe(r->call->client->retry, rc == OPS_ERR_THROTTLED);
  if (rc == OPS_OK)
    s_page_read(r);
  else
    s_attempt_failed(r, transport_err ? NULL : response, &failure);
}

/* Starts waiting requests while fewer than the client's concurrency are active; the call
 * succeeds when none is left. */
static void s_pump(struct ops_org_call *call)
{
  struct ops_error err = {0};
  while (call->waiting.head && call->active_count < call->client->concurrency) {
    struct s_request *r = OPS_LIST_ENTRY(call->waiting.head, struct s_request, node);
    ops_list_remove(&call->waiting, &r->node);
    ops_list_push_back(&call->active, &r->node);
    call->active_count++;
    if (s_go(r, &err) != OPS_OK) {
      s_fail(call, &err);
      return;
    }
  }
  if (!call->waiting.head && !call->active.head)
    s_succeed(call);
}

static void s_kickoff(void *ud)
{
  struct ops_org_call *call = ud;
  call->kickoff = NULL;
  s_pump(call);
}

static struct ops_org_call *s_call_new(struct ops_org_client *client,
                                       struct ops_credentials_provider *credentials, void *ud)
{
  struct ops_org_call *call = calloc(1, sizeof(*call));
  if (!call)
    return NULL;
  *call = (struct ops_org_call){.client = client, .credentials = credentials, .ud = ud};
  return call;
}

/* Turns the machine once from the loop, so that the callback never runs inside the start. */
static int s_call_start(struct ops_org_call *call, bool queued, struct ops_org_call **out,
                        struct ops_error *err)
{
  if (queued)
    call->kickoff = ops_loop_timer_start(call->client->loop, 0, s_kickoff, call);
  if (!queued || !call->kickoff) {
    s_call_free(call);
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  }
  if (out)
    *out = call;
  return OPS_OK;
}

int ops_org_list_accounts(struct ops_org_client *client,
                          struct ops_credentials_provider *credentials, ops_org_listing_fn done,
                          void *ud, struct ops_org_call **out, struct ops_error *err)
{
  struct ops_org_call *call = s_call_new(client, credentials, ud);
  if (!call)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  call->listing_done = done;
  call->found = calloc(1, sizeof(*call->found));
  call->parents = json_object();
  bool queued = call->found && call->parents && s_request_add(call, S_LIST_ROOTS, NULL, NULL);
  return s_call_start(call, queued, out, err);
}

static bool s_wanted(const char *id, const char *const *account_ids, size_t id_count)
{
  if (!account_ids)
    return true;
  for (size_t i = 0; i < id_count; i++)
    if (account_ids[i] && strcmp(account_ids[i], id) == 0)
      return true;
  return false;
}

int ops_org_fetch_tags(struct ops_org_client *client, struct ops_credentials_provider *credentials,
                       struct ops_org_listing *listing, const char *const *account_ids,
                       size_t id_count, ops_org_tags_fn done, void *ud, struct ops_org_call **out,
                       struct ops_error *err)
{
  struct ops_org_call *call = s_call_new(client, credentials, ud);
  if (!call)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  call->tags_done = done;
  bool queued = true;
  for (size_t i = 0; queued && i < listing->count; i++) {
    struct ops_org_account *account = &listing->accounts[i];
    if (account->tags_fetched || !s_wanted(account->id, account_ids, id_count))
      continue;
    struct s_request *r = s_request_add(call, S_LIST_TAGS, account->id, NULL);
    queued = r && (r->tags = json_array());
    if (r)
      r->account = account;
  }
  return s_call_start(call, queued, out, err);
}

/* --- the client --- */

/* The endpoint: an override's URL is checked as STS's is, naming the variable it came from. */
static int s_endpoint(struct ops_org_client *client, const struct ops_env *env,
                      struct ops_error *err)
{
  const char *variable = NULL;
  const char *url = ops_env_endpoint_url(env, "AWS_ENDPOINT_URL_ORGANIZATIONS", &variable);
  client->endpoint = strdup(url ? url : S_ENDPOINT);
  if (!client->endpoint)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  int rc = ops_http_check_url(client->endpoint, err);
  if (rc != OPS_OK && variable) {
    char why[sizeof(err->message)];
    snprintf(why, sizeof(why), "%s", err->message);
    ops_error_set(err, rc, "%s: %s", variable, why);
  }
  if (rc != OPS_OK)
    return rc;
  struct ops_http_url_parts parts;
  rc = ops_http_url_split(client->endpoint, &parts, err);
  if (rc != OPS_OK)
    return rc;
  client->host = parts.host;
  client->path = parts.path;
  free(parts.query); /* AWS JSON sends everything in the body */
  return OPS_OK;
}

static int s_retry(struct ops_org_client *client, const struct ops_org_options *options,
                   struct ops_error *err)
{
  if (!options->retry) {
    struct ops_retry_options retry = {.env = options->env};
    return ops_retry_new(&client->retry, &retry, err);
  }
  client->retry = ops_retry_new_like(options->retry);
  return client->retry ? OPS_OK : ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
}

int ops_org_client_new(struct ops_org_client **out, const struct ops_org_options *options,
                       struct ops_error *err)
{
  *out = NULL;
  struct ops_org_client *client = calloc(1, sizeof(*client));
  if (!client)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  double rate =
      options->requests_per_second > 0 ? options->requests_per_second : OPS_ORG_REQUESTS_PER_SECOND;
  *client = (struct ops_org_client){
      .transport = options->transport,
      .clock = options->clock,
      .loop = options->loop,
      .concurrency = options->concurrency > 0 ? options->concurrency : OPS_ORG_CONCURRENCY,
      .timeout_ms = options->timeout_ms > 0 ? options->timeout_ms : S_TIMEOUT_MS,
      .pacer = ops_pacer_new(rate)};
  int rc = client->pacer ? OPS_OK : ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  if (rc == OPS_OK)
    rc = s_endpoint(client, &options->env, err);
  if (rc == OPS_OK)
    rc = s_retry(client, options, err);
  if (rc == OPS_OK)
    rc = ops_sigv4_signer_new(&client->signer, 0, err);
  if (rc != OPS_OK) {
    ops_org_client_free(client);
    return rc;
  }
  *out = client;
  return OPS_OK;
}

void ops_org_client_free(struct ops_org_client *client)
{
  if (!client)
    return;
  ops_sigv4_signer_free(client->signer);
  ops_retry_free(client->retry);
  ops_pacer_free(client->pacer);
  free(client->endpoint);
  free(client->host);
  free(client->path);
  free(client);
}

const char *ops_org_client_endpoint(const struct ops_org_client *client)
{
  return client->endpoint;
}
