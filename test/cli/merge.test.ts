// End to end: merge through the CLI, conflicts in status, log --graph, and kill -9 mid-merge.

import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  type FSWatcher,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { shoalSpawn, tempDir } from '../helpers.ts';
import { asAnotherUser, newRepo, randomFile, sha256, type TestRepo } from './repo-helpers.ts';

interface Status {
  merging: string | null;
  conflicts: { path: string; reason: string; side: string | null; resolved: boolean }[];
  staged: unknown[];
  unstaged: unknown[];
  untracked: string[];
}

type Files = Record<string, string | Buffer>;

/** A base commit, then `feature` and `main` each writing their files over it and committing; on main. */
function diverge(r: TestRepo, base: Files, theirs: Files, ours: Files): void {
  const put = (files: Files): void => {
    for (const [path, content] of Object.entries(files)) r.write(path, content);
  };
  put(base);
  r.commit('base');
  r.ok(['switch', '-c', 'feature']);
  put(theirs);
  r.commit('theirs');
  r.ok(['switch', 'main']);
  put(ours);
  r.commit('ours');
}

/** Content that is not text (it holds NUL bytes). */
const binary = (n: number): Buffer => Buffer.concat([Buffer.alloc(8), Buffer.alloc(5000, n)]);

test('merging a branch that does not exist fails cleanly', (t) => {
  const r = newRepo(t);
  r.write('a.txt', 'a\n');
  r.commit('base');
  r.fails(['merge', 'no-such-branch'], 'UNKNOWN_REV');
  r.fails(['merge', '--continue'], 'NO_MERGE_IN_PROGRESS');
  r.fails(['merge', '--abort'], 'NO_MERGE_IN_PROGRESS');
  assert.equal(r.run(['merge']).status, 2);
  assert.equal(r.run(['merge', '--continue', '--abort']).status, 2);
});

test('conflicts through the CLI: exit 1, status lists them, commit concludes the merge; log --graph', (t) => {
  const r = newRepo(t);
  diverge(
    r,
    { 't.txt': 'a\nb\nc\n', 'm.bin': binary(1) },
    { 't.txt': 'a\ntheirs\nc\n', 'm.bin': binary(2) },
    { 't.txt': 'a\nours\nc\n', 'm.bin': binary(3) },
  );

  const m = r.run(['merge', 'feature', '--json']);
  assert.equal(m.status, 1);
  const out = JSON.parse(m.stdout) as { outcome: string; conflicts: { path: string; side: string | null }[] };
  assert.equal(out.outcome, 'conflicts');
  assert.deepEqual(
    out.conflicts.map((c) => [c.path, c.side]),
    [
      ['m.bin', 'm.bin~feature'],
      ['t.txt', null],
    ],
  );
  const s = r.j<Status>(['status']);
  assert.equal(s.merging, 'feature');
  assert.deepEqual(
    s.conflicts.map((c) => [c.path, c.reason, c.resolved]),
    [
      ['m.bin', 'both-modified', false],
      ['t.txt', 'both-modified', false],
    ],
  );
  assert.match(r.ok(['status']).stdout, /unmerged paths:\n {2}both-modified +m\.bin/);
  r.fails(['commit', '-m', 'too early'], 'UNRESOLVED_CONFLICTS');
  r.fails(['switch', 'feature'], 'MERGE_IN_PROGRESS');
  r.fails(['checkout', 'feature'], 'MERGE_IN_PROGRESS');

  r.write('t.txt', 'a\nours and theirs\nc\n');
  renameSync(r.path('m.bin~feature'), r.path('m.bin'));
  r.ok(['add', 't.txt', 'm.bin']);
  assert.ok(r.j<Status>(['status']).conflicts.every((c) => c.resolved));
  const made = r.j<{ id: string; parents: string[]; branch: string | null }>([
    'commit',
    '-m',
    'merged by hand',
  ]);
  assert.equal(made.parents.length, 2);
  assert.equal(made.branch, 'main'); // as for any commit, and the summary line names it too
  // A merge's parents by number, as in git: ^2 is the side merged in.
  const idOf = (rev: string): string => r.j<{ id: string }>(['show', rev]).id;
  assert.deepEqual(['HEAD^', 'HEAD^1', 'HEAD^2', 'HEAD^0', 'HEAD^2~0'].map(idOf), [
    made.parents[0],
    made.parents[0],
    made.parents[1],
    made.id,
    made.parents[1],
  ]);
  assert.match(r.fails(['show', 'HEAD^3'], 'UNKNOWN_REV').stderr, /has no parent 3/);
  assert.equal(r.j<Status>(['status']).merging, null);
  assert.deepEqual(r.read('m.bin'), binary(2));

  const graph = r.ok(['log', '--graph', '--oneline']).stdout;
  const shape = graph
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/[0-9a-f]{12} .*/, '').trimEnd());
  assert.deepEqual(shape, ['*', '|\\', '* |', '| *', '|/', '*']);
  assert.match(graph, /merged by hand/);
  const full = r.ok(['log', '--graph']).stdout;
  assert.match(full, /^\* commit [0-9a-f]{64}\n\|\\? *merge: /m);
  // Every commit's lines start in the column of its 'commit', the last one's too (as in git).
  const last = full.slice(full.lastIndexOf('* commit'));
  assert.match(last, /^\* commit [0-9a-f]{64}\n {2}author: .*\n {2}date: .*\n\n {6}\S/);
});

test('merge -q that stops on conflicts still says which (as git does): the command fails, and this is why', (t) => {
  const r = newRepo(t);
  diverge(r, { 't.txt': 'a\nb\nc\n' }, { 't.txt': 'a\ntheirs\nc\n' }, { 't.txt': 'a\nours\nc\n' });
  const m = r.run(['merge', 'feature', '-q']);
  assert.equal(m.status, 1);
  assert.match(m.stdout, /^merge of 'feature' stopped with 1 conflict:\n {2}\S+ +t\.txt\n/);
});

test('a conflicted file that cannot be read is not taken for resolved', (t) => {
  // Root reads any file: the status runs as another user, who owns everything but t.txt.
  const r = newRepo(t);
  diverge(r, { 't.txt': 'a\nb\nc\n' }, { 't.txt': 'a\ntheirs\nc\n' }, { 't.txt': 'a\nours\nc\n' });
  assert.equal(r.run(['merge', 'feature']).status, 1);
  chmodSync(r.path('t.txt'), 0o600);
  r.ok(['add', 't.txt']); // staged with its conflict markers still in it
  const resolved = (s: Status): boolean[] => s.conflicts.map((c) => c.resolved);
  assert.deepEqual(resolved(r.j<Status>(['status'])), [false]);
  const asNobody = asAnotherUser(t, r, ['t.txt']);
  if (!asNobody) return;
  // The stat cache says t.txt is what was staged; only its bytes would show the markers.
  const st = asNobody(['status', '--json']);
  assert.equal(st.status, 0, st.stderr);
  assert.deepEqual(resolved(JSON.parse(st.stdout) as Status), [false]);
  r.write('t.txt', 'a\nours and theirs\nc\n');
  r.ok(['add', 't.txt']);
  assert.deepEqual(resolved(r.j<Status>(['status'])), [true]);
});

test('a file-directory conflict resolved either way concludes: keep our directory, or take their file', (t) => {
  for (const keep of ['ours', 'theirs'] as const) {
    const r = newRepo(t);
    diverge(r, { base: 'b\n' }, { y: 'theirs\n' }, { 'y/g': 'ours\n' });
    assert.equal(r.run(['merge', 'feature']).status, 1);
    const s = r.j<Status>(['status']);
    assert.deepEqual(
      s.conflicts.map((c) => [c.path, c.reason, c.side, c.resolved]),
      [['y', 'file-directory', 'y~feature', false]],
    );
    if (keep === 'ours') {
      rmSync(r.path('y~feature'));
      r.ok(['add', 'y']);
    } else {
      rmSync(r.path('y'), { recursive: true });
      renameSync(r.path('y~feature'), r.path('y'));
      r.ok(['add', '.']);
    }
    assert.deepEqual(
      r.j<Status>(['status']).conflicts.map((c) => c.resolved),
      [true],
      keep,
    );
    r.ok(['commit', '-m', `kept ${keep}`]);
    const files = r.j<{ path: string }[]>(['ls']).map((f) => f.path);
    assert.deepEqual(files, keep === 'ours' ? ['base', 'y/g'] : ['base', 'y'], keep);
  }
});

test('--abort restores the tree, --quit forgets the merge', (t) => {
  const r = newRepo(t);
  diverge(r, { 't.txt': 'a\nb\nc\n' }, { 't.txt': 'a\ntheirs\nc\n' }, { 't.txt': 'a\nours\nc\n' });
  assert.equal(r.run(['merge', 'feature']).status, 1);
  r.ok(['merge', '--abort']);
  assert.equal(r.read('t.txt').toString(), 'a\nours\nc\n');
  const s = r.j<Status>(['status']);
  assert.deepEqual([s.merging, s.staged, s.unstaged, s.untracked], [null, [], [], []]);
  assert.equal(r.run(['merge', 'feature']).status, 1);
  r.ok(['merge', '--quit']);
  assert.equal(r.j<Status>(['status']).merging, null);
  assert.match(r.read('t.txt').toString(), /<<<<<<< HEAD/);
});

test('merge --abort leaves an untracked file that already held what theirs adds', (t) => {
  const r = newRepo(t);
  diverge(
    r,
    { 't.txt': 'a\nb\nc\n' },
    { 't.txt': 'a\ntheirs\nc\n', 'notes.txt': 'the same words\n' },
    { 't.txt': 'a\nours\nc\n' },
  );
  r.write('notes.txt', 'the same words\n'); // the user's, untracked: the merge takes it as theirs
  assert.equal(r.run(['merge', 'feature']).status, 1); // t.txt conflicts
  assert.deepEqual(r.j<Status>(['status']).untracked, []);
  r.ok(['merge', '--abort']);
  assert.equal(r.read('notes.txt').toString(), 'the same words\n');
  assert.equal(r.read('t.txt').toString(), 'a\nours\nc\n');
  const s = r.j<Status>(['status']);
  assert.deepEqual([s.merging, s.staged, s.unstaged, s.untracked], [null, [], [], ['notes.txt']]);
});

/** Start `shoal merge`, and kill -9 it once `events` files have appeared in the working tree. */
async function killMidMerge(dir: string, configDir: string, branch: string, events: number): Promise<void> {
  const child = shoalSpawn(['merge', branch, '-m', 'merge'], { cwd: dir, configDir });
  let watcher: FSWatcher | undefined;
  await new Promise<void>((resolve) => {
    let seen = 0;
    watcher = watch(dir, () => {
      if (++seen >= events) child.kill('SIGKILL');
    });
    child.on('exit', () => resolve());
  });
  watcher?.close();
}

test('kill -9 during a merge: the repository opens, fsck passes, abort restores, nothing is lost', async (t) => {
  const r = newRepo(t);
  r.write('base.txt', 'base\n');
  const hashes = new Map<string, string>();
  for (let i = 0; i < 24; i++) r.write(`f${String(i).padStart(2, '0')}.bin`, Buffer.alloc(10, i));
  r.commit('base');
  r.ok(['switch', '-c', 'feature']);
  for (let i = 0; i < 24; i++) {
    const name = `f${String(i).padStart(2, '0')}.bin`;
    hashes.set(name, randomFile(r.path(name), 1 << 20));
  }
  const theirs = r.commit('feature rewrites every file');
  r.ok(['switch', 'main']);
  r.write('ours.txt', 'ours\n');
  const ours = r.commit('ours');

  let interrupted = 0;
  for (const [round, events] of [1, 12, 40].entries()) {
    r.ok(['switch', '-c', `try${round}`, ours]);
    await killMidMerge(r.dir, r.configDir, 'feature', events);
    const fsck = r.j<{ ok: boolean; problems: unknown[] }>(['fsck']);
    assert.deepEqual(fsck.problems, []);
    // Whatever the kill interrupted, both sides are intact (fsck verified every object).
    assert.equal(sha256(r.ok(['cat', `${theirs}:f23.bin`]).stdoutBytes), hashes.get('f23.bin'));
    assert.equal(r.ok(['cat', `${ours}:ours.txt`]).stdout, 'ours\n');
    const s = r.j<Status>(['status']);
    if (s.merging !== null) {
      interrupted++;
      r.ok(['merge', '--abort']);
      const after = r.j<Status>(['status']);
      assert.deepEqual([after.merging, after.staged, after.unstaged], [null, [], []]);
      assert.deepEqual(r.read('f00.bin'), Buffer.alloc(10, 0));
      // And the merge can be done again.
      r.ok(['merge', 'feature', '-m', 'again']);
    }
    const log = r.j<{ parents: string[] }[]>(['log', '-n', '1']);
    assert.equal(log[0]!.parents.length, 2);
    assert.equal(sha256(r.read('f05.bin')), hashes.get('f05.bin'));
    r.ok(['switch', 'main']);
  }
  assert.ok(interrupted > 0, 'at least one kill landed while the merge was writing');
  assert.deepEqual(r.j<{ problems: unknown[] }>(['fsck']).problems, []);
});

test('theirs of a file whose directory ours replaced with a file or a symlink goes beside it, never through it', (t) => {
  const r = newRepo(t);
  r.write('d/f.bin', binary(1));
  r.write('e/g.bin', binary(1));
  r.commit('base');
  r.ok(['switch', '-c', 'feature']);
  r.write('d/f.bin', binary(2));
  r.write('e/g.bin', binary(2));
  r.commit('theirs');
  r.ok(['switch', 'main']);
  // Ours: d becomes a symlink to a directory outside the repository, e a plain file.
  const outside = tempDir(t);
  mkdirSync(join(outside, 'target'));
  rmSync(r.path('d'), { recursive: true });
  rmSync(r.path('e'), { recursive: true });
  symlinkSync(join(outside, 'target'), r.path('d'));
  r.write('e', 'a file now\n');
  r.commit('ours');

  const m = r.run(['merge', 'feature', '--json']);
  assert.equal(m.status, 1, m.stderr);
  const out = JSON.parse(m.stdout) as { conflicts: { path: string; reason: string; side: string | null }[] };
  assert.deepEqual(
    out.conflicts.map((c) => [c.path, c.reason, c.side]),
    [
      ['d/f.bin', 'deleted-by-us', 'd~feature/f.bin'],
      ['e/g.bin', 'deleted-by-us', 'e~feature/g.bin'],
    ],
  );
  // Nothing was written outside the repository; theirs is where the conflict says.
  assert.deepEqual(readdirSync(join(outside, 'target')), []);
  assert.deepEqual(r.read('d~feature/f.bin'), binary(2));
  assert.deepEqual(r.read('e~feature/g.bin'), binary(2));
  assert.equal(r.read('e').toString(), 'a file now\n');

  // Keeping ours resolves them; abort would have removed the side files.
  rmSync(r.path('d~feature'), { recursive: true });
  rmSync(r.path('e~feature'), { recursive: true });
  r.ok(['merge', '--continue']);
  assert.ok(!existsSync(r.path('d~feature')));
  assert.deepEqual(r.j<Status>(['status']).untracked, []);
});

test('a conflict on a file whose name is near the 255-byte limit gets a side file that fits', (t) => {
  const r = newRepo(t);
  const name = `${'n'.repeat(246)}.bin`; // 250 bytes: `~feature` after it would not fit
  diverge(r, { [name]: binary(1) }, { [name]: binary(2) }, { [name]: binary(3) });

  const m = r.run(['merge', 'feature', '--json']);
  assert.equal(m.status, 1, m.stderr);
  const side = (JSON.parse(m.stdout) as { conflicts: { path: string; side: string }[] }).conflicts[0]!.side;
  assert.ok(Buffer.byteLength(side) <= 255, side);
  assert.match(side, /~feature$/);
  assert.deepEqual(r.read(side), binary(2));
  assert.deepEqual(r.read(name), binary(3));
  r.ok(['merge', '--abort']);
  assert.equal(existsSync(r.path(side)), false);
  assert.deepEqual(r.read(name), binary(3));
});

test('merge --abort never removes or writes through a symlink put in place of a directory during the merge', (t) => {
  const r = newRepo(t);
  diverge(
    r,
    { 'd/x.txt': 'x\n', 'm.bin': binary(1) },
    { 'd/new.txt': 'theirs\n', 'm.bin': binary(2) },
    { 'm.bin': binary(3) },
  );
  assert.equal(r.run(['merge', 'feature']).status, 1); // m.bin conflicts; d/new.txt is written
  assert.deepEqual(r.read('d/new.txt'), Buffer.from('theirs\n'));

  // The user puts a symlink to a directory of their own where d was.
  const outside = tempDir(t);
  writeFileSync(join(outside, 'new.txt'), 'mine, outside the repository\n');
  renameSync(r.path('d'), r.path('d.moved'));
  symlinkSync(outside, r.path('d'));
  const refused = r.fails(['merge', '--abort'], 'DIRTY_WORKTREE');
  assert.match(refused.stderr, /'d' is no longer a directory/);
  assert.equal(readFileSync(join(outside, 'new.txt'), 'utf8'), 'mine, outside the repository\n');
  assert.deepEqual(r.read('m.bin'), binary(3), 'nothing was restored either');

  // Moved away, the abort completes.
  rmSync(r.path('d'));
  renameSync(r.path('d.moved'), r.path('d'));
  r.ok(['merge', '--abort']);
  assert.equal(existsSync(r.path('d/new.txt')), false);
  assert.equal(readFileSync(join(outside, 'new.txt'), 'utf8'), 'mine, outside the repository\n');
});

test('merge --abort puts back a directory that the merge replaced with theirs file', (t) => {
  const r = newRepo(t);
  r.write('d/f.txt', 'f\n');
  r.write('c.bin', binary(1));
  r.commit('base');
  r.ok(['switch', '-c', 'other']);
  rmSync(r.path('d'), { recursive: true });
  r.write('d', 'now a file\n');
  r.write('c.bin', binary(2));
  r.ok(['add', '.']);
  r.ok(['commit', '-m', 'theirs']);
  r.ok(['switch', 'main']);
  r.write('c.bin', binary(3));
  r.commit('ours');
  assert.equal(r.run(['merge', 'other']).status, 1); // c.bin conflicts; d becomes a file
  assert.equal(r.read('d').toString(), 'now a file\n');
  r.ok(['merge', '--abort']);
  assert.equal(r.read('d/f.txt').toString(), 'f\n');
  assert.deepEqual(r.read('c.bin'), binary(3));
});

test('a side file never takes the name of a file or directory the other branch adds', (t) => {
  const r = newRepo(t);
  const theirsA = binary(2);
  diverge(
    r,
    { a: binary(1) },
    { a: theirsA, 'a~feature': 'THEIRS FILE\n', 'a~feature~2/x': 'in a directory\n' },
    { a: binary(3) },
  );
  const res = r.run(['merge', 'feature', '--json']);
  assert.equal(res.status, 1, res.stderr);
  const side = (JSON.parse(res.stdout) as { conflicts: { side: string }[] }).conflicts[0]!.side;
  assert.equal(side, 'a~feature~3');
  assert.deepEqual(r.read(side), theirsA);
  assert.equal(r.read('a~feature').toString(), 'THEIRS FILE\n', "theirs's own file, not the side file");
  assert.equal(r.read('a~feature~2/x').toString(), 'in a directory\n');
  // Keeping ours: the other branch's files come in whole.
  rmSync(r.path(side));
  r.ok(['merge', '--continue']);
  assert.deepEqual(
    r.j<{ path: string }[]>(['ls']).map((e) => e.path),
    ['a', 'a~feature', 'a~feature~2/x'],
  );
});

test('a conflict keeps the executable bit the two sides merge to', (t) => {
  for (const kind of ['text', 'binary'] as const) {
    const r = newRepo(t);
    const content = (n: number): string | Buffer => (kind === 'text' ? `1\n${n}\n3\n` : binary(n));
    r.write('t', content(1));
    r.commit('base');
    r.ok(['switch', '-c', 'feature']);
    r.write('t', content(2));
    chmodSync(r.path('t'), 0o755); // theirs changes the content and makes it executable
    r.commit('theirs');
    r.ok(['switch', 'main']);
    r.write('t', content(3));
    r.commit('ours');
    assert.equal(r.run(['merge', 'feature']).status, 1);
    assert.equal(statSync(r.path('t')).mode & 0o111, 0o111, `${kind}: the working file is executable`);
    if (kind === 'text') r.write('t', content(4));
    else rmSync(r.path('t~feature'));
    chmodSync(r.path('t'), 0o755); // writeFileSync keeps the mode; made sure of for the check
    r.ok(['add', 't']);
    r.ok(['merge', '--continue']);
    assert.equal(r.j<{ executable: boolean }[]>(['ls', 'HEAD', 't'])[0]!.executable, true, kind);
  }
});

test("a side file staged by 'add .' while resolving is no resolution, and --abort unstages it", (t) => {
  for (const end of ['continue', 'abort'] as const) {
    const r = newRepo(t);
    diverge(r, { 'f.bin': binary(1) }, { 'f.bin': binary(2) }, { 'f.bin': binary(3) });
    assert.equal(r.run(['merge', 'feature']).status, 1);
    r.ok(['add', '.']); // stages f.bin~feature too
    rmSync(r.path('f.bin~feature'));
    if (end === 'abort') {
      r.ok(['merge', '--abort']);
      const st = r.j<Status>(['status']);
      assert.deepEqual([st.staged, st.unstaged], [[], []]);
      continue;
    }
    assert.equal(r.j<Status>(['status']).conflicts[0]!.resolved, false);
    r.fails(['merge', '--continue'], 'UNRESOLVED_CONFLICTS');
    r.ok(['add', '.']); // now it stages the side file's removal
    r.ok(['merge', '--continue']);
    assert.deepEqual(
      r.j<{ path: string }[]>(['ls']).map((e) => e.path),
      ['f.bin'],
    );
  }
});

test('merge -m with an empty message is refused, as commit refuses one', (t) => {
  const r = newRepo(t);
  diverge(r, { a: 'a\n' }, { b: 'b\n' }, { c: 'c\n' });
  for (const m of ['', '   ']) r.fails(['merge', 'feature', '-m', m], 'INVALID_ARGUMENT');
  assert.equal(r.j<unknown[]>(['log']).length, 2);
});
