/* transport.c: the real transport (runtime/http.h on the event loop), the system clock, and
 * signing a request (runtime/sigv4.h) on its way to a transport. */
#include "runtime/transport.h"

#include <time.h>

void *ops_transport_start_signed(const struct ops_transport *transport,
                                 const struct ops_http_request *request,
                                 const struct ops_transport_signing *signing, ops_http_done_fn done,
                                 void *ud, struct ops_error *err)
{
  if (request->header_count > OPS_TRANSPORT_MAX_SIGNED_HEADERS) {
    ops_error_set(err, OPS_ERR_CONFIG, "%s %s: more than %d headers to sign", request->method,
                  request->url, OPS_TRANSPORT_MAX_SIGNED_HEADERS);
    return NULL;
  }
  struct ops_sigv4_pair to_sign[OPS_TRANSPORT_MAX_SIGNED_HEADERS];
  struct ops_http_header headers[OPS_TRANSPORT_MAX_SIGNED_HEADERS + 4];
  size_t count = request->header_count;
  for (size_t i = 0; i < count; i++) {
    to_sign[i] = (struct ops_sigv4_pair){request->headers[i].name, request->headers[i].value};
    headers[i] = request->headers[i];
  }
  struct ops_sigv4_request unsigned_request = {.method = request->method,
                                               .path = signing->path,
                                               .query = signing->query,
                                               .headers = to_sign,
                                               .header_count = count,
                                               .body = request->body,
                                               .body_len = request->body_len};
  struct ops_sigv4_config config = {.credentials = signing->credentials,
                                    .region = signing->region,
                                    .service = signing->service,
                                    .time = (int64_t)signing->clock.now(signing->clock.self),
                                    .mode = OPS_SIGV4_MODE_HEADER,
                                    .flags = OPS_SIGV4_NORMALIZE_PATH};
  struct ops_sigv4_result signature = {0};
  void *exchange = NULL;
  if (ops_sigv4_sign(signing->signer, &unsigned_request, &config, &signature, err) == OPS_OK) {
    for (size_t i = 0; i < signature.header_count; i++)
      headers[count++] = (struct ops_http_header){(char *)signature.headers[i].name,
                                                  (char *)signature.headers[i].value};
    struct ops_http_request signed_request = *request;
    signed_request.headers = headers;
    signed_request.header_count = count;
    exchange = transport->start(transport->self, &signed_request, done, ud, err);
  }
  ops_sigv4_result_free(&signature);
  return exchange;
}

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
