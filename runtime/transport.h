/* transport.h: what core clients (STS, MCP, credential sources) send requests with and read the
 * time from, as small tables of function pointers: the real ones run HTTP transfers on the event
 * loop and read the system clock; unit tests inject ones that replay canned responses at a fixed
 * time (as aws-c-auth's function tables do); and the step every signed client takes: sign a
 * request with runtime/sigv4.h, then start it. */
#ifndef OPS_TRANSPORT_H
#define OPS_TRANSPORT_H

#include <stdint.h>

#include "runtime/http.h"
#include "runtime/sigv4.h"

struct ops_transport {
  /* Starts an exchange, with ops_http_start's contract: `done` runs once, later, from the loop;
   * returns a handle for cancel, or NULL with `err` set when the request cannot start. */
  void *(*start)(void *self, const struct ops_http_request *request, ops_http_done_fn done,
                 void *ud, struct ops_error *err);
  /* Abandons an exchange that has not ended; its `done` will not run. */
  void (*cancel)(void *self, void *exchange);
  void *self;
};

struct ops_clock {
  /* Seconds since the epoch, with a fraction. */
  double (*now)(void *self);
  void *self;
};

/* What signing a request with SigV4 takes besides the request; all borrowed for the call. */
struct ops_transport_signing {
  struct ops_sigv4_signer *signer;
  const struct ops_sigv4_credentials *credentials;
  const char *region;
  const char *service;
  struct ops_clock clock; /* the signing time */
  const char *path;       /* the request-target as signed (ops_http_url_split's path, query) */
  const char *query;      /* NULL: none */
};

/* The most headers a request to sign may have (those the signature adds not counted). */
#define OPS_TRANSPORT_MAX_SIGNED_HEADERS 12

/* Signs `request` with SigV4 in Authorization-header mode (path normalised) at the clock's time,
 * every one of its headers (Host among them) signed, and starts it on `transport` with the
 * signature's headers after its own, as transport->start does: returns the exchange, or NULL
 * with `err` set when signing or starting failed (`done` then never runs). */
void *ops_transport_start_signed(const struct ops_transport *transport,
                                 const struct ops_http_request *request,
                                 const struct ops_transport_signing *signing, ops_http_done_fn done,
                                 void *ud, struct ops_error *err);

/* HTTP transfers on `loop` (borrowed; it must outlive every exchange started). */
struct ops_transport ops_transport_http(struct ops_loop *loop);

/* The system's real-time clock. */
struct ops_clock ops_clock_system(void);

#endif
