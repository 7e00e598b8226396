/* loopback_server.h: a small HTTP/1.1 server on 127.0.0.1 for the C tests, one thread per
 * connection. Routes:
 *   GET  /delay/MS     waits MS milliseconds, then 200 "slept MS"
 *   GET  /gather/N     holds the request until N requests are in progress at once, then 200
 *                      "gathered N"; after 10 s without that, 504 "gathered K of N" (K: the
 *                      peak so far), so a test of concurrency never depends on timing
 *   POST /echo         200 with the request body; X-Echo-Method and X-Echo-Test (the request's
 *                      X-Test header) echoed as response headers
 *   GET  /status/CODE  that status with body "status CODE"
 *   GET  /big/BYTES    200 with a body of BYTES 'x's
 *   GET  /half/BYTES   200 announcing 2 x BYTES, then BYTES 'x's, then nothing more (as /hang)
 *   GET  /hang         never answers (until the client goes or the server stops)
 *   POST /close        reads the request, then closes the connection without answering
 *   GET  /chunks/N     200, N chunks "chunk I\n" sent 10 ms apart
 * It counts requests and the peak number in progress at once. */
#ifndef LOOPBACK_SERVER_H
#define LOOPBACK_SERVER_H

struct loopback_server;

struct loopback_server *loopback_server_start(void);
void loopback_server_stop(struct loopback_server *server);

/* "http://127.0.0.1:PORT" */
const char *loopback_server_url(const struct loopback_server *server);

int loopback_server_requests(const struct loopback_server *server);
int loopback_server_peak_concurrency(const struct loopback_server *server);

/* Connections the client closed while the server was still holding the request (/hang). */
int loopback_server_abandoned(const struct loopback_server *server);

#endif
