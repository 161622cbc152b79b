// `merge`: bring another line of history into HEAD. A fast-forward when HEAD is an ancestor of
// theirs; otherwise a three-way merge by path against the best common ancestor: a path changed
// on one side takes that side, a path changed identically on both takes it, and a path changed
// differently on both is a conflict. Small text files are merged line by line first; binary
// content never is: ours stays at the path and theirs is written beside it (<path>~<branch>).
//
// Crash safety: the merge state (both sides, the conflicts) is recorded before the working tree
// is touched, so an interrupted merge is always visible and `merge --abort` restores the tree.

import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  compareNames,
  decodeCommit,
  fromHex,
  idEquals,
  isShoalError,
  type KeyPair,
  type ObjectId,
  ShoalError,
  toHex,
} from '../core/index.ts';
import type { PackSession, Repository, StagedEntry } from '../store/index.ts';
import { stampOf } from './add.ts';
import { type ChangedCommit, moveWorktree, workingFileDiffers } from './checkout.ts';
import { commit } from './commit.ts';
import { type ConflictStatus, conflictStatus } from './conflicts.ts';
import { contentChunks, cutName, tempPathFor, writeContent, writeSymlink } from './content.ts';
import { TEXT_LIMIT } from './diff.ts';
import { decodeText } from './line-diff.ts';
import { isAncestor, mergeBase } from './merge-base.ts';
import {
  assertNoMerge,
  clearMergeState,
  type MergeConflict,
  type MergeState,
  readMergeState,
  writeMergeState,
} from './merge-state.ts';
import { assertNoInterruptedMove, endMove } from './move-state.ts';
import type { OnProgress } from './progress.ts';
import { storeBytes } from './store-bytes.ts';
import { mergeText } from './text-merge.ts';
import { commitTree, diffTrees, type FlatEntry, flatten, sameEntry, TreeReader } from './trees.ts';
import { alongside, blockingAncestor, lstatOrNull, removeEmptyParents, workingTreeStat } from './worktree.ts';

export interface MergeOptions {
  /** How the user named the other side (a branch name, a tag, an id): used in messages and side files. */
  name: string;
  message?: string;
  identity: KeyPair;
  authorName: string;
  time?: number;
  onProgress?: OnProgress;
  /** Merge even when the two sides share no commit (as git's --allow-unrelated-histories). */
  allowUnrelated?: boolean;
}

export type MergeOutcome = 'up-to-date' | 'fast-forward' | 'merged' | 'conflicts';

export interface MergeResult {
  outcome: MergeOutcome;
  /** HEAD afterwards (unchanged while conflicts wait). */
  head: ObjectId | null;
  base: ObjectId | null;
  theirs: ObjectId;
  written: string[];
  removed: string[];
  /** Paths the user changed while the merge wrote others: kept as they are (see MoveResult). */
  kept: string[];
  /** Paths both sides changed that were merged line by line without conflict. */
  textMerged: string[];
  conflicts: MergeConflict[];
}

/** The text of a small UTF-8 file, or null when it is binary, large or not a file. */
function smallText(repo: Repository, e: FlatEntry | undefined): string | null {
  if (!e) return '';
  if (e.kind !== 'file' || e.size >= TEXT_LIMIT) return null;
  return decodeText(Buffer.concat([...contentChunks(repo.objects, e)]));
}

function defaultMessage(repo: Repository, name: string): string {
  return repo.refs.get(`refs/heads/${name}`) ? `merge branch '${name}'` : `merge '${name}'`;
}

async function fastForward(
  repo: Repository,
  ours: ObjectId | undefined,
  theirs: ObjectId,
  opts: MergeOptions,
): Promise<MergeResult> {
  const moved = await moveWorktree(repo, ours, theirs, {
    onProgress: opts.onProgress,
    // By id: the name (origin/main after a fetch, a branch moved since) may name another commit
    // by the time the user runs it.
    finish: `shoal merge ${toHex(theirs).slice(0, 12)}`,
  });
  const head = repo.refs.head();
  if (head.kind === 'branch') {
    const ok = repo.refs.update(
      `refs/heads/${head.name}`,
      theirs,
      `merge ${opts.name}: fast-forward`,
      ours ?? null,
    );
    if (!ok) throw new ShoalError('CONFLICT', `branch '${head.name}' moved during the merge; try again`);
  } else repo.refs.setHead({ kind: 'detached', id: theirs }, 'merge: fast-forward (detached HEAD)');
  endMove(repo);
  return {
    outcome: 'fast-forward',
    head: theirs,
    base: ours ?? null,
    theirs,
    ...moved,
    textMerged: [],
    conflicts: [],
  };
}

interface Plan {
  target: ChangedCommit;
  conflicts: MergeConflict[];
  textMerged: string[];
  /** What to write for each conflict: marker text at the path, or their entry at the side path. */
  markerText: Map<string, { text: string; executable: boolean }>;
  sideEntry: Map<string, FlatEntry>;
}

/**
 * Decide every path. Clean line merges are stored through `session`. Only what the two sides
 * changed since the base is held: ours's other files are looked up in its tree when needed.
 */
async function plan(
  repo: Repository,
  base: ObjectId | undefined,
  ours: ObjectId,
  theirs: ObjectId,
  name: string,
  session: () => Promise<PackSession>,
): Promise<Plan> {
  const objects = repo.objects;
  const baseTree = base ? commitTree(objects, base) : undefined;
  const oursTree = commitTree(objects, ours);
  const theirsTree = commitTree(objects, theirs);
  const oursFiles = new TreeReader(objects, oursTree);
  const theirsFiles = new TreeReader(objects, theirsTree);
  // What ours changed since the base (undefined: deleted); elsewhere ours is the base.
  const oursChanged = new Map<string, FlatEntry | undefined>();
  for (const c of diffTrees(objects, baseTree, oursTree)) oursChanged.set(c.path, c.new);
  const changes: ChangedCommit['changes'] = new Map();
  const p: Plan = {
    target: { commit: ours, changes },
    conflicts: [],
    textMerged: [],
    markerText: new Map(),
    sideEntry: new Map(),
  };
  /** The merge result at `path` becomes `after` (ours had `before` there). */
  const set = (path: string, before: FlatEntry | undefined, after: FlatEntry | undefined): void => {
    if (sameEntry(before, after)) changes.delete(path);
    else changes.set(path, { before, after });
  };
  /** The file the merge result has at `path`. */
  const targetFile = (path: string): FlatEntry | undefined => {
    const c = changes.get(path);
    return c ? c.after : oursFiles.file(path);
  };
  const suffix = name.replace(/\//g, '_');
  /** Whether the result, ours or a side file already planned has a file at `path`. */
  const fileInMerge = (path: string): boolean =>
    targetFile(path) !== undefined || oursFiles.file(path) !== undefined || p.sideEntry.has(path);
  // A side file's name must be free everywhere: in the result planned so far, in the working
  // tree, and in both trees (theirs may add a file or directory of that name at a path the
  // plan reaches only later, which the side file would then overwrite, or be blocked by).
  const taken = (path: string): boolean =>
    fileInMerge(path) ||
    oursFiles.entry(path) !== undefined ||
    theirsFiles.entry(path) !== undefined ||
    lstatOrNull(join(repo.root, path)) !== null;
  /** Whether `dir`, an ancestor of a side file, cannot be a directory: the side goes elsewhere. */
  const notADirectory = (dir: string): boolean =>
    fileInMerge(dir) || !(lstatOrNull(join(repo.root, dir))?.isDirectory() ?? true);
  /**
   * Where theirs goes beside `path`: `~<branch>` (and a number if taken) after `collide`, by
   * default the first ancestor that is a file in the result or a file or symlink in the working
   * tree (nothing is ever written below a file, nor through a symlink), else the path itself.
   */
  const sideFor = (path: string, collide?: string): string => {
    for (let i = path.indexOf('/'); i >= 0 && collide === undefined; i = path.indexOf('/', i + 1)) {
      if (notADirectory(path.slice(0, i))) collide = path.slice(0, i);
    }
    collide ??= path;
    const rest = path.slice(collide.length);
    const at = (n: number): string => beside(collide, `~${suffix}${n > 1 ? `~${n}` : ''}`);
    let n = 1;
    while (taken(`${at(n)}${rest}`) || (rest !== '' && (notADirectory(at(n)) || theirsFiles.file(at(n)))))
      n++;
    return `${at(n)}${rest}`;
  };
  const fromTheirs: string[] = [];

  for (const c of diffTrees(objects, baseTree, theirsTree)) {
    const path = c.path;
    const b = c.old;
    const t = c.new;
    if (!oursChanged.has(path)) {
      set(path, b, t); // ours has the base's file here
      fromTheirs.push(path);
      continue;
    }
    const o = oursChanged.get(path);
    if (sameEntry(o, t)) continue;
    if (o && t) {
      const execMerged = b && b.executable === o.executable ? t.executable : o.executable;
      // Content and mode merge separately: one side may have changed only the mode.
      const sameContent = (x: FlatEntry, y: FlatEntry): boolean => x.kind === y.kind && idEquals(x.id, y.id);
      if (sameContent(o, t) || (b && sameContent(b, t))) {
        set(path, o, { ...o, executable: execMerged });
        continue;
      }
      if (b && sameContent(b, o)) {
        set(path, o, { ...t, executable: execMerged });
        fromTheirs.push(path);
        continue;
      }
      const reason = b ? 'both-modified' : 'both-added';
      const bt = b && b.kind === 'file' ? smallText(repo, b) : b ? null : '';
      const ot = bt !== null ? smallText(repo, o) : null;
      const tt = ot !== null ? smallText(repo, t) : null;
      if (bt !== null && ot !== null && tt !== null) {
        const merged = mergeText(bt, ot, tt, { ours: 'HEAD', theirs: name });
        if (merged.conflicts === 0) {
          const bytes = Buffer.from(merged.text, 'utf8');
          const root = await storeBytes(await session(), bytes, repo.chunker);
          set(path, o, { path, kind: 'file', executable: execMerged, ...root });
          p.textMerged.push(path);
        } else {
          p.markerText.set(path, { text: merged.text, executable: execMerged });
          p.conflicts.push({ path, reason, markers: true, side: null });
        }
        continue;
      }
      const side = sideFor(path);
      p.sideEntry.set(side, t);
      p.conflicts.push({ path, reason, markers: false, side });
      // Ours's content stays at the path, with the mode the two sides merge to.
      if (execMerged !== o.executable) set(path, o, { ...o, executable: execMerged });
    } else if (t) {
      const side = sideFor(path);
      p.sideEntry.set(side, t);
      p.conflicts.push({ path, reason: 'deleted-by-us', markers: false, side });
    } else {
      p.conflicts.push({ path, reason: 'deleted-by-them', markers: false, side: null });
    }
  }

  // A file of theirs where ours now has a directory, or below what is a file of ours: keep
  // ours and put theirs beside, renaming the colliding component.
  const added = [...changes].filter(([, c]) => c.after !== undefined).map(([path]) => path);
  added.sort(compareNames);
  const holdsFiles = (dir: string): boolean => {
    // A change that puts a file below `dir` (the first path after 'dir/' in order)...
    const prefix = `${dir}/`;
    let lo = 0;
    let hi = added.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareNames(added[mid]!, prefix) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo < added.length && added[lo]!.startsWith(prefix)) return true;
    // ...or a file of ours there that the merge keeps.
    for (const f of oursFiles.filesUnder(dir)) {
      const c = changes.get(f.path);
      if (!c || c.after) return true;
    }
    return false;
  };
  for (const path of fromTheirs) {
    const t = targetFile(path);
    if (!t) continue;
    let collide: string | null = holdsFiles(path) ? path : null;
    for (let i = path.indexOf('/'); i >= 0 && !collide; i = path.indexOf('/', i + 1)) {
      if (targetFile(path.slice(0, i))) collide = path.slice(0, i);
    }
    if (!collide) continue;
    changes.delete(path); // ours stays at the path
    const side = sideFor(path, collide);
    p.sideEntry.set(side, t);
    p.conflicts.push({ path, reason: 'file-directory', markers: false, side });
  }
  p.conflicts.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
  return p;
}

function writeTextFile(abs: string, text: string, executable: boolean): void {
  const tmp = tempPathFor(abs);
  writeFileSync(tmp, text, { mode: executable ? 0o755 : 0o644 });
  renameSync(tmp, abs);
}

export async function merge(repo: Repository, theirs: ObjectId, opts: MergeOptions): Promise<MergeResult> {
  return repo.withWriteLock(async () => {
    assertNoMerge(repo);
    // A fast-forward to `theirs` that stopped halfway is finished by merging it again.
    assertNoInterruptedMove(repo, { target: theirs });
    const objects = repo.objects;
    const ours = repo.refs.headCommit();
    if (!ours) return fastForward(repo, undefined, theirs, opts);
    if (isAncestor(objects, theirs, ours)) {
      return {
        outcome: 'up-to-date',
        head: ours,
        base: theirs,
        theirs,
        written: [],
        removed: [],
        kept: [],
        textMerged: [],
        conflicts: [],
      };
    }
    if (isAncestor(objects, ours, theirs)) return fastForward(repo, ours, theirs, opts);

    // A three-way merge builds on HEAD's tree: staged changes would be lost or mixed in.
    // HEAD's files and the index side by side, in path order.
    const stagedChanges: string[] = [];
    for (const [o, s] of alongside(flatten(objects, commitTree(objects, ours)), repo.staging.entries())) {
      if (!sameEntry(o, s)) stagedChanges.push((o ?? s)!.path);
    }
    if (stagedChanges.length > 0) {
      throw new ShoalError(
        'DIRTY_WORKTREE',
        `you have staged changes; commit them, or unstage them with 'shoal restore --staged <path>', before merging:\n  ${stagedChanges.join('\n  ')}`,
        { paths: stagedChanges },
      );
    }

    const base = mergeBase(objects, ours, theirs);
    // Two histories that share no commit (two repositories, or two first commits made apart):
    // every path both have would come out as a conflict, which is rarely what was meant.
    if (!base && !opts.allowUnrelated) {
      throw new ShoalError(
        'UNRELATED_HISTORIES',
        `refusing to merge unrelated histories: '${opts.name}' shares no commit with HEAD (--allow-unrelated-histories merges them anyway)`,
      );
    }
    let session: PackSession | null = null;
    const getSession = async (): Promise<PackSession> => {
      session ??= await objects.beginSession();
      return session;
    };
    let p: Plan;
    try {
      p = await plan(repo, base, ours, theirs, opts.name, getSession);
      // Merged text is durable before anything points at it.
      await (session as PackSession | null)?.close();
    } catch (err) {
      await (session as PackSession | null)?.abort();
      throw err;
    }

    // Refuse before touching anything when local changes are in the way.
    const atRisk = new Set<string>();
    try {
      await moveWorktree(repo, ours, p.target, { checkOnly: true });
    } catch (err) {
      if (!isShoalError(err, 'DIRTY_WORKTREE')) throw err;
      for (const path of (err.detail?.paths as string[]) ?? []) atRisk.add(path);
    }
    for (const c of p.conflicts) {
      if (c.markers && (await workingFileDiffers(repo, c.path, repo.staging.get(c.path)))) atRisk.add(c.path);
    }
    if (atRisk.size > 0) {
      const paths = [...atRisk].sort();
      throw new ShoalError(
        'DIRTY_WORKTREE',
        `your local changes to these paths would be overwritten by the merge:\n  ${paths.join('\n  ')}\ncommit or restore them first (an untracked file: move it away)`,
        { paths },
      );
    }

    // An untracked file that already holds what theirs adds at its path passed the check above
    // (there is nothing to overwrite) and becomes the merged file. It is recorded, so that an
    // abort leaves it where it was instead of removing it with the files the merge added.
    const untracked: string[] = [];
    for (const [path, c] of p.target.changes) {
      if (c.before || !c.after || repo.staging.get(path)) continue;
      const st = workingTreeStat(repo.root, path);
      if (st && !st.isDirectory()) untracked.push(path); // a directory of ours is replaced, not kept
    }
    const state: MergeState = {
      theirs: toHex(theirs),
      name: opts.name,
      orig: toHex(ours),
      message: opts.message ?? defaultMessage(repo, opts.name),
      conflicts: p.conflicts,
      phase: 'applying',
      time: Date.now(),
      ...(untracked.length > 0 ? { untracked: untracked.sort() } : {}),
    };
    writeMergeState(repo, state);
    const moved = await moveWorktree(repo, ours, p.target, { onProgress: opts.onProgress });

    // Conflicts: markers at the path, theirs beside it; the index keeps ours (or nothing).
    const puts: StagedEntry[] = [];
    const removals: string[] = [];
    for (const c of p.conflicts) {
      const abs = join(repo.root, c.path);
      if (c.markers) {
        const staged = repo.staging.get(c.path);
        // Checked clean before the move, which may have taken minutes: a file saved since is
        // left as it is (the conflict stays listed), as the move leaves the paths it writes.
        if (await workingFileDiffers(repo, c.path, staged)) {
          moved.kept.push(c.path);
          continue;
        }
        const m = p.markerText.get(c.path)!;
        writeTextFile(abs, m.text, m.executable);
        if (staged) puts.push({ ...staged, stamp: null });
      }
      if (c.reason === 'deleted-by-them') removals.push(c.path);
    }
    for (const [side, t] of p.sideEntry) {
      const abs = join(repo.root, side);
      mkdirSync(dirname(abs), { recursive: true });
      if (t.kind === 'symlink') writeSymlink(objects, t.id, abs);
      else await writeContent(objects, t, abs, t.executable);
    }
    repo.staging.apply(puts, removals);

    if (p.conflicts.length > 0) {
      writeMergeState(repo, { ...state, phase: 'conflicts' });
      return {
        outcome: 'conflicts',
        head: ours,
        base: base ?? null,
        theirs,
        ...moved,
        textMerged: p.textMerged,
        conflicts: p.conflicts,
      };
    }
    const made = await commit(repo, {
      message: state.message,
      authorName: opts.authorName,
      identity: opts.identity,
      time: opts.time,
      extraParents: [theirs],
      allowEmpty: true,
    });
    clearMergeState(repo);
    return {
      outcome: 'merged',
      head: made.id,
      base: base ?? null,
      theirs,
      ...moved,
      textMerged: p.textMerged,
      conflicts: [],
    };
  });
}

/** Whether HEAD is already the merge commit of this state (a crash hit before the state was cleared). */
function alreadyCommitted(repo: Repository, state: MergeState): ObjectId | null {
  const head = repo.refs.headCommit();
  if (!head || !state.orig || toHex(head) === state.orig) return null;
  const parents = decodeCommit(repo.objects.read(head, 'commit')).parents.map(toHex);
  return parents.length === 2 && parents[0] === state.orig && parents[1] === state.theirs ? head : null;
}

function requireState(repo: Repository): MergeState {
  const state = readMergeState(repo);
  if (!state) throw new ShoalError('NO_MERGE_IN_PROGRESS', 'there is no merge in progress');
  return state;
}

export interface ContinueOptions {
  identity: KeyPair;
  authorName: string;
  message?: string;
  time?: number;
}

/** Commit a merge whose conflicts are all resolved. */
export async function continueMerge(repo: Repository, opts: ContinueOptions): Promise<MergeResult> {
  return repo.withWriteLock(async () => {
    const state = requireState(repo);
    const theirs = fromHex(state.theirs);
    const done = alreadyCommitted(repo, state);
    const result = (head: ObjectId): MergeResult => ({
      outcome: 'merged',
      head,
      base: null,
      theirs,
      written: [],
      removed: [],
      kept: [],
      textMerged: [],
      conflicts: state.conflicts,
    });
    if (done) {
      clearMergeState(repo);
      return result(done);
    }
    const head = repo.refs.headCommit();
    if ((head ? toHex(head) : null) !== state.orig) {
      throw new ShoalError('CONFLICT', 'HEAD moved since the merge started; run shoal merge --abort');
    }
    if (state.phase !== 'conflicts') {
      throw new ShoalError(
        'UNRESOLVED_CONFLICTS',
        'the merge was interrupted before it finished writing the working tree; run shoal merge --abort and merge again',
      );
    }
    const unresolved = (await conflictStatus(repo, state)).filter((c) => !c.resolved).map((c) => c.path);
    if (unresolved.length > 0) {
      throw new ShoalError(
        'UNRESOLVED_CONFLICTS',
        `these conflicts are not resolved yet (edit the file, remove the side file, then shoal add it):\n  ${unresolved.join('\n  ')}`,
        { paths: unresolved },
      );
    }
    const made = await commit(repo, {
      message: opts.message ?? state.message,
      authorName: opts.authorName,
      identity: opts.identity,
      time: opts.time,
      extraParents: [theirs],
      allowEmpty: true,
    });
    clearMergeState(repo);
    return result(made.id);
  });
}

export interface AbortResult {
  restored: string[];
  removed: string[];
}

/**
 * Undo a merge in progress: the paths it touched get HEAD's content back (changes made to them
 * since the merge started are discarded), side files are deleted, the state is cleared. If a
 * crash hit after the merge commit was made, the branch is moved back to where it was.
 */
export async function abortMerge(repo: Repository): Promise<AbortResult> {
  return repo.withWriteLock(async () => {
    const state = requireState(repo);
    const objects = repo.objects;
    const theirs = fromHex(state.theirs);
    const orig = state.orig ? fromHex(state.orig) : undefined;
    const committed = alreadyCommitted(repo, state);
    const headNow = repo.refs.headCommit();
    if (committed && orig) {
      const head = repo.refs.head();
      if (head.kind === 'branch')
        repo.refs.update(`refs/heads/${head.name}`, orig, 'merge --abort', committed);
      else repo.refs.setHead({ kind: 'detached', id: orig }, 'merge --abort');
    } else if ((headNow ? toHex(headNow) : null) !== state.orig) {
      throw new ShoalError('CONFLICT', 'HEAD moved since the merge started; cannot abort it safely');
    }
    const base = orig ? mergeBase(objects, orig, theirs) : undefined;
    const origFiles = orig ? new TreeReader(objects, commitTree(objects, orig)) : undefined;
    const origFile = (path: string): FlatEntry | undefined => origFiles?.file(path);
    const touched = new Set<string>(state.conflicts.map((c) => c.path));
    for (const c of diffTrees(
      objects,
      base ? commitTree(objects, base) : undefined,
      commitTree(objects, theirs),
    )) {
      if (!sameEntry(origFile(c.path), c.new)) touched.add(c.path);
    }
    // Nothing is written or removed through what stands where a directory was: a file or a
    // symlink the user put there since the merge began (what a symlink points at is not the
    // repository's) stops the abort before it changes anything; beyond one of ours's own files
    // or symlinks a path is simply not in the working tree.
    const beyond = new Set<string>();
    for (const path of [...touched, ...state.conflicts.flatMap((c) => (c.side ? [c.side] : []))]) {
      const blocker = blockingAncestor(repo.root, path);
      // A path the merge itself changed (theirs's file where ours has a directory) is put back
      // first, paths in sorted order: removed, it blocks nothing.
      if (blocker === undefined || touched.has(blocker)) continue;
      if (origFile(blocker) === undefined) {
        throw new ShoalError(
          'DIRTY_WORKTREE',
          `'${blocker}' is no longer a directory (a file or a symlink took its place during the merge); move it away, then run shoal merge --abort again`,
          { paths: [blocker] },
        );
      }
      beyond.add(path);
    }
    const restored: string[] = [];
    const removed: string[] = [];
    const puts: StagedEntry[] = [];
    const removals: string[] = [];
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const untracked = new Set(state.untracked ?? []);
    for (const path of [...touched].sort()) {
      const o = origFile(path);
      const abs = join(repo.root, path);
      if (!o && untracked.has(path)) {
        removals.push(path); // the user's file, untracked again
        continue;
      }
      if (!o) {
        const st = beyond.has(path) ? null : lstatOrNull(abs);
        if (st && !st.isDirectory()) {
          rmSync(abs, { force: true });
          removeEmptyParents(repo.root, path);
          removed.push(path);
        }
        removals.push(path);
        continue;
      }
      if (await workingFileDiffers(repo, path, { ...o, stamp: null })) {
        const st = lstatOrNull(abs);
        if (st?.isDirectory()) rmSync(abs, { recursive: true, force: true });
        mkdirSync(dirname(abs), { recursive: true });
        if (o.kind === 'symlink') writeSymlink(objects, o.id, abs);
        else
          await writeContent(objects, o, abs, o.executable, { replaces: st !== null && !st.isDirectory() });
        restored.push(path);
      }
      const stat = lstatOrNull(abs)!;
      puts.push({ ...o, stamp: stampOf({ path, abs, stat, kind: o.kind }, nowNs) });
    }
    for (const c of state.conflicts) {
      if (!c.side) continue;
      // Staged meanwhile (an `add .`): unstaged with the rest of the merge. (Its name was free
      // in both trees when the merge chose it.)
      if (repo.staging.has(c.side) && !origFile(c.side)) removals.push(c.side);
      if (beyond.has(c.side)) continue;
      const abs = join(repo.root, c.side);
      const st = lstatOrNull(abs);
      if (st && !st.isDirectory()) {
        rmSync(abs, { force: true });
        removeEmptyParents(repo.root, c.side);
        removed.push(c.side);
      }
    }
    repo.staging.apply(puts, removals);
    clearMergeState(repo);
    return { restored, removed };
  });
}

/** The conflicts of the merge in progress, each with whether it is resolved yet. */
export async function mergeConflicts(repo: Repository): Promise<ConflictStatus[]> {
  const state = readMergeState(repo);
  return state ? conflictStatus(repo, state) : [];
}

/** The most bytes most file systems allow in one name. */
const NAME_MAX = 255;

/**
 * `path` with `tail` appended to its last component, kept within NAME_MAX: a long name gives
 * only its start, then a hash of the whole name, before the tail (and a long tail is hashed
 * too), so a conflict on a file whose name is near the limit still has somewhere to go.
 */
function beside(path: string, tail: string): string {
  const slash = path.lastIndexOf('/');
  const name = path.slice(slash + 1);
  if (Buffer.byteLength(name) + Buffer.byteLength(tail) <= NAME_MAX) return path + tail;
  const shortTail = Buffer.byteLength(tail) <= NAME_MAX / 2 ? tail : cutName(tail, 9, 8); // `~` and 8 hex digits
  return `${path.slice(0, slash + 1)}${cutName(name, NAME_MAX - Buffer.byteLength(shortTail), 8)}${shortTail}`;
}
