/* transport.h: what core clients (STS, MCP, credential sources) send requests with and read the
 * time from, as small tables of function pointers: the real ones run HTTP transfers on the event
 * loop and read the system clock; unit tests inject ones that replay canned responses at a fixed
 * time (as aws-c-auth's function tables do). */
#ifndef OPS_TRANSPORT_H
#define OPS_TRANSPORT_H

#include <stdint.h>

#include "runtime/http.h"

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

/* HTTP transfers on `loop` (borrowed; it must outlive every exchange started). */
struct ops_transport ops_transport_http(struct ops_loop *loop);

/* The system's real-time clock. */
struct ops_clock ops_clock_system(void);

#endif
