// Working trees holding unusual things: special files, long names, nested repositories. Every
// command must finish, with a clear error or the right result, whatever it finds.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { test } from 'node:test';
import { BIN, json, shoalEnv } from '../helpers.ts';
import { describe, newRepo, sha256File, type TestRepo } from './repo-helpers.ts';

// Generous: only there so that a command that blocks fails the test instead of hanging it.
const HANG = 60_000;

/** `shoal --json <args>` in the repository, killed if it blocks; required to exit 0. */
function finishes<T>(repo: TestRepo, args: string[]): T {
  const r = spawnSync(process.execPath, [BIN, ...args, '--json'], {
    cwd: repo.dir,
    env: shoalEnv({ configDir: repo.configDir }),
    timeout: HANG,
    encoding: 'utf8',
  });
  const run = {
    status: r.status ?? -1,
    stdout: r.stdout,
    stderr: r.stderr,
    stdoutBytes: Buffer.from(r.stdout),
  };
  assert.equal(r.signal, null, `shoal ${args.join(' ')} blocked: ${describe(run)}`);
  assert.equal(r.status, 0, `shoal ${args.join(' ')}: ${describe(run)}`);
  return json<T>(run);
}

interface Status {
  untracked: string[];
  staged: { path: string }[];
}

test('a FIFO is passed over by add of its directory, and refused when named', (t) => {
  const repo = newRepo(t);
  repo.write('d/a.txt', 'a');
  assert.equal(spawnSync('mkfifo', [repo.path('d/pipe')]).status, 0);
  const r = repo.fails(['add', 'd/pipe'], 'NOT_A_FILE');
  assert.match(r.stderr, /cannot add 'd\/pipe': only regular files, symbolic links and directories/);
  assert.deepEqual(repo.j<{ added: string[] }>(['add', 'd']).added, ['d/a.txt']);
});

test('a .shoalignore that is a FIFO or a character device holds no rules and blocks nothing', (t) => {
  const repo = newRepo(t);
  repo.write('a.txt', 'a');
  repo.write('b.log', 'b');
  assert.equal(spawnSync('mkfifo', [repo.path('.shoalignore')]).status, 0);
  assert.deepEqual(finishes<Status>(repo, ['status']).untracked, ['a.txt', 'b.log']);
  finishes(repo, ['add', '.']);
  rmSync(repo.path('.shoalignore'));
  // A symlink to a device that never ends (as /dev/zero) is no list of rules either.
  symlinkSync('/dev/zero', repo.path('.shoalignore'));
  repo.write('sub/.shoalignore', '*.log\n');
  repo.write('sub/c.log', 'c');
  repo.write('sub/d.txt', 'd');
  const st = finishes<Status>(repo, ['status']);
  assert.deepEqual(st.untracked, ['.shoalignore', 'sub/']);
  // The symlink itself is an ordinary untracked symlink, and the regular file below still counts.
  finishes(repo, ['add', '.']);
  assert.deepEqual(
    finishes<Status>(repo, ['status']).staged.map((e) => e.path),
    ['.shoalignore', 'a.txt', 'b.log', 'sub/.shoalignore', 'sub/d.txt'],
  );
  // Nor is a symlink to a regular file of rules (git passes over a symlinked .gitignore too).
  repo.write('rules.txt', '*.tmp\n');
  mkdirSync(repo.path('other'));
  symlinkSync('../rules.txt', repo.path('other/.shoalignore'));
  repo.write('other/e.tmp', 'e');
  assert.deepEqual(finishes<Status>(repo, ['status']).untracked, ['other/', 'rules.txt']);
  assert.deepEqual(finishes<{ added: string[] }>(repo, ['add', 'other']).added, [
    'other/.shoalignore',
    'other/e.tmp',
  ]);
});

test('files and symlinks whose names are as long as the file system allows are restored and checked out', (t) => {
  const repo = newRepo(t);
  const file = 'f'.repeat(255); // NAME_MAX bytes
  const link = `l${'é'.repeat(127)}`; // 255 bytes of UTF-8 in 128 characters
  repo.write(file, 'committed\n');
  repo.write(`dir/${file}`, Buffer.alloc(2 * 1024 * 1024, 7)); // a large file takes another path
  symlinkSync(file, repo.path(link));
  const first = repo.commit('long names');

  repo.write(file, 'changed\n');
  repo.write(`dir/${file}`, 'changed\n');
  rmSync(repo.path(link));
  symlinkSync('elsewhere', repo.path(link));
  repo.ok(['restore', '.']);
  assert.equal(repo.read(file).toString(), 'committed\n');
  assert.deepEqual(repo.read(`dir/${file}`), Buffer.alloc(2 * 1024 * 1024, 7));
  assert.equal(readlinkSync(repo.path(link)), file);

  repo.ok(['rm', '-r', file, link, 'dir']);
  repo.commit('gone');
  repo.ok(['checkout', first]);
  assert.equal(repo.read(file).toString(), 'committed\n');
  assert.equal(readlinkSync(repo.path(link)), file);
  const st = repo.j<{ staged: unknown[]; unstaged: unknown[]; untracked: string[] }>(['status']);
  assert.deepEqual([st.staged, st.unstaged, st.untracked], [[], [], []]);
});

test('a symlink whose target is not UTF-8 comes back with the same bytes', (t) => {
  const repo = newRepo(t);
  const target = Buffer.from([0x63, 0x61, 0x66, 0xe9]); // 'caf' then a Latin-1 e-acute
  symlinkSync(target, repo.path('l'));
  const first = repo.commit('odd link');
  rmSync(repo.path('l'));
  repo.ok(['restore', 'l']);
  assert.deepEqual(readlinkSync(repo.path('l'), { encoding: 'buffer' }), target);
  repo.ok(['rm', 'l']);
  repo.commit('gone');
  repo.ok(['checkout', first]);
  assert.deepEqual(readlinkSync(repo.path('l'), { encoding: 'buffer' }), target);
  const st = repo.j<{ staged: unknown[]; unstaged: unknown[]; untracked: string[] }>(['status']);
  assert.deepEqual([st.staged, st.unstaged, st.untracked], [[], [], []]);
});

test('-C through a symlink finds the repository cd would, and never a path of its own', (t) => {
  const a = newRepo(t);
  const b = newRepo(t);
  a.write('a', 'a\n');
  a.commit('one');
  b.write('sub/x', 'x\n');
  symlinkSync(a.dir, `${b.dir}/to-a`); // a link to a working tree, inside another
  const clean = b.j<{ staged: unknown[]; unstaged: unknown[] }>(['-C', 'to-a', 'status']);
  assert.deepEqual([clean.staged, clean.unstaged], [[], []]);
  const added = b.j<{ added: string[]; removed: string[] }>(['-C', 'to-a', 'add', '.']);
  assert.deepEqual([added.added, added.removed], [[], []]);
  a.ok(['commit', '--allow-empty', '-m', 'two']); // the index holds no path ''

  symlinkSync(b.path('sub'), a.path('to-b-sub')); // a link into another working tree
  a.ok(['-C', 'to-b-sub', 'add', 'x']); // adds sub/x to b, as `cd to-b-sub && shoal add x`
  assert.deepEqual(
    b.j<{ staged: { path: string }[] }>(['status']).staged.map((e) => e.path),
    ['sub/x'],
  );
  assert.deepEqual(a.j<{ untracked: string[] }>(['status']).untracked, ['to-b-sub']);
});

test('a tree nested as deep as paths allow is added, committed, checked out and verified', (t) => {
  const repo = newRepo(t);
  // As many levels as fit in PATH_MAX (4096) below the repository: about two thousand.
  const depth = Math.floor((4000 - repo.dir.length) / 2);
  const deep = `${'d/'.repeat(depth)}f`;
  repo.write(deep, 'one\n');
  repo.write('top', 'top\n');
  const first = repo.commit('deep');
  repo.write(deep, 'two\n');
  assert.deepEqual(
    repo.j<{ unstaged: { path: string }[] }>(['status']).unstaged.map((e) => e.path),
    [deep],
  );
  const second = repo.commit('deeper still');
  const diff = repo.j<{ files: { path: string }[] }>(['diff', first, second]);
  assert.deepEqual(
    diff.files.map((c) => c.path),
    [deep],
  );
  repo.ok(['checkout', first]);
  assert.equal(repo.read(deep).toString(), 'one\n');
  repo.ok(['gc']);
  const fsck = repo.j<{ problems: unknown[] }>(['fsck']);
  assert.deepEqual(fsck.problems, []);
  assert.equal(repo.ok(['ls', second]).stdout.includes(deep), true);
});

test('a name that starts with two dots is inside the repository', (t) => {
  const repo = newRepo(t);
  repo.write('..foo', 'one\n');
  repo.write('...', 'two\n');
  repo.write('sub/..bar', 'three\n');
  repo.ok(['add', '..foo', '...']);
  repo.ok(['add', '..bar'], repo.path('sub'));
  repo.ok(['commit', '-m', 'dots']);
  repo.write('..foo', 'changed\n');
  repo.ok(['restore', '..foo']);
  assert.equal(repo.read('..foo').toString(), 'one\n');
  repo.ok(['rm', '...', 'sub/..bar']);
  assert.deepEqual(
    repo.j<{ staged: { path: string }[] }>(['status']).staged.map((e) => e.path),
    ['...', 'sub/..bar'],
  );
  // What is above the root is still refused, however it is spelled.
  repo.fails(['add', '..'], 'PATH_OUTSIDE_REPOSITORY');
  repo.fails(['add', '../..foo'], 'PATH_OUTSIDE_REPOSITORY');
});

test('a repository nested in the working tree keeps its .shoal directory to itself', (t) => {
  const outer = newRepo(t);
  outer.write('top.txt', 'top\n');
  mkdirSync(outer.path('inner'));
  const inner = newRepo(t, { dir: outer.path('inner'), configDir: outer.configDir });
  inner.write('f.txt', 'inner v1\n');
  inner.commit('inner v1');

  assert.deepEqual(outer.j<{ added: string[] }>(['add', '.']).added, ['inner/f.txt', 'top.txt']);
  outer.ok(['commit', '-m', 'outer']);
  assert.deepEqual(
    outer.j<{ path: string }[]>(['ls']).map((e) => e.path),
    ['inner/f.txt', 'top.txt'],
  );
  outer.fails(['add', 'inner/.shoal/index.db'], 'PATH_OUTSIDE_REPOSITORY');
  outer.fails(['add', 'inner/.shoal'], 'PATH_OUTSIDE_REPOSITORY');
  outer.fails(['add', 'inner/.shoal/'], 'PATH_OUTSIDE_REPOSITORY');

  // The nested repository goes on committing; the outer one sees only its working file change,
  // and a forced checkout of the outer one leaves the nested repository's store alone.
  inner.write('f.txt', 'inner v2\n');
  const v2 = inner.commit('inner v2');
  const st = outer.j<{ unstaged: { path: string }[]; untracked: string[] }>(['status']);
  assert.deepEqual(
    st.unstaged.map((e) => e.path),
    ['inner/f.txt'],
  );
  assert.deepEqual(st.untracked, []);
  outer.ok(['checkout', '-f', 'HEAD']);
  assert.equal(inner.read('f.txt').toString(), 'inner v1\n');
  assert.equal(inner.j<{ id: string }[]>(['log'])[0]!.id, v2);
  inner.ok(['fsck']);

  // Below the root only the exact name is a repository's: names that alias `.shoal` on other
  // file systems are ordinary directories there, and tracked.
  for (const name of ['.SHOAL', 'SHOAL~1']) outer.write(`sub/${name}/kept.txt`, `${name}\n`);
  assert.deepEqual(outer.j<{ added: string[] }>(['add', 'sub']).added, [
    'sub/.SHOAL/kept.txt',
    'sub/SHOAL~1/kept.txt',
  ]);
  assert.equal(outer.j<{ untracked: string[] }>(['status']).untracked.length, 0);
  // A file named .shoal is not a repository: tracked, and named on the command line like any.
  outer.write('sub/.shoal', 'a file\n');
  assert.deepEqual(outer.j<{ added: string[] }>(['add', 'sub/.shoal']).added, ['sub/.shoal']);
  outer.ok(['commit', '-m', 'a file named .shoal']);
  assert.equal(outer.j<{ untracked: string[]; unstaged: unknown[] }>(['status']).unstaged.length, 0);
  outer.ok(['rm', 'sub/.shoal']);
});

test('a path too long to open is named as such by status and add, until .shoalignore lists it', (t) => {
  const repo = newRepo(t);
  repo.write('top.txt', 'top\n');
  // 22 levels of 200-byte names: over PATH_MAX (4096), so made one relative step at a time.
  const level = 'd'.repeat(200);
  const made = spawnSync(
    'sh',
    ['-c', `for i in $(seq 22); do mkdir ${level} && cd -P ${level} || exit 1; done; echo deep > f`],
    {
      cwd: repo.dir,
    },
  );
  assert.equal(made.status, 0, String(made.stderr));
  for (const args of [['status'], ['add', '.']]) {
    const r = repo.fails(args, 'INVALID_NAME');
    assert.match(r.stderr, /too long to open/);
  }
  repo.write('.shoalignore', `${level}/\n`);
  assert.deepEqual(repo.j<{ added: string[] }>(['add', '.']).added, ['.shoalignore', 'top.txt']);
  // A name given that is longer than any name can be: said the same way, not an internal error.
  assert.match(repo.fails(['add', 'n'.repeat(300)], 'INVALID_NAME').stderr, /too long to open/);
});

test('a sparse file comes back from checkout and restore with its holes, not as megabytes of zeros', (t) => {
  const r = newRepo(t);
  // 64 MiB: runs of zeros around 3 MiB of data (a disk image, say), ending in zeros.
  const file = r.path('disk.img');
  const fd = openSync(file, 'w');
  const data = randomBytes(3 * 1024 * 1024);
  writeSync(fd, data, 0, data.length, 20 * 1024 * 1024 + 123);
  ftruncateSync(fd, 64 * 1024 * 1024);
  closeSync(fd);
  const expected = sha256File(file);
  r.commit('image');
  for (const restoreWith of [
    ['checkout', '--force', 'HEAD'],
    ['restore', 'disk.img'],
  ]) {
    rmSync(file);
    r.ok(restoreWith);
    assert.equal(sha256File(file), expected, restoreWith.join(' '));
    assert.equal(statSync(file).size, 64 * 1024 * 1024);
    const allocated = statSync(file).blocks * 512;
    assert.ok(allocated < 8 * 1024 * 1024, `${restoreWith.join(' ')}: ${allocated} bytes allocated`);
  }
  assert.match(r.ok(['status']).stdout, /nothing to commit/);
  r.ok(['fsck']);
});
