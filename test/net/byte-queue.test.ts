// The framing reader's byte queue: views within one chunk, copies across chunks, exact counts.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteQueue, releaseCopy } from '../../src/net/byte-queue.ts';

describe('ByteQueue', () => {
  it('takes bytes across chunk boundaries in order', () => {
    const q = new ByteQueue();
    const all = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
    for (let o = 0; o < all.length; ) {
      const n = 1 + (o % 37);
      q.push(all.subarray(o, o + n));
      o += n;
    }
    q.push(new Uint8Array(0));
    assert.equal(q.length, 1000);
    const out: number[] = [];
    for (const n of [1, 3, 4, 100, 0, 250, 642]) out.push(...q.take(n));
    assert.equal(q.length, 0);
    assert.deepEqual(Uint8Array.from(out), all);
  });

  it('peeks a big-endian u32 split over chunks, and skips', () => {
    const q = new ByteQueue();
    q.push(Uint8Array.from([0x01]));
    q.push(Uint8Array.from([0x02, 0x03]));
    q.push(Uint8Array.from([0x04, 0x05]));
    assert.equal(q.peekU32(), 0x01020304);
    q.skip(1);
    assert.equal(q.peekU32(), 0x02030405);
    q.skip(4);
    assert.equal(q.length, 0);
  });

  it('returns a view when the bytes lie in one chunk', () => {
    const q = new ByteQueue();
    const chunk = new Uint8Array(10);
    q.push(chunk);
    const view = q.take(4);
    assert.equal(view.buffer, chunk.buffer);
    assert.equal(q.length, 6);
  });

  it('stays compact over many pushes and takes', () => {
    const q = new ByteQueue();
    for (let i = 0; i < 10_000; i++) {
      q.push(new Uint8Array(3).fill(i & 255));
      assert.deepEqual(q.take(3), new Uint8Array(3).fill(i & 255));
    }
    assert.equal(q.length, 0);
  });

  it('frees only the copies it made itself, and each once', () => {
    const q = new ByteQueue();
    const received = new Uint8Array(20000).fill(7);
    q.push(received.subarray(0, 10000));
    q.push(received.subarray(10000));
    const view = q.take(5000); // within the first chunk: a view of what was received
    const copy = q.take(10000); // across two chunks: a buffer of its own
    q.skip(5000);
    q.push(new Uint8Array(1000).fill(9));
    q.push(new Uint8Array(1000).fill(9));
    const small = q.take(2000); // across chunks too, but from allocUnsafe's shared pool
    assert.equal(q.length, 0);

    releaseCopy(view);
    assert.equal(received.buffer.byteLength, 20000, 'received bytes are not freed');
    assert.deepEqual(view, new Uint8Array(5000).fill(7));
    releaseCopy(small);
    assert.deepEqual(small, new Uint8Array(2000).fill(9), 'a buffer from the shared pool is not freed');
    assert.deepEqual(copy, new Uint8Array(10000).fill(7));
    releaseCopy(copy.subarray(10)); // a view of a copy frees the copy
    assert.equal(copy.length, 0, 'the copy is freed (its buffer detached)');
    assert.equal(copy.buffer.byteLength, 0);
    releaseCopy(copy); // again: nothing left to do, and no error
  });
});
