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
  type TreeEntry,
  toHex,
} from '../core/index.ts';
import type { Repository, StagedEntry } from '../store/index.ts';
import { assertNoInterruptedMove } from './move-state.ts';
import { type FlatEntry, parentDir, readTree, type StoredSubtree, stagedFile, writeTrees } from './trees.ts';

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

function* asFiles(entries: Iterable<StagedEntry>): Generator<FlatEntry> {
  for (const e of entries) yield stagedFile(e);
}

/**
 * The index's files for writeTrees, where each directory with no changes since `base` (the tree
 * the last commit made from the index) and none below it is that tree's subtree, not its files.
 * Only the directories with changes (`dirty`) and those above them are read from the index and
 * hashed again, so a commit costs what changed, not the size of the tree. A subtree that is not
 * in the store (gc may have removed an old base) is read from the index like a changed one.
 */
function* filesSince(
  repo: Repository,
  base: ObjectId,
  dirty: string[],
): Generator<FlatEntry | StoredSubtree> {
  const touched = new Set<string>(['']);
  for (let dir of dirty) {
    while (!touched.has(dir)) {
      touched.add(dir);
      dir = parentDir(dir);
    }
  }
  const objects = repo.objects;
  const open = (dir: string, tree: ObjectId | undefined) => {
    const subtrees = new Map<string, TreeEntry>();
    if (tree && objects.has(tree)) {
      for (const e of readTree(objects, tree).entries) if (e.kind === 'dir') subtrees.set(e.name, e);
    }
    const prefix = dir === '' ? '' : `${dir}/`;
    // '0' follows '/': the end of the directory.
    return { prefix, before: dir === '' ? null : `${dir}0`, subtrees, from: prefix, exclusive: false };
  };
  // A stack of the directories being read, not recursion: the index may hold paths thousands
  // of directories deep.
  const stack = [open('', base)];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const e = repo.staging.seek(top.from, top.exclusive, top.before);
    if (!e) {
      stack.pop();
      continue;
    }
    const rel = e.path.slice(top.prefix.length);
    const slash = rel.indexOf('/');
    if (slash < 0) {
      yield stagedFile(e);
      top.from = e.path;
      top.exclusive = true;
      continue;
    }
    const name = rel.slice(0, slash);
    const sub = `${top.prefix}${name}`;
    top.from = `${sub}0`; // past everything below it
    top.exclusive = false;
    const kept = top.subtrees.get(name);
    if (kept && !touched.has(sub) && objects.has(kept.id)) {
      yield { path: sub, kind: 'dir', id: kept.id, size: kept.size };
    } else stack.push(open(sub, kept?.id));
  }
}

export async function commit(repo: Repository, opts: CommitOptions): Promise<CommitResult> {
  return repo.withWriteLock(async () => {
    assertNoInterruptedMove(repo); // it would record part of each of two commits
    const headCommit = repo.refs.headCommit();
    if (!headCommit) repo.refs.assertUnbornIsReal(); // not a damaged refs table: a first commit
    const parents = [...(headCommit ? [headCommit] : []), ...(opts.extraParents ?? [])];
    const session = await repo.objects.beginSession();
    const generation = repo.staging.generation();
    try {
      // Streamed from the staging index in path order: memory stays flat however many files.
      // Directories without changes since the last commit's tree are taken from it whole.
      const base = repo.staging.committedBase();
      const tree = await writeTrees(
        session,
        base ? filesSince(repo, base.tree, base.dirty) : asFiles(repo.staging.entries()),
      );
      if (!opts.allowEmpty && parents.length <= 1) {
        const parentTree = headCommit
          ? decodeCommit(repo.objects.read(headCommit, 'commit')).tree
          : undefined;
        if (parentTree ? idEquals(parentTree, tree.id) : repo.staging.count() === 0) {
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
        repo.refs.setHead({ kind: 'detached', id: encoded.id }, `commit (detached HEAD): ${firstLine}`);
      }
      // The index is now the new commit's tree: the next status need not compare the two, and
      // the next commit starts from it.
      try {
        repo.staging.recordMatchingTree(tree.id, generation);
      } catch {} // only a hint, and the commit is made: status then compares once more
      try {
        repo.staging.recordCommittedBase(tree.id);
      } catch {} // the next commit then hashes the directories that changed since the older base

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
