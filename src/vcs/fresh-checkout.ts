// A clone's checkout: every file of one commit written into a working tree that tracks nothing
// yet, streamed in path order, so memory stays flat however many files the commit has
// (moveWorktree, for moves between two states, holds a map of every path).

import { dirname, join } from 'node:path';
import { type ObjectId, ShoalError } from '../core/index.ts';
import type { Repository, StagedEntry } from '../store/index.ts';
import {
  holdsOtherFiles,
  stampWritten,
  type WrittenStat,
  workingFileDiffers,
  writeWorkingFile,
} from './checkout.ts';
import type { OnProgress } from './progress.ts';
import { commitTree, type FlatEntry, flatten } from './trees.ts';
import { blockingAncestor, lstatOrNull } from './worktree.ts';

/** Stamps are recorded for this many written files at a time. */
const STAMP_BATCH = 2000;
/** At most this many paths are named in a DIRTY_WORKTREE error. */
const NAMED = 50;
const NOTHING = new Set<string>();

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
        if (holdsOtherFiles(repo.root, t.path, NOTHING)) risk = t.path;
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
  // Written files, by path: the index entry each will get, and its stat as written. Stamped one
  // batch late, so that only the files written last can fall in the racy window.
  type Batch = { next: Map<string, StagedEntry>; afterWrite: Map<string, WrittenStat> };
  const newBatch = (): Batch => ({ next: new Map(), afterWrite: new Map() });
  const stamp = async (b: Batch): Promise<void> => {
    await stampWritten(repo.root, b.next, b.afterWrite);
    try {
      repo.staging.apply([...b.next.values()].filter((e) => e.stamp));
    } catch {} // stamps are hints: without them the next status reads these files again
  };
  let previous = newBatch();
  let batch = newBatch();
  let written = 0;
  let bytesDone = 0;
  for (const t of files(repo, commit)) {
    const st = await writeWorkingFile(repo, t, readyDirs, (n) => {
      bytesDone += n;
      opts.onProgress?.({ phase: 'checkout', bytesDone, bytesTotal: opts.bytesTotal });
    });
    written++;
    batch.next.set(t.path, { ...t, stamp: null });
    if (st) batch.afterWrite.set(t.path, st);
    if (batch.next.size >= STAMP_BATCH) {
      await stamp(previous);
      previous = batch;
      batch = newBatch();
    }
  }
  // The last two batches together: stampWritten waits out the racy window when the files
  // written last add up to a lot of data (the last file of a clone is often most of it).
  for (const [p, e] of batch.next) previous.next.set(p, e);
  for (const [p, st] of batch.afterWrite) previous.afterWrite.set(p, st);
  await stamp(previous);
  return { written };
}
