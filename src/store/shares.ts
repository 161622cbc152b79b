// The repositories this user shares (`shares.json` in the user's config directory): what the
// daemon serves. `shoal share` and `shoal unshare` edit it; the daemon reads it on start and on
// every reload.

import { join, resolve } from 'node:path';
import { ShoalError } from '../core/index.ts';
import { makeUserDirs } from './dirs.ts';
import { configDir, readSmallFile, writeFileAtomic } from './identity.ts';
import { withFileLock } from './lock.ts';

export interface Share {
  /** Absolute path of the repository's working tree. */
  path: string;
  /** Hex repository id when it was shared (the daemon reads the current one from the repository). */
  id: string;
  /** When it was shared, ms since the epoch. */
  added: number;
}

export function sharesFile(): string {
  return join(configDir(), 'shares.json');
}

export function readShares(): Share[] {
  const text = readSmallFile(sharesFile());
  if (text === undefined) return [];
  let doc: { repos?: unknown };
  try {
    doc = JSON.parse(text) as { repos?: unknown };
  } catch {
    throw new ShoalError('INVALID_ARGUMENT', `${sharesFile()} is not valid JSON`);
  }
  if (!Array.isArray(doc?.repos))
    throw new ShoalError('INVALID_ARGUMENT', `${sharesFile()} has no repos list`);
  return (doc.repos as Partial<Share>[])
    .filter((s) => typeof s?.path === 'string')
    .map((s) => ({ path: s.path!, id: String(s.id ?? ''), added: Number(s.added ?? 0) }));
}

function writeShares(shares: Share[]): void {
  writeFileAtomic(sharesFile(), `${JSON.stringify({ repos: shares }, null, 2)}\n`);
}

/**
 * Run a read-modify-write of the list holding its lock: `share` run in several repositories at
 * once otherwise each wrote back the list it read, and all but one lost their entry.
 */
function withSharesLock<T>(change: () => T): T {
  makeUserDirs(configDir());
  return withFileLock(sharesFile(), change);
}

/**
 * Register a repository: 'added'; 'changed' when its path was shared holding another repository
 * (the entry now names this one); 'unchanged' when it was shared already.
 */
export function addShare(path: string, id: string): 'added' | 'changed' | 'unchanged' {
  const abs = resolve(path);
  return withSharesLock(() => {
    const shares = readShares();
    const old = shares.find((s) => s.path === abs);
    if (old?.id === id) return 'unchanged';
    if (old) old.id = id;
    else shares.push({ path: abs, id, added: Date.now() });
    writeShares(shares);
    return old ? 'changed' : 'added';
  });
}

/** Unregister a repository by path (or by hex id); returns the removed entries. */
export function removeShare(pathOrId: string): Share[] {
  const abs = resolve(pathOrId);
  return withSharesLock(() => {
    const shares = readShares();
    const removed = shares.filter((s) => s.path === abs || (s.id !== '' && s.id === pathOrId));
    if (removed.length > 0) writeShares(shares.filter((s) => !removed.includes(s)));
    return removed;
  });
}
