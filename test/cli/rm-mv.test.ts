// End to end: rm and mv, and their refusals.

import assert from 'node:assert/strict';
import {
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { tempDir } from '../helpers.ts';
import { newRepo, type TestRepo } from './repo-helpers.ts';

/** What `diff <base> HEAD` says changed: [old path, path, change] per file. */
function changes(r: TestRepo, base: string): [string | null, string, string][] {
  const d = r.j<{ files: { path: string; change: string; oldPath: string | null }[] }>([
    'diff',
    base,
    'HEAD',
  ]);
  return d.files.map((f) => [f.oldPath, f.path, f.change]);
}

interface Status {
  staged: { path: string; change: string; oldPath?: string }[];
  unstaged: { path: string; change: string }[];
  untracked: string[];
}

test('rm: removes tracked files; refuses untracked paths and unsaved changes', (t) => {
  const r = newRepo(t);
  r.write('a.txt', 'a\n');
  r.write('b.txt', 'b\n');
  r.write('dir/c.txt', 'c\n');
  r.write('dir/d.txt', 'd\n');
  r.commit('base');
  r.write('untracked.txt', 'u\n');
  r.fails(['rm', 'untracked.txt'], 'PATH_NOT_FOUND');
  r.fails(['rm', 'nowhere.txt'], 'PATH_NOT_FOUND');
  assert.ok(existsSync(r.path('untracked.txt')));

  r.ok(['rm', 'a.txt']);
  assert.ok(!existsSync(r.path('a.txt')));
  assert.deepEqual(r.j<Status>(['status']).staged, [{ path: 'a.txt', change: 'deleted' }]);

  // --cached keeps the file, untracked.
  r.ok(['rm', '--cached', 'b.txt']);
  assert.ok(existsSync(r.path('b.txt')));
  assert.ok(r.j<Status>(['status']).untracked.includes('b.txt'));

  // A directory needs -r.
  r.fails(['rm', 'dir'], 'INVALID_ARGUMENT');
  r.write('dir/d.txt', 'edited\n');
  const refused = r.fails(['rm', '-r', 'dir'], 'DIRTY_WORKTREE');
  assert.deepEqual(JSON.parse(refused.stdout).error.paths, ['dir/d.txt']);
  assert.equal(r.read('dir/d.txt').toString(), 'edited\n');
  r.ok(['rm', '-r', '-f', 'dir']);
  assert.ok(!existsSync(r.path('dir')));

  // Staged content that no commit holds is refused too, unless --cached keeps it on disk.
  r.write('new.txt', 'new\n');
  r.ok(['add', 'new.txt']);
  r.fails(['rm', 'new.txt'], 'DIRTY_WORKTREE');
  r.ok(['rm', '--cached', 'new.txt']);
  assert.ok(existsSync(r.path('new.txt')));
});

test('mv: renames in the tree and the index; never onto an existing path', (t) => {
  const r = newRepo(t);
  r.write('a.txt', 'a\n');
  r.write('b.txt', 'b\n');
  r.write('docs/x.md', 'x\n');
  r.commit('base');
  r.fails(['mv', 'a.txt', 'b.txt'], 'ALREADY_EXISTS');
  assert.equal(r.read('b.txt').toString(), 'b\n');
  r.write('untracked.txt', 'u\n');
  r.fails(['mv', 'a.txt', 'untracked.txt'], 'ALREADY_EXISTS');
  r.fails(['mv', 'untracked.txt', 'c.txt'], 'PATH_NOT_FOUND');
  r.fails(['mv', 'nowhere', 'c.txt'], 'PATH_NOT_FOUND');
  r.fails(['mv', 'docs', 'docs/inner'], 'INVALID_ARGUMENT');
  // A trailing slash names a directory to move into, as in git: it must exist.
  r.fails(['mv', 'a.txt', 'nodir/'], 'PATH_NOT_FOUND');
  assert.ok(existsSync(r.path('a.txt')) && !existsSync(r.path('nodir')));

  r.ok(['mv', 'a.txt', 'renamed/a2.txt']);
  assert.equal(r.read('renamed/a2.txt').toString(), 'a\n');
  assert.ok(!existsSync(r.path('a.txt')));
  // Into an existing directory.
  r.ok(['mv', 'b.txt', 'docs']);
  assert.equal(r.read('docs/b.txt').toString(), 'b\n');
  // A whole directory.
  r.ok(['mv', 'docs', 'manual']);
  assert.equal(r.read('manual/x.md').toString(), 'x\n');
  const s = r.j<Status>(['status']);
  assert.deepEqual(s.unstaged, []);
  assert.deepEqual(s.untracked, ['untracked.txt']);
  // status, diff and show all report renames, as git does.
  const renames = [
    { path: 'manual/b.txt', change: 'renamed', oldPath: 'b.txt' },
    { path: 'manual/x.md', change: 'renamed', oldPath: 'docs/x.md' },
    { path: 'renamed/a2.txt', change: 'renamed', oldPath: 'a.txt' },
  ];
  assert.deepEqual(s.staged, renames);
  assert.match(r.ok(['status']).stdout, /renamed +a\.txt -> renamed\/a2\.txt\n/);
  // The commit records renames: same content ids under new paths.
  const base = r.j<{ id: string }[]>(['log', '-n', '1'])[0]!.id;
  r.ok(['commit', '-m', 'moves']);
  assert.deepEqual(changes(r, base), [
    ['b.txt', 'manual/b.txt', 'renamed'],
    ['docs/x.md', 'manual/x.md', 'renamed'],
    ['a.txt', 'renamed/a2.txt', 'renamed'],
  ]);
  const shown = r.j<{ changes: { path: string; change: string; oldPath?: string }[] }>(['show']).changes;
  assert.deepEqual(
    shown.map(({ path, change, oldPath }) => ({ path, change, oldPath })),
    renames,
  );
  assert.match(r.ok(['show']).stdout, /renamed +b\.txt -> manual\/b\.txt \(2 B\)/);
  // Empty files are all the same content: one deleted and another added is no rename (as git).
  r.write('empty1', '');
  r.commit('empty');
  rmSync(r.path('empty1'));
  r.write('empty2', '');
  r.ok(['add', '.']);
  assert.deepEqual(
    r.j<Status>(['status']).staged.map((c) => [c.path, c.change]),
    [
      ['empty1', 'deleted'],
      ['empty2', 'added'],
    ],
  );
});

test('mv run again after one stopped between the rename and the index: it finishes the move', (t) => {
  const r = newRepo(t);
  r.write('d/one.txt', '1\n');
  r.write('d/sub/two.txt', '2\n');
  r.write('f.txt', 'f\n');
  r.write('gone.txt', 'g\n');
  r.commit('base');
  // What a kill after the rename leaves: the files moved, the index not.
  renameSync(r.path('d'), r.path('e'));
  assert.equal(r.j<Status>(['status']).unstaged.length, 2);
  r.ok(['mv', 'd', 'e']);
  renameSync(r.path('f.txt'), r.path('e/f.txt')); // `mv f.txt e`: into the directory
  r.ok(['mv', 'f.txt', 'e']);
  const st = r.j<Status>(['status']);
  assert.deepEqual([st.unstaged, st.untracked], [[], []]);
  assert.deepEqual(
    st.staged.map((c) => [c.oldPath, c.path]),
    [
      ['f.txt', 'e/f.txt'],
      ['d/one.txt', 'e/one.txt'],
      ['d/sub/two.txt', 'e/sub/two.txt'],
    ],
  );
  // A directory holding a child of its own name: found where it was moved, not inside it.
  r.write('lib/lib/x', 'x\n');
  r.write('lib/y', 'y\n');
  r.commit('lib');
  renameSync(r.path('lib'), r.path('pkg'));
  r.ok(['mv', 'lib', 'pkg']);
  assert.deepEqual(
    r
      .j<Status>(['status'])
      .staged.map((c) => c.path)
      .filter((p) => p.startsWith('pkg')),
    ['pkg/lib/x', 'pkg/y'],
  );
  r.commit('moved lib');
  // Resumed into a directory that replaced a tracked file: the file's entry goes, as without
  // the interruption.
  rmSync(r.path('f2.txt'), { force: true });
  r.write('f2.txt', 'file\n');
  r.commit('f2');
  rmSync(r.path('f2.txt'));
  mkdirSync(r.path('f2.txt'));
  renameSync(r.path('pkg'), r.path('f2.txt/pkg'));
  r.ok(['mv', 'pkg', 'f2.txt']);
  r.ok(['commit', '-m', 'into the directory']);
  assert.ok(r.j<{ path: string }[]>(['ls']).some((e) => e.path === 'f2.txt/pkg/y'));
  // An unrelated file at the destination is not taken for the source.
  rmSync(r.path('gone.txt'));
  r.write('other.txt', 'something else\n');
  r.fails(['mv', 'gone.txt', 'other.txt'], 'PATH_NOT_FOUND');
});

test('mv into a directory that replaced a tracked file drops the file from the index, as add does', (t) => {
  const r = newRepo(t);
  r.write('a.txt', 'a\n');
  r.write('c.txt', 'c\n');
  r.commit('base');
  rmSync(r.path('a.txt'));
  mkdirSync(r.path('a.txt'));
  r.ok(['mv', 'c.txt', 'a.txt']);
  assert.equal(r.read('a.txt/c.txt').toString(), 'c\n');
  r.ok(['commit', '-m', 'moved']);
  assert.deepEqual(
    r.j<{ path: string }[]>(['ls']).map((e) => e.path),
    ['a.txt/c.txt'],
  );
});

test('mv of a file or directory to a name that differs only in case; checkout goes back and forth', (t) => {
  const r = newRepo(t);
  r.write('README.TXT', 'r\n');
  r.write('Docs/a.md', 'a\n');
  const base = r.commit('base');
  r.ok(['mv', 'README.TXT', 'readme.txt']);
  r.ok(['mv', 'Docs', 'docs']);
  assert.deepEqual(readdirSync(r.dir).sort(), ['.shoal', 'docs', 'readme.txt']);
  assert.deepEqual(r.j<Status>(['status']).unstaged, []);
  r.ok(['commit', '-m', 'lower case']);
  assert.deepEqual(changes(r, base), [
    ['Docs/a.md', 'docs/a.md', 'renamed'],
    ['README.TXT', 'readme.txt', 'renamed'],
  ]);
  r.ok(['checkout', base]);
  assert.deepEqual(readdirSync(r.dir).sort(), ['.shoal', 'Docs', 'README.TXT']);
  r.ok(['checkout', 'main']);
  assert.deepEqual(readdirSync(r.dir).sort(), ['.shoal', 'docs', 'readme.txt']);
  assert.equal(r.read('docs/a.md').toString(), 'a\n');
  const s = r.j<Status>(['status']);
  assert.deepEqual([s.staged, s.unstaged, s.untracked], [[], [], []]);
  // A hard link under the other name is another name, not the same one: mv refuses it.
  linkSync(r.path('readme.txt'), r.path('README.txt'));
  r.fails(['mv', 'readme.txt', 'README.txt'], 'ALREADY_EXISTS');
});

test('rm and mv never reach through a symlink that replaced a tracked directory', (t) => {
  const r = newRepo(t);
  r.write('d/f.txt', 'precious\n');
  r.write('e/g.txt', 'other\n');
  r.write('m/h.txt', 'moved\n');
  r.commit('base');
  // The user swaps the directories for symlinks to directories outside the repository, which
  // hold files of the same names (and the same content).
  const outside = tempDir(t);
  for (const [dir, file, text] of [
    ['d', 'f.txt', 'precious\n'],
    ['e', 'g.txt', 'other\n'],
    ['m', 'h.txt', 'moved\n'],
  ] as const) {
    mkdirSync(join(outside, dir));
    writeFileSync(join(outside, dir, file), text);
    rmSync(r.path(dir), { recursive: true });
    symlinkSync(join(outside, dir), r.path(dir));
  }

  // To shoal, the files are deleted: rm stages that, and deletes nothing beyond the symlinks.
  r.ok(['rm', 'd/f.txt']);
  assert.equal(readFileSync(join(outside, 'd', 'f.txt'), 'utf8'), 'precious\n');
  r.ok(['rm', '-r', '-f', 'e']);
  assert.equal(readFileSync(join(outside, 'e', 'g.txt'), 'utf8'), 'other\n');
  assert.deepEqual(r.j<Status>(['status']).staged, [
    { path: 'd/f.txt', change: 'deleted' },
    { path: 'e/g.txt', change: 'deleted' },
  ]);

  // Nor does mv take a file from there into the repository.
  r.fails(['mv', 'm/h.txt', 'moved.txt'], 'PATH_NOT_FOUND');
  assert.equal(readFileSync(join(outside, 'm', 'h.txt'), 'utf8'), 'moved\n');
  assert.ok(!existsSync(r.path('moved.txt')));
});

test('rm of a file already deleted from the working tree stages the deletion', (t) => {
  const r = newRepo(t);
  r.write('a.txt', 'a\n');
  r.write('new.txt', 'new\n');
  r.commit('base', ['a.txt']);
  rmSync(r.path('a.txt'));
  // The content is in HEAD: nothing is lost (git rm agrees).
  r.ok(['rm', 'a.txt']);
  assert.deepEqual(r.j<Status>(['status']).staged, [{ path: 'a.txt', change: 'deleted' }]);
  // Staged content no commit holds is still protected once its file is gone, with or without --cached.
  r.ok(['add', 'new.txt']);
  rmSync(r.path('new.txt'));
  r.fails(['rm', 'new.txt'], 'DIRTY_WORKTREE');
  const cached = r.fails(['rm', '--cached', 'new.txt'], 'DIRTY_WORKTREE');
  // Said as what --cached would lose (not "use --cached", which it already was).
  assert.match(cached.stderr, /staged content that neither a commit nor the working file holds/);
});

test('rm of a file replaced by a directory drops the file and keeps the directory; a/ never names the file a', (t) => {
  const r = newRepo(t);
  r.write('x', 'x\n');
  r.write('y', 'y\n');
  r.write('a', 'a\n');
  r.commit('base');
  r.write('y', 'staged\n');
  r.ok(['add', 'y']);
  for (const p of ['x', 'y']) {
    rmSync(r.path(p));
    r.write(`${p}/new.txt`, 'new work\n');
  }
  r.ok(['rm', 'x']); // the file is in HEAD: nothing is lost, and the directory is not the file
  r.fails(['rm', 'y'], 'DIRTY_WORKTREE'); // the staged version is in no commit
  r.ok(['rm', '-f', 'y']);
  assert.equal(r.read('x/new.txt').toString(), 'new work\n');
  assert.equal(r.read('y/new.txt').toString(), 'new work\n');
  const st = r.j<Status>(['status']);
  assert.deepEqual(st.staged, [
    { path: 'x', change: 'deleted' },
    { path: 'y', change: 'deleted' },
  ]);
  r.fails(['rm', 'a/'], 'PATH_NOT_FOUND');
  assert.equal(r.read('a').toString(), 'a\n');
});

test('mv of a directory keeps no stamp for a file edited since it was stamped, however the edit kept its times', (t) => {
  const r = newRepo(t);
  r.write('dir/a', 'original\n');
  r.commit('one');
  // White box: give the staged entry the stamp of the file as it is (as status would, later).
  const past = new Date(Date.now() - 60_000);
  utimesSync(r.path('dir/a'), past, past);
  const s = statSync(r.path('dir/a'), { bigint: true });
  const db = new DatabaseSync(r.path('.shoal/index.db'));
  db.prepare('UPDATE staging SET mtime_ns = ?, ctime_ns = ?, ino = ? WHERE path = ?').run(
    String(s.mtimeNs),
    String(s.ctimeNs),
    String(s.ino),
    'dir/a',
  );
  db.close();
  // An edit of the same size whose modification time is put back (cp -p, rsync -t): only its
  // ctime tells.
  writeFileSync(r.path('dir/a'), 'MODIFIED\n');
  utimesSync(r.path('dir/a'), past, past);
  r.ok(['mv', 'dir', 'dir2']);
  assert.deepEqual(r.j<Status>(['status']).unstaged, [{ path: 'dir2/a', change: 'modified' }]);
});
