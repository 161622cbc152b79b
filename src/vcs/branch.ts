// Branches: `refs/heads/<name>` in the index. Creating, listing and deleting them; a deleted
// branch's last commit stays in the reflog, so it can be recreated until gc's grace period ends.

import { type ObjectId, ShoalError, toHex } from '../core/index.ts';
import type { Repository } from '../store/index.ts';
import { isAncestor } from './merge-base.ts';
import { assertRefName } from './names.ts';

export const BRANCH_PREFIX = 'refs/heads/';

export interface BranchInfo {
  name: string;
  id: ObjectId;
  current: boolean;
}

export function currentBranch(repo: Repository): string | null {
  const head = repo.refs.head();
  return head.kind === 'branch' ? head.name : null;
}

export function listBranches(repo: Repository): BranchInfo[] {
  const current = currentBranch(repo);
  return repo.refs.list(BRANCH_PREFIX).map((r) => {
    const name = r.name.slice(BRANCH_PREFIX.length);
    return { name, id: r.id, current: name === current };
  });
}

export async function createBranch(repo: Repository, name: string, at: ObjectId): Promise<BranchInfo> {
  assertRefName(name, 'branch');
  return repo.withWriteLock(() => {
    const ok = repo.refs.update(`${BRANCH_PREFIX}${name}`, at, `branch: created at ${toHex(at)}`, null);
    if (!ok) throw new ShoalError('ALREADY_EXISTS', `a branch named '${name}' already exists`, { name });
    return { name, id: at, current: currentBranch(repo) === name };
  });
}

export interface DeleteBranchResult {
  name: string;
  /** The commit it pointed at: `shoal branch <name> <id>` brings it back. */
  id: ObjectId;
}

/**
 * Delete a branch. Unless forced, its commit must be merged into HEAD (reachable from it), so
 * no work is left only in the reflog by accident.
 */
export async function deleteBranch(
  repo: Repository,
  name: string,
  opts: { force?: boolean } = {},
): Promise<DeleteBranchResult> {
  return repo.withWriteLock(() => {
    const ref = `${BRANCH_PREFIX}${name}`;
    const id = repo.refs.get(ref);
    if (!id) throw new ShoalError('NOT_FOUND', `branch '${name}' not found`, { name });
    if (currentBranch(repo) === name) {
      throw new ShoalError('CURRENT_BRANCH', `cannot delete branch '${name}': it is the current branch`, {
        name,
      });
    }
    if (!opts.force) {
      const head = repo.refs.headCommit();
      if (!head || !isAncestor(repo.objects, id, head)) {
        throw new ShoalError(
          'NOT_MERGED',
          `branch '${name}' is not merged into HEAD; use -D to delete it anyway`,
          { name, id: toHex(id) },
        );
      }
    }
    if (!repo.refs.update(ref, null, `branch: deleted (was ${toHex(id)})`, id)) {
      throw new ShoalError('CONFLICT', `branch '${name}' moved while it was being deleted; try again`);
    }
    return { name, id };
  });
}
