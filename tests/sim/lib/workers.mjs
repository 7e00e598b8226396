// Several worker processes serving the same ports (server.mjs --workers N, through node:cluster):
// requests and answers over the IPC channel between the primary process and each worker (Link),
// and the primary's side: forking the workers, waiting until each listens on the same ports, and
// asking every one of them at once. What the workers must share goes through the primary
// (server.mjs says what: counters, their reset, ended MCP sessions, SSO sign-ins).
import cluster from 'node:cluster';

/** Requests and answers over one IPC channel (a cluster worker, or `process` in a worker). */
export class Link {
  /** `handlers`: the answer to each type of request from the other side (value or promise). */
  constructor(channel, handlers) {
    this.channel = channel;
    this.pending = new Map();
    this.asked = 0;
    channel.on('message', (message) => this.receive(message, handlers));
  }

  /** Asks the other side; resolves to its answer. */
  ask(type, body = null) {
    const id = ++this.asked;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.channel.send({ ask: id, type, body });
    });
  }

  async receive(message, handlers) {
    if (message?.answer !== undefined) {
      const resolve = this.pending.get(message.answer);
      this.pending.delete(message.answer);
      return resolve?.(message.value);
    }
    if (message?.ask === undefined) return undefined;
    const value = await handlers[message.type](message.body);
    return this.channel.send({ answer: message.ask, value: value ?? null });
  }
}

/**
 * Forks `count` workers of this script with `env` added to theirs; resolves to { links, ports }
 * once every worker has reported the ports it listens on (cluster shares one port per endpoint,
 * so they must agree). `handlers`: the primary's answers to the workers' requests. `lost(text)`:
 * called if a worker exits before the primary stops it.
 */
export function forkWorkers(count, env, handlers, lost) {
  const listening = [];
  let stopping = false;
  const links = [];
  const ready = new Promise((resolve, reject) => {
    for (let i = 1; i <= count; i++) {
      const worker = cluster.fork({ ...env, OPSRUN_SIM_WORKER: String(i) });
      worker.on('exit', (code, signal) => {
        if (!stopping) lost(`worker ${i} exited (${signal ?? `status ${code}`})`);
      });
      links.push(new Link(worker, {
        ...handlers,
        listening: (ports) => {
          listening.push(ports);
          if (listening.length < count) return;
          if (listening.some((p) => JSON.stringify(p) !== JSON.stringify(listening[0]))) {
            reject(new Error(`workers listen on different ports: ${JSON.stringify(listening)}`));
          }
          resolve(listening[0]);
        },
      }));
    }
  });
  return {
    ready,
    /** Every worker's answer to `type`. */
    askAll: (type, body) => Promise.all(links.map((link) => link.ask(type, body))),
    /** Stops every worker (SIGTERM) and resolves once all have exited. */
    stop() {
      stopping = true;
      const alive = Object.values(cluster.workers).filter((w) => !w.isDead());
      return Promise.all(alive.map((w) => new Promise((resolve) => {
        w.once('exit', resolve);
        w.process.kill('SIGTERM');
      })));
    },
  };
}
