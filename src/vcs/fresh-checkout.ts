// A clone's checkout: every file of one commit written into a working tree that tracks nothing
// yet, streamed in path order, so memory stays flat however many files the commit has
// (moveWorktree, for moves between two states, holds a map of every path).

import { type Dirent, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type ObjectId, ShoalError } from '../core/index.ts';
import type { Repository, StagedEntry } from '../store/index.ts';
import { RACY_WINDOW_NS, stampOf } from './add.ts';
import { workingFileDiffers } from './checkout.ts';
import { writeContent, writeSymlink } from './content.ts';
import type { OnProgress } from './progress.ts';
import { commitTree, type FlatEntry, flatten } from './trees.ts';
import { blockingAncestor, lstatOrNull } from './worktree.ts';

/** Stamps are recorded for this many written files at a time. */
const STAMP_BATCH = 2000;
/** Below this many bytes of just-written files, the next status may as well read them again. */
const RACY_WAIT_BYTES = 64 * 1024 * 1024;
/** At most this many paths are named in a DIRTY_WORKTREE error. */
const NAMED = 50;

function* files(repo: Repository, commit: ObjectId): Generator<FlatEntry> {
  yield* flatten(repo.objects, commitTree(repo.objects, commit));
}

/**
 * Refuse (DIRTY_WORKTREE, nothing written) when a file of the user's stands where `commit` has a
 * different one, or where it needs a directory. Returns the bytes the commit's files hold.
 */
export async function checkFreshCheckout(repo: Repository, commit: ObjectId): Promise<number> {
  const atRisk: string[] = [];
  const risky = new Set<string>();
  let bytes = 0;
  const clearDirs = new Set<string>(); // parents already found free of blockers
  for (const t of files(repo, commit)) {
    bytes += t.size;
    const parent = dirname(t.path);
    let risk: string | undefined;
    if (!clearDirs.has(parent)) {
      risk = blockingAncestor(repo.root, t.path);
      if (risk === undefined) clearDirs.add(parent);
    }
    if (risk === undefined) {
      const st = lstatOrNull(join(repo.root, t.path));
      if (st?.isDirectory()) {
        if (holdsAFile(repo.root, t.path)) risk = t.path;
      } else if (st && (await workingFileDiffers(repo, t.path, { ...t, stamp: null }))) risk = t.path;
    }
    if (risk !== undefined && !risky.has(risk)) {
      risky.add(risk);
      if (atRisk.length < NAMED) atRisk.push(risk);
    }
  }
  if (risky.size > 0) {
    const more = risky.size > atRisk.length ? `\n  and ${risky.size - atRisk.length} more` : '';
    throw new ShoalError(
      'DIRTY_WORKTREE',
      `these files of yours would be overwritten:\n  ${atRisk.join('\n  ')}${more}\nmove them away first`,
      { paths: atRisk },
    );
  }
  return bytes;
}

/** Whether the directory at `path` holds any file or symlink, however deep. */
function holdsAFile(root: string, path: string): boolean {
  for (const e of walkNames(join(root, path))) if (!e.isDirectory()) return true;
  return false;
}

function* walkNames(abs: string): Generator<Dirent> {
  let entries: Dirent[] = [];
  try {
    entries = readdirSync(abs, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    yield e;
    if (e.isDirectory()) yield* walkNames(join(abs, e.name));
  }
}

/**
 * Write every file of `commit`, which the staging index must already name (without stamps), and
 * record each written file's stamp as it goes. Only what `checkFreshCheckout` allowed may stand
 * in the way: an empty directory where a file goes is removed, anything else is overwritten.
 */
export async function writeFreshCheckout(
  repo: Repository,
  commit: ObjectId,
  opts: { bytesTotal?: number; onProgress?: OnProgress } = {},
): Promise<{ written: number }> {
  const readyDirs = new Set<string>();
  type Written = { entry: FlatEntry; mtimeNs: bigint; size: bigint; ino: bigint };
  // Stamped one batch late, so that only the files written last can fall in the racy window.
  let previous: Written[] = [];
  let batch: Written[] = [];
  let written = 0;
  let bytesDone = 0;
  // Stamps for a batch of written files, unless one changed since (someone else wrote to it) or
  // is so recent that its timestamp cannot tell a later change apart ("racily clean").
  const stamp = (done: Written[]): { racyBytes: number; newestNs: bigint } => {
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const puts: StagedEntry[] = [];
    let racyBytes = 0;
    let newestNs = 0n;
    for (const w of done) {
      const abs = join(repo.root, w.entry.path);
      const st = lstatOrNull(abs);
      if (!st || st.mtimeNs !== w.mtimeNs || st.size !== w.size || st.ino !== w.ino) continue;
      const s = stampOf({ path: w.entry.path, abs, stat: st, kind: w.entry.kind }, nowNs);
      if (s) puts.push({ ...w.entry, stamp: s });
      else {
        racyBytes += w.entry.size;
        for (const t of [st.mtimeNs, st.ctimeNs]) if (t > newestNs) newestNs = t;
      }
    }
    try {
      repo.staging.apply(puts);
    } catch {} // stamps are hints: without them the next status reads these files again
    return { racyBytes, newestNs };
  };
  for (const t of files(repo, commit)) {
    const abs = join(repo.root, t.path);
    // The parent first: a symlink among the ancestors is removed before anything is deleted or
    // written through it.
    const parent = dirname(abs);
    if (!readyDirs.has(parent)) {
      const blocker = blockingAncestor(repo.root, t.path);
      if (blocker !== undefined) rmSync(join(repo.root, blocker), { force: true });
      mkdirSync(parent, { recursive: true });
      readyDirs.add(parent);
    }
    if (lstatOrNull(abs)?.isDirectory()) rmSync(abs, { recursive: true, force: true });
    let st: { mtimeNs: bigint; size: bigint; ino: bigint } | null;
    if (t.kind === 'symlink') {
      writeSymlink(repo.objects, t.id, abs);
      st = lstatOrNull(abs);
    } else {
      st = await writeContent(repo.objects, t, abs, t.executable, (n) => {
        bytesDone += n;
        opts.onProgress?.({ phase: 'checkout', bytesDone, bytesTotal: opts.bytesTotal });
      });
    }
    written++;
    if (st) batch.push({ entry: t, mtimeNs: st.mtimeNs, size: st.size, ino: st.ino });
    if (batch.length >= STAMP_BATCH) {
      stamp(previous);
      previous = batch;
      batch = [];
    }
  }
  // The last files may still be in the racy window: when they add up to a lot of data (the last
  // file of a clone is often most of it), wait it out, at most 0.1 s, rather than have the next
  // status read them all again.
  const last = [...previous, ...batch];
  const { racyBytes, newestNs } = stamp(last);
  if (racyBytes >= RACY_WAIT_BYTES) {
    const waitMs = Number(newestNs + RACY_WINDOW_NS - BigInt(Date.now()) * 1_000_000n) / 1e6 + 1;
    if (waitMs > 0 && waitMs <= 1000) await new Promise((resolve) => setTimeout(resolve, waitMs));
    stamp(last);
  }
  return { written };
}
