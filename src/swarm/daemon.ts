// The daemon's serving set: one peer (one SyncServer) serving every shared repository at once,
// accepting pushes, and reloading the list of shares on demand. A repository that vanished or
// cannot be opened is skipped with a warning and retried on the next reload. Repositories stay
// open for reading only; the write lock is taken only while a push stores objects and moves refs.

import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { idEquals, type KeyPair, toHex } from '../core/index.ts';
import { REPO_DIR, Repository, type Share } from '../store/index.ts';
import { type Peer, startPeer } from './peer.ts';
import { pushHandler } from './push.ts';
import { ensureRepoIdentity, type RepoState } from './repo-state.ts';

const NOT_A_REPOSITORY = 'not a shoal repository (moved or deleted?)';

export type LogLevel = 'info' | 'warn' | 'error';

export interface DaemonOptions {
  user: KeyPair;
  listen: string[];
  mdns: boolean;
  maxUpload?: number;
  maxDownload?: number;
  /** The repositories to serve, read anew on every reload. */
  shares: () => Share[];
  log: (level: LogLevel, message: string) => void;
}

export interface ServedRepoInfo {
  id: string;
  name: string;
  visibility: string;
  path: string;
}

export interface DaemonStatus {
  peerId: string;
  addrs: string[];
  mdns: boolean;
  repos: ServedRepoInfo[];
  skipped: { path: string; reason: string }[];
}

interface Open {
  repo: Repository;
  state: RepoState;
  inode: number; // of index.db, to notice a repository deleted and created again at the same path
}

function indexInode(path: string): number | undefined {
  try {
    return statSync(join(path, REPO_DIR, 'index.db')).ino;
  } catch {
    return undefined;
  }
}

export class Daemon {
  readonly peer: Peer;
  private readonly opts: DaemonOptions;
  private readonly open = new Map<string, Open>();
  private skipped: { path: string; reason: string }[] = [];
  private reloading: Promise<void> = Promise.resolve();

  private constructor(peer: Peer, opts: DaemonOptions) {
    this.peer = peer;
    this.opts = opts;
  }

  static async start(opts: DaemonOptions): Promise<Daemon> {
    const log = opts.log;
    const peer = await startPeer({
      user: opts.user,
      listen: opts.listen,
      mdns: opts.mdns,
      maxUpload: opts.maxUpload,
      maxDownload: opts.maxDownload,
      onEvent: (e) => {
        if (e.type === 'denied') log('warn', `refused peer ${e.peer}: not allowed to read`);
        if (e.type === 'peer-error') log('warn', `peer ${e.peer}: ${e.message ?? 'protocol error'}`);
        if (e.type === 'damaged') log('warn', `${e.message} (answered as missing; run shoal fsck)`);
        if (e.type === 'failed') log('error', `could not answer peer ${e.peer}: ${e.message}`);
      },
    });
    const daemon = new Daemon(peer, opts);
    const receive = pushHandler(
      () => peer.node,
      peer.download,
      (root, paths) => {
        for (const p of paths)
          log(
            'warn',
            `push into ${root}: ${p} changed while the working tree was being updated; your version is kept`,
          );
      },
    );
    peer.server.setPushHandler(async (served, request, from) => {
      const who = from.connection.remotePeer.toString();
      try {
        const updated = await receive(served, request, from);
        const deleted = updated.filter((r) => request.deletes.includes(r));
        const moved = updated.filter((r) => !request.deletes.includes(r));
        const said = [...moved, ...deleted.map((r) => `${r} deleted`)].join(', ');
        log('info', `push from ${who} to ${served.repo.root}: ${said || 'already up to date'}`);
        return updated;
      } catch (err) {
        log('warn', `push from ${who} to ${served.repo.root} refused: ${(err as Error).message}`);
        throw err;
      }
    });
    try {
      await daemon.reload();
    } catch (err) {
      await daemon.stop();
      throw err;
    }
    return daemon;
  }

  /**
   * Bring the served set in line with the shares: close what was unshared or vanished, open
   * what is new. Reloads run one after another, each reading the shares afresh.
   */
  reload(): Promise<void> {
    const next = this.reloading.then(() => this.reloadNow());
    this.reloading = next.catch(() => {});
    return next;
  }

  private async reloadNow(): Promise<void> {
    const { log, user } = this.opts;
    const shares = this.opts.shares();
    const wanted = new Set(shares.map((s) => s.path));
    for (const [path, o] of this.open) {
      const inode = indexInode(path);
      const why = !wanted.has(path)
        ? 'unshared'
        : inode === undefined
          ? 'the repository is gone'
          : inode !== o.inode
            ? 'the repository was replaced'
            : undefined;
      if (!why) continue;
      // Closed once the requests running on it are done: closing it under them made them fail
      // with an internal error, blamed on the peer asking. Later requests are told it is gone.
      const closing = o.repo;
      void this.peer.server.remove(o.state.id).then(() => closing.close());
      this.open.delete(path);
      log(why === 'unshared' ? 'info' : 'warn', `stopped serving ${path}: ${why}`);
    }
    const skipped: { path: string; reason: string }[] = [];
    for (const { path, id: sharedId } of shares) {
      if (this.open.has(path)) continue;
      const inode = indexInode(path);
      if (inode === undefined) {
        skipped.push({ path, reason: NOT_A_REPOSITORY });
        continue;
      }
      let repo: Repository | undefined;
      try {
        repo = Repository.open(path);
        // Only the repository that was shared: one made at the same path since (with no
        // identity, or another) was never shared, and must not be given an identity, public
        // by default, and served.
        const current = repo.meta('repo-id');
        if (current === undefined || (sharedId !== '' && current !== sharedId)) {
          throw new Error(
            "the repository there is not the one that was shared (run 'shoal share' in it to serve it)",
          );
        }
        const state = await ensureRepoIdentity(repo, user);
        if (this.peer.server.has(state.id)) {
          const other = [...this.open.entries()].find(([, o]) => idEquals(o.state.id, state.id));
          throw new Error(`the same repository is already served from ${other?.[0] ?? 'another path'}`);
        }
        // Gone from its path (deleted, or another put there): not served from then on, though
        // only the next reload closes it (a stat per request; what a request needs was there).
        this.peer.server.add({ repo, state, gone: () => indexInode(path) !== inode });
        this.open.set(path, { repo, state, inode });
        log('info', `serving ${path} as shoal://${toHex(state.id)}`);
      } catch (err) {
        repo?.close();
        skipped.push({ path, reason: (err as Error).message });
      }
    }
    for (const s of skipped) log('warn', `skipping ${s.path}: ${s.reason}`);
    this.skipped = skipped;
  }

  /** Whether a repository served is gone or was replaced since the last reload. */
  servesStale(): boolean {
    for (const [path, o] of this.open) if (indexInode(path) !== o.inode) return true;
    // A skipped one that is back (a disk mounted after the daemon started).
    return this.skipped.some((s) => s.reason === NOT_A_REPOSITORY && indexInode(s.path) !== undefined);
  }

  status(): DaemonStatus {
    return {
      peerId: this.peer.node.peerId.toString(),
      addrs: this.peer.addrs(),
      mdns: this.opts.mdns,
      repos: [...this.open.entries()].map(([path, o]) => ({
        id: toHex(o.state.id),
        name: o.state.identity.name,
        visibility: o.state.identity.visibility,
        path,
      })),
      skipped: this.skipped,
    };
  }

  async stop(): Promise<void> {
    await this.reloading;
    await this.peer.stop();
    for (const o of this.open.values()) o.repo.close();
    this.open.clear();
  }
}

/** Whether a directory still holds a repository (for callers that list shares). */
export function isRepository(path: string): boolean {
  return existsSync(join(path, REPO_DIR, 'index.db'));
}
