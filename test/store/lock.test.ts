// The writer lock's takeover of a stale lock, with another process taking it at the same time.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs, { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { WriterLock } from '../../src/store/lock.ts';
import { tempDir } from '../helpers.ts';

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  });
  return Number(r.stdout);
}

test('a stale lock taken over by another process between our read of it and our removal stays theirs', (t) => {
  const file = join(tempDir(t), 'lock');
  const stale = deadPid();
  writeFileSync(file, String(stale));
  // Another live process (our parent stands in for it) breaks the same stale lock and takes the
  // lock just after this process has read the stale pid: the lock file then names it.
  const other = process.ppid;
  const readFileSyncBefore = fs.readFileSync;
  let interleaved = false;
  fs.readFileSync = ((path: fs.PathOrFileDescriptor, ...rest: unknown[]) => {
    const out = (readFileSyncBefore as (...a: unknown[]) => unknown)(path, ...rest);
    if (!interleaved && path === file) {
      interleaved = true;
      unlinkSync(file);
      writeFileSync(file, String(other));
    }
    return out;
  }) as typeof fs.readFileSync;
  syncBuiltinESMExports();
  t.after(() => {
    fs.readFileSync = readFileSyncBefore;
    syncBuiltinESMExports();
  });

  const lock = new WriterLock(file);
  assert.throws(() => lock.acquire(), { code: 'LOCKED' });
  assert.ok(interleaved);
  assert.equal(readFileSync(file, 'utf8'), String(other), 'the other process still holds the lock');
  assert.deepEqual(
    fs.readdirSync(join(file, '..')).filter((n) => n !== 'lock'),
    [],
    'no marker is left behind',
  );
  assert.ok(existsSync(file));
});

test('a stale lock is taken over, and a lock file left empty by a crash too', (t) => {
  const file = join(tempDir(t), 'lock');
  writeFileSync(file, String(deadPid()));
  const lock = new WriterLock(file);
  lock.acquire();
  assert.equal(readFileSync(file, 'utf8'), String(process.pid));
  lock.release();
  writeFileSync(file, '');
  lock.acquire();
  assert.equal(readFileSync(file, 'utf8'), String(process.pid));
  lock.release();
  assert.ok(!existsSync(file));
});
