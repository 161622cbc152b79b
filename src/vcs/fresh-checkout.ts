// A clone's checkout: every file of one commit written into a working tree that tracks nothing
// yet, streamed in path order, so memory stays flat however many files the commit has. Unlike a
// move between two states (moveWorktree), the index names every file before any is written, so
// an interrupted clone shows them as missing and `shoal restore .` writes them.

import { dirname, join } from 'node:path';
import { idEquals, type ObjectId, ShoalError } from '../core/index.ts';
import { type Repository, readTransaction } from '../store/index.ts';
import {
  DIRTY_NAMED,
  holdsOtherFiles,
  IndexUpdates,
  workingFileDiffers,
  writeWorkingFile,
} from './checkout.ts';
import type { CheckoutAhead } from './checkout-ahead.ts';
import type { OnProgress } from './progress.ts';
import { commitTree, type FlatEntry, flatten } from './trees.ts';
import { blockingAncestor, lstatOrNull } from './worktree.ts';

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
      if (atRisk.length < DIRTY_NAMED) atRisk.push(risk);
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
  opts: { bytesTotal?: number; onProgress?: OnProgress; ahead?: CheckoutAhead } = {},
): Promise<{ written: number }> {
  // What was written while the clone fetched (the temporaries of another commit are not used)
  const ahead = opts.ahead && idEquals(opts.ahead.commit, commit) ? opts.ahead : undefined;
  const readyDirs = new Set<string>();
  const index = new IndexUpdates(repo, { staged: true });
  let written = 0;
  let bytesDone = 0;
  // Trees and chunks are read in read transactions, which the stamp writes end and restart.
  await readTransaction(repo.db, async () => {
    for (const t of files(repo, commit)) {
      const onBytes = (n: number): void => {
        bytesDone += n;
        opts.onProgress?.({ phase: 'checkout', bytesDone, bytesTotal: opts.bytesTotal });
      };
      const st = await writeWorkingFile(repo, t, readyDirs, onBytes, undefined, ahead?.take(t.path));
      written++;
      await index.put({ ...t, stamp: null }, st);
    }
  });
  await index.finish();
  return { written };
}
