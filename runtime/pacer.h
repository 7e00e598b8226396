/* pacer.h: a request quota kept on the client side: at most N requests started in any window of
 * N / rate seconds, a sliding window. It fits a server quota of "about R requests a second"
 * whatever the server counts with (fixed windows, sliding windows or a token bucket) while
 * letting a short burst, such as a session's handshake, go at once. Policy only: the caller gives
 * the time and does the waiting. */
#ifndef OPS_PACER_H
#define OPS_PACER_H

#include <stdint.h>

#define OPS_PACER_MAX_BURST 64 /* N is the rate rounded down, between 1 and this */

struct ops_pacer;

/* A pacer of `per_second` requests a second (> 0), or NULL when out of memory. The caller owns
 * it: release it with ops_pacer_free. */
struct ops_pacer *ops_pacer_new(double per_second);

void ops_pacer_free(struct ops_pacer *pacer);

/* 0 when a request may start at `now_ms` (a monotonic time), and it is counted; else how many
 * milliseconds to wait before asking again. */
uint64_t ops_pacer_delay_ms(struct ops_pacer *pacer, uint64_t now_ms);

/* How many milliseconds after `now_ms` a request may start (0: at once), counting none. */
uint64_t ops_pacer_wait_ms(const struct ops_pacer *pacer, uint64_t now_ms);

#endif
