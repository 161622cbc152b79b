// Canonical CBOR: cborg's deterministic encoder, and a strict decoder that rejects anything a
// canonical encoder would not have produced (duplicate keys, indefinite lengths, undefined).

import { decode, encode } from 'cborg';
import { ShoalError } from './errors.ts';

/** cborg's strictest decoding, shared by objects and wire headers. */
export const STRICT_DECODE_OPTIONS = {
  strict: true,
  rejectDuplicateMapKeys: true,
  allowUndefined: false,
  allowIndefinite: false,
  allowNaN: false,
  allowInfinity: false,
  allowBigInt: false,
  useMaps: false,
} as const;

export function encodeCanonical(value: unknown): Uint8Array {
  return encode(value);
}

export function decodeCanonical(bytes: Uint8Array, what: string): unknown {
  let value: unknown;
  try {
    value = decode(bytes, STRICT_DECODE_OPTIONS);
  } catch (err) {
    throw new ShoalError('CORRUPT_OBJECT', `${what}: malformed encoding (${(err as Error).message})`);
  }
  // cborg's strict mode does not check map key order or integer widths: the only encoding we
  // accept is the one our encoder would produce, so every object has exactly one form.
  if (Buffer.compare(encode(value), bytes) !== 0) {
    throw new ShoalError('CORRUPT_OBJECT', `${what}: not in canonical form`);
  }
  return value;
}
