// The token bucket behind --max-upload and --max-download.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateLimiter } from '../../src/swarm/rate-limit.ts';

test('a wait on the limit ends when its transfer is aborted, and the bytes not waited for are given back', async () => {
  const limiter = new RateLimiter(1000); // 1 kB/s: a 1 MB request waits some 17 minutes
  const stop = new AbortController();
  const long = limiter.take(1_000_000, stop.signal);
  await new Promise<void>((resolve) => setImmediate(resolve)); // the wait has begun
  stop.abort();
  await long; // resolves at once: the test would time out otherwise
  // What was given back lets the next small request pass without a wait of minutes.
  const other = new AbortController();
  let passed = false;
  const next = limiter.take(100, other.signal).then(() => {
    passed = true;
  });
  await new Promise<void>((resolve) => setImmediate(resolve));
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.equal(passed, true, 'the next request waited for bytes never asked for');
  other.abort();
  await next;
});
