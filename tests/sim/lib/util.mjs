// Small helpers shared by the simulator: hashing for deterministic data, a seeded PRNG for
// faults, the (possibly skewed) clock, body reading, held (delayed) answers, and AWS's date
// and XML text forms.
// Uses only node:crypto.
import { createHash, randomUUID } from 'node:crypto';

/** SHA-256 of the parts joined by '|', as a Buffer: the root of every deterministic choice. */
export function digest(...parts) {
  return createHash('sha256').update(parts.join('|')).digest();
}

/** An unsigned 32-bit integer read from a digest at byte offset `at`. */
export function u32(buf, at = 0) {
  return buf.readUInt32BE(at % (buf.length - 3));
}

/** Picks one element of `list` from a digest byte. */
export function pick(list, buf, at = 0) {
  return list[buf[at % buf.length] % list.length];
}

/** `n` characters of an alphabet drawn from a digest chain seeded by `parts`. */
export function drawChars(alphabet, n, ...parts) {
  let out = '';
  let buf = digest(...parts);
  for (let i = 0; out.length < n; i++) {
    if (i === buf.length) {
      buf = digest(buf.toString('hex'));
      i = 0;
    }
    out += alphabet[buf[i] % alphabet.length];
  }
  return out;
}

export const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
export const SECRET_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/**
 * A seeded PRNG (mulberry32) per named stream, so that the STS and MCP fault decisions do not
 * disturb each other. next() returns a float in [0, 1).
 */
export function prng(seed, stream) {
  let state = u32(digest('prng', seed, stream));
  return {
    next() {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

/** The simulator's clock: real time shifted by --skew-seconds. */
export function makeClock(skewSeconds) {
  const offset = skewSeconds * 1000;
  return () => Date.now() + offset;
}

/** 2026-01-02T03:04:05Z (STS Expiration form, no fraction). */
export function isoSeconds(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** 20260102T030405Z (SigV4 basic ISO-8601 form). */
export function amzDate(ms) {
  return isoSeconds(ms).replace(/[-:]/g, '');
}

/** Parses 20260102T030405Z into epoch milliseconds, or NaN. */
export function parseAmzDate(text) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text || '');
  if (!m) return NaN;
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  return amzDate(ms) === text ? ms : NaN;
}

export function httpDate(ms) {
  return new Date(ms).toUTCString();
}

/** Escapes XML text content (not attributes): AWS leaves quotes and apostrophes as they are. */
export function xmlEscape(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function requestId() {
  return randomUUID();
}

const RESPONSE_WRITES = ['writeHead', 'write', 'end'];

/**
 * Holds what is written to `res` until `ms` from now, then writes it in order. The answer
 * leaves no earlier than the injected latency, while the work on it overlaps the wait: on a
 * real network one request's latency does not queue behind another request's processing, and
 * a single-threaded simulator must not make it so.
 */
export function holdResponse(res, ms) {
  if (ms <= 0) return;
  const held = [];
  for (const name of RESPONSE_WRITES) {
    res[name] = (...args) => {
      held.push([name, args]);
      return name === 'write' ? true : res;
    };
  }
  setTimeout(() => {
    for (const name of RESPONSE_WRITES) delete res[name]; // back to ServerResponse's own
    try {
      for (const [name, args] of held) if (!res.destroyed) res[name](...args);
    } catch (err) {
      res.destroy(err); // e.g. a handler's error answer after a held success: drop the connection
    }
  }, ms);
}

/** Reads a request body into one Buffer; rejects past `limit` bytes. */
export function readBody(req, limit = 8 * 1024 * 1024) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > limit) {
        reject(Object.assign(new Error('request body too large'), { tooLarge: true }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** AWS regions the simulator treats as valid (signing scopes, region_name, list_regions). */
export const REGIONS = [
  ['us-east-1', 'US East (N. Virginia)'],
  ['us-east-2', 'US East (Ohio)'],
  ['us-west-1', 'US West (N. California)'],
  ['us-west-2', 'US West (Oregon)'],
  ['af-south-1', 'Africa (Cape Town)'],
  ['ap-east-1', 'Asia Pacific (Hong Kong)'],
  ['ap-south-1', 'Asia Pacific (Mumbai)'],
  ['ap-northeast-1', 'Asia Pacific (Tokyo)'],
  ['ap-northeast-2', 'Asia Pacific (Seoul)'],
  ['ap-northeast-3', 'Asia Pacific (Osaka)'],
  ['ap-southeast-1', 'Asia Pacific (Singapore)'],
  ['ap-southeast-2', 'Asia Pacific (Sydney)'],
  ['ca-central-1', 'Canada (Central)'],
  ['eu-central-1', 'Europe (Frankfurt)'],
  ['eu-central-2', 'Europe (Zurich)'],
  ['eu-west-1', 'Europe (Ireland)'],
  ['eu-west-2', 'Europe (London)'],
  ['eu-west-3', 'Europe (Paris)'],
  ['eu-north-1', 'Europe (Stockholm)'],
  ['eu-south-1', 'Europe (Milan)'],
  ['me-south-1', 'Middle East (Bahrain)'],
  ['sa-east-1', 'South America (Sao Paulo)'],
];
export const REGION_IDS = new Set(REGIONS.map(([id]) => id));
