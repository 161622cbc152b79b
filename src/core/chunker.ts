// FastCDC content-defined chunking with normalized chunking (level 2) and a 32-bit gear hash.
// The cut rule is specified in docs/format.md with test vectors; changing anything here changes
// every chunk id, so the parameters are recorded in each repository's config.

import { blake3 } from '@napi-rs/blake-hash';
import { ShoalError } from './errors.ts';

export interface ChunkerParams {
  min: number;
  avg: number;
  max: number;
}

export const DEFAULT_CHUNKER: ChunkerParams = { min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024 };

/** `min/avg/max`, as a repository records its parameters (`meta.chunker`). */
export function formatChunker(params: ChunkerParams): string {
  return `${params.min}/${params.avg}/${params.max}`;
}

/** gear[i] = first four bytes, little-endian (as int32), of BLAKE3("shoal-gear-v1" || byte i). */
const gearTable: Int32Array = (() => {
  const table = new Int32Array(256);
  const prefix = Buffer.from('shoal-gear-v1', 'ascii');
  for (let i = 0; i < 256; i++) {
    const digest = blake3(Buffer.concat([prefix, Buffer.of(i)]));
    table[i] = digest.readInt32LE(0);
  }
  return table;
})();

export const GEAR: Int32Array = gearTable;

/** A mask of `bits` ones in the high bits of a 32-bit word, as a signed int for fast `&`. */
function highMask(bits: number): number {
  return bits >= 32 ? -1 : (0xffffffff << (32 - bits)) | 0;
}

export interface CutRule {
  min: number;
  avg: number;
  max: number;
  maskS: number;
  maskL: number;
}

export function cutRule(params: ChunkerParams): CutRule {
  const { min, avg, max } = params;
  const bits = Math.round(Math.log2(avg));
  if (!(min >= 64 && min < avg && avg < max && 2 ** bits === avg && max <= 64 * 1024 * 1024)) {
    throw new ShoalError('UNSUPPORTED_FORMAT', `invalid chunker parameters ${min}/${avg}/${max}`);
  }
  return { min, avg, max, maskS: highMask(bits + 2), maskL: highMask(bits - 2) };
}

/**
 * Length of the chunk starting at `start`, looking at no byte at or past `end`. When fewer than
 * `max` bytes are available the caller must only call this at end of input, because the cut
 * could otherwise lie beyond `end`.
 */
export function findCut(buf: Uint8Array, start: number, end: number, rule: CutRule): number {
  let n = end - start;
  if (n <= rule.min) return n;
  if (n > rule.max) n = rule.max;
  const normal = Math.min(n, rule.avg);
  const maskS = rule.maskS;
  const maskL = rule.maskL;
  // The table is read through a non-exported module constant on purpose: V8 then embeds it,
  // which measured 40% faster than a local, a parameter or an exported binding.
  let h = 0;
  let i = start + rule.min;
  const normalEnd = start + normal;
  const stop = start + n;
  for (; i < normalEnd; i++) {
    h = ((h << 1) + gearTable[buf[i]!]!) | 0;
    if ((h & maskS) === 0) return i - start + 1;
  }
  for (; i < stop; i++) {
    h = ((h << 1) + gearTable[buf[i]!]!) | 0;
    if ((h & maskL) === 0) return i - start + 1;
  }
  return n;
}

/** Cut points of a whole in-memory buffer (lengths of consecutive chunks). */
export function chunkLengths(buf: Uint8Array, params: ChunkerParams = DEFAULT_CHUNKER): number[] {
  const rule = cutRule(params);
  const out: number[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const len = findCut(buf, pos, buf.length, rule);
    out.push(len);
    pos += len;
  }
  return out;
}

/** The test-vector stream of docs/format.md: xorshift32 words, little-endian. */
export function xorshiftStream(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  let x = seed >>> 0 || 1;
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    view.setUint32(i, x, true);
  }
  for (; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
