// `status`: the staging index against HEAD (staged changes) and the working tree against the
// staging index (unstaged changes, untracked files). Files whose stat stamp matches are not
// read; files whose stamp changed but whose content did not get a fresh stamp when possible.

import { compareNames, idEquals, isShoalError } from '../core/index.ts';
import type { Repository, StagedEntry } from '../store/index.ts';
import { stageSymlink, stampMatches, stampOf } from './add.ts';
import { type ConflictStatus, conflictStatus } from './conflicts.ts';
import { ingestFile } from './ingest.ts';
import { aheadBehind } from './merge-base.ts';
import { readMergeState } from './merge-state.ts';
import { readMoveState } from './move-state.ts';
import {
  type ChangeKind,
  commitTree,
  type FlatEntry,
  findRenames,
  flatten,
  parentDir,
  type RenameChange,
  TreeReader,
} from './trees.ts';
import { alongside, IgnoreRules, isExecutable, walk } from './worktree.ts';

export interface PathChange {
  path: string;
  change: 'added' | 'modified' | 'deleted' | 'renamed';
  /** A staged rename's old path: a deleted and an added path of the same content, as in diff. */
  oldPath?: string;
}

/** A staged change with the entries on each side (HEAD's, the staging index's). */
interface SidedEntryChange {
  path: string;
  change: ChangeKind;
  old?: FlatEntry;
  new?: StagedEntry;
}

export interface StatusResult {
  branch: string | null;
  head: Uint8Array | null;
  staged: PathChange[];
  unstaged: PathChange[];
  untracked: string[];
  /** Untracked names that are not valid UTF-8 (bad bytes as \xNN): they cannot be recorded. */
  notUtf8: string[];
  /** Untracked directories that could not be read (permission denied): passed over. */
  unreadable: string[];
  /** What is being merged in, while a merge waits for conflicts to be resolved. */
  merging: string | null;
  conflicts: ConflictStatus[];
  /**
   * The current branch against its remote-tracking branch on origin, as git's "ahead 2, behind
   * 1" (null without one). `exact` false: the histories differ by more than was counted.
   */
  upstream: { name: string; ahead: number; behind: number; exact: boolean } | null;
  /** A checkout (switch, fast-forward) that did not finish: see move-state.ts. */
  unfinishedMove: {
    target: string | null;
    from: string | null;
    finish: string | null;
    /** The process making the move now, when it is still under way. */
    runningIn: { pid: number; purpose: string } | null;
  } | null;
}

/** The files directly in each of `dirs` (not below them), in path order. */
function filesIn(tree: TreeReader, dirs: Set<string>): FlatEntry[] {
  return [...dirs].flatMap((d) => tree.filesIn(d)).sort((a, b) => compareNames(a.path, b.path));
}

/** The process holding the lock, when what it said it is doing moves the working tree. */
function movingNow(repo: Repository): { pid: number; purpose: string } | null {
  const holder = repo.lockHolder();
  return holder && /^(shoal (checkout|switch|merge|pull)\b|taking a push)/.test(holder.purpose)
    ? holder
    : null;
}

export async function status(repo: Repository): Promise<StatusResult> {
  // Staged changes with their sides, for renames to be paired: only what changed is held.
  const stagedChanges: RenameChange<SidedEntryChange>[] = [];
  const unstaged: PathChange[] = [];
  const untracked: string[] = [];
  const notUtf8: string[] = [];
  const unreadable: string[] = [];
  const refreshed: StagedEntry[] = [];
  // One read transaction: HEAD and the staging index as they were when status began, however
  // long the comparison takes and whatever another command commits meanwhile.
  repo.db.exec('BEGIN');
  let headId: Uint8Array | null;
  let head: ReturnType<Repository['refs']['head']>;
  let headTree: Uint8Array | undefined;
  let generation: string;
  let nothingStaged: boolean;
  let move: ReturnType<typeof readMoveState>;
  let movingIn: ReturnType<typeof movingNow> = null;
  try {
    // A move's state with the snapshot HEAD and the index are read in: read after the long
    // comparison, a move that ended meanwhile left its half-moved files shown as local changes.
    move = readMoveState(repo);
    if (move) movingIn = movingNow(repo);
    headId = repo.refs.headCommit() ?? null;
    if (!headId) repo.refs.assertUnbornIsReal(); // about to say "no commits yet"
    head = repo.refs.head();
    headTree = headId ? commitTree(repo.objects, headId) : undefined;
    generation = repo.staging.generation();
    const known = headTree ? repo.staging.matchingTree() : undefined;
    nothingStaged = headTree !== undefined && known !== undefined && idEquals(known, headTree);

    // HEAD, the staging index and the working tree are each read in path order and merged in
    // step, so status holds no per-file state for an unchanged tree. The staging index is read
    // once: each entry is compared with HEAD as it passes on to the working-tree comparison,
    // unless the index is known to equal HEAD's tree (then HEAD is not read at all). When the
    // last commit's tree is HEAD's, only the directories changed since (see commit) can hold
    // staged changes: HEAD's files are read in those alone.
    const base = headTree && !nothingStaged ? repo.staging.committedBase() : undefined;
    const changedDirs = base && headTree && idEquals(base.tree, headTree) ? new Set(base.dirty) : undefined;
    const headFiles =
      !headTree || nothingStaged
        ? []
        : changedDirs
          ? filesIn(new TreeReader(repo.objects, headTree), changedDirs)
          : flatten(repo.objects, headTree);
    const stagedEntries = nothingStaged
      ? repo.staging.entries()
      : (function* () {
          for (const [h, e] of alongside(headFiles, repo.staging.entries())) {
            // Outside the changed directories the index still has HEAD's files.
            if (changedDirs && e && !changedDirs.has(parentDir(e.path))) {
              yield e;
              continue;
            }
            if (!e) stagedChanges.push({ path: h!.path, change: 'deleted', old: h! });
            else if (!h) stagedChanges.push({ path: e.path, change: 'added', new: e });
            else if (!idEquals(h.id, e.id) || h.executable !== e.executable || h.kind !== e.kind) {
              stagedChanges.push({ path: e.path, change: 'modified', old: h, new: e });
            }
            if (e) yield e;
          }
        })();

    // Directories holding a tracked path are entered; wholly untracked ones are listed as `dir/`.
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const work = walk(repo.root, '', new IgnoreRules(repo.root), {
      enter: (dir) => repo.staging.hasUnder(dir),
      tracked: repo.staging,
      badName: (shown) => notUtf8.push(shown),
      unreadable: (dir) => unreadable.push(dir),
    });
    // An untracked directory has nothing staged below it, so its place in the order is immaterial.
    const files = (function* () {
      for (const e of work) {
        if ('skipped' in e) untracked.push(`${e.dir}/`);
        else yield e;
      }
    })();
    for (const [e, s] of alongside(files, stagedEntries)) {
      if (!s) {
        untracked.push(e!.path);
        continue;
      }
      if (!e) {
        unstaged.push({ path: s.path, change: 'deleted' });
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
  } finally {
    repo.db.exec('COMMIT');
  }
  unstaged.sort((a, b) => (a.path < b.path ? -1 : 1));

  if (refreshed.length > 0) {
    // Best effort, as git does: skip the refresh when another command holds the lock, or when
    // the disk is too full for it (status still reports).
    try {
      // Only entries that nobody re-staged meanwhile get the fresh stamp.
      await repo.withWriteLock(
        () =>
          repo.staging.apply(
            refreshed.filter((r) => {
              const current = repo.staging.get(r.path);
              return (
                current !== undefined &&
                idEquals(current.id, r.id) &&
                current.kind === r.kind &&
                current.executable === r.executable
              );
            }),
          ),
        undefined,
        { wait: false },
      );
    } catch (err) {
      if (!isShoalError(err, 'LOCKED') && !isShoalError(err, 'DISK_FULL')) throw err;
    }
  }
  // With no staged changes the index equals HEAD's tree; recorded, the next status need not read
  // HEAD. The record voids itself if the index changed since `generation` was read, so it is
  // written without the writer lock, and a command started meanwhile never finds it taken.
  if (headTree !== undefined && !nothingStaged && stagedChanges.length === 0) {
    try {
      repo.staging.recordMatchingTree(headTree, generation);
    } catch {} // the index is busy or read-only: the next status compares again
  }
  const staged = findRenames(stagedChanges).map(
    (c): PathChange =>
      c.renamed
        ? { path: c.path, change: 'renamed', oldPath: c.oldPath! }
        : { path: c.path, change: c.change },
  );
  const merge = readMergeState(repo);
  const tracking = head.kind === 'branch' ? `origin/${head.name}` : null;
  const theirs = tracking ? repo.refs.get(`refs/remotes/${tracking}`) : undefined;
  const upstream =
    tracking && theirs && headId && repo.objects.has(theirs)
      ? { name: tracking, ...aheadBehind(repo.objects, headId, theirs) }
      : null;
  return {
    branch: head.kind === 'branch' ? head.name : null,
    head: headId,
    staged,
    unstaged,
    untracked,
    notUtf8,
    unreadable,
    upstream,
    merging: merge?.name ?? null,
    conflicts: merge ? await conflictStatus(repo, merge) : [],
    // A move some other process is making right now has not stopped: it is running.
    unfinishedMove: move
      ? {
          target: move.target || null,
          from: move.from,
          finish: move.finish ?? null,
          runningIn: movingIn,
        }
      : null,
  };
}
