// firstToSucceed: attempts that overlap, the first success ending the rest.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { firstToSucceed } from '../../src/swarm/overlapping.ts';

/** An attempt that ends only when its signal aborts (an address that swallows packets). */
function hanging(signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(false), { once: true }));
}

test('an attempt that never answers does not hold up the next, and is aborted once that one succeeds', {
  timeout: 10_000,
}, async () => {
  const started: string[] = [];
  const aborted: string[] = [];
  const ok = await firstToSucceed(
    ['silent', 'good', 'never'],
    async (item, signal) => {
      started.push(item);
      signal.addEventListener('abort', () => aborted.push(item), { once: true });
      if (item === 'good') return true;
      return hanging(signal);
    },
    5,
  );
  assert.equal(ok, true);
  assert.deepEqual(started, ['silent', 'good'], 'nothing starts after a success');
  assert.deepEqual(aborted, ['silent', 'good'], 'every running attempt hears of it');
});

test('a failure starts the next attempt at once, and all failing is false', async () => {
  const started: string[] = [];
  // A stagger longer than any test: the next attempt can start only because the one before failed.
  const ok = await firstToSucceed(
    ['a', 'b', 'c'],
    async (item) => {
      started.push(item);
      return false;
    },
    3_600_000,
  );
  assert.equal(ok, false);
  assert.deepEqual(started, ['a', 'b', 'c']);
  // A throw is a failure too.
  const thrown = await firstToSucceed(
    ['x', 'y'],
    async (item) => {
      if (item === 'x') throw new Error('refused');
      return true;
    },
    3_600_000,
  );
  assert.equal(thrown, true);
});

test('the caller aborting ends every attempt, with nothing won', { timeout: 10_000 }, async () => {
  const caller = new AbortController();
  const started: string[] = [];
  const done = firstToSucceed(
    ['a', 'b'],
    (item, signal) => {
      started.push(item);
      if (started.length === 2) caller.abort();
      return hanging(signal);
    },
    1,
    caller.signal,
  );
  assert.equal(await done, false);
  assert.deepEqual(started, ['a', 'b']);
  assert.equal(await firstToSucceed([], async () => true, 1), false, 'nothing to try');
});
