// End to end: the local-repository workflow through the real CLI in temporary directories.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { BIN, json, shoal, shoalEnv, tempDir } from '../helpers.ts';
import { configFor, describe, newRepo, randomFile, sha256, sha256File } from './repo-helpers.ts';

interface LogEntry {
  id: string;
  tree: string;
  parents: string[];
  author: { name: string; key: string };
  time: number;
  message: string;
}

interface Status {
  branch: string | null;
  head: string | null;
  staged: { path: string; change: string }[];
  unstaged: { path: string; change: string }[];
  untracked: string[];
}

interface Added {
  added: string[];
  modified: string[];
  removed: string[];
  unchanged: number;
}

interface LsEntry {
  path: string;
  kind: string;
  executable: boolean;
  size: number;
  id: string;
}

const HEX64 = /^[0-9a-f]{64}$/;

test('the whole workflow: init, add, status, commit, log, show, ls, cat, fsck, stats', (t) => {
  const dir = tempDir(t);
  const configDir = configFor(t);
  const init = shoal(['init', '--json'], { cwd: dir, configDir });
  assert.equal(init.status, 0, init.stderr);
  assert.deepEqual(json(init), { root: dir });
  assert.ok(statSync(join(dir, '.shoal')).isDirectory());
  // init <dir> creates the directory.
  const second = shoal(['init', 'second', '--json'], { cwd: dir, configDir });
  assert.equal(second.status, 0, second.stderr);
  assert.deepEqual(json(second), { root: join(dir, 'second') });
  const repo = newRepo(t, { dir: join(dir, 'second'), configDir, init: false });
  repo.fails(['init'], 'ALREADY_A_REPOSITORY');
  repo.fails(['init', dir], 'ALREADY_A_REPOSITORY');

  // An empty repository.
  assert.deepEqual(repo.j<unknown[]>(['log']), []);
  assert.match(repo.ok(['log']).stdout, /no commits yet/);
  let st = repo.j<Status>(['status']);
  assert.deepEqual([st.branch, st.head, st.staged, st.unstaged, st.untracked], ['main', null, [], [], []]);
  assert.match(repo.ok(['status']).stdout, /on branch main\nno commits yet/);

  const big = randomBytes(3 << 20);
  repo.write('a.txt', 'hello\n');
  repo.write('dir/b.bin', big);
  repo.write('dir/sub/c.txt', 'see\n');
  st = repo.j<Status>(['status']);
  assert.deepEqual(st.untracked, ['a.txt', 'dir/']);

  const added = repo.j<{ added: string[]; modified: string[]; removed: string[]; unchanged: number }>([
    'add',
    '.',
  ]);
  assert.deepEqual(added.added, ['a.txt', 'dir/b.bin', 'dir/sub/c.txt']);
  assert.deepEqual([added.modified, added.removed, added.unchanged], [[], [], 0]);
  st = repo.j<Status>(['status']);
  assert.deepEqual(st.staged, [
    { path: 'a.txt', change: 'added' },
    { path: 'dir/b.bin', change: 'added' },
    { path: 'dir/sub/c.txt', change: 'added' },
  ]);
  assert.deepEqual([st.unstaged, st.untracked], [[], []]);
  assert.match(repo.ok(['status']).stdout, /changes to be committed:\n\s+added\s+a.txt\n/);

  const c1 = repo.j<{ id: string; tree: string; parents: string[]; branch: string }>([
    'commit',
    '-m',
    'first',
  ]);
  assert.match(c1.id, HEX64);
  assert.match(c1.tree, HEX64);
  assert.deepEqual([c1.parents, c1.branch], [[], 'main']);
  assert.match(repo.ok(['status']).stdout, /nothing to commit, working tree clean/);
  repo.fails(['commit', '-m', 'again'], 'NOTHING_TO_COMMIT');

  repo.write('a.txt', 'hello again\n');
  repo.ok(['add', 'a.txt']);
  const commitOut = repo.ok(['commit', '-m', 'second', '--author', 'Someone Else']).stdout;
  const c2 = repo.j<LogEntry[]>(['log', '-n', '1'])[0]!.id;
  assert.equal(commitOut.trim(), `[main ${c2.slice(0, 12)}] second`);
  rmSync(repo.path('dir/sub/c.txt'));
  const c3 = repo.commit('third\n\nwith a body', ['dir']);

  // log
  const log = repo.j<LogEntry[]>(['log']);
  assert.deepEqual(
    log.map((e) => [e.id, e.parents, e.message, e.author.name]),
    [
      [c3, [c2], 'third\n\nwith a body', 'Test Author'],
      [c2, [c1.id], 'second', 'Someone Else'],
      [c1.id, [], 'first', 'Test Author'],
    ],
  );
  for (const e of log) {
    assert.match(e.tree, HEX64);
    assert.match(e.author.key, HEX64);
    assert.equal(typeof e.time, 'number');
  }
  assert.equal(log[0]!.author.key, log[2]!.author.key, 'one identity signs all');
  assert.ok(log[0]!.time >= log[1]!.time && log[1]!.time >= log[2]!.time);
  assert.equal(log[2]!.tree, c1.tree);
  assert.equal(
    repo.ok(['log', '--oneline']).stdout,
    `${c3.slice(0, 12)} third\n${c2.slice(0, 12)} second\n${c1.id.slice(0, 12)} first\n`,
  );
  assert.deepEqual(
    repo.j<LogEntry[]>(['log', '-n', '2']).map((e) => e.id),
    [c3, c2],
  );
  assert.deepEqual(
    repo.j<LogEntry[]>(['log', 'HEAD~1']).map((e) => e.id),
    [c2, c1.id],
  );
  const human = repo.ok(['log', '-n', '1']).stdout;
  assert.match(
    human,
    new RegExp(`^commit ${c3}\nauthor: Test Author <[0-9a-f]{16}>\ndate: +\\d{4}-\\d\\d-\\d\\d`),
  );
  assert.match(human, /\n {4}third\n {4}\n {4}with a body\n/);

  // show
  const show = repo.j<{
    id: string;
    parents: string[];
    message: string;
    signatureValid: boolean;
    changes: { path: string; change: string; oldSize: number | null; newSize: number | null }[];
  }>(['show', 'HEAD']);
  assert.equal(show.id, c3);
  assert.deepEqual(show.parents, [c2]);
  assert.equal(show.signatureValid, true);
  assert.deepEqual(show.changes, [{ path: 'dir/sub/c.txt', change: 'deleted', oldSize: 4, newSize: null }]);
  assert.deepEqual(repo.j<{ changes: unknown[] }>(['show', c2]).changes, [
    { path: 'a.txt', change: 'modified', oldSize: 6, newSize: 12 },
  ]);
  assert.equal(repo.j<{ changes: unknown[] }>(['show', c1.id]).changes.length, 3);
  const showHuman = repo.ok(['show', c2]).stdout;
  assert.match(showHuman, new RegExp(`^commit ${c2}\nparent ${c1.id}\n`));
  assert.match(showHuman, /signature: good/);
  assert.match(showHuman, /modified +a\.txt \(6 B -> 12 B\)/);

  // ls
  const ls1 = repo.j<LsEntry[]>(['ls', c1.id]);
  assert.deepEqual(
    ls1.map((e) => [e.path, e.kind, e.executable, e.size]),
    [
      ['a.txt', 'file', false, 6],
      ['dir/b.bin', 'file', false, big.length],
      ['dir/sub/c.txt', 'file', false, 4],
    ],
  );
  for (const e of ls1) assert.match(e.id, HEX64);
  assert.deepEqual(
    repo.j<LsEntry[]>(['ls']).map((e) => e.path),
    ['a.txt', 'dir/b.bin'],
  );
  assert.deepEqual(
    repo.j<LsEntry[]>(['ls', 'HEAD~2', 'dir/sub']).map((e) => e.path),
    ['dir/sub/c.txt'],
  );
  assert.deepEqual(
    repo.j<LsEntry[]>(['ls', 'HEAD', 'a.txt']).map((e) => [e.path, e.size]),
    [['a.txt', 12]],
  );
  // A path alone lists HEAD's (what is no revision but a path of HEAD's); else an unknown rev.
  assert.deepEqual(
    repo.j<LsEntry[]>(['ls', 'dir']).map((e) => e.path),
    ['dir/b.bin'],
  );
  assert.deepEqual(
    repo.j<LsEntry[]>(['ls', 'b.bin'], repo.path('dir')).map((e) => e.path),
    ['dir/b.bin'],
  );
  repo.fails(['ls', 'nothing-by-that-name'], 'UNKNOWN_REV');
  const lsHuman = repo.ok(['ls', c1.id]).stdout.split('\n');
  assert.match(lsHuman[0]!, /^[0-9a-f]{12} +6 a\.txt$/);
  assert.match(lsHuman[1]!, new RegExp(`^[0-9a-f]{12} ${big.length} dir/b\\.bin$`));

  // cat: the exact bytes, binary included
  assert.equal(repo.ok(['cat', `${c1.id}:a.txt`]).stdout, 'hello\n');
  assert.equal(repo.ok(['cat', 'HEAD:a.txt']).stdout, 'hello again\n');
  assert.equal(repo.ok(['cat', 'HEAD~2:dir/sub/c.txt']).stdout, 'see\n');
  assert.ok(repo.ok(['cat', 'HEAD:dir/b.bin']).stdoutBytes.equals(big));

  // fsck and stats
  const fsck = repo.j<{ ok: boolean; problems: unknown[]; objects: number; reachable: number }>(['fsck']);
  assert.deepEqual([fsck.ok, fsck.problems], [true, []]);
  assert.ok(fsck.reachable > 0 && fsck.objects >= fsck.reachable);
  assert.match(repo.ok(['fsck']).stdout, /0 problems/);
  const stats = repo.j<{ commits: number; chunks: number; logicalBytes: number; storedBytes: number }>([
    'stats',
  ]);
  assert.equal(stats.commits, 3);
  assert.equal(stats.logicalBytes, 3 * big.length + 6 + 4 + 12 + 12 + 4);
  assert.ok(stats.storedBytes > big.length && stats.storedBytes < big.length + 64 * 1024);
  assert.match(repo.ok(['stats']).stdout, /dedup ratio +\d+\.\d\dx/);
});

test('-C, -q and running from a subdirectory', (t) => {
  const repo = newRepo(t);
  repo.write('sub/deeper/f.txt', 'f\n');
  repo.write('top.txt', 't\n');
  // A relative path is relative to the directory the command runs in.
  repo.ok(['add', 'deeper'], repo.path('sub'));
  const st = repo.j<Status>(['status'], repo.path('sub/deeper'));
  assert.deepEqual(st.staged, [{ path: 'sub/deeper/f.txt', change: 'added' }]);
  assert.deepEqual(st.untracked, ['top.txt']);
  // -C runs as if started there, from anywhere.
  const elsewhere = tempDir(t);
  const viaC = json<Status>(
    shoal(['-C', repo.dir, 'status', '--json'], { cwd: elsewhere, configDir: repo.configDir }),
  );
  assert.deepEqual(viaC.staged, st.staged);
  const q = repo.run(['-q', 'add', 'top.txt']);
  assert.equal(q.status, 0);
  assert.equal(q.stdout, '');
  assert.equal(repo.run(['commit', '-q', '-m', 'quiet']).stdout, '');
  assert.equal(repo.j<LogEntry[]>(['log']).length, 1);
  // -q quiets what a command reports, not the data a query is run for.
  assert.match(repo.ok(['-q', 'log', '--oneline']).stdout, /^[0-9a-f]{12} quiet\n$/);
  assert.equal(repo.ok(['-q', 'config', 'get', 'user.name']).stdout, 'Test Author\n');
  assert.match(repo.ok(['-q', 'ls']).stdout, /top\.txt\n$/);
  assert.equal(repo.ok(['-q', 'branch']).stdout, repo.ok(['branch']).stdout);
  assert.match(repo.ok(['-q', 'branch']).stdout, /^\* main /);
  const id = repo.ok(['-q', 'id']);
  assert.match(id.stdout, /^12D3KooW\w+\n$/);
  assert.equal(id.stderr, '');
  // The repository reached through a symbolic link: absolute paths through the link name its
  // files, with -C through the link and without (a shell's $PWD keeps the link's name).
  const link = join(tempDir(t), 'link');
  symlinkSync(repo.dir, link);
  repo.write('sub/via-link.txt', 'l\n');
  repo.write('sub/via-c.txt', 'c\n');
  repo.ok(['add', join(link, 'sub/via-link.txt')], repo.path('sub'));
  repo.ok(['-C', link, 'add', repo.path('sub/via-c.txt')], elsewhere);
  assert.deepEqual(
    repo.j<Status>(['status']).staged.map((e) => e.path),
    ['sub/via-c.txt', 'sub/via-link.txt'],
  );
  // ls takes its path relative to the directory it runs in, and lists that directory by default.
  repo.ok(['commit', '-m', 'more']);
  const ls = (args: string[], cwd: string): string[] =>
    repo.j<LsEntry[]>(['ls', ...args], cwd).map((e) => e.path);
  assert.deepEqual(ls(['HEAD', 'deeper'], repo.path('sub')), ['sub/deeper/f.txt']);
  assert.deepEqual(ls(['HEAD', '.'], repo.path('sub/deeper')), ['sub/deeper/f.txt']);
  assert.deepEqual(ls([], repo.path('sub/deeper')), ['sub/deeper/f.txt']);
  assert.deepEqual(ls(['HEAD', '..'], repo.path('sub/deeper')), [
    'sub/deeper/f.txt',
    'sub/via-c.txt',
    'sub/via-link.txt',
  ]);
  assert.equal(ls([], repo.dir).length, 4);
  mkdirSync(repo.path('not-committed'));
  assert.deepEqual(ls([], repo.path('not-committed')), []);
  // The root through the link is the root.
  assert.deepEqual(repo.j<{ added: string[] }>(['add', link], repo.path('sub')).added, []);
});

test('every command takes -C and --json', (t) => {
  const repo = newRepo(t);
  const elsewhere = tempDir(t);
  const run = (...args: string[]) => {
    const r = shoal(['-C', repo.dir, ...args, '--json'], { cwd: elsewhere, configDir: repo.configDir });
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    return json<Record<string, unknown>>(r);
  };
  repo.write('f.txt', 'one\n');
  assert.deepEqual(run('add', 'f.txt').added, ['f.txt']);
  const c1 = run('commit', '-m', 'one').id as string;
  repo.write('f.txt', 'two\n');
  run('add', '.');
  run('commit', '-m', 'two');
  assert.equal((run('status') as unknown as Status).branch, 'main');
  assert.equal((run('log') as unknown as LogEntry[]).length, 2);
  assert.equal(run('show', c1).id, c1);
  assert.equal((run('ls', c1) as unknown as LsEntry[])[0]!.size, 4);
  assert.equal(run('fsck').ok, true);
  assert.equal(run('stats').commits, 2);
  assert.deepEqual(run('restore', '--source', c1, 'f.txt').restored, ['f.txt']);
  assert.equal(repo.read('f.txt').toString(), 'one\n');
  repo.ok(['restore', 'f.txt']);
  assert.equal(run('checkout', c1).commit, c1);
  assert.equal(repo.read('f.txt').toString(), 'one\n');
  // cat writes the file's bytes, not JSON, and -q does not silence them.
  const cat = shoal(['-C', repo.dir, '-q', 'cat', 'main:f.txt'], {
    cwd: elsewhere,
    configDir: repo.configDir,
  });
  assert.deepEqual([cat.status, cat.stdout], [0, 'two\n']);
  // -C relative to the directory the command starts in; global options may follow the command.
  const rel = shoal(['status', '-C', basename(repo.dir), '--json'], {
    cwd: dirname(repo.dir),
    configDir: repo.configDir,
  });
  assert.equal(rel.status, 0, rel.stderr);
  assert.equal(json<Status>(rel).head, c1);
});

test('a value is the option\'s own, whatever it looks like: commit -m "-h" commits, as in git', (t) => {
  const repo = newRepo(t);
  // Messages that look like the global options -h, -C<dir>, -q and --json.
  const messages = ['-h', '-Cleanup the thing', '-q', '--json'];
  for (const m of messages) {
    const r = repo.ok(['commit', '--allow-empty', '-m', m]);
    assert.match(r.stdout, /^\[main [0-9a-f]{12}\] /);
  }
  repo.ok(['commit', '--allow-empty', '-qm', '-n']); // -q taken, then -m with its own value
  repo.ok(['commit', '--allow-empty', '-mq']); // the message is "q", nothing is quiet
  repo.ok(['commit', '--allow-empty', '--message', '-x']);
  const log = repo.j<{ message: string }[]>(['log']);
  assert.deepEqual(
    log.map((c) => c.message.trim()),
    ['-x', 'q', '-n', ...messages.slice().reverse()],
  );
  // Bundles of global and command letters, and a negative count reaching the command's check.
  assert.equal(repo.j<unknown[]>(['log', '-qn2', '--json']).length, 2);
  const viaBundle = shoal(['-qC', repo.dir, 'log', '-n1', '--json'], {
    cwd: tmpdir(),
    configDir: repo.configDir,
  });
  assert.equal(viaBundle.status, 0, viaBundle.stderr);
  assert.equal(json<unknown[]>(viaBundle).length, 1);
  const negative = repo.run(['log', '-n', '-1']);
  assert.equal(negative.status, 2);
  assert.match(negative.stderr, /'-1' is not a number of commits/);
  const version = repo.run(['--version']);
  assert.match(version.stdout, /^shoal \d+\.\d+\.\d+\n$/);
  assert.equal(repo.run(['--version', 'status']).stdout, version.stdout); // as git: the version only
  // Letters in order, as git reads them: after one the command does not know, 'h' asks no help.
  const typo = repo.run(['rm', '-dash']);
  assert.equal(typo.status, 2, typo.stdout);
  assert.match(typo.stderr, /unknown option '-d'/);
  assert.match(repo.run(['rm', '-rh']).stdout, /^usage: shoal rm /);
  // Paths after `--` (git's way) are misuse here, said so, not taken for revisions.
  repo.write('t', 'local change\n');
  const checkoutPaths = repo.run(['checkout', '--', 't']);
  assert.equal(checkoutPaths.status, 2, describe(checkoutPaths));
  assert.match(checkoutPaths.stderr, /shoal restore/);
  const logPaths = repo.run(['log', '--', 't']);
  assert.equal(logPaths.status, 2, describe(logPaths));
  assert.match(logPaths.stderr, /does not filter by path/);
  repo.ok(['log', 'main', '--']); // a bare `--` (git's "a revision, not a path") is fine
  assert.equal(readFileSync(repo.path('t'), 'utf8'), 'local change\n');
});

test('started in a directory deleted since: -C with an absolute path works, and otherwise one clear line', (t) => {
  const repo = newRepo(t);
  repo.write('a.txt', 'a\n');
  repo.commit('one');
  const gone = join(tempDir(t), 'gone');
  mkdirSync(gone);
  // The shell's directory is removed under it (a shell started there, the directory deleted).
  const inGone = (args: string[]) =>
    spawnSync(
      'sh',
      ['-c', `cd "$1" && rmdir "$1" && shift && exec "$@"`, 'sh', gone, process.execPath, BIN, ...args],
      {
        encoding: 'utf8',
        env: shoalEnv({ configDir: repo.configDir }),
      },
    );
  const viaC = inGone(['-C', repo.dir, 'log', '--json']);
  assert.equal(viaC.status, 0, viaC.stderr);
  assert.equal((JSON.parse(viaC.stdout) as unknown[]).length, 1);
  mkdirSync(gone);
  const here = inGone(['status']);
  assert.equal(here.status, 1);
  assert.equal(
    here.stderr,
    'error: the current directory no longer exists; change to another one, or name one with -C <dir>\n',
  );
  mkdirSync(gone);
  assert.equal(inGone(['id']).status, 0); // a command that needs no directory runs
});

test('cat reads <rev>:<path> as git does: from the root, or from the current directory with ./ and ../', (t) => {
  const repo = newRepo(t);
  repo.write('a.txt', 'top\n');
  repo.write('sub/f.txt', 'inner\n');
  repo.commit('one');
  const sub = repo.path('sub');
  const cat = (args: string[], cwd = repo.dir): string => repo.ok(['cat', ...args], cwd).stdout;
  assert.equal(cat(['HEAD:a.txt'], sub), 'top\n'); // from the root, wherever it runs
  assert.equal(cat(['HEAD:sub/f.txt'], sub), 'inner\n');
  assert.equal(cat(['HEAD:./a.txt']), 'top\n');
  assert.equal(cat(['HEAD:./f.txt'], sub), 'inner\n');
  assert.equal(cat(['HEAD:../a.txt'], sub), 'top\n');
  assert.equal(cat([':./f.txt'], sub), 'inner\n');
  assert.equal(cat(['f.txt'], sub), 'inner\n'); // a bare path, like every command's path arguments
  assert.equal(cat([repo.path('sub/f.txt')], sub), 'inner\n'); // absolute, too
  repo.fails(['cat', join(repo.dir, '..', 'elsewhere.txt')], 'PATH_OUTSIDE_REPOSITORY');
  assert.equal(repo.ok(['-C', 'sub', 'cat', 'HEAD:./f.txt']).stdout, 'inner\n');
  // A trailing slash names a directory, so on a file it names nothing.
  const r = repo.fails(['cat', 'HEAD:a.txt/'], 'PATH_NOT_FOUND');
  assert.match(r.stderr, /path 'a\.txt\/' does not exist in 'HEAD'/);
  repo.fails(['cat', 'HEAD:sub/'], 'NOT_A_FILE');
  repo.fails(['cat', 'HEAD:../outside.txt'], 'PATH_OUTSIDE_REPOSITORY');
  repo.fails(['cat', 'HEAD:./a.txt'], 'PATH_NOT_FOUND', 1, sub);
});

test('commit refuses an empty or blank message, as git does, and records nothing', (t) => {
  const repo = newRepo(t);
  repo.write('a.txt', 'a');
  repo.ok(['add', 'a.txt']);
  for (const m of ['', '   ', '\n\t\n']) {
    const r = repo.fails(['commit', '-m', m], 'INVALID_ARGUMENT');
    assert.match(r.stderr, /the message is empty/);
  }
  assert.equal(repo.j<unknown[]>(['log']).length, 0);
  repo.fails(['commit', '-m', 'a', '--author', ' '], 'INVALID_ARGUMENT'); // not a silent fallback
  repo.ok(['commit', '-m', 'a']);
  assert.equal(repo.j<unknown[]>(['log']).length, 1);
});

test('status merges HEAD, the index and the working tree in byte order, whatever the names', (t) => {
  // Names where a directory's paths ('a/...') sort after a file's ('a.txt', 'a-b') in byte order
  // but not by name, and names beyond ASCII and beyond the BMP.
  const repo = newRepo(t);
  const names = ['a/b.txt', 'a/c/d', 'a.txt', 'a-b/c', 'a0', 'ä/x', '😀/y', '\ue000.txt', 'b/a/b', 'b.a/b'];
  for (const n of names) repo.write(n, `${n}\n`);
  repo.ok(['add', '.']);
  repo.commit('tricky names');
  assert.deepEqual(repo.j<Status>(['status']), {
    ...repo.j<Status>(['status']),
    staged: [],
    unstaged: [],
    untracked: [],
  });
  assert.match(repo.ok(['status']).stdout, /nothing to commit, working tree clean/);

  repo.write('a/b.txt', 'changed\n');
  rmSync(repo.path('a.txt'));
  repo.write('a/new', 'untracked\n');
  repo.write('a.b/z', 'untracked directory\n');
  repo.write('\ue000.txt', 'staged change\n');
  repo.ok(['add', '\ue000.txt']);
  repo.write('a+', 'new and staged\n');
  repo.ok(['add', 'a+']);
  const st = repo.j<Status>(['status']);
  assert.deepEqual(st.staged, [
    { path: 'a+', change: 'added' },
    { path: '\ue000.txt', change: 'modified' },
  ]);
  assert.deepEqual(st.unstaged, [
    { path: 'a.txt', change: 'deleted' },
    { path: 'a/b.txt', change: 'modified' },
  ]);
  assert.deepEqual([...st.untracked].sort(), ['a.b/', 'a/new']);
});

test('add writes staged entries in batches while it still reads later pages of the index', (t) => {
  const repo = newRepo(t);
  const name = (i: number) => `s/f${String(i).padStart(4, '0')}`;
  // 2,500 staged files, then 2,500 new ones between them: more than one batch (2,000) of entries
  // is written while pages (1,000) of the staged ones after them are still to be read.
  for (let i = 0; i < 5000; i += 2) repo.write(name(i), `${i}\n`);
  repo.commit('even');
  for (let i = 1; i < 5000; i += 2) repo.write(name(i), `${i}\n`);
  const r = repo.j<Added>(['add', '.']);
  assert.equal(r.added.length, 2500);
  assert.deepEqual(r.added.slice(0, 2), [name(1), name(3)]);
  assert.deepEqual([r.modified, r.removed, r.unchanged], [[], [], 2500]);
  repo.commit('all');
  assert.equal(repo.j<LsEntry[]>(['ls']).length, 5000);
  const st = repo.j<Status>(['status']);
  assert.deepEqual([st.staged, st.unstaged, st.untracked], [[], [], []]);
});

test('add merges each target with the staging index: overlaps, file/directory swaps, pages', (t) => {
  const repo = newRepo(t);
  // More than one page (1000) of staged entries under one directory, and tricky name orders.
  for (let i = 0; i < 1200; i++) repo.write(`many/f${String(i).padStart(4, '0')}`, `${i}\n`);
  for (const n of ['a.txt', 'a/b', 'a-b', 'x', 't/a']) repo.write(n, `${n}\n`);
  repo.ok(['add', '.']);
  repo.commit('base');

  // Overlapping targets are walked once.
  repo.write('many/f0007', 'changed\n');
  rmSync(repo.path('many/f1100'));
  let r = repo.j<Added>(['add', 'many', 'many/f0007', '.']);
  assert.deepEqual([r.added, r.modified, r.removed], [[], ['many/f0007'], ['many/f1100']]);
  assert.equal(r.unchanged, 1198 + 5); // the rest of many/ and the five others

  // A staged file replaced by a directory, and a staged directory replaced by a file.
  rmSync(repo.path('x'));
  repo.write('x/y', 'now a directory\n');
  rmSync(repo.path('t'), { recursive: true });
  repo.write('t', 'now a file\n');
  r = repo.j<Added>(['add', 'x/y', 't']);
  assert.deepEqual(
    [r.added.sort(), r.removed.sort()],
    [
      ['t', 'x/y'],
      ['t/a', 'x'],
    ],
  );
  repo.write('a/b', 'changed too\n');
  r = repo.j<Added>(['add', 'a']);
  assert.deepEqual([r.added, r.modified, r.removed], [[], ['a/b'], []]);
  repo.commit('after');
  assert.equal(repo.j<{ ok: boolean }>(['fsck']).ok, true);
  assert.deepEqual(repo.j<Status>(['status']).unstaged, []);
  assert.equal(repo.ok(['cat', 'HEAD:x/y']).stdout, 'now a directory\n');
  assert.equal(repo.ok(['cat', 'HEAD:t']).stdout, 'now a file\n');
});

test('.shoalignore, including a nested one, is honoured by add and status', (t) => {
  const repo = newRepo(t);
  repo.write('.shoalignore', '# build output\n*.tmp\nbuild/\n/only-root.txt\n');
  repo.write('keep.txt', 'k');
  repo.write('scratch.tmp', 'x');
  repo.write('build/out.bin', 'x');
  repo.write('build/nested/more.bin', 'x');
  repo.write('only-root.txt', 'x');
  repo.write('sub/only-root.txt', 'anchored patterns apply at their own level only');
  repo.write('sub/.shoalignore', 'secret.txt\n*.log\n!important.log\n');
  repo.write('sub/secret.txt', 'x');
  repo.write('sub/deeper/secret.txt', 'x');
  repo.write('sub/debug.log', 'x');
  repo.write('sub/important.log', 'kept by a negation');
  repo.write('sub/x.tmp', 'x');
  repo.write('other/secret.txt', 'the nested file does not apply to siblings');
  repo.write('other/app.log', 'nor here');
  const expected = [
    '.shoalignore',
    'keep.txt',
    'other/app.log',
    'other/secret.txt',
    'sub/.shoalignore',
    'sub/important.log',
    'sub/only-root.txt',
  ];
  const st = repo.j<Status>(['status']);
  assert.deepEqual(st.untracked, ['.shoalignore', 'keep.txt', 'other/', 'sub/']);
  assert.deepEqual(repo.j<{ added: string[] }>(['add', '.']).added, expected);
  repo.ok(['commit', '-m', 'ignored files stay out']);
  assert.deepEqual(
    repo.j<LsEntry[]>(['ls']).map((e) => e.path),
    expected,
  );
  // Ignored files never show up as untracked, even in tracked directories.
  repo.write('sub/new.tmp', 'x');
  repo.write('sub/deeper/new.log', 'x');
  assert.deepEqual(repo.j<Status>(['status']).untracked, []);
  // A nested negation re-includes what a higher file excludes (later, deeper rules win, as in git).
  repo.write('sub/.shoalignore', 'secret.txt\n*.log\n!important.log\n!keep.tmp\n');
  repo.write('sub/keep.tmp', 'x');
  assert.deepEqual(repo.j<Status>(['status']).untracked, ['sub/keep.tmp']);
  // Patterns match case exactly on a file system that tells case apart, as git's do there.
  if (process.platform === 'linux') {
    repo.write('Build/results.csv', 'x');
    repo.write('NOTES.TMP', 'x');
    assert.deepEqual(repo.j<Status>(['status']).untracked, ['Build/', 'NOTES.TMP', 'sub/keep.tmp']);
  }
});

test('a nested .shoalignore brings back a directory a higher one excludes, files and all, as in git', (t) => {
  const repo = newRepo(t);
  repo.write('.shoalignore', 'build/\nx/y/\n');
  repo.write('build/out.o', 'excluded at the root');
  repo.write('src/.shoalignore', '!build/\n');
  repo.write('src/build/gen.c', 'brought back');
  repo.write('src/build/deep/more.c', 'and below it');
  repo.write('x/.shoalignore', '!y\n');
  repo.write('x/y/a.txt', 'brought back by a name without a slash');
  const added = repo.j<{ added: string[] }>(['add', '.']).added;
  assert.deepEqual(added, [
    '.shoalignore',
    'src/.shoalignore',
    'src/build/deep/more.c',
    'src/build/gen.c',
    'x/.shoalignore',
    'x/y/a.txt',
  ]);
  // Named on its own too, without -f.
  repo.write('src/build/later.c', 'x');
  repo.ok(['add', 'src/build/later.c']);
  // A file under a directory excluded at its own level stays out (git cannot re-include it).
  repo.write('.shoalignore', 'build/\nx/y/\n!build/keep.c\n');
  repo.write('build/keep.c', 'x');
  assert.deepEqual(repo.j<Status>(['status']).untracked, []);
  // Naming a tracked directory under an ignored one adds its changes, not its ignored files.
  repo.write('build/sub/t', 'x');
  repo.ok(['add', '-f', 'build/out.o', 'build/sub/t']);
  repo.write('build/out.o', 'changed');
  repo.write('build/new.bin', 'x');
  repo.write('build/sub/new.bin', 'x');
  const named = repo.j<{ added: string[]; modified: string[] }>(['add', 'build']);
  assert.deepEqual([named.added, named.modified], [[], ['build/out.o']]);
});

test('ignore rules hide only untracked paths: tracked files under them stay tracked, as in git', (t) => {
  const repo = newRepo(t);
  repo.write('build/a', 'a');
  repo.write('build/sub/s', 's');
  repo.write('x.tmp', 't');
  repo.commit('tracked before the rules');
  repo.write('.shoalignore', 'build/\n*.tmp\n');
  repo.write('build/untracked', 'u');
  repo.write('build/newdir/n', 'n');
  repo.write('y.tmp', 'u');
  // Unchanged tracked files under the new rules are neither deleted nor untracked.
  let st = repo.j<Status>(['status']);
  assert.deepEqual([st.staged, st.unstaged, st.untracked], [[], [], ['.shoalignore']]);
  repo.write('build/a', 'changed');
  repo.write('x.tmp', 'changed');
  rmSync(repo.path('build/sub/s'));
  st = repo.j<Status>(['status']);
  assert.deepEqual(st.unstaged, [
    { path: 'build/a', change: 'modified' },
    { path: 'build/sub/s', change: 'deleted' },
    { path: 'x.tmp', change: 'modified' },
  ]);
  // `add .` stages their changes and nothing the rules hide.
  const r = repo.j<Added>(['add', '.']);
  assert.deepEqual(
    [r.added, r.modified, r.removed],
    [['.shoalignore'], ['build/a', 'x.tmp'], ['build/sub/s']],
  );
  repo.commit('after the rules');
  assert.deepEqual(
    repo.j<LsEntry[]>(['ls']).map((e) => e.path),
    ['.shoalignore', 'build/a', 'x.tmp'],
  );
  assert.equal(repo.ok(['cat', 'HEAD:x.tmp']).stdout, 'changed');
});

test('naming an ignored, untracked path is refused as in git; add -f adds it', (t) => {
  const repo = newRepo(t);
  repo.write('.shoalignore', 'build/\n*.tmp\n');
  repo.write('build/out.bin', 'o');
  repo.write('build/deep/more.bin', 'm');
  repo.write('x.tmp', 'x');
  repo.write('keep.txt', 'k');
  for (const path of ['x.tmp', 'build', 'build/out.bin']) {
    const r = repo.fails(['add', path], 'PATH_IGNORED');
    assert.match(r.stderr, /ignored by a \.shoalignore file.*add -f/s);
  }
  // Naming it beside other paths refuses the whole add; `add .` just passes over it.
  repo.fails(['add', 'keep.txt', 'x.tmp'], 'PATH_IGNORED');
  assert.deepEqual(repo.j<Added>(['add', '.']).added, ['.shoalignore', 'keep.txt']);
  assert.deepEqual(repo.j<Added>(['add', '-f', 'build', 'x.tmp']).added, [
    'build/deep/more.bin',
    'build/out.bin',
    'x.tmp',
  ]);
  // Tracked now: named again, it is an ordinary add.
  repo.write('x.tmp', 'changed');
  assert.deepEqual(repo.j<Added>(['add', 'x.tmp']).modified, ['x.tmp']);
  // A negation below an ignored directory does not bring a file back (git cannot either).
  repo.write('.shoalignore', 'a/\n');
  repo.write('a/b/.shoalignore', '!c.txt\n');
  repo.write('a/b/c.txt', 'c');
  repo.fails(['add', 'a/b/c.txt'], 'PATH_IGNORED');
});

test('a path in conflict is added without -f even where .shoalignore hides it', (t) => {
  const repo = newRepo(t);
  repo.write('.shoalignore', '*.bin\n');
  repo.write('model.bin', 'v1\n');
  repo.ok(['add', '-f', 'model.bin']);
  repo.commit('base');
  repo.ok(['switch', '-c', 'feature']);
  repo.write('model.bin', 'v2 on feature\n');
  repo.commit('change');
  repo.ok(['switch', 'main']);
  rmSync(repo.path('model.bin'));
  repo.commit('delete');
  assert.equal(repo.run(['merge', 'feature']).status, 1); // deleted here, changed there
  renameSync(repo.path('model.bin~feature'), repo.path('model.bin'));
  repo.ok(['add', 'model.bin']);
  repo.ok(['merge', '--continue']);
  assert.equal(repo.ok(['cat', 'HEAD:model.bin']).stdout, 'v2 on feature\n');
});

test('status reports every category', (t) => {
  const repo = newRepo(t);
  for (const f of ['keep', 'mod-staged', 'del-staged', 'mod-unstaged', 'del-unstaged', 'both']) {
    repo.write(`${f}.txt`, `${f}\n`);
  }
  repo.commit('base');
  repo.write('new-staged.txt', 'new\n');
  repo.write('mod-staged.txt', 'changed and staged\n');
  rmSync(repo.path('del-staged.txt'));
  repo.ok(['add', 'new-staged.txt', 'mod-staged.txt', 'del-staged.txt']);
  repo.write('mod-unstaged.txt', 'changed, not staged\n');
  rmSync(repo.path('del-unstaged.txt'));
  repo.write('both.txt', 'staged version\n');
  repo.ok(['add', 'both.txt']);
  repo.write('both.txt', 'and a newer working version\n');
  repo.write('untracked.txt', 'u');
  repo.write('newdir/x', 'x');
  repo.write('newdir/y/z', 'z');
  const st = repo.j<Status>(['status']);
  assert.equal(st.branch, 'main');
  assert.match(st.head!, HEX64);
  assert.deepEqual(st.staged, [
    { path: 'both.txt', change: 'modified' },
    { path: 'del-staged.txt', change: 'deleted' },
    { path: 'mod-staged.txt', change: 'modified' },
    { path: 'new-staged.txt', change: 'added' },
  ]);
  assert.deepEqual(st.unstaged, [
    { path: 'both.txt', change: 'modified' },
    { path: 'del-unstaged.txt', change: 'deleted' },
    { path: 'mod-unstaged.txt', change: 'modified' },
  ]);
  assert.deepEqual(st.untracked, ['newdir/', 'untracked.txt']);
  const human = repo.ok(['status']).stdout;
  assert.match(
    human,
    /changes to be committed:\n {2}modified +both\.txt\n {2}deleted +del-staged\.txt\n {2}modified +mod-staged\.txt\n {2}added +new-staged\.txt\n/,
  );
  assert.match(
    human,
    /changes not staged for commit:\n {2}modified +both\.txt\n {2}deleted +del-unstaged\.txt\n {2}modified +mod-unstaged\.txt\n/,
  );
  assert.match(human, /untracked files:\n {2}newdir\/\n {2}untracked\.txt\n/);
  // Everything staged and committed: clean again.
  repo.commit('all');
  const clean = repo.j<Status>(['status']);
  assert.deepEqual([clean.staged, clean.unstaged, clean.untracked], [[], [], []]);
  assert.deepEqual(
    repo.j<LsEntry[]>(['ls']).map((e) => e.path),
    [
      'both.txt',
      'keep.txt',
      'mod-staged.txt',
      'mod-unstaged.txt',
      'new-staged.txt',
      'newdir/x',
      'newdir/y/z',
      'untracked.txt',
    ],
  );
});

test('status uses the stat cache and still notices same-size edits', (t) => {
  const repo = newRepo(t);
  repo.write('f.bin', randomBytes(100_000));
  const past = new Date(Date.now() - 3600_000);
  utimesSync(repo.path('f.bin'), past, past);
  repo.commit('one');
  const clean = (): boolean => {
    const st = repo.j<Status>(['status']);
    return st.staged.length + st.unstaged.length + st.untracked.length === 0;
  };
  assert.ok(clean(), 'an unchanged tree is clean');
  // touch without a content change: still clean (the file is re-read, found identical).
  const later = new Date(Date.now() - 1800_000);
  utimesSync(repo.path('f.bin'), later, later);
  assert.ok(clean(), 'touch is not a change');
  // Same size, same mtime, different content: the ctime (which cannot be set back) betrays it.
  const original = repo.read('f.bin');
  const edited = Buffer.from(original);
  edited[50_000]! ^= 1;
  writeFileSync(repo.path('f.bin'), edited);
  utimesSync(repo.path('f.bin'), later, later);
  assert.deepEqual(repo.j<Status>(['status']).unstaged, [{ path: 'f.bin', change: 'modified' }]);
  writeFileSync(repo.path('f.bin'), original);
  assert.ok(clean());

  // White box: when the staged stat stamp matches the working file, status and add trust it and
  // do not read the file. Give the staged entry (content `original`) the stamp of `edited`.
  writeFileSync(repo.path('f.bin'), edited);
  utimesSync(repo.path('f.bin'), past, past);
  const s = statSync(repo.path('f.bin'), { bigint: true });
  const db = new DatabaseSync(repo.path('.shoal/index.db'));
  db.prepare('UPDATE staging SET mtime_ns = ?, ctime_ns = ?, ino = ? WHERE path = ?').run(
    String(s.mtimeNs),
    String(s.ctimeNs),
    String(s.ino),
    'f.bin',
  );
  db.close();
  assert.ok(clean(), 'a matching stamp is trusted');
  assert.equal(repo.j<{ unchanged: number }>(['add', 'f.bin']).unchanged, 1);
  // Any stat change (here mtime) invalidates the stamp, and the content is compared again.
  utimesSync(repo.path('f.bin'), later, later);
  assert.deepEqual(repo.j<Status>(['status']).unstaged, [{ path: 'f.bin', change: 'modified' }]);
});

test('revisions: HEAD~N, HEAD^, abbreviated ids, branch names', (t) => {
  const repo = newRepo(t);
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) {
    repo.write('f.txt', `version ${i}\n`);
    ids.push(repo.commit(`c${i}`));
  }
  const resolve = (rev: string): string => repo.j<LogEntry[]>(['log', '-n', '1', rev])[0]!.id;
  const cases: [string, number][] = [
    ['HEAD', 3],
    ['@', 3],
    ['main', 3],
    ['HEAD~0', 3],
    ['HEAD~', 2],
    ['HEAD~1', 2],
    ['HEAD^', 2],
    ['HEAD^^', 1],
    ['HEAD~3', 0],
    ['HEAD~1~2', 0],
    ['main~2', 1],
    [ids[1]!, 1],
    [ids[1]!.slice(0, 7), 1],
    [ids[2]!.slice(0, 12), 2],
    [`${ids[2]!.slice(0, 9)}~2`, 0],
    [ids[1]!.slice(0, 10).toUpperCase(), 1],
  ];
  for (const [rev, n] of cases) assert.equal(resolve(rev), ids[n], rev);
  // A name both a branch and a tag is the branch; tags/ and heads/ say which.
  repo.ok(['tag', 'main', ids[0]!]);
  assert.equal(resolve('main'), ids[3]);
  assert.equal(resolve('tags/main'), ids[0]);
  assert.equal(resolve('refs/tags/main'), ids[0]);
  assert.equal(resolve('heads/main~1'), ids[2]);
  repo.ok(['tag', '-d', 'main']);
  assert.equal(repo.ok(['cat', `${ids[0]!.slice(0, 8)}:f.txt`]).stdout, 'version 0\n');
  assert.equal(repo.ok(['cat', 'HEAD~2:f.txt']).stdout, 'version 1\n');
  assert.equal(repo.ok(['cat', 'main^:f.txt']).stdout, 'version 2\n');
  assert.equal(repo.ok(['cat', 'f.txt']).stdout, 'version 3\n', 'a bare path means HEAD');
  assert.equal(repo.j<{ id: string }>(['show', ids[1]!.slice(0, 7)]).id, ids[1]);
});

test('checkout materialises old versions byte-exactly and moves HEAD', (t) => {
  const repo = newRepo(t);
  const big1 = randomBytes(3 << 20);
  repo.write('big.bin', big1);
  repo.write('small.txt', 'v1\n');
  repo.write('dir/x.txt', 'x\n');
  repo.write('gone-later.txt', 'only in v1\n');
  const c1 = repo.commit('v1');
  const v1 = Object.fromEntries(
    ['big.bin', 'small.txt', 'dir/x.txt', 'gone-later.txt'].map((p) => [p, sha256File(repo.path(p))]),
  );
  const big2 = Buffer.concat([big1.subarray(0, 1 << 20), randomBytes(5000), big1.subarray((1 << 20) + 100)]);
  repo.write('big.bin', big2);
  repo.write('small.txt', 'v2\n');
  rmSync(repo.path('gone-later.txt'));
  repo.write('new/deep/new.txt', 'only in v2\n');
  const c2 = repo.commit('v2');
  const v2 = Object.fromEntries(
    ['big.bin', 'small.txt', 'dir/x.txt', 'new/deep/new.txt'].map((p) => [p, sha256File(repo.path(p))]),
  );

  const out = repo.j<{ commit: string; branch: string | null; written: string[]; removed: string[] }>([
    'checkout',
    c1.slice(0, 10),
  ]);
  assert.deepEqual(out, {
    commit: c1,
    branch: null,
    written: ['big.bin', 'gone-later.txt', 'small.txt'],
    removed: ['new/deep/new.txt'],
    kept: [],
    leftBehind: null, // HEAD left a branch, not a detached commit
  });
  for (const [p, h] of Object.entries(v1)) assert.equal(sha256File(repo.path(p)), h, p);
  assert.equal(existsSync(repo.path('new')), false, 'emptied directories are removed');
  let st = repo.j<Status>(['status']);
  assert.deepEqual([st.branch, st.head, st.staged, st.unstaged, st.untracked], [null, c1, [], [], []]);
  assert.match(repo.ok(['status']).stdout, new RegExp(`HEAD detached at ${c1.slice(0, 12)}`));

  assert.match(repo.ok(['checkout', 'main']).stdout, /switched to branch 'main'/);
  for (const [p, h] of Object.entries(v2)) assert.equal(sha256File(repo.path(p)), h, p);
  assert.equal(existsSync(repo.path('gone-later.txt')), false);
  st = repo.j<Status>(['status']);
  assert.deepEqual([st.branch, st.head, st.staged, st.unstaged, st.untracked], ['main', c2, [], [], []]);

  // A local change that checkout would overwrite stops it before anything is written.
  repo.write('small.txt', 'local edit\n');
  const dirty = repo.fails(['checkout', 'HEAD~1'], 'DIRTY_WORKTREE');
  assert.match(dirty.stderr, /small\.txt/);
  assert.equal(repo.read('small.txt').toString(), 'local edit\n');
  assert.equal(sha256File(repo.path('big.bin')), v2['big.bin']);
  assert.equal(repo.j<Status>(['status']).branch, 'main');
  // An untracked file in the way is protected too.
  repo.write('small.txt', 'v2\n');
  repo.ok(['checkout', c1]);
  repo.write('new/deep/new.txt', 'untracked, in the way\n');
  repo.fails(['checkout', 'main'], 'DIRTY_WORKTREE');
  assert.equal(repo.read('new/deep/new.txt').toString(), 'untracked, in the way\n');
  // --force overwrites.
  repo.ok(['checkout', '--force', 'main']);
  for (const [p, h] of Object.entries(v2)) assert.equal(sha256File(repo.path(p)), h, p);
  st = repo.j<Status>(['status']);
  assert.deepEqual([st.staged, st.unstaged, st.untracked], [[], [], []]);
  // A commit on a detached HEAD moves HEAD, not the branch.
  repo.ok(['checkout', c1]);
  repo.write('small.txt', 'detached work\n');
  const d = repo.commit('detached');
  assert.equal(repo.j<Status>(['status']).head, d);
  assert.equal(repo.j<LogEntry[]>(['log', '-n', '1', 'main'])[0]!.id, c2);
});

test('checkout across a file and a directory of the same name', (t) => {
  const repo = newRepo(t);
  repo.write('x', 'a file\n');
  const c1 = repo.commit('x is a file');
  rmSync(repo.path('x'));
  repo.write('x/y', 'in a directory\n');
  repo.write('x/z/w', 'deeper\n');
  // Adding files below x replaces the staged file x (naming only the new paths).
  const c2 = repo.commit('x is a directory', ['x/y', 'x/z']);
  assert.deepEqual(
    repo.j<LsEntry[]>(['ls']).map((e) => e.path),
    ['x/y', 'x/z/w'],
  );
  // Directory to file: the tracked files below x are removed, then x is written.
  repo.ok(['checkout', c1]);
  assert.equal(repo.read('x').toString(), 'a file\n');
  let st = repo.j<Status>(['status']);
  assert.deepEqual([st.staged, st.unstaged, st.untracked], [[], [], []]);
  // File to directory.
  repo.ok(['checkout', c2]);
  assert.equal(repo.read('x/y').toString(), 'in a directory\n');
  assert.equal(repo.read('x/z/w').toString(), 'deeper\n');
  st = repo.j<Status>(['status']);
  assert.deepEqual([st.staged, st.unstaged, st.untracked], [[], [], []]);
  // An untracked file inside the directory is never thrown away without --force.
  repo.write('x/z/precious', 'untracked\n');
  const r = repo.fails(['checkout', c1], 'DIRTY_WORKTREE');
  assert.match(r.stderr, /\n {2}x\n/);
  assert.equal(repo.read('x/z/precious').toString(), 'untracked\n');
  assert.equal(repo.read('x/y').toString(), 'in a directory\n');
  // Nor is a modified tracked file in it.
  rmSync(repo.path('x/z/precious'));
  repo.write('x/y', 'modified\n');
  repo.fails(['checkout', c1], 'DIRTY_WORKTREE');
  assert.equal(repo.read('x/y').toString(), 'modified\n');
  repo.ok(['checkout', '--force', c1]);
  assert.equal(repo.read('x').toString(), 'a file\n');
  // And back by hand: a file where a directory was replaces everything staged below it.
  repo.ok(['checkout', '--force', c2]);
  rmSync(repo.path('x'), { recursive: true });
  repo.write('x', 'a file again\n');
  repo.commit('x is a file again', ['x']);
  assert.deepEqual(
    repo.j<LsEntry[]>(['ls']).map((e) => [e.path, e.size]),
    [['x', 13]],
  );
});

test('checkout and restore refuse to write through something in the way', (t) => {
  const outside = tempDir(t);
  const repo = newRepo(t);
  repo.write('d/one', '1\n');
  repo.write('f', 'f\n');
  const c1 = repo.commit('c1');
  rmSync(repo.path('d'), { recursive: true });
  repo.commit('c2', ['d']);
  // An untracked file where c1 needs a directory: checkout stops before writing anything.
  repo.write('d', 'untracked file\n');
  const r = repo.fails(['checkout', c1], 'DIRTY_WORKTREE');
  assert.match(r.stderr, /\n {2}d\n/);
  assert.equal(repo.read('d').toString(), 'untracked file\n');
  // An untracked symlink there: nothing is written through it, outside the repository.
  rmSync(repo.path('d'));
  symlinkSync(outside, repo.path('d'));
  repo.fails(['checkout', c1], 'DIRTY_WORKTREE');
  repo.fails(['restore', '--source', c1, 'd/one'], 'DIRTY_WORKTREE');
  assert.deepEqual(readdirSync(outside), []);
  // --force replaces what is in the way (the link, not what it points to).
  repo.ok(['checkout', '--force', c1]);
  assert.ok(lstatSync(repo.path('d')).isDirectory());
  assert.equal(repo.read('d/one').toString(), '1\n');
  assert.deepEqual(readdirSync(outside), []);
  // restore: a directory standing where a file should be, or a file where a directory should be.
  rmSync(repo.path('f'));
  repo.write('f/inside', 'untracked, in the way\n');
  repo.fails(['restore', 'f'], 'DIRTY_WORKTREE');
  assert.equal(repo.read('f/inside').toString(), 'untracked, in the way\n');
  rmSync(repo.path('d'), { recursive: true });
  repo.write('d', 'a file\n');
  repo.fails(['restore', 'd/one'], 'DIRTY_WORKTREE');
  assert.equal(repo.read('d').toString(), 'a file\n');
});

test('restore, from the staging index and from a commit', (t) => {
  const repo = newRepo(t);
  repo.write('a.txt', 'a1\n');
  repo.write('d/b.txt', 'b1\n');
  repo.write('d/e/c.txt', 'c1\n');
  repo.commit('one');
  repo.write('a.txt', 'a2\n');
  repo.write('d/b.txt', 'b2\n');
  repo.commit('two');

  // Without --source: back to the staged content, and status is clean.
  repo.write('a.txt', 'scribble');
  rmSync(repo.path('d'), { recursive: true });
  assert.deepEqual(repo.j<{ restored: string[] }>(['restore', 'a.txt', 'd']).restored, [
    'a.txt',
    'd/b.txt',
    'd/e/c.txt',
  ]);
  assert.equal(repo.read('a.txt').toString(), 'a2\n');
  assert.equal(repo.read('d/b.txt').toString(), 'b2\n');
  assert.equal(repo.read('d/e/c.txt').toString(), 'c1\n');
  let st = repo.j<Status>(['status']);
  assert.deepEqual([st.staged, st.unstaged, st.untracked], [[], [], []]);
  // Staged but not committed content is what restore brings back.
  repo.write('a.txt', 'a3 staged\n');
  repo.ok(['add', 'a.txt']);
  repo.write('a.txt', 'a4 working\n');
  assert.match(repo.ok(['restore', 'a.txt']).stdout, /^1 file restored$/m);
  assert.equal(repo.read('a.txt').toString(), 'a3 staged\n');

  // With --source: a commit's content; the staging index is left alone.
  repo.ok(['restore', '--source', 'HEAD~1', 'a.txt', 'd/b.txt']);
  assert.equal(repo.read('a.txt').toString(), 'a1\n');
  assert.equal(repo.read('d/b.txt').toString(), 'b1\n');
  st = repo.j<Status>(['status']);
  assert.deepEqual(st.staged, [{ path: 'a.txt', change: 'modified' }]);
  assert.deepEqual(st.unstaged, [
    { path: 'a.txt', change: 'modified' },
    { path: 'd/b.txt', change: 'modified' },
  ]);
  // From inside a subdirectory, paths are relative to it.
  repo.ok(['restore', '-s', 'HEAD', 'b.txt'], repo.path('d'));
  assert.equal(repo.read('d/b.txt').toString(), 'b2\n');
  // A tracked file the source commit lacks is removed from the working tree, as git's restore
  // does; the index keeps it, so status shows it deleted. Its emptied directory goes too.
  repo.write('new/n.txt', 'n\n');
  repo.commit('three', ['new/n.txt']);
  const r = repo.ok(['restore', '--source', 'HEAD~1', 'new', 'd/b.txt']);
  assert.match(r.stdout, /^1 file restored, 1 removed \(not in HEAD~1\)$/m);
  assert.equal(existsSync(repo.path('new')), false);
  assert.deepEqual(repo.j<Status>(['status']).unstaged, [
    { path: 'a.txt', change: 'modified' },
    { path: 'new/n.txt', change: 'deleted' },
  ]);
  assert.deepEqual(repo.j<{ restored: string[]; removed: string[] }>(['restore', 'new']), {
    restored: ['new/n.txt'],
    removed: [],
  });
  repo.fails(['restore', '--source', 'HEAD~1', 'nowhere'], 'PATH_NOT_FOUND');
  // A path that is a file on one side and a directory on the other, either way round.
  repo.ok(['rm', 'new/n.txt']);
  repo.write('swap', 'a file first\n');
  const fileSide = repo.commit('swap is a file');
  repo.ok(['rm', 'swap']);
  repo.write('swap/inner.txt', 'then a directory\n');
  repo.commit('swap is a directory');
  repo.ok(['restore', '--source', fileSide, 'swap']);
  assert.equal(repo.read('swap').toString(), 'a file first\n');
  // The other way, the file written is untracked (the index holds the directory): kept.
  repo.fails(['restore', '--source', 'HEAD', 'swap'], 'DIRTY_WORKTREE');
  rmSync(repo.path('swap'));
  repo.ok(['restore', '--source', 'HEAD', 'swap']);
  assert.equal(repo.read('swap/inner.txt').toString(), 'then a directory\n');
});

test('restore --staged unstages: the index from HEAD (or --source), the working tree untouched', (t) => {
  const repo = newRepo(t);
  repo.write('a.txt', 'a1\n');
  repo.write('d/b.txt', 'b1\n');
  repo.commit('one');
  repo.write('a.txt', 'a2\n');
  repo.write('d/new.txt', 'new\n');
  repo.ok(['add', '.']);
  let st = repo.j<Status>(['status']);
  assert.deepEqual(
    st.staged.map((c) => [c.path, c.change]),
    [
      ['a.txt', 'modified'],
      ['d/new.txt', 'added'],
    ],
  );
  assert.deepEqual(repo.j<{ unstaged: string[] }>(['restore', '--staged', 'a.txt', 'd']).unstaged, [
    'a.txt',
    'd/new.txt',
  ]);
  st = repo.j<Status>(['status']);
  assert.deepEqual(st.staged, []);
  assert.deepEqual(st.unstaged, [{ path: 'a.txt', change: 'modified' }]);
  assert.deepEqual(st.untracked, ['d/new.txt']);
  assert.equal(repo.read('a.txt').toString(), 'a2\n', 'the working file is left as it is');
  assert.match(repo.ok(['restore', '-S', 'a.txt']).stdout, /^0 paths unstaged$/m);
  repo.fails(['restore', '--staged', 'nowhere'], 'PATH_NOT_FOUND');
  // From another commit: the index takes that commit's content for the path.
  repo.ok(['add', 'a.txt']);
  repo.commit('two');
  repo.ok(['restore', '--staged', '--source', 'HEAD~1', 'a.txt']);
  assert.deepEqual(repo.j<Status>(['status']).staged, [{ path: 'a.txt', change: 'modified' }]);
});

test('restore writes only what is missing or changed: unchanged files keep their inode and stamp', (t) => {
  const repo = newRepo(t);
  repo.write('same.bin', randomBytes(3 * 1024 * 1024));
  repo.write('gone.txt', 'gone\n');
  repo.commit('one');
  repo.ok(['status']); // stamps settle
  const inode = statSync(repo.path('same.bin')).ino;
  rmSync(repo.path('gone.txt'));
  assert.deepEqual(repo.j<{ restored: string[] }>(['restore', '.']).restored, ['gone.txt']);
  assert.equal(statSync(repo.path('same.bin')).ino, inode);
  // (gone.txt may be written again: just written, its stamp cannot vouch for it yet.)
  assert.ok(
    !repo.j<{ restored: string[] }>(['restore', '--source', 'HEAD', '.']).restored.includes('same.bin'),
  );
  assert.equal(statSync(repo.path('same.bin')).ino, inode);
  // A changed file is written back.
  repo.write('same.bin', 'scribbled');
  assert.deepEqual(repo.j<{ restored: string[] }>(['restore', 'same.bin']).restored, ['same.bin']);
  const st = repo.j<Status>(['status']);
  assert.deepEqual([st.staged, st.unstaged, st.untracked], [[], [], []]);
});

test('stats: a second version of a 20 MiB file with a small change stores little more', (t) => {
  const repo = newRepo(t);
  const size = 20 << 20;
  const v1 = randomBytes(size);
  repo.write('model.bin', v1);
  repo.commit('v1');
  interface Stats {
    commits: number;
    chunks: number;
    uniqueBytes: number;
    logicalBytes: number;
    storedBytes: number;
    dedupRatio: number;
  }
  const s1 = repo.j<Stats>(['stats']);
  assert.ok(s1.storedBytes >= size && s1.storedBytes < size + (1 << 20), `stored ${s1.storedBytes}`);
  // 100 bytes inserted near the start, 64 KiB overwritten in the middle.
  const v2 = Buffer.concat([v1.subarray(0, 1000), randomBytes(100), v1.subarray(1000)]);
  randomBytes(64 * 1024).copy(v2, 12 << 20);
  repo.write('model.bin', v2);
  const add = repo.j<{ modified: string[]; bytesRead: number; newBytes: number }>(['add', 'model.bin']);
  assert.deepEqual(add.modified, ['model.bin']);
  assert.equal(add.bytesRead, v2.length);
  assert.ok(add.newBytes < 1 << 20, `new bytes ${add.newBytes}`);
  repo.ok(['commit', '-m', 'v2']);
  const s2 = repo.j<Stats>(['stats']);
  assert.equal(s2.commits, 2);
  assert.equal(s2.logicalBytes, v1.length + v2.length);
  assert.ok(s2.storedBytes - s1.storedBytes < 1 << 20, `grew by ${s2.storedBytes - s1.storedBytes}`);
  assert.ok(s2.dedupRatio > 1.9, `dedup ratio ${s2.dedupRatio}`);
  // Both versions read back intact.
  assert.equal(sha256(repo.ok(['cat', 'HEAD~1:model.bin']).stdoutBytes), sha256(v1));
  assert.equal(sha256(repo.ok(['cat', 'HEAD:model.bin']).stdoutBytes), sha256(v2));
});

test('the executable bit and symlinks survive a round trip', (t) => {
  const repo = newRepo(t);
  repo.write('run.sh', '#!/bin/sh\necho hi\n');
  chmodSync(repo.path('run.sh'), 0o755);
  repo.write('plain.txt', 'target\n');
  repo.write('dir/inner.txt', 'inner\n');
  symlinkSync('plain.txt', repo.path('link'));
  symlinkSync('does/not/exist', repo.path('dangling'));
  symlinkSync('dir', repo.path('dirlink'));
  symlinkSync('../plain.txt', repo.path('dir/up'));
  const c1 = repo.commit('modes');
  const ls = repo.j<LsEntry[]>(['ls']);
  assert.deepEqual(
    ls.map((e) => [e.path, e.kind, e.executable]),
    [
      ['dangling', 'symlink', false],
      ['dir/inner.txt', 'file', false],
      ['dir/up', 'symlink', false],
      ['dirlink', 'symlink', false],
      ['link', 'symlink', false],
      ['plain.txt', 'file', false],
      ['run.sh', 'file', true],
    ],
  );
  assert.equal(repo.ok(['cat', 'HEAD:link']).stdout, 'plain.txt');
  // Remove everything, commit, and check the first commit out again.
  for (const p of ['run.sh', 'link', 'dangling', 'dirlink', 'dir/up']) rmSync(repo.path(p));
  repo.commit('gone');
  assert.equal(existsSync(repo.path('run.sh')), false);
  repo.ok(['checkout', c1]);
  assert.equal(statSync(repo.path('run.sh')).mode & 0o111, 0o111);
  assert.equal(statSync(repo.path('plain.txt')).mode & 0o111, 0);
  assert.equal(readlinkSync(repo.path('link')), 'plain.txt');
  assert.equal(readlinkSync(repo.path('dangling')), 'does/not/exist');
  assert.equal(readlinkSync(repo.path('dirlink')), 'dir');
  assert.equal(readlinkSync(repo.path('dir/up')), '../plain.txt');
  assert.ok(lstatSync(repo.path('dirlink')).isSymbolicLink());
  let st = repo.j<Status>(['status']);
  assert.deepEqual([st.staged, st.unstaged, st.untracked], [[], [], []]);
  // Changing only the mode is a change.
  repo.ok(['checkout', 'main']);
  repo.ok(['checkout', c1]);
  chmodSync(repo.path('run.sh'), 0o644);
  st = repo.j<Status>(['status']);
  assert.deepEqual(st.unstaged, [{ path: 'run.sh', change: 'modified' }]);
  repo.ok(['add', 'run.sh']);
  assert.deepEqual(repo.j<Status>(['status']).staged, [{ path: 'run.sh', change: 'modified' }]);
  // Retargeting a symlink is a change too; restore puts the mode and the link back.
  rmSync(repo.path('link'));
  symlinkSync('dir/inner.txt', repo.path('link'));
  assert.deepEqual(repo.j<Status>(['status']).unstaged, [{ path: 'link', change: 'modified' }]);
  repo.ok(['restore', '--source', c1, 'link', 'run.sh']);
  assert.equal(readlinkSync(repo.path('link')), 'plain.txt');
  assert.equal(statSync(repo.path('run.sh')).mode & 0o111, 0o111);
});

test('checked-out files take their permissions from the umask, executable or not', (t) => {
  const repo = newRepo(t);
  repo.write('run.sh', '#!/bin/sh\necho hi\n');
  chmodSync(repo.path('run.sh'), 0o755);
  repo.write('plain.txt', 'plain\n');
  repo.commit('modes');
  for (const p of ['run.sh', 'plain.txt']) rmSync(repo.path(p));
  // A private umask: nobody but the owner may read, so nobody else may execute either.
  const r = spawnSync('sh', ['-c', `umask 077 && exec "$0" "$@"`, process.execPath, BIN, 'restore', '.'], {
    cwd: repo.dir,
    env: shoalEnv({ configDir: repo.configDir }),
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(statSync(repo.path('run.sh')).mode & 0o777, 0o700);
  assert.equal(statSync(repo.path('plain.txt')).mode & 0o777, 0o600);
});

test('empty files', (t) => {
  const repo = newRepo(t);
  repo.write('empty', '');
  repo.write('dir/also-empty', '');
  repo.write('not-empty', 'x');
  const c1 = repo.commit('empties');
  assert.deepEqual(
    repo.j<LsEntry[]>(['ls']).map((e) => [e.path, e.size]),
    [
      ['dir/also-empty', 0],
      ['empty', 0],
      ['not-empty', 1],
    ],
  );
  const cat = repo.ok(['cat', 'HEAD:empty']);
  assert.equal(cat.stdoutBytes.length, 0);
  // An empty file is a file, distinct from a missing one.
  rmSync(repo.path('empty'));
  assert.deepEqual(repo.j<Status>(['status']).unstaged, [{ path: 'empty', change: 'deleted' }]);
  repo.ok(['restore', 'empty']);
  assert.equal(statSync(repo.path('empty')).size, 0);
  // An empty file that gains content, and back.
  repo.write('dir/also-empty', 'now with content');
  repo.commit('filled');
  repo.ok(['checkout', c1]);
  assert.equal(readFileSync(repo.path('dir/also-empty')).length, 0);
  assert.ok(statSync(repo.path('dir/also-empty')).isFile());
  mkdirSync(repo.path('empty-dir'));
  const st = repo.j<Status>(['status']);
  assert.deepEqual([st.staged, st.unstaged, st.untracked], [[], [], []]);
});

test('a checkout removes the directories it empties, and only those', (t) => {
  const repo = newRepo(t);
  for (const p of ['a/b/c/one', 'a/b/two', 'a/keep', 'a/e/three', 'z/four']) repo.write(p, `${p}\n`);
  const c1 = repo.commit('c1');
  rmSync(repo.path('a/b'), { recursive: true });
  rmSync(repo.path('a/e'), { recursive: true });
  repo.write('a/e/new', 'new\n');
  repo.commit('c2', ['a']);
  repo.ok(['checkout', c1]);
  repo.ok(['checkout', 'main']);
  assert.equal(existsSync(repo.path('a/b')), false);
  assert.deepEqual(readdirSync(repo.path('a')).sort(), ['e', 'keep']);
  assert.deepEqual(readdirSync(repo.path('a/e')), ['new']);
  assert.equal(repo.read('z/four').toString(), 'z/four\n');
  repo.ok(['checkout', c1]);
  assert.deepEqual(readdirSync(repo.path('a/e')), ['three']);
  assert.equal(repo.read('a/b/c/one').toString(), 'a/b/c/one\n');
});

test('a refused checkout names at most 50 paths, and counts the rest', (t) => {
  const repo = newRepo(t);
  for (let i = 0; i < 60; i++) repo.write(`f${String(i).padStart(2, '0')}`, 'one\n');
  const c1 = repo.commit('c1');
  for (let i = 0; i < 60; i++) repo.write(`f${String(i).padStart(2, '0')}`, 'two\n');
  repo.commit('c2');
  for (let i = 0; i < 60; i++) repo.write(`f${String(i).padStart(2, '0')}`, 'local\n');
  const r = repo.fails(['checkout', c1], 'DIRTY_WORKTREE');
  const error = JSON.parse(r.stdout).error as { message: string; paths: string[] };
  assert.equal(error.paths.length, 60, 'the JSON lists every path');
  assert.equal((error.message.match(/^ {2}f\d\d$/gm) ?? []).length, 50);
  assert.match(error.message, /^ {2}and 10 more$/m);
  assert.equal(repo.read('f59').toString(), 'local\n');
});

test('checkout --force HEAD throws local changes away and stays on the branch', (t) => {
  const repo = newRepo(t);
  repo.write('a.txt', 'a\n');
  repo.write('b.txt', 'b\n');
  const c1 = repo.commit('c1');
  repo.write('a.txt', 'local edit\n');
  rmSync(repo.path('b.txt'));
  assert.match(repo.ok(['checkout', '--force', 'HEAD']).stdout, /on branch 'main'/);
  assert.equal(repo.read('a.txt').toString(), 'a\n');
  assert.equal(repo.read('b.txt').toString(), 'b\n');
  const st = repo.j<Status>(['status']);
  assert.deepEqual([st.branch, st.head, st.staged, st.unstaged, st.untracked], ['main', c1, [], [], []]);
  // The next commit moves the branch: nothing is left behind on a detached HEAD.
  repo.write('a.txt', 'a2\n');
  const c2 = repo.commit('c2');
  assert.equal(repo.j<LogEntry[]>(['log', '-n', '1', 'main'])[0]!.id, c2);
  // Naming the commit itself still detaches, as in git.
  assert.equal(repo.j<{ branch: string | null }>(['checkout', c1]).branch, null);
});

test('a checkout leaves stat stamps on what it wrote, so the next status reads nothing again', (t) => {
  const repo = newRepo(t);
  randomFile(repo.path('big.bin'), 65 * 1024 * 1024); // above the size worth waiting for
  repo.write('small.txt', 'small\n');
  repo.commit('one');
  rmSync(repo.path('big.bin'));
  rmSync(repo.path('small.txt'));
  repo.ok(['checkout', '--force', 'HEAD']);
  const stamps = (): Record<string, string> => {
    const db = new DatabaseSync(repo.path('.shoal/index.db'));
    try {
      const rows = db.prepare('SELECT path, mtime_ns FROM staging ORDER BY path').all() as {
        path: string;
        mtime_ns: string;
      }[];
      return Object.fromEntries(rows.map((r) => [r.path, r.mtime_ns]));
    } finally {
      db.close();
    }
  };
  const after = stamps();
  // The large file is stamped with its current mtime: status will trust it without reading it.
  // (The checkout waits out the racy window for it: it is over 64 MiB. The small one is stamped
  // only when it was written long enough before, which a loaded machine decides: when fsyncing
  // the large one took longer than the window, the small one, written last, is still racy.)
  assert.equal(after['big.bin'], String(statSync(repo.path('big.bin'), { bigint: true }).mtimeNs));
  const st = repo.j<Status>(['status']);
  assert.equal(st.staged.length + st.unstaged.length + st.untracked.length, 0);
});

test('checkout and rm keep the directory the command runs in, emptied or not, as git does', (t) => {
  const repo = newRepo(t);
  repo.write('top.txt', 'top\n');
  const first = repo.commit('top only');
  repo.write('d/e/f.txt', 'f\n');
  repo.commit('with d/e');
  const inside = repo.path('d/e');
  repo.ok(['checkout', first], inside);
  assert.ok(existsSync(inside), 'the current directory stays');
  assert.ok(!existsSync(repo.path('d/e/f.txt')));
  repo.ok(['status'], inside); // and the next command runs there
  repo.ok(['checkout', 'main'], inside);
  repo.ok(['rm', 'f.txt'], inside);
  assert.ok(existsSync(inside));
});
