// add, driven through the library: what an add that stops part-way leaves behind.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isShoalError } from '../../src/core/index.ts';
import { add, commit } from '../../src/vcs/index.ts';
import { fixture, IDENTITY } from './fixture.ts';

test('an add interrupted after its first batch leaves an index that commits: removals go with the batch', async (t) => {
  const f = fixture(t);
  f.write('a', 'a file that becomes a directory');
  await f.commitAll('base');
  rmSync(join(f.dir, 'a'));
  f.write('a/y', 'inside the new directory');
  // More than one batch (2,000 files) to read after 'a/y', so the first batch is written
  // before the interruption.
  for (let i = 0; i < 2100; i++) f.write(`b/f${String(i).padStart(4, '0')}`, `${i}`);
  const stop = new AbortController();
  await assert.rejects(
    add(f.repo, {
      cwd: f.dir,
      paths: ['.'],
      signal: stop.signal,
      onProgress: (p) => {
        if ((p.itemsDone ?? 0) >= 2050) stop.abort();
      },
    }),
    (err) => isShoalError(err, 'ABORTED'),
  );
  const staged = [...f.repo.staging.entries()].map((e) => e.path);
  assert.ok(staged.includes('a/y'), 'the first batch was written');
  assert.ok(!staged.includes('a'), "the file 'a' left the index with the batch that staged 'a/y'");
  // What was staged commits, and a second add completes the rest.
  await commit(f.repo, { message: 'partial', authorName: 'tester', identity: IDENTITY });
  await add(f.repo, { cwd: f.dir, paths: ['.'] });
  assert.equal(f.repo.staging.count(), 2101);
});
