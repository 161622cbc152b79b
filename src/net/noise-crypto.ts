// Noise's transport cipher with each key imported once. The library's Node implementation hands
// the raw key bytes to createCipheriv for every message of up to 64 KiB, and Node first probes
// them for a KeyObject, which builds and throws a TypeError (with its stack trace) every time:
// 8 % of a seeder's main thread during a 1 GiB clone. Small messages keep the library's own
// cipher (WebAssembly, faster below about 1 KiB), and the handshake the library's code.

import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import { type ICryptoInterface, type NoiseExtensions, noise } from '@chainsafe/libp2p-noise';
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto';
import type { ConnectionEncrypter } from '@libp2p/interface';
import { noteEncrypted } from './send-buffers.ts';

type NoiseComponents = Parameters<ReturnType<typeof noise>>[0];

import { Uint8ArrayList } from 'uint8arraylist';

type Encrypt = ICryptoInterface['chaCha20Poly1305Encrypt'];
type Decrypt = ICryptoInterface['chaCha20Poly1305Decrypt'];
type Output = ReturnType<Encrypt>;

/**
 * A list of the output's parts, as the library itself returns for list input (no copy). The
 * library's own uint8arraylist is another major version, so the type is asserted; the two
 * versions recognise each other's lists by a shared symbol and the same `bufs` field.
 */
function listOf(parts: Uint8Array[]): Output {
  return new Uint8ArrayList(...parts) as unknown as Output;
}

const CIPHER = 'chacha20-poly1305';
const TAG = 16;
const SMALL = 1200;

// Keyed by the cipher state's key array, which lives as long as its connection; the copy
// notices a key array changed in place.
const keys = new WeakMap<Uint8Array, { bytes: Buffer; key: KeyObject }>();

function keyObject(k: Uint8Array): KeyObject {
  const cached = keys.get(k);
  if (cached?.bytes.equals(k)) return cached.key;
  const bytes = Buffer.from(k);
  const key = createSecretKey(bytes);
  keys.set(k, { bytes, key });
  return key;
}

// Tells send-buffers.ts which plaintext the cipher has read, so that its memory can be reused.
function noteRead(plaintext: Parameters<Encrypt>[0]): void {
  if (plaintext instanceof Uint8Array) noteEncrypted(plaintext);
  else for (const part of plaintext) noteEncrypted(part);
}

const encrypt: Encrypt = (plaintext, nonce, ad, k) => {
  const ciphertext = encryptWithNode(plaintext, nonce, ad, k);
  noteRead(plaintext);
  return ciphertext;
};

const encryptWithNode: Encrypt = (plaintext, nonce, ad, k) => {
  if (plaintext.byteLength < SMALL) return defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k);
  const cipher = createCipheriv(CIPHER, keyObject(k), nonce, { authTagLength: TAG });
  cipher.setAAD(ad, { plaintextLength: plaintext.byteLength });
  if (plaintext instanceof Uint8Array) {
    const body = cipher.update(plaintext);
    const final = cipher.final();
    return Buffer.concat([body, final, cipher.getAuthTag()]);
  }
  // A list (a yamux frame's header and data): each part on its own, as the library does.
  const parts: Uint8Array[] = [];
  for (const part of plaintext) parts.push(cipher.update(part));
  parts.push(cipher.final(), cipher.getAuthTag());
  return listOf(parts);
};

const decrypt: Decrypt = (ciphertext, nonce, ad, k, dst) => {
  if (ciphertext.byteLength < SMALL) {
    return defaultCrypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst);
  }
  const bodyLength = ciphertext.byteLength - TAG;
  const decipher = createDecipheriv(CIPHER, keyObject(k), nonce, { authTagLength: TAG });
  decipher.setAAD(ad, { plaintextLength: bodyLength });
  decipher.setAuthTag(ciphertext.subarray(bodyLength));
  if (ciphertext instanceof Uint8Array) {
    const body = decipher.update(ciphertext.subarray(0, bodyLength));
    const final = decipher.final(); // throws when the tag does not match
    return final.byteLength > 0 ? Buffer.concat([body, final]) : body;
  }
  const parts: Uint8Array[] = [];
  for (const part of ciphertext.sublist(0, bodyLength)) parts.push(decipher.update(part));
  parts.push(decipher.final());
  return listOf(parts);
};

/** The crypto shoal's nodes give Noise. */
export const noiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  chaCha20Poly1305Encrypt: encrypt,
  chaCha20Poly1305Decrypt: decrypt,
};

// The library's transport stream decrypts each received message with `handshake.decrypt(message,
// dst)`, where `dst` is `message` without its tag, meant as an output buffer for its WebAssembly
// cipher. When the message arrived in two socket reads, as nearly every 64 KiB message does,
// taking that slice copies it whole, and Node's cipher then ignores it. This replaces the
// stream's `decrypt` with the same loop minus that copy. It relies on the stream's `handshake`
// and `decrypt` members (checked, and left alone when missing); a test holds it to them.
const MESSAGE_MAX = 65535;

interface MessageHandshake {
  decrypt(ciphertext: Uint8Array | Uint8ArrayList): Uint8Array | Uint8ArrayList;
}

interface DecryptingStream {
  handshake?: MessageHandshake;
  decrypt?: (chunk: Uint8Array | Uint8ArrayList) => Uint8ArrayList;
}

/** Whether `stream` decrypts without the library's extra copy (for tests). */
export const lightDecrypt = new WeakSet<object>();

function decryptMessages(handshake: MessageHandshake, chunk: Uint8Array | Uint8ArrayList): Uint8ArrayList {
  const output = new Uint8ArrayList();
  for (let i = 0; i < chunk.byteLength; i += MESSAGE_MAX) {
    const end = Math.min(i + MESSAGE_MAX, chunk.byteLength);
    if (end - TAG < i) throw new Error('Invalid chunk');
    const message = chunk instanceof Uint8Array ? chunk.subarray(i, end) : chunk.sublist(i, end);
    output.append(handshake.decrypt(message));
  }
  return output;
}

function withLightDecrypt<T extends { connection: unknown }>(secured: T): T {
  const stream = secured.connection as DecryptingStream;
  const handshake = stream.handshake;
  if (typeof stream.decrypt === 'function' && typeof handshake?.decrypt === 'function') {
    stream.decrypt = (chunk) => decryptMessages(handshake, chunk);
    lightDecrypt.add(stream);
  }
  return secured;
}

/** Noise as shoal's nodes use it: shoal's cipher, and received messages decrypted without a copy. */
export function shoalNoise(): (components: NoiseComponents) => ConnectionEncrypter<NoiseExtensions> {
  const factory = noise({ crypto: noiseCrypto });
  return (components) => {
    const encrypter = factory(components);
    const inbound = encrypter.secureInbound.bind(encrypter);
    const outbound = encrypter.secureOutbound.bind(encrypter);
    encrypter.secureInbound = async (connection, options) =>
      withLightDecrypt(await inbound(connection, options));
    encrypter.secureOutbound = async (connection, options) =>
      withLightDecrypt(await outbound(connection, options));
    return encrypter;
  };
}
