import assert from 'node:assert/strict';
import { readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeCommit, idEquals, toHex } from '../../src/core/index.ts';
import { Repository } from '../../src/store/index.ts';
import {
  add,
  checkout,
  commitTree,
  contentChunks,
  createBranch,
  createTag,
  deleteBranch,
  fsck,
  gc,
  lookup,
  merge,
  parseGrace,
  switchBranch,
} from '../../src/vcs/index.ts';
import { fixture, IDENTITY, noise } from './fixture.ts';

const DAY = 86_400_000;
const packs = (dir: string): string[] => readdirSync(join(dir, '.shoal', 'packs')).sort();

function fileBytes(repo: Repository, commit: Uint8Array, path: string): Buffer {
  const e = lookup(repo.objects, commitTree(repo.objects, commit), path)!;
  return Buffer.concat([...contentChunks(repo.objects, e)]);
}

test('grace periods parse', () => {
  assert.equal(parseGrace('now'), 0);
  assert.equal(parseGrace('14d'), 14 * DAY);
  assert.equal(parseGrace('12h'), 12 * 3_600_000);
  assert.equal(parseGrace('2w'), 14 * DAY);
  assert.throws(() => parseGrace('soon'), { code: 'INVALID_ARGUMENT' });
});

test('gc keeps what branches, tags, HEAD, the index and a merge reach; drops the rest', async (t) => {
  const f = fixture(t);
  f.write('base.bin', noise(300_000, 1));
  const base = await f.commitAll('base');
  // A tag on a commit no branch reaches.
  await switchBranch(f.repo, 'tagged', { create: true });
  f.write('tagged.bin', noise(100_000, 2));
  const tagged = await f.commitAll('tagged');
  await createTag(f.repo, 'v1', tagged);
  await switchBranch(f.repo, 'main');
  await deleteBranch(f.repo, 'tagged', { force: true });
  // A detached HEAD.
  f.write('detached.bin', noise(100_000, 3));
  await switchBranch(f.repo, 'side', { create: true });
  const detached = await f.commitAll('detached');
  await checkout(f.repo, detached);
  await deleteBranch(f.repo, 'side', { force: true });
  // Garbage: a commit left behind on a detached HEAD.
  await checkout(f.repo, base);
  f.write('junk.bin', noise(100_000, 5));
  const junk = await f.commitAll('junk');
  await checkout(f.repo, detached);
  // Staged content no commit has.
  f.write('staged.bin', noise(100_000, 4));
  await add(f.repo, { cwd: f.dir, paths: ['staged.bin'] });
  const before = f.repo.objects.totals();

  const r = await gc(f.repo, { graceMs: 0 });
  assert.ok(r.objectsRemoved > 0);
  assert.ok(!f.repo.objects.has(junk), 'the unreachable commit is gone');
  assert.ok(f.repo.objects.totals().objects < before.objects);
  assert.deepEqual(fsck(f.repo).problems, []);
  assert.deepEqual(fileBytes(f.repo, tagged, 'tagged.bin'), Buffer.from(noise(100_000, 2)));
  assert.deepEqual(fileBytes(f.repo, detached, 'detached.bin'), Buffer.from(noise(100_000, 3)));
  const staged = f.repo.staging.get('staged.bin')!;
  assert.deepEqual(Buffer.concat([...contentChunks(f.repo.objects, staged)]), Buffer.from(noise(100_000, 4)));
  assert.ok(f.repo.objects.has(base));
});

test('a deleted branch stays recoverable for the grace period; --prune=now ends it', async (t) => {
  const f = fixture(t);
  f.write('a.txt', 'a\n');
  await f.commitAll('base');
  await switchBranch(f.repo, 'experiment', { create: true });
  f.write('big.bin', noise(400_000, 5));
  const tip = await f.commitAll('experiment', Date.now() - 30 * DAY); // old enough not to count as recent
  await switchBranch(f.repo, 'main');
  const deleted = await deleteBranch(f.repo, 'experiment', { force: true });
  assert.ok(idEquals(deleted.id, tip));

  const kept = await gc(f.repo, {});
  assert.equal(kept.objectsRemoved, 0);
  assert.ok(f.repo.objects.has(tip));
  // Recover it from the reflog.
  const entry = f.repo.refs.reflog('refs/heads/experiment', 1)[0]!;
  assert.ok(idEquals(entry.old!, tip));
  await createBranch(f.repo, 'experiment', entry.old!);
  await deleteBranch(f.repo, 'experiment', { force: true });

  // After the grace period (simulated clock) a plain gc drops it, as --prune=now does at once.
  const later = await gc(f.repo, { now: Date.now() + 15 * DAY });
  assert.ok(later.objectsRemoved > 0);
  assert.ok(!f.repo.objects.has(tip));
  assert.ok(later.reflogExpired > 0);
  assert.deepEqual(fsck(f.repo).problems, []);
});

test('the commit before a merge and both sides of a merge in progress are kept', async (t) => {
  const f = fixture(t);
  f.write('t.txt', 'a\nb\nc\n');
  await f.commitAll('base');
  await switchBranch(f.repo, 'feature', { create: true });
  f.write('t.txt', 'a\ntheirs\nc\n');
  f.write('theirs.bin', noise(50_000, 9));
  const theirs = await f.commitAll('theirs');
  await switchBranch(f.repo, 'main');
  f.write('t.txt', 'a\nours\nc\n');
  await f.commitAll('ours');
  await deleteBranch(f.repo, 'feature', { force: true });
  const r = await merge(f.repo, theirs, { name: 'feature', identity: IDENTITY, authorName: 't' });
  assert.equal(r.outcome, 'conflicts');
  f.repo.db.exec('DELETE FROM reflog'); // only the merge state protects theirs now
  await gc(f.repo, { graceMs: 0 });
  assert.ok(f.repo.objects.has(theirs));
  assert.deepEqual(fileBytes(f.repo, theirs, 'theirs.bin'), Buffer.from(noise(50_000, 9)));
});

test('recent commits left behind on a detached HEAD survive a normal gc', async (t) => {
  const f = fixture(t);
  f.write('a.txt', 'a\n');
  const base = await f.commitAll('base');
  await checkout(f.repo, base);
  f.write('b.txt', 'b\n');
  const lost = await f.commitAll('on detached head', Date.now());
  await checkout(f.repo, base, { attach: 'main' });
  await gc(f.repo, {});
  assert.ok(f.repo.objects.has(lost));
  await gc(f.repo, { graceMs: 0 });
  assert.ok(!f.repo.objects.has(lost));
});

test('packs with little live data are rewritten; dry run changes nothing', async (t) => {
  const f = fixture(t);
  f.write('keep.bin', noise(200_000, 1));
  await f.commitAll('keep');
  for (let i = 0; i < 3; i++) {
    f.write('churn.bin', noise(500_000, 10 + i));
    await f.commitAll(`churn ${i}`);
  }
  const { rm } = await import('../../src/vcs/index.ts');
  await rm(f.repo, { cwd: f.dir, paths: ['churn.bin'] });
  const tip = await f.commitAll('no churn');
  // Rewrite history: main becomes a parentless copy of the last commit, so the churn is garbage.
  const { signCommit, encodeCommit } = await import('../../src/core/index.ts');
  const c = decodeCommit(f.repo.objects.read(tip, 'commit'));
  const orphan = encodeCommit(signCommit(IDENTITY.seed, { ...c, parents: [] }));
  const session = await f.repo.objects.beginSession();
  await session.putObject(orphan);
  await session.close();
  f.repo.refs.update('refs/heads/main', orphan.id, 'test');
  f.repo.db.exec('DELETE FROM reflog');

  const packsBefore = packs(f.dir);
  const totals = f.repo.objects.totals();
  const dry = await gc(f.repo, { graceMs: 0, dryRun: true });
  assert.ok(dry.bytesReclaimed > 1_000_000);
  assert.deepEqual(packs(f.dir), packsBefore);
  assert.deepEqual(f.repo.objects.totals(), totals);

  const r = await gc(f.repo, { graceMs: 0 });
  assert.equal(r.objectsRemoved, dry.objectsRemoved);
  assert.ok(r.bytesReclaimed > 1_000_000, `reclaimed ${r.bytesReclaimed}`);
  assert.notDeepEqual(packs(f.dir), packsBefore);
  assert.deepEqual(fsck(f.repo).problems, []);
  assert.deepEqual(fileBytes(f.repo, orphan.id, 'keep.bin'), Buffer.from(noise(200_000, 1)));
  // A second gc finds nothing more to do.
  const again = await gc(f.repo, { graceMs: 0 });
  assert.equal(again.objectsRemoved, 0);
  assert.equal(again.packsRewritten, 0);
});

test('a reader with its own connection keeps reading through a gc that replaces its pack', async (t) => {
  const f = fixture(t);
  f.write('keep.bin', noise(300_000, 1));
  f.write('drop.bin', noise(600_000, 2));
  const first = await f.commitAll('both');
  const { rm } = await import('../../src/vcs/index.ts');
  await rm(f.repo, { cwd: f.dir, paths: ['drop.bin'] });
  const second = await f.commitAll('keep only');
  const reader = Repository.open(f.dir);
  t.after(() => reader.close());
  const keep = lookup(reader.objects, commitTree(reader.objects, second), 'keep.bin')!;
  const expected = Buffer.from(noise(300_000, 1));
  assert.deepEqual(Buffer.concat([...contentChunks(reader.objects, keep)]), expected); // fd now cached

  // Drop the first commit (and drop.bin) so the first pack is mostly dead and gets rewritten.
  const { signCommit, encodeCommit } = await import('../../src/core/index.ts');
  const c = decodeCommit(f.repo.objects.read(second, 'commit'));
  const orphan = encodeCommit(signCommit(IDENTITY.seed, { ...c, parents: [] }));
  const s = await f.repo.objects.beginSession();
  await s.putObject(orphan);
  await s.close();
  f.repo.refs.update('refs/heads/main', orphan.id, 'test');
  f.repo.db.exec('DELETE FROM reflog');
  const oldPacks = packs(f.dir);
  const r = await gc(f.repo, { graceMs: 0 });
  assert.ok(r.packsRewritten > 0);
  assert.ok(!f.repo.objects.has(first));
  assert.ok(
    oldPacks.some((p) => !packs(f.dir).includes(p)),
    'an old pack file was unlinked',
  );

  // The open fd still reads the unlinked pack; fresh lookups find the new one.
  assert.deepEqual(Buffer.concat([...contentChunks(reader.objects, keep)]), expected);
  const fresh = Repository.open(f.dir);
  t.after(() => fresh.close());
  assert.deepEqual(Buffer.concat([...contentChunks(fresh.objects, keep)]), expected);

  // A cached fd whose pack file was replaced under the same name: the read notices the record
  // does not match and retries with a fresh lookup.
  const current = packs(f.dir);
  const newest = current[current.length - 1]!;
  const oldName = oldPacks[0]!;
  const oldNumber = Number(/(\d+)/.exec(oldName)![1]);
  const newNumber = Number(/(\d+)/.exec(newest)![1]);
  renameSync(join(f.dir, '.shoal', 'packs', newest), join(f.dir, '.shoal', 'packs', oldName));
  f.repo.db.prepare('UPDATE objects SET pack = ? WHERE pack = ?').run(oldNumber, newNumber);
  f.repo.db.prepare('UPDATE packs SET id = ? WHERE id = ?').run(oldNumber, newNumber);
  assert.deepEqual(Buffer.concat([...contentChunks(reader.objects, keep)]), expected);
  assert.equal(toHex(keep.id).length, 64);
});
