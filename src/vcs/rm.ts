// `rm`: stop tracking paths and (without `cached`) delete them from the working tree. Like git,
// it refuses to delete content that exists nowhere else: a working file with unstaged changes,
// or staged content that no commit holds. `force` overrides that.

import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { compareNames, idEquals, ShoalError } from '../core/index.ts';
import type { Repository, StagedEntry } from '../store/index.ts';
import { workingFileDiffers } from './checkout.ts';
import { readMergeState } from './merge-state.ts';
import { commitTree, flatten } from './trees.ts';
import {
  alongside,
  blockingAncestor,
  lstatOrNull,
  removeEmptyParents,
  repoPath,
  workingTreeStat,
} from './worktree.ts';

export interface RmOptions {
  cwd: string;
  paths: string[];
  cached?: boolean;
  recursive?: boolean;
  force?: boolean;
}

export interface RmResult {
  removed: string[];
}

export async function rm(repo: Repository, opts: RmOptions): Promise<RmResult> {
  const targets = opts.paths.map((p) => repoPath(repo.root, opts.cwd, p));
  return repo.withWriteLock(async () => {
    // A path in conflict may be absent from the staging index (deleted on one side) yet tracked.
    const conflicted = new Set(readMergeState(repo)?.conflicts.map((c) => c.path) ?? []);
    const chosen = new Map<string, StagedEntry | undefined>();
    for (let i = 0; i < targets.length; i++) {
      const t = targets[i]!;
      // The index is asked about each target, not read whole.
      // 'a/' names a directory, as in git: never the file 'a'.
      const asDir = t === '' || opts.paths[i]!.endsWith('/');
      const exactEntry = asDir ? undefined : repo.staging.get(t);
      const exact = exactEntry ? [exactEntry] : [];
      const below = exactEntry ? [] : [...repo.staging.entriesUnder(t)].filter((e) => e.path !== t);
      if (exact.length === 0 && below.length > 0 && !opts.recursive) {
        throw new ShoalError('INVALID_ARGUMENT', `not removing '${opts.paths[i]}' recursively without -r`, {
          path: opts.paths[i],
        });
      }
      const matched = exact.length > 0 ? exact : below;
      if (matched.length === 0) {
        if (conflicted.has(t)) {
          chosen.set(t, undefined);
          continue;
        }
        throw new ShoalError('PATH_NOT_FOUND', `pathspec '${opts.paths[i]}' did not match any tracked file`, {
          path: opts.paths[i],
        });
      }
      for (const e of matched) chosen.set(e.path, e);
    }

    if (!opts.force) {
      const head = repo.refs.headCommit();
      const headFiles = head ? flatten(repo.objects, commitTree(repo.objects, head)) : [];
      const named = [...chosen.entries()]
        .filter((c): c is [string, StagedEntry] => c[1] !== undefined)
        .map(([path, e]) => ({ path, e }))
        .sort((a, b) => compareNames(a.path, b.path));
      const atRisk: string[] = [];
      // HEAD's files stream past the chosen paths: memory holds what is being removed, not HEAD.
      for (const [h, c] of alongside(headFiles, named)) {
        if (!c) continue;
        const { path, e } = c;
        const stagedOnly = !h || !idEquals(h.id, e.id) || h.kind !== e.kind;
        // Beyond a file or symlink the path is not in the working tree (what a symlink there
        // points at is not the repository's), so it holds nothing: as if deleted. A directory
        // where the file was is the user's new work, not the file: the file is gone too.
        const present = workingTreeStat(repo.root, path)?.isDirectory() === false;
        const workDiffers = !present || (await workingFileDiffers(repo, path, e));
        // Deleting the working file loses unstaged edits (none when it is gone already);
        // dropping the entry loses staged content no commit holds, unless the working file
        // still has it (--cached keeps it).
        if (opts.cached ? stagedOnly && workDiffers : stagedOnly || (present && workDiffers))
          atRisk.push(path);
      }
      if (atRisk.length > 0) {
        throw new ShoalError(
          'DIRTY_WORKTREE',
          opts.cached
            ? `these paths have staged content that neither a commit nor the working file holds (rm -f --cached drops it anyway):\n  ${atRisk.join('\n  ')}`
            : `these paths have changes that no commit holds (use --cached to keep the files, or -f to remove them anyway):\n  ${atRisk.join('\n  ')}`,
          { paths: atRisk },
        );
      }
    }

    const removed = [...chosen.keys()].sort();
    if (!opts.cached) {
      for (const [i, path] of removed.entries()) {
        // Never through a symlink (or a file) that stands where a directory was: what it points
        // at is not the repository's to delete.
        if (blockingAncestor(repo.root, path) !== undefined) continue;
        // A directory that now stands where the file was is not the file: it stays.
        if (lstatOrNull(join(repo.root, path))?.isDirectory()) continue;
        rmSync(join(repo.root, path), { force: true });
        // A parent is looked at once its last file here is gone (paths are sorted: the next one
        // in the same directory follows), not after each file: that listed a directory of N
        // files N times.
        const next = removed[i + 1];
        if (next === undefined || dirname(next) !== dirname(path)) removeEmptyParents(repo.root, path);
      }
    }
    repo.staging.apply([], removed);
    return { removed };
  });
}
