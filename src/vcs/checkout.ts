// `checkout`: make the working tree and staging index match a commit. Paths that the move
// does not touch keep their local changes, as in git; a path it would overwrite while it has
// uncommitted changes stops the whole checkout before anything is written.

import { type BigIntStats, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { idEquals, isShoalError, type ObjectId, ShoalError } from '../core/index.ts';
import type { Repository, StagedEntry } from '../store/index.ts';
import { RACY_WINDOW_NS, stageSymlink, stampMatches, stampOf } from './add.ts';
import { mapWriteError, writeContent, writeSymlink } from './content.ts';
import { ingestFile } from './ingest.ts';
import { assertNoMerge } from './merge-state.ts';
import type { OnProgress } from './progress.ts';
import { commitTree, type FlatEntry, flattenToMap } from './trees.ts';
import {
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
}

export interface CheckoutResult {
  commit: ObjectId;
  written: string[];
  removed: string[];
}

function sameEntry(a: FlatEntry | StagedEntry | undefined, b: FlatEntry | StagedEntry | undefined): boolean {
  if (!a || !b) return a === b;
  return a.kind === b.kind && a.executable === b.executable && idEquals(a.id, b.id);
}

/** Whether the working file at `path` differs from what is staged (or exists while nothing is). */
export async function workingFileDiffers(
  repo: Repository,
  path: string,
  staged: StagedEntry | undefined,
): Promise<boolean> {
  const abs = join(repo.root, path);
  const stat = lstatOrNull(abs);
  if (!stat) return staged !== undefined;
  if (!staged) return true;
  const kind = stat.isSymbolicLink() ? 'symlink' : stat.isFile() ? 'file' : null;
  if (!kind) return true;
  const entry: WorkEntry = { path, abs, stat, kind };
  if (stampMatches(staged, entry)) return false;
  if (kind !== staged.kind || isExecutable(stat) !== staged.executable || stat.size !== BigInt(staged.size))
    return true;
  try {
    const id =
      kind === 'symlink'
        ? (await stageSymlink(entry, null)).id
        : (await ingestFile(abs, { chunker: repo.chunker, session: null })).id;
    return !idEquals(id, staged.id);
  } catch (err) {
    if (isShoalError(err)) return true;
    throw err;
  }
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

/** A commit, or the files of a state that is not a commit (a merge in progress). */
export type WorktreeState = ObjectId | Map<string, FlatEntry> | undefined;

function filesOf(repo: Repository, state: WorktreeState): Map<string, FlatEntry> {
  if (state instanceof Map) return state;
  return flattenToMap(repo.objects, state ? commitTree(repo.objects, state) : undefined);
}

/**
 * Bring the working tree from the state of commit `from` to `target` (both may be undefined).
 * With `checkOnly` it stops after the check for paths at risk (DIRTY_WORKTREE) and writes nothing.
 */
export async function moveWorktree(
  repo: Repository,
  from: WorktreeState,
  target: WorktreeState,
  opts: { force?: boolean; onProgress?: OnProgress; checkOnly?: boolean },
): Promise<{ written: string[]; removed: string[] }> {
  const headFiles = filesOf(repo, from);
  // Restoring the commit HEAD is at (checkout --force HEAD, a clone's checkout): one map, not two.
  const same = from instanceof Uint8Array && target instanceof Uint8Array && idEquals(from, target);
  const targetFiles = same ? headFiles : filesOf(repo, target);
  const staged = new Map(repo.staging.all().map((e) => [e.path, e]));
  const paths = new Set([...headFiles.keys(), ...targetFiles.keys(), ...staged.keys()]);

  const changing: string[] = [];
  for (const p of paths) {
    if (!sameEntry(headFiles.get(p), targetFiles.get(p))) changing.push(p);
    else if (
      opts.force &&
      (!sameEntry(staged.get(p), targetFiles.get(p)) || (await workingFileDiffers(repo, p, staged.get(p))))
    ) {
      changing.push(p); // --force also restores deleted or locally modified files
    }
  }
  changing.sort();

  // Paths this move deletes; they go first, so a directory a file replaces is emptied before.
  const removing = new Set(changing.filter((p) => !targetFiles.has(p)));
  if (!opts.force) {
    const atRisk: string[] = [];
    for (const p of changing) {
      const s = staged.get(p);
      const t = targetFiles.get(p);
      // A file or symlink where the target needs a directory, unless this move deletes it.
      const blocker = t ? blockingAncestor(repo.root, p) : undefined;
      if (blocker !== undefined && !removing.has(blocker)) {
        if (!atRisk.includes(blocker)) atRisk.push(blocker);
      } else if (!sameEntry(s, headFiles.get(p)) && !sameEntry(s, t)) atRisk.push(p);
      else if (!s && t && lstatOrNull(join(repo.root, p))?.isDirectory()) {
        // A directory where the target has a file: replaceable when all it holds is tracked
        // files this move deletes (each checked for local changes on its own).
        if (holdsOtherFiles(repo.root, p, removing)) atRisk.push(p);
      } else if (
        // A modified or untracked working file, unless it already holds exactly the target's content.
        (await workingFileDiffers(repo, p, s)) &&
        (!t || (await workingFileDiffers(repo, p, { ...t, stamp: null })))
      ) {
        atRisk.push(p);
      }
    }
    if (atRisk.length > 0) {
      throw new ShoalError(
        'DIRTY_WORKTREE',
        `your local changes to these paths would be overwritten:\n  ${atRisk.join('\n  ')}\ncommit them or restore them first`,
        { paths: atRisk },
      );
    }
  }
  if (opts.checkOnly) return { written: [], removed: [] };

  const written: string[] = [];
  const removed: string[] = [];
  const bytesTotal = changing.reduce((n, p) => n + (targetFiles.get(p)?.size ?? 0), 0);
  let bytesDone = 0;
  const next = new Map(staged);
  const afterWrite = new Map<string, WrittenStat>();
  const readyDirs = new Set<string>();
  for (const p of [...removing, ...changing.filter((q) => !removing.has(q))]) {
    const t = targetFiles.get(p);
    const abs = join(repo.root, p);
    if (!t) {
      // Beyond a file or symlink the path is not in the working tree: nothing to delete there.
      if (blockingAncestor(repo.root, p) === undefined) rmSync(abs, { force: true });
      removeEmptyParents(repo.root, p);
      next.delete(p);
      removed.push(p);
      continue;
    }
    const stat = await writeWorkingFile(repo, t, readyDirs, (n) => {
      bytesDone += n;
      opts.onProgress?.({ phase: 'checkout', bytesDone, bytesTotal });
    });
    next.set(p, { ...t, stamp: null });
    written.push(p);
    if (stat) afterWrite.set(p, stat); // stamped at the end, if the file is still as written
  }
  await stampWritten(repo.root, next, afterWrite);
  repo.staging.replace([...next.values()]);
  return { written, removed };
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
    if (lstatOrNull(abs)?.isDirectory()) rmSync(abs, { recursive: true, force: true });
    if (t.kind === 'symlink') {
      writeSymlink(repo.objects, t.id, abs);
      stat = lstatOrNull(abs);
    } else stat = await writeContent(repo.objects, t, abs, t.executable, onBytes);
  } catch (err) {
    mapWriteError(err, abs); // making a directory or a symlink can fill a disk too
  }
  // Three fields, not the whole stat (some twenty BigInts): callers keep one per file.
  return stat && { mtimeNs: stat.mtimeNs, size: stat.size, ino: stat.ino };
}

/** Below this many bytes of just-written files, the next status may as well read them again. */
const RACY_WAIT_BYTES = 64 * 1024 * 1024;

/** What stampWritten compares: ctime is left out, as a rename changes it on most file systems. */
export type WrittenStat = Pick<BigIntStats, 'mtimeNs' | 'size' | 'ino'>;

function sameStat(a: WrittenStat, b: WrittenStat): boolean {
  return a.mtimeNs === b.mtimeNs && a.size === b.size && a.ino === b.ino;
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
      if (!stat || !sameStat(stat, before)) continue;
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

export async function checkout(
  repo: Repository,
  commitId: ObjectId,
  opts: CheckoutOptions = {},
): Promise<CheckoutResult> {
  return repo.withWriteLock(async () => {
    assertNoMerge(repo);
    const from = repo.refs.headCommit();
    const moved = await moveWorktree(repo, from, commitId, opts);
    repo.refs.setHead(
      opts.attach ? { kind: 'branch', name: opts.attach } : { kind: 'detached', id: commitId },
    );
    return { commit: commitId, ...moved };
  });
}
