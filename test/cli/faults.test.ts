// Bad input and faults, through the real CLI: every failure is a clear error with a stable code
// and exit status, and nothing is lost or corrupted: a flipped byte in a pack, kill -9 during
// add, a full disk, a file that changes while it is being read.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  statSync,
  symlinkSync,
  truncateSync,
  watch,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { chunkLengths, hashChunk, toHex } from '../../src/core/index.ts';
import { BIN, json, shoal, shoalEnv, shoalSpawn, tempDir } from '../helpers.ts';
import {
  asAnotherUser,
  configFor,
  describe,
  newRepo,
  randomFile,
  sha256,
  sha256File,
  type TestRepo,
  withTmpfs,
} from './repo-helpers.ts';

interface Status {
  staged: { path: string; change: string }[];
  unstaged: { path: string; change: string }[];
  untracked: string[];
  head: string | null;
}

interface Fsck {
  ok: boolean;
  objects: number;
  damaged: number;
  problems: { id: string; problem: string }[];
}

const packFiles = (repo: TestRepo): string[] =>
  readdirSync(repo.path('.shoal/packs'))
    .filter((f) => f.endsWith('.pack'))
    .sort()
    .map((f) => repo.path(`.shoal/packs/${f}`));

const packBytes = (repo: TestRepo): number => packFiles(repo).reduce((n, f) => n + statSync(f).size, 0);

function assertClean(repo: TestRepo): void {
  const fsck = repo.j<Fsck>(['fsck']);
  assert.deepEqual([fsck.ok, fsck.problems], [true, []]);
}

/** Wait for a child process to exit (it may have exited already). */
function exitOf(child: ReturnType<typeof spawn>): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return once(child, 'exit').then(([code]) => code as number | null);
}

/** Collect a child's stdout. */
function collect(child: ReturnType<typeof spawn>): () => string {
  let out = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    out += d;
  });
  return () => out;
}

test('not a repository: exit 1, NOT_A_REPOSITORY', (t) => {
  const dir = tempDir(t);
  const configDir = configFor(t);
  for (const args of [
    ['status'],
    ['log'],
    ['add', '.'],
    ['commit', '-m', 'x'],
    ['fsck'],
    ['cat', 'HEAD:x'],
  ]) {
    const r = shoal([...args, '--json'], { cwd: dir, configDir });
    assert.equal(r.status, 1, `${args.join(' ')}: ${describe(r)}`);
    assert.equal(json<{ error: { code: string } }>(r).error.code, 'NOT_A_REPOSITORY');
  }
  const human = shoal(['status'], { cwd: dir, configDir });
  assert.equal(human.status, 1);
  assert.match(human.stderr, /^error: not a shoal repository/);
  assert.equal(human.stdout, '');
  // -C naming a directory that does not exist.
  const missing = shoal(['-C', join(dir, 'nope'), 'status', '--json'], { cwd: dir, configDir });
  assert.equal(missing.status, 1);
  assert.equal(json<{ error: { code: string } }>(missing).error.code, 'PATH_NOT_FOUND');
  // init where a file stands: at the path, or where one of its parents would be.
  writeFileSync(join(dir, 'afile'), 'keep\n');
  for (const target of ['afile', 'afile/sub']) {
    const r = shoal(['init', target, '--json'], { cwd: dir, configDir });
    assert.equal(r.status, 1, describe(r));
    assert.equal(json<{ error: { code: string } }>(r).error.code, 'ALREADY_EXISTS');
  }
  assert.equal(readFileSync(join(dir, 'afile'), 'utf8'), 'keep\n');
});

test('an empty string is no path: restore, rm, add, diff and mv refuse it (it meant the whole tree), nothing changes', (t) => {
  const repo = newRepo(t);
  repo.write('a.txt', 'one\n');
  repo.write('src/b.txt', 'two\n');
  repo.commit('init');
  repo.write('a.txt', 'unsaved work\n');
  repo.write('src/b.txt', 'more work\n');
  for (const args of [
    ['restore', ''],
    ['restore', '--source', 'HEAD', ''],
    ['rm', '-r', ''],
    ['add', ''],
    ['mv', '', 'x'],
  ]) {
    const r = repo.fails(args, 'USAGE', 2);
    assert.match(r.stderr, /empty string is not a path/, args.join(' '));
  }
  const diff = repo.run(['diff', '--', '']); // after --, even --json would be a path
  assert.equal(diff.status, 2, describe(diff));
  assert.match(diff.stderr, /empty string is not a path/);
  // And the same from a subdirectory, where it meant that directory.
  repo.fails(['restore', ''], 'USAGE', 2, repo.path('src'));
  // init and clone into '' (an unset variable): no directory, not the current one.
  assert.match(repo.fails(['init', ''], 'USAGE', 2).stderr, /empty string is not a directory/);
  assert.match(repo.fails(['clone', '/ip4/127.0.0.1/tcp/1', ''], 'USAGE', 2).stderr, /empty string/);
  assert.equal(readFileSync(repo.path('a.txt'), 'utf8'), 'unsaved work\n');
  assert.equal(readFileSync(repo.path('src/b.txt'), 'utf8'), 'more work\n');
  assert.deepEqual(repo.j<Status>(['status']).staged, []);
});

test('a path outside the repository is refused', (t) => {
  const outside = tempDir(t);
  writeFileSync(join(outside, 'x.txt'), 'x');
  const repo = newRepo(t);
  repo.write('in.txt', 'in');
  repo.commit('one');
  repo.fails(['add', '../x.txt'], 'PATH_OUTSIDE_REPOSITORY');
  repo.fails(['add', join(outside, 'x.txt')], 'PATH_OUTSIDE_REPOSITORY');
  repo.fails(['add', 'in.txt', '../x.txt'], 'PATH_OUTSIDE_REPOSITORY');
  repo.fails(['add', '.shoal/index.db'], 'PATH_OUTSIDE_REPOSITORY');
  repo.fails(['add', '.shoal'], 'PATH_OUTSIDE_REPOSITORY');
  // A name that is .shoal on a Mac or on Windows is never added either, nor listed: a commit
  // holding it would write into the repository's directory there.
  repo.write('.SHOAL/config.json', '{}');
  repo.fails(['add', '.SHOAL/config.json'], 'PATH_OUTSIDE_REPOSITORY');
  assert.deepEqual(repo.j<Status>(['status']).untracked, []);
  rmSync(repo.path('.SHOAL'), { recursive: true });
  repo.fails(['restore', '../x.txt'], 'PATH_OUTSIDE_REPOSITORY');
  // A path beyond a symbolic link (here to a directory outside) is not in the working tree.
  symlinkSync(outside, repo.path('link'));
  repo.commit('link', ['link']);
  const beyond = repo.fails(['add', 'link/x.txt'], 'PATH_OUTSIDE_REPOSITORY');
  assert.match(beyond.stderr, /symbolic link/);
  // `link/` names the directory's contents, not the link, as in git; `link` is the link.
  symlinkSync(outside, repo.path('link2'));
  assert.match(repo.fails(['add', 'link2/'], 'PATH_OUTSIDE_REPOSITORY').stderr, /beyond a symbolic link/);
  rmSync(repo.path('link2'));
  const st = repo.j<Status>(['status']);
  assert.deepEqual([st.staged, st.unstaged, st.untracked], [[], [], []]);
});

test('a path that does not exist', (t) => {
  const repo = newRepo(t);
  repo.write('a.txt', 'a');
  repo.commit('one');
  repo.write('b.txt', 'b');
  const r = repo.fails(['add', 'b.txt', 'missing.txt'], 'PATH_NOT_FOUND');
  assert.match(r.stdout, /missing\.txt/);
  assert.deepEqual(repo.j<Status>(['status']).staged, [], 'nothing is staged when one path is bad');
  repo.fails(['restore', 'missing.txt'], 'PATH_NOT_FOUND');
  repo.fails(['restore', '--source', 'HEAD', 'b.txt'], 'PATH_NOT_FOUND');
  repo.fails(['cat', 'HEAD:missing.txt'], 'PATH_NOT_FOUND');
  repo.fails(['cat', 'HEAD:a.txt/deeper'], 'PATH_NOT_FOUND');
  repo.fails(['ls', 'HEAD', 'missing'], 'PATH_NOT_FOUND');
});

test('unknown revisions', (t) => {
  const repo = newRepo(t);
  repo.fails(['show', 'HEAD'], 'UNKNOWN_REV'); // no commits yet
  repo.fails(['checkout', 'main'], 'UNKNOWN_REV');
  repo.write('a.txt', 'a');
  const c1 = repo.commit('one');
  repo.write('a.txt', 'b');
  repo.commit('two');
  const tree = repo.j<{ tree: string }>(['show', c1]).tree;
  for (const rev of [
    'deadbeef',
    'nosuchbranch',
    'HEAD~2',
    'HEAD~1~1',
    'HEAD^^',
    c1.slice(0, 6), // a prefix needs at least 7 characters
    c1.slice(0, 1),
    `${c1}0`,
    tree.slice(0, 12), // a tree is not a commit
    tree,
    '~1',
  ]) {
    repo.fails(['log', rev], 'UNKNOWN_REV');
  }
  repo.fails(['show', 'nope'], 'UNKNOWN_REV');
  repo.fails(['cat', 'nope:a.txt'], 'UNKNOWN_REV');
  repo.fails(['ls', 'nope'], 'UNKNOWN_REV');
  repo.fails(['checkout', 'nope'], 'UNKNOWN_REV');
  repo.fails(['restore', '--source', 'nope', 'a.txt'], 'UNKNOWN_REV');
  assert.equal(repo.read('a.txt').toString(), 'b');
});

test('an ambiguous abbreviated id', (t) => {
  const repo = newRepo(t);
  repo.write('a.txt', 'a');
  const c1 = repo.commit('one');
  // Two commits sharing a 7-hex prefix are too rare to make; add an index row for a second
  // "commit" whose id shares c1's first 7 characters (and differs at the 8th).
  const other = c1.slice(0, 7) + (c1[7] === '0' ? '1' : '0') + c1.slice(8);
  const db = new DatabaseSync(repo.path('.shoal/index.db'));
  db.prepare(
    'INSERT INTO objects (id, type, pack, offset, stored, size, codec) SELECT ?, type, pack, offset, stored, size, codec FROM objects WHERE id = ?',
  ).run(Buffer.from(other, 'hex'), Buffer.from(c1, 'hex'));
  db.close();
  const r = repo.fails(['log', c1.slice(0, 7)], 'AMBIGUOUS_REV');
  assert.match(r.stderr, /ambiguous/);
  repo.fails(['show', c1.slice(0, 7)], 'AMBIGUOUS_REV');
  // One more character is unique again.
  assert.equal(repo.j<{ id: string }[]>(['log', c1.slice(0, 8)])[0]!.id, c1);
  assert.equal(repo.j<{ id: string }[]>(['log', c1])[0]!.id, c1);
});

test('cat of a directory', (t) => {
  const repo = newRepo(t);
  repo.write('d/f.txt', 'f');
  repo.commit('one');
  const r = repo.fails(['cat', 'HEAD:d'], 'NOT_A_FILE');
  assert.equal(r.stdout.startsWith('{"error"'), true, 'no bytes before the error');
  repo.fails(['cat', 'HEAD:'], 'NOT_A_FILE');
});

test('usage errors exit 2', (t) => {
  const repo = newRepo(t);
  repo.write('a.txt', 'a');
  repo.commit('one');
  for (const [i, args] of [
    ['frobnicate'],
    ['status', '--frob'],
    ['add'],
    ['commit'],
    ['commit', '-m'],
    ['commit', '-m', 'x', 'extra'],
    ['cat'],
    ['cat', 'HEAD:a.txt', 'HEAD:a.txt'],
    ['checkout'],
    ['checkout', 'HEAD', 'HEAD'],
    ['restore'],
    ['log', '-n', 'many'],
    ['log', '--max-count=-1'],
    ['log', '--max-count='],
    ['reflog', '--max-count=-1'],
    ['reflog', '-n', '1.5'],
    ['log', '--all', 'HEAD'], // several revisions are taken (as git does), but not with --all
    ['ls', 'HEAD', 'a', 'b'],
    ['show', 'HEAD', 'HEAD'],
    ['init', 'a', 'b'],
    // Words a command does not take are not passed over in silence.
    ['status', 'a.txt'],
    ['fsck', 'HEAD'],
    ['stats', 'x'],
    ['info', 'x'],
    ['id', 'x'],
    ['config', 'list', 'x'],
    ['config', 'get', 'user.name', 'x'],
    ['config', 'set', 'a.b', 'c', 'd'],
    ['config', 'a.b', 'c', 'd'],
    ['config', 'unset', 'a.b', 'c'],
    ['remote', 'list', 'x'],
  ].entries()) {
    // --json right after the command's name: after `-m` it would be the message.
    const r = repo.run([args[0]!, '--json', ...args.slice(1)]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${describe(r)}`);
    assert.equal(json<{ error: { code: string } }>(r).error.code, 'USAGE', args.join(' '));
    if (i > 3) continue; // the human form of a few is enough
    const human = repo.run(args);
    assert.equal(human.status, 2, args.join(' '));
    assert.match(human.stderr, /usage|not a shoal command/, args.join(' '));
    assert.doesNotMatch(human.stderr, /\n\s+at /);
  }
  assert.equal(repo.run(['-C']).status, 2);
  // A count too large for SQLite's LIMIT is no limit.
  assert.deepEqual(repo.j(['reflog', '-n', '99999999999999999999']), repo.j(['reflog']));
  const none = repo.run([]);
  assert.equal(none.status, 2);
  assert.match(none.stdout, /^usage: shoal/);
  const help = repo.run(['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /commands:/);
  assert.equal(repo.run(['add', '--help']).status, 0);
  // `help <command>` is `<command> --help`; an option before the command's name is named as one.
  assert.equal(repo.ok(['help', 'log']).stdout, repo.ok(['log', '--help']).stdout);
  assert.equal(repo.run(['help', 'bogus']).status, 2);
  // Names an object has from its prototype are no commands.
  for (const args of [['toString'], ['help', 'constructor']]) {
    const r = repo.run(args);
    assert.equal(r.status, 2, describe(r));
    assert.match(r.stderr, /is not a shoal command/);
  }
  assert.equal(repo.ok(['help', 'log', '--json']).stdout, repo.ok(['log', '--help']).stdout);
  const early = repo.run(['-n1', 'log']);
  assert.equal(early.status, 2);
  assert.match(early.stderr, /^unknown option '-n1'/);
});

test('a flipped byte in a pack: fsck names the object, cat and checkout fail without wrong bytes', (t) => {
  const repo = newRepo(t);
  const v1 = randomBytes(1 << 20);
  repo.write('data.bin', v1);
  repo.write('other.txt', 'unaffected\n');
  const c1 = repo.commit('v1');
  const v2 = randomBytes(1 << 20);
  repo.write('data.bin', v2);
  const c2 = repo.commit('v2');
  assertClean(repo);

  // The chunk of v1 to damage (the repository uses the default chunker), and its place in a pack.
  const lengths = chunkLengths(v1);
  assert.ok(lengths.length >= 8);
  const start = lengths.slice(0, 5).reduce((a, b) => a + b, 0);
  const chunkId = toHex(hashChunk(v1.subarray(start, start + lengths[5]!)));
  const needle = v1.subarray(start + 1000, start + 1064);
  const hits = packFiles(repo).flatMap((f) => {
    const bytes = readFileSync(f);
    const at = bytes.indexOf(needle);
    return at >= 0 ? [{ f, bytes, at }] : [];
  });
  assert.equal(hits.length, 1, 'the chunk is stored once, uncompressed');
  const { f, bytes, at } = hits[0]!;
  assert.equal(bytes.indexOf(needle, at + 1), -1);
  bytes[at + 10]! ^= 0x01;
  writeFileSync(f, bytes);

  // fsck names the object and fails.
  const fsck = repo.run(['fsck', '--json']);
  assert.equal(fsck.status, 1, describe(fsck));
  const report = json<Fsck>(fsck);
  assert.equal(report.ok, false);
  assert.ok(
    report.problems.some((p) => p.id === chunkId),
    `fsck does not name ${chunkId}: ${JSON.stringify(report.problems)}`,
  );
  const fsckHuman = repo.run(['fsck']);
  assert.equal(fsckHuman.status, 1);
  // The object once, with its pack and offset, and each file that needs it.
  assert.match(
    fsckHuman.stderr,
    new RegExp(`^error: object ${chunkId} is corrupt \\(.*; pack-\\d+\\.pack at offset \\d+\\)$`, 'm'),
  );
  assert.match(
    fsckHuman.stderr,
    new RegExp(`^error: file data\\.bin: needs object ${chunkId}, which is damaged$`, 'm'),
  );
  assert.doesNotMatch(fsckHuman.stderr, /other\.txt/);
  assert.match(fsckHuman.stdout, /verified, \d+ commits, trees and index nodes reachable, 2 problems$/m);
  // The damaged object is not among those verified.
  assert.equal(report.damaged, 1);
  assert.match(fsckHuman.stdout, new RegExp(`^${report.objects - 1} of ${report.objects} objects `));

  // cat streams verified chunks: what it writes is a prefix of the true content, then it fails.
  const cat = repo.run(['cat', `${c1}:data.bin`]);
  assert.equal(cat.status, 1);
  assert.match(cat.stderr, new RegExp(`error: .*${chunkId}.*corrupt`));
  assert.ok(cat.stdoutBytes.length <= start, `cat wrote ${cat.stdoutBytes.length} bytes`);
  assert.ok(cat.stdoutBytes.equals(v1.subarray(0, cat.stdoutBytes.length)), 'cat wrote wrong bytes');
  const catJson = repo.run(['cat', `${c1}:data.bin`, '--json']);
  assert.equal(catJson.status, 1);
  const errAt = catJson.stdoutBytes.lastIndexOf('{"error"');
  assert.ok(errAt >= 0, describe(catJson));
  assert.equal(JSON.parse(catJson.stdoutBytes.subarray(errAt).toString()).error.code, 'CORRUPT_OBJECT');
  assert.ok(catJson.stdoutBytes.subarray(0, errAt).equals(v1.subarray(0, errAt)));

  // checkout and restore of the damaged version fail and leave the working file as it was.
  repo.fails(['checkout', c1], 'CORRUPT_OBJECT');
  assert.equal(sha256File(repo.path('data.bin')), sha256(v2));
  assert.equal(repo.j<Status>(['status']).head, c2, 'HEAD did not move');
  repo.fails(['restore', '--source', c1, 'data.bin'], 'CORRUPT_OBJECT');
  assert.equal(sha256File(repo.path('data.bin')), sha256(v2));
  rmSync(repo.path('data.bin'));
  repo.fails(['restore', '--source', c1, 'data.bin'], 'CORRUPT_OBJECT');
  assert.equal(existsSync(repo.path('data.bin')), false, 'no partial file is left at the path');
  assert.deepEqual(
    readdirSync(repo.dir).filter((n) => n.includes('tmp')),
    [],
    'no temporary files are left',
  );
  // Everything else still reads.
  repo.ok(['restore', 'data.bin']);
  assert.equal(sha256File(repo.path('data.bin')), sha256(v2));
  assert.equal(repo.ok(['cat', `${c1}:other.txt`]).stdout, 'unaffected\n');
  assert.ok(repo.ok(['cat', `${c2}:data.bin`]).stdoutBytes.equals(v2));

  // An intact copy repairs it: added again, the chunk is stored anew (fsck recorded it as
  // damaged, so add does not take it as stored), and the commit reads whole again; gc, which
  // refused to copy a pack holding a damaged object, then compacts.
  assert.match(repo.run(['fsck']).stderr, /^hint: an intact copy repairs a damaged object/m);
  repo.write('data.bin', v1);
  repo.ok(['add', 'data.bin']);
  assertClean(repo);
  assert.ok(repo.ok(['cat', `${c1}:data.bin`]).stdoutBytes.equals(v1));
  repo.ok(['gc', '--prune=now', '--aggressive']);
  assertClean(repo);
  assert.ok(repo.ok(['cat', `${c1}:data.bin`]).stdoutBytes.equals(v1));
});

test('init is all or nothing: after a kill there is no repository or a whole one, and init runs again', async (t) => {
  const root = tempDir(t);
  const configDir = configFor(t);
  type ErrorOut = { error: { code: string } };
  // The index an earlier init was making when it was killed (its process is gone): the
  // directory is not a repository yet, and the next init clears it away.
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  const left = join(root, 'left');
  mkdirSync(join(left, '.shoal', 'packs'), { recursive: true });
  writeFileSync(join(left, '.shoal', `index.db.init-${dead}`), 'half-made');
  const before = shoal(['status', '--json'], { cwd: left, configDir });
  assert.equal(json<ErrorOut>(before).error.code, 'NOT_A_REPOSITORY', describe(before));
  assert.match(before.stderr, /is what an init that did not finish left: run 'shoal init' there again$/m);
  assert.equal(shoal(['init', left], { configDir }).status, 0);
  assert.deepEqual(
    readdirSync(join(left, '.shoal')).filter((n) => n.startsWith('index.db.init-')),
    [],
  );
  assert.equal(shoal(['status'], { cwd: left, configDir }).status, 0);

  // Killed the moment its .shoal directory appears, again and again.
  for (let i = 0; i < 8; i++) {
    const dir = join(root, `k${i}`);
    const child = shoalSpawn(['init', dir], { configDir });
    const exited = exitOf(child);
    while (!existsSync(join(dir, '.shoal')) && child.exitCode === null) await delay(1);
    child.kill('SIGKILL');
    await exited;
    const r = shoal(['status', '--json'], { cwd: dir, configDir });
    if (r.status === 0) continue; // it finished first
    assert.equal(json<ErrorOut>(r).error.code, 'NOT_A_REPOSITORY', describe(r));
    const again = shoal(['init', dir], { configDir });
    assert.equal(again.status, 0, describe(again));
    assert.equal(shoal(['status'], { cwd: dir, configDir }).status, 0);
  }
});

test('kill -9 in the middle of adding a large file', async (t) => {
  const repo = newRepo(t);
  repo.write('small.txt', 'before\n');
  const c1 = repo.commit('before');
  const size = 300 << 20;
  const digest = randomFile(repo.path('big.bin'), size);
  const before = packBytes(repo);

  const child = shoalSpawn(['add', 'big.bin'], { cwd: repo.dir, configDir: repo.configDir });
  const exited = exitOf(child);
  // Poll the pack directory (bounded) until add has written a good part of the file.
  const deadline = Date.now() + 120_000;
  while (packBytes(repo) < before + (64 << 20)) {
    assert.equal(child.exitCode, null, 'add finished before it could be interrupted');
    assert.ok(Date.now() < deadline, 'add made no progress');
    await delay(5);
  }
  // Freeze it while it holds the lock: a second writer is kept out.
  child.kill('SIGSTOP');
  const locked = repo.fails(['add', 'small.txt'], 'LOCKED');
  assert.match(locked.stdout, new RegExp(String(child.pid)));
  // Its holder is alive, and known to be (its start time matches): no advice to remove the lock.
  assert.match(locked.stderr, /shoal add\); try again once it is done/);
  assert.doesNotMatch(locked.stderr, /remove/);
  child.kill('SIGKILL');
  await exited;
  assert.equal(child.signalCode, 'SIGKILL');
  assert.ok(packBytes(repo) > before + (64 << 20), 'the killed add left bytes behind');
  assert.equal(
    Number.parseInt(readFileSync(repo.path('.shoal/lock'), 'utf8'), 10),
    child.pid,
    'and a stale lock',
  );

  // The repository opens, passes fsck, and lost at most the add in flight.
  const st = repo.j<Status>(['status']);
  assert.deepEqual(st.staged, []);
  assert.deepEqual(st.untracked, ['big.bin']);
  assertClean(repo);
  assert.equal(repo.ok(['cat', `${c1}:small.txt`]).stdout, 'before\n');
  // Adding again completes (taking over the stale lock) and the file checks out byte-exact.
  assert.deepEqual(repo.j<{ added: string[] }>(['add', 'big.bin']).added, ['big.bin']);
  repo.ok(['commit', '-m', 'big']);
  assertClean(repo);
  assert.ok(packBytes(repo) < before + size + (2 << 20), 'the uncommitted tail was reclaimed');
  rmSync(repo.path('big.bin'));
  repo.ok(['restore', 'big.bin']);
  assert.equal(sha256File(repo.path('big.bin')), digest);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const)
  test(`${signal} during add stops cleanly: ABORTED, lock released, nothing half-stored`, async (t) => {
    const repo = newRepo(t);
    repo.write('small.txt', 'before\n');
    repo.commit('before');
    randomFile(repo.path('big.bin'), 160 << 20);
    const before = packBytes(repo);
    const child = shoalSpawn(['add', 'big.bin', '--json'], { cwd: repo.dir, configDir: repo.configDir });
    const out = collect(child);
    const exited = exitOf(child);
    const deadline = Date.now() + 120_000;
    while (packBytes(repo) < before + (16 << 20)) {
      assert.equal(child.exitCode, null, 'add finished before it could be interrupted');
      assert.ok(Date.now() < deadline, 'add made no progress');
      await delay(5);
    }
    child.kill(signal);
    assert.equal(await exited, 1);
    assert.equal(JSON.parse(out()).error.code, 'ABORTED');
    assert.equal(existsSync(repo.path('.shoal/lock')), false, 'the lock is released');
    assert.equal(packBytes(repo), before, 'the uncommitted pack tail is truncated');
    assert.deepEqual(repo.j<Status>(['status']).untracked, ['big.bin']);
    assertClean(repo);
  });

test('an object missing from the store: fsck names it, cat fails with MISSING_OBJECT', (t) => {
  const repo = newRepo(t);
  const data = randomBytes(300_000);
  repo.write('data.bin', data);
  repo.commit('one');
  const lengths = chunkLengths(data);
  const lost = hashChunk(data.subarray(lengths[0]!, lengths[0]! + lengths[1]!));
  const db = new DatabaseSync(repo.path('.shoal/index.db'));
  assert.equal(db.prepare('DELETE FROM objects WHERE id = ?').run(lost).changes, 1);
  db.close();
  const fsck = repo.run(['fsck', '--json']);
  assert.equal(fsck.status, 1);
  assert.ok(json<Fsck>(fsck).problems.some((p) => p.id === toHex(lost)));
  // cat writes the first chunk, then stops where the missing one would start.
  const cat = repo.run(['cat', 'HEAD:data.bin', '--json']);
  assert.equal(cat.status, 1);
  assert.match(cat.stderr, new RegExp(toHex(lost)));
  const errAt = cat.stdoutBytes.lastIndexOf('{"error"');
  assert.equal(errAt, lengths[0]);
  assert.ok(cat.stdoutBytes.subarray(0, errAt).equals(data.subarray(0, errAt)));
  assert.equal(JSON.parse(cat.stdoutBytes.subarray(errAt).toString()).error.code, 'MISSING_OBJECT');
  rmSync(repo.path('data.bin'));
  repo.fails(['restore', 'data.bin'], 'MISSING_OBJECT');
  assert.equal(existsSync(repo.path('data.bin')), false);
});

test('a pack replaced by a directory: every command says so, and nothing is removed', (t) => {
  const repo = newRepo(t);
  repo.write('a.txt', 'hello\n');
  repo.commit('one');
  const [pack] = packFiles(repo);
  rmSync(pack!);
  mkdirSync(pack!);
  writeFileSync(join(pack!, 'keep'), 'not ours');
  // Not ours either: recovery removes only files no pack row names.
  mkdirSync(repo.path('.shoal/packs/stray'));
  for (const args of [['status'], ['cat', 'HEAD:a.txt'], ['add', '.'], ['checkout', '--force', 'HEAD']]) {
    const r = repo.fails(args, 'CORRUPT_OBJECT');
    assert.match(r.stderr, /^error: pack pack-0+1\.pack is not a file\n$/, args.join(' '));
  }
  const fsck = repo.run(['fsck', '--json']);
  assert.equal(fsck.status, 1);
  const problems = json<Fsck>(fsck).problems;
  // Each object in it says so, and each file that needs one of them is named.
  assert.ok(problems.some((p) => /is not a file/.test(p.problem)));
  assert.ok(
    problems.every((p) => /is not a file|needs object [0-9a-f]{64}, which is damaged/.test(p.problem)),
  );
  assert.equal(readFileSync(join(pack!, 'keep'), 'utf8'), 'not ours');
  assert.ok(existsSync(repo.path('.shoal/packs/stray')));
});

test('a disk that fills up while add streams a large file through its workers', async (t) => {
  // Files from 32 MiB on are cut by worker threads and stored straight from their memory (no
  // copy): a failed write must still fail the add cleanly, with the pack as it was.
  await withTmpfs(t, '112m', async (mnt) => {
    mkdirSync(join(mnt, 'repo'));
    const repo = newRepo(t, { dir: join(mnt, 'repo') });
    repo.write('small.txt', 'committed before the disk filled\n');
    repo.commit('before');
    randomFile(join(mnt, 'filler'), 40 << 20);
    const digest = randomFile(repo.path('big.bin'), 48 << 20); // about 24 MiB left: not enough
    const before = packBytes(repo);
    const r = repo.fails(['add', 'big.bin'], 'DISK_FULL');
    assert.match(
      r.stderr,
      /no space left on device; the repository is intact: free some space and run the command again/,
    );
    assert.equal(packBytes(repo), before, 'the partly written pack tail is given back');
    assertClean(repo);
    rmSync(join(mnt, 'filler'));
    repo.ok(['add', 'big.bin']);
    repo.ok(['commit', '-m', 'big']);
    assertClean(repo);
    assert.equal(sha256(repo.ok(['cat', 'HEAD:big.bin']).stdoutBytes), digest);
  });
});

test('on a full disk the repository can still be read: log, ls, cat, status, fsck; a commit says the disk is full', async (t) => {
  await withTmpfs(t, '16m', async (mnt) => {
    mkdirSync(join(mnt, 'repo'));
    const repo = newRepo(t, { dir: join(mnt, 'repo') });
    repo.write('keep.txt', 'what the user needs back\n');
    const c1 = repo.commit('before the disk filled');
    // Fill the file system to the last block.
    const fd = openSync(join(mnt, 'filler'), 'w');
    const block = Buffer.alloc(64 * 1024);
    try {
      for (;;) writeSync(fd, block);
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
    }
    try {
      for (;;) writeSync(fd, block, 0, 512);
    } catch {}
    closeSync(fd);
    assert.equal(repo.j<{ id: string }[]>(['log'])[0]!.id, c1);
    assert.equal(repo.ok(['cat', 'HEAD:keep.txt']).stdout, 'what the user needs back\n');
    assert.deepEqual(
      repo.j<{ path: string }[]>(['ls']).map((e) => e.path),
      ['keep.txt'],
    );
    assert.equal(repo.j<{ branch: string }>(['status']).branch, 'main');
    assert.equal(repo.j<{ ok: boolean }>(['fsck']).ok, true);
    assert.match(
      repo.fails(['commit', '--allow-empty', '-m', 'two'], 'DISK_FULL').stderr,
      /no space left on device/,
    );
    rmSync(join(mnt, 'filler'));
    repo.ok(['commit', '--allow-empty', '-m', 'two']);
  });
});

test('a disk that fills up during add', async (t) => {
  await withTmpfs(t, '64m', async (mnt) => {
    mkdirSync(join(mnt, 'repo'));
    const repo = newRepo(t, { dir: join(mnt, 'repo') });
    repo.write('small.txt', 'committed before the disk filled\n');
    repo.write('dir/more.bin', randomBytes(200_000));
    const c1 = repo.commit('before');
    const moreSha = sha256File(repo.path('dir/more.bin'));
    // 24 MiB of filler and a 24 MiB file leave about 16 MiB: not enough to store the file.
    randomFile(join(mnt, 'filler'), 24 << 20);
    const digest = randomFile(repo.path('big.bin'), 24 << 20);
    const before = packBytes(repo);
    const r = repo.fails(['add', 'big.bin'], 'DISK_FULL');
    assert.equal(packBytes(repo), before, 'the partly written pack tail is given back');
    assert.match(r.stderr, /no space left on device/);
    const human = repo.run(['add', 'big.bin']);
    assert.equal(human.status, 1);
    assert.match(human.stderr, /^error: .*no space left on device/);

    // The repository is intact: fsck passes and the earlier commit checks out.
    assertClean(repo);
    const st = repo.j<Status>(['status']);
    assert.deepEqual([st.staged, st.untracked], [[], ['big.bin']]);
    rmSync(repo.path('dir'), { recursive: true });
    repo.ok(['checkout', '--force', c1]);
    assert.equal(sha256File(repo.path('dir/more.bin')), moreSha);
    assert.equal(repo.ok(['cat', `${c1}:small.txt`]).stdout, 'committed before the disk filled\n');
    repo.ok(['checkout', 'main']);

    // With space freed, add works.
    rmSync(join(mnt, 'filler'));
    assert.deepEqual(repo.j<{ added: string[] }>(['add', 'big.bin']).added, ['big.bin']);
    repo.ok(['commit', '-m', 'big']);
    assertClean(repo);
    rmSync(repo.path('big.bin'));

    // Writing the file back (with O_DIRECT where tmpfs takes it) also fails cleanly on a full
    // disk: a one-line error, and neither the file nor its temporary is left behind.
    randomFile(join(mnt, 'filler'), 24 << 20);
    const full = repo.fails(['restore', 'big.bin'], 'DISK_FULL');
    assert.match(full.stderr, /no space left on device writing/);
    assert.deepEqual(
      readdirSync(repo.dir).filter((n) => n.includes('big.bin')),
      [],
    );
    // A small file (written in one synchronous call) fails the same way, and the file it would
    // replace stays as it was. The disk is filled, then 64 KiB given back: room for the index's
    // shared memory, not for the file's 200 KB.
    const noRoom = join(mnt, 'no-room');
    const fill = (): void => {
      const fd = openSync(noRoom, 'a');
      try {
        for (;;) writeSync(fd, Buffer.alloc(4096, 1));
      } catch {} // the disk is full
      closeSync(fd);
    };
    repo.write('dir/more.bin', 'local edit\n'); // first: this frees the file's space
    fill();
    truncateSync(noRoom, statSync(noRoom).size - 64 * 1024);
    const small = repo.fails(['restore', 'dir/more.bin'], 'DISK_FULL');
    assert.match(small.stderr, /no space left on device writing/);
    assert.equal(readFileSync(repo.path('dir/more.bin'), 'utf8'), 'local edit\n');
    assert.deepEqual(
      readdirSync(repo.path('dir')).filter((n) => n.includes('shoal-tmp')),
      [],
    );
    // With no room at all the index opens for reading only: status reports, and a command that
    // writes says the disk is full, not an I/O error.
    fill();
    assert.ok(repo.j<Status>(['status']).unstaged.some((c) => c.path === 'dir/more.bin'));
    const none = repo.fails(['restore', 'dir/more.bin'], 'DISK_FULL');
    assert.match(none.stderr, /no space left on device/);
    assert.equal(readFileSync(repo.path('dir/more.bin'), 'utf8'), 'local edit\n');
    rmSync(join(mnt, 'no-room'));
    rmSync(join(mnt, 'filler'));

    repo.ok(['restore', 'big.bin']);
    assert.equal(sha256File(repo.path('big.bin')), digest);
  });
});

/** A child process that keeps writing to `file` until killed; resolves once it has written. */
async function writer(file: string, mode: 'overwrite' | 'append') {
  const script =
    mode === 'overwrite'
      ? // In place, at random offsets, as fast as it can: the size never changes.
        `const fs = require('node:fs'); const fd = fs.openSync(${JSON.stringify(file)}, 'r+');
         const size = fs.fstatSync(fd).size; const buf = Buffer.alloc(4096, 0x5a); let n = 0;
         const step = () => { fs.writeSync(fd, buf, 0, buf.length, Math.floor(Math.random() * (size - 4096)));
           if (++n === 1) process.stdout.write('writing\\n'); setImmediate(step); };
         step();`
      : // Appending 16 KiB per millisecond at most, far slower than add reads.
        `const fs = require('node:fs'); const fd = fs.openSync(${JSON.stringify(file)}, 'a');
         const buf = Buffer.alloc(16384, 0x5a); let n = 0;
         const step = () => { fs.writeSync(fd, buf);
           if (++n === 1) process.stdout.write('writing\\n'); setTimeout(step, 1); };
         step();`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const out = collect(child);
  const exited = exitOf(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', () => {
      if (out().includes('writing')) resolve();
    });
    exited.then((code) => reject(new Error(`writer exited with ${code}`)));
  });
  return {
    stop: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

for (const mode of ['overwrite', 'append'] as const) {
  test(`a file modified while it is being added is reported and never stored torn (${mode})`, async (t) => {
    const repo = newRepo(t);
    repo.write('other.txt', 'other\n');
    repo.commit('one');
    randomFile(repo.path('big.bin'), 64 << 20);
    const w = await writer(repo.path('big.bin'), mode);
    t.after(() => w.stop());
    const child = shoalSpawn(['add', '.', '--json'], { cwd: repo.dir, configDir: repo.configDir });
    const out = collect(child);
    const code = await exitOf(child);
    await w.stop();
    assert.equal(code, 1, out());
    const result = JSON.parse(out()) as { added: string[]; failed: { path: string; code: string }[] };
    assert.deepEqual(
      result.failed.map((f) => [f.path, f.code]),
      [['big.bin', 'FILE_CHANGED_WHILE_READING']],
    );
    assert.deepEqual(result.added, []);
    // Not staged, in any version.
    const st = repo.j<Status>(['status']);
    assert.deepEqual([st.staged, st.untracked], [[], ['big.bin']]);
    const human = repo.run(['add', 'big.bin']);
    assert.equal(human.status, 0, 'with the writer gone, add succeeds');
    // What is stored is exactly the file as it now is.
    repo.ok(['commit', '-m', 'big']);
    assert.equal(sha256(repo.ok(['cat', 'HEAD:big.bin']).stdoutBytes), sha256File(repo.path('big.bin')));
    assertClean(repo);
  });
}

test('a switch stopped by a full disk completes when run again, and loses nothing', async (t) => {
  await withTmpfs(t, '64m', async (mnt) => {
    mkdirSync(join(mnt, 'repo'));
    const repo = newRepo(t, { dir: join(mnt, 'repo') });
    const path = (i: number): string => `d${i % 30}/f${i}.bin`;
    // main: 1,000 files of 4 KiB. more: each of them changed, and 2,000 more (random: they
    // take their full size in the packs too).
    for (let i = 0; i < 1000; i++) repo.write(path(i), randomBytes(4096));
    repo.commit('main');
    repo.ok(['switch', '-c', 'more']);
    const want = new Map<string, string>();
    for (let i = 0; i < 3000; i++) {
      const data = randomBytes(4096);
      repo.write(path(i), data);
      want.set(path(i), sha256(data));
    }
    repo.commit('more');
    repo.ok(['switch', 'main']);
    // Leave 4 MiB: enough for the changed files (each replaces one), not for all the new ones.
    const free = (): number => {
      const s = statfsSync(mnt);
      return s.bavail * s.bsize;
    };
    randomFile(join(mnt, 'filler'), free() - (4 << 20));
    const r = repo.fails(['switch', 'more'], 'DISK_FULL');
    assert.match(r.stderr, /no space left on device/);
    const temporaries = readdirSync(repo.dir, { recursive: true }).filter((n) => String(n).includes('tmp'));
    assert.deepEqual(temporaries, [], 'no temporary file is left behind');
    // status still reports on the full disk (it only skips refreshing stat stamps).
    assert.equal(repo.j<{ branch: string }>(['status']).branch, 'main', 'HEAD moves only at the end');

    // With room again, the same command completes the move.
    rmSync(join(mnt, 'filler'));
    repo.ok(['switch', 'more']);
    for (const [p, h] of want) assert.equal(sha256File(repo.path(p)), h, p);
    const st = repo.j<Status & { branch: string }>(['status']);
    assert.deepEqual([st.branch, st.staged, st.unstaged, st.untracked], ['more', [], [], []]);
    assertClean(repo);
    // And back: the 2,000 files main does not have go, and so do no others.
    repo.ok(['switch', 'main']);
    const left = readdirSync(repo.dir, { recursive: true }).filter((n) => String(n).endsWith('.bin'));
    assert.equal(left.length, 1000);
  });
});

test('the error message for a changing file names it (human output)', async (t) => {
  const repo = newRepo(t);
  randomFile(repo.path('grow.bin'), 32 << 20);
  const w = await writer(repo.path('grow.bin'), 'append');
  t.after(() => w.stop());
  const child = shoalSpawn(['add', 'grow.bin'], { cwd: repo.dir, configDir: repo.configDir });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    stderr += d;
  });
  const code = await exitOf(child);
  await w.stop();
  assert.equal(code, 1);
  assert.match(stderr, /grow\.bin.*changed while it was being read/);
  assert.doesNotMatch(stderr, /\n\s+at /);
});

test('a config value that is not a string, or a config file that is a directory, is refused', (t) => {
  const repo = newRepo(t);
  repo.write('a.txt', 'a');
  repo.commit('one');
  for (const value of [5, { name: 'x' }, null]) {
    writeFileSync(repo.path('.shoal/config.json'), JSON.stringify({ 'user.name': value }));
    const r = repo.fails(['commit', '--allow-empty', '-m', 'two'], 'INVALID_ARGUMENT');
    assert.match(r.stderr, /user\.name/);
  }
  writeFileSync(join(repo.configDir, 'config.json'), JSON.stringify({ 'user.name': 7 }));
  repo.fails(['commit', '--allow-empty', '-m', 'two'], 'INVALID_ARGUMENT');
  writeFileSync(join(repo.configDir, 'config.json'), '{}');
  // A bad value stops only what reads it, and `shoal config` repairs it.
  writeFileSync(repo.path('.shoal/config.json'), JSON.stringify({ 'serve.mdns': true, 'user.name': 5 }));
  repo.ok(['status']);
  assert.match(repo.ok(['config', 'list']).stdout, /^serve\.mdns=true \(not a string\)$/m);
  assert.match(
    repo.fails(['commit', '--allow-empty', '-m', 'two'], 'INVALID_ARGUMENT').stderr,
    /shoal config user\.name/,
  );
  // Setting another key keeps the bad value as it is (not turned into a string that would pass).
  repo.ok(['config', 'user.email', 'e@x']);
  assert.equal(JSON.parse(readFileSync(repo.path('.shoal/config.json'), 'utf8'))['user.name'], 5);
  repo.fails(['commit', '--allow-empty', '-m', 'two'], 'INVALID_ARGUMENT');
  repo.ok(['config', 'user.name', 'Fixed']);
  repo.ok(['config', 'unset', 'serve.mdns']);
  repo.ok(['config', 'unset', 'user.email']);
  assert.deepEqual(JSON.parse(readFileSync(repo.path('.shoal/config.json'), 'utf8')), {
    'user.name': 'Fixed',
  });
  // Even a setting read when the repository opens can be repaired; the global file's error
  // names --global.
  writeFileSync(repo.path('.shoal/config.json'), JSON.stringify({ 'core.compression': 1 }));
  repo.fails(['status'], 'INVALID_ARGUMENT');
  repo.ok(['config', 'unset', 'core.compression']);
  repo.ok(['status']);
  // A string that is no valid value is refused where it is read, naming the key and the fix.
  repo.ok(['config', 'core.compression', 'banana']);
  assert.match(
    repo.fails(['status'], 'INVALID_ARGUMENT').stderr,
    /core\.compression is 'banana'.*auto or none/,
  );
  repo.ok(['config', 'core.compression', 'none']);
  repo.ok(['status']);
  repo.ok(['config', 'unset', 'core.compression']);
  repo.ok(['config', 'gc.grace', 'banana']);
  assert.match(repo.fails(['gc'], 'INVALID_ARGUMENT').stderr, /config gc\.grace: .*shoal config gc\.grace/);
  repo.ok(['config', 'unset', 'gc.grace']);
  writeFileSync(join(repo.configDir, 'config.json'), JSON.stringify({ 'user.name': 7 }));
  assert.match(
    repo.fails(['commit', '--allow-empty', '-m', 'two'], 'INVALID_ARGUMENT').stderr,
    /shoal config --global user\.name/,
  );
  writeFileSync(join(repo.configDir, 'config.json'), JSON.stringify({ 'user.name': 'T' }));
  rmSync(repo.path('.shoal/config.json'));
  mkdirSync(repo.path('.shoal/config.json'));
  assert.match(repo.fails(['status'], 'INVALID_ARGUMENT').stderr, /config\.json is a directory/);
  rmSync(repo.path('.shoal/config.json'), { recursive: true });
  assert.equal(repo.j<unknown[]>(['log']).length, 1);
  assertClean(repo);
});

test('a truncated or overwritten repository index is reported as corrupt, not as an internal error', (t) => {
  const repo = newRepo(t);
  repo.write('a.txt', 'a');
  repo.commit('one');
  const index = repo.path('.shoal/index.db');
  const good = readFileSync(index);
  for (const bad of [
    good.subarray(0, Math.floor(good.length / 2)),
    randomBytes(good.length),
    Buffer.alloc(0),
  ]) {
    writeFileSync(index, bad);
    for (const args of [['status'], ['log'], ['fsck']]) {
      const r = repo.fails(args, 'CORRUPT_OBJECT');
      assert.match(r.stderr, /^error: the repository index .*index\.db is corrupt: /);
    }
    // Reading never writes into the damaged index (an empty one was given a fresh schema).
    assert.ok(readFileSync(index).equals(bad));
  }
  // Without its index, the directory is no repository, and the error says what is missing.
  rmSync(index);
  assert.match(
    repo.fails(['status'], 'NOT_A_REPOSITORY').stderr,
    /\.shoal has no index\.db \(a damaged repository\?\)/,
  );
  writeFileSync(index, good);
  assertClean(repo);
});

test('a damaged page of the index: fsck reports it, log and commit refuse instead of starting a new history', (t) => {
  const repo = newRepo(t);
  repo.write('a.txt', 'a');
  const c1 = repo.commit('one');
  const index = repo.path('.shoal/index.db');
  const good = readFileSync(index);
  const rootPage = (table: string): number => {
    const db = new DatabaseSync(index, { readOnly: true });
    const row = db.prepare('SELECT rootpage FROM sqlite_master WHERE name = ?').get(table) as {
      rootpage: number;
    };
    db.close();
    return row.rootpage;
  };
  const damage = (page: number): void => {
    const bytes = Buffer.from(good);
    // Cell pointers of a table's leaf page made to point past the page: its rows read as NULLs.
    bytes.fill(0x13, (page - 1) * 4096 + 8, (page - 1) * 4096 + 16);
    writeFileSync(index, bytes);
  };
  for (const table of ['refs', 'staging', 'packs', 'meta']) {
    damage(rootPage(table));
    if (table === 'meta') {
      // Without its format the repository does not open: that is said as damage too.
      assert.match(repo.fails(['fsck'], 'CORRUPT_OBJECT').stderr, /index\.db is damaged/);
    } else {
      const fsck = json<Fsck>(repo.run(['fsck', '--json']));
      assert.equal(fsck.ok, false, table);
      assert.match(fsck.problems[0]!.problem, /the repository index \.shoal\/index\.db is damaged/, table);
    }
    if (table === 'refs' || table === 'meta') {
      for (const args of [['log'], ['status'], ['commit', '--allow-empty', '-m', 'again']])
        assert.match(
          repo.fails(args, 'CORRUPT_OBJECT').stderr,
          /index\.db is damaged/,
          `${table}: ${args[0]}`,
        );
    }
  }
  writeFileSync(index, good);
  assert.equal(repo.j<{ id: string }[]>(['log']).length, 1);
  assert.equal(repo.j<{ id: string }[]>(['log'])[0]!.id, c1);

  // A pack whose header was overwritten: its objects still verify, and fsck names the pack.
  const pack = readdirSync(repo.path('.shoal/packs')).find((n) => n.endsWith('.pack'))!;
  const fd = openSync(repo.path(`.shoal/packs/${pack}`), 'r+');
  writeSync(fd, Buffer.from('XX'), 0, 2, 0);
  closeSync(fd);
  const fsck = json<Fsck>(repo.run(['fsck', '--json']));
  assert.deepEqual(
    fsck.problems.map((p) => [p.id, p.problem]),
    [[pack, `pack ${pack} has a damaged header`]],
  );
});

test('-C naming a file, or nothing, and cat of the root: one-line errors', (t) => {
  const repo = newRepo(t);
  repo.write('f.txt', 'f\n');
  repo.commit('one');
  assert.match(
    repo.fails(['-C', repo.path('f.txt'), 'status'], 'PATH_NOT_FOUND').stderr,
    /^error: cannot change to '.*f\.txt': not a directory$/m,
  );
  symlinkSync('nowhere', repo.path('dangling'));
  assert.match(
    repo.fails(['-C', repo.path('dangling'), 'status'], 'PATH_NOT_FOUND').stderr,
    /^error: cannot change to '.*dangling': no such directory$/m,
  );
  symlinkSync('loop', repo.path('loop'));
  assert.match(
    repo.fails(['-C', repo.path('loop'), 'status'], 'PATH_NOT_FOUND').stderr,
    /^error: cannot change to '.*loop': too many levels of symbolic links$/m,
  );
  // Not even init makes it, as git refuses it too.
  repo.fails(['-C', 'new/dir', 'init'], 'PATH_NOT_FOUND');
  assert.equal(existsSync(repo.path('new')), false);
  assert.match(
    repo.fails(['cat', 'HEAD:'], 'NOT_A_FILE').stderr,
    /'HEAD:' names the root directory, not a file/,
  );
  const bogus = repo.run(['status', '--bogus']);
  assert.equal(bogus.status, 2);
  assert.match(bogus.stderr, /^unknown option '--bogus'\nusage: shoal status/);
});

test('a file over the file size limit (EFBIG) is a one-line error, for restore and for add', (t) => {
  const repo = newRepo(t);
  repo.write('big.bin', randomBytes(3 * 1024 * 1024));
  repo.commit('big');
  rmSync(repo.path('big.bin'));
  repo.write('new.bin', randomBytes(3 * 1024 * 1024));
  const limited = (args: string[]) =>
    spawnSync('bash', ['-c', 'ulimit -f 1024; exec "$0" "$@"', process.execPath, BIN, ...args, '--json'], {
      cwd: repo.dir,
      env: shoalEnv({ configDir: repo.configDir }),
      encoding: 'utf8',
    });
  for (const [args, message] of [
    [
      ['restore', 'big.bin'],
      /cannot write .*big\.bin': too large for this file system or your file size limit/,
    ],
    [['add', 'new.bin'], /a pack file would grow past this file system or your file size limit/],
  ] as const) {
    const r = limited([...args]);
    assert.equal(r.status, 1, r.stderr);
    const e = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
    assert.equal(e.code, 'FILE_TOO_LARGE');
    assert.match(e.message, message);
  }
  assertClean(repo);
});

test('Ctrl-C during a checkout removes the file it was writing; a kill -9 leftover is passed over, then removed', async (t) => {
  const repo = newRepo(t);
  const size = 192 * 1024 * 1024;
  const v1 = randomFile(repo.path('big.bin'), size);
  const c1 = repo.commit('v1');
  const fd = openSync(repo.path('big.bin'), 'r+');
  writeSync(fd, Buffer.from('changed'), 0, 7, size / 2);
  closeSync(fd);
  repo.commit('v2');
  const temporaries = (): string[] => readdirSync(repo.dir).filter((n) => n.includes('.shoal-tmp-'));
  // Run `checkout <rev>` and send `signal` the moment its temporary appears.
  const interrupt = async (
    rev: string,
    signal: NodeJS.Signals,
  ): Promise<{ code: number | null; stderr: string }> => {
    const child = shoalSpawn(['-C', repo.dir, 'checkout', rev], { configDir: repo.configDir });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    let sent = false;
    const watcher = watch(repo.dir, (_event, name) => {
      if (sent || !String(name).includes('.shoal-tmp-')) return;
      sent = true;
      child.kill(signal);
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    watcher.close();
    return { code, stderr };
  };
  const stopped = await interrupt(c1, 'SIGINT');
  assert.equal(stopped.code, 1, stopped.stderr);
  assert.match(stopped.stderr, /^error: interrupted$/m);
  assert.deepEqual(temporaries(), []);
  repo.ok(['checkout', c1]);
  assert.equal(sha256File(repo.path('big.bin')), v1);

  const killed = await interrupt('main', 'SIGKILL');
  assert.equal(killed.code, null);
  assert.equal(temporaries().length, 1, 'kill -9 leaves its temporary');
  const st = repo.j<Status>(['status']);
  assert.deepEqual(st.untracked, [], "a temporary is never taken for a file of the user's");
  repo.ok(['checkout', 'main']);
  assert.deepEqual(temporaries(), [], 'the next write of the file removes what the killed one left');
  // A small file's leftover goes when a checkout next writes into its directory.
  const gone = spawnSync(process.execPath, ['-e', '0']).pid!; // a process that has ended
  writeFileSync(repo.path(`.notes.txt.shoal-tmp-${gone}`), 'half written');
  assert.deepEqual(repo.j<Status>(['status']).untracked, []);
  // Named, it is refused: recorded, it would show as deleted in every status after.
  repo.fails(['add', `.notes.txt.shoal-tmp-${gone}`], 'INVALID_NAME');
  repo.ok(['checkout', c1]);
  assert.deepEqual(temporaries(), []);
  assertClean(repo);
});

test('init where .shoal is a file: a clear error, the file kept', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, '.shoal'), 'mine\n');
  const r = shoal(['init', dir, '--json'], { configDir: tempDir(t) });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(json<{ error: { code: string } }>(r).error.code, 'ALREADY_EXISTS');
  assert.match(r.stderr, /^error: cannot create a repository at .*\.shoal' exists and is not a directory\n$/);
  assert.equal(readFileSync(join(dir, '.shoal'), 'utf8'), 'mine\n');
});

test('a file whose name is not UTF-8 is named, by add in an error and by status in a list, not passed over', (t) => {
  const repo = newRepo(t);
  repo.write('a.txt', 'a');
  repo.commit('one');
  const bad = Buffer.concat([Buffer.from(`${repo.dir}/d/bad`), Buffer.from([0xff, 0xfe])]);
  mkdirSync(repo.path('d'));
  writeFileSync(bad, 'lost?');
  repo.write('d/good.txt', 'good');
  for (const args of [
    ['add', '.'],
    ['add', 'd'],
    ['add', 'd/bad\ufffd\ufffd'], // the name as a command line argument reaches the program
  ]) {
    const r = repo.fails(args, 'INVALID_NAME');
    assert.match(r.stderr, /'d\/bad\\xff\\xfe'.*not valid UTF-8/);
  }
  // status goes on: inside an untracked directory the name is covered by `d/`; in a tracked
  // directory it is listed on its own (it cannot be recorded).
  let st = repo.j<Status & { notUtf8: string[] }>(['status']);
  assert.deepEqual([st.untracked, st.notUtf8], [['d/'], []]);
  writeFileSync(Buffer.concat([Buffer.from(`${repo.dir}/top`), Buffer.from([0xe9])]), 'latin-1');
  st = repo.j<Status & { notUtf8: string[] }>(['status']);
  assert.deepEqual([st.untracked, st.notUtf8], [['d/'], ['top\\xe9']]);
  assert.match(repo.ok(['status']).stdout, /names that are not UTF-8 .*:\n {2}"top\\xe9"\n/);
  rmSync(Buffer.concat([Buffer.from(`${repo.dir}/top`), Buffer.from([0xe9])]));
  // Once ignored, it is left alone.
  repo.write('.shoalignore', 'd/bad*\n');
  repo.ok(['add', '.']);
  assert.deepEqual(
    repo.j<Status>(['status']).staged.map((s) => s.path),
    ['.shoalignore', 'd/good.txt'],
  );
  // In a tracked directory whose own name needs escapes, the whole path is escaped: one line.
  repo.write('new\nline/"q"/kept.txt', 'kept');
  repo.commit('odd directory names', ['new\nline/"q"/kept.txt']);
  writeFileSync(Buffer.concat([Buffer.from(`${repo.dir}/new\nline/"q"/x\\`), Buffer.from([0xff])]), '');
  st = repo.j<Status & { notUtf8: string[] }>(['status']);
  assert.deepEqual(st.notUtf8, ['new\\nline/\\"q\\"/x\\\\\\xff']);
  assert.match(repo.ok(['status']).stdout, /^ {2}"new\\nline\/\\"q\\"\/x\\\\\\xff"$/m);
});

test('a repository on a read-only file system: a clear PERMISSION_DENIED, not an internal error', async (t) => {
  await withTmpfs(t, '8m', (mnt) => {
    mkdirSync(join(mnt, 'repo'));
    const repo = newRepo(t, { dir: join(mnt, 'repo') });
    repo.write('a.txt', 'a');
    repo.commit('one');
    const remount = spawnSync('mount', ['-o', 'remount,ro', mnt], { encoding: 'utf8' });
    assert.equal(remount.status, 0, remount.stderr);
    for (const args of [['log'], ['status'], ['add', 'a.txt']]) {
      const r = repo.fails(args, 'PERMISSION_DENIED');
      assert.match(r.stderr, /^error: cannot write the repository index .* \(read-only file system\)/);
    }
  });
});

test('an index the user cannot write: PERMISSION_DENIED naming the files, not an internal error', (t) => {
  // Root writes any file: the commands run as another user, who owns the repository.
  const repo = newRepo(t);
  repo.write('a.txt', 'a');
  repo.commit('one');
  const asNobody = asAnotherUser(t, repo);
  if (!asNobody) return;
  chmodSync(repo.path('.shoal/index.db'), 0o444);
  repo.write('a.txt', 'b');
  const r = asNobody(['add', 'a.txt', '--json']);
  assert.equal(r.status, 1, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'PERMISSION_DENIED');
  assert.match(
    r.stderr,
    /^error: cannot write the repository index: \.shoal\/index\.db .*index\.db-shm.* is read-only to you\n$/,
  );
  assert.equal(asNobody(['log', '--oneline']).status, 0); // reading still works
});

test('status over an untracked directory the user cannot read: a warning, and the rest of the report', (t) => {
  const repo = newRepo(t);
  repo.write('a.txt', 'a');
  repo.commit('one');
  repo.write('other/new.txt', 'new');
  repo.write('pgdata/secret', 's');
  // A directory someone else owns (a database's data directory): root's, unreadable to the user.
  const asNobody = asAnotherUser(t, repo, ['pgdata', 'pgdata/secret']);
  if (!asNobody) return;
  chmodSync(repo.path('pgdata'), 0o700);
  repo.write('a.txt', 'changed');
  const r = asNobody(['status']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^warning: could not read directory pgdata\/: permission denied$/m);
  assert.match(r.stdout, /modified +a\.txt/);
  assert.match(r.stdout, /other\//);
  const j = JSON.parse(asNobody(['status', '--json']).stdout) as {
    unreadable: string[];
    untracked: string[];
  };
  assert.deepEqual(j.unreadable, ['pgdata']);
  assert.deepEqual(j.untracked, ['other/']);
  // add . too: the warning, and everything else staged.
  const added = asNobody(['add', '.']);
  assert.equal(added.status, 0, added.stderr);
  assert.match(added.stderr, /^warning: could not read directory pgdata\/: permission denied$/m);
  const after = JSON.parse(asNobody(['status', '--json']).stdout) as { staged: { path: string }[] };
  assert.deepEqual(
    after.staged.map((c) => c.path),
    ['a.txt', 'other/new.txt'],
  );
});

test('a damaged HEAD or branch in the index is reported, and no commit is made on top of it', (t) => {
  const repo = newRepo(t);
  repo.write('a.txt', 'a');
  const c1 = repo.commit('one');
  const index = repo.path('.shoal/index.db');
  const good = readFileSync(index);
  const set = (sql: string): void => {
    const db = new DatabaseSync(index);
    db.exec(sql);
    db.close();
  };
  for (const [sql, what] of [
    ["UPDATE meta SET value = 'garbage' WHERE key = 'HEAD'", /HEAD is corrupt/],
    ["UPDATE meta SET value = 'ref: refs/heads/' WHERE key = 'HEAD'", /HEAD is corrupt/],
    ["UPDATE meta SET value = 'ref: refs/heads/a b/..' WHERE key = 'HEAD'", /HEAD is corrupt/],
    [`UPDATE meta SET value = '${c1.slice(2)}' WHERE key = 'HEAD'`, /HEAD is corrupt/],
    ["UPDATE refs SET id = x'0011' WHERE name = 'refs/heads/main'", /ref 'refs\/heads\/main' is corrupt/],
  ] as const) {
    writeFileSync(index, good);
    set(sql);
    const r = repo.fails(['commit', '--allow-empty', '-m', 'two'], 'CORRUPT_OBJECT');
    assert.match(r.stderr, what);
    repo.fails(['status'], 'CORRUPT_OBJECT');
    const fsck = json<Fsck>(repo.run(['fsck', '--json']));
    assert.equal(fsck.ok, false);
    assert.ok(
      fsck.problems.some((p) => p.id === 'HEAD' && what.test(p.problem)),
      describe(repo.run(['fsck'])),
    );
    const db = new DatabaseSync(index);
    const refs = db
      .prepare('SELECT name FROM refs')
      .all()
      .map((r) => r.name);
    assert.deepEqual(refs, ['refs/heads/main'], 'no ref was added');
    db.close();
    if (sql.includes("key = 'HEAD'")) {
      // The way out: a forced switch (or checkout) of a branch needs no record of where it starts.
      assert.match(repo.fails(['switch', 'main'], 'CORRUPT_OBJECT').stderr, /switch --force <branch>/);
      repo.ok(sql.includes('garbage') ? ['checkout', '--force', 'main'] : ['switch', '--force', 'main']);
      assert.equal(repo.j<{ id: string }[]>(['log'])[0]!.id, c1);
      assert.equal(repo.j<{ branch: string }>(['status']).branch, 'main');
      assert.equal(repo.read('a.txt').toString(), 'a');
    }
  }
  writeFileSync(index, good);
  assert.equal(repo.j<{ id: string }[]>(['log'])[0]!.id, c1);
});

test('an identity file holding null or a seed that is not a string: a clear error', (t) => {
  const repo = newRepo(t);
  const file = join(repo.configDir, 'identity.json');
  for (const doc of ['null', '7', '{"type":"ed25519","seed":5}', '{"seed":[1,2]}']) {
    writeFileSync(file, doc);
    const r = repo.fails(['commit', '--allow-empty', '-m', 'x'], 'CORRUPT_OBJECT');
    assert.match(r.stderr, /^error: identity file .* does not hold an Ed25519 key\n$/);
  }
});

test('paths the system refuses are said as it says them: no internal error, and no endless loop under /proc', (t) => {
  const dir = tempDir(t);
  const configDir = tempDir(t);
  // Killed if it blocks: the test then fails instead of hanging.
  const r = (args: string[], env?: Record<string, string>) =>
    spawnSync(process.execPath, [BIN, ...args, '--json'], {
      cwd: dir,
      env: shoalEnv({ configDir, env }),
      encoding: 'utf8',
      timeout: 60_000,
    });
  const expect = (res: ReturnType<typeof r>, code: string, message: RegExp): void => {
    assert.equal(res.signal, null, 'it ended');
    assert.equal(res.status, 1, res.stderr);
    const err = (JSON.parse(res.stdout) as { error: { code: string; message: string } }).error;
    assert.equal(err.code, code, res.stdout);
    assert.match(err.message, message);
    assert.doesNotMatch(res.stderr, /internal error|\n\s+at /);
  };
  expect(r(['init', 'n'.repeat(300)]), 'INVALID_NAME', /file name too long/);
  writeFileSync(join(dir, 'a-file'), 'x');
  expect(r(['id'], { SHOAL_CONFIG_DIR: join(dir, 'a-file') }), 'NOT_FOUND', /not a directory/);
  if (existsSync('/proc/self')) {
    // Node's recursive mkdir loops for ever there (ENOENT, then EEXIST for /proc, and again).
    expect(r(['init', '/proc/no-such-dir']), 'NOT_FOUND', /no such file or directory: \/proc\/no-such-dir/);
    expect(r(['id'], { SHOAL_CONFIG_DIR: '/proc/no-such-dir' }), 'NOT_FOUND', /\/proc\/no-such-dir/);
  }
});

test('fetch, pull and push in a new repository with no remote say that there is no remote', (t) => {
  const repo = newRepo(t);
  repo.write('a.txt', 'a\n');
  repo.commit('one');
  for (const args of [['fetch'], ['pull'], ['push']]) {
    const r = repo.fails(args, 'NOT_FOUND');
    assert.match(r.stderr, /no remote 'origin'/, args[0]);
  }
});

test("init inside a repository's .shoal directory is refused, and makes nothing there", (t) => {
  const repo = newRepo(t);
  const inside = repo.path('.shoal/packs');
  const r = shoal(['init', 'x', '--json'], { cwd: inside, configDir: repo.configDir });
  assert.equal(r.status, 1, r.stderr);
  assert.match(
    r.stderr,
    /cannot create a repository inside '.*\.shoal', the \.shoal directory of the repository at/,
  );
  assert.equal(existsSync(join(inside, 'x')), false);
  assert.equal(shoal(['init'], { cwd: repo.path('.shoal'), configDir: repo.configDir }).status, 1);
  assert.equal(existsSync(repo.path('.shoal/.shoal')), false);
});
