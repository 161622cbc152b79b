// Peers this user has exchanged data with, remembered across runs (`known-peers.json` in the
// user's config directory) so `shoal://<repo-id>` can find them again without a LAN.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configDir, writeFileAtomic } from './identity.ts';

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
  try {
    const parsed = JSON.parse(readFileSync(file(), 'utf8')) as unknown;
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, KnownPeer>) : {};
  } catch {
    return {};
  }
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
