// End to end: diff between commits, the index and the working tree; --stat, --json, paths.

import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import { test } from 'node:test';
import { newRepo, randomFile } from './repo-helpers.ts';

interface FileDiff {
  path: string;
  oldPath: string | null;
  change: string;
  oldSize: number | null;
  newSize: number | null;
  binary: boolean;
  lines: { added: number; removed: number } | null;
  patch: string | null;
  chunks: { addedBytes: number; removedBytes: number; nodesRead: number } | null;
}

interface Diff {
  from: string | null;
  to: string | null;
  files: FileDiff[];
  summary: { files: number; added: number; deleted: number; modified: number; renamed: number };
}

const MiB = 1 << 20;

test('diff of two commits: added, deleted, modified, renamed; text patches; chunk bytes for large files', (t) => {
  const r = newRepo(t);
  r.write('notes.txt', 'one\ntwo\nthree\n');
  r.write('gone.txt', 'bye\n');
  r.write('old-name.txt', 'same content\n');
  randomFile(r.path('big.bin'), 3 * MiB);
  const v1 = r.commit('v1');
  r.write('notes.txt', 'one\n2\nthree\nfour\n');
  r.ok(['rm', 'gone.txt']);
  r.ok(['mv', 'old-name.txt', 'new-name.txt']);
  r.write('added.txt', 'new\n');
  // Change 64 KiB in the middle of the big file.
  const big = r.read('big.bin');
  big.fill(7, MiB, MiB + 65536);
  r.write('big.bin', big);
  const v2 = r.commit('v2');

  const d = r.j<Diff>(['diff', v1, v2]);
  assert.equal(d.from, v1);
  assert.equal(d.to, v2);
  assert.deepEqual(
    d.files.map((f) => [f.path, f.change, f.oldPath]),
    [
      ['added.txt', 'added', null],
      ['big.bin', 'modified', null],
      ['gone.txt', 'deleted', null],
      ['new-name.txt', 'renamed', 'old-name.txt'],
      ['notes.txt', 'modified', null],
    ],
  );
  const notes = d.files.find((f) => f.path === 'notes.txt')!;
  assert.equal(notes.binary, false);
  assert.deepEqual(notes.lines, { added: 2, removed: 1 });
  assert.equal(notes.patch, '@@ -1,3 +1,4 @@\n one\n-two\n+2\n three\n+four\n');
  const b = d.files.find((f) => f.path === 'big.bin')!;
  assert.equal(b.binary, true);
  assert.equal(b.patch, null);
  assert.deepEqual([b.oldSize, b.newSize], [3 * MiB, 3 * MiB]);
  // The changed region plus the chunks around its edges, far less than the file.
  assert.ok(b.chunks!.addedBytes >= 65536 && b.chunks!.addedBytes < MiB, `added ${b.chunks!.addedBytes}`);
  assert.deepEqual(d.summary, { ...d.summary, files: 5, added: 1, deleted: 1, modified: 2, renamed: 1 });

  const text = r.ok(['diff', v1, v2]).stdout;
  assert.match(
    text,
    /^modified notes\.txt .*\n--- a\/notes\.txt\n\+\+\+ b\/notes\.txt\n@@ -1,3 \+1,4 @@\n one\n-two\n/m,
  );
  assert.match(text, /^renamed old-name\.txt -> new-name\.txt/m);
  const stat = r.ok(['diff', '--stat', v1, v2]).stdout;
  assert.match(stat, /notes\.txt +\| modified .*\+2 -1/);
  assert.match(stat, /5 files changed/);
  const statJson = r.j<Diff>(['diff', '--stat', v1, v2]);
  assert.ok(statJson.files.every((f) => f.patch === null));

  // Limited to paths.
  assert.deepEqual(
    (JSON.parse(r.ok(['--json', 'diff', v1, v2, '--', 'notes.txt', 'gone.txt']).stdout) as Diff).files.map(
      (f) => f.path,
    ),
    ['gone.txt', 'notes.txt'],
  );
});

test('diff against the index and the working tree', (t) => {
  const r = newRepo(t);
  r.write('a.txt', 'a\n');
  randomFile(r.path('w.bin'), 2 * MiB);
  r.commit('base');
  assert.deepEqual(r.j<Diff>(['diff']).files, []);
  r.write('a.txt', 'a\nb\n');
  const w = r.read('w.bin');
  w.fill(1, 0, 100_000);
  r.write('w.bin', w);
  // Unstaged: index -> working tree.
  const unstaged = r.j<Diff>(['diff']);
  assert.equal(unstaged.from, 'index');
  assert.equal(unstaged.to, 'worktree');
  assert.deepEqual(
    unstaged.files.map((f) => [f.path, f.change]),
    [
      ['a.txt', 'modified'],
      ['w.bin', 'modified'],
    ],
  );
  // The new text comes from the working file itself (it is in no pack yet).
  assert.deepEqual(unstaged.files[0]!.lines, { added: 1, removed: 0 });
  assert.match(unstaged.files[0]!.patch!, /^\+b$/m);
  const wb = unstaged.files[1]!;
  assert.ok(wb.chunks!.addedBytes >= 100_000 && wb.chunks!.addedBytes < MiB);
  assert.deepEqual(r.j<Diff>(['diff', '--cached']).files, []);
  // Staged: HEAD -> index.
  r.ok(['add', 'a.txt']);
  assert.deepEqual(
    r.j<Diff>(['diff', '--cached']).files.map((f) => f.path),
    ['a.txt'],
  );
  assert.deepEqual(
    r.j<Diff>(['diff']).files.map((f) => f.path),
    ['w.bin'],
  );
  // A commit against the working tree sees both.
  assert.deepEqual(
    r.j<Diff>(['diff', 'HEAD']).files.map((f) => f.path),
    ['a.txt', 'w.bin'],
  );
  // Paths without '--', as git takes them: from the first argument that is no revision but a
  // path on disk on. One that is both needs the '--'.
  assert.deepEqual(
    r.j<Diff>(['diff', 'w.bin']).files.map((f) => f.path),
    ['w.bin'],
  );
  assert.deepEqual(
    r.j<Diff>(['diff', 'HEAD', 'a.txt']).files.map((f) => f.path),
    ['a.txt'],
  );
  r.ok(['branch', 'w.bin']);
  assert.match(
    r.fails(['diff', 'w.bin'], 'USAGE', 2).stderr,
    /'w\.bin' is both a revision and a path: put '--' before the paths/,
  );
  r.ok(['branch', '-d', 'w.bin']);
  r.fails(['diff', 'nosuch.txt'], 'UNKNOWN_REV');
  // Deleted in the working tree.
  r.ok(['restore', 'w.bin']);
  const { rmSync } = process.getBuiltinModule('node:fs');
  rmSync(r.path('a.txt'));
  assert.deepEqual(
    r.j<Diff>(['diff']).files.map((f) => [f.path, f.change]),
    [['a.txt', 'deleted']],
  );
  // On an unborn branch, --cached compares with nothing.
  const u = newRepo(t);
  u.write('x.txt', 'x\n');
  u.ok(['add', 'x.txt']);
  assert.deepEqual(
    u.j<Diff>(['diff', '--cached']).files.map((f) => [f.path, f.change]),
    [['x.txt', 'added']],
  );
  r.fails(['diff', 'nope'], 'UNKNOWN_REV');
  assert.equal(r.run(['diff', 'HEAD', 'HEAD', 'HEAD']).status, 2);
});

test('diff --stat names a mode change beside a change of content', (t) => {
  const r = newRepo(t);
  r.write('t', 'a\n');
  r.commit('base');
  r.write('t', 'b\n');
  chmodSync(r.path('t'), 0o755);
  r.commit('content and mode');
  assert.match(r.ok(['diff', 'HEAD~1', 'HEAD', '--stat']).stdout, /^ t \| modified 2 B, \+1 -1, mode \+x$/m);
});
