/* fakes.h: injected stand-ins for the client tests (test_sts, test_credentials*): a transport
 * that records every request and answers from a queue of canned replies, each delivered from a
 * zero-delay timer on a real loop as a transfer would be; a fixed clock; an environment table;
 * and a credentials source whose fetches wait until the test ends them. */
#ifndef FAKES_H
#define FAKES_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/credentials.h"
#include "runtime/env.h"
#include "runtime/loop.h"
#include "runtime/transport.h"

#define FAKE_MAX 32

struct fake_request {
  char method[16];
  char *url;
  char *header_names[16];
  char *header_values[16];
  size_t header_count;
  char *body;
  size_t body_len;
  bool credential_endpoint;
};

struct fake_reply {
  long status;
  const char *body;
  const char *header_name; /* one response header, or NULL */
  const char *header_value;
  enum ops_err fail; /* OPS_OK: answer; else the transport fails with this kind */
  bool hang;         /* never answers (until cancelled) */
};

struct fake_transport {
  struct ops_loop *loop;
  struct fake_request requests[FAKE_MAX];
  size_t request_count;
  struct fake_reply replies[FAKE_MAX];
  size_t reply_count;
  size_t next_reply;
  int in_flight;
};

void fake_transport_init(struct fake_transport *ft, struct ops_loop *loop);
void fake_transport_clear(struct fake_transport *ft);
struct ops_transport fake_transport_get(struct fake_transport *ft);

/* Queues the next answer (strings borrowed: use literals or keep them alive). */
void fake_reply(struct fake_transport *ft, long status, const char *body);
void fake_reply_header(struct fake_transport *ft, long status, const char *body, const char *name,
                       const char *value);
void fake_fail(struct fake_transport *ft, enum ops_err kind);
void fake_hang(struct fake_transport *ft);

/* The value of a recorded request's header (any case), or NULL. */
const char *fake_header(const struct fake_request *request, const char *name);

/* A clock stopped at *now. */
struct ops_clock fake_clock(double *now);

struct fake_env {
  const char *names[32];
  const char *values[32];
  size_t count;
};

/* Sets (or replaces) a variable; strings borrowed. */
void fake_env_set(struct fake_env *env, const char *name, const char *value);
struct ops_env fake_env_get(struct fake_env *env);

/* A credentials source that counts its fetches and keeps them pending until the test ends
 * them with fake_source_answer or fake_source_fail. */
struct fake_source {
  int started;   /* fetches begun */
  int cancelled; /* fetches abandoned */
  struct ops_credentials_fetch *pending[FAKE_MAX];
  size_t pending_count;
};

/* A provider over `source` (borrowed; it must outlive the provider). */
struct ops_credentials_provider *fake_source_provider(const struct ops_credentials_context *context,
                                                      struct fake_source *source);

/* Ends every pending fetch with credentials of key id `key` (secret "secret-KEY", token
 * "token-KEY", source "fake") that expire at `expiration` (0: never). */
void fake_source_answer(struct fake_source *source, const char *key, int64_t expiration);

/* Ends every pending fetch with an error of `kind` saying `message`. */
void fake_source_fail(struct fake_source *source, enum ops_err kind, const char *message);

/* A fetch a test started, and what its callback got. */
struct fake_fetch {
  bool done;
  struct ops_credentials *credentials; /* the test's to free, once done */
  struct ops_error err;
  struct ops_credentials_fetch *fetch; /* until done, for ops_credentials_fetch_cancel */
};

/* Starts fetching from `provider` into `f` (zeroed first), and checks that the callback did not
 * run inside the starting call. */
void fake_fetch_start(struct fake_fetch *f, struct ops_credentials_provider *provider);

/* Runs the loop until *flag is true (fails the test after 5 s). */
void fake_run_until(struct ops_loop *loop, const bool *flag);

#endif
