// Canonical CBOR for flat maps, the shape of nearly every wire header (`{type, req, id}` before
// each chunk): text keys, and values that are unsigned integers, text, byte strings or booleans.
// encodeFlatMap writes exactly the bytes cborg's deterministic encoder writes, and
// decodeFlatMap accepts exactly those bytes and nothing else. Either returns undefined for
// anything outside that shape (non-ASCII text, negative numbers, nesting, a non-canonical
// head), and the caller takes cborg's general path, which also produces the errors. The
// general path costs a decode, a re-encode to prove the input canonical, and a sort: a
// seeder's and a downloader's headers took about 4 % of their CPU and a tenth of what they
// allocate, once per 64 KiB chunk.

/** Whether `s` is ASCII: its UTF-8 bytes are its char codes, and compare the same way. */
function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

// Canonical map key order (RFC 7049 3.9, as cborg sorts): shorter first, then bytewise.
function keyBefore(a: string, b: string): boolean {
  return a.length < b.length || (a.length === b.length && a < b);
}

function headSize(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9;
}

function writeHead(out: Uint8Array, at: number, major: number, n: number): number {
  const m = major << 5;
  if (n < 24) {
    out[at] = m | n;
    return at + 1;
  }
  if (n < 0x100) {
    out[at] = m | 24;
    out[at + 1] = n;
    return at + 2;
  }
  if (n < 0x10000) {
    out[at] = m | 25;
    out[at + 1] = n >>> 8;
    out[at + 2] = n & 0xff;
    return at + 3;
  }
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  if (n < 0x100000000) {
    out[at] = m | 26;
    view.setUint32(at + 1, n, false);
    return at + 5;
  }
  out[at] = m | 27;
  view.setUint32(at + 1, Math.floor(n / 0x100000000), false);
  view.setUint32(at + 5, n >>> 0, false);
  return at + 9;
}

function writeAscii(out: Uint8Array, at: number, s: string): number {
  at = writeHead(out, at, 3, s.length);
  for (let i = 0; i < s.length; i++) out[at + i] = s.charCodeAt(i);
  return at + s.length;
}

/**
 * The canonical CBOR of `value` after `offset` bytes left for the caller (a length prefix), or
 * undefined when `value` is not a flat map this encoder handles.
 */
export function encodeFlatMap(value: Record<string, unknown>, offset = 0): Uint8Array | undefined {
  const keys = Object.keys(value);
  for (const key of keys) if (!isAscii(key)) return undefined;
  keys.sort((a, b) => (keyBefore(a, b) ? -1 : 1)); // keys of an object are distinct
  // Each value read once (a getter could answer differently the second time).
  const values = keys.map((key) => value[key]);
  let size = offset + headSize(keys.length);
  for (let i = 0; i < keys.length; i++) {
    size += headSize(keys[i]!.length) + keys[i]!.length;
    const v = values[i];
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v) || v < 0) return undefined;
      size += headSize(v);
    } else if (typeof v === 'string') {
      if (!isAscii(v)) return undefined;
      size += headSize(v.length) + v.length;
    } else if (v instanceof Uint8Array) {
      size += headSize(v.byteLength) + v.byteLength;
    } else if (typeof v === 'boolean') {
      size += 1;
    } else {
      return undefined;
    }
  }
  const out = new Uint8Array(size);
  let at = writeHead(out, offset, 5, keys.length);
  for (let i = 0; i < keys.length; i++) {
    at = writeAscii(out, at, keys[i]!);
    const v = values[i];
    if (typeof v === 'number') at = writeHead(out, at, 0, v);
    else if (typeof v === 'string') at = writeAscii(out, at, v);
    else if (typeof v === 'boolean') out[at++] = v ? 0xf5 : 0xf4;
    else {
      const bytes = v as Uint8Array;
      at = writeHead(out, at, 2, bytes.byteLength);
      out.set(bytes, at);
      at += bytes.byteLength;
    }
  }
  return out;
}

// A head's argument at `at` (after its initial byte's major type), or -1 when it is not the
// shortest form, is indefinite, is past the end, or exceeds a safe integer. Where the head ends
// is left in argumentEnd: a pair returned would be an allocation per field.
let argumentEnd = 0;

function readArgument(bytes: Uint8Array, at: number, info: number): number {
  argumentEnd = at;
  if (info < 24) return info;
  if (info === 24) {
    if (at + 1 > bytes.length || bytes[at]! < 24) return -1;
    argumentEnd = at + 1;
    return bytes[at]!;
  }
  if (info === 25) {
    if (at + 2 > bytes.length) return -1;
    argumentEnd = at + 2;
    const n = (bytes[at]! << 8) | bytes[at + 1]!;
    return n < 0x100 ? -1 : n;
  }
  if (info !== 26 && info !== 27) return -1;
  const width = info === 26 ? 4 : 8;
  if (at + width > bytes.length) return -1;
  argumentEnd = at + width;
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, width);
  if (info === 26) {
    const n = view.getUint32(0, false);
    return n < 0x10000 ? -1 : n;
  }
  const high = view.getUint32(0, false);
  return high === 0 || high > 0x1fffff ? -1 : high * 0x100000000 + view.getUint32(4, false);
}

// Recently decoded short strings by length: headers repeat a few keys and types, which are then
// not built again for every message. A peer that floods it with other strings only slows itself.
const RECENT_MAX_LENGTH = 32;
const RECENT_PER_LENGTH = 8;
const recent: string[][] = Array.from({ length: RECENT_MAX_LENGTH + 1 }, () => []);
const recentNext = new Uint8Array(RECENT_MAX_LENGTH + 1);

function sameAscii(s: string, bytes: Uint8Array, at: number): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) !== bytes[at + i]) return false;
  return true;
}

// (latin1 is ASCII for these bytes; String.fromCharCode over a long run would overflow the stack)
function asciiText(bytes: Uint8Array, at: number, length: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + at, length).toString('latin1');
}

// ASCII text of `length` bytes at `at`, or undefined when a byte is not ASCII.
function readAscii(bytes: Uint8Array, at: number, length: number): string | undefined {
  for (let i = at; i < at + length; i++) if (bytes[i]! > 0x7f) return undefined;
  if (length > RECENT_MAX_LENGTH) return asciiText(bytes, at, length);
  const seen = recent[length]!;
  for (const s of seen) if (sameAscii(s, bytes, at)) return s;
  const s = asciiText(bytes, at, length);
  seen[recentNext[length]!] = s;
  recentNext[length] = (recentNext[length]! + 1) % RECENT_PER_LENGTH;
  return s;
}

/**
 * The flat map `bytes` canonically encodes (the value cborg's strict decoder returns for them),
 * or undefined when they are anything else: the general path then decides, and gives the error.
 */
export function decodeFlatMap(bytes: Uint8Array): Record<string, unknown> | undefined {
  if (bytes.length === 0 || bytes[0]! >> 5 !== 5) return undefined;
  const count = readArgument(bytes, 1, bytes[0]! & 31);
  let at = argumentEnd;
  if (count < 0 || count > bytes.length) return undefined;
  const out: Record<string, unknown> = {};
  let previous: string | undefined;
  for (let i = 0; i < count; i++) {
    if (at >= bytes.length || bytes[at]! >> 5 !== 3) return undefined;
    const length = readArgument(bytes, at + 1, bytes[at]! & 31);
    at = argumentEnd;
    if (length < 0 || at + length > bytes.length) return undefined;
    const key = readAscii(bytes, at, length);
    // in order and distinct; `__proto__` would need defineProperty, left to the general path
    if (key === undefined || key === '__proto__') return undefined;
    if (previous !== undefined && !keyBefore(previous, key)) return undefined;
    previous = key;
    at += length;
    if (at >= bytes.length) return undefined;
    const initial = bytes[at]!;
    const major = initial >> 5;
    if (initial === 0xf4 || initial === 0xf5) {
      out[key] = initial === 0xf5;
      at++;
      continue;
    }
    if (major !== 0 && major !== 2 && major !== 3) return undefined;
    const n = readArgument(bytes, at + 1, initial & 31);
    at = argumentEnd;
    if (n < 0) return undefined;
    if (major === 0) {
      out[key] = n;
      continue;
    }
    if (at + n > bytes.length) return undefined;
    if (major === 2) {
      out[key] = new Uint8Array(bytes.subarray(at, at + n)); // a copy, as cborg returns
    } else {
      const text = readAscii(bytes, at, n);
      if (text === undefined) return undefined;
      out[key] = text;
    }
    at += n;
  }
  return at === bytes.length ? out : undefined;
}
