// Faults on demand: per-endpoint latency and the seeded draw that decides whether a signed
// request is throttled or answered with a 5xx. Each endpoint has its own PRNG streams, so the
// decisions for a given order of requests repeat exactly for a given --seed. Uses util.mjs.
import { prng } from './util.mjs';

export class Faults {
  constructor(opts) {
    this.rates = {
      sts: { throttle: opts.stsThrottleRate, error: opts.stsErrorRate },
      mcp: { throttle: opts.mcpThrottleRate, error: opts.mcpErrorRate },
    };
    this.latencies = { sts: opts.stsLatencyMs, mcp: opts.mcpLatencyMs };
    this.draws = { sts: prng(opts.seed, 'sts-faults'), mcp: prng(opts.seed, 'mcp-faults') };
    this.delays = { sts: prng(opts.seed, 'sts-latency'), mcp: prng(opts.seed, 'mcp-latency') };
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
