// A sender's reusable memory must never be given out again while a byte of it is still to be
// encrypted, and must be given out again once every byte is.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Uint8ArrayList } from 'uint8arraylist';
import { createPeerNode, protocolId, STREAM_LIMITS } from '../../src/net/index.ts';
import { noiseCrypto } from '../../src/net/noise-crypto.ts';
import { SendBuffers } from '../../src/net/send-buffers.ts';

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

test('trim lets go of the free slabs once nothing was taken since the last trim', () => {
  const pool = new SendBuffers({ slabBytes: 64 * 1024, keepFree: 4 });
  const a = pool.take(60_000);
  pool.take(60_000); // seals a's slab
  encrypt(a); // which is then free
  assert.equal(pool.freeSlabs, 1);
  pool.trim(); // something was taken since the pool was made: kept
  assert.equal(pool.freeSlabs, 1);
  pool.trim(); // nothing since the last trim: let go
  assert.equal(pool.freeSlabs, 0);
  assert.notEqual(pool.take(60_000).buffer, a.buffer, 'a slab let go is not given out again');
  assert.equal(pool.made, 3);
});

// Through the real stack (TCP, Noise, yamux), with bytes queued unencrypted: yamux holds what
// does not fit the receiver's window (256 KiB at first) until the receiver reads. The sender
// takes and fills every view before any of that is sent, so a slab reused too early would
// overwrite queued bytes before the cipher read them.
test('bytes queued in a stream are not overwritten before they are encrypted', async () => {
  const PROTOCOL = protocolId('test-send-buffers', 1);
  const [a, b] = await Promise.all([
    createPeerNode({ seed: randomBytes(32) }),
    createPeerNode({ seed: randomBytes(32) }),
  ]);
  try {
    const received = new Promise<Buffer>((resolve, reject) => {
      void b.handle(
        PROTOCOL,
        async (stream) => {
          const parts: Buffer[] = [];
          try {
            for await (const data of stream) parts.push(Buffer.from(data.subarray()));
            resolve(Buffer.concat(parts));
          } catch (err) {
            reject(err);
          }
        },
        STREAM_LIMITS,
      );
    });
    const stream = await a.dialProtocol(b.getMultiaddrs(), PROTOCOL);
    const pool = new SendBuffers({ slabBytes: 128 * 1024, keepFree: 4 });
    const pieces = 40;
    const pieceBytes = 100_000; // one piece per slab
    const expected = Buffer.alloc(pieces * pieceBytes);
    for (let i = 0; i < pieces; i++) {
      const view = pool.take(pieceBytes);
      view.set(randomBytes(pieceBytes));
      expected.set(view, i * pieceBytes);
      stream.send(new Uint8ArrayList(view.subarray(0, 10), view.subarray(10))); // as a seeder sends
    }
    // Only the slabs of what went out within the first window may have come back.
    const sentAtOnce = Math.ceil((256 * 1024) / pieceBytes);
    assert.ok(pool.made >= pieces - sentAtOnce, `slabs came back while queued: ${pool.made} made`);
    await stream.close();
    assert.ok((await received).equals(expected), 'every byte arrived as it was given');
    assert.equal(pool.freeSlabs, 4, 'once encrypted, the slabs came back (as many as are kept)');
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});
