// The writer lock's takeover of a stale lock, with another process taking it at the same time.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs, { existsSync, readdirSync, readFileSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
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
  assert.equal(
    Number.parseInt(readFileSync(file, 'utf8'), 10),
    other,
    'the other process still holds the lock',
  );
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
  assert.equal(Number.parseInt(readFileSync(file, 'utf8'), 10), process.pid);
  lock.release();
  // An empty lock is one being written (where there are no hard links) or left by a crash:
  // taken over only once it is older than taking a lock can last.
  writeFileSync(file, '');
  assert.throws(() => lock.acquire(), { code: 'LOCKED' });
  const past = new Date(Date.now() - 60_000);
  utimesSync(file, past, past);
  lock.acquire();
  assert.equal(Number.parseInt(readFileSync(file, 'utf8'), 10), process.pid);
  lock.release();
  assert.ok(!existsSync(file));
});

test('a marker left by a process that died breaking a stale lock does not lock the repository for good', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'lock');
  const stale = deadPid();
  const lock = new WriterLock(file);
  const past = new Date(Date.now() - 60_000);
  // Left empty by a crash, naming a dead process, naming a live one (its pid reused), or naming
  // this very process (an earlier one's pid reused): each stops a takeover only while recent.
  for (const content of ['', String(deadPid()), String(process.ppid), String(process.pid)]) {
    writeFileSync(file, String(stale));
    const marker = `${file}.stale-${stale}`;
    writeFileSync(marker, content);
    if (content === String(process.ppid)) {
      assert.throws(() => lock.acquire(), { code: 'LOCKED', message: /remove it/ });
      utimesSync(marker, past, past);
    } else if (content === '' || content === String(process.pid)) utimesSync(marker, past, past);
    lock.acquire();
    assert.equal(Number.parseInt(readFileSync(file, 'utf8'), 10), process.pid);
    lock.release();
    assert.deepEqual(readdirSync(dir), [], 'no lock, marker or temporary is left behind');
  }
});
