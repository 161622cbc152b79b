// A working file edited while a checkout is writing the files before it: the checkout checks
// each path again just before it replaces it, so the edit is kept and the checkout stops.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isShoalError } from '../../src/core/index.ts';
import { checkout } from '../../src/vcs/index.ts';
import { fixture, noise } from './fixture.ts';

test('an edit saved while the checkout writes the files before it is kept, and the checkout stops', async (t) => {
  const f = fixture(t);
  f.write('aaa.bin', noise(3 * 1024 * 1024, 1));
  f.write('other.txt', 'base\n');
  const base = await f.commitAll('base');
  f.write('aaa.bin', noise(3 * 1024 * 1024, 2));
  f.write('other.txt', 'theirs\n');
  const next = await f.commitAll('next');
  await checkout(f.repo, base);
  assert.equal(readFileSync(join(f.dir, 'other.txt'), 'utf8'), 'base\n');

  // The checkout's progress reports come while it writes aaa.bin, which sorts first: the edit
  // lands after the check of every path and before other.txt is written.
  let edited = false;
  const onProgress = (): void => {
    if (edited) return;
    edited = true;
    f.write('other.txt', 'my unsaved work\n');
  };
  await assert.rejects(checkout(f.repo, next, { onProgress }), (err) => {
    assert.ok(isShoalError(err, 'DIRTY_WORKTREE'), String(err));
    assert.match(err.message, /'other\.txt' changed while the working tree was being updated/);
    return true;
  });
  assert.ok(edited, 'the edit was made during the checkout');
  assert.equal(readFileSync(join(f.dir, 'other.txt'), 'utf8'), 'my unsaved work\n');
  // HEAD did not move: the edit shows as a local change against it, and nothing was lost.
  assert.equal(Buffer.compare(f.repo.refs.headCommit()!, base), 0);
});
