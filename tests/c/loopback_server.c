/* loopback_server.c: the threaded test server of loopback_server.h (POSIX sockets, pthreads). */
#define _GNU_SOURCE /* memmem, strcasestr */
#include "loopback_server.h"

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct loopback_server {
  int listen_fd;
  pthread_t acceptor;
  atomic_int requests, in_progress, peak, abandoned, open_connections;
  atomic_bool stopping;
  char url[64];
};

struct connection {
  struct loopback_server *server;
  int fd;
};

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void send_all(int fd, const char *data, size_t len)
{
  while (len > 0) {
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
    if (n <= 0)
      return;
    data += n;
    len -= (size_t)n;
  }
}

static void respond(int fd, int status, const char *extra_headers, const char *body, size_t len)
{
  char head[512];
  int n = snprintf(head, sizeof(head),
                   "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%sConnection: keep-alive\r\n\r\n",
                   status, len, extra_headers ? extra_headers : "");
  send_all(fd, head, (size_t)n);
  send_all(fd, body, len);
}

/* Reads one request; returns its total length in buf, or -1 when the peer closed. */
static ssize_t read_request(int fd, char *buf, size_t cap, size_t *header_len, size_t *body_len)
{
  size_t have = 0;
  for (;;) {
    char *end = have ? memmem(buf, have, "\r\n\r\n", 4) : NULL;
    if (end) {
      *header_len = (size_t)(end - buf) + 4;
      const char *cl = strcasestr(buf, "\r\ncontent-length:");
      *body_len = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
      if (have >= *header_len + *body_len)
        return (ssize_t)(*header_len + *body_len);
    }
    if (have == cap - 1)
      return -1;
    ssize_t n = recv(fd, buf + have, cap - 1 - have, 0);
    if (n <= 0)
      return -1;
    have += (size_t)n;
    buf[have] = '\0';
  }
}

/* Waits for the client to go away (or the server to stop); counts the abandonment. */
static void hang(struct connection *c)
{
  while (!c->server->stopping) {
    struct pollfd p = {c->fd, POLLIN, 0};
    if (poll(&p, 1, 20) > 0) {
      char byte;
      if (recv(c->fd, &byte, 1, MSG_PEEK) <= 0) {
        c->server->abandoned++;
        return;
      }
    }
  }
}

/* /gather/N: waits until the peak of requests in progress reaches `wanted` (or 10 s pass). */
static void gather(struct connection *c, long wanted)
{
  for (int waited_ms = 0; c->server->peak < wanted && waited_ms < 10000; waited_ms++)
    sleep_ms(1);
  char body[64];
  int peak = c->server->peak;
  int len = peak >= wanted ? snprintf(body, sizeof(body), "gathered %ld", wanted)
                           : snprintf(body, sizeof(body), "gathered %d of %ld", peak, wanted);
  respond(c->fd, peak >= wanted ? 200 : 504, NULL, body, (size_t)len);
}

/* Answers one request; returns false when the connection is to be closed instead. */
static bool serve(struct connection *c, const char *request, size_t header_len, size_t body_len)
{
  char method[16], path[256];
  if (sscanf(request, "%15s %255s", method, path) != 2)
    return false;
  long n;
  if (sscanf(path, "/delay/%ld", &n) == 1) {
    sleep_ms(n);
    char body[64];
    int len = snprintf(body, sizeof(body), "slept %ld", n);
    respond(c->fd, 200, NULL, body, (size_t)len);
  } else if (sscanf(path, "/gather/%ld", &n) == 1) {
    gather(c, n);
  } else if (strcmp(path, "/echo") == 0) {
    char headers[256] = "";
    const char *test = strcasestr(request, "\r\nx-test:");
    int test_len = test ? (int)strcspn(test + 9, "\r") : 0;
    snprintf(headers, sizeof(headers), "X-Echo-Method: %s\r\nX-Echo-Test:%.*s\r\n", method,
             test_len, test ? test + 9 : "");
    respond(c->fd, 200, headers, request + header_len, body_len);
  } else if (sscanf(path, "/status/%ld", &n) == 1) {
    char body[64];
    int len = snprintf(body, sizeof(body), "status %ld", n);
    respond(c->fd, (int)n, NULL, body, (size_t)len);
  } else if (sscanf(path, "/big/%ld", &n) == 1) {
    char *body = malloc((size_t)n);
    memset(body, 'x', (size_t)n);
    respond(c->fd, 200, NULL, body, (size_t)n);
    free(body);
  } else if (sscanf(path, "/half/%ld", &n) == 1) {
    char head[128];
    int len = snprintf(head, sizeof(head), "HTTP/1.1 200 X\r\nContent-Length: %ld\r\n\r\n", 2 * n);
    send_all(c->fd, head, (size_t)len);
    char *body = malloc((size_t)n);
    memset(body, 'x', (size_t)n);
    send_all(c->fd, body, (size_t)n);
    free(body);
    hang(c);
  } else if (strcmp(path, "/hang") == 0) {
    hang(c);
  } else if (strcmp(path, "/close") == 0) {
    return false;
  } else if (sscanf(path, "/chunks/%ld", &n) == 1) {
    const char *head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    send_all(c->fd, head, strlen(head));
    for (long i = 0; i < n; i++) {
      char chunk[64], data[32];
      int len = snprintf(data, sizeof(data), "chunk %ld\n", i);
      int total = snprintf(chunk, sizeof(chunk), "%x\r\n%s\r\n", len, data);
      send_all(c->fd, chunk, (size_t)total);
      sleep_ms(10);
    }
    send_all(c->fd, "0\r\n\r\n", 5);
  } else {
    respond(c->fd, 404, NULL, "no such route", 13);
  }
  return true;
}

static void *connection_main(void *arg)
{
  struct connection *c = arg;
  char *buf = malloc(1 << 20);
  size_t header_len, body_len;
  while (read_request(c->fd, buf, 1 << 20, &header_len, &body_len) >= 0) {
    c->server->requests++;
    int now = ++c->server->in_progress;
    int peak = c->server->peak;
    while (now > peak && !atomic_compare_exchange_weak(&c->server->peak, &peak, now))
      ;
    bool keep_open = serve(c, buf, header_len, body_len);
    c->server->in_progress--;
    if (!keep_open)
      break;
  }
  free(buf);
  close(c->fd);
  c->server->open_connections--;
  free(c);
  return NULL;
}

static void *acceptor_main(void *arg)
{
  struct loopback_server *server = arg;
  while (!server->stopping) {
    struct pollfd p = {server->listen_fd, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0)
      continue;
    int fd = accept(server->listen_fd, NULL, NULL);
    if (fd < 0)
      continue;
    struct connection *c = malloc(sizeof(*c));
    *c = (struct connection){server, fd};
    server->open_connections++;
    pthread_t thread;
    pthread_create(&thread, NULL, connection_main, c);
    pthread_detach(thread);
  }
  return NULL;
}

struct loopback_server *loopback_server_start(void)
{
  struct loopback_server *server = calloc(1, sizeof(*server));
  server->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  int yes = 1;
  setsockopt(server->listen_fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(addr);
  if (bind(server->listen_fd, (struct sockaddr *)&addr, len) != 0 ||
      listen(server->listen_fd, 1024) != 0 ||
      getsockname(server->listen_fd, (struct sockaddr *)&addr, &len) != 0) {
    perror("loopback_server");
    exit(1);
  }
  snprintf(server->url, sizeof(server->url), "http://127.0.0.1:%d", ntohs(addr.sin_port));
  pthread_create(&server->acceptor, NULL, acceptor_main, server);
  return server;
}

void loopback_server_stop(struct loopback_server *server)
{
  server->stopping = true;
  pthread_join(server->acceptor, NULL);
  close(server->listen_fd);
  while (server->open_connections > 0) /* the client closes its connections; wait for them */
    sleep_ms(5);
  free(server);
}

const char *loopback_server_url(const struct loopback_server *server)
{
  return server->url;
}

int loopback_server_requests(const struct loopback_server *server)
{
  return server->requests;
}

int loopback_server_peak_concurrency(const struct loopback_server *server)
{
  return server->peak;
}

int loopback_server_abandoned(const struct loopback_server *server)
{
  return server->abandoned;
}
