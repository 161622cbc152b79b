// Peers this user has exchanged data with, remembered across runs (`known-peers.json` in the
// user's config directory) so `shoal://<repo-id>` can find them again without a LAN.

import { join } from 'node:path';
import { configDir, readSmallFile, writeFileAtomic } from './identity.ts';

export interface KnownPeer {
  addrs: string[];
  repos: string[]; // hex repository ids it served
  lastSeen: number;
}

const MAX_PEERS = 256;

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
      peers[peerId] = { addrs: p.addrs, repos: p.repos, lastSeen: p.lastSeen };
    }
  }
  return peers;
}

export function rememberPeer(peerId: string, addrs: string[], repo: string): void {
  const peers = readKnownPeers();
  const old = peers[peerId];
  peers[peerId] = {
    addrs: [...new Set([...addrs, ...(old?.addrs ?? [])])].slice(0, 8),
    repos: [...new Set([repo, ...(old?.repos ?? [])])].slice(0, 64),
    lastSeen: Date.now(),
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
