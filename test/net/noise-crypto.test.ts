// shoal's Noise cipher must be interchangeable with the library's: same bytes out for the same
// key, nonce and data, whether the data comes as one array or as a list of parts.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto';
import { defaultLogger } from '@libp2p/logger';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { multiaddrConnectionPair } from '@libp2p/utils';
import { Uint8ArrayList } from 'uint8arraylist';
import { privateKeyFromSeed } from '../../src/net/identity.ts';
import { lightDecrypt, noiseCrypto, shoalNoise } from '../../src/net/noise-crypto.ts';

const flat = (b: Uint8Array | { subarray(): Uint8Array }): Buffer =>
  Buffer.from(b instanceof Uint8Array ? b : b.subarray());

function split(bytes: Uint8Array): Uint8ArrayList {
  const list = new Uint8ArrayList();
  list.append(bytes.subarray(0, 12), bytes.subarray(12, 700), bytes.subarray(700));
  return list;
}

test('encrypt and decrypt agree with the library, for arrays and lists, small and large', () => {
  const k = randomBytes(32);
  const ad = randomBytes(5);
  for (const size of [0, 100, 1199, 1200, 4096, 65519]) {
    const nonce = randomBytes(12);
    const plain = randomBytes(size);
    const theirs = flat(defaultCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, k));
    for (const input of [plain, split(plain)] as const) {
      if (input instanceof Uint8ArrayList && size < 700) continue;
      const ours = flat(noiseCrypto.chaCha20Poly1305Encrypt(input as Uint8Array, nonce, ad, k));
      assert.deepEqual(ours, theirs, `encrypt, ${size} bytes`);
      for (const sealed of [ours, split(ours)] as const) {
        if (sealed instanceof Uint8ArrayList && ours.length < 700) continue;
        const opened = flat(noiseCrypto.chaCha20Poly1305Decrypt(sealed as Uint8Array, nonce, ad, k));
        assert.deepEqual(opened, plain, `decrypt, ${size} bytes`);
      }
    }
  }
});

test('a changed byte or a different key fails decryption; a new key is not confused with an old one', () => {
  const k = randomBytes(32);
  const nonce = randomBytes(12);
  const plain = randomBytes(20_000);
  const sealed = flat(noiseCrypto.chaCha20Poly1305Encrypt(plain, nonce, new Uint8Array(0), k));
  const tampered = Buffer.from(sealed);
  tampered[1234]! ^= 1;
  assert.throws(() => noiseCrypto.chaCha20Poly1305Decrypt(tampered, nonce, new Uint8Array(0), k));
  const other = randomBytes(32);
  assert.throws(() => noiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce, new Uint8Array(0), other));
  // The same key array changed in place (a cached key must not be reused).
  const shared = Buffer.from(k);
  flat(noiseCrypto.chaCha20Poly1305Encrypt(plain, nonce, new Uint8Array(0), shared));
  shared.set(other);
  const withOther = flat(noiseCrypto.chaCha20Poly1305Encrypt(plain, nonce, new Uint8Array(0), shared));
  assert.deepEqual(
    flat(noiseCrypto.chaCha20Poly1305Decrypt(withOther, nonce, new Uint8Array(0), other)),
    plain,
  );
});

test("a secured connection decrypts through shoal's loop and carries multi-message writes intact", async () => {
  const [a, b] = multiaddrConnectionPair();
  const keyA = await privateKeyFromSeed(randomBytes(32));
  const keyB = await privateKeyFromSeed(randomBytes(32));
  const components = (privateKey: typeof keyA) => ({
    peerId: peerIdFromPrivateKey(privateKey),
    privateKey,
    logger: defaultLogger(),
    upgrader: { getStreamMuxers: () => new Map() } as never,
  });
  const opts = { skipStreamMuxerNegotiation: true };
  const [out, inb] = await Promise.all([
    shoalNoise()(components(keyA)).secureOutbound(a, { ...opts, remotePeer: peerIdFromPrivateKey(keyB) }),
    shoalNoise()(components(keyB)).secureInbound(b, opts),
  ]);
  // The library's members this relies on are still there: a renamed one would silently bring
  // its copy back.
  assert.ok(lightDecrypt.has(out.connection) && lightDecrypt.has(inb.connection));
  const sent = randomBytes(300_000); // five Noise messages, delivered in whatever pieces the pair makes
  const got: Buffer[] = [];
  let gotBytes = 0;
  const done = new Promise<void>((resolve) => {
    inb.connection.addEventListener('message', (evt) => {
      const data = evt.data;
      got.push(Buffer.from(data instanceof Uint8Array ? data : data.subarray()));
      gotBytes += data.byteLength;
      if (gotBytes >= sent.length) resolve();
    });
  });
  out.connection.send(sent.subarray(0, 100_000));
  out.connection.send(new Uint8ArrayList(sent.subarray(100_000, 170_001), sent.subarray(170_001)));
  await done;
  assert.deepEqual(Buffer.concat(got), sent);
  await out.connection.close();
  await inb.connection.close();
});
