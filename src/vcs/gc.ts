// `gc`: find what is reachable, then let the store drop the rest and compact its packs.
// Roots: the repository's identity document, every branch and tag, HEAD, the staging index,
// both sides of a merge in progress, and (for the grace period) every commit named in the
// reflog or made recently, so a deleted branch or the commit before a merge can still be
// recovered. `--prune=now` ends the grace.

import {
  decodeCommit,
  decodeIndexNode,
  decodeTree,
  fromHex,
  type ObjectId,
  ShoalError,
} from '../core/index.ts';
import { compactPacks, LiveSet, type Repository } from '../store/index.ts';
import { CheckoutAhead } from './checkout-ahead.ts';
import { refsDocProblem } from './fsck.ts';
import { mergeStateCommits } from './merge-state.ts';
import { moveStateCommits } from './move-state.ts';
import type { OnProgress } from './progress.ts';

export const DEFAULT_GRACE_MS = 14 * 24 * 3600 * 1000;

export interface GcOptions {
  dryRun?: boolean;
  /** How long unreachable history stays recoverable; 0 drops it at once (--prune=now). */
  graceMs?: number;
  now?: number;
  onProgress?: OnProgress;
  signal?: AbortSignal;
  /** Rewrite every pack holding unreachable bytes, not only those under 80 % live. */
  aggressive?: boolean;
}

export interface GcResult {
  dryRun: boolean;
  graceMs: number;
  reachable: number;
  objectsRemoved: number;
  bytesRemoved: number;
  packsRewritten: number;
  packsWritten: number;
  bytesCopied: number;
  bytesReclaimed: number;
  reflogExpired: number;
  /** Signed refs documents held that no longer verify (damaged on disk), dropped (fsck names them). */
  refsDocsDropped: number;
}

/** Parse a grace period: `now`, or a number with a unit (s, m, h, d, w), e.g. `14d`. */
export function parseGrace(text: string): number {
  if (text === 'now') return 0;
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$/.exec(text.trim());
  if (!m)
    throw new ShoalError(
      'INVALID_ARGUMENT',
      `'${text}' is not a grace period (use 'now' or e.g. 12h, 14d, 2w)`,
    );
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 's'];
  return Math.round(Number(m[1]) * unit);
}

export async function gc(repo: Repository, opts: GcOptions = {}): Promise<GcResult> {
  return repo.withWriteLock(async () => {
    CheckoutAhead.removeLeftovers(repo); // what a clone killed (-9) left aside
    const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
    const cutoff = (opts.now ?? Date.now()) - graceMs;
    const live = new LiveSet(repo.db);
    try {
      let marked = 0;
      const mark = (id: ObjectId): boolean => {
        if (!live.add(id)) return false;
        if (++marked % 1000 === 0) {
          if (opts.signal?.aborted) throw new ShoalError('ABORTED', 'interrupted');
          opts.onProgress?.({ phase: 'mark', bytesDone: 0, itemsDone: marked });
        }
        return true;
      };
      const content = (id: ObjectId, height: number): void => {
        if (!mark(id) || height === 0) return;
        for (const e of decodeIndexNode(repo.objects.read(id, 'node')).entries) content(e.id, height - 1);
      };
      const tree = (root: ObjectId): void => {
        // A stack, not recursion: a tree may be nested thousands of levels deep.
        const stack = [root];
        while (stack.length > 0) {
          const id = stack.pop()!;
          if (!mark(id)) continue;
          for (const e of decodeTree(repo.objects.read(id, 'tree')).entries) {
            if (e.kind === 'dir') stack.push(e.id);
            else content(e.id, e.height);
          }
        }
      };
      const history = (start: ObjectId, optional: boolean): void => {
        // Reflog entries may name commits an earlier gc already dropped: those are skipped.
        if (optional && !repo.objects.has(start)) return;
        const stack = [start];
        while (stack.length > 0) {
          const id = stack.pop()!;
          if (!mark(id)) continue;
          const c = decodeCommit(repo.objects.read(id, 'commit'));
          tree(c.tree);
          stack.push(...c.parents);
        }
      };

      // The repository's identity document: stored as an object, named by no commit.
      const identity = repo.meta('repo-id');
      if (identity) live.add(fromHex(identity));
      for (const r of repo.refs.list()) history(r.id, false);
      const head = repo.refs.headCommit();
      if (head) history(head, false);
      for (const id of [...mergeStateCommits(repo), ...moveStateCommits(repo)]) history(id, false);
      for (const e of repo.staging.entries()) content(e.id, e.height);
      if (graceMs > 0) {
        const rows = repo.db.prepare('SELECT old, new FROM reflog WHERE time >= ?').all(cutoff) as {
          old: Uint8Array | null;
          new: Uint8Array | null;
        }[];
        for (const r of rows) {
          if (r.old) history(r.old, true);
          if (r.new) history(r.new, true);
        }
        // Commits made within the grace period, even unnamed (left behind on a detached HEAD).
        const commits = repo.db.prepare('SELECT id FROM objects WHERE type = 3').all() as {
          id: Uint8Array;
        }[];
        for (const { id } of commits) {
          if (live.has(id)) continue;
          if (decodeCommit(repo.objects.read(id, 'commit')).time >= cutoff) history(id, true);
        }
      }
      const reachable = live.count();

      let reflogExpired = 0;
      const expire = `FROM reflog WHERE time < ? AND ((old IS NOT NULL AND old NOT IN (SELECT id FROM temp.gc_live))
                        OR (new IS NOT NULL AND new NOT IN (SELECT id FROM temp.gc_live)))`;
      const compacted = await compactPacks(repo, live, {
        dryRun: opts.dryRun,
        anyDead: opts.aggressive,
        signal: opts.signal,
        onProgress: opts.onProgress,
        finalize: (db) => {
          reflogExpired = Number(
            db.prepare(`DELETE ${expire}`).run(graceMs > 0 ? cutoff : Number.MAX_SAFE_INTEGER).changes,
          );
        },
      });
      if (opts.dryRun) {
        reflogExpired = (
          repo.db
            .prepare(`SELECT COUNT(*) AS n ${expire}`)
            .get(graceMs > 0 ? cutoff : Number.MAX_SAFE_INTEGER) as {
            n: number;
          }
        ).n;
      }
      const refsDocsDropped = dropDamagedRefsDocs(repo, opts.dryRun === true);
      return {
        dryRun: opts.dryRun === true,
        graceMs,
        reachable,
        objectsRemoved: compacted.objectsRemoved,
        bytesRemoved: compacted.bytesRemoved,
        packsRewritten: compacted.packsRewritten.length,
        packsWritten: compacted.packsWritten.length,
        bytesCopied: compacted.bytesCopied,
        bytesReclaimed: compacted.bytesReclaimed,
        reflogExpired,
        refsDocsDropped,
      };
    } finally {
      live.dispose();
    }
  });
}

/**
 * Signed refs documents that no longer verify (refsDocProblem, as fsck reports them): nothing
 * serves or uses them, and a peer that signed one may never send it again. Dropped (counted
 * only, with dryRun).
 */
function dropDamagedRefsDocs(repo: Repository, dryRun: boolean): number {
  const hex = repo.meta('repo-id');
  const repoId = hex ? fromHex(hex) : null;
  let dropped = 0;
  for (const current of repo.signedRefs.all()) {
    const previous = repo.signedRefs.previous(current.signer);
    if (previous && refsDocProblem(previous, repoId)) {
      dropped++;
      if (!dryRun) repo.signedRefs.forgetPrevious(current.signer);
    }
    if (refsDocProblem(current, repoId)) {
      dropped++;
      if (!dryRun) repo.signedRefs.forget(current.signer);
    }
  }
  return dropped;
}
