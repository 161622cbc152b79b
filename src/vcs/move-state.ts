// A working-tree move to a commit (checkout, switch, a fast-forward, a push arriving) that did
// not finish. The move records its target in the index's `meta` table before it changes the
// first path, and the command that moves HEAD afterwards clears it. While it is there, the
// working tree and the index are part old, part new: status says so, and commit (which would
// record that mix on the old branch), merge and pull refuse until the move is run again to its
// end or undone with `checkout --force HEAD`.

import { fromHex, idEquals, type ObjectId, ShoalError, toHex } from '../core/index.ts';
import type { Repository } from '../store/index.ts';

const MOVE_STATE_KEY = 'MOVE_STATE';

export interface MoveState {
  /** The commit the working tree was being moved to. */
  target: string;
  /** HEAD's commit when it started (null on an unborn branch). */
  from: string | null;
}

export function readMoveState(repo: Repository): MoveState | undefined {
  const raw = repo.meta(MOVE_STATE_KEY);
  if (!raw) return undefined;
  try {
    const s = JSON.parse(raw) as MoveState;
    if (typeof s.target === 'string') return s;
  } catch {}
  // Unreadable: still a move that did not finish, of unknown target.
  return { target: '', from: null };
}

export function beginMove(repo: Repository, from: ObjectId | undefined, target: ObjectId): void {
  const s: MoveState = { target: toHex(target), from: from ? toHex(from) : null };
  repo.setMeta(MOVE_STATE_KEY, JSON.stringify(s));
}

/** Called once HEAD names what the move wrote. */
export function endMove(repo: Repository): void {
  repo.db.prepare('DELETE FROM meta WHERE key = ?').run(MOVE_STATE_KEY);
}

/** The commit an unfinished move was going to (gc keeps it: running the move again needs it). */
export function moveStateCommits(repo: Repository): Uint8Array[] {
  const s = readMoveState(repo);
  return s && /^[0-9a-f]{64}$/.test(s.target) ? [fromHex(s.target)] : [];
}

/** What to tell a user whose move did not finish. */
export function interruptedMoveMessage(s: MoveState): string {
  const to = s.target ? `to ${s.target.slice(0, 12)} ` : '';
  return `a checkout ${to}did not finish (interrupted, or the disk filled up), so the working tree and the index are part old, part new: run the same command again to finish it, or 'shoal checkout --force HEAD' to go back`;
}

/**
 * Refuse while a move did not finish, unless `target` is where that move was going (running it
 * again finishes it) or `force` (which rewrites every path anyway).
 */
export function assertNoInterruptedMove(
  repo: Repository,
  opts: { target?: ObjectId; force?: boolean } = {},
): void {
  if (opts.force) return;
  const s = readMoveState(repo);
  if (!s) return;
  if (opts.target && s.target && idEquals(fromHex(s.target), opts.target)) return;
  throw new ShoalError('MOVE_INTERRUPTED', interruptedMoveMessage(s), { target: s.target || null });
}
