// Sharing a repository between real shoal processes on loopback: clone from a serve's
// multiaddr, fetch and pull a new version, push (fast-forward, refused, not allowed), each
// peer's own refs, private repositories, and sources that are wrong or unreachable.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  chmodSync,
  cpSync,
  existsSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import {
  decodeCommit,
  decodeTree,
  type EncodedObject,
  encodeCommit,
  encodeTree,
  fromHex,
  keyPairFromSeed,
  signCommit,
  toHex,
} from '../../src/core/index.ts';
import { Repository } from '../../src/store/index.ts';
import type { SkippedFork } from '../../src/swarm/index.ts';
import { commitTree, flatten, merge } from '../../src/vcs/index.ts';
import { forgedCommit } from '../fixtures/forged-commit.ts';
import { haveScript, type RunResult, shoalOnTerminal, tempDir } from '../helpers.ts';
import {
  assertFsck,
  assertOk,
  type CloneSummary,
  listenOnLoopback,
  packBytes,
  parseJson,
  portOf,
  publicKey,
  serve,
  shoalAsync,
  shoalBg,
  silentPort,
  until,
  userAt,
} from '../swarm/swarm-helpers.ts';
import {
  configFor,
  describe,
  newRepo,
  randomFile,
  sha256,
  sha256File,
  type TestRepo,
  withTmpfs,
} from './repo-helpers.ts';

type T = TestContext;

interface ErrorOut {
  error: { code: string; message: string };
}

/** An origin repository with a few files (one of several chunks) and one commit. */
function origin(t: T): { repo: TestRepo; head: string; files: Record<string, string> } {
  const repo = newRepo(t);
  const files: Record<string, string> = {};
  files['data/big.bin'] = randomFile(repo.path('data/big.bin'), 3 * 1024 * 1024 + 17);
  repo.write('README.md', '# hello\n');
  repo.write('data/nested/empty.txt', '');
  repo.write('notes.txt', 'line one\nline two\n');
  for (const f of ['README.md', 'data/nested/empty.txt', 'notes.txt']) files[f] = sha256File(repo.path(f));
  const head = repo.commit('first');
  return { repo, head, files };
}

/** `shoal clone --json` as another user, into `<tmp>/<name>`; returns the user and the summary. */
async function cloneAs(
  t: T,
  source: string,
  args: string[] = [],
): Promise<{ user: TestRepo; summary: CloneSummary }> {
  const parent = tempDir(t);
  const user = userAt(t, join(parent, 'clone'));
  const r = await shoalAsync(t, ['clone', source, user.dir, '--json', ...args], {
    cwd: parent,
    configDir: user.configDir,
  });
  assertOk(r, 'clone');
  return { user, summary: parseJson<CloneSummary>(r) };
}

/** `shoal clone --json` (and `args`) as another user, into `<tmp>/clone`, which must fail: the run and its error. */
async function failedClone(
  t: T,
  source: string,
  args: string[] = [],
): Promise<{ user: TestRepo; r: RunResult; error: ErrorOut['error'] }> {
  const parent = tempDir(t);
  const user = userAt(t, join(parent, 'clone'));
  const r = await shoalAsync(t, ['clone', source, user.dir, '--json', ...args], {
    cwd: parent,
    configDir: user.configDir,
  });
  assert.equal(r.status, 1, describe(r));
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  return { user, r, error: parseJson<ErrorOut>(r).error };
}

/** The origin served, and a clone by another user whose key may push to it. */
async function withWriter(t: T) {
  const { repo, head } = origin(t);
  const server = await serve(t, repo);
  const { user } = await cloneAs(t, server.addr);
  repo.ok(['config', 'access.writers', publicKey(user)]);
  return { repo, head, server, user };
}

/** The commit a revision names, through `shoal log --json`. */
function tip(repo: TestRepo, rev: string): string {
  return repo.j<{ id: string }[]>(['log', '-n', '1', rev])[0]!.id;
}

/** The Ed25519 seed of `user`'s identity, read from its config directory. */
function seedOf(user: TestRepo): Buffer {
  const identity = JSON.parse(readFileSync(join(user.configDir, 'identity.json'), 'utf8')) as {
    seed: string;
  };
  return Buffer.from(identity.seed, 'base64');
}

/**
 * Store the objects `make` builds from the repository at `dir` (opened under its write lock), and
 * point its main branch at the last of them, as no shoal command would: for crafted histories.
 */
async function storeAsMain(dir: string, make: (repo: Repository) => EncodedObject[]): Promise<void> {
  const local = Repository.open(dir);
  try {
    await local.withWriteLock(async () => {
      const objects = make(local);
      const session = await local.objects.beginSession();
      for (const object of objects) await session.putObject(object);
      await session.close();
      local.refs.update('refs/heads/main', objects[objects.length - 1]!.id, 'test: crafted');
    });
  } finally {
    local.close();
  }
}

function assertSameFiles(user: TestRepo, files: Record<string, string>): void {
  for (const [path, sum] of Object.entries(files)) assert.equal(sha256File(user.path(path)), sum, path);
}

test("a clone from a copy served by no delegate names the peers' branches, and switch -c checks one out", async (t) => {
  const { repo, head, files } = origin(t);
  repo.ok(['info']); // gives it its identity
  const copyDir = join(tempDir(t), 'copy');
  cpSync(repo.dir, copyDir, { recursive: true });
  const copy = newRepo(t, { dir: copyDir, init: false }); // served by another user: no delegate
  const server = await serve(t, copy);
  const parent = tempDir(t);
  const user = userAt(t, join(parent, 'clone'));
  const r = await shoalAsync(t, ['clone', server.addr, user.dir], { cwd: parent, configDir: user.configDir });
  assertOk(r, 'clone');
  assert.match(r.stdout, /no branch of the repository's delegates was found, only peers' own branches/);
  const fork = `${server.peerId}/main`;
  assert.match(r.stdout, new RegExp(`^  ${fork}$`, 'm'));
  // From the unborn branch HEAD names, a branch of that name made at the fork is checked out.
  user.ok(['switch', '-c', 'main', fork]);
  assert.equal(tip(user, 'HEAD'), head);
  assertSameFiles(user, files);
  const st = user.j<{ staged: unknown[]; unstaged: unknown[] }>(['status']);
  assert.deepEqual([st.staged, st.unstaged], [[], []]);
});

test('a repository with no commits clones empty, says so, and its first commit comes with a pull', async (t) => {
  const repo = newRepo(t);
  const server = await serve(t, repo);
  const parent = tempDir(t);
  const user = userAt(t, join(parent, 'clone'));
  const r = await shoalAsync(t, ['clone', server.addr, user.dir], { cwd: parent, configDir: user.configDir });
  assertOk(r, 'clone');
  assert.match(r.stdout, /^cloned into .*: no commits yet \(no peer reached holds one/);
  assert.equal(user.j<{ id: string }>(['info']).id, repo.j<{ id: string }>(['info']).id);
  assert.deepEqual(user.j<unknown[]>(['log']), []);

  repo.write('a.txt', 'first\n');
  const head = repo.commit('first');
  const pulled = await shoalAsync(t, ['pull'], { cwd: user.dir, configDir: user.configDir });
  assertOk(pulled, 'pull');
  assert.equal(user.read('a.txt').toString(), 'first\n');
  assert.equal(tip(user, 'HEAD'), head);
});

test('clone from a serve multiaddr: byte-exact, fsck and verify pass, history and identity kept', async (t) => {
  const { repo, head, files } = origin(t);
  const server = await serve(t, repo);
  assert.match(server.addr, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW\w+$/);
  assert.equal(server.peerId, repo.j<{ peerId: string }>(['id']).peerId);

  const { user, summary } = await cloneAs(t, server.addr);
  assert.equal(summary.commit, head);
  assert.equal(summary.branch, 'main');
  assert.deepEqual(summary.peers, [server.peerId]);
  assert.deepEqual(summary.banned, []);
  assert.equal(summary.perPeer[server.peerId], summary.bytes);
  assert.ok(summary.bytes >= 3 * 1024 * 1024, `bytes ${summary.bytes}`);
  assert.equal(summary.repo, repo.j<{ id: string }>(['info']).id);

  assertSameFiles(user, files);
  assertFsck(user);
  const verify = user.j<{ ok: boolean; commits: unknown[] }>(['verify']);
  assert.equal(verify.ok, true);
  assert.equal(verify.commits.length, 1);
  assert.equal(user.j<{ id: string }>(['info']).id, summary.repo);
  const status = user.j<{ staged: unknown[]; unstaged: unknown[]; untracked: unknown[] }>(['status']);
  assert.deepEqual([status.staged, status.unstaged, status.untracked], [[], [], []]);
  assert.deepEqual(
    user.j<{ id: string }[]>(['log']).map((c) => c.id),
    repo.j<{ id: string }[]>(['log']).map((c) => c.id),
  );

  // A second clone of the same source is served again, and a clone of the clone works too.
  const second = await serve(t, user);
  const { user: third } = await cloneAs(t, second.addr);
  assertSameFiles(third, files);
  assertFsck(third);
});

test('a clone of many files, a symlink and an executable: all written, and status clean', async (t) => {
  const repo = newRepo(t);
  // More files than one batch of stamps (2,000), in nested directories.
  for (let i = 0; i < 2100; i++) repo.write(`d${i % 7}/e${i % 3}/f${i}`, `${i}\n`);
  repo.write('bin/run.sh', '#!/bin/sh\necho hi\n');
  chmodSync(repo.path('bin/run.sh'), 0o755);
  symlinkSync('../d0/e0/f0', repo.path('bin/link'));
  repo.commit('many');
  const server = await serve(t, repo);
  const { user } = await cloneAs(t, server.addr);
  assert.equal(readFileSync(user.path('d3/e1/f10'), 'utf8'), '10\n');
  assert.equal(statSync(user.path('bin/run.sh')).mode & 0o111, 0o111);
  assert.equal(readlinkSync(user.path('bin/link')), '../d0/e0/f0');
  const st = user.j<{ staged: unknown[]; unstaged: unknown[]; untracked: unknown[] }>(['status']);
  assert.deepEqual([st.staged, st.unstaged, st.untracked], [[], [], []]);
  assertFsck(user);
});

test('a clone writes its large files as their chunks arrive: holes, repeats, copies and modes come out exact', async (t) => {
  const repo = newRepo(t);
  const MiB = 1024 * 1024;
  const files: Record<string, string> = {};
  const put = (path: string, bytes: Buffer): void => {
    repo.write(path, bytes);
    files[path] = sha256(bytes);
  };
  const random = randomBytes(3 * MiB + 4321);
  put('a/big.bin', random);
  // The same content again: its chunks come once, for the first, so this one is not followed.
  put('copy.bin', random);
  // A block of random bytes twice: the second half's chunks come with the first half, so the
  // following stops there and the checkout writes the rest from the packs.
  const block = randomBytes(MiB + 999);
  put('repeat.bin', Buffer.concat([block, block]));
  // Zeros between random bytes: repeated chunks of zeros, left as holes.
  put('sparse.img', Buffer.concat([randomBytes(MiB), Buffer.alloc(4 * MiB), randomBytes(MiB / 2 + 7)]));
  put('tools/run.sh', Buffer.concat([Buffer.from('#!/bin/sh\nexit 0\n'), randomBytes(2 * MiB)]));
  chmodSync(repo.path('tools/run.sh'), 0o755);
  put('small.txt', Buffer.from('small\n'));
  repo.commit('files');
  const server = await serve(t, repo);

  const { user, summary } = await cloneAs(t, server.addr);
  assertSameFiles(user, files);
  assert.equal(statSync(user.path('tools/run.sh')).mode & 0o111, 0o111);
  // Written while the chunks came: every large file whole, but the copy not at all, and the
  // repeating one as far as its first repeated chunk (past the first copy of its block).
  const whole = ['a/big.bin', 'sparse.img', 'tools/run.sh'].reduce(
    (n, p) => n + statSync(user.path(p)).size,
    0,
  );
  const ahead = summary.writtenWhileFetching;
  assert.ok(ahead >= whole + block.length && ahead < whole + 2 * block.length, `written ahead: ${ahead}`);
  assert.equal(existsSync(join(user.dir, '.shoal', 'ahead')), false, 'temporaries left behind');
  const st = user.j<{ staged: unknown[]; unstaged: unknown[]; untracked: unknown[] }>(['status']);
  assert.deepEqual([st.staged, st.unstaged, st.untracked], [[], [], []]);
  assertFsck(user);
  // Sparse where zeros were: fewer blocks than the file's size needs.
  const sparse = statSync(user.path('sparse.img'));
  assert.ok(sparse.blocks * 512 < sparse.size - 2 * MiB, `sparse.img takes ${sparse.blocks * 512} bytes`);
});

/** `size` bytes that look random and are the same for the same seed (and chunk the same). */
function seededBytes(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let at = 0, n = 0; at < size; n++)
    at += createHash('sha512').update(`${seed}/${n}`).digest().copy(out, at);
  return out;
}

test('a clone follows files whose indexes differ in depth, in the order it writes them', async (t) => {
  // The trees name chunks breadth first: the chunks of a file whose index has two levels come
  // after those of every file with one, unless the fetch asks in the order the checkout writes.
  // With these seeds a.bin's index has two levels, and 31 files of one level follow it: more
  // than the chunks a clone keeps aside while it waits for the file it follows (32 MiB).
  const repo = newRepo(t);
  const shallow = [
    0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 16, 17, 18, 19, 21, 22, 23, 27, 29, 33, 34, 35, 36,
  ];
  shallow.push(37, 39, 41, 42, 44);
  const seeds: [string, string][] = [
    ['a.bin', 'm13'],
    ...shallow.map((n, k): [string, string] => [`f${k}.bin`, `m${n}`]),
  ];
  const files: Record<string, string> = {};
  for (const [path, seed] of seeds) {
    const bytes = seededBytes(seed, 1_100_000);
    repo.write(path, bytes);
    files[path] = sha256(bytes);
  }
  repo.commit('many');
  const local = Repository.open(repo.dir);
  const depths = [...flatten(local.objects, commitTree(local.objects, local.refs.headCommit()!))].map(
    (f) => f.height,
  );
  local.close();
  assert.deepEqual(
    depths,
    [2, ...shallow.map(() => 1)],
    'the seeds no longer give these depths (did chunking change?)',
  );
  const server = await serve(t, repo);

  const { user, summary } = await cloneAs(t, server.addr);
  assertSameFiles(user, files);
  assert.equal(summary.writtenWhileFetching, seeds.length * 1_100_000);
});

test('fetch and pull bring a new version; fetch updates origin/main and pull fast-forwards', async (t) => {
  const { repo, files } = origin(t);
  const server = await serve(t, repo);
  const { user } = await cloneAs(t, server.addr);

  // A new commit on the origin while it keeps serving.
  repo.write('notes.txt', 'line one\nline two, changed\n');
  repo.write('added.txt', 'new file\n');
  const v2 = repo.commit('second');

  const fetched = parseJson<{ updated: string[]; bytes: number; banned: unknown[] }>(
    await shoalAsync(t, ['fetch', '--json'], { cwd: user.dir, configDir: user.configDir }),
  );
  assert.ok(fetched.updated.includes('refs/remotes/origin/main'), JSON.stringify(fetched));
  assert.deepEqual(fetched.banned, []);
  assert.ok(fetched.bytes < 1024, `only the small changes cross the wire: ${fetched.bytes}`);
  assert.equal(tip(user, 'origin/main'), v2);
  assert.notEqual(tip(user, 'main'), v2);
  assert.equal(readFileSync(user.path('notes.txt'), 'utf8'), 'line one\nline two\n', 'fetch leaves the tree');
  // status tells the branch from its remote-tracking branch, as git's does.
  assert.deepEqual(user.j<{ upstream: unknown }>(['status']).upstream, {
    name: 'origin/main',
    ahead: 0,
    behind: 1,
    exact: true,
  });
  assert.match(user.ok(['status']).stdout, /^behind 'origin\/main' by 1 commit \(shoal pull brings them\)$/m);

  const pulled = await shoalAsync(t, ['pull', '--json'], { cwd: user.dir, configDir: user.configDir });
  assertOk(pulled, 'pull');
  const merge = parseJson<{ merge: { outcome: string; head: string } }>(pulled).merge;
  assert.equal(merge.head, v2);
  assert.equal(readFileSync(user.path('notes.txt'), 'utf8'), 'line one\nline two, changed\n');
  assert.equal(readFileSync(user.path('added.txt'), 'utf8'), 'new file\n');
  assertSameFiles(user, { 'data/big.bin': files['data/big.bin']! });
  assertFsck(user);

  // Nothing new: a second fetch transfers nothing and updates nothing.
  const again = parseJson<{ updated: string[]; bytes: number }>(
    await shoalAsync(t, ['fetch', '--json'], { cwd: user.dir, configDir: user.configDir }),
  );
  assert.deepEqual([again.updated, again.bytes], [[], 0]);

  // A branch the origin deleted since an earlier fetch: pull says so, and merges nothing (its
  // remote-tracking branch, left from that fetch, is not what the remote has).
  repo.ok(['branch', 'feat']);
  assertOk(await shoalAsync(t, ['fetch'], { cwd: user.dir, configDir: user.configDir }), 'fetch of feat');
  // A branch only the remote has is made from its remote-tracking branch, as git does.
  assert.match(
    user.ok(['switch', 'feat']).stdout,
    /^switched to a new branch 'feat' \(from 'origin\/feat'\)$/m,
  );
  assert.equal(tip(user, 'feat'), tip(user, 'origin/feat'));
  repo.ok(['branch', '-D', 'feat']);
  const stale = await shoalAsync(t, ['pull', '--json'], { cwd: user.dir, configDir: user.configDir });
  assert.equal(stale.status, 1, describe(stale));
  const err = parseJson<ErrorOut>(stale).error;
  assert.equal(err.code, 'NOT_FOUND');
  assert.match(err.message, /the remote has no branch 'feat' \(origin\/feat is what an earlier fetch saw\)/);
  // fetch --prune drops it, as git's does; origin/main stays.
  const pruned = await shoalAsync(t, ['fetch', '--prune', '--json'], {
    cwd: user.dir,
    configDir: user.configDir,
  });
  assertOk(pruned, 'fetch --prune');
  assert.deepEqual(parseJson<{ pruned: string[] }>(pruned).pruned, ['refs/remotes/origin/feat']);
  user.fails(['log', 'origin/feat'], 'UNKNOWN_REV');
  assert.equal(tip(user, 'origin/main'), v2);

  // A tag held here at another commit than the origin's: kept, and said.
  user.ok(['tag', 'rel', 'HEAD~1']);
  repo.ok(['tag', 'rel', v2]);
  const tagged = await shoalAsync(t, ['fetch'], { cwd: user.dir, configDir: user.configDir });
  assertOk(tagged, 'fetch with a tag that differs');
  assert.match(
    tagged.stderr,
    new RegExp(
      `^warning: tag 'rel' is at [0-9a-f]{12} here and at ${v2.slice(0, 12)} on the remote: yours is kept`,
      'm',
    ),
  );
  const kept = parseJson<{ tagsKept: { name: string; theirs: string }[] }>(
    await shoalAsync(t, ['fetch', '--json'], { cwd: user.dir, configDir: user.configDir }),
  ).tagsKept;
  assert.deepEqual(
    kept.map((k) => [k.name, k.theirs]),
    [['rel', v2]],
  );
  assert.notEqual(tip(user, 'tags/rel'), v2);
});

test('a pull whose merge stopped halfway is finished by pulling again', async (t) => {
  const { repo } = origin(t);
  const server = await serve(t, repo);
  const { user } = await cloneAs(t, server.addr);
  repo.write('notes.txt', 'changed\n');
  repo.write('more/added.txt', 'new file\n');
  const v2 = repo.commit('second');
  assertOk(await shoalAsync(t, ['fetch'], { cwd: user.dir, configDir: user.configDir }), 'fetch');
  // The merge of what the fetch found stops as a full disk stops it, once it writes a file.
  const local = Repository.open(user.dir);
  try {
    await assert.rejects(
      merge(local, fromHex(v2), {
        name: 'origin/main',
        identity: keyPairFromSeed(randomBytes(32)),
        authorName: 'tester',
        onProgress: () => {
          throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
        },
      }),
      /no space left/,
    );
  } finally {
    local.close();
  }
  assert.notEqual(user.j<{ unfinishedMove: unknown }>(['status']).unfinishedMove, null);
  const pulled = await shoalAsync(t, ['pull', '--json'], { cwd: user.dir, configDir: user.configDir });
  assertOk(pulled, 'pull after the interrupted merge');
  // reported as the fast-forward it finished, not as "already up to date"
  assert.equal(parseJson<{ merge: { outcome: string } }>(pulled).merge.outcome, 'fast-forward');
  assert.equal(tip(user, 'main'), v2);
  assert.equal(readFileSync(user.path('more/added.txt'), 'utf8'), 'new file\n');
  const st = user.j<{
    staged: unknown[];
    unstaged: unknown[];
    untracked: unknown[];
    unfinishedMove: unknown;
  }>(['status']);
  assert.deepEqual([st.staged, st.unstaged, st.untracked, st.unfinishedMove], [[], [], [], null]);
});

test('remote add, list and fetch by name; remote remove drops its tracking branches', async (t) => {
  const { repo, head } = origin(t);
  const server = await serve(t, repo);
  const { user } = await cloneAs(t, server.addr);
  // A second seeder, known under its own name.
  const seed = await serve(t, user);
  const { user: carol } = await cloneAs(t, server.addr);
  carol.ok(['remote', 'add', 'seed', seed.addr]);
  const list = carol.j<{ name: string; url: string }[]>(['remote', 'list']);
  assert.deepEqual(list.map((r) => [r.name, r.url]).sort(), [
    ['origin', server.addr],
    ['seed', seed.addr],
  ]);
  repo.write('notes.txt', 'v2\n');
  const v2 = repo.commit('v2');
  // The seed does not have v2: its tracking branch stays at v1.
  const r = await shoalAsync(t, ['fetch', 'seed', '--json'], { cwd: carol.dir, configDir: carol.configDir });
  assertOk(r, 'fetch seed');
  assert.equal(tip(carol, 'seed/main'), head);
  const o = await shoalAsync(t, ['fetch', 'origin', '--json'], {
    cwd: carol.dir,
    configDir: carol.configDir,
  });
  assertOk(o, 'fetch origin');
  assert.equal(tip(carol, 'origin/main'), v2);
  // branch -r lists the remote-tracking branches, -a the local ones too.
  type Listed = { name: string; id: string; remote?: boolean };
  const tracking = carol.j<Listed[]>(['branch', '-r']).filter((b) => !/^[0-9A-Za-z]{40,}\//.test(b.name));
  assert.deepEqual(
    tracking.map((b) => [b.name, b.id, b.remote]),
    [
      ['origin/main', v2, true],
      ['seed/main', head, true],
    ],
  );
  assert.deepEqual(
    carol
      .j<Listed[]>(['branch', '-a'])
      .filter((b) => !b.remote)
      .map((b) => b.name),
    ['main'],
  );
  assert.match(carol.ok(['branch', '-a']).stdout, /^ {2}remotes\/origin\/main {2}/m);
  carol.fails(['remote', 'add', 'seed', seed.addr], 'ALREADY_EXISTS');
  carol.fails(['remote', 'add', 'bad/name', seed.addr], 'INVALID_NAME');
  carol.fails(['fetch', 'nosuchremote'], 'NOT_FOUND');
  // set-url keeps the name and its tracking branches, and the next fetch goes to the new source.
  carol.ok(['remote', 'set-url', 'seed', server.addr]);
  assert.equal(
    carol.j<{ name: string; url: string }[]>(['remote', 'list']).find((x) => x.name === 'seed')!.url,
    server.addr,
  );
  assert.equal(tip(carol, 'seed/main'), head);
  assertOk(
    await shoalAsync(t, ['fetch', 'seed'], { cwd: carol.dir, configDir: carol.configDir }),
    'fetch seed again',
  );
  assert.equal(tip(carol, 'seed/main'), v2);
  carol.fails(['remote', 'set-url', 'nosuch', seed.addr], 'NOT_FOUND');
  carol.ok(['remote', 'remove', 'seed']);
  assert.equal(carol.run(['log', 'seed/main']).status, 1);
  assert.equal(tip(carol, 'origin/main'), v2);
});

test('a seeder whose pack is damaged answers that chunk as missing and says so on its stderr', async (t) => {
  const repo = newRepo(t);
  randomFile(repo.path('data.bin'), 2 * 1024 * 1024);
  repo.commit('data');
  // One byte in the middle of the pack: inside a chunk of the file.
  const pack = join(
    repo.dir,
    '.shoal',
    'packs',
    readdirSync(repo.path('.shoal/packs')).find((n) => n.endsWith('.pack'))!,
  );
  const bytes = readFileSync(pack);
  bytes[bytes.length >> 1]! ^= 0x40;
  writeFileSync(pack, bytes);
  const server = await serve(t, repo);
  await failedClone(t, server.addr);
  await until('the seeder to report its damage', () => /answered as missing/.test(server.stderr()));
  assert.match(
    server.stderr(),
    /^warning: object [0-9a-f]{64} is corrupt \(.*\): answered as missing; run 'shoal fsck'$/m,
  );
});

test('push: a fast-forward moves the serving peer branch and working tree', async (t) => {
  const { repo, server, user } = await withWriter(t);

  user.write('notes.txt', 'pushed change\n');
  randomFile(user.path('data/pushed.bin'), 600 * 1024);
  const pushedSum = sha256File(user.path('data/pushed.bin'));
  const commit = user.commit('from the clone');
  const r = await shoalAsync(t, ['push', 'origin', '--json'], { cwd: user.dir, configDir: user.configDir });
  assertOk(r, 'push');
  const out = parseJson<{ updated: string[]; commit: string; peer: string }>(r);
  assert.deepEqual(out.updated, ['refs/heads/main']);
  assert.equal(out.commit, commit);
  assert.equal(out.peer, server.peerId);

  // The server's branch, working tree and store.
  assert.equal(tip(repo, 'main'), commit);
  assert.equal(readFileSync(repo.path('notes.txt'), 'utf8'), 'pushed change\n');
  assert.equal(sha256File(repo.path('data/pushed.bin')), pushedSum);
  const status = repo.j<{ staged: unknown[]; unstaged: unknown[]; untracked: unknown[] }>(['status']);
  assert.deepEqual([status.staged, status.unstaged, status.untracked], [[], [], []]);
  assertFsck(repo);
  // The pusher's remote-tracking branch follows.
  assert.equal(tip(user, 'origin/main'), commit);

  // Pushing the same commit again changes nothing.
  const again = parseJson<{ updated: string[] }>(
    await shoalAsync(t, ['push', 'origin', '--json'], { cwd: user.dir, configDir: user.configDir }),
  );
  assert.deepEqual(again.updated, []);

  // A push to an address rather than a remote names the address and moves no tracking branch;
  // without a remote, push goes to origin, as fetch and pull do.
  user.write('notes.txt', 'pushed to the address\n');
  const second = user.commit('to the address');
  const byAddr = await shoalAsync(t, ['push', server.addr], { cwd: user.dir, configDir: user.configDir });
  assertOk(byAddr, 'push to an address');
  assert.match(byAddr.stdout, new RegExp(`^main -> ${server.addr} \\(`, 'm'));
  assert.equal(tip(repo, 'main'), second);
  assert.equal(tip(user, 'origin/main'), commit);
  const byDefault = await shoalAsync(t, ['push', '--json'], { cwd: user.dir, configDir: user.configDir });
  assertOk(byDefault, 'push without a remote');
  assert.equal(parseJson<{ remote: string }>(byDefault).remote, 'origin');
  assert.equal(tip(user, 'origin/main'), second);
});

test('push --delete: a writer deletes a branch and a tag on the peer, never its checked-out branch', async (t) => {
  const { repo, head, user } = await withWriter(t);
  const push = (args: string[]) =>
    shoalAsync(t, ['push', ...args], { cwd: user.dir, configDir: user.configDir });
  user.ok(['switch', '-c', 'topic']);
  user.write('topic.txt', 'topic\n');
  const topic = user.commit('topic');
  assertOk(await push(['origin', 'topic']), 'push topic');
  repo.ok(['tag', 'v1']);
  assert.equal(tip(repo, 'topic'), topic);
  assert.equal(tip(user, 'origin/topic'), topic);

  // A deletion drops what a ref held, as a forced update does: refused unless the peer allows
  // those, and then nothing of the push is done.
  const unforced = await push(['origin', '--delete', 'topic', '--json']);
  assert.equal(unforced.status, 1, unforced.stdout);
  const e = parseJson<{ error: { code: string; message: string } }>(unforced).error;
  assert.equal(e.code, 'PERMISSION_DENIED');
  assert.match(e.message, /does not allow deleting 'refs\/heads\/topic'/);
  assert.equal(tip(repo, 'topic'), topic);
  repo.ok(['config', 'access.allow-force', 'true']);

  // A bare name is the peer's branch, or its tag when it has no branch of that name.
  const r = await push(['origin', '--delete', 'topic', 'v1', 'gone', 'heads/topic', '--json']);
  assertOk(r, 'push --delete');
  const out = parseJson<{ deleted: string[]; updated: string[]; notThere: string[] }>(r);
  assert.deepEqual(
    [out.deleted, out.notThere, out.updated],
    [['refs/heads/topic', 'refs/tags/v1'], ['refs/heads/gone'], []],
  );
  assert.equal(repo.run(['log', 'topic']).status, 1, 'the branch is gone on the peer');
  assert.equal(repo.run(['log', 'v1']).status, 1, 'the tag is gone on the peer');
  assert.match(
    repo.ok(['reflog', 'topic']).stdout,
    /push: deleted by /,
    'and its reflog says who deleted it',
  );
  // The pusher's own branch stays; its tracking branch goes, as the peer is the delegate.
  assert.equal(tip(user, 'topic'), topic);
  assert.equal(user.run(['log', 'origin/topic']).status, 1);

  // Said in words: what was deleted, and what was not there; a branch and a tag of one name
  // are told apart.
  repo.ok(['branch', 'old']);
  const human = await push(['origin', '-d', 'old', 'tags/old']);
  assertOk(human, 'push -d');
  assert.equal(human.stdout, 'deleted heads/old on origin\ntags/old: not on origin, nothing to delete\n');
  // a name said with its kind is said so back, though nothing else shares its short name
  const kinds = await push(['origin', '-d', 'tags/main']);
  assertOk(kinds, 'push -d tags/main');
  assert.equal(kinds.stdout, 'tags/main: not on origin, nothing to delete\n');
  // a name no branch could have is refused here, before the peer is asked
  const bad = await push(['origin', '-d', 'a..b', '--json']);
  assert.equal(bad.status, 1, bad.stdout);
  assert.equal(parseJson<{ error: { code: string } }>(bad).error.code, 'INVALID_NAME');

  // The branch checked out on the peer is refused, and nothing else of the push is done.
  repo.ok(['branch', 'kept']);
  const refused = await push(['origin', '--delete', 'kept', 'main', '--json']);
  assert.equal(refused.status, 1, refused.stdout);
  assert.equal(parseJson<{ error: { code: string } }>(refused).error.code, 'CURRENT_BRANCH');
  assert.equal(tip(repo, 'main'), head);
  assert.equal(tip(repo, 'kept'), head);

  // Misuse: no remote named, or with --tags.
  assert.equal((await push(['--delete', 'kept'])).status, 2);
  assert.equal((await push(['origin', '--delete', 'kept', '--tags'])).status, 2);
  assertFsck(repo);
});

test('push --delete from a key that may not write: PERMISSION_DENIED, nothing deleted', async (t) => {
  const { repo } = origin(t);
  const server = await serve(t, repo);
  const { user } = await cloneAs(t, server.addr);
  repo.ok(['branch', 'topic']);
  const r = await shoalAsync(t, ['push', 'origin', '--delete', 'topic', '--json'], {
    cwd: user.dir,
    configDir: user.configDir,
  });
  assert.equal(r.status, 1, r.stdout);
  assert.equal(parseJson<{ error: { code: string } }>(r).error.code, 'PERMISSION_DENIED');
  assert.ok(repo.ok(['branch']).stdout.includes('topic'));
});

test("after a push, the pusher's copy serves the repository's branches at the pushed commit", async (t) => {
  const { user } = await withWriter(t);
  user.write('notes.txt', 'pushed, then served\n');
  const commit = user.commit('pushed');
  assertOk(await shoalAsync(t, ['push'], { cwd: user.dir, configDir: user.configDir }), 'push');
  // The delegate's refs from before the push name a commit the pusher no longer has a ref at;
  // it must relay the ones the delegate signed on taking the push.
  const copy = await serve(t, user);
  const { user: carol, summary } = await cloneAs(t, copy.addr);
  assert.equal(tip(carol, 'main'), commit, JSON.stringify(summary));
  assert.equal(readFileSync(carol.path('notes.txt'), 'utf8'), 'pushed, then served\n');
});

test("a push to another writer's copy of a private repository: the copy fetches the commits back from the pusher", async (t) => {
  const parent = tempDir(t);
  const owner = userAt(t, join(parent, 'secret'));
  owner.ok(['init', '--private', owner.dir], parent);
  owner.write('a.txt', 'one\n');
  owner.commit('one');
  const quinn = userAt(t, join(tempDir(t), 'quinn'));
  const rose = userAt(t, join(tempDir(t), 'rose'));
  owner.ok(['config', 'access.writers', `${publicKey(quinn)},${publicKey(rose)}`]);
  const server = await serve(t, owner);
  for (const u of [quinn, rose]) {
    const r = await shoalAsync(t, ['clone', server.addr, u.dir, '--json'], {
      cwd: parent,
      configDir: u.configDir,
    });
    assertOk(r, 'clone');
  }
  // Quinn's copy takes pushes from Rose; Rose's own lists name no one (Quinn is not listed).
  quinn.ok(['config', 'access.writers', publicKey(rose)]);
  const copy = await serve(t, quinn);
  rose.write('a.txt', 'two\n');
  const commit = rose.commit('two');
  const r = await shoalAsync(t, ['push', copy.addr, 'main', '--json'], {
    cwd: rose.dir,
    configDir: rose.configDir,
  });
  assertOk(r, 'push to the copy');
  assert.equal(tip(quinn, 'main'), commit);
});

test('a repository whose access list cannot be read answers with an error that says so, not a reset stream', async (t) => {
  const parent = tempDir(t);
  const owner = userAt(t, join(parent, 'secret'));
  owner.ok(['init', '--private', owner.dir], parent);
  owner.write('a.txt', 'one\n');
  owner.commit('one');
  const reader = userAt(t, join(tempDir(t), 'reader'));
  // Written by hand, as a list: the setting is a string of keys.
  const file = owner.path('.shoal/config.json');
  writeFileSync(
    file,
    JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), 'access.readers': [publicKey(reader)] }),
  );
  const server = await serve(t, owner);
  const r = await shoalAsync(t, ['clone', server.addr, reader.dir, '--json'], {
    cwd: parent,
    configDir: reader.configDir,
  });
  assert.equal(r.status, 1, describe(r));
  assert.match(
    parseJson<ErrorOut>(r).error.message,
    /this peer could not answer: .*access\.readers|this peer could not answer: .*not a string/,
  );
  await until('the server to say why', () => /could not answer peer/.test(server.stderr()));
});

test('a writer taken off the list while its push is on the way: refused, the branch not moved', async (t) => {
  const { repo, head } = origin(t);
  const server = await serve(t, repo);
  const { user: carol } = await cloneAs(t, server.addr);
  repo.ok(['config', 'access.writers', publicKey(carol)]);
  randomFile(carol.path('data/new.bin'), 8 * 1024 * 1024);
  carol.commit('large');
  const before = packBytes(repo.dir);
  // Slow enough that the push is still coming in when the owner changes the list.
  const push = shoalBg(t, ['push', '--json', '--max-upload', '2M'], {
    cwd: carol.dir,
    configDir: carol.configDir,
  });
  await until(
    'the push to start storing',
    () => packBytes(repo.dir) > before + 1024 * 1024 || push.finished(),
  );
  assert.equal(push.finished(), false, push.stdout());
  // Held where it is (its server, which the peer fetches from, is this process) while the
  // owner changes the list: the push cannot end first, however loaded the machine.
  push.proc.kill('SIGSTOP');
  repo.ok(['config', 'access.writers', '']);
  push.proc.kill('SIGCONT');
  assert.equal(await push.exited, 1, push.stderr());
  assert.match(push.stdout(), /"code":"PERMISSION_DENIED"/);
  assert.equal(tip(repo, 'main'), head);
});

test('a push to shoal:// goes to a delegate first, whichever peer answers first; refused by all, it names each', async (t) => {
  const { repo, head } = origin(t);
  const alice = await serve(t, repo);
  const { user: bob } = await cloneAs(t, alice.addr);
  const bobServer = await serve(t, bob); // a copy, which takes pushes from no one but the delegate
  const id = repo.j<{ id: string }>(['info']).id;
  const { user: carol } = await cloneAs(t, `shoal://${id}`, ['--peer', bobServer.addr, '--peer', alice.addr]);
  repo.ok(['config', 'access.writers', publicKey(carol)]);
  for (let i = 0; i < 3; i++) {
    carol.write('notes.txt', `push ${i}\n`);
    const commit = carol.commit(`push ${i}`);
    const r = await shoalAsync(t, ['push', '--json'], { cwd: carol.dir, configDir: carol.configDir });
    assertOk(r, `push ${i}`);
    assert.equal(parseJson<{ peer: string }>(r).peer, alice.peerId);
    assert.equal(tip(repo, 'main'), commit);
  }
  assert.equal(tip(bob, 'main'), head, "the copy's branch did not move");

  // A refusal that is not about the key (a forced move of a tag, which the delegate does not
  // allow) ends the push: it is not taken to a copy that would take it.
  bob.ok(['config', 'access.writers', publicKey(carol)]);
  carol.ok(['tag', 'v1', 'HEAD~1']);
  assertOk(
    await shoalAsync(t, ['push', 'origin', 'v1'], { cwd: carol.dir, configDir: carol.configDir }),
    'tag',
  );
  carol.ok(['tag', '-f', 'v1']);
  const forced = await shoalAsync(t, ['push', 'origin', 'v1', '--force', '--json'], {
    cwd: carol.dir,
    configDir: carol.configDir,
  });
  assert.equal(forced.status, 1, describe(forced));
  assert.match(parseJson<ErrorOut>(forced).error.message, /does not allow forced updates/);
  assert.deepEqual(bob.j<{ name: string }[]>(['tag']), [], 'nothing went to the copy');

  // A key neither peer lets write: refused, with each peer's answer.
  const { user: dave } = await cloneAs(t, `shoal://${id}`, ['--peer', bobServer.addr, '--peer', alice.addr]);
  dave.write('notes.txt', 'not allowed\n');
  dave.commit('not allowed');
  const refused = await shoalAsync(t, ['push', '--json'], { cwd: dave.dir, configDir: dave.configDir });
  assert.equal(refused.status, 1, describe(refused));
  const err = parseJson<ErrorOut>(refused).error;
  assert.equal(err.code, 'PERMISSION_DENIED');
  assert.ok(err.message.includes(alice.peerId) && err.message.includes(bobServer.peerId), err.message);
});

test('a push waits for a serving peer that spends longer than the stall timeout writing it out', async (t) => {
  const { repo, user } = await withWriter(t);
  // Thousands of files for the serving peer to write into its working tree after it fetched
  // them: seconds of work on a test machine, against a stall timeout of one second.
  const n = 12000;
  for (let i = 0; i < n; i++) user.write(`many/f${i}.txt`, `${i}\n`);
  const commit = user.commit('many files');
  user.ok(['config', 'transfer.stall-timeout', '1']);
  const r = await shoalAsync(t, ['push', 'origin', '--json'], { cwd: user.dir, configDir: user.configDir });
  assertOk(r, 'push');
  assert.deepEqual(parseJson<{ updated: string[] }>(r).updated, ['refs/heads/main']);
  assert.equal(tip(repo, 'main'), commit);
  assert.equal(readFileSync(repo.path(`many/f${n - 1}.txt`), 'utf8'), `${n - 1}\n`);
});

test('push on a terminal shows progress: bytes sent against what the peer lacks, and one peer', async (t) => {
  if (!haveScript()) {
    t.skip('script(1) from util-linux is needed for a pseudo-terminal');
    return;
  }
  const { repo, user } = await withWriter(t);
  // 6 MiB of new content in two commits; the 3 MiB file of the first commit is not sent again.
  randomFile(user.path('data/one.bin'), 3 << 20);
  user.commit('one');
  randomFile(user.path('data/two.bin'), 3 << 20);
  const commit = user.commit('two');
  const r = await shoalOnTerminal(['push', 'origin'], { cwd: user.dir, configDir: user.configDir });
  assert.equal(r.status, 0, r.output);
  const lines = r.output.split(/[\r\n]+/).filter((l) => l.includes('push:'));
  assert.ok(lines.length > 0, r.output);
  assert.match(lines.at(-1)!, /push: 6\.0 MiB \/ 6\.0 MiB \(100%\), .*\/s, 1 peer/);
  assert.equal(tip(repo, 'main'), commit);
});

test('two pushes at once to one peer: the second waits for the first; a local command meanwhile says what holds the lock', async (t) => {
  const { repo, server, user: bob } = await withWriter(t);
  const { user: carol } = await cloneAs(t, server.addr);
  repo.ok(['config', 'access.writers', `${publicKey(bob)} ${publicKey(carol)}`]);
  bob.ok(['switch', '-c', 'feature-b']);
  randomFile(bob.path('data/b.bin'), 16 << 20); // 8 s at 2 MB/s: longer than a command waits for a lock
  const bobHead = bob.commit('b');
  carol.ok(['switch', '-c', 'feature-c']);
  carol.write('c.txt', 'c\n');
  const carolHead = carol.commit('c');

  const before = packBytes(repo.dir);
  const first = shoalBg(t, ['push', 'origin', 'feature-b', '--max-upload', '2M'], {
    cwd: bob.dir,
    configDir: bob.configDir,
  });
  await until('the peer to receive data', () => packBytes(repo.dir) > before + (1 << 20) || first.finished());
  assert.equal(first.finished(), false, 'the first push is still under way');
  const second = shoalBg(t, ['push', 'origin', 'feature-c'], { cwd: carol.dir, configDir: carol.configDir });
  // The owner's own command meanwhile waits a moment, then is refused, saying that a push holds
  // the lock (the first, or by then the second).
  const local = repo.run(['branch', 'mine', '--json']);
  assert.equal(local.status, 1, describe(local));
  const pushers = [bob, carol].map((u) => u.ok(['id']).stdout.split('\n')[0]).join('|');
  assert.match(
    parseJson<ErrorOut>(local).error.message,
    new RegExp(`locked by process \\d+ \\(taking a push from (${pushers})\\)`),
  );
  assert.equal(await first.exited, 0, first.stderr());
  assert.equal(await second.exited, 0, second.stderr());
  assert.equal(tip(repo, 'feature-b'), bobHead);
  assert.equal(tip(repo, 'feature-c'), carolHead);
  assertFsck(repo);
});

test('Ctrl-C stops a push at once', async (t) => {
  const { repo, user } = await withWriter(t);
  randomFile(user.path('data/large.bin'), 24 << 20);
  user.commit('large');
  const before = packBytes(repo.dir);
  // At 2 MB/s the transfer takes seconds: it is under way when the interrupt comes.
  const push = shoalBg(t, ['push', 'origin', '--max-upload', '2M', '--json'], {
    cwd: user.dir,
    configDir: user.configDir,
  });
  await until('the peer to receive data', () => packBytes(repo.dir) > before + (1 << 20) || push.finished());
  push.proc.kill('SIGINT');
  // It says so, as clone and fetch do: exit 1, and ABORTED for --json.
  assert.equal(await push.exited, 1, `${push.stdout()} ${push.stderr()}`);
  assert.equal((JSON.parse(push.stdout()) as ErrorOut).error.code, 'ABORTED');
  assert.match(push.stderr(), /^error: interrupted$/m);
});

test("push of a commit in another author's name (its signature does not verify): refused, nothing stored", async (t) => {
  const { repo, head, user } = await withWriter(t);
  // A writer making a commit whose author is the delegate, signed with the writer's own key.
  const delegateKey = Buffer.from(repo.j<{ publicKey: string }>(['id']).publicKey, 'hex');
  const writer = keyPairFromSeed(seedOf(user));
  let forgedId = '';
  await storeAsMain(user.dir, (local) => {
    const forged = forgedCommit(local, writer.seed, delegateKey);
    forgedId = toHex(forged.id);
    return [forged];
  });
  const r = await shoalAsync(t, ['push', 'origin', '--json'], { cwd: user.dir, configDir: user.configDir });
  assert.equal(r.status, 1, describe(r));
  const e = parseJson<ErrorOut>(r).error;
  assert.equal(e.code, 'PERMISSION_DENIED');
  assert.match(e.message, /signature does not verify/);
  assert.equal(tip(repo, 'main'), head);
  assert.equal(repo.run(['show', forgedId]).status, 1, 'the forged commit was not stored');
  assertFsck(repo);
});

test("a tree naming a directory's id as a file's chunk too: no peer is banned for it, the checkout says what is wrong", async (t) => {
  const { repo } = origin(t);
  // The delegate itself commits the crafted tree: it is a valid commit of the repository.
  const seed = seedOf(repo);
  let dataTree = '';
  await storeAsMain(repo.dir, (local) => {
    const head = local.refs.headCommit()!;
    const parent = decodeCommit(local.objects.read(head, 'commit'));
    const root = decodeTree(local.objects.read(parent.tree, 'tree'));
    const data = root.entries.find((e) => e.name === 'data')!;
    dataTree = toHex(data.id);
    // 'alias.bin' sorts before 'data': the walk meets the id as a chunk first.
    const alias = {
      name: 'alias.bin',
      kind: 'file' as const,
      executable: false,
      size: 100,
      id: data.id,
      height: 0,
    };
    const tree = encodeTree({ entries: [...root.entries, alias] });
    const message = 'alias';
    const body = { tree: tree.id, parents: [head], author: parent.author, time: Date.now(), message };
    return [tree, encodeCommit(signCommit(seed, body))];
  });
  const server = await serve(t, repo);
  const { user, r, error: e } = await failedClone(t, server.addr);
  assert.equal(e.code, 'CORRUPT_OBJECT', e.message);
  assert.match(e.message, new RegExp(`${dataTree}.* is a tree, expected a chunk`));
  assert.doesNotMatch(`${r.stdout} ${r.stderr}`, /banned|wrong bytes|no peer left/);
  // Everything else arrived: the directory and its files, fetched as what they are.
  const big = user.run(['cat', 'main:data/big.bin']);
  assert.equal(big.status, 0, describe(big));
  assert.equal(sha256(big.stdoutBytes), sha256File(repo.path('data/big.bin')));
});

test('push into a serving peer whose working tree has local changes: refused, the changes kept', async (t) => {
  const { repo, head, user } = await withWriter(t);
  repo.write('notes.txt', 'edited on the server, not committed\n');

  user.write('notes.txt', 'pushed over it\n');
  user.commit('would overwrite');
  const r = await shoalAsync(t, ['push', 'origin', '--json'], { cwd: user.dir, configDir: user.configDir });
  assert.equal(r.status, 1, describe(r));
  const out = parseJson<ErrorOut & { error: { paths?: string[] } }>(r);
  assert.equal(out.error.code, 'DIRTY_WORKTREE'); // as a local switch over the same changes says
  assert.deepEqual(out.error.paths, ['notes.txt']); // listed in --json too, as locally
  // The changes are named as the peer's, not the pusher's.
  assert.match(
    out.error.message,
    /^the peer has local changes .* checked-out branch 'main':\n {2}notes\.txt\n/,
  );
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(readFileSync(repo.path('notes.txt'), 'utf8'), 'edited on the server, not committed\n');
  assert.equal(tip(repo, 'main'), head);
  assertFsck(repo);
});

test('push into a serving peer in the middle of a merge on that branch: refused, the merge left to finish', async (t) => {
  const { repo, head, user } = await withWriter(t);
  repo.ok(['switch', '-c', 'side']);
  repo.write('notes.txt', 'side\n');
  repo.commit('side');
  repo.ok(['switch', 'main']);
  repo.write('notes.txt', 'main\n');
  const ours = repo.commit('main');
  assert.equal(repo.run(['merge', 'side']).status, 1); // a conflict in notes.txt

  user.write('other.txt', 'pushed during the merge\n');
  user.commit('pushed');
  const r = await shoalAsync(t, ['push', 'origin', '--json'], { cwd: user.dir, configDir: user.configDir });
  assert.equal(r.status, 1, describe(r));
  const err = parseJson<ErrorOut>(r).error;
  assert.equal(err.code, 'MERGE_IN_PROGRESS'); // the peer's own code, not PEER_ERROR
  assert.match(err.message, /^the peer is in the middle of a merge of 'side'/);
  assert.equal(tip(repo, 'main'), ours);
  assert.notEqual(ours, head);
  // The merge can still be concluded there.
  repo.write('notes.txt', 'both\n');
  repo.ok(['add', 'notes.txt']);
  repo.ok(['merge', '--continue']);
  assertFsck(repo);
});

test('push of tags: a tag reaches the peer and its clones; a tag there at another commit is refused whole', async (t) => {
  const { repo, head, server, user } = await withWriter(t);
  const tagsOf = (r: TestRepo): Record<string, string> =>
    Object.fromEntries(r.j<{ name: string; id: string }[]>(['tag']).map((x) => [x.name, x.id]));
  const push = (args: string[]) =>
    shoalAsync(t, ['push', ...args], { cwd: user.dir, configDir: user.configDir });

  randomFile(user.path('data/tagged.bin'), 400 * 1024);
  const taggedSum = sha256File(user.path('data/tagged.bin'));
  const first = user.commit('tagged work');
  user.ok(['tag', 'v1']);
  const r = await push(['origin', 'v1']);
  assertOk(r, 'push of a tag');
  assert.match(r.stdout, /^tag v1 -> origin \(/m);
  // The tag and its commit's objects are on the peer; its branch did not move.
  assert.equal(tagsOf(repo).v1, first);
  assert.equal(tip(repo, 'main'), head);
  assertFsck(repo);
  // The peer is the delegate: its refs now carry the tag to a clone.
  const { user: carol } = await cloneAs(t, server.addr);
  assert.equal(tagsOf(carol).v1, first);
  carol.ok(['restore', '--source', 'v1', 'data/tagged.bin']);
  assert.equal(sha256File(carol.path('data/tagged.bin')), taggedSum);

  // v1 moved here, v2 new, main one commit on: v1 is refused, and with it everything else.
  user.write('notes.txt', 'second\n');
  const second = user.commit('second');
  user.ok(['tag', '-f', 'v1']);
  user.ok(['tag', 'v2']);
  const refused = await push(['origin', 'main', '--tags', '--json']);
  assert.equal(refused.status, 1, describe(refused));
  const err = parseJson<ErrorOut>(refused).error;
  assert.equal(err.code, 'NOT_FAST_FORWARD');
  assert.match(err.message, /tag 'v1' already exists on the peer/);
  assert.deepEqual(tagsOf(repo), { v1: first });
  assert.equal(tip(repo, 'main'), head);

  // A tag alone, and every tag with the branch once v1 agrees again.
  assertOk(await push(['origin', 'tags/v2']), 'push of tags/v2');
  assert.deepEqual(tagsOf(repo), { v1: first, v2: second });
  user.ok(['tag', '-f', 'v1', first]);
  const all = await push(['origin', 'main', '--tags', '--json']);
  assertOk(all, 'push of main and the tags');
  const summary = parseJson<{ updated: string[]; pushed: { ref: string }[]; branch: string }>(all);
  assert.deepEqual(summary.updated, ['refs/heads/main']);
  assert.deepEqual(summary.pushed.map((p) => p.ref).sort(), [
    'refs/heads/main',
    'refs/tags/v1',
    'refs/tags/v2',
  ]);
  assert.equal(summary.branch, 'main');
  assert.equal(tip(repo, 'main'), second);

  const missing = await push(['origin', 'nosuch', '--json']);
  assert.equal(missing.status, 1, describe(missing));
  assert.equal(parseJson<ErrorOut>(missing).error.code, 'NOT_FOUND');

  // A tag named like the current branch: a plain push still sends the branch, as git does.
  user.ok(['tag', 'main']);
  user.write('notes.txt', 'third\n');
  const third = user.commit('third');
  const plain = await push(['--json']);
  assertOk(plain, 'plain push with a tag named main');
  assert.deepEqual(parseJson<{ updated: string[] }>(plain).updated, ['refs/heads/main']);
  assert.equal(tip(repo, 'main'), third);
  // And a remote-tracking branch a tag of the same name hides is reached as remotes/<name>.
  user.ok(['tag', 'origin/main', first]);
  assert.equal(tip(user, 'remotes/origin/main'), third);
  assert.equal(tip(user, 'origin/main'), first);

  // A tag with a note on the peer, moved there by a forced push: the note was about the old
  // commit, and goes with it.
  repo.ok(['tag', '-f', 'v2', '-m', 'release notes of the second commit', second]);
  repo.ok(['config', 'access.allow-force', 'true']);
  user.ok(['tag', '-f', 'v2', first]);
  assertOk(await push(['origin', 'v2', '--force']), 'forced push of a moved tag');
  const v2 = repo
    .j<{ name: string; id: string; message: string | null }[]>(['tag'])
    .find((x) => x.name === 'v2')!;
  assert.deepEqual([v2.id, v2.message], [first, null]);
});

test('push that is not a fast-forward: exit 1, NOT_FAST_FORWARD, nothing moves', async (t) => {
  const { repo, user } = await withWriter(t);

  repo.write('notes.txt', 'origin moved on\n');
  const theirs = repo.commit('on the origin');
  user.write('notes.txt', 'the clone moved elsewhere\n');
  randomFile(user.path('data/more.bin'), 4 << 20);
  user.commit('on the clone');

  const before = packBytes(repo.dir);
  const r = await shoalAsync(t, ['push', 'origin', '--json'], { cwd: user.dir, configDir: user.configDir });
  assert.equal(r.status, 1, describe(r));
  assert.equal(parseJson<ErrorOut>(r).error.code, 'NOT_FAST_FORWARD');
  // Refused before the transfer: the clone does not have the origin's new commit at all.
  assert.ok(packBytes(repo.dir) < before + (1 << 20), `${packBytes(repo.dir) - before} bytes taken`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(tip(repo, 'main'), theirs);
  assert.equal(readFileSync(repo.path('notes.txt'), 'utf8'), 'origin moved on\n');
  assertFsck(repo);

  // --force is refused unless the serving peer allows it.
  const forced = await shoalAsync(t, ['push', 'origin', '--force', '--json'], {
    cwd: user.dir,
    configDir: user.configDir,
  });
  assert.equal(forced.status, 1, describe(forced));
  assert.equal(parseJson<ErrorOut>(forced).error.code, 'PERMISSION_DENIED');
  assert.equal(tip(repo, 'main'), theirs);
});

test('a push to a copy that is not a delegate leaves origin/main where the repository has it', async (t) => {
  const { repo, head } = origin(t);
  const server = await serve(t, repo);
  const { user: bob } = await cloneAs(t, server.addr);
  const bobServer = await serve(t, bob);
  const { user: carol } = await cloneAs(t, bobServer.addr);
  bob.ok(['config', 'access.writers', publicKey(carol)]);
  carol.write('notes.txt', 'carol\n');
  const mine = carol.commit('carol');
  assertOk(await shoalAsync(t, ['push'], { cwd: carol.dir, configDir: carol.configDir }), 'push to bob');
  assert.equal(tip(bob, 'main'), mine, "bob's branch took it");
  // origin/main is the repository's main (the delegate's), which this push did not move; a
  // fetch agrees, where it used to move it back.
  assert.equal(tip(carol, 'origin/main'), head);
  assertOk(await shoalAsync(t, ['fetch'], { cwd: carol.dir, configDir: carol.configDir }), 'fetch');
  assert.equal(tip(carol, 'origin/main'), head);

  // A delegate's own push carries the repository's refs wherever it lands: pushed to bob's copy,
  // its remote-tracking branch for bob moves.
  repo.ok(['remote', 'add', 'bob', bobServer.addr]);
  bob.ok(['config', 'access.allow-force', 'true']); // bob's main is carol's commit
  repo.write('notes.txt', 'from the delegate\n');
  const delegates = repo.commit('by the delegate');
  assertOk(
    await shoalAsync(t, ['push', 'bob', '--force'], { cwd: repo.dir, configDir: repo.configDir }),
    'push to bob',
  );
  assert.equal(tip(repo, 'bob/main'), delegates);
});

test('push from a key that is not allowed: exit 1, PERMISSION_DENIED, nothing stored', async (t) => {
  const { repo, head } = origin(t);
  const server = await serve(t, repo);
  const { user } = await cloneAs(t, server.addr);
  // Someone else is a writer; this user is not.
  const other = newRepo(t);
  repo.ok(['config', 'access.writers', publicKey(other)]);
  const before = repo.j<{ objects: number }>(['fsck']).objects;

  user.write('notes.txt', 'not allowed\n');
  randomFile(user.path('data/unwanted.bin'), 300 * 1024);
  user.commit('unwanted');
  const r = await shoalAsync(t, ['push', 'origin', '--json'], { cwd: user.dir, configDir: user.configDir });
  assert.equal(r.status, 1, describe(r));
  assert.equal(parseJson<ErrorOut>(r).error.code, 'PERMISSION_DENIED');
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(tip(repo, 'main'), head);
  assert.equal(repo.j<{ objects: number }>(['fsck']).objects, before, 'nothing was fetched from the pusher');
  assert.equal(readFileSync(repo.path('notes.txt'), 'utf8'), 'line one\nline two\n');
  assert.equal(existsSync(repo.path('data/unwanted.bin')), false);
  assert.equal(server.proc.exitCode, null, 'the server keeps running');
});

test("each peer's own refs are visible as <peer-id>/<branch> after a fetch", async (t) => {
  const { repo, head } = origin(t);
  const server = await serve(t, repo);
  // Bob clones and commits on his own main, then serves it: his signed refs are a fork.
  const { user: bob } = await cloneAs(t, server.addr);
  bob.write('bob.txt', "bob's work\n");
  const bobHead = bob.commit('bob');
  bob.ok(['branch', 'side']);
  const bobServer = await serve(t, bob);
  assert.notEqual(bobServer.peerId, server.peerId);

  // Carol clones from the origin, then fetches from the origin and Bob, whose address she has
  // without its /p2p/ part: the connection still tells who he is.
  const { user: carol } = await cloneAs(t, server.addr);
  const bobAddr = bobServer.addr.replace(/\/p2p\/[^/]+$/, '');
  assert.notEqual(bobAddr, bobServer.addr);
  const r = await shoalAsync(t, ['fetch', 'origin', '--peer', bobAddr, '--json'], {
    cwd: carol.dir,
    configDir: carol.configDir,
  });
  assertOk(r, 'fetch');
  const fetched = parseJson<{ updated: string[]; peers: string[]; banned: unknown[] }>(r);
  assert.deepEqual(fetched.banned, []);
  assert.deepEqual(new Set(fetched.peers), new Set([server.peerId, bobServer.peerId]));
  assert.ok(fetched.updated.includes(`refs/remotes/${bobServer.peerId}/main`), JSON.stringify(fetched));

  const bobLog = carol.ok(['log', `${bobServer.peerId}/main`]).stdout;
  assert.match(bobLog, new RegExp(bobHead));
  assert.match(bobLog, /bob/);
  assert.equal(tip(carol, `${bobServer.peerId}/main`), bobHead);
  // The canonical branch is still the delegate's (the origin's), not Bob's.
  assert.equal(tip(carol, 'origin/main'), head);
  assert.equal(carol.ok(['cat', `${bobServer.peerId}/main:bob.txt`]).stdout, "bob's work\n");
  assert.equal(tip(carol, `${bobServer.peerId}/side`), bobHead);
  assertFsck(carol);

  // Bob deletes a branch of his: fetch --prune drops Carol's copy of it, and only that.
  bob.ok(['branch', '-D', 'side']);
  const pruned = await shoalAsync(t, ['fetch', 'origin', '--peer', bobServer.addr, '--prune', '--json'], {
    cwd: carol.dir,
    configDir: carol.configDir,
  });
  assertOk(pruned, 'fetch --prune');
  assert.deepEqual(parseJson<{ pruned: string[] }>(pruned).pruned, [`refs/remotes/${bobServer.peerId}/side`]);
  carol.fails(['log', `${bobServer.peerId}/side`], 'UNKNOWN_REV');
  assert.equal(tip(carol, `${bobServer.peerId}/main`), bobHead);
  assert.equal(tip(carol, 'origin/main'), head);
});

test('a fork whose new data is over fetch.fork-limit is listed, not fetched, until the limit allows it', async (t) => {
  const { repo, head } = origin(t);
  const server = await serve(t, repo);
  // Bob commits 3 MiB of new data on his own main: his fork.
  const { user: bob } = await cloneAs(t, server.addr);
  randomFile(bob.path('checkpoint.bin'), 3 * 1024 * 1024);
  const bobHead = bob.commit('checkpoint');
  const bobServer = await serve(t, bob);
  const { user: carol } = await cloneAs(t, server.addr);
  const fetch = async (more: string[] = []) => {
    const r = await shoalAsync(t, ['fetch', 'origin', '--peer', bobServer.addr, ...more, '--json'], {
      cwd: carol.dir,
      configDir: carol.configDir,
    });
    assertOk(r, 'fetch');
    return parseJson<{
      updated: string[];
      metadataObjects: number;
      skippedForks: SkippedFork[];
    }>(r);
  };
  const bobMain = `${bobServer.peerId}/main`;

  carol.ok(['config', 'fetch.fork-limit', '1M']);
  const stored = packBytes(carol.dir);
  const limited = await fetch();
  assert.equal(limited.skippedForks.length, 1, JSON.stringify(limited));
  assert.equal(limited.skippedForks[0]!.ref, bobMain);
  assert.ok(limited.skippedForks[0]!.size!.bytes >= 3 * 1024 * 1024, JSON.stringify(limited));
  assert.equal(limited.skippedForks[0]!.size!.left, 1_000_000);
  assert.equal(carol.run(['log', bobMain]).status, 1, 'no tracking branch for the skipped fork');
  assert.equal(tip(carol, 'origin/main'), head);
  const grown = packBytes(carol.dir) - stored;
  assert.ok(grown < 1024 * 1024, `${grown} bytes stored for the skipped fork`);
  // What it did store of the fork (its commit, tree and index nodes) is reported.
  assert.ok(limited.metadataObjects > 0, JSON.stringify(limited));
  const human = await shoalAsync(t, ['fetch', 'origin', '--peer', bobServer.addr], {
    cwd: carol.dir,
    configDir: carol.configDir,
  });
  assertOk(human, 'fetch');
  assert.match(
    human.stdout,
    new RegExp(
      `skipped ${bobMain}: at least 3\\.\\d MiB to fetch, over the 976\\.6 KiB left of fetch.fork-limit`,
    ),
  );

  carol.ok(['config', 'fetch.fork-limit', '0']);
  assert.deepEqual((await fetch()).skippedForks, [{ ref: bobMain, reason: 'fork-limit', size: null }]);

  // Dave's fork is as large: the limit is for all forks of a fetch together, so 5M takes one.
  const { user: dave } = await cloneAs(t, server.addr);
  randomFile(dave.path('other.bin'), 3 * 1024 * 1024);
  dave.commit('other');
  const daveServer = await serve(t, dave);
  const daveMain = `${daveServer.peerId}/main`;
  carol.ok(['config', 'fetch.fork-limit', '5M']);
  const one = await fetch(['--peer', daveServer.addr]);
  assert.equal(one.skippedForks.length, 1, JSON.stringify(one));
  const skipped = one.skippedForks[0]!;
  assert.ok(skipped.size!.left < 2_000_000, JSON.stringify(one));
  const taken = skipped.ref === bobMain ? daveMain : bobMain;
  assert.ok(one.updated.includes(`refs/remotes/${taken}`), JSON.stringify(one));

  carol.ok(['config', 'fetch.fork-limit', '10M']);
  const allowed = await fetch(['--peer', daveServer.addr]);
  assert.deepEqual(allowed.skippedForks, []);
  assert.ok(allowed.updated.includes(`refs/remotes/${skipped.ref}`), JSON.stringify(allowed));
  assert.equal(tip(carol, bobMain), bobHead);
  assert.equal(sha256File(carol.path('README.md')), sha256File(repo.path('README.md')));
  assertFsck(carol);

  carol.ok(['config', 'fetch.fork-limit', 'lots']);
  const bad = await shoalAsync(t, ['fetch', '--json'], { cwd: carol.dir, configDir: carol.configDir });
  assert.equal(bad.status, 1);
  assert.equal(parseJson<ErrorOut>(bad).error.code, 'INVALID_ARGUMENT');
});

test('a reader taken off the list in the middle of a clone: PERMISSION_DENIED, not a lost peer', async (t) => {
  const parent = tempDir(t);
  const owner = userAt(t, join(parent, 'secret'));
  owner.ok(['init', '--private', owner.dir], parent);
  randomFile(owner.path('big.bin'), 16 * 1024 * 1024);
  owner.commit('big');
  const reader = userAt(t, join(tempDir(t), 'reader'));
  owner.ok(['config', 'access.readers', publicKey(reader)]);
  const server = await serve(t, owner);

  const clone = shoalBg(t, ['clone', server.addr, reader.dir, '--json', '--max-download', '2M'], {
    cwd: parent,
    configDir: reader.configDir,
  });
  await until('the clone to store its first chunks', () => packBytes(reader.dir) > 1024 * 1024);
  owner.ok(['config', 'access.readers', 'ab'.repeat(32)]);
  const status = await clone.exited;
  assert.equal(status, 1, clone.stderr());
  const err = (JSON.parse(clone.stdout()) as ErrorOut).error;
  assert.equal(err.code, 'PERMISSION_DENIED', clone.stdout());
  assert.match(err.message, /not allowed to read/);
  assert.doesNotMatch(clone.stderr(), /\n\s+at /, 'no stack trace');
});

test('a private repository: a key that is not listed is refused; a listed reader clones', async (t) => {
  const parent = tempDir(t);
  const owner = userAt(t, join(parent, 'secret'));
  owner.ok(['init', '--private', owner.dir], parent);
  assert.equal(owner.j<{ visibility: string }>(['info']).visibility, 'private');
  owner.write('secret.txt', 'top secret\n');
  owner.commit('secret');
  const server = await serve(t, owner);

  const stranger = userAt(t, join(tempDir(t), 'stranger'));
  const r = await shoalAsync(t, ['clone', server.addr, stranger.dir, '--json'], {
    cwd: parent,
    configDir: stranger.configDir,
  });
  assert.equal(r.status, 1, describe(r));
  assert.equal(parseJson<ErrorOut>(r).error.code, 'PERMISSION_DENIED', r.stdout);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(existsSync(join(stranger.dir, 'secret.txt')), false);
  // The refusal is what the error says first, even after two addresses of the peer's where
  // nothing listens.
  const id = owner.j<{ id: string }>(['info']).id;
  const closed = new Set<number>();
  while (closed.size < 2) closed.add(await closedPort());
  const refused = await shoalAsync(
    t,
    [
      'clone',
      `shoal://${id}`,
      join(parent, 'stranger2'),
      '--json',
      ...[...closed].flatMap((p) => ['--peer', `/ip4/127.0.0.1/tcp/${p}/p2p/${server.peerId}`]),
      '--peer',
      server.addr,
    ],
    { cwd: parent, configDir: stranger.configDir },
  );
  const why = parseJson<ErrorOut>(refused).error;
  assert.equal(why.code, 'PERMISSION_DENIED', refused.stdout);
  assert.match(why.message, new RegExp(`${server.peerId}: [^;]*not allowed to read`), why.message);

  // Listed (with another key, comma separated) the reader may clone; a later fetch by a key
  // that was removed from the list is refused again.
  const reader = userAt(t, join(tempDir(t), 'reader'));
  owner.ok(['config', 'access.readers', `${'ab'.repeat(32)},${publicKey(reader)}`]);
  assert.match(
    owner.ok(['info']).stdout,
    new RegExp(`^reader {6}${'ab'.repeat(32)}\nreader {6}${publicKey(reader)}$`, 'm'),
  );
  const ok = await shoalAsync(t, ['clone', server.addr, reader.dir, '--json'], {
    cwd: parent,
    configDir: reader.configDir,
  });
  assertOk(ok, 'clone by a listed reader');
  assert.equal(readFileSync(reader.path('secret.txt'), 'utf8'), 'top secret\n');

  owner.ok(['config', 'access.readers', 'ab'.repeat(32)]);
  owner.write('secret.txt', 'even more secret\n');
  owner.commit('more');
  const denied = await shoalAsync(t, ['fetch', '--json'], { cwd: reader.dir, configDir: reader.configDir });
  assert.equal(denied.status, 1, describe(denied));
  assert.equal(parseJson<ErrorOut>(denied).error.code, 'PERMISSION_DENIED', denied.stdout);
  assertFsck(reader);

  // A reader may be named by the peer id that `shoal id` and error messages show, too; what is
  // neither a key nor a peer id is refused when set, not ignored when read.
  const readerId = reader.ok(['id']).stdout.trim();
  owner.ok(['config', 'access.readers', readerId]);
  assertOk(
    await shoalAsync(t, ['fetch'], { cwd: reader.dir, configDir: reader.configDir }),
    'fetch by peer id',
  );
  owner.fails(['config', 'access.readers', 'bob'], 'INVALID_ARGUMENT');
  owner.fails(['config', 'access.allow-force', 'yes'], 'INVALID_ARGUMENT');
  assert.equal(owner.ok(['config', 'get', 'access.readers']).stdout.trim(), readerId);
});

/** A TCP port on loopback that nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

test("an address of a peer's that swallows the connection does not hold up its other addresses", async (t) => {
  const { repo, files } = origin(t);
  const server = await serve(t, repo);
  const repoId = repo.j<{ id: string }>(['info']).id;
  // What happens, in the order it happens: the first address never answers; the last forwards
  // to the peer.
  const events: string[] = [];
  const silent = await silentPort(t, events);
  const forward = await listenOnLoopback(t, (c) => {
    events.push('forward: connected');
    const up = createConnection(portOf(server.addr), '127.0.0.1');
    up.on('error', () => c.destroy());
    c.on('close', () => up.destroy());
    c.pipe(up).pipe(c);
  });
  // The one between is another peer's, serving the same repository: the dials run without
  // /p2p/ (overlapping), so who answered is checked after, and that one is no source.
  const impostor = await serve(t, { dir: repo.dir, configDir: configFor(t) });
  const at = (port: number) => `/ip4/127.0.0.1/tcp/${port}/p2p/${server.peerId}`;
  const { user, summary } = await cloneAs(t, `shoal://${repoId}`, [
    '--peer',
    at(silent),
    '--peer',
    at(portOf(impostor.addr)),
    '--peer',
    at(forward),
  ]);
  assert.deepEqual(summary.peers, [server.peerId], 'only the peer the addresses name');
  assert.equal(sha256File(user.path('data/big.bin')), files['data/big.bin']);
  // Tried one after the other, the second address would be dialled only once the first had
  // timed out (6 s) and been closed.
  assert.equal(events[0], 'silent: connected', events.join(', '));
  assert.equal(events[1], 'forward: connected', events.join(', '));
});

test('when no address of a peer answers, the error names their failures in the order the addresses were given', async (t) => {
  const { repo } = origin(t);
  const server = await serve(t, repo);
  const repoId = repo.j<{ id: string }>(['info']).id;
  // The first address never answers: it fails last, at the dial timeout, after the two where
  // nothing listens were refused.
  const silent = await silentPort(t);
  const ports = new Set<number>();
  while (ports.size < 2) ports.add(await closedPort());
  const at = (port: number) => `/ip4/127.0.0.1/tcp/${port}/p2p/${server.peerId}`;
  const r = await failedClone(t, `shoal://${repoId}`, [
    '--peer',
    at(silent),
    ...[...ports].flatMap((p) => ['--peer', at(p)]),
  ]);
  assert.equal(r.error.code, 'NOT_FOUND');
  assert.match(r.error.message, new RegExp(`tcp/${silent}: no answer in time`));
  const first = r.error.message.indexOf(`tcp/${silent}`);
  assert.ok(first >= 0 && first < r.error.message.indexOf('ECONNREFUSED'), r.error.message);
  assert.match(r.error.message, /; 1 more address failed too$/);
});

test('a source that does not exist or does not hold the repository: a clear error, exit 1', async (t) => {
  const { repo } = origin(t);
  const server = await serve(t, repo);
  const parent = tempDir(t);
  const user = userAt(t, join(parent, 'dst'));
  const clone = (args: string[]) =>
    shoalAsync(t, ['clone', ...args, '--json'], { cwd: parent, configDir: user.configDir });
  const expectError = async (args: string[], code: string, message: RegExp) => {
    const r = await clone(args);
    assert.equal(r.status, 1, `clone ${args.join(' ')}: ${describe(r)}`);
    const out = parseJson<ErrorOut>(r);
    assert.equal(out.error.code, code, `clone ${args.join(' ')}: ${r.stdout}`);
    assert.match(out.error.message, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(existsSync(user.dir), false, 'no destination left behind');
  };

  // Nothing listens there.
  const port = await closedPort();
  await expectError(
    [`/ip4/127.0.0.1/tcp/${port}/p2p/${server.peerId}`, user.dir],
    'NOT_FOUND',
    /could not be reached|cannot reach/,
  );
  // Nowhere of five addresses: the peer is named once, with its first two attempts.
  const ports = new Set<number>();
  while (ports.size < 5) ports.add(await closedPort());
  const [first, ...others] = [...ports].map((p) => `/ip4/127.0.0.1/tcp/${p}/p2p/${server.peerId}`);
  const many = await clone([first!, user.dir, ...others.flatMap((a) => ['--peer', a])]);
  assert.equal(many.status, 1, describe(many));
  const manyMessage = parseJson<ErrorOut>(many).error.message;
  assert.equal(manyMessage.split(server.peerId).length - 1, 1, manyMessage);
  assert.match(manyMessage, /ECONNREFUSED.*ECONNREFUSED.*; 3 more addresses failed too$/);
  assert.equal(manyMessage.split('ECONNREFUSED').length - 1, 2, 'two attempts shown');
  // Someone listens, but it is not the peer the address names.
  const otherPeer = newRepo(t).j<{ peerId: string }>(['id']).peerId;
  const wrongPeer = server.addr.replace(server.peerId, otherPeer);
  await expectError([wrongPeer, user.dir], 'NOT_FOUND', /could not be reached|cannot reach/);
  // The address is this user's own peer (the same key serves): said so, not "unreachable".
  const self = await shoalAsync(t, ['clone', server.addr, join(parent, 'self'), '--json'], {
    cwd: parent,
    configDir: repo.configDir,
  });
  assert.equal(self.status, 1, describe(self));
  assert.match(parseJson<ErrorOut>(self).error.message, /own peer .*SHOAL_CONFIG_DIR/);
  assert.equal(existsSync(join(parent, 'self')), false);
  // The peer is there but does not hold the repository asked for.
  const unknown = `shoal://${randomBytes(32).toString('hex')}`;
  await expectError([unknown, user.dir, '--peer', server.addr], 'NOT_FOUND', /does not serve|no peer/);
  // No peer at all to ask: said so, with the way to name one.
  await expectError(
    [unknown, user.dir],
    'NOT_FOUND',
    /is known or was found on the LAN; name one with --peer/,
  );
  // Not a source at all: misuse.
  const bad = await clone(['not a source', user.dir]);
  assert.equal(bad.status, 2);
  assert.equal(parseJson<ErrorOut>(bad).error.code, 'USAGE');
  assert.equal(existsSync(user.dir), false);

  // A destination that holds something else is refused, and left alone.
  const busy = join(parent, 'busy');
  userAt(t, busy).ok(['init', busy], parent);
  writeFileSync(join(busy, 'mine.txt'), 'mine\n');
  const r = await clone([server.addr, busy]);
  assert.equal(r.status, 1, describe(r));
  assert.equal(parseJson<ErrorOut>(r).error.code, 'ALREADY_EXISTS');
  assert.equal(readFileSync(join(busy, 'mine.txt'), 'utf8'), 'mine\n');
  assert.equal(server.proc.exitCode, null, 'the server keeps running');
});

test('a disk that fills up while a clone writes its files: a clear error, and restore finishes the job', async (t) => {
  await withTmpfs(t, '40m', async (mnt) => {
    // 24 MiB: its packs fit in 40 MiB, the checked-out copy beside them does not.
    const repo = newRepo(t);
    const digest = randomFile(repo.path('big.bin'), 24 << 20);
    repo.commit('big');
    const server = await serve(t, repo);
    const user = userAt(t, join(mnt, 'dst'));
    const r = await shoalAsync(t, ['clone', server.addr, user.dir, '--json'], {
      cwd: mnt,
      configDir: user.configDir,
    });
    assert.equal(r.status, 1, describe(r));
    const err = parseJson<ErrorOut>(r).error;
    assert.equal(err.code, 'DISK_FULL');
    assert.match(err.message, /no space left on device.*run 'shoal restore \.'/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');

    // The history is there; the file shows as missing from the working tree, not as a staged
    // deletion a commit would record.
    const st = user.j<{ staged: unknown[]; unstaged: { path: string; change: string }[] }>(['status']);
    assert.deepEqual([st.staged, st.unstaged], [[], [{ path: 'big.bin', change: 'deleted' }]]);
    const grow = spawnSync('mount', ['-o', 'remount,size=100m', mnt], { encoding: 'utf8' });
    assert.equal(grow.status, 0, grow.stderr);
    user.ok(['restore', '.']);
    assert.equal(sha256File(user.path('big.bin')), digest);
    assertFsck(user);
  });
});

test('a clone resumed over a file of the user: refused before anything is written, then completed', async (t) => {
  // 16 MiB: the 24 MiB of packs do not fit, so the first clone stops during the transfer.
  await withTmpfs(t, '16m', async (mnt) => {
    const repo = newRepo(t);
    const digest = randomFile(repo.path('big.bin'), 24 << 20);
    repo.commit('big');
    const server = await serve(t, repo);
    const user = userAt(t, join(mnt, 'dst'));
    const clone = () =>
      shoalAsync(t, ['clone', server.addr, user.dir, '--json'], { cwd: mnt, configDir: user.configDir });
    const first = await clone();
    assert.equal(first.status, 1, describe(first));
    assert.equal(parseJson<ErrorOut>(first).error.code, 'DISK_FULL');

    // Room now, but a file of the user's stands where the commit has another: nothing is written.
    assert.equal(spawnSync('mount', ['-o', 'remount,size=100m', mnt]).status, 0);
    writeFileSync(user.path('big.bin'), 'mine\n');
    const refused = await clone();
    assert.equal(refused.status, 1, describe(refused));
    assert.equal(parseJson<ErrorOut>(refused).error.code, 'DIRTY_WORKTREE');
    assert.equal(readFileSync(user.path('big.bin'), 'utf8'), 'mine\n');

    rmSync(user.path('big.bin'));
    assertOk(await clone(), 'clone');
    assert.equal(sha256File(user.path('big.bin')), digest);
    const st = user.j<{ staged: unknown[]; unstaged: unknown[] }>(['status']);
    assert.deepEqual([st.staged, st.unstaged], [[], []]);
  });
});

test("serve on an address in use, or one that is no address: a one-line error in the user's words", async (t) => {
  const repo = newRepo(t);
  repo.write('f.txt', 'f\n');
  repo.commit('one');
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  t.after(() => busy.close());
  const port = (busy.address() as { port: number }).port;
  // In use: a failure; no address at all: misuse, said before anything starts.
  for (const [listen, message, status] of [
    [
      `/ip4/127.0.0.1/tcp/${port}`,
      new RegExp(`^error: cannot listen on /ip4/127\\.0\\.0\\.1/tcp/${port}: the address is already in use`),
      1,
    ],
    ['/ip4/127.0.0.1/tcp/99999', /^'\/ip4\/127\.0\.0\.1\/tcp\/99999' is not an address to listen on/, 2],
    ['foo', /^'foo' is not an address to listen on/, 2],
  ] as const) {
    const c = shoalBg(t, ['serve', '--listen', listen], { cwd: repo.dir, configDir: repo.configDir });
    assert.equal(await c.exited, status, c.stderr());
    assert.match(c.stderr(), message);
    assert.doesNotMatch(c.stderr(), /transportManager|\n\s+at /);
  }
});

test('serve refuses arguments it does not take, outside a repository too, and exits 2', async (t) => {
  const repo = newRepo(t);
  const outside = tempDir(t);
  for (const [args, cwd] of [
    [['serve', '--listen', '/ip4/127.0.0.1/tcp/0', 'stray'], repo.dir],
    [['serve', '--bogus'], outside],
    [['serve', '--max-upload', 'fast'], outside],
  ] as const) {
    const c = shoalBg(t, [...args], { cwd, configDir: repo.configDir });
    // Exits at once, or serves (prints its address) until killed.
    const first = await Promise.race([c.exited.then(() => 'exited'), once(c.proc.stdout!, 'data')]);
    assert.equal(first, 'exited', `shoal ${args.join(' ')} served: ${c.stdout()}`);
    assert.equal(await c.exited, 2, `shoal ${args.join(' ')}: ${c.stderr()}`);
    assert.match(c.stderr(), /usage: shoal serve|is not a rate/);
  }
});
