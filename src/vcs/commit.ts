// `commit`: turn the staging index into trees and a signed commit, then move the current
// branch (or detached HEAD) to it with a compare-and-swap, so a concurrent update is not lost.

import {
  decodeCommit,
  encodeCommit,
  idEquals,
  type KeyPair,
  type ObjectId,
  ShoalError,
  signCommit,
  toHex,
} from '../core/index.ts';
import type { Repository } from '../store/index.ts';
import { type FlatEntry, writeTrees } from './trees.ts';

export interface CommitOptions {
  message: string;
  authorName: string;
  identity: KeyPair;
  time?: number;
  extraParents?: ObjectId[]; // a merge's other side
  allowEmpty?: boolean;
}

export interface CommitResult {
  id: ObjectId;
  tree: ObjectId;
  parents: ObjectId[];
  branch: string | null;
}

export async function commit(repo: Repository, opts: CommitOptions): Promise<CommitResult> {
  return repo.withWriteLock(async () => {
    const headCommit = repo.refs.headCommit();
    const parents = [...(headCommit ? [headCommit] : []), ...(opts.extraParents ?? [])];
    const session = await repo.objects.beginSession();
    const generation = repo.staging.generation();
    try {
      // Streamed from the staging index in path order: memory stays flat however many files.
      let count = 0;
      const files = function* (): Generator<FlatEntry> {
        for (const e of repo.staging.entries()) {
          count++;
          yield { ...e, kind: e.kind === 'symlink' ? 'symlink' : 'file' };
        }
      };
      const tree = await writeTrees(session, files());
      if (!opts.allowEmpty && parents.length <= 1) {
        const parentTree = headCommit
          ? decodeCommit(repo.objects.read(headCommit, 'commit')).tree
          : undefined;
        if (parentTree ? idEquals(parentTree, tree.id) : count === 0) {
          throw new ShoalError('NOTHING_TO_COMMIT', 'nothing to commit (use "shoal add" to stage changes)');
        }
      }
      const signed = signCommit(opts.identity.seed, {
        tree: tree.id,
        parents,
        author: { key: opts.identity.publicKey, name: opts.authorName },
        time: opts.time ?? Date.now(),
        message: opts.message,
      });
      const encoded = encodeCommit(signed);
      await session.putObject(encoded);
      await session.close();
      const head = repo.refs.head();
      const firstLine = opts.message.split('\n')[0];
      if (head.kind === 'branch') {
        const ok = repo.refs.update(
          `refs/heads/${head.name}`,
          encoded.id,
          `commit: ${firstLine}`,
          headCommit ?? null,
        );
        if (!ok) throw new ShoalError('CONFLICT', `branch '${head.name}' moved during the commit; try again`);
      } else {
        repo.refs.setHead({ kind: 'detached', id: encoded.id });
      }
      // The index is now the new commit's tree: the next status need not compare the two.
      try {
        repo.staging.recordMatchingTree(tree.id, generation);
      } catch {} // only a hint, and the commit is made: status then compares once more

      return { id: encoded.id, tree: tree.id, parents, branch: head.kind === 'branch' ? head.name : null };
    } catch (err) {
      await session.abort();
      throw err;
    }
  });
}

export function describeCommit(id: ObjectId): string {
  return toHex(id).slice(0, 12);
}
