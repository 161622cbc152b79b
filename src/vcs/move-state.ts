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
  /** The command that finishes it (`shoal switch main`), as the command that started it knows. */
  finish?: string;
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

export function beginMove(
  repo: Repository,
  from: ObjectId | undefined,
  target: ObjectId,
  finish: string | undefined,
): void {
  const s: MoveState = {
    target: toHex(target),
    from: from ? toHex(from) : null,
    ...(finish ? { finish } : {}),
  };
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

/** `finish` for a move a push started: the pusher finishes it, not a command of this user. */
export const PUSH_AGAIN = 'push';

/** What to tell a user whose move did not finish. */
export function interruptedMoveMessage(s: MoveState): string {
  const to = s.target ? `to ${s.target.slice(0, 12)} ` : '';
  const finish =
    s.finish === PUSH_AGAIN
      ? 'the same push again finishes it'
      : s.finish
        ? `'${s.finish}' finishes it`
        : s.target
          ? `'shoal checkout ${s.target.slice(0, 12)}' finishes it`
          : 'running it again finishes it';
  // On an unborn branch there is no HEAD to go back to.
  const back =
    s.from === null ? '' : `, or 'shoal checkout --force HEAD' goes back (discarding every local change)`;
  return `a move of the working tree ${to}(a checkout, switch, merge or pull) did not finish (interrupted, or the disk filled up), so the working tree and the index are part old, part new: ${finish}${back}`;
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
