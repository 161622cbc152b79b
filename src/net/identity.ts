// Peer identity: the user's 32-byte Ed25519 seed is the identity, and the same key is the libp2p
// peer id, so "who signed this" and "who serves this" are one check. These helpers convert
// between the seed, the libp2p key, the peer id string and the raw 32-byte public key.

import { generateKeyPairFromSeed, publicKeyFromRaw } from '@libp2p/crypto/keys';
import type { Ed25519PrivateKey, PeerId } from '@libp2p/interface';
import { peerIdFromPrivateKey, peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id';
import { ShoalError } from '../core/errors.ts';

export const SEED_LENGTH = 32;
export const PUBLIC_KEY_LENGTH = 32;

/** The libp2p Ed25519 private key for an identity seed (32 bytes). */
export async function privateKeyFromSeed(seed: Uint8Array): Promise<Ed25519PrivateKey> {
  if (!(seed instanceof Uint8Array) || seed.byteLength !== SEED_LENGTH) {
    throw new ShoalError('INVALID_ARGUMENT', `identity seed must be ${SEED_LENGTH} bytes`);
  }
  return generateKeyPairFromSeed('Ed25519', seed);
}

/** The peer id (base58btc string form, `12D3KooW...`) of an identity seed. */
export async function peerIdFromSeed(seed: Uint8Array): Promise<string> {
  return peerIdFromPrivateKey(await privateKeyFromSeed(seed)).toString();
}

/** The peer id string of a raw 32-byte Ed25519 public key (for example a commit author). */
export function peerIdFromPublicKeyBytes(publicKey: Uint8Array): string {
  if (publicKey.byteLength !== PUBLIC_KEY_LENGTH) {
    throw new ShoalError('INVALID_ARGUMENT', `Ed25519 public key must be ${PUBLIC_KEY_LENGTH} bytes`);
  }
  let key: ReturnType<typeof publicKeyFromRaw>;
  try {
    key = publicKeyFromRaw(publicKey);
  } catch (err) {
    throw new ShoalError('INVALID_ARGUMENT', 'not a valid Ed25519 public key', { cause: String(err) });
  }
  return peerIdFromPublicKey(key).toString();
}

/**
 * The raw 32-byte Ed25519 public key of a peer, from a PeerId or its string form. Throws
 * PEER_ERROR when the peer id does not embed an Ed25519 key (shoal peers always do).
 */
export function publicKeyBytesOfPeer(peer: PeerId | string): Uint8Array {
  let id: PeerId;
  try {
    id = typeof peer === 'string' ? peerIdFromString(peer) : peer;
  } catch (err) {
    throw new ShoalError('PEER_ERROR', 'malformed peer id', { peer: String(peer), cause: String(err) });
  }
  if (id.type !== 'Ed25519' || id.publicKey === undefined) {
    throw new ShoalError('PEER_ERROR', 'peer id is not an Ed25519 key', { peer: id.toString() });
  }
  return id.publicKey.raw;
}
