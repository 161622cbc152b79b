// Output edge cases: a reader that stops early must not turn into an error or a stack trace.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { shoal, shoalSpawn, tempDir } from '../helpers.ts';

test('a closed stdout pipe (shoal cat | head) ends quietly with status 0', async (t) => {
  const dir = tempDir(t);
  const configDir = join(dir, 'config');
  const repo = join(dir, 'repo');
  assert.equal(shoal(['init', repo], { configDir }).status, 0);
  writeFileSync(join(repo, 'big.bin'), Buffer.alloc(8 * 1024 * 1024, 7));
  assert.equal(shoal(['-C', repo, 'add', 'big.bin'], { configDir }).status, 0);
  assert.equal(shoal(['-C', repo, 'commit', '-m', 'one'], { configDir }).status, 0);

  const child = shoalSpawn(['-C', repo, 'cat', 'HEAD:big.bin'], { configDir });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += String(d);
  });
  const [first] = (await once(child.stdout, 'data')) as [Buffer];
  assert.ok(first.length > 0);
  child.stdout.destroy(); // the reader goes away, as `head` does
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /Error|at /);
});
