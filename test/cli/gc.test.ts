// End to end: gc through the CLI, kill -9 at several points of a gc, and gc while another
// process reads the repository.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { type FSWatcher, readdirSync, watch } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { shoalSpawn } from '../helpers.ts';
import { newRepo, randomFile, type TestRepo } from './repo-helpers.ts';

interface GcResult {
  dryRun: boolean;
  objectsRemoved: number;
  bytesRemoved: number;
  packsRewritten: number;
  bytesReclaimed: number;
}

const MiB = 1 << 20;

/** A repository whose pack is mostly garbage: a big file on a branch that was deleted. */
function withGarbage(r: TestRepo, name: string, size: number): void {
  r.ok(['switch', '-c', name]);
  randomFile(r.path(`${name}.bin`), size);
  r.commit(`${name} garbage`);
  r.ok(['switch', 'main']);
  r.ok(['branch', '-D', name]);
}

const packFiles = (r: TestRepo): string[] => readdirSync(r.path('.shoal/packs')).sort();

test('gc reports what it drops; --dry-run changes nothing; the grace period protects', (t) => {
  const r = newRepo(t);
  randomFile(r.path('keep.bin'), 2 * MiB);
  r.commit('keep');
  withGarbage(r, 'junk', 4 * MiB);
  const before = packFiles(r);
  const graceful = r.j<GcResult>(['gc']);
  assert.equal(graceful.objectsRemoved, 0);
  const dry = r.j<GcResult>(['gc', '--dry-run', '--prune=now']);
  assert.equal(dry.dryRun, true);
  assert.ok(dry.bytesRemoved >= 4 * MiB);
  assert.deepEqual(packFiles(r), before);
  const real = r.j<GcResult>(['gc', '--prune=now']);
  assert.equal(real.objectsRemoved, dry.objectsRemoved);
  assert.ok(real.bytesReclaimed >= 4 * MiB, `reclaimed ${real.bytesReclaimed}`);
  assert.notDeepEqual(packFiles(r), before);
  assert.match(r.ok(['gc', '--prune=now']).stdout, /^0 unreachable objects/);
  assert.deepEqual(r.j<{ problems: unknown[] }>(['fsck']).problems, []);
  // A bad --prune is misuse (exit 2); a bad gc.grace in the config is a failure (exit 1), and
  // does not matter when --prune is given.
  r.fails(['gc', '--prune=sometime'], 'USAGE', 2);
  r.fails(['gc', '--prune=-5d'], 'USAGE', 2);
  r.ok(['config', 'gc.grace', 'sometime']);
  r.fails(['gc'], 'INVALID_ARGUMENT', 1);
  assert.match(r.ok(['gc', '--prune=now']).stdout, /^0 unreachable objects/);
});

test('gc --aggressive rewrites a pack that is mostly live, which plain gc leaves; stats shows the difference', (t) => {
  const r = newRepo(t);
  randomFile(r.path('keep.bin'), 4 * MiB);
  r.commit('keep');
  withGarbage(r, 'junk', MiB / 2); // a ninth of the pack: over 80 % of it stays live
  const plain = r.j<GcResult>(['gc', '--prune=now']);
  assert.ok(plain.objectsRemoved > 0);
  assert.deepEqual([plain.packsRewritten, plain.bytesReclaimed], [0, 0]);
  type Stats = { storedBytes: number; packBytes: number };
  const before = r.j<Stats>(['stats']);
  assert.ok(before.packBytes - before.storedBytes >= MiB / 2, JSON.stringify(before));
  // A later gc still sees the dead bytes: --aggressive takes them back.
  const dry = r.j<GcResult>(['gc', '--prune=now', '--aggressive', '--dry-run']);
  assert.ok(dry.bytesReclaimed >= MiB / 2, `would reclaim ${dry.bytesReclaimed}`);
  const hard = r.j<GcResult>(['gc', '--prune=now', '--aggressive']);
  assert.equal(hard.packsRewritten, 1);
  assert.ok(hard.bytesReclaimed >= MiB / 2, `reclaimed ${hard.bytesReclaimed}`);
  const after = r.j<Stats>(['stats']);
  assert.ok(after.packBytes - after.storedBytes < 64, JSON.stringify(after));
  assert.deepEqual(r.j<{ problems: unknown[] }>(['fsck']).problems, []);
  // Nothing dead left: an aggressive gc then rewrites nothing.
  assert.equal(r.j<GcResult>(['gc', '--prune=now', '--aggressive']).packsRewritten, 0);
});

/** Start `shoal gc --prune=now` and kill -9 it at the `events`-th change seen in the pack directory. */
async function killMidGc(r: TestRepo, events: number): Promise<boolean> {
  const child = shoalSpawn(['gc', '--prune=now'], { cwd: r.dir, configDir: r.configDir });
  let watcher: FSWatcher | undefined;
  let killed = false;
  await new Promise<void>((resolve) => {
    let seen = 0;
    watcher = watch(r.path('.shoal/packs'), () => {
      if (++seen >= events && !killed) killed = child.kill('SIGKILL');
    });
    child.on('exit', (_code, signal) => {
      killed = signal === 'SIGKILL';
      resolve();
    });
  });
  watcher?.close();
  return killed;
}

test('kill -9 during gc at several points: the repository opens, fsck passes, nothing reachable is lost', async (t) => {
  const r = newRepo(t);
  const keep = randomFile(r.path('keep.bin'), 24 * MiB);
  r.commit('keep');
  let kills = 0;
  for (const [round, events] of [1, 2, 4, 8, 16].entries()) {
    withGarbage(r, `junk${round}`, 8 * MiB);
    if (await killMidGc(r, events)) kills++;
    // Opening for reading works as it is; fsck verifies every indexed object and what is reachable.
    assert.deepEqual(r.j<{ problems: unknown[] }>(['fsck']).problems, []);
    const cat = r.ok(['cat', 'HEAD:keep.bin']).stdoutBytes;
    assert.equal(createHash('sha256').update(cat).digest('hex'), keep);
  }
  assert.ok(kills > 0, 'at least one gc was killed before it finished');
  // The next gc (taking the lock runs recovery) finishes the job and leaves no stray pack files.
  r.j<GcResult>(['gc', '--prune=now']);
  assert.deepEqual(r.j<{ problems: unknown[] }>(['fsck']).problems, []);
  const listed = r.j<{ objects: number }>(['stats']);
  assert.ok(listed.objects > 0);
  const total = packFiles(r).length;
  assert.ok(total <= 2, `packs left: ${packFiles(r).join(', ')}`);
});

test('gc while another process reads: the reader gets every byte', async (t) => {
  const r = newRepo(t);
  const keep = randomFile(r.path('keep.bin'), 48 * MiB);
  r.commit('keep');
  for (let round = 0; round < 2; round++) {
    withGarbage(r, `junk${round}`, 48 * MiB);
    const reader = shoalSpawn(['cat', 'HEAD:keep.bin'], { cwd: r.dir, configDir: r.configDir });
    const hash = createHash('sha256');
    reader.stdout.on('data', (b: Buffer) => hash.update(b));
    const readerDone = new Promise<number | null>((resolve) => reader.on('exit', (code) => resolve(code)));
    // Once the reader has its first bytes, stop draining its output: it blocks mid-file, holding
    // what it has looked up and opened, while gc rewrites and unlinks the pack under it.
    const gcStatus = await new Promise<number | null>((resolve) => {
      reader.stdout.once('data', () => {
        reader.stdout.pause();
        const gc = shoalSpawn(['gc', '--prune=now'], { cwd: r.dir, configDir: r.configDir });
        gc.on('exit', (code) => {
          reader.stdout.resume();
          resolve(code);
        });
      });
    });
    assert.equal(gcStatus, 0);
    assert.equal(await readerDone, 0);
    assert.equal(hash.digest('hex'), keep);
  }
  assert.deepEqual(r.j<{ problems: unknown[] }>(['fsck']).problems, []);
});

test("gc keeps the repository's identity; fsck reports it when it is missing", (t) => {
  const repo = newRepo(t);
  repo.write('a.txt', 'a\n');
  repo.commit('a');
  const id = repo.j<{ id: string }>(['info']).id; // the identity is made here
  for (const args of [['gc'], ['gc', '--prune=now']]) {
    repo.ok(args);
    assert.equal(repo.j<{ id: string }>(['info']).id, id, args.join(' '));
  }
  assert.equal(repo.j<{ ok: boolean }>(['fsck']).ok, true);
  // Its object gone (as gc used to drop it): fsck says so.
  const db = new DatabaseSync(repo.path('.shoal/index.db'));
  db.prepare('DELETE FROM objects WHERE id = ?').run(Buffer.from(id, 'hex'));
  db.close();
  const r = repo.run(['fsck', '--json']);
  assert.equal(r.status, 1);
  assert.ok(
    JSON.parse(r.stdout).problems.some((p: { problem: string }) =>
      /identity document is missing/.test(p.problem),
    ),
    r.stdout,
  );
  // This user's own identity is made again, the same bytes, by the next command that needs it.
  assert.equal(repo.j<{ id: string }>(['info']).id, id);
  assert.equal(repo.j<{ ok: boolean }>(['fsck']).ok, true);
});
