// A commit reuses the subtrees of the last commit's tree where nothing changed below them. The
// result must always be the tree a full rebuild from the staging index makes.

import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { hashChunk, type ObjectId, toHex } from '../../src/core/index.ts';
import type { Repository } from '../../src/store/index.ts';
import {
  add,
  checkout,
  commitTree,
  diffTrees,
  type FlatEntry,
  status,
  switchBranch,
  writeTrees,
} from '../../src/vcs/index.ts';
import { fixture, noise } from './fixture.ts';

/** The tree of the whole staging index, built from scratch. */
async function fullRebuild(repo: Repository): Promise<ObjectId> {
  const session = await repo.objects.beginSession();
  const files: FlatEntry[] = [...repo.staging.entries()].map((e) => ({
    ...e,
    kind: e.kind === 'symlink' ? 'symlink' : 'file',
  }));
  const { id } = await writeTrees(session, files);
  await session.close();
  return id;
}

test('a commit reuses unchanged subtrees and makes the tree a full rebuild makes; status lists what differs', async (t) => {
  const f = fixture(t);
  const dirs = ['', 'a', 'a/b', 'a/b/c', 'a.d', 'd', 'd/e', 'd/e/f', 'z'];
  const names = ['x', 'y', 'b', 'c', 'e', 'x.txt', 'a'];
  let seed = 7;
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let i = 0; i < 40; i++) f.write(join(dirs[i % dirs.length]!, `f${i}`), noise(100, i));
  await f.commitAll('start');
  for (let round = 0; round < 40; round++) {
    for (let op = 0; op < 1 + next(6); op++) {
      const path = join(dirs[next(dirs.length)]!, names[next(names.length)]!);
      const abs = join(f.dir, path);
      const kind = next(5);
      try {
        if (kind === 0) rmSync(abs, { recursive: true, force: true });
        else if (kind === 1 && existsSync(abs) && statSync(abs).isFile()) chmodSync(abs, 0o755);
        else if (kind === 2 && !existsSync(abs)) {
          mkdirSync(join(abs, '..'), { recursive: true });
          symlinkSync(`target-${round}`, abs);
        } else {
          if (existsSync(abs) && statSync(abs).isDirectory()) rmSync(abs, { recursive: true });
          f.write(path, noise(50 + next(200), round * 100 + op));
        }
      } catch (err) {
        // A path below what is now a file: that operation simply does not apply.
        if (!['ENOTDIR', 'EEXIST'].includes((err as NodeJS.ErrnoException).code!)) throw err;
      }
    }
    // status, before the commit, lists as staged exactly what differs from HEAD's tree.
    await add(f.repo, { cwd: f.dir, paths: ['.'] });
    const headTree = commitTree(f.repo.objects, f.repo.refs.headCommit()!);
    const expected = [...diffTrees(f.repo.objects, headTree, await fullRebuild(f.repo))]
      .map((c) => `${c.change} ${c.path}`)
      .sort();
    const st = await status(f.repo);
    assert.deepEqual(st.staged.map((c) => `${c.change} ${c.path}`).sort(), expected, `round ${round}`);
    const id = await f.commitAll(`round ${round}`);
    const tree = commitTree(f.repo.objects, id);
    assert.equal(toHex(tree), toHex(await fullRebuild(f.repo)), `round ${round}`);
    assert.deepEqual(f.repo.staging.committedBase()?.dirty, [], 'a commit clears the changed directories');
  }
});

test('the index records which directories changed since the last commit, and a lost base is rebuilt', async (t) => {
  const f = fixture(t);
  for (const p of ['a/one', 'a/b/two', 'c/three', 'top']) f.write(p, p);
  const first = await f.commitAll('first');
  assert.equal(toHex(f.repo.staging.committedBase()!.tree), toHex(commitTree(f.repo.objects, first)));
  f.write('a/b/two', 'changed');
  f.write('c/d/new', 'new');
  rmSync(join(f.dir, 'top'));
  await f.commitAll('second');
  // (The commit cleared them; stage again to look.)
  f.write('a/b/two', 'changed again');
  f.write('c/d/new2', 'new');
  await add(f.repo, { cwd: f.dir, paths: ['.'] });
  assert.deepEqual(f.repo.staging.committedBase()!.dirty.sort(), ['a/b', 'c/d']);
  // A base that is not in the store (gc removed it): the commit reads everything instead.
  f.repo.staging.recordCommittedBase(hashChunk(Buffer.from('no such tree')));
  const third = await f.commitAll('third');
  assert.equal(toHex(commitTree(f.repo.objects, third)), toHex(await fullRebuild(f.repo)));
});

test('after a switch or a forced checkout the index is known to equal the target tree, and commits build on it', async (t) => {
  const f = fixture(t);
  for (const p of ['a/one', 'a/b/two', 'c/three', 'e/five', 'top']) f.write(p, p);
  const first = await f.commitAll('first');
  await switchBranch(f.repo, 'other', { create: true });
  f.write('a/b/two', 'changed on other');
  f.write('d/new', 'new on other');
  const second = await f.commitAll('second');
  const tree = (c: ObjectId): string => toHex(commitTree(f.repo.objects, c));
  await switchBranch(f.repo, 'main');
  assert.equal(toHex(f.repo.staging.committedBase()!.tree), tree(first));
  assert.deepEqual(f.repo.staging.committedBase()!.dirty, []);
  assert.equal(toHex(f.repo.staging.matchingTree()!), tree(first), 'status need not read HEAD');
  // A change made on top of the switch is committed right (built on the recorded tree).
  f.write('c/three', 'edited after the switch');
  const third = await f.commitAll('third');
  assert.equal(tree(third), toHex(await fullRebuild(f.repo)));
  // With a change staged before the move, the index does not equal the target afterwards:
  // nothing is recorded, and the commit that follows reads the changed directories.
  f.write('e/five', 'staged before switching'); // a directory the switch does not touch
  await add(f.repo, { cwd: f.dir, paths: ['e/five'] });
  await switchBranch(f.repo, 'other');
  assert.notEqual(toHex(f.repo.staging.committedBase()!.tree), tree(second));
  const fourth = await f.commitAll('fourth');
  assert.equal(tree(fourth), toHex(await fullRebuild(f.repo)));
  // --force: everything is made to match the target, staged changes included.
  f.write('a/one', 'staged, then thrown away');
  await add(f.repo, { cwd: f.dir, paths: ['.'] });
  await checkout(f.repo, second, { force: true });
  assert.equal(toHex(f.repo.staging.committedBase()!.tree), tree(second));
  assert.equal(toHex(await fullRebuild(f.repo)), tree(second));
});
