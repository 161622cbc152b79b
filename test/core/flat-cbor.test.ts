// The flat-map fast path must agree with cborg byte for byte, and accept nothing cborg's strict,
// canonical path would refuse.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decode, encode } from 'cborg';
import { STRICT_DECODE_OPTIONS } from '../../src/core/encoding.ts';
import { decodeFlatMap, encodeFlatMap } from '../../src/core/flat-cbor.ts';

// A small deterministic generator (mulberry32), so that a failure reproduces.
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Integers at every head width's edges.
const EDGES = [0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER];

function randomMap(random: () => number): Record<string, unknown> {
  const pick = (n: number) => Math.floor(random() * n);
  // all of ASCII, control characters and DEL included
  const ascii = (n: number) => Array.from({ length: n }, () => String.fromCharCode(pick(128))).join('');
  const out: Record<string, unknown> = {};
  // now and then 24 entries or more, whose count takes a head byte of its own
  const count = pick(10) === 0 ? 24 + pick(20) : pick(7);
  for (let i = 0; i < count; i++) {
    // mostly short keys, so that keys of equal length (ordered bytewise) are common
    const key = pick(10) === 0 ? ascii(24 + pick(10)) : ascii(pick(5));
    if (key === '__proto__') continue;
    switch (pick(5)) {
      case 0:
        out[key] = EDGES[pick(EDGES.length)];
        break;
      case 1:
        out[key] = pick(100_000);
        break;
      case 2:
        out[key] = ascii(pick(3) === 0 ? 300 : pick(30));
        break;
      case 3:
        out[key] = Uint8Array.from({ length: pick(3) === 0 ? 70_000 : pick(40) }, () => pick(256));
        break;
      default:
        out[key] = pick(2) === 0;
    }
  }
  return out;
}

// What the general path makes of `bytes`: the value, or undefined when it refuses them.
function generalDecode(bytes: Uint8Array): unknown {
  try {
    const value = decode(bytes, STRICT_DECODE_OPTIONS);
    return Buffer.compare(encode(value), bytes) === 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

describe('flat CBOR maps', () => {
  it('encode exactly as cborg does, and decode to what cborg decodes', () => {
    const random = generator(1);
    for (let i = 0; i < 2000; i++) {
      const value = randomMap(random);
      const bytes = encodeFlatMap(value);
      assert.ok(bytes, `flat map ${i} was not encoded`);
      assert.equal(Buffer.compare(bytes, encode(value)), 0, `map ${i}`);
      assert.deepStrictEqual(decodeFlatMap(bytes), decode(bytes, STRICT_DECODE_OPTIONS));
    }
  });

  it('leave room for a prefix when asked', () => {
    const bytes = encodeFlatMap({ type: 'object', req: 7 }, 4);
    assert.ok(bytes);
    assert.equal(Buffer.compare(bytes.subarray(4), encode({ type: 'object', req: 7 })), 0);
    assert.deepEqual([...bytes.subarray(0, 4)], [0, 0, 0, 0]);
  });

  it('read each value once', () => {
    let reads = 0;
    const value = {
      type: 'x',
      get n() {
        reads++;
        return reads === 1 ? 1 : 'a longer string than the first answer';
      },
    };
    const bytes = encodeFlatMap(value);
    assert.ok(bytes);
    assert.equal(reads, 1);
    assert.deepStrictEqual(decodeFlatMap(bytes), { n: 1, type: 'x' });
  });

  it('decline values outside the flat shape', () => {
    for (const value of [
      { a: -1 },
      { a: 1.5 },
      { a: 2 ** 53 },
      { a: [1] },
      { a: { b: 1 } },
      { a: null },
      { a: undefined },
      { a: 'é' },
      { é: 1 },
      { a: 1n },
    ]) {
      assert.equal(
        encodeFlatMap(value as Record<string, unknown>),
        undefined,
        JSON.stringify(value, (_, v) => String(v)),
      );
    }
  });

  it('decline every encoding that is not canonical or not flat', () => {
    const cases: [string, number[]][] = [
      ['an integer in a longer head', [0xa1, 0x61, 0x61, 0x18, 0x01]],
      ['a length in a longer head', [0xa1, 0x78, 0x01, 0x61, 0x01]],
      ['an integer in a 16-bit head that fits in 8', [0xa1, 0x61, 0x61, 0x19, 0x00, 0xff]],
      ['an integer in a 32-bit head that fits in 16', [0xa1, 0x61, 0x61, 0x1a, 0x00, 0x00, 0xff, 0xff]],
      ['a length in a 16-bit head that fits in 8', [0xa1, 0x79, 0x00, 0x01, 0x61, 0x01]],
      ['a map count in a longer head', [0xb8, 0x01, 0x61, 0x61, 0x01]],
      ['a 64-bit integer that fits in 32', [0xa1, 0x61, 0x61, 0x1b, 0, 0, 0, 0, 0, 0, 0, 1]],
      ['an integer beyond 2^53', [0xa1, 0x61, 0x61, 0x1b, 0, 0x20, 0, 0, 0, 0, 0, 0]],
      ['keys out of order', [0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x01]],
      ['a longer key first', [0xa2, 0x62, 0x61, 0x61, 0x01, 0x61, 0x62, 0x01]],
      ['a repeated key', [0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02]],
      ['a trailing byte', [0xa1, 0x61, 0x61, 0x01, 0x00]],
      ['a truncated value', [0xa1, 0x61, 0x61, 0x42, 0x01]],
      ['an indefinite map', [0xbf, 0x61, 0x61, 0x01, 0xff]],
      ['a negative integer', [0xa1, 0x61, 0x61, 0x20]],
      ['null', [0xa1, 0x61, 0x61, 0xf6]],
      ['non-ASCII text', [0xa1, 0x61, 0x61, 0x62, 0xc3, 0xa9]],
      ['a byte-string key', [0xa1, 0x41, 0x61, 0x01]],
      ['an array', [0x81, 0x01]],
      ['a __proto__ key', [0xa1, 0x69, ...Buffer.from('__proto__'), 0x01]],
      ['nothing', []],
    ];
    for (const [what, bytes] of cases) {
      assert.equal(decodeFlatMap(Uint8Array.from(bytes)), undefined, what);
    }
  });

  it('accept, of any damaged encoding, only what the general path accepts, as the same value', () => {
    const random = generator(2);
    let accepted = 0;
    for (let i = 0; i < 300; i++) {
      const bytes = encodeFlatMap(randomMap(random));
      assert.ok(bytes);
      if (bytes.length > 2000) continue;
      const variants: Uint8Array[] = [
        bytes.subarray(0, bytes.length - 1),
        Buffer.concat([bytes, Uint8Array.of(0)]),
      ];
      for (let at = 0; at < bytes.length; at++) {
        for (const bit of [0x01, 0x20, 0x80]) {
          const changed = Uint8Array.from(bytes);
          changed[at]! ^= bit;
          variants.push(changed);
        }
      }
      for (const variant of variants) {
        const fast = decodeFlatMap(variant);
        if (fast === undefined) continue;
        accepted++;
        assert.deepStrictEqual(fast, generalDecode(variant));
      }
    }
    assert.ok(accepted > 0, 'no damaged encoding was itself canonical: the check saw nothing');
  });

  it('decode long text as cborg does', () => {
    const value = { type: 'error', message: 'x'.repeat(300_000), n: 0 };
    const bytes = encodeFlatMap(value);
    assert.ok(bytes);
    assert.deepStrictEqual(decodeFlatMap(bytes), value);
  });

  it('decode from a Buffer to plain byte arrays that do not share its memory', () => {
    const bytes = Buffer.from(encode({ id: Uint8Array.of(1, 2, 3) }));
    const value = decodeFlatMap(bytes);
    assert.ok(value);
    const id = value.id as Uint8Array;
    assert.equal(Object.getPrototypeOf(id), Uint8Array.prototype);
    bytes.fill(0);
    assert.deepEqual([...id], [1, 2, 3]);
  });
});
