// Whether the conflicts of a merge in progress are resolved. A conflict is resolved when its
// side file (`<path>~<branch>`) is gone (and not staged), its working file holds no conflict markers, and the
// working file matches what is staged: the user has `shoal add`ed (or removed) the result.

import { join } from 'node:path';
import type { Repository } from '../store/index.ts';
import { workingFileDiffers } from './checkout.ts';
import type { MergeConflict, MergeState } from './merge-state.ts';
import { hasConflictMarkers } from './text-merge.ts';
import { lstatOrNull, readRegularFile } from './worktree.ts';

export interface ConflictStatus extends MergeConflict {
  resolved: boolean;
}

const MARKER_SCAN_LIMIT = 64 * 1024 * 1024;

export async function conflictStatus(repo: Repository, state: MergeState): Promise<ConflictStatus[]> {
  const out: ConflictStatus[] = [];
  for (const c of state.conflicts) {
    // Gone from the working tree and from the index: a side file an `add .` staged would
    // otherwise go into the merge commit.
    const sideGone =
      c.side === null || (lstatOrNull(join(repo.root, c.side)) === null && !repo.staging.has(c.side));
    let markersGone = true;
    if (c.markers) {
      const abs = join(repo.root, c.path);
      const st = lstatOrNull(abs);
      if (st?.isFile() && st.size < BigInt(MARKER_SCAN_LIMIT)) {
        // Never blocks on a FIFO put in its place. A file that cannot be read may still hold
        // its markers: not resolved until it can be read and holds none.
        const bytes = readRegularFile(abs);
        markersGone = bytes !== null && !hasConflictMarkers(bytes.toString('utf8'));
      }
    }
    const staged = repo.staging.get(c.path);
    // Nothing staged at the path and a directory there: the file side of a file-directory
    // conflict was given up for the directory, which is staged below the path.
    const keptDirectory =
      staged === undefined &&
      repo.staging.hasUnder(c.path) &&
      lstatOrNull(join(repo.root, c.path))?.isDirectory() === true;
    const matches = keptDirectory || !(await workingFileDiffers(repo, c.path, staged));
    out.push({ ...c, resolved: state.phase === 'conflicts' && sideGone && markersGone && matches });
  }
  return out;
}
