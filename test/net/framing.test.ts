// Framing over a stream pair: round trips, limits, malformed and truncated input. Every
// violation must surface as PEER_ERROR on the reader and abort the stream.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Stream } from '@libp2p/interface';
import { streamPair } from '@libp2p/utils';
import { encode } from 'cborg';
import { isShoalError } from '../../src/core/errors.ts';
import { decodeFrameHeader, encodeFrameHeader, FrameReader, FrameWriter } from '../../src/net/framing.ts';

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, false);
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Sends raw bytes (optionally closing) and expects the reader to fail with PEER_ERROR. */
async function expectPeerError(
  bytes: Uint8Array,
  options: { close?: boolean; limits?: { maxHeaderBytes?: number; maxPayloadBytes?: number } } = {},
): Promise<{ err: unknown; inbound: Stream; outbound: Stream }> {
  const [outbound, inbound] = await streamPair();
  const reader = new FrameReader(inbound, { limits: options.limits });
  outbound.send(bytes);
  if (options.close !== false) await outbound.close();
  const err = await reader.read().then(
    () => assert.fail('read() should have thrown'),
    (e: unknown) => e,
  );
  assert.ok(isShoalError(err, 'PEER_ERROR'), `expected PEER_ERROR, got ${String(err)}`);
  assert.equal(inbound.status, 'aborted');
  // the failure is sticky
  await assert.rejects(reader.read(), (e) => e === err);
  return { err, inbound, outbound };
}

describe('framing', () => {
  it('round-trips headers with and without payloads', async () => {
    const [outbound, inbound] = await streamPair();
    const writer = new FrameWriter(outbound);
    const reader = new FrameReader(inbound);
    const big = pattern(1024 * 1024 + 7);
    const sent = [
      { header: { type: 'hello', version: 1, name: 'shoal', tags: ['a', 'b'] }, payload: undefined },
      { header: { type: 'chunk', id: pattern(32, 9), offset: 0 }, payload: pattern(256 * 1024, 3) },
      { header: { type: 'empty' }, payload: new Uint8Array(0) },
      {
        header: { type: 'big', nested: { x: -1, y: 2 ** 40, z: null, ok: true, deep: [[['x']]] } },
        payload: big,
      },
    ];
    const writing = (async () => {
      for (const m of sent) await writer.write(m.header, m.payload);
      await writer.close();
    })();
    const got = [];
    for await (const frame of reader) got.push(frame);
    await writing;
    assert.equal(got.length, sent.length);
    for (let i = 0; i < sent.length; i++) {
      assert.deepEqual(got[i]!.header, sent[i]!.header);
      assert.deepEqual(got[i]!.payload, sent[i]!.payload);
    }
    assert.equal(await reader.read(), undefined, 'end of stream stays the end');
  });

  it('keeps concurrent writes whole and in order', async () => {
    const [outbound, inbound] = await streamPair();
    const writer = new FrameWriter(outbound);
    const reader = new FrameReader(inbound);
    const writes = [];
    for (let i = 0; i < 50; i++) writes.push(writer.write({ type: 'n', i }, pattern(10_000 + i, i)));
    await Promise.all(writes);
    await writer.close();
    let i = 0;
    for await (const frame of reader) {
      assert.equal(frame.header.i, i);
      assert.deepEqual(frame.payload, pattern(10_000 + i, i));
      i++;
    }
    assert.equal(i, 50);
  });

  it('sends a batch as one stream write that reads back as separate messages', async () => {
    const [outbound, inbound] = await streamPair();
    const writer = new FrameWriter(outbound);
    const reader = new FrameReader(inbound);
    const sends: number[] = [];
    const send = outbound.send.bind(outbound);
    outbound.send = (data) => {
      sends.push(data.byteLength);
      return send(data);
    };
    const batch = [
      { header: { type: 'object', i: 0 }, payload: pattern(65_536, 1) },
      { header: { type: 'missing', i: 1 } },
      { header: { type: 'object', i: 2 }, payload: pattern(100_000, 2) },
      { header: { type: 'object', i: 3 }, payload: new Uint8Array(0) },
    ];
    await writer.writeBatch(batch);
    // An invalid header anywhere in a batch sends none of it.
    await assert.rejects(
      writer.writeBatch([{ header: { type: 'object', i: 4 } }, { header: { type: 'Bad' } }]),
      (e) => isShoalError(e, 'INVALID_ARGUMENT'),
    );
    await writer.write({ type: 'after' });
    await writer.close();
    assert.equal(sends.length, 2, 'the batch went out in one write, the message after it in another');
    const got = [];
    for await (const frame of reader) got.push(frame);
    assert.deepEqual(
      got.map((f) => f.header),
      [...batch.map((m) => m.header), { type: 'after' }],
    );
    assert.deepEqual(got[0]!.payload, batch[0]!.payload);
    assert.equal(got[1]!.payload, undefined);
    assert.deepEqual(got[2]!.payload, batch[2]!.payload);
  });

  it('reads messages that arrive one byte at a time', async () => {
    const [outbound, inbound] = await streamPair();
    const reader = new FrameReader(inbound);
    const bytes = concat(
      encodeFrameHeader({ type: 'a', n: 1 }, 5),
      Uint8Array.from([1, 2, 3, 4, 5]),
      encodeFrameHeader({ type: 'b' }, undefined),
    );
    for (const byte of bytes) outbound.send(Uint8Array.of(byte));
    await outbound.close();
    assert.deepEqual(await reader.read(), {
      header: { type: 'a', n: 1 },
      payload: Uint8Array.from([1, 2, 3, 4, 5]),
    });
    assert.deepEqual(await reader.read(), { header: { type: 'b' }, payload: undefined });
    assert.equal(await reader.read(), undefined);
  });

  it('reads what arrived, and the end, before the reader was attached', async () => {
    const [outbound, inbound] = await streamPair();
    const writer = new FrameWriter(outbound);
    await writer.write({ type: 'early' }, Uint8Array.from([7]));
    await writer.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(inbound.remoteWriteStatus, 'closed');
    const reader = new FrameReader(inbound);
    assert.deepEqual(await reader.read(), { header: { type: 'early' }, payload: Uint8Array.from([7]) });
    assert.equal(await reader.read(), undefined);
  });

  it('encodes a header canonically and decodes it back', () => {
    const bytes = encodeFrameHeader({ type: 'x', b: 1, a: 2 }, 5);
    assert.equal(new DataView(bytes.buffer).getUint32(0, false), bytes.byteLength - 4);
    const { header, payloadLength } = decodeFrameHeader(bytes.subarray(4));
    assert.deepEqual(header, { type: 'x', a: 2, b: 1 });
    assert.equal(payloadLength, 5);
  });

  it('refuses to send what a peer would reject', async () => {
    const [outbound] = await streamPair();
    const writer = new FrameWriter(outbound, { limits: { maxHeaderBytes: 64, maxPayloadBytes: 100 } });
    const bad = (p: Promise<void>) => assert.rejects(p, (e) => isShoalError(e, 'INVALID_ARGUMENT'));
    await bad(writer.write({ type: 'x', blob: new Uint8Array(100) }));
    await bad(writer.write({ type: 'x' }, new Uint8Array(101)));
    await bad(writer.write({ type: 'Not-Kebab' }));
    await bad(writer.write({ type: 'x', payload: 3 }));
    await bad(writer.write({ type: 'x', u: undefined }));
    await bad(writer.write({ type: 'x', n: Number.NaN }));
    await bad(writer.write({ type: 'x', n: 0.5 }));
    await bad(writer.write({ type: 'x', n: 2n ** 70n }));
    await bad(writer.write({ type: 'x', m: new Map([[1, 2]]) }));
    let deep: unknown = 'leaf';
    for (let i = 0; i < 20; i++) deep = [deep];
    await bad(writer.write({ type: 'x', deep }));
    await bad(writer.write({ type: 'x', n: [Number.POSITIVE_INFINITY] }));
    // nothing was sent, and the writer still works
    assert.equal(outbound.status, 'open');
    await writer.write({ type: 'x' }, new Uint8Array(100));
  });

  it('rejects a header length over the limit before reading it', async () => {
    const { err } = await expectPeerError(u32(1024 * 1024 + 1), { close: false });
    assert.match((err as Error).message, /frame header of 1048577 bytes/);
  });

  it('rejects a header over a configured limit', async () => {
    const header = encodeFrameHeader({ type: 'x', pad: 'y'.repeat(200) }, undefined);
    await expectPeerError(header, { limits: { maxHeaderBytes: 100 } });
  });

  it('rejects a zero-length header', async () => {
    await expectPeerError(u32(0), { close: false });
  });

  it('rejects a payload over the limit before reading it', async () => {
    const header = encodeFrameHeader({ type: 'chunk' }, 16 * 1024 * 1024 + 1, {
      maxPayloadBytes: 64 * 1024 * 1024,
    });
    const { err } = await expectPeerError(header, { close: false });
    assert.match((err as Error).message, /payload of 16777217 bytes exceeds 16777216/);
  });

  it('rejects a payload over a configured limit', async () => {
    const header = encodeFrameHeader({ type: 'chunk' }, 1001);
    await expectPeerError(concat(header, new Uint8Array(1001)), { limits: { maxPayloadBytes: 1000 } });
  });

  it('rejects malformed CBOR', async () => {
    const garbage = Uint8Array.from([0xff, 0xff, 0x00]);
    await expectPeerError(concat(u32(garbage.byteLength), garbage));
  });

  it('rejects CBOR that is not canonical, not a map, or not a valid header', async () => {
    const cases: Uint8Array[] = [
      // keys out of canonical order: {"type": "x", "a": 1}
      Uint8Array.from([0xa2, 0x64, ...new TextEncoder().encode('type'), 0x61, 0x78, 0x61, 0x61, 0x01]),
      // duplicate key
      Uint8Array.from([0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02]),
      // non-minimal integer in strict mode: {"type": "x", "n": 1 as 0x1801}
      concat(encode({ type: 'x' }).subarray(0, 1), Uint8Array.from([0x61, 0x6e, 0x18, 0x01])),
      // a float written wider than needed: {"f": 1.5 as float64, "type": "x"}
      concat(
        Uint8Array.from([0xa2, 0x61, 0x66, 0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]),
        encode({ type: 'x' }).subarray(1),
      ),
      encode(['type', 'x']), // an array
      encode({ kind: 'x' }), // no type
      encode({ type: 'x', payload: -1 }), // negative payload length
      encode({ type: 'x', payload: 1.5 }), // fractional payload length
      concat(encode({ type: 'x' }), Uint8Array.from([0x00])), // trailing bytes
      Uint8Array.from([0xbf, 0x61, 0x61, 0x01, 0xff]), // indefinite-length map
      Uint8Array.from([0xa1, 0x61, 0x61, 0xf7]), // undefined
      Uint8Array.from([0xa1, 0x61, 0x61, 0xf9, 0x7e, 0x00]), // NaN
      Uint8Array.from([0xa1, 0x61, 0x61, 0xc1, 0x01]), // a tag
      Uint8Array.from([
        0xa2,
        0x61,
        0x66,
        0xf9,
        0x41,
        0x00,
        0x64,
        ...new TextEncoder().encode('type'),
        0x61,
        0x78,
      ]), // 2.5
      encode({ n: 2 ** 60, type: 'x' }), // an integer beyond 2^53
      encode({ type: 'x', deep: [[[[[[[[[[[[[[[[[[['x']]]]]]]]]]]]]]]]]]] }), // nested too deep
      new Uint8Array(100_000).fill(0x81), // nesting that would overflow a recursive decoder
    ];
    for (const cbor of cases) await expectPeerError(concat(u32(cbor.byteLength), cbor));
  });

  it('detects a stream that ends inside the length prefix', async () => {
    await expectPeerError(Uint8Array.from([0, 0]));
  });

  it('detects a stream that ends inside a header', async () => {
    const header = encodeFrameHeader({ type: 'x', name: 'abcdef' }, undefined);
    await expectPeerError(header.subarray(0, header.byteLength - 3));
  });

  it('detects a stream that ends inside a payload', async () => {
    const header = encodeFrameHeader({ type: 'chunk' }, 100);
    const { err } = await expectPeerError(concat(header, new Uint8Array(50)));
    assert.match((err as Error).message, /ended inside a message/);
  });

  it('reports a reset by the peer as PEER_ERROR', async () => {
    const [outbound, inbound] = await streamPair();
    const reader = new FrameReader(inbound);
    outbound.send(encodeFrameHeader({ type: 'chunk' }, 100));
    outbound.abort(new Error('boom'));
    await assert.rejects(reader.read(), (e) => isShoalError(e, 'PEER_ERROR'));
  });

  it('aborts the stream when a read is aborted', async () => {
    const [, inbound] = await streamPair();
    const reader = new FrameReader(inbound);
    const ac = new AbortController();
    const reading = reader.read({ signal: ac.signal });
    ac.abort();
    await assert.rejects(reading, (e) => isShoalError(e, 'ABORTED'));
    assert.equal(inbound.status, 'aborted');
  });
});
