// Canonical CBOR: cborg's deterministic encoder, and a strict decoder that rejects anything a
// canonical encoder would not have produced (duplicate keys, indefinite lengths, undefined).

import { decode, encode } from 'cborg';
import { ShoalError } from './errors.ts';

const decodeOptions = {
  strict: true,
  rejectDuplicateMapKeys: true,
  allowUndefined: false,
  allowIndefinite: false,
  allowNaN: false,
  allowInfinity: false,
  allowBigInt: false,
  useMaps: false,
};

export function encodeCanonical(value: unknown): Uint8Array {
  return encode(value);
}

export function decodeCanonical(bytes: Uint8Array, what: string): unknown {
  try {
    return decode(bytes, decodeOptions);
  } catch (err) {
    throw new ShoalError('CORRUPT_OBJECT', `${what}: malformed encoding (${(err as Error).message})`);
  }
}
