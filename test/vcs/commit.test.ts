// A commit reuses the subtrees of the last commit's tree where nothing changed below them. The
// result must always be the tree a full rebuild from the staging index makes.

import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { hashChunk, type ObjectId, toHex } from '../../src/core/index.ts';
import type { Repository } from '../../src/store/index.ts';
import { add, commitTree, diffTrees, type FlatEntry, status, writeTrees } from '../../src/vcs/index.ts';
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
