// status and the record of the tree the staging index equals: it may only ever save work, never
// hide a staged change.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashChunk } from '../../src/core/index.ts';
import { add, checkout, commitTree, rm, status } from '../../src/vcs/index.ts';
import { fixture } from './fixture.ts';

const hexOf = (id: Uint8Array | undefined): string | undefined =>
  id ? Buffer.from(id).toString('hex') : undefined;

test('commit records the tree the index equals; status trusts the record only while the index is unchanged', async (t) => {
  const f = fixture(t);
  f.write('a', 'one');
  f.write('d/b', 'two');
  const first = await f.commitAll('first');
  assert.equal(hexOf(f.repo.staging.matchingTree()), hexOf(commitTree(f.repo.objects, first)));
  assert.deepEqual((await status(f.repo)).staged, []);

  // Staging a change voids the record, and the change shows.
  f.write('a', 'changed');
  await add(f.repo, { cwd: f.dir, paths: ['a'] });
  assert.equal(f.repo.staging.matchingTree(), undefined);
  assert.deepEqual((await status(f.repo)).staged, [{ path: 'a', change: 'modified' }]);
  assert.equal(f.repo.staging.matchingTree(), undefined, 'no record while something is staged');

  const second = await f.commitAll('second');
  await rm(f.repo, { cwd: f.dir, paths: ['d/b'] });
  assert.deepEqual((await status(f.repo)).staged, [{ path: 'd/b', change: 'deleted' }]);

  // A write to the index that bypasses shoal's own code (an older version) voids it as well.
  const tree = await f.commitAll('third');
  assert.equal(hexOf(f.repo.staging.matchingTree()), hexOf(commitTree(f.repo.objects, tree)));
  f.repo.db
    .prepare(
      "INSERT OR REPLACE INTO staging SELECT path, kind, executable, size, ?, height, '', '', '' FROM staging WHERE path = 'a'",
    )
    .run(hashChunk(Buffer.from('something else')));
  assert.deepEqual((await status(f.repo)).staged, [{ path: 'a', change: 'modified' }]);

  // checkout --force makes the index equal to the target's tree and records it; status, trusting
  // the record, reports nothing staged, and so does a status that finds no record.
  await checkout(f.repo, second, { force: true });
  assert.equal(hexOf(f.repo.staging.matchingTree()), hexOf(commitTree(f.repo.objects, second)));
  f.repo.db.exec("DELETE FROM meta WHERE key = 'staging_tree'");
  const before = await status(f.repo);
  assert.deepEqual(before.staged, []);
  assert.equal(hexOf(f.repo.staging.matchingTree()), hexOf(commitTree(f.repo.objects, second)));
  assert.deepEqual(await status(f.repo), before);
});
