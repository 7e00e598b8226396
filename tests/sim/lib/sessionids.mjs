// MCP session ids that every worker process of the simulator (server.mjs --workers) can check
// without asking another: a random UUID, a tag of the owner's user id, and an HMAC of both under
// a secret of this run; and the ids ended (DELETEd or expired) in this run, which no worker
// accepts again. The hosted server's ids are opaque to clients (MCP 2025-11-25 transports:
// "globally unique and cryptographically secure", visible ASCII); signing them is our assumption.
// Uses node:crypto.
import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

const OWNER_TAG = 11; // base64url characters of SHA-256(user id): 66 bits
const MAC = 22; // base64url characters of the HMAC: 132 bits

function ownerTag(userId) {
  return createHash('sha256').update(userId).digest('base64url').slice(0, OWNER_TAG);
}

export class SessionIds {
  /**
   * `secret`: the run's signing key (a Buffer every worker shares). `announce(id)`: tells the
   * other workers that a session ended, resolving once none of them accepts it (omitted when
   * the simulator runs alone).
   */
  constructor(secret, announce = async () => {}) {
    this.secret = secret;
    this.announce = announce;
    this.ended = new Set();
  }

  mac(body) {
    return createHmac('sha256', this.secret).update(body).digest('base64url').slice(0, MAC);
  }

  /** A new id for a session of `userId`. */
  issue(userId) {
    const body = `${randomUUID()}.${ownerTag(userId)}`;
    return `${body}.${this.mac(body)}`;
  }

  /** Whether `id` was issued in this run (by any worker) and has not ended. */
  isLive(id) {
    const cut = id.lastIndexOf('.');
    if (cut < 0 || this.ended.has(id)) return false;
    const mac = Buffer.from(id.slice(cut + 1));
    const expected = Buffer.from(this.mac(id.slice(0, cut)));
    return mac.length === expected.length && timingSafeEqual(mac, expected);
  }

  /** Whether a live `id` belongs to `userId`. */
  isOwnedBy(id, userId) {
    return id.slice(0, id.lastIndexOf('.')).endsWith(`.${ownerTag(userId)}`);
  }

  /** Ends `id` here and, through `announce`, in every other worker. */
  end(id) {
    this.ended.add(id);
    return this.announce(id);
  }

  /** Ends `id` here, on another worker's word. */
  endedElsewhere(id) {
    this.ended.add(id);
  }
}
