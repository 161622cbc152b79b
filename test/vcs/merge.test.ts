import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  decodeCommit,
  encodeCommit,
  hashChunk,
  idEquals,
  isShoalError,
  type ObjectId,
  signCommit,
  toHex,
} from '../../src/core/index.ts';
import {
  abortMerge,
  add,
  aheadBehind,
  continueMerge,
  createBranch,
  fsck,
  merge,
  mergeBase,
  readMergeState,
  status,
  switchBranch,
  writeMergeState,
  writeTrees,
} from '../../src/vcs/index.ts';
import { type Fixture, fixture, IDENTITY, noise } from './fixture.ts';

const who = { identity: IDENTITY, authorName: 'tester' };

async function rejects(p: Promise<unknown>, code: string): Promise<Record<string, unknown> | undefined> {
  try {
    await p;
  } catch (err) {
    assert.ok(isShoalError(err), `not a ShoalError: ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err.detail;
  }
  assert.fail(`expected ${code}`);
}

/** base on main; `feature` branched from it; each side then changed by the callbacks. */
async function diverge(
  f: Fixture,
  base: () => void,
  theirs: () => void,
  ours: () => void,
): Promise<{ base: ObjectId; theirs: ObjectId; ours: ObjectId }> {
  base();
  const b = await f.commitAll('base');
  await createBranch(f.repo, 'feature', b);
  await switchBranch(f.repo, 'feature');
  theirs();
  const t = await f.commitAll('theirs');
  await switchBranch(f.repo, 'main');
  ours();
  const o = await f.commitAll('ours');
  return { base: b, theirs: t, ours: o };
}

const read = (f: Fixture, p: string): string => readFileSync(join(f.dir, p), 'utf8');

test('fast-forward when HEAD is an ancestor; up to date the other way round', async (t) => {
  const f = fixture(t);
  f.write('a.txt', 'one\n');
  const base = await f.commitAll('base');
  await switchBranch(f.repo, 'feature', { create: true });
  f.write('a.txt', 'two\n');
  f.write('b.bin', noise(5000, 1));
  const tip = await f.commitAll('feature');
  await switchBranch(f.repo, 'main');
  assert.equal(read(f, 'a.txt'), 'one\n');
  const r = await merge(f.repo, tip, { name: 'feature', ...who });
  assert.equal(r.outcome, 'fast-forward');
  assert.ok(idEquals(f.repo.refs.get('refs/heads/main')!, tip));
  assert.equal(read(f, 'a.txt'), 'two\n');
  assert.ok(existsSync(join(f.dir, 'b.bin')));
  // The commit before the merge is in the reflog.
  const last = f.repo.refs.reflog('refs/heads/main', 1)[0]!;
  assert.ok(idEquals(last.old!, base));
  const again = await merge(f.repo, base, { name: 'base', ...who });
  assert.equal(again.outcome, 'up-to-date');
});

test('three-way merge by path: one-sided changes, identical changes, a two-parent commit', async (t) => {
  const f = fixture(t);
  const ids = await diverge(
    f,
    () => {
      f.write('ours.txt', 'o\n');
      f.write('theirs.bin', noise(3000, 2));
      f.write('both.txt', 'same\n');
      f.write('gone.txt', 'bye\n');
      f.write('dir/keep.txt', 'k\n');
    },
    () => {
      f.write('theirs.bin', noise(3000, 3));
      f.write('both.txt', 'changed alike\n');
      f.write('dir/new.txt', 'from feature\n');
    },
    () => {
      f.write('ours.txt', 'o2\n');
      f.write('both.txt', 'changed alike\n');
    },
  );
  // A deletion on our side is a change too.
  const { rm } = await import('../../src/vcs/index.ts');
  await rm(f.repo, { cwd: f.dir, paths: ['gone.txt'] });
  const ours = await f.commitAll('ours 2');
  assert.ok(idEquals(mergeBase(f.repo.objects, ours, ids.theirs)!, ids.base));

  const r = await merge(f.repo, ids.theirs, { name: 'feature', ...who });
  assert.equal(r.outcome, 'merged');
  assert.deepEqual(r.conflicts, []);
  const c = decodeCommit(f.repo.objects.read(r.head!, 'commit'));
  assert.deepEqual(c.parents.map(toHex), [toHex(ours), toHex(ids.theirs)]);
  assert.equal(c.message, "merge branch 'feature'");
  assert.equal(read(f, 'ours.txt'), 'o2\n');
  assert.deepEqual(readFileSync(join(f.dir, 'theirs.bin')), Buffer.from(noise(3000, 3)));
  assert.equal(read(f, 'both.txt'), 'changed alike\n');
  assert.equal(read(f, 'dir/new.txt'), 'from feature\n');
  assert.ok(!existsSync(join(f.dir, 'gone.txt')));
  const s = await status(f.repo);
  assert.deepEqual([s.staged, s.unstaged, s.untracked, s.conflicts], [[], [], [], []]);
  assert.deepEqual(fsck(f.repo).problems, []);
});

test('small text files changed in different places merge line by line', async (t) => {
  const f = fixture(t);
  const lines = (n: number, edit: Record<number, string>): string =>
    Array.from({ length: n }, (_, i) => `${edit[i] ?? `line ${i}`}\n`).join('');
  const ids = await diverge(
    f,
    () => f.write('notes.txt', lines(20, {})),
    () => f.write('notes.txt', lines(20, { 15: 'theirs' })),
    () => f.write('notes.txt', lines(20, { 2: 'ours' })),
  );
  const r = await merge(f.repo, ids.theirs, { name: 'feature', ...who });
  assert.equal(r.outcome, 'merged');
  assert.deepEqual(r.textMerged, ['notes.txt']);
  assert.equal(read(f, 'notes.txt'), lines(20, { 2: 'ours', 15: 'theirs' }));
  assert.deepEqual((await status(f.repo)).unstaged, []);
});

test('a text conflict gets markers; continue needs it edited and added', async (t) => {
  const f = fixture(t);
  const ids = await diverge(
    f,
    () => f.write('t.txt', 'a\nb\nc\n'),
    () => f.write('t.txt', 'a\ntheirs\nc\n'),
    () => f.write('t.txt', 'a\nours\nc\n'),
  );
  const r = await merge(f.repo, ids.theirs, { name: 'feature', ...who });
  assert.equal(r.outcome, 'conflicts');
  assert.deepEqual(r.conflicts, [{ path: 't.txt', reason: 'both-modified', markers: true, side: null }]);
  assert.equal(read(f, 't.txt'), 'a\n<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> feature\nc\n');
  assert.ok(idEquals(f.repo.refs.headCommit()!, ids.ours), 'HEAD does not move until continue');
  const s = await status(f.repo);
  assert.equal(s.merging, 'feature');
  assert.deepEqual(
    s.conflicts.map((c) => [c.path, c.resolved]),
    [['t.txt', false]],
  );
  assert.deepEqual((await rejects(continueMerge(f.repo, who), 'UNRESOLVED_CONFLICTS'))?.paths, ['t.txt']);
  await rejects(merge(f.repo, ids.theirs, { name: 'feature', ...who }), 'MERGE_IN_PROGRESS');
  await rejects(switchBranch(f.repo, 'feature'), 'MERGE_IN_PROGRESS');

  f.write('t.txt', 'a\nboth\nc\n');
  await rejects(continueMerge(f.repo, who), 'UNRESOLVED_CONFLICTS'); // edited but not added
  await add(f.repo, { cwd: f.dir, paths: ['t.txt'] });
  const done = await continueMerge(f.repo, who);
  const c = decodeCommit(f.repo.objects.read(done.head!, 'commit'));
  assert.equal(c.parents.length, 2);
  assert.equal(readMergeState(f.repo), undefined);
  assert.equal(read(f, 't.txt'), 'a\nboth\nc\n');
  await rejects(continueMerge(f.repo, who), 'NO_MERGE_IN_PROGRESS');
});

test('binary content is never text-merged: ours at the path, theirs beside it', async (t) => {
  const f = fixture(t);
  const ids = await diverge(
    f,
    () => f.write('model.bin', noise(200_000, 1)),
    () => f.write('model.bin', noise(200_000, 2)),
    () => f.write('model.bin', noise(200_000, 3)),
  );
  const r = await merge(f.repo, ids.theirs, { name: 'team/feature', ...who });
  assert.deepEqual(r.conflicts, [
    { path: 'model.bin', reason: 'both-modified', markers: false, side: 'model.bin~team_feature' },
  ]);
  assert.deepEqual(readFileSync(join(f.dir, 'model.bin')), Buffer.from(noise(200_000, 3)));
  assert.deepEqual(readFileSync(join(f.dir, 'model.bin~team_feature')), Buffer.from(noise(200_000, 2)));
  const s = await status(f.repo);
  assert.deepEqual(s.untracked, ['model.bin~team_feature']);
  // Take theirs: move it over ours, stage it.
  const { renameSync } = await import('node:fs');
  renameSync(join(f.dir, 'model.bin~team_feature'), join(f.dir, 'model.bin'));
  await rejects(continueMerge(f.repo, who), 'UNRESOLVED_CONFLICTS');
  await add(f.repo, { cwd: f.dir, paths: ['model.bin'] });
  await continueMerge(f.repo, who);
  assert.deepEqual(readFileSync(join(f.dir, 'model.bin')), Buffer.from(noise(200_000, 2)));
  assert.deepEqual(fsck(f.repo).problems, []);
});

test('modify/delete conflicts both ways; removing the side file keeps the deletion', async (t) => {
  const f = fixture(t);
  const { rm } = await import('../../src/vcs/index.ts');
  const ids = await diverge(
    f,
    () => {
      f.write('a.txt', 'a\n');
      f.write('b.txt', 'b\n');
    },
    () => {
      f.write('a.txt', 'a theirs\n');
    },
    () => {},
  );
  // ours: delete a.txt, modify b.txt; theirs (above): modify a.txt. Then theirs deletes b.txt.
  await rm(f.repo, { cwd: f.dir, paths: ['a.txt'] });
  f.write('b.txt', 'b ours\n');
  await f.commitAll('ours');
  await switchBranch(f.repo, 'feature');
  await rm(f.repo, { cwd: f.dir, paths: ['b.txt'] });
  const theirs = await f.commitAll('theirs deletes b');
  await switchBranch(f.repo, 'main');
  void ids;
  const r = await merge(f.repo, theirs, { name: 'feature', ...who });
  assert.deepEqual(
    r.conflicts.map((c) => [c.path, c.reason, c.side]),
    [
      ['a.txt', 'deleted-by-us', 'a.txt~feature'],
      ['b.txt', 'deleted-by-them', null],
    ],
  );
  assert.equal(read(f, 'b.txt'), 'b ours\n');
  assert.ok(!existsSync(join(f.dir, 'a.txt')));
  assert.equal(read(f, 'a.txt~feature'), 'a theirs\n');
  const unresolved = async (): Promise<string[]> =>
    (await status(f.repo)).conflicts.filter((c) => !c.resolved).map((c) => c.path);
  assert.deepEqual(await unresolved(), ['a.txt', 'b.txt']);
  // Keep our deletion of a.txt (drop their side file); keep our b.txt (add it back).
  const { rmSync } = await import('node:fs');
  rmSync(join(f.dir, 'a.txt~feature'));
  await add(f.repo, { cwd: f.dir, paths: ['b.txt'] });
  assert.deepEqual(await unresolved(), []);
  const done = await continueMerge(f.repo, who);
  assert.equal(done.outcome, 'merged');
  assert.equal(read(f, 'b.txt'), 'b ours\n');
});

test('abort restores the pre-merge tree and removes side files', async (t) => {
  const f = fixture(t);
  const ids = await diverge(
    f,
    () => {
      f.write('t.txt', 'a\nb\nc\n');
      f.write('m.bin', noise(1000, 1));
    },
    () => {
      f.write('t.txt', 'a\ntheirs\nc\n');
      f.write('m.bin', noise(1000, 2));
      f.write('new/file.txt', 'new\n');
    },
    () => {
      f.write('t.txt', 'a\nours\nc\n');
      f.write('m.bin', noise(1000, 3));
    },
  );
  f.write('untouched-local.txt', 'mine\n'); // untracked: must survive
  await merge(f.repo, ids.theirs, { name: 'feature', ...who });
  assert.ok(existsSync(join(f.dir, 'new/file.txt')));
  const r = await abortMerge(f.repo);
  assert.ok(r.removed.includes('m.bin~feature'));
  assert.equal(read(f, 't.txt'), 'a\nours\nc\n');
  assert.deepEqual(readFileSync(join(f.dir, 'm.bin')), Buffer.from(noise(1000, 3)));
  assert.ok(!existsSync(join(f.dir, 'new')));
  assert.equal(read(f, 'untouched-local.txt'), 'mine\n');
  const s = await status(f.repo);
  assert.deepEqual(
    [s.staged, s.unstaged, s.untracked, s.conflicts, s.merging],
    [[], [], ['untouched-local.txt'], [], null],
  );
  assert.ok(idEquals(f.repo.refs.headCommit()!, ids.ours));
  await rejects(abortMerge(f.repo), 'NO_MERGE_IN_PROGRESS');
});

test('a dirty working tree is never overwritten: the merge refuses with the paths at risk', async (t) => {
  const f = fixture(t);
  const ids = await diverge(
    f,
    () => {
      f.write('t.txt', 'a\nb\nc\n');
      f.write('x.txt', 'x\n');
    },
    () => {
      f.write('t.txt', 'a\ntheirs\nc\n');
      f.write('x.txt', 'x theirs\n');
    },
    () => f.write('t.txt', 'a\nours\nc\n'),
  );
  f.write('t.txt', 'local edit\n'); // would be overwritten by conflict markers
  f.write('x.txt', 'local edit\n'); // would be overwritten by theirs
  const detail = await rejects(merge(f.repo, ids.theirs, { name: 'feature', ...who }), 'DIRTY_WORKTREE');
  assert.deepEqual(detail?.paths, ['t.txt', 'x.txt']);
  assert.equal(read(f, 't.txt'), 'local edit\n');
  assert.equal(readMergeState(f.repo), undefined);
  // Staged changes block a three-way merge too.
  f.write('t.txt', 'a\nours\nc\n');
  f.write('x.txt', 'x\n');
  f.write('staged.txt', 's\n');
  await add(f.repo, { cwd: f.dir, paths: ['staged.txt'] });
  assert.deepEqual(
    (await rejects(merge(f.repo, ids.theirs, { name: 'feature', ...who }), 'DIRTY_WORKTREE'))?.paths,
    ['staged.txt'],
  );
});

test('mode changes merge independently of content', async (t) => {
  const f = fixture(t);
  const ids = await diverge(
    f,
    () => {
      f.write('run.sh', 'echo 1\n');
      f.write('tool.bin', noise(2000, 1));
    },
    () => {
      chmodSync(join(f.dir, 'run.sh'), 0o755);
      chmodSync(join(f.dir, 'tool.bin'), 0o755);
    },
    () => {
      f.write('run.sh', 'echo 2\n');
      f.write('tool.bin', noise(2000, 2));
    },
  );
  const r = await merge(f.repo, ids.theirs, { name: 'feature', ...who });
  assert.equal(r.outcome, 'merged');
  assert.equal(read(f, 'run.sh'), 'echo 2\n');
  assert.ok(statSync(join(f.dir, 'run.sh')).mode & 0o100);
  assert.deepEqual(readFileSync(join(f.dir, 'tool.bin')), Buffer.from(noise(2000, 2)));
  assert.ok(statSync(join(f.dir, 'tool.bin')).mode & 0o100);
});

test('a file of theirs where ours has a directory is a conflict, theirs put beside', async (t) => {
  const f = fixture(t);
  const ids = await diverge(
    f,
    () => f.write('keep.txt', 'k\n'),
    () => f.write('data', 'a file\n'),
    () => f.write('data/inner.txt', 'in a dir\n'),
  );
  const r = await merge(f.repo, ids.theirs, { name: 'feature', ...who });
  assert.deepEqual(
    r.conflicts.map((c) => [c.path, c.reason, c.side]),
    [['data', 'file-directory', 'data~feature']],
  );
  assert.equal(read(f, 'data/inner.txt'), 'in a dir\n');
  assert.equal(read(f, 'data~feature'), 'a file\n');
});

test('an interrupted merge (state recorded, tree half written) can only be aborted', async (t) => {
  const f = fixture(t);
  const ids = await diverge(
    f,
    () => f.write('a.txt', 'a\n'),
    () => f.write('b.txt', 'b\n'),
    () => f.write('c.txt', 'c\n'),
  );
  // What a crash right after the state was written and one file was written leaves behind.
  writeMergeState(f.repo, {
    theirs: toHex(ids.theirs),
    name: 'feature',
    orig: toHex(ids.ours),
    message: 'm',
    conflicts: [],
    phase: 'applying',
    time: Date.now(),
  });
  writeFileSync(join(f.dir, 'b.txt'), 'b\n');
  await rejects(continueMerge(f.repo, who), 'UNRESOLVED_CONFLICTS');
  await abortMerge(f.repo);
  assert.ok(!existsSync(join(f.dir, 'b.txt')));
  const s = await status(f.repo);
  assert.deepEqual([s.staged, s.unstaged, s.untracked], [[], [], []]);
});

test('a merge commit made just before a crash is recognised by continue and undone by abort', async (t) => {
  const f = fixture(t);
  const ids = await diverge(
    f,
    () => f.write('a.txt', 'a\n'),
    () => f.write('b.txt', 'b\n'),
    () => f.write('c.txt', 'c\n'),
  );
  const r = await merge(f.repo, ids.theirs, { name: 'feature', ...who });
  const state = {
    theirs: toHex(ids.theirs),
    name: 'feature',
    orig: toHex(ids.ours),
    message: 'm',
    conflicts: [],
    phase: 'applying' as const,
    time: Date.now(),
  };
  writeMergeState(f.repo, state); // as if the crash hit before the state was cleared
  assert.ok(idEquals((await continueMerge(f.repo, who)).head!, r.head!));
  assert.equal(readMergeState(f.repo), undefined);
  writeMergeState(f.repo, state);
  await abortMerge(f.repo);
  assert.ok(idEquals(f.repo.refs.headCommit()!, ids.ours));
  assert.ok(!existsSync(join(f.dir, 'b.txt')));
});

test('aheadBehind counts what each side has that the other has not, walking only where they differ', async (t) => {
  const f = fixture(t);
  f.write('a', '0\n');
  const base = await f.commitAll('base');
  const mine: ObjectId[] = [];
  for (let i = 1; i <= 3; i++) {
    f.write('a', `${i}\n`);
    mine.push(await f.commitAll(`mine ${i}`));
  }
  await createBranch(f.repo, 'other', base);
  await switchBranch(f.repo, 'other');
  f.write('b', 'x\n');
  const theirs = await f.commitAll('theirs');
  assert.deepEqual(aheadBehind(f.repo.objects, mine[2]!, theirs), { ahead: 3, behind: 1, exact: true });
  assert.deepEqual(aheadBehind(f.repo.objects, theirs, mine[2]!), { ahead: 1, behind: 3, exact: true });
  assert.deepEqual(aheadBehind(f.repo.objects, mine[2]!, base), { ahead: 3, behind: 0, exact: true });
  assert.deepEqual(aheadBehind(f.repo.objects, base, base), { ahead: 0, behind: 0, exact: true });
  // Bounded: past the limit the counts are lower bounds.
  assert.equal(aheadBehind(f.repo.objects, mine[2]!, theirs, 2).exact, false);
});

test('histories that share no commit are merged only when asked to', async (t) => {
  const f = fixture(t);
  f.write('a.txt', 'ours\n');
  const ours = await f.commitAll('ours');
  // A second root: a commit with the same author and another tree, and no parent.
  const session = await f.repo.objects.beginSession();
  const bytes = Buffer.from('theirs\n');
  await session.putChunk(hashChunk(bytes), bytes);
  const tree = await writeTrees(session, [
    { path: 'b.txt', kind: 'file', executable: false, size: bytes.length, id: hashChunk(bytes), height: 0 },
  ]);
  const c = decodeCommit(f.repo.objects.read(ours, 'commit'));
  const root = encodeCommit(signCommit(IDENTITY.seed, { ...c, tree: tree.id, parents: [] }));
  await session.putObject(root);
  await session.close();
  await rejects(merge(f.repo, root.id, { ...who, name: 'other' }), 'UNRELATED_HISTORIES');
  assert.ok(idEquals(f.repo.refs.headCommit()!, ours), 'nothing moved');
  const r = await merge(f.repo, root.id, { ...who, name: 'other', allowUnrelated: true });
  assert.equal(r.outcome, 'merged');
  assert.equal(readFileSync(join(f.dir, 'b.txt'), 'utf8'), 'theirs\n');
});
