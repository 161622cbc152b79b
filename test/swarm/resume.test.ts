// Resuming: a clone killed (-9) after some data arrived continues on the next `shoal clone`
// into the same directory without fetching again what it stored; so does a fetch.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { newRepo, randomFile, sha256File } from '../cli/repo-helpers.ts';
import { tempDir } from '../helpers.ts';
import {
  assertFsck,
  assertOk,
  type CloneSummary,
  committedChunkBytes,
  interruptCloneAfterCommit,
  localBranches,
  packBytes,
  parseJson,
  serve,
  shoalAsync,
  shoalBg,
  until,
  userAt,
} from './swarm-helpers.ts';

const MiB = 1024 * 1024;

/**
 * Run `shoal <args>` in `cwd` as the user of `configDir`, and kill it (-9) once `root`'s packs
 * hold `bytes`: it must still be running then.
 */
async function killedOnceStored(
  t: Parameters<typeof shoalBg>[0],
  args: string[],
  opts: { cwd: string; configDir: string; root: string; bytes: number; what: string },
): Promise<void> {
  const run = shoalBg(t, args, { cwd: opts.cwd, configDir: opts.configDir });
  await until(
    `${opts.what} to store part of the data`,
    () => packBytes(opts.root) >= opts.bytes || run.finished(),
  );
  assert.equal(run.finished(), false, `${opts.what} finished before the kill: ${run.stdout()}`);
  await run.kill();
}

test('a clone killed (-9) mid-transfer resumes without fetching again what it stored', async (t) => {
  const SIZE = 32 * MiB;
  const origin = newRepo(t);
  const sum = randomFile(origin.path('weights.bin'), SIZE);
  const head = origin.commit('weights');
  // Slow enough that the clone is still running when it is killed.
  const server = await serve(t, origin, { args: ['--max-upload', '8M'] });

  const parent = tempDir(t);
  const user = userAt(t, join(parent, 'clone'));
  await killedOnceStored(t, ['clone', server.addr, user.dir, '--json'], {
    cwd: parent,
    configDir: user.configDir,
    root: user.dir,
    bytes: SIZE / 2,
    what: 'the clone',
  });
  const kept = committedChunkBytes(user.dir);
  t.diagnostic(`killed with ${packBytes(user.dir)} pack bytes, ${kept} chunk bytes committed`);
  assert.ok(kept > 0, 'some of the data survived the kill');
  assert.ok(kept < SIZE, 'the clone was interrupted');
  // What it wrote of the file while fetching is left behind, until the next run.
  const ahead = join(user.dir, '.shoal', 'ahead');
  assert.equal(readdirSync(ahead).length, 1);

  // The same command again, into the same directory: it picks up where it stopped.
  const r = await shoalAsync(t, ['clone', server.addr, user.dir, '--json'], {
    cwd: parent,
    configDir: user.configDir,
  });
  assertOk(r, 'resumed clone');
  const s = parseJson<CloneSummary>(r);
  t.diagnostic(`resumed: ${s.bytes} of ${SIZE} bytes fetched`);
  assert.ok(s.bytes < SIZE, `the second run fetched ${s.bytes} of ${SIZE} bytes`);
  assert.ok(s.bytes <= SIZE - kept, `nothing stored was fetched again (${s.bytes} + ${kept} > ${SIZE})`);
  assert.equal(s.commit, head);
  assert.equal(sha256File(user.path('weights.bin')), sum);
  assertFsck(user);
  assert.equal(existsSync(ahead), false, 'the temporary of the killed run is still there');

  // A third run has nothing to do (the clone is complete: it refuses, leaving it intact).
  const again = await shoalAsync(t, ['clone', server.addr, user.dir, '--json'], {
    cwd: parent,
    configDir: user.configDir,
  });
  assert.equal(again.status, 1);
  const refused = parseJson<{ error: { code: string; message: string } }>(again).error;
  assert.equal(refused.code, 'ALREADY_EXISTS');
  assert.match(refused.message, /is a clone of this repository already: 'shoal restore \.' there/);
  assert.equal(sha256File(user.path('weights.bin')), sum);
});

test('a fetch killed (-9) mid-transfer resumes without fetching again what it stored', async (t) => {
  const origin = newRepo(t);
  randomFile(origin.path('a.bin'), 2 * MiB);
  origin.commit('small start');
  const server = await serve(t, origin, { args: ['--max-upload', '8M'] });
  const parent = tempDir(t);
  const user = userAt(t, join(parent, 'clone'));
  assertOk(
    await shoalAsync(t, ['clone', server.addr, user.dir], { cwd: parent, configDir: user.configDir }),
    'clone',
  );

  const SIZE = 24 * MiB;
  const sum = randomFile(origin.path('b.bin'), SIZE);
  const fd = openSync(origin.path('a.bin'), 'r+');
  writeSync(fd, randomBytes(1000), 0, 1000, 4096);
  closeSync(fd);
  const v2 = origin.commit('big addition');
  const before = committedChunkBytes(user.dir);

  await killedOnceStored(t, ['fetch', '--json'], {
    cwd: user.dir,
    configDir: user.configDir,
    root: user.dir,
    bytes: before + SIZE / 2,
    what: 'the fetch',
  });
  const kept = committedChunkBytes(user.dir) - before;
  assert.ok(kept > 0, 'some of the new data survived the kill');
  assertFsck(user);

  const r = await shoalAsync(t, ['pull', '--json'], { cwd: user.dir, configDir: user.configDir });
  assertOk(r, 'pull after the interrupted fetch');
  const p = parseJson<{ fetch: { bytes: number }; merge: { head: string } }>(r);
  assert.ok(p.fetch.bytes < SIZE, `the resumed fetch transferred ${p.fetch.bytes} of ${SIZE}`);
  assert.ok(p.fetch.bytes <= SIZE + 64 * 1024 * 4 - kept, 'nothing stored was fetched again');
  assert.equal(p.merge.head, v2);
  assert.equal(sha256File(user.path('b.bin')), sum);
  assert.equal(sha256File(user.path('a.bin')), sha256File(origin.path('a.bin')));
  assertFsck(user);
});

/**
 * A delegate's repository at a first version (2 MiB) that Carol cloned whole, then a second one
 * (16 MiB more) that only the delegate holds, served slowly (4 MB/s) by `second`.
 */
async function carolThenNewVersion(t: Parameters<typeof shoalBg>[0]) {
  const origin = newRepo(t);
  randomFile(origin.path('v1.bin'), 2 * MiB);
  const v1 = origin.commit('v1');
  const first = await serve(t, origin);
  const parent = tempDir(t);
  const carol = userAt(t, join(parent, 'carol'));
  assertOk(
    await shoalAsync(t, ['clone', first.addr, carol.dir], { cwd: parent, configDir: carol.configDir }),
    'carol',
  );
  await first.kill();
  const v2Size = 16 * MiB;
  randomFile(origin.path('v2.bin'), v2Size);
  const v2 = origin.commit('v2');
  const second = await serve(t, origin, { args: ['--max-upload', '4M'] });
  return { v1, v2, v2Size, parent, carol, second };
}

test("a peer interrupted while fetching a new version does not pass that version's refs on before it holds it", async (t) => {
  // Carol holds the first version whole; the delegate moves on, and Gina starts to clone the new
  // version and is killed half way.
  const { v1, v2, v2Size, parent, carol, second } = await carolThenNewVersion(t);
  const gina = userAt(t, join(parent, 'gina'));
  await killedOnceStored(t, ['clone', second.addr, gina.dir, '--json'], {
    cwd: parent,
    configDir: gina.configDir,
    root: gina.dir,
    bytes: v2Size / 4,
    what: "gina's clone",
  });
  await second.kill(); // the delegate goes offline
  // Harry clones from both: the version that someone holds whole, not the one nobody does.
  const ginaServer = await serve(t, gina);
  const carolServer = await serve(t, carol);
  const harry = userAt(t, join(parent, 'harry'));
  const id = carol.j<{ id: string }>(['info']).id;
  const r = await shoalAsync(
    t,
    ['clone', `shoal://${id}`, harry.dir, '--peer', ginaServer.addr, '--peer', carolServer.addr, '--json'],
    { cwd: parent, configDir: harry.configDir },
  );
  assertOk(r, 'harry');
  assert.equal(parseJson<CloneSummary>(r).commit, v1);
  assert.notEqual(v1, v2);
  assertFsck(harry);
});

test('Ctrl-C or SIGTERM while a clone writes its files: stops, leaves no temporaries, and restore finishes', async (t) => {
  const SIZE = 256 * MiB; // a write long enough to be caught in the middle
  const origin = newRepo(t);
  const sum = randomFile(origin.path('weights.bin'), SIZE);
  // A copy before it: written while the chunks come, so that what is left to the checkout is
  // the whole of weights.bin, read from the packs.
  cpSync(origin.path('weights.bin'), origin.path('a-copy.bin'));
  origin.commit('weights');
  const server = await serve(t, origin);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const parent = tempDir(t);
    const user = userAt(t, join(parent, 'clone'));
    const run = shoalBg(t, ['clone', server.addr, user.dir], { cwd: parent, configDir: user.configDir });
    const temporaries = (): string[] =>
      existsSync(user.dir) ? readdirSync(user.dir).filter((n) => n.includes('.shoal-tmp-')) : [];
    await until('the clone to write weights.bin', () => temporaries().length > 0 || run.finished());
    assert.equal(run.finished(), false, `the clone finished before the ${signal}: ${run.stdout()}`);
    run.proc.kill(signal);
    const status = await run.exited;
    assert.equal(status, 1, `${signal}: ${run.stdout()}\n${run.stderr()}`);
    // and says what writes the rest
    assert.match(run.stderr(), /^error: interrupted; .*'shoal restore \.' there writes them$/m);
    assert.deepEqual(temporaries(), [], `${signal} left a temporary behind`);
    assert.equal(existsSync(join(user.dir, '.shoal', 'ahead')), false, `${signal} left a temporary behind`);
    // Everything was fetched before the files were written: restore writes them, no network.
    const restored = await shoalAsync(t, ['restore', '.'], { cwd: user.dir, configDir: user.configDir });
    assertOk(restored, 'restore after the interrupted clone');
    assert.equal(sha256File(user.path('weights.bin')), sum);
    assertFsck(user);
  }
});

test('a peer whose fetch of a new version was interrupted still serves the version it holds whole', async (t) => {
  // Carol holds the first version whole; the delegate moves on, and Carol's fetch of the new
  // version is killed half way: she has the delegate's new refs document, not what it names.
  const { v1, v2Size, parent, carol, second } = await carolThenNewVersion(t);
  await killedOnceStored(t, ['fetch', second.addr, '--json'], {
    cwd: carol.dir,
    configDir: carol.configDir,
    root: carol.dir,
    bytes: packBytes(carol.dir) + v2Size / 4,
    what: "carol's fetch",
  });
  await second.kill();
  // Cloned from her alone, the repository comes at the version she holds whole, not empty.
  const carolServer = await serve(t, carol);
  const harry = userAt(t, join(parent, 'harry'));
  const r = await shoalAsync(t, ['clone', carolServer.addr, harry.dir, '--json'], {
    cwd: parent,
    configDir: harry.configDir,
  });
  assertOk(r, 'harry');
  assert.equal(parseJson<CloneSummary>(r).commit, v1);
  assertFsck(harry);
});

test('Ctrl-C on a clone held back by --max-download ends it at once, and the next run resumes', {
  // At 8 kB/s the first request alone waits two minutes for the limit: a clone that sat that
  // wait out after Ctrl-C fails the test by its timeout.
  timeout: 60_000,
}, async (t) => {
  const SIZE = 2 * MiB;
  const origin = newRepo(t);
  const sum = randomFile(origin.path('weights.bin'), SIZE);
  origin.commit('weights');
  const server = await serve(t, origin);
  const parent = tempDir(t);
  const user = userAt(t, join(parent, 'clone'));
  // The commit, tree and index nodes are stored first; then the chunks wait for the limit.
  await interruptCloneAfterCommit(t, user, parent, [server.addr, '--max-download', '8k']);
  // What is left says how to finish it; nothing is left of the file it had begun to write.
  assert.match(user.ok(['status']).stdout, /^no commits yet: 'shoal pull' brings origin's$/m);
  assert.equal(existsSync(join(user.dir, '.shoal', 'ahead')), false, 'a temporary left behind');

  const r = await shoalAsync(t, ['clone', server.addr, user.dir, '--json'], {
    cwd: parent,
    configDir: user.configDir,
  });
  assertOk(r, 'resumed clone');
  assert.equal(sha256File(user.path('weights.bin')), sum);
});

test('Ctrl-C while a clone dials a peer that never answers: interrupted, not "could not be reached"', async (t) => {
  // A socket that takes the connection and says nothing: the dial waits on it.
  let accepted = false;
  const silent = createServer((socket) => {
    accepted = true;
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => silent.close());
  const port = (silent.address() as AddressInfo).port;
  const other = userAt(t, join(tempDir(t), 'other'));
  const peerId = other.j<{ peerId: string }>(['id'], tempDir(t)).peerId;

  const parent = tempDir(t);
  const user = userAt(t, join(parent, 'clone'));
  const run = shoalBg(t, ['clone', `/ip4/127.0.0.1/tcp/${port}/p2p/${peerId}`, user.dir, '--json'], {
    cwd: parent,
    configDir: user.configDir,
  });
  await until('the clone to dial', () => accepted || run.finished());
  assert.equal(run.finished(), false, run.stdout());
  run.proc.kill('SIGINT');
  assert.equal(await run.exited, 1, run.stderr());
  assert.match(run.stdout(), /"code":"ABORTED"/);
});

test('a clone of many files killed (-9) as its branch appears: the index already names the files, and restore writes them', {
  timeout: 180_000,
}, async (t) => {
  const origin = newRepo(t);
  for (let d = 0; d < 40; d++) {
    mkdirSync(origin.path(`d${d}`));
    for (let f = 0; f < 500; f++) writeFileSync(origin.path(`d${d}/f${f}`), `${d}/${f}\n`);
  }
  origin.commit('many files');
  const server = await serve(t, origin);
  const parent = tempDir(t);
  const user = userAt(t, join(parent, 'clone'));
  const run = shoalBg(t, ['clone', server.addr, user.dir], { cwd: parent, configDir: user.configDir });
  // The list of 20,000 files took long enough to write that a clone killed after the branch
  // was made, before the list was, left every file staged as deleted (which a commit records).
  await until('the clone to make its branch', () => localBranches(user.dir) > 0 || run.finished());
  assert.equal(run.finished(), false, run.stdout());
  await run.kill();
  const st = user.j<{ staged: unknown[] }>(['status']);
  // (its length, not the list: a diff of 20,000 entries against none takes all the memory there is)
  assert.equal(
    st.staged.length,
    0,
    `nothing staged, the index names the commit: ${JSON.stringify(st.staged.slice(0, 3))}`,
  );
  user.ok(['restore', '.']);
  const after = user.j<{ staged: unknown[]; unstaged: unknown[]; untracked: unknown[] }>(['status']);
  assert.deepEqual([after.staged, after.unstaged, after.untracked], [[], [], []]);
  assert.equal(readFileSync(user.path('d39/f499'), 'utf8'), '39/499\n');
});

test('a clone into a repository made by an init with nothing in it: taken as an unfinished clone, and completed', async (t) => {
  // A clone killed after it made the repository, before it recorded which one, leaves this.
  const origin = newRepo(t);
  const sum = randomFile(origin.path('data.bin'), 256 * 1024);
  origin.commit('data');
  const server = await serve(t, origin);
  const parent = tempDir(t);
  const user = userAt(t, join(parent, 'clone'));
  assertOk(await shoalAsync(t, ['init', user.dir], { cwd: parent, configDir: user.configDir }), 'init');
  assertOk(
    await shoalAsync(t, ['clone', server.addr, user.dir], { cwd: parent, configDir: user.configDir }),
    'clone',
  );
  assert.equal(sha256File(user.path('data.bin')), sum);
  assertFsck(user);
  // One with a file of the user's beside it is no unfinished clone.
  const other = userAt(t, join(parent, 'other'));
  assertOk(await shoalAsync(t, ['init', other.dir], { cwd: parent, configDir: other.configDir }), 'init');
  writeFileSync(other.path('notes.txt'), 'mine\n');
  const refused = await shoalAsync(t, ['clone', server.addr, other.dir, '--json'], {
    cwd: parent,
    configDir: other.configDir,
  });
  assert.equal(refused.status, 1, refused.stdout);
  assert.equal(parseJson<{ error: { code: string } }>(refused).error.code, 'ALREADY_EXISTS');
});

/**
 * A clone of a 4 MiB file stopped (Ctrl-C) once it held the commit, before any chunk came: run
 * again (`clone()`), it fetches every chunk and writes the file meanwhile.
 */
async function cloneStoppedBeforeChunks(t: Parameters<typeof shoalBg>[0]) {
  const origin = newRepo(t);
  const sum = randomFile(origin.path('weights.bin'), 4 * MiB);
  origin.commit('weights');
  const server = await serve(t, origin);
  const parent = tempDir(t);
  const user = userAt(t, join(parent, 'clone'));
  await interruptCloneAfterCommit(t, user, parent, [server.addr, '--max-download', '8k']);
  const clone = () =>
    shoalAsync(t, ['clone', server.addr, user.dir, '--json'], { cwd: parent, configDir: user.configDir });
  return { sum, user, clone };
}

test('a clone refused over a file of the user once its transfer is over leaves nothing of what it wrote meanwhile', async (t) => {
  const { sum, user, clone } = await cloneStoppedBeforeChunks(t);
  writeFileSync(user.path('weights.bin'), 'mine\n');
  const refused = await clone();
  assert.equal(refused.status, 1, refused.stdout);
  assert.equal(parseJson<{ error: { code: string } }>(refused).error.code, 'DIRTY_WORKTREE');
  assert.equal(readFileSync(user.path('weights.bin'), 'utf8'), 'mine\n');
  assert.equal(existsSync(join(user.dir, '.shoal', 'ahead')), false, 'a temporary left behind');

  rmSync(user.path('weights.bin'));
  const done = await clone();
  assertOk(done, 'clone');
  assert.equal(parseJson<CloneSummary>(done).bytes, 0, 'the refused run had fetched everything');
  assert.equal(sha256File(user.path('weights.bin')), sum);
});

test('a clone that cannot write its files while fetching writes them after, from the packs', async (t) => {
  const { sum, user, clone } = await cloneStoppedBeforeChunks(t);
  // A file where the clone keeps what it writes ahead: it cannot make its directory there.
  writeFileSync(join(user.dir, '.shoal', 'ahead'), '');
  const r = await clone();
  assertOk(r, 'clone');
  const summary = parseJson<CloneSummary>(r);
  assert.equal(summary.bytes, 4 * MiB);
  assert.equal(summary.writtenWhileFetching, 0);
  assert.equal(sha256File(user.path('weights.bin')), sum);
  assertFsck(user);
});

test('a clone whose only peer is killed (-9) mid-transfer fails, leaves nothing of its files, and resumes from another', async (t) => {
  const SIZE = 32 * MiB;
  const origin = newRepo(t);
  const sum = randomFile(origin.path('weights.bin'), SIZE);
  origin.commit('weights');
  const server = await serve(t, origin, { args: ['--max-upload', '8M'] });
  const parent = tempDir(t);
  const user = userAt(t, join(parent, 'clone'));
  const run = shoalBg(t, ['clone', server.addr, user.dir, '--json'], {
    cwd: parent,
    configDir: user.configDir,
  });
  await until('the clone to store part of the data', () => packBytes(user.dir) >= SIZE / 4 || run.finished());
  assert.equal(run.finished(), false, `the clone finished first: ${run.stdout()}`);
  const ahead = join(user.dir, '.shoal', 'ahead');
  assert.equal(readdirSync(ahead).length, 1, 'the file is being written as its chunks come');
  await server.kill();
  assert.equal(await run.exited, 1, run.stderr());
  assert.match(run.stdout(), /"code":"PEER_ERROR"/);
  assert.equal(existsSync(ahead), false, 'a temporary left behind');

  const again = await serve(t, origin);
  const r = await shoalAsync(t, ['clone', again.addr, user.dir, '--json'], {
    cwd: parent,
    configDir: user.configDir,
  });
  assertOk(r, 'resumed clone');
  assert.equal(sha256File(user.path('weights.bin')), sum);
  assertFsck(user);
});

test('restore and gc remove what a clone killed (-9) left of the files it was writing', async (t) => {
  const origin = newRepo(t);
  randomFile(origin.path('weights.bin'), 2 * MiB);
  origin.commit('weights');
  const server = await serve(t, origin);
  const parent = tempDir(t);
  const user = userAt(t, join(parent, 'clone'));
  assertOk(
    await shoalAsync(t, ['clone', server.addr, user.dir], { cwd: parent, configDir: user.configDir }),
    'clone',
  );
  // What a killed clone leaves: a temporary named after a process that is gone.
  const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
  const ahead = join(user.dir, '.shoal', 'ahead');
  const leftover = (): string => {
    mkdirSync(ahead, { recursive: true });
    const file = join(ahead, `.1.shoal-tmp-${gone}`);
    writeFileSync(file, 'partly written');
    return file;
  };
  const first = leftover();
  user.ok(['restore', '.']);
  assert.equal(existsSync(first), false, 'restore left it');
  const second = leftover();
  user.ok(['gc']);
  assert.equal(existsSync(second), false, 'gc left it');
});
