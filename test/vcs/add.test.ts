// add, driven through the library: what an add that stops part-way leaves behind.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { isShoalError } from '../../src/core/index.ts';
import { add, commit, stampOf } from '../../src/vcs/index.ts';
import { ROOT, tempDir } from '../helpers.ts';
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

test('reading a file that a FIFO has replaced since it was listed fails at once instead of blocking', (t) => {
  // add, status and checkout lstat a path, see a regular file, and read it a moment later: by
  // then a FIFO may stand there. The read runs in a child process, so that a blocking open
  // fails this test rather than hanging it.
  const dir = tempDir(t);
  const fifo = join(dir, 'was-a-file');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  const ingest = pathToFileURL(join(ROOT, 'src', 'vcs', 'ingest.ts')).href;
  const script = `
    const { ingestFile } = await import(${JSON.stringify(ingest)});
    const chunker = { min: 1024, avg: 4096, max: 16384 };
    try {
      await ingestFile(${JSON.stringify(fifo)}, { chunker, session: null });
      console.log('read');
    } catch (err) {
      console.log(err.code);
    }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 60_000, // only a guard against a hang
  });
  assert.equal(r.signal, null, `ingestFile blocked on a FIFO: ${r.stderr}`);
  assert.equal(r.stdout.trim(), 'NOT_A_FILE', r.stderr);
});

test('reading a working file for a diff or a conflict check never blocks on a FIFO or reads a device', (t) => {
  // diff's text read and status's conflict-marker scan go through readRegularFile; a child
  // process again, so that a blocking open fails the test rather than hanging it.
  const dir = tempDir(t);
  const fifo = join(dir, 'fifo');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  writeFileSync(join(dir, 'plain.txt'), 'plain\n');
  const worktree = pathToFileURL(join(ROOT, 'src', 'vcs', 'worktree.ts')).href;
  const script = `
    const { readRegularFile } = await import(${JSON.stringify(worktree)});
    const show = (b) => (b === null ? 'null' : b.toString());
    console.log([${JSON.stringify(fifo)}, '/dev/zero', ${JSON.stringify(join(dir, 'plain.txt'))}, ${JSON.stringify(join(dir, 'missing'))}].map((p) => show(readRegularFile(p))).join('|'));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 60_000, // only a guard against a hang
  });
  assert.equal(r.signal, null, `readRegularFile blocked: ${r.stderr}`);
  assert.equal(r.stdout.trim(), 'null|null|plain\n|null', r.stderr);
});

test('a stat stamp waits out two seconds where the file system keeps whole seconds, 100 ms elsewhere', () => {
  const s = 1_000_000_000n;
  const at = (mtimeNs: bigint, ctimeNs: bigint) => ({
    path: 'f',
    abs: '/f',
    kind: 'file' as const,
    stat: { mode: 0o100644n, size: 5n, ino: 7n, mtimeNs, ctimeNs },
  });
  // Whole seconds (ext4 with small inodes, FAT, HFS+): written at x.6 s it shows x.0, and an
  // edit at x.9 would leave the stat unchanged, so 0.5 s later is no time to trust it.
  assert.equal(stampOf(at(100n * s, 100n * s), 100n * s + s / 2n), null);
  assert.equal(stampOf(at(100n * s, 100n * s), 101n * s + s / 2n), null);
  assert.notEqual(stampOf(at(100n * s, 100n * s), 102n * s + 1n), null);
  // Nanoseconds: 100 ms is enough.
  assert.notEqual(stampOf(at(100n * s + 123n, 100n * s + 456n), 100n * s + s / 2n), null);
  assert.equal(stampOf(at(100n * s + 123n, 100n * s + 456n), 100n * s + s / 20n), null);
});
