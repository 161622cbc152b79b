// Peers this user has exchanged data with, remembered across runs (`known-peers.json` in the
// user's config directory) so `shoal://<repo-id>` can find them again without a LAN.

import { join } from 'node:path';
import { configDir, readSmallFile, writeFileAtomic } from './identity.ts';

export interface KnownPeer {
  addrs: string[];
  repos: string[]; // hex repository ids it served
  lastSeen: number;
  /**
   * How many times in a row an address failed while the peer answered at another (none: absent).
   * An address the peer has left would otherwise stay among the 8 kept, and be dialled each time.
   */
  misses?: Record<string, number>;
}

const MAX_PEERS = 256;
const MAX_ADDRS = 8;
/** Misses in a row after which an address is forgotten. */
export const FORGET_AFTER_MISSES = 3;

function file(): string {
  return join(configDir(), 'known-peers.json');
}

export function readKnownPeers(): Record<string, KnownPeer> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readSmallFile(file()) ?? '{}');
  } catch {
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
  // A remembered peer is a hint, not data: one that is not in the right shape is forgotten.
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
  const peers: Record<string, KnownPeer> = {};
  for (const [peerId, p] of Object.entries(parsed as Record<string, Partial<KnownPeer> | null>)) {
    if (strings(p?.addrs) && strings(p.repos) && typeof p.lastSeen === 'number') {
      const misses =
        typeof p.misses === 'object' &&
        p.misses !== null &&
        Object.values(p.misses).every((n) => Number.isSafeInteger(n) && n > 0)
          ? p.misses
          : undefined;
      peers[peerId] = { addrs: p.addrs, repos: p.repos, lastSeen: p.lastSeen, ...(misses ? { misses } : {}) };
    }
  }
  return peers;
}

/**
 * Remember that `peerId` answered at `addrs` (newest first) for `repo`, after `missed` (addresses
 * of it that failed on the way) did not answer. An address that misses FORGET_AFTER_MISSES times
 * in a row is forgotten; one that answers starts again from none. Addresses are kept without
 * their /p2p/ part.
 */
export function rememberPeer(peerId: string, addrs: string[], repo: string, missed: string[] = []): void {
  const peers = readKnownPeers();
  const old = peers[peerId];
  const suffix = `/p2p/${peerId}`;
  const bare = (a: string): string => (a.endsWith(suffix) ? a.slice(0, -suffix.length) : a);
  const answered = addrs.map(bare);
  const misses = new Map<string, number>();
  for (const [a, n] of Object.entries(old?.misses ?? {})) misses.set(bare(a), n);
  for (const a of answered) misses.delete(a);
  for (const a of new Set(missed.map(bare)))
    if (!answered.includes(a)) misses.set(a, (misses.get(a) ?? 0) + 1);
  const addresses = [...new Set([...answered, ...(old?.addrs ?? []).map(bare)])]
    .filter((a) => (misses.get(a) ?? 0) < FORGET_AFTER_MISSES)
    .slice(0, MAX_ADDRS);
  // Counts only for the addresses still kept.
  const counted = Object.fromEntries(addresses.flatMap((a) => (misses.has(a) ? [[a, misses.get(a)!]] : [])));
  peers[peerId] = {
    addrs: addresses,
    repos: [...new Set([repo, ...(old?.repos ?? [])])].slice(0, 64),
    lastSeen: Date.now(),
    ...(Object.keys(counted).length > 0 ? { misses: counted } : {}),
  };
  const kept = Object.entries(peers)
    .sort(([, a], [, b]) => b.lastSeen - a.lastSeen)
    .slice(0, MAX_PEERS);
  try {
    writeFileAtomic(file(), `${JSON.stringify(Object.fromEntries(kept), null, 2)}\n`);
  } catch {
    // Remembering peers is a convenience; never fail a transfer over it.
  }
}
