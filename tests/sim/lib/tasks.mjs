// The hosted server's long-running tasks: a tool call that outlives --working-after-ms becomes a
// task its caller polls with aws___get_tasks (see tools.mjs). Each task belongs to the user id
// that started it and is forgotten a while after it finishes. Uses node:crypto for task ids.
import { randomUUID } from 'node:crypto';

export class TaskStore {
  /** `expiryMs`: how long a finished task stays visible; `clock()`: the time in ms. */
  constructor({ expiryMs, clock }) {
    this.expiryMs = expiryMs;
    this.clock = clock;
    this.tasks = new Map();
    this.finished = []; // in the order they finished, hence of expiry
  }

  /**
   * Tracks `run`, a promise of the tool's envelope, as a task of `owner` (a user id); returns the
   * task's id. `run` must not reject.
   */
  start(owner, run) {
    this.forgetExpired();
    const task = { id: randomUUID(), owner, envelope: null, expiresAt: Infinity };
    this.tasks.set(task.id, task);
    run.then((envelope) => {
      task.envelope = envelope;
      task.expiresAt = this.clock() + this.expiryMs;
      this.finished.push(task);
    });
    return task.id;
  }

  /** The task `id` of `owner` ({envelope}: null while it runs), or null: unknown, expired or another's. */
  find(owner, id) {
    this.forgetExpired();
    const task = this.tasks.get(id);
    return task?.owner === owner ? task : null;
  }

  forgetExpired() {
    const now = this.clock();
    let n = 0;
    while (n < this.finished.length && this.finished[n].expiresAt <= now) this.tasks.delete(this.finished[n++].id);
    if (n) this.finished.splice(0, n);
  }
}
