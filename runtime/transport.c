/* transport.c: the real transport (runtime/http.h on the event loop) and the system clock. */
#include "runtime/transport.h"

#include <time.h>

static void *s_http_start(void *self, const struct ops_http_request *request, ops_http_done_fn done,
                          void *ud, struct ops_error *err)
{
  return ops_http_start(self, request, done, ud, err);
}

static void s_http_cancel(void *self, void *exchange)
{
  (void)self;
  ops_http_cancel(exchange);
}

struct ops_transport ops_transport_http(struct ops_loop *loop)
{
  return (struct ops_transport){.start = s_http_start, .cancel = s_http_cancel, .self = loop};
}

static double s_system_now(void *self)
{
  (void)self;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct ops_clock ops_clock_system(void)
{
  return (struct ops_clock){.now = s_system_now, .self = NULL};
}
