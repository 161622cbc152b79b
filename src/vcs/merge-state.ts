// The state of a merge that stopped for conflicts (or was interrupted), kept in the index's
// `meta` table under MERGE_STATE so that status, gc and every later command see it. It names
// both sides, so gc keeps them, and the conflicts the user has to resolve.

import { fromHex, ShoalError } from '../core/index.ts';
import type { Repository } from '../store/index.ts';

export const MERGE_STATE_KEY = 'MERGE_STATE';

export type ConflictReason =
  | 'both-modified'
  | 'both-added'
  | 'deleted-by-us'
  | 'deleted-by-them'
  | 'file-directory';

export interface MergeConflict {
  path: string;
  reason: ConflictReason;
  /** The working file holds conflict markers (a small text file merged line by line). */
  markers: boolean;
  /** Where their version was written beside ours (`<path>~<branch>`), if anywhere. */
  side: string | null;
}

export interface MergeState {
  /** The commit being merged in (MERGE_HEAD). */
  theirs: string;
  /** What the user named it: a branch, a tag or an id. */
  name: string;
  /** HEAD before the merge started (null on an unborn branch). */
  orig: string | null;
  message: string;
  conflicts: MergeConflict[];
  /** 'applying' until the working tree holds the whole merge result; then 'conflicts'. */
  phase: 'applying' | 'conflicts';
  time: number;
  /** Paths where an untracked file already held what theirs adds: an abort leaves them. */
  untracked?: string[];
}

export function readMergeState(repo: Repository): MergeState | undefined {
  const raw = repo.meta(MERGE_STATE_KEY);
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as MergeState;
  } catch {
    throw new ShoalError('CORRUPT_OBJECT', 'the recorded merge state is not valid JSON');
  }
}

export function writeMergeState(repo: Repository, state: MergeState): void {
  repo.setMeta(MERGE_STATE_KEY, JSON.stringify(state));
}

export function clearMergeState(repo: Repository): void {
  repo.db.prepare('DELETE FROM meta WHERE key = ?').run(MERGE_STATE_KEY);
}

/** The commits a merge in progress keeps alive (for gc). */
export function mergeStateCommits(repo: Repository): Uint8Array[] {
  const s = readMergeState(repo);
  if (!s) return [];
  return [s.theirs, ...(s.orig ? [s.orig] : [])].map(fromHex);
}

/** Commands that move HEAD or the working tree refuse to run in the middle of a merge. */
export function assertNoMerge(repo: Repository): void {
  const s = readMergeState(repo);
  if (s) {
    throw new ShoalError(
      'MERGE_IN_PROGRESS',
      `a merge of '${s.name}' is in progress; finish it with 'shoal merge --continue' or undo it with 'shoal merge --abort'`,
      { theirs: s.theirs, name: s.name },
    );
  }
}
