/* pacer.c: the sliding window of pacer.h as a ring of the last N start times. */
#include "runtime/pacer.h"

#include <math.h>
#include <stdlib.h>

struct ops_pacer {
  uint64_t window_ms; /* N starts at most in any window this long */
  int burst;          /* N */
  int count;          /* starts recorded, up to N */
  int oldest;         /* ring index of the oldest recorded start */
  uint64_t starts[];
};

struct ops_pacer *ops_pacer_new(double per_second)
{
  double whole = floor(per_second);
  int burst = whole < 1 ? 1 : whole > OPS_PACER_MAX_BURST ? OPS_PACER_MAX_BURST : (int)whole;
  struct ops_pacer *pacer = calloc(1, sizeof(*pacer) + (size_t)burst * sizeof(uint64_t));
  if (!pacer)
    return NULL;
  pacer->burst = burst;
  pacer->window_ms = (uint64_t)ceil(burst * 1000.0 / per_second);
  return pacer;
}

void ops_pacer_free(struct ops_pacer *pacer)
{
  free(pacer);
}

uint64_t ops_pacer_wait_ms(const struct ops_pacer *pacer, uint64_t now_ms)
{
  if (pacer->count < pacer->burst)
    return 0;
  uint64_t free_at = pacer->starts[pacer->oldest] + pacer->window_ms;
  return now_ms < free_at ? free_at - now_ms : 0;
}

uint64_t ops_pacer_delay_ms(struct ops_pacer *pacer, uint64_t now_ms)
{
  uint64_t wait = ops_pacer_wait_ms(pacer, now_ms);
  if (wait)
    return wait;
  if (pacer->count < pacer->burst) {
    pacer->starts[(pacer->oldest + pacer->count++) % pacer->burst] = now_ms;
    return 0;
  }
  pacer->starts[pacer->oldest] = now_ms; /* the oldest leaves the window; this one enters */
  pacer->oldest = (pacer->oldest + 1) % pacer->burst;
  return 0;
}
