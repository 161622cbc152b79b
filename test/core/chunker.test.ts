// The chunker: pinned test vectors (docs/format-vectors.json), the cut rule checked against an
// independent reference implementation, min/max bounds, determinism and edit locality.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { blake3 } from '@napi-rs/blake-hash';
import { WasmCutter } from '../../src/core/chunker-wasm.ts';
import {
  type ChunkerParams,
  chunkLengths,
  cutRule,
  DEFAULT_CHUNKER,
  findCut,
  GEAR,
  hashChunk,
  isShoalError,
  toHex,
  xorshiftStream,
} from '../../src/core/index.ts';
import { ROOT } from '../helpers.ts';

interface CutVector {
  seed: number;
  length: number;
  params: 'default' | 'small';
  lengths: number[];
  firstChunkIds: string[];
}

interface Vectors {
  xorshift32: { samples: { seed: number; first32Bytes: string }[] };
  gear: { table: string[] };
  chunker: {
    default: ChunkerParams & { maskS: string; maskL: string };
    small: ChunkerParams & { maskS: string; maskL: string };
    cutPoints: CutVector[];
  };
}

const vectors = JSON.parse(readFileSync(join(ROOT, 'docs', 'format-vectors.json'), 'utf8')) as Vectors;
const SMALL: ChunkerParams = { min: 256, avg: 1024, max: 4096 };
const u32 = (n: number): number => n >>> 0;

/** Chunk ids of a buffer, in order, with their offsets. */
function chunks(buf: Uint8Array, params: ChunkerParams = DEFAULT_CHUNKER) {
  const out: { id: string; offset: number; length: number }[] = [];
  let offset = 0;
  for (const length of chunkLengths(buf, params)) {
    out.push({ id: toHex(hashChunk(buf.subarray(offset, offset + length))), offset, length });
    offset += length;
  }
  return out;
}

/**
 * The cut rule written out from its specification, with unsigned arithmetic, independently of
 * src/core/chunker.ts: bytes before `min` are skipped; the gear hash h = 2h + gear[b] (mod 2^32)
 * runs from there; up to `avg` a cut needs the top log2(avg)+2 bits of h zero, after it the top
 * log2(avg)-2 bits; without a cut the chunk is `max` long (or the rest of the input).
 */
function referenceLengths(buf: Uint8Array, p: ChunkerParams): number[] {
  const bits = Math.log2(p.avg);
  const maskS = u32(~0 << (32 - (bits + 2)));
  const maskL = u32(~0 << (32 - (bits - 2)));
  const out: number[] = [];
  let start = 0;
  while (start < buf.length) {
    const remaining = buf.length - start;
    let length = Math.min(remaining, p.max);
    if (remaining > p.min) {
      let h = 0;
      for (let i = p.min; i < length; i++) {
        h = u32(h * 2 + u32(GEAR[buf[start + i]!]!));
        const mask = i < p.avg ? maskS : maskL;
        if (u32(h & mask) === 0) {
          length = i + 1;
          break;
        }
      }
    }
    out.push(length);
    start += length;
  }
  return out;
}

test('xorshift stream matches its vectors and is deterministic', () => {
  for (const { seed, first32Bytes } of vectors.xorshift32.samples) {
    assert.equal(Buffer.from(xorshiftStream(seed, 32)).toString('hex'), first32Bytes);
    // A length that is not a multiple of 4 starts with the same whole words.
    assert.equal(
      Buffer.from(xorshiftStream(seed, 31)).toString('hex').slice(0, 56),
      first32Bytes.slice(0, 56),
    );
  }
  // The definition, written out: whole words little-endian, then the low byte of further steps.
  for (let length = 0; length < 41; length++) {
    let x = 7;
    const step = (): number => {
      x = u32(x ^ (x << 13));
      x = u32(x ^ (x >>> 17));
      x = u32(x ^ (x << 5));
      return x;
    };
    const want = Buffer.alloc(length);
    let i = 0;
    for (; i + 4 <= length; i += 4) want.writeUInt32LE(step(), i);
    for (; i < length; i++) want[i] = step() & 0xff;
    assert.deepEqual(Buffer.from(xorshiftStream(7, length)), want, `length ${length}`);
  }
  assert.equal(
    vectors.xorshift32.samples[0]!.first32Bytes,
    '2120040001060804c5a8cc9d4f995512d117f98ed05b6f2c1a33b225b21cf919',
  );
  assert.deepEqual(xorshiftStream(0, 64), xorshiftStream(1, 64), 'seed 0 is replaced by 1');
});

test('gear table is BLAKE3("shoal-gear-v1" || i) and matches the pinned table', () => {
  assert.equal(GEAR.length, 256);
  for (let i = 0; i < 256; i++) {
    const digest = blake3(Buffer.concat([Buffer.from('shoal-gear-v1', 'ascii'), Buffer.of(i)]));
    assert.equal(u32(GEAR[i]!), digest.readUInt32LE(0), `gear[${i}]`);
    assert.equal(`0x${u32(GEAR[i]!).toString(16).padStart(8, '0')}`, vectors.gear.table[i], `gear[${i}]`);
  }
  // A few values pinned here too, so that regenerating the vectors file cannot hide a change.
  assert.equal(u32(GEAR[0]!), 0x33839d61);
  assert.equal(u32(GEAR[1]!), 0x4d8648bb);
  assert.equal(u32(GEAR[127]!), u32(-1806856630));
  assert.equal(u32(GEAR[255]!), u32(-2033425799));
});

test('cut rule masks: top log2(avg)+2 bits before avg, top log2(avg)-2 bits after', () => {
  const rule = cutRule(DEFAULT_CHUNKER);
  assert.deepEqual(DEFAULT_CHUNKER, { min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024 });
  assert.equal(u32(rule.maskS), 0xffffc000); // 18 bits
  assert.equal(u32(rule.maskL), 0xfffc0000); // 14 bits
  assert.equal(`0x${u32(rule.maskS).toString(16)}`, vectors.chunker.default.maskS);
  assert.equal(`0x${u32(rule.maskL).toString(16)}`, vectors.chunker.default.maskL);
  const small = cutRule(SMALL);
  assert.equal(u32(small.maskS), 0xfff00000); // 12 bits
  assert.equal(u32(small.maskL), 0xff000000); // 8 bits
});

test('invalid chunker parameters are rejected', () => {
  for (const p of [
    { min: 16, avg: 1024, max: 4096 }, // min too small
    { min: 2048, avg: 1024, max: 4096 }, // min > avg
    { min: 256, avg: 1000, max: 4096 }, // avg not a power of two
    { min: 256, avg: 1024, max: 1024 }, // max == avg
    { min: 256, avg: 1024, max: 128 * 1024 * 1024 }, // max too large
  ]) {
    assert.throws(
      () => cutRule(p),
      (e) => isShoalError(e, 'UNSUPPORTED_FORMAT'),
      JSON.stringify(p),
    );
  }
});

test('known cut points on seeded streams (test vectors)', () => {
  assert.equal(vectors.chunker.cutPoints.length, 4);
  for (const v of vectors.chunker.cutPoints) {
    const params = v.params === 'default' ? DEFAULT_CHUNKER : SMALL;
    const buf = xorshiftStream(v.seed, v.length);
    const got = chunks(buf, params);
    assert.deepEqual(
      got.map((c) => c.length),
      v.lengths,
      `seed ${v.seed}`,
    );
    assert.deepEqual(
      got.slice(0, v.firstChunkIds.length).map((c) => c.id),
      v.firstChunkIds,
      `seed ${v.seed}`,
    );
  }
  // Pinned here as well: the first cut points of seed 1 with the default parameters.
  assert.deepEqual(chunkLengths(xorshiftStream(1, 1 << 20)).slice(0, 5), [44346, 67280, 69438, 66980, 68666]);
  assert.deepEqual(
    chunkLengths(xorshiftStream(42, 1 << 20)).slice(0, 5),
    [73913, 29057, 78118, 82328, 73188],
  );
});

test('findCut agrees with the reference cut rule', () => {
  for (const [seed, length, params] of [
    [11, 3 << 20, DEFAULT_CHUNKER],
    [12, 1 << 20, DEFAULT_CHUNKER],
    [13, 512 * 1024, SMALL],
    [14, 4099, SMALL],
    [15, 100, SMALL],
  ] as const) {
    const buf = xorshiftStream(seed, length);
    assert.deepEqual(chunkLengths(buf, params), referenceLengths(buf, params), `seed ${seed}`);
  }
  // Low-entropy input: no cut is ever found, so every chunk is exactly max long.
  const zeros = new Uint8Array(1 << 20);
  assert.deepEqual(chunkLengths(zeros), referenceLengths(zeros, DEFAULT_CHUNKER));
  assert.deepEqual(chunkLengths(zeros), [262144, 262144, 262144, 262144]);
});

test('findCut never looks at bytes at or past end', () => {
  const buf = xorshiftStream(21, 600 * 1024);
  const rule = cutRule(DEFAULT_CHUNKER);
  const len = findCut(buf, 1000, 1000 + 300 * 1024, rule);
  const copy = new Uint8Array(buf);
  copy.fill(0xff, 1000 + 300 * 1024); // bytes past `end` are irrelevant
  assert.equal(findCut(copy, 1000, 1000 + 300 * 1024, rule), len);
  // And a cut inside [start, start + max) does not depend on how much more input follows.
  assert.equal(findCut(buf, 1000, buf.length, rule), len);
});

test('chunks respect the min and max bounds and cover the input exactly', () => {
  for (const [seed, params] of [
    [31, DEFAULT_CHUNKER],
    [32, SMALL],
  ] as const) {
    const buf = xorshiftStream(seed, 4 << 20);
    const lengths = chunkLengths(buf, params);
    assert.equal(
      lengths.reduce((a, b) => a + b, 0),
      buf.length,
    );
    lengths.forEach((l, i) => {
      assert.ok(l <= params.max, `chunk ${i} (${l}) longer than max`);
      if (i < lengths.length - 1) assert.ok(l > params.min, `chunk ${i} (${l}) not longer than min`);
      else assert.ok(l > 0);
    });
    // The average lands near avg (normalized chunking keeps it close).
    const mean = buf.length / lengths.length;
    assert.ok(mean > params.avg * 0.75 && mean < params.avg * 1.5, `mean chunk ${mean}`);
  }
  // Inputs up to min bytes are a single chunk; an empty input has none.
  assert.deepEqual(chunkLengths(new Uint8Array(0)), []);
  assert.deepEqual(chunkLengths(xorshiftStream(1, 16 * 1024)), [16 * 1024]);
  assert.deepEqual(chunkLengths(xorshiftStream(1, 1)), [1]);
});

test('chunking is deterministic and independent of buffer placement', () => {
  const buf = xorshiftStream(41, 2 << 20);
  const a = chunkLengths(buf);
  assert.deepEqual(chunkLengths(buf), a);
  // The same bytes at an odd offset inside a larger allocation chunk the same way.
  const big = new Uint8Array(buf.length + 13);
  big.set(buf, 13);
  assert.deepEqual(chunkLengths(big.subarray(13)), a);
});

function edit(buf: Uint8Array, at: number, remove: number, insert: Uint8Array): Uint8Array {
  return Buffer.concat([buf.subarray(0, at), insert, buf.subarray(at + remove)]);
}

test('edit locality: inserting or deleting bytes changes only the chunks around the edit', () => {
  const size = 2 << 20;
  const cases = [
    { seed: 51, at: 1 << 20, remove: 0, insert: 1 },
    { seed: 52, at: 700_001, remove: 0, insert: 100 },
    { seed: 53, at: 1_500_000, remove: 0, insert: 4096 },
    { seed: 54, at: 300_000, remove: 1, insert: 0 },
    { seed: 55, at: 1_234_567, remove: 5000, insert: 0 },
    { seed: 56, at: 999_999, remove: 64, insert: 64 }, // an in-place overwrite
    { seed: 57, at: 0, remove: 0, insert: 10 }, // at the very start
    { seed: 58, at: size - 10, remove: 0, insert: 10 }, // near the end
  ];
  for (const c of cases) {
    const base = xorshiftStream(c.seed, size);
    const edited = edit(base, c.at, c.remove, xorshiftStream(c.seed + 1000, c.insert));
    const before = chunks(base);
    const after = chunks(edited);
    const label = JSON.stringify(c);
    // Every chunk that ends before the edit is unchanged, in place.
    const untouched = before.filter((ch) => ch.offset + ch.length <= c.at);
    assert.deepEqual(after.slice(0, untouched.length), untouched, label);
    // The chunking resynchronises: after at most 2 new chunks, the rest is the old suffix.
    const oldIds = new Set(before.map((ch) => ch.id));
    const fresh = after.filter((ch) => !oldIds.has(ch.id));
    assert.ok(fresh.length >= 1 && fresh.length <= 2, `${label}: ${fresh.length} new chunks`);
    const suffix = after.length - untouched.length - fresh.length;
    assert.deepEqual(
      after.slice(after.length - suffix).map((ch) => ch.id),
      before.slice(before.length - suffix).map((ch) => ch.id),
      label,
    );
    // The new chunks lie around the edit: they start at most `max` before it.
    for (const ch of fresh) {
      assert.ok(ch.offset + DEFAULT_CHUNKER.max >= c.at, `${label}: new chunk at ${ch.offset}`);
      assert.ok(
        ch.offset <= c.at + c.insert + 2 * DEFAULT_CHUNKER.max,
        `${label}: new chunk at ${ch.offset}`,
      );
    }
    // Almost all of the data is shared between the versions.
    const shared = after.filter((ch) => oldIds.has(ch.id)).reduce((n, ch) => n + ch.length, 0);
    assert.ok(shared > size - 3 * DEFAULT_CHUNKER.max, `${label}: only ${shared} bytes shared`);
  }
});

test('the WebAssembly cutter finds exactly the cuts of findCut', () => {
  const lengthsOf = (cutter: WasmCutter, length: number): number[] => {
    const out: number[] = [];
    for (let pos = 0; pos < length; ) {
      const len = cutter.cut(pos, length);
      out.push(len);
      pos += len;
    }
    return out;
  };
  for (const [seed, length, params] of [
    [1, 1 << 20, DEFAULT_CHUNKER],
    [42, 3 << 20, DEFAULT_CHUNKER],
    [13, 512 * 1024, SMALL],
    [14, 4099, SMALL],
    [15, 100, SMALL],
  ] as const) {
    const data = xorshiftStream(seed, length);
    const cutter = new WasmCutter(cutRule(params), length + 17);
    cutter.bytes.set(data);
    cutter.bytes.fill(0x5a, length); // bytes past the end must not matter
    assert.deepEqual(lengthsOf(cutter, length), chunkLengths(data, params), `seed ${seed}`);
    assert.deepEqual(lengthsOf(cutter, length), referenceLengths(data, params), `seed ${seed}`);
  }
  // The pinned vectors, and an input with no cut at all (every chunk max long).
  for (const v of vectors.chunker.cutPoints) {
    const params = v.params === 'default' ? DEFAULT_CHUNKER : SMALL;
    const cutter = new WasmCutter(cutRule(params), v.length);
    cutter.bytes.set(xorshiftStream(v.seed, v.length));
    assert.deepEqual(lengthsOf(cutter, v.length), v.lengths, `vector seed ${v.seed}`);
  }
  const zeros = new WasmCutter(cutRule(DEFAULT_CHUNKER), 1 << 20);
  assert.deepEqual(lengthsOf(zeros, 1 << 20), [262144, 262144, 262144, 262144]);
  // A cut from an offset inside the buffer, with more input after `end`.
  const data = xorshiftStream(21, 600 * 1024);
  const cutter = new WasmCutter(cutRule(DEFAULT_CHUNKER), data.length);
  cutter.bytes.set(data);
  const rule = cutRule(DEFAULT_CHUNKER);
  assert.equal(cutter.cut(1000, 1000 + 300 * 1024), findCut(data, 1000, 1000 + 300 * 1024, rule));
  assert.equal(cutter.cut(1000, data.length), findCut(data, 1000, data.length, rule));
});
