// `restore`: overwrite working files with their staged content, or with a commit's content
// (`--source`; tracked files the commit lacks are removed). It is the way to throw local changes
// away, so it never asks.

import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { compareNames, ShoalError } from '../core/index.ts';
import type { Repository, StagedEntry } from '../store/index.ts';
import { stampOf } from './add.ts';
import { holdsOtherFiles, stampHolds } from './checkout.ts';
import { CheckoutAhead } from './checkout-ahead.ts';
import { writeContent, writeSymlink } from './content.ts';
import { commitTree, type FlatEntry, sameEntry, stagedFile, TreeReader } from './trees.ts';
import { blockingAncestor, lstatOrNull, removeEmptyParents, repoPath } from './worktree.ts';

export async function restore(
  repo: Repository,
  opts: { cwd: string; paths: string[]; source?: Uint8Array },
): Promise<{ restored: string[]; removed: string[] }> {
  const targets = opts.paths.map((p) => repoPath(repo.root, opts.cwd, p));
  return repo.withWriteLock(async () => {
    // What a clone killed while writing its files left aside (restore is what finishes one)
    CheckoutAhead.removeLeftovers(repo);
    // The files at or below each target, from the source commit or the index: each target is
    // looked up, so restoring one file does not read every path.
    const source = opts.source && new TreeReader(repo.objects, commitTree(repo.objects, opts.source));
    const under = (t: string): FlatEntry[] => {
      if (source) {
        const file = source.file(t);
        return file ? [file] : [...source.filesUnder(t)];
      }
      return [...repo.staging.entriesUnder(t)].map(stagedFile);
    };
    const byPath = new Map<string, FlatEntry>();
    // From a commit, as git's restore does: a tracked path that the commit does not have is
    // removed from the working tree (the index keeps it, so status shows it deleted).
    const absent = new Set<string>();
    for (let i = 0; i < targets.length; i++) {
      const found = under(targets[i]!);
      for (const e of found) byPath.set(e.path, e);
      let tracked = 0;
      if (source) {
        for (const e of repo.staging.entriesUnder(targets[i]!)) {
          tracked++;
          if (!source.file(e.path)) absent.add(e.path);
        }
      }
      if (found.length === 0 && tracked === 0) {
        throw new ShoalError(
          'PATH_NOT_FOUND',
          source
            ? `pathspec '${opts.paths[i]}' did not match any file in the source commit or the index`
            : `pathspec '${opts.paths[i]}' did not match any tracked file`,
          { path: opts.paths[i] },
        );
      }
    }
    const chosen = [...byPath.values()].sort((a, b) => compareNames(a.path, b.path));
    for (const e of chosen) {
      // Never write through a file or symlink where a directory should be, nor over a directory,
      // unless what is in the way is tracked here and goes below (a file the source has as a
      // directory, or the reverse).
      let blocker = blockingAncestor(repo.root, e.path);
      if (blocker !== undefined && absent.has(blocker)) blocker = undefined;
      if (
        blocker === undefined &&
        lstatOrNull(join(repo.root, e.path))?.isDirectory() &&
        holdsOtherFiles(repo.root, e.path, absent)
      )
        blocker = e.path;
      if (blocker !== undefined) {
        throw new ShoalError(
          'DIRTY_WORKTREE',
          `cannot restore '${e.path}': '${blocker}' is in the way in the working tree; move it away first`,
          { paths: [blocker] },
        );
      }
    }
    // Removals first, so that what they clear is out of the way of the writes.
    const removed: string[] = [];
    for (const p of [...absent].sort(compareNames)) {
      // Only a file or symlink at the path itself, never through something in the way.
      if (blockingAncestor(repo.root, p) !== undefined) continue;
      const st = lstatOrNull(join(repo.root, p));
      if (!st || st.isDirectory()) continue;
      rmSync(join(repo.root, p), { force: true });
      removeEmptyParents(repo.root, p);
      removed.push(p);
    }
    const restored: string[] = [];
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const refreshed = [];
    for (const e of chosen) {
      // Already there, as the index's stamp vouches (for a commit's content, when the index
      // holds the same): not written again, as git does not. Rewriting gave the file a new
      // inode (breaking hard links) and made the next status read it all.
      const staged = repo.staging.get(e.path);
      if ((!opts.source || sameEntry(staged, e)) && stampHolds(repo, e.path, staged)) continue;
      const abs = join(repo.root, e.path);
      // A directory where the file goes, emptied of its files above: only empty ones are left.
      if (lstatOrNull(abs)?.isDirectory() && !holdsOtherFiles(repo.root, e.path, new Set()))
        rmSync(abs, { recursive: true, force: true });
      mkdirSync(dirname(abs), { recursive: true });
      if (e.kind === 'symlink') writeSymlink(repo.objects, e.id, abs);
      else await writeContent(repo.objects, e, abs, e.executable, { replaces: true });
      restored.push(e.path);
      if (!opts.source) {
        const stat = lstatOrNull(abs)!;
        refreshed.push({ ...e, stamp: stampOf({ path: e.path, abs, stat, kind: e.kind }, nowNs) });
      }
    }
    repo.staging.apply(refreshed);
    return { restored, removed };
  });
}

/**
 * `restore --staged`: set the staging index's entries at or below each path to those of a commit
 * (HEAD by default; none on an unborn branch), leaving the working tree alone. It is how a
 * staged change is unstaged. Returns the paths whose index entry changed.
 */
export async function unstage(
  repo: Repository,
  opts: { cwd: string; paths: string[]; source?: Uint8Array },
): Promise<{ unstaged: string[] }> {
  const targets = opts.paths.map((p) => repoPath(repo.root, opts.cwd, p));
  return repo.withWriteLock(async () => {
    const commit = opts.source ?? repo.refs.headCommit();
    const source = commit && new TreeReader(repo.objects, commitTree(repo.objects, commit));
    const puts: StagedEntry[] = [];
    const removals: string[] = [];
    const changed = new Set<string>();
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i]!;
      const file = source?.file(t);
      const wanted = new Map<string, FlatEntry>();
      for (const e of file ? [file] : source ? [...source.filesUnder(t)] : []) wanted.set(e.path, e);
      const staged = [...repo.staging.entriesUnder(t)];
      if (wanted.size === 0 && staged.length === 0) {
        throw new ShoalError(
          'PATH_NOT_FOUND',
          `pathspec '${opts.paths[i]}' did not match any file in the index or the commit`,
          {
            path: opts.paths[i],
          },
        );
      }
      for (const s of staged) {
        const w = wanted.get(s.path);
        if (!w) {
          removals.push(s.path);
          changed.add(s.path);
        } else if (!sameEntry(s, w)) {
          puts.push({ ...w, stamp: null }); // no stamp: the working file is not what is staged
          changed.add(s.path);
        }
        wanted.delete(s.path);
      }
      for (const w of wanted.values()) {
        puts.push({ ...w, stamp: null });
        changed.add(w.path);
      }
    }
    repo.staging.apply(puts, removals);
    return { unstaged: [...changed].sort(compareNames) };
  });
}
