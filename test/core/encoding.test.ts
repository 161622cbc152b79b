// Canonical CBOR: the decoder accepts only the one encoding our encoder produces.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encode } from 'cborg';
import { decodeCanonical, decodeTree, encodeCanonical, isShoalError } from '../../src/core/index.ts';

test('a canonical encoding round-trips', () => {
  const value = { t: 'tree', v: 1, e: [] };
  assert.deepEqual(decodeCanonical(encodeCanonical(value), 'x'), value);
});

test('map keys out of canonical order are rejected', () => {
  const bytes = encode({ v: 1, t: 'tree', e: [] }, { mapSorter: () => 0 });
  assert.notDeepEqual(bytes, encodeCanonical({ v: 1, t: 'tree', e: [] }));
  assert.throws(
    () => decodeTree(bytes),
    (e) => isShoalError(e, 'CORRUPT_OBJECT'),
  );
});

test('an integer in a longer form than needed is rejected', () => {
  // {"v": 1} with 1 written as a two-byte integer (0x18 0x01) instead of 0x01.
  const bytes = Uint8Array.from([0xa1, 0x61, 0x76, 0x18, 0x01]);
  assert.throws(
    () => decodeCanonical(bytes, 'x'),
    (e) => isShoalError(e, 'CORRUPT_OBJECT'),
  );
});
