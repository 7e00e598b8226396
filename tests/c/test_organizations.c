/* test_organizations.c: the Organizations client against an injected transport at a fixed time:
 * the AWS JSON 1.1 requests (target, content type, body, the organizations/us-east-1 signing
 * scope), the walk of a tree with empty pages and a null token into ACTIVE accounts with their
 * ou_path (State before the retired Status), AWS's error shapes mapped onto kinds with the
 * message whole, retries after throttling, renewal of expired credentials, tags, concurrency,
 * pacing, endpoint overrides and cancellation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakes.h"
#include "runtime/organizations.h"

#define ORG_URL "https://organizations.us-east-1.amazonaws.com"

struct fixture {
  struct ops_loop *loop;
  struct fake_transport ft;
  struct fake_env env;
  double now;
  struct ops_credentials_context context;
  struct ops_credentials_provider *caller;
  struct ops_retry *retry;
  struct ops_org_client *org;
};

/* What a callback saw. */
struct outcome {
  bool done;
  struct ops_org_listing *listing;
  bool failed;
  struct ops_error err;
};

static double s_no_jitter(void *self)
{
  (void)self;
  return 0;
}

static int s_client(struct fixture *f, int concurrency, double rate, struct ops_error *err)
{
  ops_org_client_free(f->org);
  ops_retry_free(f->retry);
  f->org = NULL;
  struct ops_retry_options retry = {
      .env = fake_env_get(&f->env), .clock = fake_clock(&f->now), .random = {.next = s_no_jitter}};
  assert_int_equal(ops_retry_new(&f->retry, &retry, NULL), OPS_OK);
  struct ops_org_options options = {.transport = fake_transport_get(&f->ft),
                                    .clock = fake_clock(&f->now),
                                    .loop = f->loop,
                                    .env = fake_env_get(&f->env),
                                    .retry = f->retry,
                                    .requests_per_second = rate,
                                    .concurrency = concurrency};
  return ops_org_client_new(&f->org, &options, err);
}

static int setup(void **state)
{
  struct fixture *f = calloc(1, sizeof(*f));
  f->loop = ops_loop_new();
  fake_transport_init(&f->ft, f->loop);
  f->now = 1700000000.25; /* 2023-11-14T22:13:20Z */
  f->context = (struct ops_credentials_context){.loop = f->loop,
                                                .transport = fake_transport_get(&f->ft),
                                                .clock = fake_clock(&f->now),
                                                .env = fake_env_get(&f->env)};
  struct ops_credentials *keys = NULL;
  assert_int_equal(ops_credentials_new(&keys, "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG",
                                       "FwoGZXIvYXdzEXAMPLE", 0, "test", NULL),
                   OPS_OK);
  assert_int_equal(ops_credentials_provider_static_new(&f->caller, &f->context, keys, NULL),
                   OPS_OK);
  assert_int_equal(s_client(f, 1, 1000, NULL), OPS_OK);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  ops_org_client_free(f->org);
  ops_retry_free(f->retry);
  ops_credentials_provider_free(f->caller);
  fake_transport_clear(&f->ft);
  ops_loop_free(f->loop);
  free(f);
  return 0;
}

static void on_listing(struct ops_org_listing *listing, const struct ops_error *err, void *ud)
{
  struct outcome *o = ud;
  o->done = true;
  o->listing = listing;
  if (err) {
    o->failed = true;
    o->err = *err;
  }
}

static void on_tags(const struct ops_error *err, void *ud)
{
  on_listing(NULL, err, ud);
}

static void walk(struct fixture *f, struct outcome *o)
{
  memset(o, 0, sizeof(*o));
  struct ops_error err = {0};
  assert_int_equal(ops_org_list_accounts(f->org, f->caller, on_listing, o, NULL, &err), OPS_OK);
  assert_false(o->done); /* never inside the starting call */
  fake_run_until(f->loop, &o->done);
}

static void fetch_tags(struct fixture *f, struct ops_org_listing *listing, const char *const *ids,
                       size_t count, struct outcome *o)
{
  memset(o, 0, sizeof(*o));
  struct ops_error err = {0};
  assert_int_equal(
      ops_org_fetch_tags(f->org, f->caller, listing, ids, count, on_tags, o, NULL, &err), OPS_OK);
  assert_false(o->done);
  fake_run_until(f->loop, &o->done);
}

static const char s_one_root[] =
    "{\"Roots\":[{\"Id\":\"r-ab12\",\"Name\":\"Root\",\"Arn\":\"arn:aws:organizations::"
    "999999999999:root/o-x/r-ab12\",\"PolicyTypes\":[]}]}";

static void requests_are_json_1_1_signed_for_organizations_in_us_east_1(void **state)
{
  struct fixture *f = *state;
  struct outcome o;
  fake_reply(&f->ft, 200, s_one_root);
  fake_reply(&f->ft, 200, "{\"OrganizationalUnits\":[]}");
  fake_reply(&f->ft, 200, "{\"Accounts\":[]}");
  walk(f, &o);
  assert_false(o.failed);
  assert_int_equal(o.listing->count, 0);
  assert_int_equal(f->ft.request_count, 3);

  static const char *const targets[] = {"ListRoots", "ListOrganizationalUnitsForParent",
                                        "ListAccountsForParent"};
  static const char *const bodies[] = {"{}", "{\"ParentId\":\"r-ab12\"}",
                                       "{\"ParentId\":\"r-ab12\"}"};
  for (size_t i = 0; i < 3; i++) {
    const struct fake_request *r = &f->ft.requests[i];
    char target[96];
    snprintf(target, sizeof(target), "AWSOrganizationsV20161128.%s", targets[i]);
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->url, ORG_URL);
    assert_string_equal(fake_header(r, "Host"), "organizations.us-east-1.amazonaws.com");
    assert_string_equal(fake_header(r, "Content-Type"), "application/x-amz-json-1.1");
    assert_string_equal(fake_header(r, "X-Amz-Target"), target);
    assert_string_equal(r->body, bodies[i]);
    assert_string_equal(fake_header(r, "X-Amz-Date"), "20231114T221320Z");
    assert_string_equal(fake_header(r, "X-Amz-Security-Token"), "FwoGZXIvYXdzEXAMPLE");
    const char *prefix = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/"
                         "organizations/aws4_request, SignedHeaders=content-type;host;"
                         "x-amz-date;x-amz-security-token;x-amz-target, Signature=";
    assert_int_equal(strncmp(fake_header(r, "Authorization"), prefix, strlen(prefix)), 0);
  }
  ops_org_listing_free(o.listing);
}

/* Root (r-1) holds 999999999999 and a suspended account; Workloads (ou-w) holds 222222222222
 * (State ACTIVE beats Status SUSPENDED) and a closed account over two pages; Prod (ou-p) under
 * it holds 333333333333. The root's OU list starts with an empty page whose token remains. */
static void the_walk_pages_every_list_and_keeps_active_accounts_with_their_ou_path(void **state)
{
  struct fixture *f = *state;
  struct outcome o;
  fake_reply(&f->ft, 200, "{\"Roots\":[{\"Id\":\"r-1\",\"Name\":\"Root\"}],\"NextToken\":null}");
  fake_reply(&f->ft, 200, "{\"OrganizationalUnits\":[],\"NextToken\":\"t1\"}");
  fake_reply(&f->ft, 200,
             "{\"OrganizationalUnits\":[{\"Id\":\"ou-w\",\"Name\":\"Workloads\",\"Arn\":\"a\"}],"
             "\"NextToken\":null}");
  fake_reply(&f->ft, 200,
             "{\"Accounts\":[{\"Id\":\"999999999999\",\"Name\":\"management\",\"Email\":"
             "\"root@example.com\",\"Arn\":\"arn:aws:organizations::999999999999:account/o-x/"
             "999999999999\",\"Status\":\"ACTIVE\",\"JoinedMethod\":\"CREATED\","
             "\"JoinedTimestamp\":1.6e9},{\"Id\":\"444444444444\",\"Status\":\"SUSPENDED\"}]}");
  fake_reply(&f->ft, 200, "{\"OrganizationalUnits\":[{\"Id\":\"ou-p\",\"Name\":\"Prod\"}]}");
  fake_reply(&f->ft, 200,
             "{\"Accounts\":[{\"Id\":\"222222222222\",\"Name\":\"payments\",\"State\":\"ACTIVE\","
             "\"Status\":\"SUSPENDED\",\"Unknown\":{\"x\":1}}],\"NextToken\":\"a1\"}");
  fake_reply(&f->ft, 200,
             "{\"Accounts\":[{\"Id\":\"555555555555\",\"State\":\"CLOSED\"}],\"Extra\":1}");
  fake_reply(&f->ft, 200, "{\"OrganizationalUnits\":[]}");
  fake_reply(&f->ft, 200, "{\"Accounts\":[{\"Id\":\"333333333333\",\"State\":\"ACTIVE\"}]}");
  walk(f, &o);
  assert_false(o.failed);
  assert_int_equal(f->ft.request_count, 9);
  assert_string_equal(f->ft.requests[2].body, "{\"ParentId\":\"r-1\",\"NextToken\":\"t1\"}");
  assert_string_equal(f->ft.requests[6].body, "{\"ParentId\":\"ou-w\",\"NextToken\":\"a1\"}");

  const struct ops_org_listing *l = o.listing;
  static const char *const ids[] = {"222222222222", "333333333333", "999999999999"};
  static const char *const ous[] = {"ou-w", "ou-p", "r-1"};
  static const char *const paths[] = {"Root/Workloads", "Root/Workloads/Prod", "Root"};
  assert_int_equal(l->count, 3);
  for (size_t i = 0; i < 3; i++) {
    assert_string_equal(l->accounts[i].id, ids[i]);
    assert_string_equal(l->accounts[i].ou, ous[i]);
    assert_string_equal(l->accounts[i].ou_path, paths[i]);
    assert_false(l->accounts[i].tags_fetched);
  }
  assert_string_equal(l->accounts[0].name, "payments");
  assert_string_equal(l->accounts[0].email, "");
  assert_string_equal(l->accounts[2].email, "root@example.com");
  assert_string_equal(l->accounts[2].arn,
                      "arn:aws:organizations::999999999999:account/o-x/999999999999");
  assert_int_equal(l->skipped_count, 2);
  assert_string_equal(l->skipped[0].state, "CLOSED");
  assert_int_equal(l->skipped[0].count, 1);
  assert_string_equal(l->skipped[1].state, "SUSPENDED");
  assert_int_equal(l->skipped[1].count, 1);
  assert_int_equal(l->cached_at, 0);
  assert_false(ops_org_listing_has_tags(l));
  assert_int_equal(l->unit_count, 3); /* every root and OU met, sorted by id */
  assert_string_equal(l->units[0].id, "ou-p");
  assert_string_equal(ops_org_listing_unit_path(l, "ou-w"), "Root/Workloads");
  assert_string_equal(ops_org_listing_unit_path(l, "r-1"), "Root");
  assert_null(ops_org_listing_unit_path(l, "ou-x"));
  ops_org_listing_free(o.listing);
}

struct error_case {
  long status;
  const char *body;
  const char *header_value; /* X-Amzn-ErrorType, or NULL */
  enum ops_err kind;
  const char *code;
  const char *message; /* the start of the message */
  bool retryable;
};

static const struct error_case s_errors[] = {
    {400,
     "{\"__type\":\"com.amazonaws.organizations.v20161128#AccessDeniedException\",\"message\":"
     "\"You don't have permissions to access this resource.\"}",
     NULL, OPS_ERR_DENIED, "AccessDeniedException",
     "You don't have permissions to access this resource. To list the accounts from AWS "
     "Organizations, run as the organization's management account or a delegated administrator, "
     "or list them in a registry file instead.",
     false},
    {400,
     "{\"__type\":\"AWSOrganizationsNotInUseException\",\"Message\":\"Your account is not a "
     "member of an organization.\"}",
     NULL, OPS_ERR_CONFIG, "AWSOrganizationsNotInUseException",
     "Your account is not a member of an organization. To list the accounts from AWS Organizations",
     false},
    {400, "{}", "InvalidInputException:http://internal.amazon.com/coral/com.amazonaws.x/",
     OPS_ERR_CONFIG, "InvalidInputException",
     "Organizations ListRoots failed with HTTP 400 InvalidInputException and no message "
     "(endpoint " ORG_URL ")",
     false},
    {400,
     "{\"__type\":\"TooManyRequestsException\",\"message\":\"AWS Organizations can't complete "
     "your request because another request is already in progress. Try again later.\"}",
     NULL, OPS_ERR_THROTTLED, "TooManyRequestsException",
     "AWS Organizations can't complete your request because another request is already in "
     "progress. Try again later.",
     true},
    {500, "{\"__type\":\"ServiceException\",\"message\":\"Organizations can't complete it.\"}",
     NULL, OPS_ERR_TRANSPORT, "ServiceException", "Organizations can't complete it.", true},
    {503, "<html>Service Unavailable</html>", NULL, OPS_ERR_TRANSPORT, "",
     "Organizations ListRoots failed with HTTP 503 and no message", true},
    {403,
     "{\"__type\":\"UnrecognizedClientException\",\"message\":\"The security token "
     "included in the request is invalid.\"}",
     NULL, OPS_ERR_CREDENTIALS, "UnrecognizedClientException",
     "The security token included in the request is invalid.", false},
    {200, "not json", NULL, OPS_ERR_TRANSPORT, "",
     "Organizations ListRoots at " ORG_URL ": the answer (HTTP 200) is not JSON", false},
    {200, "{\"Roots\":{}}", NULL, OPS_ERR_TRANSPORT, "",
     "Organizations ListRoots at " ORG_URL ": the answer (HTTP 200) has a Roots that is not a list",
     false},
};

static void aws_error_shapes_map_onto_kinds_with_the_message_whole(void **state)
{
  struct fixture *f = *state;
  fake_env_set(&f->env, "AWS_MAX_ATTEMPTS", "1");
  assert_int_equal(s_client(f, 1, 1000, NULL), OPS_OK);
  for (size_t i = 0; i < sizeof(s_errors) / sizeof(s_errors[0]); i++) {
    const struct error_case *c = &s_errors[i];
    struct outcome o;
    fake_transport_clear(&f->ft);
    fake_reply_header(&f->ft, c->status, c->body, c->header_value ? "X-Amzn-ErrorType" : NULL,
                      c->header_value);
    walk(f, &o);
    assert_true(o.failed);
    assert_null(o.listing);
    assert_int_equal(o.err.kind, c->kind);
    assert_string_equal(o.err.code, c->code);
    assert_int_equal(strncmp(o.err.message, c->message, strlen(c->message)), 0);
    assert_int_equal(o.err.retryable, c->retryable);
    assert_int_equal(o.err.http_status, c->status);
  }
}

static void throttling_is_retried_and_the_last_error_says_how_many_attempts(void **state)
{
  struct fixture *f = *state;
  struct outcome o;
  fake_env_set(&f->env, "AWS_MAX_ATTEMPTS", "4");
  assert_int_equal(s_client(f, 1, 1000, NULL), OPS_OK);
  fake_fail(&f->ft, OPS_ERR_TRANSPORT);
  fake_reply(&f->ft, 400, "{\"__type\":\"TooManyRequestsException\",\"message\":\"slow down\"}");
  fake_reply(&f->ft, 429, "{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}");
  fake_reply(&f->ft, 200, "{\"Roots\":[]}");
  walk(f, &o);
  assert_false(o.failed);
  assert_int_equal(f->ft.request_count, 4);
  ops_org_listing_free(o.listing);

  fake_env_set(&f->env, "AWS_MAX_ATTEMPTS", "3");
  assert_int_equal(s_client(f, 1, 1000, NULL), OPS_OK);
  fake_transport_clear(&f->ft);
  for (int i = 0; i < 3; i++)
    fake_reply(&f->ft, 500, "{\"__type\":\"ServiceException\",\"message\":\"down\"}");
  walk(f, &o);
  assert_true(o.failed);
  assert_int_equal(f->ft.request_count, 3);
  assert_string_equal(o.err.message, "down (after 3 attempts)");
}

static void credentials_refused_as_expired_are_renewed_once(void **state)
{
  struct fixture *f = *state;
  struct outcome o;
  fake_env_set(&f->env, "AWS_MAX_ATTEMPTS", "1");
  assert_int_equal(s_client(f, 1, 1000, NULL), OPS_OK);
  static const char expired[] =
      "{\"__type\":\"ExpiredTokenException\",\"message\":\"The security token included in the "
      "request is expired\"}";
  fake_reply(&f->ft, 400, expired);
  fake_reply(&f->ft, 200, "{\"Roots\":[]}");
  walk(f, &o);
  assert_false(o.failed);
  assert_int_equal(f->ft.request_count, 2);
  ops_org_listing_free(o.listing);

  fake_transport_clear(&f->ft);
  fake_reply(&f->ft, 400, expired);
  fake_reply(&f->ft, 400, expired);
  walk(f, &o);
  assert_true(o.failed);
  assert_int_equal(o.err.kind, OPS_ERR_CREDENTIALS);
  assert_string_equal(o.err.code, "ExpiredTokenException");
  assert_int_equal(f->ft.request_count, 2);
}

static void a_token_given_back_again_ends_the_walk_instead_of_looping(void **state)
{
  struct fixture *f = *state;
  struct outcome o;
  fake_reply(&f->ft, 200, "{\"Roots\":[],\"NextToken\":\"same\"}");
  fake_reply(&f->ft, 200, "{\"Roots\":[],\"NextToken\":\"same\"}");
  walk(f, &o);
  assert_true(o.failed);
  assert_int_equal(o.err.kind, OPS_ERR_TRANSPORT);
  assert_string_equal(o.err.message, "Organizations ListRoots at " ORG_URL
                                     ": the answer (HTTP 200) gives the NextToken it was asked for "
                                     "again");
}

static void an_ou_met_twice_ends_the_walk_instead_of_looping(void **state)
{
  struct fixture *f = *state;
  struct outcome o;
  fake_reply(&f->ft, 200, s_one_root);
  fake_reply(&f->ft, 200, "{\"OrganizationalUnits\":[{\"Id\":\"r-ab12\",\"Name\":\"Again\"}]}");
  walk(f, &o);
  assert_true(o.failed);
  assert_string_equal(o.err.message, "Organizations ListOrganizationalUnitsForParent at " ORG_URL
                                     ": the answer (HTTP 200) lists a root or an OU met before");
}

static void a_caller_without_credentials_fails_the_walk_with_the_providers_error(void **state)
{
  struct fixture *f = *state;
  struct fake_source source = {0};
  struct outcome o = {0};
  struct ops_error err = {0};
  struct ops_credentials_provider *none = fake_source_provider(&f->context, &source);
  assert_int_equal(ops_org_list_accounts(f->org, none, on_listing, &o, NULL, &err), OPS_OK);
  while (source.pending_count == 0)
    ops_loop_run_once(f->loop, 100);
  fake_source_fail(&source, OPS_ERR_CREDENTIALS, "no credentials anywhere");
  fake_run_until(f->loop, &o.done);
  assert_true(o.failed);
  assert_int_equal(o.err.kind, OPS_ERR_CREDENTIALS);
  assert_string_equal(o.err.message, "no credentials anywhere");
  assert_int_equal(f->ft.request_count, 0);
  ops_credentials_provider_free(none);
}

/* A listing of two accounts without tags, as a walk leaves it. */
static struct ops_org_listing *s_listing(void)
{
  struct ops_org_listing *l = calloc(1, sizeof(*l));
  static const char *const ids[] = {"222222222222", "333333333333"};
  l->accounts = calloc(2, sizeof(*l->accounts));
  l->count = 2;
  for (size_t i = 0; i < 2; i++) {
    struct ops_org_account *a = &l->accounts[i];
    a->id = strdup(ids[i]);
    a->name = strdup("n");
    a->email = strdup("e");
    a->arn = strdup("a");
    a->ou = strdup("r-1");
    a->ou_path = strdup("Root");
  }
  return l;
}

static void tags_are_fetched_page_by_page_for_the_accounts_asked(void **state)
{
  struct fixture *f = *state;
  struct outcome o;
  struct ops_org_listing *l = s_listing();
  const char *const only[] = {"222222222222", "777777777777"};
  fake_reply(&f->ft, 200,
             "{\"Tags\":[{\"Key\":\"team\",\"Value\":\"payments\"}],\"NextToken\":\"n1\"}");
  fake_reply(&f->ft, 200, "{\"Tags\":[{\"Key\":\"env\",\"Value\":\"prod\"}],\"NextToken\":null}");
  fetch_tags(f, l, only, 2, &o);
  assert_false(o.failed);
  assert_int_equal(f->ft.request_count, 2);
  assert_string_equal(fake_header(&f->ft.requests[0], "X-Amz-Target"),
                      "AWSOrganizationsV20161128.ListTagsForResource");
  assert_string_equal(f->ft.requests[0].body, "{\"ResourceId\":\"222222222222\"}");
  assert_string_equal(f->ft.requests[1].body,
                      "{\"ResourceId\":\"222222222222\",\"NextToken\":\"n1\"}");
  assert_true(l->accounts[0].tags_fetched);
  assert_int_equal(l->accounts[0].tag_count, 2);
  assert_string_equal(l->accounts[0].tags[0].key, "env");
  assert_string_equal(l->accounts[0].tags[0].value, "prod");
  assert_string_equal(l->accounts[0].tags[1].key, "team");
  assert_false(l->accounts[1].tags_fetched);
  assert_false(ops_org_listing_has_tags(l));

  fake_transport_clear(&f->ft); /* every account: only the one without tags is asked */
  fake_reply(&f->ft, 200, "{\"Tags\":[]}");
  fetch_tags(f, l, NULL, 0, &o);
  assert_false(o.failed);
  assert_int_equal(f->ft.request_count, 1);
  assert_string_equal(f->ft.requests[0].body, "{\"ResourceId\":\"333333333333\"}");
  assert_true(ops_org_listing_has_tags(l));
  assert_int_equal(l->accounts[1].tag_count, 0);
  ops_org_listing_free(l);
}

static void a_failed_tag_fetch_leaves_the_account_as_it_was(void **state)
{
  struct fixture *f = *state;
  struct outcome o;
  struct ops_org_listing *l = s_listing();
  fake_env_set(&f->env, "AWS_MAX_ATTEMPTS", "1");
  assert_int_equal(s_client(f, 1, 1000, NULL), OPS_OK);
  fake_reply(&f->ft, 200, "{\"Tags\":[{\"Key\":\"team\",\"Value\":\"x\"}],\"NextToken\":\"n\"}");
  fake_reply(&f->ft, 400, "{\"__type\":\"AccessDeniedException\",\"Message\":\"no\"}");
  const char *const only[] = {"333333333333"};
  fetch_tags(f, l, only, 1, &o);
  assert_true(o.failed);
  assert_int_equal(o.err.kind, OPS_ERR_DENIED);
  assert_false(l->accounts[1].tags_fetched);
  assert_int_equal(l->accounts[1].tag_count, 0);
  ops_org_listing_free(l);
}

/* Two roots make four lists to start after ListRoots; none answers: three are sent, the fourth
 * waits for a place. */
static void parents_are_listed_several_at_once_within_the_concurrency(void **state)
{
  struct fixture *f = *state;
  struct outcome o = {0};
  struct ops_org_call *call = NULL;
  struct ops_error err = {0};
  assert_int_equal(s_client(f, 3, 1000, NULL), OPS_OK);
  fake_reply(
      &f->ft, 200,
      "{\"Roots\":[{\"Id\":\"r-1\",\"Name\":\"Root\"},{\"Id\":\"r-2\",\"Name\":\"Other\"}]}");
  for (int i = 0; i < 4; i++)
    fake_hang(&f->ft);
  assert_int_equal(ops_org_list_accounts(f->org, f->caller, on_listing, &o, &call, &err), OPS_OK);
  uint64_t deadline = ops_loop_now_ms() + 5000;
  while (f->ft.request_count < 4 && ops_loop_now_ms() < deadline)
    ops_loop_run_once(f->loop, 100);
  ops_loop_run_once(f->loop, 20);
  assert_int_equal(f->ft.request_count, 4);
  assert_int_equal(f->ft.in_flight, 3);
  assert_false(o.done);
  ops_org_call_cancel(call);
  assert_int_equal(f->ft.in_flight, 0);
}

static void requests_are_paced_within_the_rate(void **state)
{
  struct fixture *f = *state;
  struct outcome o;
  assert_int_equal(s_client(f, 4, 2, NULL), OPS_OK); /* two a second */
  fake_reply(&f->ft, 200, s_one_root);
  fake_reply(&f->ft, 200, "{}");
  fake_reply(&f->ft, 200, "{}");
  uint64_t start = ops_loop_now_ms();
  walk(f, &o);
  assert_false(o.failed);
  assert_true(ops_loop_now_ms() - start >= 900); /* the third request waited for the window */
  ops_org_listing_free(o.listing);
}

static void a_cancelled_walk_stops_its_requests_and_never_calls_back(void **state)
{
  struct fixture *f = *state;
  struct outcome o = {0};
  struct ops_org_call *call = NULL;
  struct ops_error err = {0};
  fake_hang(&f->ft);
  assert_int_equal(ops_org_list_accounts(f->org, f->caller, on_listing, &o, &call, &err), OPS_OK);
  while (f->ft.request_count == 0)
    ops_loop_run_once(f->loop, 100);
  assert_int_equal(f->ft.in_flight, 1);
  ops_org_call_cancel(call);
  assert_int_equal(f->ft.in_flight, 0);
  ops_loop_run_once(f->loop, 10);
  assert_false(o.done);
}

static void the_endpoint_can_be_overridden(void **state)
{
  struct fixture *f = *state;
  struct ops_error err = {0};
  assert_string_equal(ops_org_client_endpoint(f->org), ORG_URL);
  fake_env_set(&f->env, "AWS_ENDPOINT_URL", "http://127.0.0.1:4566");
  assert_int_equal(s_client(f, 1, 1000, &err), OPS_OK);
  assert_string_equal(ops_org_client_endpoint(f->org), "http://127.0.0.1:4566");
  fake_env_set(&f->env, "AWS_ENDPOINT_URL_ORGANIZATIONS", "http://127.0.0.1:9000/org");
  assert_int_equal(s_client(f, 1, 1000, &err), OPS_OK);
  struct outcome o;
  fake_reply(&f->ft, 200, "{\"Roots\":[]}");
  walk(f, &o);
  assert_string_equal(f->ft.requests[0].url, "http://127.0.0.1:9000/org");
  assert_string_equal(fake_header(&f->ft.requests[0], "Host"), "127.0.0.1:9000");
  ops_org_listing_free(o.listing);
  fake_env_set(&f->env, "AWS_ENDPOINT_URL_ORGANIZATIONS", "http://example.com/");
  assert_int_equal(s_client(f, 1, 1000, &err), OPS_ERR_CONFIG);
  assert_int_equal(strncmp(err.message, "AWS_ENDPOINT_URL_ORGANIZATIONS: ", 32), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(requests_are_json_1_1_signed_for_organizations_in_us_east_1,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          the_walk_pages_every_list_and_keeps_active_accounts_with_their_ou_path, setup, teardown),
      cmocka_unit_test_setup_teardown(aws_error_shapes_map_onto_kinds_with_the_message_whole, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          throttling_is_retried_and_the_last_error_says_how_many_attempts, setup, teardown),
      cmocka_unit_test_setup_teardown(credentials_refused_as_expired_are_renewed_once, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_token_given_back_again_ends_the_walk_instead_of_looping,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(an_ou_met_twice_ends_the_walk_instead_of_looping, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          a_caller_without_credentials_fails_the_walk_with_the_providers_error, setup, teardown),
      cmocka_unit_test_setup_teardown(tags_are_fetched_page_by_page_for_the_accounts_asked, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_failed_tag_fetch_leaves_the_account_as_it_was, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(parents_are_listed_several_at_once_within_the_concurrency,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(requests_are_paced_within_the_rate, setup, teardown),
      cmocka_unit_test_setup_teardown(a_cancelled_walk_stops_its_requests_and_never_calls_back,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(the_endpoint_can_be_overridden, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
