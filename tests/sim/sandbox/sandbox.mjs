// The CPython sandbox behind aws___run_script: starts sandbox.py once under Debian's
// /usr/bin/python3, runs scripts through it over JSON lines, answers its call_boto3 requests with
// a callback, and kills and restarts it when it wedges or dies, failing only the scripts that
// were inside. Uses node:child_process.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const PYTHON = '/usr/bin/python3';
const HELPER = fileURLToPath(new URL('./sandbox.py', import.meta.url));
/** How long past its limit a script may stay unanswered before the helper counts as wedged. */
const GRACE_MS = 2000;
const START_TIMEOUT_MS = 15000;

/** A message for the helper; every Date (a response timestamp) travels as {"$datetime": ISO}. */
function encode(message) {
  return JSON.stringify(message, function tagDates(key, value) {
    return this[key] instanceof Date ? { $datetime: value } : value;
  });
}

function failure(error) {
  return { status: 'error', return_value: null, stdout: '', stderr: `${error}\n`, error };
}

/** One python3 process and the runs in flight inside it. */
class Helper {
  constructor(settings, { onExit, log }) {
    this.log = log;
    this.runs = new Map();
    this.exited = false;
    this.child = spawn(PYTHON, ['-I', '-S', HELPER], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.ready = new Promise((resolve, reject) => {
      this.markReady = resolve;
      this.child.on('error', reject);
      this.child.on('exit', (code, signal) => reject(new Error(`${PYTHON} ${HELPER} exited (${signal ?? code})`)));
    });
    this.ready.catch(() => {}); // a failed start is reported to whoever awaits `ready`
    this.child.stdin.on('error', () => {}); // a dead helper is noticed by its exit
    this.child.on('exit', () => {
      this.exited = true;
      onExit(this);
    });
    createInterface({ input: this.child.stdout }).on('line', (line) => this.receive(JSON.parse(line)));
    this.send({ type: 'init', ...settings });
  }

  send(message) {
    if (!this.exited) this.child.stdin.write(encode(message) + '\n');
  }

  receive(message) {
    if (message.type === 'ready') return this.markReady();
    const run = this.runs.get(message.id);
    if (!run) return undefined; // a run already failed by a restart
    if (message.type === 'call') return this.reply(run, message);
    this.runs.delete(message.id);
    clearTimeout(run.watchdog);
    const { status, return_value: returnValue, stdout, stderr, error } = message;
    return run.resolve({ status, return_value: returnValue, stdout, stderr, error });
  }

  /** Answers one call_boto3 of `run` when its answer, which may take a while, is ready. */
  async reply(run, call) {
    this.send({ type: 'reply', id: call.id, call: call.call, ...(await this.answer(run, call)) });
  }

  async answer(run, call) {
    try {
      return await run.answer(call);
    } catch (err) {
      this.log(`call_boto3 ${call.service}.${call.operation}: ${err.stack}`);
      return { error: { type: 'RuntimeError', message: `opsrun-sim internal error: ${err.message}` } };
    }
  }

  /** Ends every run still inside with `outcomeOf(run)`. */
  failRuns(outcomeOf) {
    for (const run of this.runs.values()) {
      clearTimeout(run.watchdog);
      run.resolve(outcomeOf(run));
    }
    this.runs.clear();
  }
}

export class Sandbox {
  /**
   * `limitSeconds`: a script's time limit; `shapes`: input shapes for botocore's parameter
   * validation ({service: {operation: shape}}); `log(line)`: diagnostics.
   */
  constructor({ limitSeconds, shapes, log = () => {} }) {
    this.limitMs = limitSeconds * 1000;
    this.timeoutError = `TimeoutError: the script did not finish within its time limit of ${limitSeconds} s`;
    this.settings = { shapes, limit_seconds: limitSeconds, timeout_error: this.timeoutError };
    this.log = log;
    this.lastId = 0;
    this.helper = null;
  }

  newHelper() {
    return new Helper(this.settings, { onExit: (h) => this.helperExited(h), log: this.log });
  }

  /** Starts the helper; resolves once it is ready, rejects if python3 cannot run it. */
  async start() {
    this.helper = this.newHelper();
    let timer;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${PYTHON} ${HELPER} not ready after ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    });
    try {
      await Promise.race([this.helper.ready, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Runs `code`; resolves to {status, return_value, stdout, stderr, error}. `answer(call)` answers
   * each call_boto3 ({service, operation, region, params, report}) with {result} or {error}, or a
   * promise of one.
   */
  async run(code, answer) {
    if (!this.helper || this.helper.exited) this.helper = this.newHelper();
    const helper = this.helper;
    try {
      await helper.ready;
    } catch (err) {
      return failure(`RuntimeError: opsrun-sim cannot run its Python sandbox: ${err.message}`);
    }
    const id = ++this.lastId;
    return new Promise((resolve) => {
      const run = { id, answer, resolve, deadline: Date.now() + this.limitMs };
      run.watchdog = setTimeout(() => this.wedged(helper), this.limitMs + GRACE_MS);
      helper.runs.set(id, run);
      helper.send({ type: 'run', id, code });
    });
  }

  /**
   * A script outlived its limit and the grace after it: the helper's loop is stuck. Fails the
   * scripts inside (the overdue ones with the timeout) and starts a fresh helper.
   */
  wedged(helper) {
    this.log(`the Python sandbox did not stop a script at its time limit; restarting it (${helper.runs.size} scripts inside)`);
    const now = Date.now();
    helper.failRuns((run) => failure(run.deadline <= now ? this.timeoutError
      : 'RuntimeError: opsrun-sim restarted its Python sandbox, which another script had wedged, while this script ran'));
    helper.child.kill('SIGKILL');
    if (this.helper === helper) this.helper = this.newHelper();
  }

  helperExited(helper) {
    if (helper.runs.size) this.log(`the Python sandbox exited with ${helper.runs.size} scripts inside`);
    helper.failRuns(() => failure('RuntimeError: opsrun-sim\'s Python sandbox exited while the script ran'));
    if (this.helper === helper) this.helper = null;
  }

  stop() {
    this.helper?.child.kill('SIGKILL');
  }
}
