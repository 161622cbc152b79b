// Object identities: BLAKE3-256 digests. Chunks hash their raw bytes; metadata objects hash
// their canonical encoding in BLAKE3's derive-key mode with a per-kind context string, so a
// chunk can never share an id with a tree, an index node or a commit.

import { Blake3Hasher, blake3 } from '@napi-rs/blake-hash';
import { ShoalError } from './errors.ts';

export type ObjectId = Uint8Array;

export const ID_LENGTH = 32;
export const MIN_PREFIX = 7;

export type ObjectKind = 'node' | 'tree' | 'commit' | 'repo' | 'refs';

export function hashChunk(bytes: Uint8Array): ObjectId {
  return blake3(bytes);
}

const contexts: Record<ObjectKind, string> = {
  node: 'shoal 2026 object node v1',
  tree: 'shoal 2026 object tree v1',
  commit: 'shoal 2026 object commit v1',
  repo: 'shoal 2026 object repo v1',
  refs: 'shoal 2026 object refs v1',
};

export function hashObject(kind: ObjectKind, encoded: Uint8Array): ObjectId {
  return Blake3Hasher.newDeriveKey(contexts[kind])
    .update(Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength))
    .digestBuffer();
}

export function toHex(id: ObjectId): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');
}

const HEX = /^[0-9a-f]{64}$/;

export function fromHex(hex: string): ObjectId {
  if (!HEX.test(hex)) throw new ShoalError('INVALID_ARGUMENT', `not an object id: '${hex}'`);
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

export function isHexPrefix(s: string): boolean {
  return s.length >= MIN_PREFIX && s.length <= 64 && /^[0-9a-f]+$/.test(s);
}

export function idEquals(a: ObjectId, b: ObjectId): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export const EMPTY_CHUNK_ID: ObjectId = hashChunk(new Uint8Array(0));
