// `checkout`: make the working tree and staging index match a commit. Paths that the move
// does not touch keep their local changes, as in git; a path it would overwrite while it has
// uncommitted changes stops the whole checkout before anything is written.

import { type BigIntStats, lstatSync, mkdirSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setImmediate as yieldToOthers } from 'node:timers/promises';
import { compareNames, idEquals, isShoalError, type ObjectId, ShoalError, toHex } from '../core/index.ts';
import { outsideRead, type Repository, readTransaction, type StagedEntry } from '../store/index.ts';
import { RACY_WINDOW_NS, stageSymlink, stampMatches, stampOf } from './add.ts';
import {
  ChangedMeanwhile,
  mapWriteError,
  type StartedContent,
  writeContent,
  writeSymlink,
} from './content.ts';
import { ingestFile } from './ingest.ts';
import { isAncestorOfAny } from './merge-base.ts';
import { assertNoMerge } from './merge-state.ts';
import { assertNoInterruptedMove, beginMove, endMove } from './move-state.ts';
import type { OnProgress } from './progress.ts';
import { commitTree, diffTrees, type FlatEntry, flatten, sameEntry, TreeReader } from './trees.ts';
import {
  alongside,
  blockingAncestor,
  isExecutable,
  lstatOrNull,
  removeEmptyParents,
  type WorkEntry,
} from './worktree.ts';

export interface CheckoutOptions {
  onProgress?: OnProgress;
  force?: boolean;
  /** What HEAD becomes afterwards; default: detached at the commit. */
  attach?: string;
  /**
   * The working tree holds no commit: HEAD was unborn, and a switch has just created the branch
   * it names at another commit, which HEAD therefore resolves to already.
   */
  fromUnborn?: boolean;
}

export interface MoveResult {
  written: string[];
  removed: string[];
  /**
   * Paths changed in the working tree while the move was writing others (after its check): left
   * as the user has them, so they now differ from the target. Empty with --force.
   */
  kept: string[];
}

export interface CheckoutResult {
  commit: ObjectId;
  written: string[];
  removed: string[];
  kept: string[];
  /** The detached commit HEAD left, when no ref holds it (found again in `reflog HEAD`). */
  leftBehind: ObjectId | null;
}

/**
 * A path of the working tree, to compare with index entries: stat once, and its content read and
 * hashed at most once however many entries it is compared with.
 */
class WorkingFile {
  readonly stat: BigIntStats | null;
  private readonly repo: Repository;
  private readonly entry: WorkEntry | null; // a file or symlink there
  private id: Promise<ObjectId | null> | undefined;

  constructor(repo: Repository, path: string) {
    this.repo = repo;
    const abs = join(repo.root, path);
    this.stat = lstatOrNull(abs);
    const kind = this.stat?.isSymbolicLink() ? 'symlink' : this.stat?.isFile() ? 'file' : null;
    this.entry = this.stat && kind ? { path, abs, stat: this.stat, kind } : null;
  }

  /** Whether the stamp of `e` vouches for the file, without reading it. */
  stampHolds(e: StagedEntry | undefined): boolean {
    return e !== undefined && this.entry !== null && stampMatches(e, this.entry);
  }

  /** Whether the file differs from `e` (or exists while `e` is undefined). */
  async differs(e: StagedEntry | undefined): Promise<boolean> {
    if (!this.stat) return e !== undefined;
    if (!e || !this.entry) return true;
    if (this.stampHolds(e)) return false;
    const w = this.entry;
    if (w.kind !== e.kind || isExecutable(w.stat) !== e.executable || w.stat.size !== BigInt(e.size))
      return true;
    this.id ??= this.contentId(w);
    const id = await this.id;
    return id === null || !idEquals(id, e.id);
  }

  private async contentId(w: WorkEntry): Promise<ObjectId | null> {
    try {
      return w.kind === 'symlink'
        ? (await stageSymlink(w, null)).id
        : (await ingestFile(w.abs, { chunker: this.repo.chunker, session: null })).id;
    } catch (err) {
      if (isShoalError(err)) return null; // gone or changing as it is read: it differs
      throw err;
    }
  }
}

/** Whether the stat stamp of staged entry `staged` vouches for the working file at `path`. */
export function stampHolds(repo: Repository, path: string, staged: StagedEntry | undefined): boolean {
  return new WorkingFile(repo, path).stampHolds(staged);
}

/** Whether the working file at `path` differs from what is staged (or exists while nothing is). */
export async function workingFileDiffers(
  repo: Repository,
  path: string,
  staged: StagedEntry | undefined,
): Promise<boolean> {
  return new WorkingFile(repo, path).differs(staged);
}

/** Whether the directory at `path` holds a file or symlink that is not in `removing`. */
export function holdsOtherFiles(root: string, path: string, removing: Set<string>): boolean {
  for (const name of readdirSync(join(root, path))) {
    const child = `${path}/${name}`;
    const isDir = lstatOrNull(join(root, child))?.isDirectory() ?? false;
    if (isDir ? holdsOtherFiles(root, child, removing) : !removing.has(child)) return true;
  }
  return false;
}

/**
 * A commit with some of its paths changed: what a merge makes of HEAD. Each changed path maps to
 * the commit's file there (`before`) and the new one (`after`; undefined where it goes).
 */
export interface ChangedCommit {
  commit: ObjectId;
  changes: Map<string, { before: FlatEntry | undefined; after: FlatEntry | undefined }>;
}

/** A commit, a commit with changes (a merge), or nothing (an unborn branch). */
export type WorktreeState = ObjectId | ChangedCommit | undefined;

type SortedChanges = { path: string; before?: FlatEntry; after?: FlatEntry }[];

/** A ChangedCommit's changes in path order. */
function sortedChanges(state: ChangedCommit): SortedChanges {
  return [...state.changes]
    .map(([path, c]) => ({ path, before: c.before, after: c.after }))
    .sort((a, b) => compareNames(a.path, b.path));
}

/** The files of a state in path order (the staging index's order). */
function* filesOf(repo: Repository, state: WorktreeState): Generator<FlatEntry> {
  if (state === undefined) return;
  if (state instanceof Uint8Array) {
    yield* flatten(repo.objects, commitTree(repo.objects, state));
    return;
  }
  const files = flatten(repo.objects, commitTree(repo.objects, state.commit));
  for (const [f, c] of alongside(files, sortedChanges(state))) {
    if (!c) yield f!;
    else if (c.after) yield c.after;
  }
}

/** One path of a move, with what the state moved from, the target and the index have there. */
interface MovePath {
  path: string;
  head: FlatEntry | undefined;
  target: FlatEntry | undefined;
  staged: StagedEntry | undefined;
}

/**
 * Every path of `from`, `target` and the staging index, once each, in path order. Only the
 * entries at the current path are held, so a move of any number of files keeps flat memory.
 * The index is read in pages, so the caller may write index entries up to the current path.
 */
function* movePaths(
  repo: Repository,
  from: ObjectId | undefined,
  target: WorktreeState,
): Generator<MovePath> {
  // Restoring the commit HEAD is at (checkout --force HEAD): its tree is read once, not twice.
  const same = from instanceof Uint8Array && target instanceof Uint8Array && idEquals(from, target);
  const pairs = same
    ? (function* () {
        for (const e of filesOf(repo, from)) yield { path: e.path, head: e, target: e };
      })()
    : (function* () {
        for (const [h, t] of alongside(filesOf(repo, from), filesOf(repo, target)))
          yield { path: (h ?? t)!.path, head: h, target: t };
      })();
  for (const [p, s] of alongside(pairs, repo.staging.entries())) {
    yield { path: (p ?? s)!.path, head: p?.head, target: p?.target, staged: s };
  }
}

/**
 * The paths a move between two commits without --force can change: those that differ between
 * the commits (the others keep whatever local changes they have). Subtrees the two commits share
 * are never read, and the index is asked about these paths only, so switching between branches
 * that differ in a few files costs little however many files they hold.
 */
function* changedPaths(
  repo: Repository,
  fromTree: ObjectId | undefined,
  targetTree: ObjectId | undefined,
): Generator<MovePath> {
  for (const c of diffTrees(repo.objects, fromTree, targetTree)) {
    yield { path: c.path, head: c.old, target: c.new, staged: repo.staging.get(c.path) };
  }
}

/** The paths a ChangedCommit changes (sortedChanges), moving from its commit: the others stay. */
function* listedPaths(repo: Repository, changes: SortedChanges): Generator<MovePath> {
  for (const c of changes) {
    if (sameEntry(c.before, c.after)) continue;
    yield { path: c.path, head: c.before, target: c.after, staged: repo.staging.get(c.path) };
  }
}

/**
 * What stands in the way of moving `m` without --force: the path itself (local changes the move
 * would overwrite), an ancestor (a file where the target needs a directory), or nothing.
 */
async function riskAt(
  repo: Repository,
  fromFiles: TreeReader | undefined,
  m: MovePath,
  clearDirs: Set<string>,
  holdsTarget?: Map<string, FoundStat>,
): Promise<string | undefined> {
  const { path: p, head: h, target: t, staged: s } = m;
  // A file or symlink where the target needs a directory, unless this move deletes it (the
  // target has no file there, so it does when `from` has one). `clearDirs` holds the parents
  // already found to have none, as nothing changes on disk during the check.
  let blocker: string | undefined;
  if (t && !clearDirs.has(dirname(p))) {
    blocker = blockingAncestor(repo.root, p);
    if (blocker === undefined) clearDirs.add(dirname(p));
  }
  if (blocker !== undefined && fromFiles?.file(blocker) === undefined) return blocker;
  if (!sameEntry(s, h) && !sameEntry(s, t)) return p;
  // Beyond a file or symlink of `from` (which the move deletes, and checks at its own path) the
  // path is not in the working tree: what a symlink there points at is no local change.
  if (blocker !== undefined) return undefined;
  const work = new WorkingFile(repo, p);
  if (!s && t && work.stat?.isDirectory()) {
    // A directory where the target has a file: replaceable when all it holds is tracked files
    // this move deletes (those below `p` in `from`; each is checked on its own, later on).
    const removing = new Set([...(fromFiles?.filesUnder(p) ?? [])].map((f) => f.path));
    return holdsOtherFiles(repo.root, p, removing) ? p : undefined;
  }
  // Nothing at the path: nothing of the user's to lose (as in git). This is also how a move
  // that was interrupted finds the files it had already removed.
  if (!work.stat) return undefined;
  // A directory where the target has no file: the file the move would delete is gone already,
  // and the directory stays (the files below it are paths of their own). So it is when the user
  // made one there, and when an interrupted move made it for the target's files.
  if (!t && work.stat.isDirectory()) return undefined;
  // A modified or untracked working file, unless it already holds exactly the target's content
  // (a move interrupted after writing it did that): `holdsTarget` then keeps what was found.
  const changed = await work.differs(s);
  const holds =
    t !== undefined && (sameEntry(s, t) ? !changed : changed && !(await work.differs({ ...t, stamp: null })));
  if (holds) holdsTarget?.set(p, foundStat(work.stat));
  if (changed && !holds) return p;
  return undefined;
}

/** At most this many paths are named in a DIRTY_WORKTREE error. */
export const DIRTY_NAMED = 50;

/** How long a working-tree move runs before it lets other work in. */
const BREATHE_MS = 20;

/**
 * Bring the working tree from commit `from` to the state `target` (either may be undefined).
 * With `checkOnly` it stops after the check for paths at risk (DIRTY_WORKTREE) and writes nothing.
 *
 * Paths are visited in path order, streamed from the trees and the index, so memory does not
 * grow with the number of files (only the lists of paths written and removed do). Without
 * --force a first pass checks every changing path and a second one moves them. The index is
 * updated in batches as files are written: a move that is interrupted leaves an index that
 * names what is on disk, and running it again completes it.
 */
export async function moveWorktree(
  repo: Repository,
  from: ObjectId | undefined,
  target: WorktreeState,
  opts: {
    force?: boolean;
    onProgress?: OnProgress;
    checkOnly?: boolean;
    /** The command that finishes this move if it stops halfway (see move-state.ts). */
    finish?: string;
  },
): Promise<MoveResult> {
  const fromTree = from && commitTree(repo.objects, from);
  const fromFiles = fromTree && new TreeReader(repo.objects, fromTree);
  // Small files are written without waiting on anything, so a move of many of them would hold
  // the event loop for seconds: a serving peer moving its tree after a push could then neither
  // serve nor show the pusher it is at work. It lets other work in every few milliseconds.
  let ranSince = performance.now();
  const breathe = async (): Promise<void> => {
    if (performance.now() - ranSince < BREATHE_MS) return;
    await yieldToOthers();
    ranSince = performance.now();
  };
  // Without --force only the paths where the two states differ matter, and only the check
  // needs their index entries (the move itself writes them and leaves the rest alone).
  let listed: SortedChanges | undefined;
  // Without --force each path comes with its index entry: both passes check it.
  const paths = (): Iterable<MovePath> => {
    if (opts.force) return movePaths(repo, from, target);
    if (target === undefined || target instanceof Uint8Array) {
      const targetTree = target && commitTree(repo.objects, target);
      return changedPaths(repo, fromTree, targetTree);
    }
    if (from !== undefined && idEquals(from, target.commit)) {
      listed ??= sortedChanges(target); // sorted once for both passes
      return listedPaths(repo, listed);
    }
    return movePaths(repo, from, target);
  };
  // Whether the index will equal the target's tree once the move is done: after --force it
  // always does; otherwise when it equalled `from`'s tree before (the last commit made it, and
  // nothing changed since). The next status and commit can then start from that tree.
  const before = opts.force ? undefined : repo.staging.committedBase();
  const willMatch =
    target instanceof Uint8Array &&
    (opts.force ||
      (before !== undefined &&
        before.dirty.length === 0 &&
        fromTree !== undefined &&
        idEquals(before.tree, fromTree)));
  let bytesTotal: number | undefined;
  // Paths the check found already holding the target's file, with their stat then: a move run
  // again after an interruption does not read and write each of them once more.
  const holdsTarget = new Map<string, FoundStat>();
  if (!opts.force) {
    const atRisk = new Set<string>();
    const clearDirs = new Set<string>();
    let total = 0;
    await readTransaction(repo.db, async () => {
      for (const m of paths()) {
        await breathe();
        if (sameEntry(m.head, m.target)) continue;
        total += m.target?.size ?? 0;
        const risk = await riskAt(repo, fromFiles, m, clearDirs, holdsTarget);
        if (risk !== undefined) atRisk.add(risk);
      }
    });
    bytesTotal = total;
    if (atRisk.size > 0) {
      const paths = [...atRisk];
      const more = paths.length > DIRTY_NAMED ? `\n  and ${paths.length - DIRTY_NAMED} more` : '';
      throw new ShoalError(
        'DIRTY_WORKTREE',
        `your local changes to these paths would be overwritten:\n  ${paths.slice(0, DIRTY_NAMED).join('\n  ')}${more}\ncommit or restore them first (an untracked file: move it away)`,
        { paths },
      );
    }
  } else if (opts.onProgress && !opts.checkOnly) {
    // Totals for the progress display: every path --force may write, before it reads any file.
    bytesTotal = 0;
    for (const m of movePaths(repo, from, target)) {
      if (
        m.target &&
        (!sameEntry(m.head, m.target) ||
          !sameEntry(m.staged, m.target) ||
          !new WorkingFile(repo, m.path).stampHolds(m.staged))
      )
        bytesTotal += m.target.size;
    }
  }
  if (opts.checkOnly) return { written: [], removed: [], kept: [] };
  // From here on the working tree and the index change: until the caller moves HEAD, status
  // and commit must know the move did not finish (move-state.ts). A merge keeps its own state.
  if (target instanceof Uint8Array) beginMove(repo, from, target, opts.finish);

  const written: string[] = [];
  const removed: string[] = [];
  let bytesDone = 0;
  const onBytes = (n: number): void => {
    bytesDone += n;
    opts.onProgress?.({ phase: 'checkout', bytesDone, bytesTotal });
  };
  const index = new IndexUpdates(repo);
  const readyDirs = new Set<string>();
  let emptied: string | null = null; // the last path removed, whose parents may be left empty
  // Each path is checked again just before it is replaced or removed: writing the files before
  // it can take minutes, and an edit saved meanwhile was overwritten without a word. Such a path
  // is left as the user has it, and the move goes on: the index records the target's entry
  // there, so `status` shows the file as changed against the new commit. (Most paths cost one
  // stat: only a file whose stamp no longer holds is read.)
  const recheckDirs = new Set<string>();
  const kept = new Set<string>();
  // A path kept where the move meant to delete it (or below it) still stands on disk: writing a
  // target file there, or one below it, would remove it after all.
  const keptBlocks = (p: string): boolean => {
    for (const k of kept) if (k === p || p.startsWith(`${k}/`) || k.startsWith(`${p}/`)) return true;
    return false;
  };
  const changedMeanwhile = async (m: MovePath): Promise<boolean> => {
    if (opts.force) return false;
    if (m.target && keptBlocks(m.path)) return true;
    const risk = await riskAt(repo, fromFiles, m, recheckDirs);
    if (risk === undefined) return false;
    kept.add(risk);
    return true;
  };
  try {
    // Reads (index entries, trees, chunks) share read transactions, which the index writes end
    // and restart: with writes in between, each query on its own cost several times more.
    await readTransaction(repo.db, async () => {
      // Removals first, then writes, each in path order. A file that replaces a directory then
      // finds it emptied, and on a case-insensitive file system a file renamed by case only
      // ('readme' -> 'README') is not removed under its old name after the new one was written.
      for (const m of paths()) {
        if (m.target || (m.head === undefined && !(opts.force && m.staged))) continue;
        await breathe();
        const p = m.path;
        if (await changedMeanwhile(m)) {
          await index.remove(p); // the target has no file there: the user's stays, untracked
          continue;
        }
        // Beyond a file or symlink the path is not in the working tree: nothing to delete there.
        // A directory in the file's place is not the file: it stays, as riskAt has it.
        if (blockingAncestor(repo.root, p) === undefined) removeUnlessDirectory(join(repo.root, p));
        // Directories left empty go once the walk leaves them (a directory's paths are
        // contiguous in path order), not after each file: that listed them again every time.
        if (emptied !== null && dirname(emptied) !== dirname(p)) removeEmptyParents(repo.root, emptied);
        emptied = p;
        await index.remove(p);
        removed.push(p);
      }
      if (emptied !== null) removeEmptyParents(repo.root, emptied);
      for (const m of paths()) {
        const { path: p, target: t, staged: s } = m;
        if (!t) continue;
        await breathe();
        if (sameEntry(m.head, t)) {
          if (!opts.force) continue;
          // --force also restores deleted or locally modified files.
          if (sameEntry(s, t)) {
            const work = new WorkingFile(repo, p);
            if (work.stampHolds(s)) continue;
            if (!(await work.differs(s))) {
              onBytes(t.size); // read, and found as it should be
              continue;
            }
          }
        }
        const held = holdsTarget.get(p);
        if (held && unchangedSince(join(repo.root, p), held)) {
          onBytes(t.size);
          await index.put(
            { ...t, stamp: null },
            { mtimeNs: held.mtimeNs, size: held.size, ino: held.ino, ctimeNs: held.ctimeNs },
          );
          continue;
        }
        // What is at the path now, before it is checked: writing a large file takes seconds, and
        // the path must still be so when the new file replaces it.
        const found = opts.force ? undefined : lstatOrNull(join(repo.root, p));
        if (await changedMeanwhile(m)) {
          await index.put({ ...t, stamp: null }, null);
          continue;
        }
        // A directory in the way (emptied above if the move removed what it held) goes with it.
        let stat: WrittenStat | null;
        try {
          stat = await writeWorkingFile(repo, t, readyDirs, onBytes, found);
        } catch (err) {
          if (!(err instanceof ChangedMeanwhile)) throw err;
          kept.add(p);
          await index.put({ ...t, stamp: null }, null);
          continue;
        }
        await index.put({ ...t, stamp: null }, stat);
        written.push(p);
      }
    });
    await index.finish();
  } catch (err) {
    index.abandon();
    throw err;
  }
  if (willMatch) {
    const tree = commitTree(repo.objects, target as ObjectId);
    try {
      repo.staging.recordCommittedBase(tree);
      repo.staging.recordMatchingTree(tree, repo.staging.generation());
    } catch {} // hints: without them the next status and commit read more
  }
  return { written, removed, kept: [...kept] };
}

/**
 * Write one file or symlink of a commit at its path. Its parent directory is checked first (a
 * file or symlink in the way is removed, so nothing is ever written through a symlink) and made;
 * a directory at the path itself is removed. `readyDirs` remembers the parents already made, so
 * the next files in them need no checks: callers write only after every deletion. Returns the
 * file's stat as written (before its rename), a symlink's as found: stampWritten compares them.
 */
export async function writeWorkingFile(
  repo: Repository,
  t: FlatEntry,
  readyDirs: Set<string>,
  onBytes?: (n: number) => void,
  found?: BigIntStats | null,
  started?: StartedContent,
): Promise<WrittenStat | null> {
  const abs = join(repo.root, t.path);
  let stat: BigIntStats | null;
  try {
    const parent = dirname(abs);
    if (!readyDirs.has(parent)) {
      const blocker = blockingAncestor(repo.root, t.path); // only left with --force
      if (blocker !== undefined) rmSync(join(repo.root, blocker), { force: true });
      mkdirSync(parent, { recursive: true });
      readyDirs.add(parent);
    }
    const there = lstatSync(abs, { throwIfNoEntry: false }) ?? null; // numbers, not BigInts: only the kind matters
    if (there?.isDirectory()) rmSync(abs, { recursive: true, force: true });
    if (t.kind === 'symlink') {
      writeSymlink(repo.objects, t.id, abs);
      stat = lstatOrNull(abs);
    } else {
      stat = await writeContent(repo.objects, t, abs, t.executable, {
        onBytes,
        replaces: there !== null && !there.isDirectory(),
        started,
        stillAsFound: found === undefined || found?.isDirectory() ? undefined : () => mayReplace(abs, found),
      });
    }
  } catch (err) {
    mapWriteError(err, abs); // making a directory or a symlink can fill a disk too
  }
  if (!stat) return null;
  // Its ctime as it stands at the path, once renamed into place (the rename changes it): an
  // edit that keeps size and modification time (cp -p) changes it again, and stampWritten then
  // leaves the file unstamped. Gone or changed already: no stamp at all.
  const placed = t.kind === 'symlink' ? stat : lstatOrNull(abs);
  if (!placed || !sameStat(placed, stat)) return null;
  // Four fields, not the whole stat (some twenty BigInts): callers keep one per file.
  return { mtimeNs: stat.mtimeNs, size: stat.size, ino: stat.ino, ctimeNs: placed.ctimeNs };
}

/**
 * Delete the file or symlink at `abs`, if any; a directory there stays. Tried as an unlink, which
 * a directory refuses: one system call per file removed, as rmSync's lstat and unlink were two.
 */
function removeUnlessDirectory(abs: string): void {
  try {
    unlinkSync(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // EISDIR on Linux; EPERM where unlink of a directory is refused so (macOS), if it is one
    if (code === 'ENOENT' || code === 'EISDIR') return;
    if (code === 'EPERM' && lstatSync(abs, { throwIfNoEntry: false })?.isDirectory()) return;
    throw err;
  }
}

/** Below this many bytes of just-written files, the next status may as well read them again. */
const RACY_WAIT_BYTES = 64 * 1024 * 1024;

/** What stampWritten compares: the stat of a file just written, its ctime read once in place. */
export type WrittenStat = Pick<BigIntStats, 'mtimeNs' | 'size' | 'ino' | 'ctimeNs'>;

function sameStat(a: Omit<WrittenStat, 'ctimeNs'>, b: Omit<WrittenStat, 'ctimeNs'>): boolean {
  return a.mtimeNs === b.mtimeNs && a.size === b.size && a.ino === b.ino;
}

/** What unchangedSince compares: kept for many paths, so not the whole stat. */
type FoundStat = WrittenStat & Pick<BigIntStats, 'ctimeNs' | 'mode'>;

function foundStat(st: BigIntStats): FoundStat {
  return { mtimeNs: st.mtimeNs, size: st.size, ino: st.ino, ctimeNs: st.ctimeNs, mode: st.mode };
}

/**
 * Whether a file written for a path checked when it was as `found` saw it may now replace what
 * is there: nothing is (deleted meanwhile: nothing of the user's to lose, as riskAt has it), or
 * the same file with the same content and mode as far as its stat tells. ctime is left out: a
 * metadata change (an access time set, a hard link, an extended attribute a sync client adds)
 * is no edit, and keeping the old content for it would lose the target's.
 */
function mayReplace(abs: string, found: FoundStat | null): boolean {
  const now = lstatOrNull(abs);
  if (!now) return true;
  return found !== null && sameStat(now, found) && now.mode === found.mode;
}

/**
 * Whether the path is as `found` saw it (null: nothing there). ctime counts here: any write or
 * rename by someone else sets it, and nothing but this process's own rename could have.
 */
function unchangedSince(abs: string, found: FoundStat | null): boolean {
  const now = lstatOrNull(abs);
  if (!now || !found) return now === found;
  return sameStat(now, found) && now.ctimeNs === found.ctimeNs && now.mode === found.mode;
}

/**
 * Record the stat stamps of the files a checkout wrote, once it has written them all, so that
 * only the last ones can fall in the racy window (stampOf) and the next `status` need not read
 * the rest again. A file whose stat changed since it was written (someone else wrote to it
 * meanwhile) gets no stamp, so its content is compared next time. When the racy files add up
 * to a lot of data (the last file of a clone is often most of it), wait out the window, at most
 * 0.1 s, rather than have the next `status` read them all.
 */
export async function stampWritten(
  root: string,
  next: Map<string, StagedEntry>,
  afterWrite: Map<string, WrittenStat>,
): Promise<void> {
  const stampAll = (): { racyBytes: number; newestNs: bigint } => {
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    let racyBytes = 0;
    let newestNs = 0n;
    for (const [p, before] of afterWrite) {
      const e = next.get(p)!;
      if (e.stamp) continue;
      const abs = join(root, p);
      const stat = lstatOrNull(abs);
      // ctime too: an edit since the write that kept size and mtime (cp -p) changed it.
      if (!stat || !sameStat(stat, before) || stat.ctimeNs !== before.ctimeNs) continue;
      const stamp = stampOf({ path: p, abs, stat, kind: e.kind === 'symlink' ? 'symlink' : 'file' }, nowNs);
      if (stamp) next.set(p, { ...e, stamp });
      else {
        racyBytes += e.size;
        for (const t of [stat.mtimeNs, stat.ctimeNs]) if (t > newestNs) newestNs = t;
      }
    }
    return { racyBytes, newestNs };
  };
  const { racyBytes, newestNs } = stampAll();
  if (racyBytes < RACY_WAIT_BYTES) return;
  const waitMs = Number(newestNs + RACY_WINDOW_NS - BigInt(Date.now()) * 1_000_000n) / 1e6 + 1;
  if (waitMs > 0 && waitMs <= 1000) await new Promise((resolve) => setTimeout(resolve, waitMs));
  stampAll();
}

/** Index entries are written, and stamps recorded, for this many paths at a time. */
const INDEX_BATCH = 2000;

interface IndexBatch {
  next: Map<string, StagedEntry>; // written files, by path: the index entry each gets
  afterWrite: Map<string, WrittenStat>; // and its stat as written
  removals: string[];
}

/**
 * The index entries of the files a checkout writes and removes, applied in batches as it goes.
 * A batch's entries are written once the next batch is complete, together with the stamps of
 * its files, so that only the files written last can fall in the racy window (stampOf) and each
 * entry is written once. With `staged`, the index already names the files (a clone's checkout)
 * and only their stamps are recorded. Until a batch is written the index lags the working tree;
 * a move that stops there is completed by running it again.
 */
export class IndexUpdates {
  private readonly repo: Repository;
  private readonly staged: boolean;
  private previous: IndexBatch | null = null;
  private batch: IndexBatch = IndexUpdates.empty();

  constructor(repo: Repository, opts: { staged?: boolean } = {}) {
    this.repo = repo;
    this.staged = opts.staged === true;
  }

  private static empty(): IndexBatch {
    return { next: new Map(), afterWrite: new Map(), removals: [] };
  }

  /** A file written at `e.path`, with its stat as written (null: record no stamp). */
  async put(e: StagedEntry, stat: WrittenStat | null): Promise<void> {
    this.batch.next.set(e.path, e);
    if (stat) this.batch.afterWrite.set(e.path, stat);
    await this.maybeFlush();
  }

  async remove(path: string): Promise<void> {
    this.batch.removals.push(path);
    await this.maybeFlush();
  }

  private async maybeFlush(): Promise<void> {
    if (this.batch.next.size + this.batch.removals.length < INDEX_BATCH) return;
    // Written before it is let go: if writing fails, abandon() still has it.
    if (this.previous) await this.write(this.previous);
    this.previous = this.batch;
    this.batch = IndexUpdates.empty();
  }

  /**
   * Stamp a batch's files that are still as written, then write its entries and removals. A read
   * transaction the caller holds (see moveWorktree) ends for the write and starts again after.
   */
  private async write(b: IndexBatch): Promise<void> {
    await stampWritten(this.repo.root, b.next, b.afterWrite);
    outsideRead(this.repo.db, () => {
      if (!this.staged) this.repo.staging.apply([...b.next.values()], b.removals);
      else {
        try {
          this.repo.staging.apply([...b.next.values()].filter((e) => e.stamp));
        } catch {} // stamps are hints: without them the next status reads these files again
      }
    });
  }

  /** Write what is left: the last two batches together. */
  async finish(): Promise<void> {
    // stampWritten waits out the racy window when the files written last add up to a lot of
    // data (the last file of a clone is often most of it): it sees the last two batches at once.
    const last = IndexUpdates.empty();
    for (const b of [this.previous, this.batch]) {
      if (!b) continue;
      for (const [p, e] of b.next) last.next.set(p, e);
      for (const [p, st] of b.afterWrite) last.afterWrite.set(p, st);
      last.removals.push(...b.removals);
    }
    await this.write(last); // on failure both batches are still there for abandon()
    this.previous = null;
    this.batch = IndexUpdates.empty();
  }

  /** After a failure: record what was written so far, if that still works (no stamps). */
  abandon(): void {
    if (this.staged) return;
    for (const b of [this.previous, this.batch]) {
      if (!b) continue;
      try {
        this.repo.staging.apply([...b.next.values()], b.removals);
      } catch {} // the failure being reported matters more; running the move again repairs this
    }
    this.previous = null;
    this.batch = IndexUpdates.empty();
  }
}

/**
 * Whether a branch, tag or remote-tracking branch holds `commit` (at it, or after it). One walk
 * from every ref at once, each commit visited once: a walk per ref took seconds over a long
 * history with many refs. A history that cannot be read counts as holding it (no warning).
 */
export function heldByRef(repo: Repository, commit: ObjectId): boolean {
  try {
    return isAncestorOfAny(
      repo.objects,
      commit,
      repo.refs.list('refs/').map((r) => r.id),
    );
  } catch {
    return true;
  }
}

export async function checkout(
  repo: Repository,
  commitId: ObjectId,
  opts: CheckoutOptions = {},
): Promise<CheckoutResult> {
  return repo.withWriteLock(async () => {
    assertNoMerge(repo);
    assertNoInterruptedMove(repo, { target: commitId, force: opts.force });
    const from =
      opts.fromUnborn === true
        ? undefined
        : opts.force
          ? repo.refs.headCommitIfReadable()
          : repo.refs.headCommit();
    let wasDetached = false;
    try {
      wasDetached = repo.refs.head().kind === 'detached';
    } catch {} // damaged: --force sets it again
    const moved = await moveWorktree(repo, from, commitId, {
      ...opts,
      finish: opts.attach ? `shoal switch ${opts.attach}` : `shoal checkout ${toHex(commitId).slice(0, 12)}`,
    });
    repo.refs.setHead(
      opts.attach ? { kind: 'branch', name: opts.attach } : { kind: 'detached', id: commitId },
      `checkout: to ${opts.attach ?? toHex(commitId).slice(0, 12)}`,
    );
    endMove(repo);
    // A detached HEAD's commits that no ref holds are left behind: said, as git does.
    const leftBehind =
      wasDetached && from && !idEquals(from, commitId) && !heldByRef(repo, from) ? from : null;
    return { commit: commitId, ...moved, leftBehind };
  });
}
