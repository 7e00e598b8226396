// util.test.mjs: the held answers behind the latency flags.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { holdResponse } from '../lib/util.mjs';

/** Records the writes that reach it, as a ServerResponse would send them. */
class FakeResponse {
  constructor() {
    this.sent = [];
    this.destroyed = false;
  }
  writeHead(status) {
    if (this.sent.some(([name]) => name === 'writeHead')) throw new Error('headers already sent');
    this.sent.push(['writeHead', status]);
    return this;
  }
  write(chunk) {
    this.sent.push(['write', chunk]);
    return true;
  }
  end(chunk) {
    this.sent.push(['end', chunk]);
    return this;
  }
  destroy() {
    this.destroyed = true;
  }
}

const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test('a held answer is written in order once its latency has passed, later writes go straight out', async () => {
  const res = new FakeResponse();
  holdResponse(res, 40);
  assert.equal(res.writeHead(200), res);
  assert.equal(res.write('a'), true);
  await wait(10);
  assert.deepEqual(res.sent, []);
  await wait(60);
  assert.deepEqual(res.sent, [['writeHead', 200], ['write', 'a']]);
  res.end('b');
  assert.deepEqual(res.sent.at(-1), ['end', 'b']);
});

test('no latency holds nothing; a failing replay drops the connection', async () => {
  const direct = new FakeResponse();
  holdResponse(direct, 0);
  direct.end('now');
  assert.deepEqual(direct.sent, [['end', 'now']]);

  const res = new FakeResponse();
  holdResponse(res, 5);
  res.writeHead(200);
  res.writeHead(500); // an error answer after a held success
  await wait(30);
  assert.deepEqual(res.sent, [['writeHead', 200]]);
  assert.equal(res.destroyed, true);
});
