// A sender's reusable memory must never be given out again while a byte of it is still to be
// encrypted, and must be given out again once every byte is.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Uint8ArrayList } from 'uint8arraylist';
import { noiseCrypto } from '../../src/net/noise-crypto.ts';
import { SendBuffers } from '../../src/net/send-buffers.ts';
import { securedPair } from './secured-pair.ts';

const KEY = randomBytes(32);
const encrypt = (...parts: Uint8Array[]) =>
  noiseCrypto.chaCha20Poly1305Encrypt(
    parts.length === 1 ? parts[0]! : (new Uint8ArrayList(...parts) as never),
    randomBytes(12),
    new Uint8Array(0),
    KEY,
  );

function overlaps(a: Uint8Array, b: Uint8Array): boolean {
  return (
    a.buffer === b.buffer &&
    a.byteOffset < b.byteOffset + b.byteLength &&
    b.byteOffset < a.byteOffset + a.byteLength
  );
}

test('a slab is reused only once the cipher has read every byte given out of it', () => {
  const pool = new SendBuffers({ slabBytes: 64 * 1024, keepFree: 2 });
  const a = pool.take(30_000);
  const b = pool.take(30_000);
  assert.equal(a.buffer, b.buffer, 'two views that fit share a slab');
  assert.ok(!overlaps(a, b));
  encrypt(a.subarray(0, 20_000), a.subarray(20_000)); // a list of parts, as yamux hands them
  const c = pool.take(10_000); // does not fit beside a and b: a new slab
  assert.notEqual(c.buffer, a.buffer);
  assert.equal(pool.made, 2);
  // b, given out of the first slab, is not yet encrypted: nothing of that slab comes back.
  const d = pool.take(60_000); // seals c's slab, which has c unencrypted too
  assert.ok(!overlaps(d, a) && !overlaps(d, b) && !overlaps(d, c));
  assert.equal(pool.made, 3);
  assert.equal(pool.freeSlabs, 0);
  encrypt(b.subarray(0, 500)); // the cipher's own path for small messages counts too
  encrypt(b.subarray(500));
  assert.equal(pool.freeSlabs, 1, 'every byte of the first slab read: it is free');
  encrypt(c);
  assert.equal(pool.freeSlabs, 2);
  encrypt(d);
  const e = pool.take(40_000); // seals d's slab, released at once, beyond keepFree: let go
  assert.ok(e.buffer === a.buffer || e.buffer === c.buffer, 'a free slab is reused');
  assert.equal(pool.made, 3);
  assert.equal(pool.freeSlabs, 1);
  const big = pool.take(100_000);
  assert.equal(big.byteLength, 100_000, 'more than a slab: memory of its own');
  assert.ok(![a, c, d, e].some((v) => v.buffer === big.buffer));
});

// A hang guard, not a measurement: bytes lost on the way would leave `received` waiting.
test('bytes sent from reused memory over a secured connection arrive intact', {
  timeout: 60_000,
}, async () => {
  const { out, inb } = await securedPair();
  const pieces = 64;
  const pieceBytes = 100_000; // two Noise messages each; one piece per slab
  const expected = Buffer.alloc(pieces * pieceBytes);
  const got: Buffer[] = [];
  let gotBytes = 0;
  let waiting: { bytes: number; resolve: () => void } | undefined;
  inb.addEventListener('message', (evt) => {
    const data = evt.data;
    got.push(Buffer.from(data instanceof Uint8Array ? data : data.subarray()));
    gotBytes += data.byteLength;
    if (waiting && gotBytes >= waiting.bytes) waiting.resolve();
  });
  const received = (bytes: number) =>
    new Promise<void>((resolve) => {
      if (gotBytes >= bytes) resolve();
      else waiting = { bytes, resolve };
    });
  const pool = new SendBuffers({ slabBytes: 128 * 1024, keepFree: 4 });
  for (let i = 0; i < pieces; i++) {
    const view = pool.take(pieceBytes);
    view.set(randomBytes(pieceBytes));
    expected.set(view, i * pieceBytes);
    // As a seeder sends: header and payload in one list. Every other piece waits until the
    // last one arrived, so that reuse is certain; the others overtake what is still queued.
    out.send(new Uint8ArrayList(view.subarray(0, 10), view.subarray(10)));
    if (i % 2 === 1) await received((i + 1) * pieceBytes);
  }
  await received(expected.length);
  assert.deepEqual(Buffer.concat(got), expected);
  assert.ok(pool.made <= 4, `the slabs were reused (${pool.made} made for ${pieces} pieces)`);
  await out.close();
  await inb.close();
});
