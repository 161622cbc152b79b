// `status`: the staging index against HEAD (staged changes) and the working tree against the
// staging index (unstaged changes, untracked files). Files whose stat stamp matches are not
// read; files whose stamp changed but whose content did not get a fresh stamp when possible.

import { idEquals, isShoalError } from '../core/index.ts';
import type { Repository, StagedEntry } from '../store/index.ts';
import { stageSymlink, stampMatches, stampOf } from './add.ts';
import { type ConflictStatus, conflictStatus } from './conflicts.ts';
import { ingestFile } from './ingest.ts';
import { readMergeState } from './merge-state.ts';
import { commitTree, flattenToMap } from './trees.ts';
import { IgnoreRules, isExecutable, walk } from './worktree.ts';

export interface PathChange {
  path: string;
  change: 'added' | 'modified' | 'deleted';
}

export interface StatusResult {
  branch: string | null;
  head: Uint8Array | null;
  staged: PathChange[];
  unstaged: PathChange[];
  untracked: string[];
  /** What is being merged in, while a merge waits for conflicts to be resolved. */
  merging: string | null;
  conflicts: ConflictStatus[];
}

export async function status(repo: Repository): Promise<StatusResult> {
  const headId = repo.refs.headCommit() ?? null;
  const head = repo.refs.head();
  const headFiles = flattenToMap(repo.objects, headId ? commitTree(repo.objects, headId) : undefined);
  const entries = repo.staging.all();
  const staged = new Map(entries.map((e) => [e.path, e]));

  const stagedChanges: PathChange[] = [];
  for (const e of entries) {
    const h = headFiles.get(e.path);
    if (!h) stagedChanges.push({ path: e.path, change: 'added' });
    else if (!idEquals(h.id, e.id) || h.executable !== e.executable || h.kind !== e.kind) {
      stagedChanges.push({ path: e.path, change: 'modified' });
    }
  }
  for (const path of headFiles.keys()) if (!staged.has(path)) stagedChanges.push({ path, change: 'deleted' });

  // Directories holding a tracked path are entered; wholly untracked ones are listed as `dir/`.
  const trackedDirs = new Set<string>();
  for (const path of staged.keys()) {
    for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) trackedDirs.add(path.slice(0, i));
  }
  const unstaged: PathChange[] = [];
  const untracked: string[] = [];
  const refreshed: StagedEntry[] = [];
  const seen = new Set<string>();
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  for (const e of walk(repo.root, '', new IgnoreRules(repo.root), (dir) => trackedDirs.has(dir))) {
    if ('skipped' in e) {
      untracked.push(`${e.dir}/`);
      continue;
    }
    seen.add(e.path);
    const s = staged.get(e.path);
    if (!s) {
      untracked.push(e.path);
      continue;
    }
    if (stampMatches(s, e)) continue;
    let same = s.kind === e.kind && s.executable === isExecutable(e.stat) && BigInt(s.size) === e.stat.size;
    if (same) {
      try {
        const id =
          e.kind === 'symlink'
            ? (await stageSymlink(e, null)).id
            : (await ingestFile(e.abs, { chunker: repo.chunker, session: null })).id;
        same = idEquals(id, s.id);
      } catch (err) {
        if (!isShoalError(err)) throw err;
        same = false; // vanished or changing as we read: report it as modified
      }
    }
    if (!same) unstaged.push({ path: e.path, change: 'modified' });
    else {
      const stamp = stampOf(e, nowNs);
      if (stamp) refreshed.push({ ...s, stamp });
    }
  }
  for (const path of staged.keys()) if (!seen.has(path)) unstaged.push({ path, change: 'deleted' });
  unstaged.sort((a, b) => (a.path < b.path ? -1 : 1));

  if (refreshed.length > 0) {
    // Best effort, as git does: skip the refresh when another command holds the lock.
    try {
      // Only entries that nobody re-staged meanwhile get the fresh stamp.
      await repo.withWriteLock(() =>
        repo.staging.apply(
          refreshed.filter((r) => {
            const current = repo.staging.get(r.path);
            return current !== undefined && idEquals(current.id, r.id);
          }),
        ),
      );
    } catch (err) {
      if (!isShoalError(err, 'LOCKED')) throw err;
    }
  }
  stagedChanges.sort((a, b) => (a.path < b.path ? -1 : 1));
  const merge = readMergeState(repo);
  return {
    branch: head.kind === 'branch' ? head.name : null,
    head: headId,
    staged: stagedChanges,
    unstaged,
    untracked,
    merging: merge?.name ?? null,
    conflicts: merge ? await conflictStatus(repo, merge) : [],
  };
}
