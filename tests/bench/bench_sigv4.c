/* bench_sigv4.c: signatures per second of runtime/sigv4 on one core for the typical MCP request of
 * tests/bench/sigv4-request.json (1 KiB JSON body, 8 headers, session token), with the signing key
 * cached (one day's requests) and uncached (every request on a new day). tests/bench/sigv4.sh runs
 * it beside @smithy/signature-v4. Prints tab-separated lines: signature, then one per variant. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "runtime/sigv4.h"
#include "tests/sigv4-diff/sigv4_json.h"

#define S_DEFAULT_REQUEST "tests/bench/sigv4-request.json"
#define S_RUNS            5
#define S_RUN_SECONDS     0.4

static double s_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Signs in batches until S_RUN_SECONDS have passed; returns signatures per second, or -1. With
 * `new_day` each signature's time is a day after the last, so its key is never in the cache. */
static double s_run(struct ops_sigv4_signer *signer, struct sigv4_json_case *c, bool new_day)
{
  struct ops_sigv4_result result = {0};
  struct ops_sigv4_config config = c->config;
  long count = 0;
  double start = s_now(), elapsed = 0;
  do {
    for (int i = 0; i < 1000; i++, count++) {
      if (new_day)
        config.time += 86400;
      if (ops_sigv4_sign(signer, &c->request, &config, &result, NULL)) {
        ops_sigv4_result_free(&result);
        return -1;
      }
    }
    elapsed = s_now() - start;
  } while (elapsed < S_RUN_SECONDS);
  ops_sigv4_result_free(&result);
  return (double)count / elapsed;
}

/* The best of S_RUNS runs: the least disturbed by the rest of the machine. */
static double s_best(struct ops_sigv4_signer *signer, struct sigv4_json_case *c, bool new_day)
{
  double best = 0;
  for (int run = 0; run < S_RUNS; run++) {
    double rate = s_run(signer, c, new_day);
    if (rate < 0)
      return rate;
    if (rate > best)
      best = rate;
  }
  return best;
}

int main(int argc, char **argv)
{
  int rc = 1;
  const char *path = argc > 1 ? argv[1] : S_DEFAULT_REQUEST;
  struct ops_sigv4_signer *signer = NULL;
  struct ops_sigv4_result result = {0};
  struct ops_error err = {0};
  struct sigv4_json_case c = {0};
  char error[256] = "";
  json_error_t json_error;
  json_t *root = json_load_file(path, 0, &json_error);
  if (!root) {
    fprintf(stderr, "bench_sigv4: %s: %s\n", path, json_error.text);
    goto cleanup;
  }
  if (sigv4_json_case_load(&c, root, error, sizeof(error))) {
    fprintf(stderr, "bench_sigv4: %s: %s\n", path, error);
    goto cleanup;
  }
  if (ops_sigv4_signer_new(&signer, 0, &err) ||
      ops_sigv4_sign(signer, &c.request, &c.config, &result, &err)) {
    fprintf(stderr, "bench_sigv4: %s\n", err.message);
    goto cleanup;
  }
  printf("signature\t%s\n", result.signature);
  double cached = s_best(signer, &c, false);
  double uncached = s_best(signer, &c, true);
  if (cached < 0 || uncached < 0) {
    fprintf(stderr, "bench_sigv4: signing failed\n");
    goto cleanup;
  }
  printf("opsrun\tcached\t%.0f\n", cached);
  printf("opsrun\tuncached\t%.0f\n", uncached);
  rc = 0;

cleanup:
  ops_sigv4_result_free(&result);
  ops_sigv4_signer_free(signer);
  sigv4_json_case_free(&c);
  json_decref(root);
  return rc;
}
