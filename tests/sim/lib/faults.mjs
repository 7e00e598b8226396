// Faults on demand: per-endpoint latency, the seeded draw that decides whether a signed
// request is throttled or answered with a 5xx, and the per-account request quotas of the MCP
// and Organizations endpoints. Each endpoint has its own PRNG streams, so the decisions for a
// given order of requests repeat exactly for a given --seed. Uses util.mjs.
import { prng } from './util.mjs';

/**
 * One token bucket per account: `rate` tokens a second, holding at most `rate` (a second's
 * worth of burst). AWS documents only the sustained rate, so the burst size is our assumption.
 */
class AccountBuckets {
  constructor(rate) {
    this.rate = rate;
    this.buckets = new Map();
  }

  /** Takes a token for `account` at `now` (ms); false when its bucket is empty. */
  take(account, now) {
    const bucket = this.buckets.get(account) ?? { tokens: this.rate, at: now };
    // With a latency range, requests are judged slightly out of order: time never runs back.
    const elapsed = Math.max(0, now - bucket.at);
    bucket.tokens = Math.min(this.rate, bucket.tokens + (elapsed * this.rate) / 1000);
    bucket.at += elapsed;
    const taken = bucket.tokens >= 1;
    if (taken) bucket.tokens -= 1;
    this.buckets.set(account, bucket);
    return taken;
  }
}

export class Faults {
  constructor(opts) {
    this.rates = {
      sts: { throttle: opts.stsThrottleRate, error: opts.stsErrorRate },
      mcp: { throttle: opts.mcpThrottleRate, error: opts.mcpErrorRate },
      organizations: { throttle: opts.orgThrottleRate, error: opts.orgErrorRate },
    };
    this.latencies = { sts: opts.stsLatencyMs, mcp: opts.mcpLatencyMs, organizations: opts.orgLatencyMs };
    this.draws = {};
    this.delays = {};
    for (const endpoint of Object.keys(this.rates)) {
      this.draws[endpoint] = prng(opts.seed, `${endpoint}-faults`);
      this.delays[endpoint] = prng(opts.seed, `${endpoint}-latency`);
    }
    const buckets = (rate) => (rate > 0 ? new AccountBuckets(rate) : null);
    this.quotas = { sts: null, mcp: buckets(opts.mcpRateLimit), organizations: buckets(opts.orgRateLimit) };
  }

  /** Whether a signed request of `account` on `endpoint` at `now` (ms) exceeds its quota. */
  overQuota(endpoint, account, now) {
    const quota = this.quotas[endpoint];
    return quota !== null && !quota.take(account, now);
  }

  /** Milliseconds to wait before answering a request on `endpoint`. */
  latency(endpoint) {
    const { min, max } = this.latencies[endpoint];
    return max === min ? min : min + Math.floor(this.delays[endpoint].next() * (max - min + 1));
  }

  /** null, 'throttle', 500 or 503 for the next signed request on `endpoint`. */
  decide(endpoint) {
    const { throttle, error } = this.rates[endpoint];
    if (throttle === 0 && error === 0) return null;
    const draws = this.draws[endpoint];
    const r = draws.next();
    if (r < throttle) return 'throttle';
    if (r < throttle + error) return draws.next() < 0.5 ? 500 : 503;
    return null;
  }
}
