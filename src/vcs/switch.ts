// `switch`: move HEAD to a branch and the working tree with it (refusing to overwrite local
// changes, through checkout), or create a branch at HEAD and move HEAD to it.

import { type ObjectId, ShoalError } from '../core/index.ts';
import type { Repository } from '../store/index.ts';
import { BRANCH_PREFIX, createBranch } from './branch.ts';
import { checkout, moveWorktree } from './checkout.ts';
import { assertNoMerge } from './merge-state.ts';
import { assertRefName } from './names.ts';
import type { OnProgress } from './progress.ts';

export interface SwitchOptions {
  create?: boolean;
  /** Where a new branch starts (default HEAD). */
  startPoint?: ObjectId;
  force?: boolean;
  onProgress?: OnProgress;
}

export interface SwitchResult {
  branch: string;
  commit: ObjectId | null;
  created: boolean;
  /** The branch was checked out already (nothing to switch). */
  already?: boolean;
  written: string[];
  removed: string[];
  /** Paths changed by the user while the move wrote others, kept as they are (see MoveResult). */
  kept?: string[];
  /** The detached commit HEAD left, when no ref holds it (see checkout). */
  leftBehind?: ObjectId | null;
  /** The remote-tracking branch a new branch was made from (`switch feat` with only origin/feat). */
  from?: string;
}

export async function switchBranch(
  repo: Repository,
  name: string,
  opts: SwitchOptions = {},
): Promise<SwitchResult> {
  return repo.withWriteLock(async () => {
    assertNoMerge(repo);
    const head = opts.force ? repo.refs.headCommitIfReadable() : repo.refs.headCommit();
    // As git: a branch that does not exist here but on exactly one named remote is made from
    // its remote-tracking branch (not from a peer's own, `<peer-id>/<name>`: any peer connected
    // to lists those).
    let from: string | undefined;
    if (!opts.create && !repo.refs.get(`${BRANCH_PREFIX}${name}`)) {
      const named = repo.refs
        .list('refs/remotes/')
        .filter((r) => r.name.endsWith(`/${name}`))
        .map((r) => ({ ...r, remote: r.name.slice('refs/remotes/'.length, -name.length - 1) }))
        .filter(
          (r) =>
            r.remote !== '' && !r.remote.includes('/') && repo.config(`remote.${r.remote}.url`) !== undefined,
        );
      if (named.length === 1) {
        from = `${named[0]!.remote}/${name}`;
        opts = { ...opts, create: true, startPoint: named[0]!.id };
      }
    }
    if (opts.create) {
      assertRefName(name, 'branch');
      const start = opts.startPoint ?? head;
      if (!start) {
        // On an unborn branch there is nothing to point at: the new branch is unborn too.
        if (repo.refs.get(`${BRANCH_PREFIX}${name}`)) {
          throw new ShoalError('ALREADY_EXISTS', `a branch named '${name}' already exists`, { name });
        }
        repo.refs.setHead({ kind: 'branch', name }, `switch: to new branch ${name}`);
        return { branch: name, commit: null, created: true, written: [], removed: [] };
      }
      // Check before creating anything, so a refusal leaves no new branch behind.
      await moveWorktree(repo, head, start, { force: opts.force, checkOnly: true });
      await createBranch(repo, name, start);
      if (head && Buffer.compare(start, head) === 0) {
        repo.refs.setHead({ kind: 'branch', name }, `switch: to new branch ${name}`);
        return {
          branch: name,
          commit: start,
          created: true,
          written: [],
          removed: [],
          ...(from ? { from } : {}),
        };
      }
      const moved = await checkout(repo, start, {
        attach: name,
        force: opts.force,
        onProgress: opts.onProgress,
        // From an unborn HEAD: the branch just made may be the one HEAD names.
        fromUnborn: head === undefined,
      });
      return {
        branch: name,
        commit: start,
        created: true,
        written: moved.written,
        removed: moved.removed,
        kept: moved.kept,
        leftBehind: moved.leftBehind,
        ...(from ? { from } : {}),
      };
    }
    const id = repo.refs.get(`${BRANCH_PREFIX}${name}`);
    if (!id) {
      // As git: a tag, or a commit, is looked at with checkout (detached), not switched to.
      const hint = repo.refs.get(`refs/tags/${name}`)
        ? `'${name}' is a tag; to look at it: shoal checkout ${name}`
        : `use -c to create it`;
      throw new ShoalError('NOT_FOUND', `branch '${name}' not found (${hint})`, { name });
    }
    // (--force is how a damaged HEAD is set again: it is not read then.)
    const current = opts.force ? undefined : repo.refs.head();
    const already = current?.kind === 'branch' && current.name === name;
    const moved = await checkout(repo, id, { attach: name, force: opts.force, onProgress: opts.onProgress });
    return {
      branch: name,
      commit: id,
      created: false,
      already,
      written: moved.written,
      removed: moved.removed,
      kept: moved.kept,
      leftBehind: moved.leftBehind,
    };
  });
}
