// `mv`: rename a tracked file or directory in the working tree and the staging index at once.
// Content ids do not change, so the next commit records a rename that diff recognises. It never
// overwrites: a destination that exists (in the working tree or the index) is an error.

import { type BigIntStats, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { basename, dirname, join, sep } from 'node:path';
import { ShoalError } from '../core/index.ts';
import type { Repository, StagedEntry } from '../store/index.ts';
import { stampOf } from './add.ts';
import { lstatOrNull, repoPath, workingTreeStat } from './worktree.ts';

export interface MvOptions {
  cwd: string;
  source: string;
  destination: string;
}

export interface MvResult {
  moved: { from: string; to: string }[];
}

export async function mv(repo: Repository, opts: MvOptions): Promise<MvResult> {
  const src = repoPath(repo.root, opts.cwd, opts.source);
  let dst = repoPath(repo.root, opts.cwd, opts.destination);
  return repo.withWriteLock(async () => {
    if (src === '') throw new ShoalError('INVALID_ARGUMENT', 'cannot move the repository root');
    const matched = [...repo.staging.entriesUnder(src)];
    if (matched.length === 0) {
      throw new ShoalError('PATH_NOT_FOUND', `'${opts.source}' is not tracked`, { path: opts.source });
    }
    const srcAbs = join(repo.root, src);
    // Beyond a symlink (or a file) where a directory was, the source is not in the working tree:
    // what the symlink points at is not the repository's to move.
    if (!workingTreeStat(repo.root, src)) {
      // Unless a move was stopped between renaming and updating the index: the destination then
      // holds the source, untracked, and running the move again finishes it.
      const done = movedAlready(repo, matched, src, dst);
      if (done === null) {
        throw new ShoalError('PATH_NOT_FOUND', `'${opts.source}' does not exist in the working tree`, {
          path: opts.source,
        });
      }
      return { moved: record(repo, matched, src, done, new Set()) };
    }
    // Into an existing directory, as mv(1) and git do; but not when the destination is the
    // source itself under another case (a case-only rename on a case-insensitive file system).
    const dstStat = lstatOrNull(join(repo.root, dst));
    const caseOnly = dstStat !== null && isCaseAlias(repo.root, src, dst);
    if (dstStat?.isDirectory() && !caseOnly) dst = dst === '' ? basename(src) : `${dst}/${basename(src)}`;
    // A trailing slash says "into this directory", as in git: it must exist.
    else if (
      (opts.destination.endsWith('/') || (sep === '\\' && opts.destination.endsWith(sep))) &&
      !caseOnly
    ) {
      throw new ShoalError('PATH_NOT_FOUND', `destination directory '${opts.destination}' does not exist`, {
        path: opts.destination,
      });
    }
    if (dst === src || dst.startsWith(`${src}/`)) {
      throw new ShoalError('INVALID_ARGUMENT', `cannot move '${opts.source}' into itself`);
    }
    const dstAbs = join(repo.root, dst);
    const takenInIndex = repo.staging.has(dst) || repo.staging.hasUnder(dst);
    if ((lstatOrNull(dstAbs) && !caseOnly) || takenInIndex) {
      throw new ShoalError('ALREADY_EXISTS', `destination '${dst}' already exists`, { path: dst });
    }
    // A file cannot be created below a path that is a file.
    for (let d = dirname(dst); d !== '.' && d !== ''; d = dirname(d)) {
      const st = lstatOrNull(join(repo.root, d));
      if (st && !st.isDirectory()) {
        throw new ShoalError('ALREADY_EXISTS', `'${d}' exists and is not a directory`, { path: d });
      }
    }
    mkdirSync(dirname(dstAbs), { recursive: true });
    // Which files are still as their stamps say, ctime included, before the rename changes what
    // can be checked (a file's ctime, on most file systems): only those keep a stamp. An edit
    // that kept size and modification time (cp -p) is otherwise carried over as clean.
    const unchanged = new Set<string>();
    for (const e of matched) {
      const st = e.stamp && lstatOrNull(join(repo.root, e.path));
      if (st && renamedFrom(st, e.stamp!) && st.ctimeNs === e.stamp!.ctimeNs) unchanged.add(e.path);
    }
    renameSync(srcAbs, dstAbs);
    return { moved: record(repo, matched, src, dst, unchanged) };
  });
}

/**
 * Directories above `path` where the index still has a file (replaced in the working tree, not
 * staged yet): a move below one takes the file's entry away, as adding a path below it does, for
 * the index cannot hold both.
 */
function replacedFilesAbove(repo: Repository, path: string): string[] {
  const found: string[] = [];
  for (let d = dirname(path); d !== '.' && d !== ''; d = dirname(d)) {
    if (repo.staging.has(d) && lstatOrNull(join(repo.root, d))?.isDirectory()) found.push(d);
  }
  return found;
}

/**
 * Where an interrupted move of `src` to `dst` put it (`dst`, or `dst/<name>` when `dst` was a
 * directory), or null. It counts as moved there when the destination is untracked and every
 * tracked file is found below it as the file staged: its size, and where the index has a stat
 * stamp, its inode and modification time (a rename keeps both). An unrelated file is not taken
 * for it.
 */
function movedAlready(repo: Repository, matched: StagedEntry[], src: string, dst: string): string | null {
  const inside = dst === '' ? basename(src) : `${dst}/${basename(src)}`;
  const holds = (to: string): boolean => {
    if (to === '' || !workingTreeStat(repo.root, to)) return false;
    if (repo.staging.has(to) || repo.staging.hasUnder(to)) return false;
    for (const e of matched) {
      const st = lstatOrNull(join(repo.root, to + e.path.slice(src.length)));
      if (!st || st.isDirectory() || st.size !== BigInt(e.size)) return false;
      if (e.stamp && !renamedFrom(st, e.stamp)) return false;
    }
    return true;
  };
  // Into the directory `dst` first (as the move would have gone had `dst` existed), then `dst`.
  return [inside, dst].find(holds) ?? null;
}

/** Whether `st` is the file `stamp` was taken of, renamed since (a rename keeps all three). */
function renamedFrom(st: BigIntStats, stamp: NonNullable<StagedEntry['stamp']>): boolean {
  return st.size === BigInt(stamp.size) && st.mtimeNs === stamp.mtimeNs && st.ino === stamp.ino;
}

/**
 * Move the index entries of `matched` from `src` to `dst`, where the files now are. Those in
 * `unchanged` (as stamped, checked before the rename) get a fresh stamp; the others none, and the
 * next status reads them (a move finished after an interruption cannot tell any more).
 */
function record(
  repo: Repository,
  matched: StagedEntry[],
  src: string,
  dst: string,
  unchanged: Set<string>,
): MvResult['moved'] {
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const puts: StagedEntry[] = [];
  const moved: MvResult['moved'] = [];
  for (const e of matched) {
    const to = dst + e.path.slice(src.length);
    const abs = join(repo.root, to);
    const stat = lstatOrNull(abs);
    // rename changes ctime, so the old stamp is useless; a fresh one keeps status from re-reading.
    const stamp =
      stat && e.stamp && unchanged.has(e.path) && renamedFrom(stat, e.stamp)
        ? stampOf({ path: to, abs, stat, kind: e.kind === 'symlink' ? 'symlink' : 'file' }, nowNs)
        : null;
    puts.push({ ...e, path: to, stamp });
    moved.push({ from: e.path, to });
  }
  repo.staging.apply(puts, [...matched.map((e) => e.path), ...replacedFilesAbove(repo, dst)]);
  return moved;
}

/**
 * Whether `dst`, which exists, is `src` itself: the two differ only in case, name the same file,
 * and the directory lists the source's name and not the destination's (a hard link under the
 * other name would be listed too).
 */
function isCaseAlias(root: string, src: string, dst: string): boolean {
  if (src === dst || src.toLowerCase() !== dst.toLowerCase()) return false;
  const a = lstatOrNull(join(root, src));
  const b = lstatOrNull(join(root, dst));
  if (!a || !b || a.ino !== b.ino || a.dev !== b.dev) return false;
  const names = readdirSync(dirname(join(root, dst)));
  return names.includes(basename(src)) && !names.includes(basename(dst));
}
