// Ed25519 keys as raw bytes (32-byte seed, 32-byte public key), signing and verification.
// The same key is a user's libp2p peer id, so commits and peers are authenticated alike.

import { createPrivateKey, createPublicKey, type KeyObject, randomBytes, sign, verify } from 'node:crypto';
import { type Commit, decodeCommit, encodeCommitForSigning } from './objects.ts';

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface KeyPair {
  seed: Uint8Array;
  publicKey: Uint8Array;
}

export function generateKeyPair(): KeyPair {
  return keyPairFromSeed(randomBytes(32));
}

export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  const priv = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(priv).export({ format: 'der', type: 'spki' });
  return { seed: new Uint8Array(seed), publicKey: new Uint8Array(spki.subarray(SPKI_PREFIX.length)) };
}

export function signBytes(seed: Uint8Array, message: Uint8Array): Uint8Array {
  const priv = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  return new Uint8Array(sign(null, message, priv));
}

// A history has few authors and many commits: each author's key object is made once (making it
// cost about a third of a verification).
const publicKeys = new Map<string, KeyObject>();

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const hex = Buffer.from(publicKey).toString('hex');
  let key = publicKeys.get(hex);
  if (!key) {
    if (publicKeys.size >= 1024) publicKeys.clear();
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
    publicKeys.set(hex, key);
  }
  return key;
}

export function verifyBytes(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return verify(null, message, publicKeyObject(publicKey), signature);
  } catch {
    return false;
  }
}

export function signCommit(seed: Uint8Array, body: Omit<Commit, 'signature'>): Commit {
  return { ...body, signature: signBytes(seed, encodeCommitForSigning(body)) };
}

export function verifyCommit(commit: Commit): boolean {
  return verifyBytes(commit.author.key, encodeCommitForSigning(commit), commit.signature);
}

/** Verify a commit straight from its stored bytes. */
export function verifyCommitBytes(bytes: Uint8Array): boolean {
  return verifyCommit(decodeCommit(bytes));
}
