// Opening the repository a command runs in, and the user's identity and name.

import { spawnSync } from 'node:child_process';
import { userInfo } from 'node:os';
import { type KeyPair, type ObjectId, ShoalError } from '../core/index.ts';
import { globalConfigFile, loadIdentity, Repository, readConfigValue } from '../store/index.ts';
import { resolveRev } from '../vcs/index.ts';
import type { Context } from './context.ts';

export async function withRepo<T>(ctx: Context, fn: (repo: Repository) => Promise<T> | T): Promise<T> {
  const repo = Repository.open(ctx.cwd);
  try {
    return await fn(repo);
  } finally {
    repo.close();
  }
}

/**
 * Whether LAN discovery (mDNS multicast) may run. `SHOAL_MDNS=0` turns it off everywhere: in
 * CI, sandboxes and tests, where only loopback or test namespaces may see traffic.
 */
export function lanDiscovery(wanted: boolean): boolean {
  return wanted && process.env.SHOAL_MDNS !== '0';
}

/** The user's `net.mdns` setting (default on), under the SHOAL_MDNS switch. */
export function lanDiscoveryConfigured(): boolean {
  return lanDiscovery(readConfigValue(globalConfigFile(), 'net.mdns') !== 'false');
}

export function identity(): KeyPair {
  return loadIdentity();
}

/** The author's display name: --author, shoal's user.name, git's user.name, the login name. */
export function authorName(repo: Repository, explicit?: string): string {
  if (explicit !== undefined) {
    if (explicit.trim() === '') throw new ShoalError('INVALID_ARGUMENT', '--author needs a name');
    return explicit;
  }
  const configured = repo.config('user.name');
  if (configured) return configured;
  try {
    const git = spawnSync('git', ['config', 'user.name'], {
      cwd: repo.root,
      encoding: 'utf8',
      timeout: 5000,
    });
    const name = git.status === 0 ? git.stdout.trim() : '';
    if (name) return name;
  } catch {}
  return userInfo().username;
}

/** resolveRev, warning on stderr when the name stands for more than one ref. */
export function revOf(ctx: Context, repo: Repository, rev: string): ObjectId {
  return resolveRev(repo, rev, ctx.json ? undefined : (message) => ctx.err(`warning: ${message}`));
}
