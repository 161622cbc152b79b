// Two ends of an in-memory connection, secured by shoal's Noise as its nodes secure theirs.

import { randomBytes } from 'node:crypto';
import { defaultLogger } from '@libp2p/logger';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { multiaddrConnectionPair } from '@libp2p/utils';
import { privateKeyFromSeed } from '../../src/net/identity.ts';
import { shoalNoise } from '../../src/net/noise-crypto.ts';

export async function securedPair() {
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
  return { out: out.connection, inb: inb.connection };
}
