// The daemon through the real CLI: start, status and stop of a background process with an
// isolated config directory, serving shared repositories (clone, push, share and unshare while
// it runs), a stale pid file, and a repository that disappears.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { runtimeFor } from '../../bin/runtime.js';
import { fileLogger, rotateLog, spawnDaemon } from '../../src/cli/daemon-process.ts';
import { isShoalError } from '../../src/core/errors.ts';
import { json, shoal, shoalSpawn, tempDir } from '../helpers.ts';
import { packBytes, shoalAsync, until } from '../swarm/swarm-helpers.ts';
import { daemonUser, isDaemon, ok, run, type State, startDaemon, status } from './daemon-helpers.ts';
import { describe, newRepo, randomFile } from './repo-helpers.ts';

test('daemon start, status and stop', (t) => {
  const config = daemonUser(t);
  const before = status(config);
  assert.equal(before.status, 1, 'status of a daemon that does not run exits 1');
  assert.equal(before.state.running, false);

  const started = startDaemon(t, config);
  assert.equal(started.running, true);
  assert.equal(started.alreadyRunning, false);
  assert.ok(isDaemon(started.pid), 'a daemon process runs');
  assert.ok(started.addrs.length > 0);
  for (const a of started.addrs) assert.match(a, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW/);
  assert.deepEqual(started.repos, []);
  assert.equal(readFileSync(join(config, 'daemon.pid'), 'utf8').trim(), String(started.pid));

  const again = run(config, ['daemon', 'start']);
  assert.equal(again.status, 0, describe(again));
  assert.match(again.stdout, new RegExp(`already running \\(pid ${started.pid}\\)`));
  assert.equal(json<State>(ok(config, ['daemon', 'start', '--json'])).alreadyRunning, true);

  // Options that say how to start a daemon are misuse with stop and status, not ignored.
  for (const args of [
    ['daemon', 'stop', '--listen', '/ip4/127.0.0.1/tcp/0'],
    ['daemon', 'status', '--mdns'],
  ]) {
    const r = run(config, args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${describe(r)}`);
  }
  assert.ok(isDaemon(started.pid), 'the refused stop left the daemon running');

  const now = status(config);
  assert.equal(now.status, 0);
  assert.equal(now.state.pid, started.pid);
  assert.deepEqual(now.state.addrs, started.addrs);
  assert.equal(now.state.peerId, json<{ peerId: string }>(ok(config, ['id', '--json'])).peerId);
  assert.match(ok(config, ['daemon', 'status']).stdout, /is running \(pid \d+\)\npeer id +12D3KooW/);

  const stopped = ok(config, ['daemon', 'stop']);
  assert.match(stopped.stdout, new RegExp(`stopped \\(pid ${started.pid}\\)`));
  assert.equal(isDaemon(started.pid), false, 'the process is gone once stop returns');
  for (const f of ['daemon.pid', 'daemon.json', 'daemon.sock'])
    assert.equal(existsSync(join(config, f)), false, f);
  assert.equal(status(config).status, 1);
  assert.match(ok(config, ['daemon', 'stop']).stdout, /not running/);
  const log = readFileSync(join(config, 'daemon.log'), 'utf8');
  assert.match(log, /info started \(pid \d+\)/);
  assert.match(log, /info stopped/);
});

test('the daemon serves every shared repository, follows share and unshare, and holds no lock', (t) => {
  const config = daemonUser(t);
  const a = newRepo(t, { configDir: config });
  a.write('one.txt', 'first repository\n');
  a.commit('one');
  const shared = json<{ id: string; daemon: { state: string } }>(a.ok(['share', '--json']));
  assert.equal(shared.daemon.state, 'not running');
  const daemon = startDaemon(t, config);
  assert.deepEqual(
    daemon.repos.map((r) => r.path),
    [a.dir],
  );
  const addr = daemon.addrs[0]!;

  // Shared while the daemon runs: served when `share` returns.
  const b = newRepo(t, { configDir: config });
  b.write('two.txt', 'second repository\n');
  b.commit('two');
  const second = json<{ id: string; daemon: { state: string; serving: boolean } }>(b.ok(['share', '--json']));
  assert.deepEqual(second.daemon, { ...second.daemon, state: 'reloaded', serving: true });

  const other = daemonUser(t);
  const work = tempDir(t);
  ok(other, ['clone', addr, 'first'], work);
  assert.equal(readFileSync(join(work, 'first', 'one.txt'), 'utf8'), 'first repository\n');
  ok(other, ['clone', `shoal://${second.id}`, 'second', '--peer', addr], work);
  assert.equal(readFileSync(join(work, 'second', 'two.txt'), 'utf8'), 'second repository\n');

  // Idle, the daemon holds no repository lock: the owner keeps working.
  assert.equal(existsSync(join(a.dir, '.shoal', 'lock')), false);
  a.write('one.txt', 'changed while served\n');
  a.commit('local work while the daemon runs');
  ok(other, ['clone', addr, 'first-again'], work);
  assert.equal(readFileSync(join(work, 'first-again', 'one.txt'), 'utf8'), 'changed while served\n');

  const gone = json<{ removed: { path: string }[]; daemon: { state: string; repos: number } }>(
    b.ok(['unshare', '--json']),
  );
  assert.deepEqual(
    gone.removed.map((r) => r.path),
    [b.dir],
  );
  assert.equal(gone.daemon.state, 'reloaded');
  assert.equal(gone.daemon.repos, 1);
  const refused = run(other, ['clone', `shoal://${second.id}`, 'again', '--peer', addr, '--json'], work);
  assert.equal(refused.status, 1, describe(refused));
  assert.equal(json<{ error: { code: string } }>(refused).error.code, 'NOT_FOUND');
  assert.match(json<{ error: { message: string } }>(refused).error.message, /does not serve/);
  assert.equal(b.run(['unshare']).status, 1, 'unsharing twice fails');
  assert.deepEqual(
    status(config).state.repos.map((r) => r.path),
    [a.dir],
  );
});

test('a bare address gives the first repository the cloning key may read, not a private one before it', (t) => {
  const config = daemonUser(t);
  const secret = newRepo(t, { configDir: config, init: false });
  secret.ok(['init', '--private']);
  secret.write('secret.txt', 'private\n');
  secret.commit('private');
  secret.ok(['share']);
  const open = newRepo(t, { configDir: config });
  open.write('open.txt', 'public\n');
  open.commit('public');
  open.ok(['share']);
  const daemon = startDaemon(t, config);
  assert.deepEqual(
    daemon.repos.map((r) => r.path),
    [secret.dir, open.dir],
  );

  const other = daemonUser(t);
  const work = tempDir(t);
  ok(other, ['clone', daemon.addrs[0]!, 'got'], work);
  assert.equal(readFileSync(join(work, 'got', 'open.txt'), 'utf8'), 'public\n');
  assert.equal(existsSync(join(work, 'got', 'secret.txt')), false);
});

test('the daemon accepts pushes from listed writers', (t) => {
  const config = daemonUser(t);
  const a = newRepo(t, { configDir: config });
  a.write('data.bin', 'v1\n');
  a.commit('v1');
  a.ok(['share']);
  const addr = startDaemon(t, config).addrs[0]!;

  const other = daemonUser(t);
  const work = tempDir(t);
  ok(other, ['clone', addr, 'copy'], work);
  const copy = join(work, 'copy');
  writeFileSync(join(copy, 'data.bin'), 'v2\n');
  ok(other, ['add', '.'], copy);
  ok(other, ['commit', '-m', 'v2'], copy);
  const denied = run(other, ['push', 'origin', '--json'], copy);
  assert.equal(denied.status, 1, describe(denied));
  assert.equal(json<{ error: { code: string } }>(denied).error.code, 'PERMISSION_DENIED');

  const key = json<{ publicKey: string }>(ok(other, ['id', '--json'])).publicKey;
  a.ok(['config', 'access.writers', key]);
  ok(other, ['push', 'origin'], copy);
  assert.equal(a.read('data.bin').toString(), 'v2\n', 'the checked-out branch moved with its files');
  assert.equal(existsSync(join(a.dir, '.shoal', 'lock')), false, 'the lock is released after the push');
  assert.match(
    readFileSync(join(config, 'daemon.log'), 'utf8'),
    /info push from 12D3KooW\w+ to .*: refs\/heads\/main/,
  );
});

test('unsharing a repository while a clone downloads from the daemon ends the clone with a clear error', async (t) => {
  const config = daemonUser(t, { 'transfer.max-upload': '1M' });
  const repo = newRepo(t, { configDir: config });
  randomFile(repo.path('data.bin'), 6 * 1024 * 1024);
  repo.commit('data');
  repo.ok(['share']);
  const daemon = startDaemon(t, config);
  const user = daemonUser(t);
  const dest = join(tempDir(t), 'copy');
  const clone = shoalSpawn(['clone', daemon.addrs[0]!, dest, '--json'], { configDir: user });
  t.after(() => clone.kill('SIGKILL'));
  let stdout = '';
  clone.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  const exited = once(clone, 'exit') as Promise<[number | null]>;
  await until('the clone to store its first MiB', () => packBytes(dest) > 1024 * 1024);
  ok(config, ['unshare'], repo.dir);
  const [code] = await exited;
  assert.equal(code, 1, stdout);
  assert.match(
    json<{ error: { message: string } }>({ status: 1, stdout, stderr: '', stdoutBytes: Buffer.from(stdout) })
      .error.message,
    /stopped serving the repository/,
  );
  // The daemon stopped serving it cleanly: no internal error, nothing blamed on the peer.
  const log = readFileSync(join(config, 'daemon.log'), 'utf8');
  assert.match(log, /stopped serving .*: unshared/);
  assert.doesNotMatch(log, /finalized|warn peer/);
  assert.equal(status(config).status, 0);
});

test('the daemon runs on a serving runtime that `start` passes on: each setting once, no exec of its own', {
  skip: existsSync('/proc/self/environ') ? false : 'no /proc here',
}, (t) => {
  const config = daemonUser(t);
  const started = startDaemon(t, config);
  const strings = (file: string): string[] =>
    readFileSync(`/proc/${started.pid}/${file}`, 'latin1').split('\0');
  const args = strings('cmdline');
  const env = strings('environ');
  const expected = runtimeFor('daemon', process.env, process.execArgv);
  assert.ok(expected.flags.length > 0, 'the daemon has settings of its own');
  for (const flag of expected.flags) {
    const name = flag.split('=')[0]!;
    assert.deepEqual(
      args.filter((a) => a.split('=')[0] === name),
      [flag],
      `${name} once, as chosen: ${args.join(' ')}`,
    );
  }
  for (const [name, value] of Object.entries(expected.env)) assert.ok(env.includes(`${name}=${value}`), name);
  // An exec sets this mark in the environment it starts with, which /proc keeps: the daemon got
  // its settings from `start`, and had nothing left to change.
  assert.ok(
    !env.some((v) => v.startsWith('SHOAL_RUNTIME_APPLIED=')),
    'the daemon did not execute itself again',
  );
  assert.ok(args.includes('run'));
});

test('a stale pid file is replaced by start and removed by stop', (t) => {
  const config = daemonUser(t);
  const dead = spawnSync(process.execPath, ['-e', 'process.pid']).pid!;
  writeFileSync(join(config, 'daemon.pid'), `${dead}\n`);

  const st = status(config);
  assert.equal(st.status, 1);
  assert.equal(st.state.running, false);
  assert.equal(st.state.stalePid, dead);
  assert.match(run(config, ['daemon', 'status']).stdout, /not running \(stale pid file/);

  const stopped = json<{ running: boolean; stopped: boolean; stalePid: number }>(
    ok(config, ['daemon', 'stop', '--json']),
  );
  assert.deepEqual(stopped, { running: false, stopped: false, stalePid: dead });
  assert.equal(existsSync(join(config, 'daemon.pid')), false);

  writeFileSync(join(config, 'daemon.pid'), `${dead}\n`);
  const started = startDaemon(t, config);
  assert.notEqual(started.pid, dead);
  assert.equal(status(config).state.pid, started.pid);
  ok(config, ['daemon', 'stop']);
});

test("a pid file naming another config directory's daemon is stale", (t) => {
  const mine = daemonUser(t);
  const theirs = daemonUser(t);
  const other = startDaemon(t, theirs);
  // As when this user's daemon was killed and its pid went to the other one's daemon.
  writeFileSync(join(mine, 'daemon.pid'), `${other.pid}\n`);

  const st = status(mine);
  assert.equal(st.status, 1);
  assert.equal(st.state.stalePid, other.pid);
  assert.deepEqual(json<{ stalePid: number }>(ok(mine, ['daemon', 'stop', '--json'])).stalePid, other.pid);
  assert.ok(isDaemon(other.pid), "stop left the other user's daemon alone");
  assert.equal(status(theirs).state.pid, other.pid);

  writeFileSync(join(mine, 'daemon.pid'), `${other.pid}\n`);
  const started = startDaemon(t, mine);
  assert.equal(started.alreadyRunning, false);
  assert.notEqual(started.pid, other.pid);
  assert.notEqual(started.peerId, other.peerId);
  ok(mine, ['daemon', 'stop']);
  assert.ok(isDaemon(other.pid));
  assert.equal(status(theirs).status, 0);
});

test('share and unshare: run at once they lose no entry; a path holding another repository; ids as share prints them', async (t) => {
  const config = daemonUser(t);
  const repos = Array.from({ length: 6 }, () => {
    const r = newRepo(t, { configDir: config });
    r.ok(['info']); // its identity made beforehand, so that the shares are what races
    return r;
  });
  const runs = await Promise.all(
    repos.map((r) => shoalAsync(t, ['share', '-q'], { cwd: r.dir, configDir: config })),
  );
  for (const r of runs) assert.equal(r.status, 0, describe(r));
  // -q keeps what a listing is for.
  const listed = ok(config, ['share', '--list', '-q']).stdout.trim().split('\n');
  assert.deepEqual(listed.sort(), repos.map((r) => r.dir).sort());

  // A repository deleted and made again at the same path is another one: the entry is replaced.
  const [first] = repos;
  rmSync(first!.dir, { recursive: true, force: true });
  first!.ok(['init', first!.dir], dirname(first!.dir));
  const again = json<{ added: boolean; replaced?: boolean; id: string }>(first!.ok(['share', '--json']));
  assert.equal(again.added, true);
  assert.equal(again.replaced, true);
  assert.match(first!.ok(['share']).stdout, /^already sharing /);

  // unshare takes the id as share prints it, shoal://<id>, in either case.
  const id = json<{ id: string }>(repos[1]!.ok(['info', '--json'])).id;
  const byUrl = json<{ removed: { path: string }[] }>(ok(config, ['unshare', `shoal://${id}`, '--json']));
  assert.deepEqual(
    byUrl.removed.map((r) => r.path),
    [repos[1]!.dir],
  );
  const id2 = json<{ id: string }>(repos[2]!.ok(['info', '--json'])).id;
  ok(config, ['unshare', id2.toUpperCase()]);
  assert.equal(ok(config, ['share', '--list']).stdout.trim().split('\n').length, 4);
  assert.equal(run(config, ['share', '--list', '--private']).status, 2);
});

test('daemon status looks again: a shared repository deleted since is reported skipped, not served', (t) => {
  const config = daemonUser(t);
  const kept = newRepo(t, { configDir: config });
  const lost = newRepo(t, { configDir: config });
  for (const r of [kept, lost]) {
    r.write('f.txt', r.dir);
    r.commit('c');
    r.ok(['share']);
  }
  startDaemon(t, config);
  rmSync(lost.dir, { recursive: true, force: true });
  const st = status(config).state;
  assert.deepEqual(
    st.repos.map((r) => r.path),
    [kept.dir],
  );
  assert.deepEqual(
    st.skipped.map((s) => s.path),
    [lost.dir],
  );
  // -q keeps the report: it is what status is for.
  assert.match(ok(config, ['daemon', 'status', '-q']).stdout, /^shoal daemon is running/);
});

test('a repository made again at a shared path is not served, nor given an identity, until it is shared', (t) => {
  const config = daemonUser(t);
  const first = newRepo(t, { configDir: config });
  first.write('f.txt', 'public\n');
  first.commit('c');
  first.ok(['share']);
  startDaemon(t, config);
  rmSync(first.dir, { recursive: true, force: true });
  mkdirSync(first.dir);
  const second = newRepo(t, { configDir: config, dir: first.dir });
  second.write('secret.txt', 'secret\n');
  second.commit('secret');
  const st = status(config).state; // status looks at the shares again
  assert.deepEqual(st.repos, []);
  assert.deepEqual(
    st.skipped.map((s) => s.path),
    [first.dir],
  );
  assert.match(st.skipped[0]!.reason, /not the one that was shared/);
  // Still without an identity: it can be shared as private, as its owner means to.
  second.ok(['share', '--private']);
  assert.deepEqual(
    status(config).state.repos.map((r) => r.path),
    [first.dir],
  );
  assert.equal(second.j<{ visibility: string }>(['info']).visibility, 'private');
});

test('a shared repository deleted while the daemon runs is answered as not served, before any reload', (t) => {
  const config = daemonUser(t);
  const repo = newRepo(t, { configDir: config });
  repo.write('f.txt', 'f\n');
  repo.commit('c');
  const id = json<{ id: string }>(repo.ok(['share', '--json'])).id;
  const daemon = startDaemon(t, config);
  rmSync(repo.dir, { recursive: true, force: true });
  const other = daemonUser(t);
  const work = tempDir(t);
  const r = run(other, ['clone', `shoal://${id}`, 'c', '--peer', daemon.addrs[0]!, '--json'], work);
  assert.equal(r.status, 1, describe(r));
  assert.equal(json<{ error: { code: string } }>(r).error.code, 'NOT_FOUND');
  assert.match(json<{ error: { message: string } }>(r).error.message, /does not serve that repository/);
  assert.equal(existsSync(join(work, 'c')), false, 'a clone that found nothing leaves nothing');
});

test('daemon status reads shares.json again when it was changed by other means than share', (t) => {
  const config = daemonUser(t);
  const a = newRepo(t, { configDir: config });
  const b = newRepo(t, { configDir: config });
  for (const r of [a, b]) {
    r.write('f.txt', r.dir);
    r.commit('c');
    r.ok(['share']);
  }
  startDaemon(t, config);
  assert.deepEqual(
    status(config)
      .state.repos.map((r) => r.path)
      .sort(),
    [a.dir, b.dir].sort(),
  );
  // The list edited by hand (or restored from a backup): b left out, written anew as share does.
  const file = join(config, 'shares.json');
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { repos: { path: string }[] };
  doc.repos = doc.repos.filter((s) => s.path !== b.dir);
  writeFileSync(`${file}.new`, JSON.stringify(doc));
  renameSync(`${file}.new`, file);
  const st = status(config).state;
  assert.deepEqual(
    st.repos.map((r) => r.path),
    [a.dir],
  );
  assert.deepEqual(st.skipped, []);
});

test('daemon settings are checked when set', (t) => {
  const config = daemonUser(t);
  const bad = run(config, ['config', '--global', 'daemon.mdns', 'maybe', '--json']);
  assert.equal(bad.status, 1);
  assert.equal(json<{ error: { code: string } }>(bad).error.code, 'INVALID_ARGUMENT');
  const listen = run(config, ['config', '--global', 'daemon.listen', '/ip4/127.0.0.1/tcp/0 bogus', '--json']);
  assert.equal(listen.status, 1);
  assert.match(json<{ error: { message: string } }>(listen).error.message, /^daemon\.listen: 'bogus'/);
  ok(config, ['config', '--global', 'daemon.listen', '/ip4/127.0.0.1/tcp/0']);
  ok(config, ['config', '--global', 'daemon.mdns', 'false']);
  // One written by hand (or before it was checked) is named when the daemon starts.
  const file = join(config, 'config.json');
  writeFileSync(
    file,
    JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), 'daemon.listen': 'bogus' }),
  );
  const start = run(config, ['daemon', 'start', '--json']);
  assert.equal(start.status, 1, describe(start));
  assert.match(
    json<{ error: { message: string } }>(start).error.message,
    /^daemon\.listen \(shoal config --global\): /,
  );
});

test('the daemon skips a repository that disappeared and keeps serving the others', (t) => {
  const config = daemonUser(t);
  const kept = newRepo(t, { configDir: config });
  const lost = newRepo(t, { configDir: config });
  const later = newRepo(t, { configDir: config });
  for (const r of [kept, lost, later]) {
    r.write('f.txt', r.dir);
    r.commit('c');
    r.ok(['share']);
  }
  renameSync(lost.dir, `${lost.dir}.away`); // a disk not mounted yet, say
  const daemon = startDaemon(t, config);
  assert.deepEqual(daemon.repos.map((r) => r.path).sort(), [kept.dir, later.dir].sort());
  assert.deepEqual(
    daemon.skipped.map((s) => s.path),
    [lost.dir],
  );
  assert.match(readFileSync(join(config, 'daemon.log'), 'utf8'), /warn skipping .*not a shoal repository/);

  // One goes away while served: the next reload drops it; the daemon runs on.
  rmSync(later.dir, { recursive: true, force: true });
  const listed = json<{ path: string; exists: boolean }[]>(ok(config, ['share', '--list', '--json']));
  assert.deepEqual(listed.map((s) => s.exists).sort(), [false, false, true]);
  kept.ok(['share']); // any reload
  const st = status(config);
  assert.equal(st.status, 0);
  assert.equal(st.state.pid, daemon.pid);
  assert.deepEqual(
    st.state.repos.map((r) => r.path),
    [kept.dir],
  );
  assert.match(
    readFileSync(join(config, 'daemon.log'), 'utf8'),
    /warn stopped serving .*: the repository is gone/,
  );
  // One skipped that comes back is served: status looks again before it answers.
  renameSync(`${lost.dir}.away`, lost.dir);
  assert.deepEqual(
    status(config)
      .state.repos.map((r) => r.path)
      .sort(),
    [kept.dir, lost.dir].sort(),
  );
  // A vanished repository can still be unshared by its path.
  ok(config, ['unshare', later.dir]);
  assert.deepEqual(status(config).state.skipped, []);
});

test("daemon start as a user's first command makes the config directory", (t) => {
  const config = join(tempDir(t), 'not-yet');
  const state = json<State>(ok(config, ['daemon', 'start', '--listen', '/ip4/127.0.0.1/tcp/0', '--json']));
  t.after(() => {
    run(config, ['daemon', 'stop']);
    if (isDaemon(state.pid)) process.kill(state.pid, 'SIGKILL');
  });
  assert.equal(state.running, true);
  assert.ok(existsSync(join(config, 'daemon.log')));
  ok(config, ['daemon', 'stop']);
});

test('daemon start reports why the daemon could not start', (t) => {
  const config = daemonUser(t);
  // An address of no interface here (TEST-NET-1): the node cannot listen there.
  const r = run(config, ['daemon', 'start', '--listen', '/ip4/192.0.2.1/tcp/0', '--json']);
  assert.equal(r.status, 1, describe(r));
  assert.ok(json<{ error: { message: string } }>(r).error.message.length > 0);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(existsSync(join(config, 'daemon.pid')), false, 'no pid file is left behind');
  assert.equal(status(config).status, 1);
  assert.equal(run(config, ['daemon', 'bogus']).status, 2);
  // One the node has no transport for is misuse, said before anything starts.
  const quic = run(config, ['daemon', 'start', '--listen', '/ip4/127.0.0.1/udp/1/quic', '--json']);
  assert.equal(quic.status, 2, describe(quic));
  assert.match(json<{ error: { message: string } }>(quic).error.message, /shoal listens on TCP/);
});

/** Kill the daemon whose pid a fixture recorded in `pidFile`, if it still runs. */
function killRecordedDaemon(pidFile: string): void {
  const pid = pidFile && existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0;
  if (pid > 0 && isDaemon(pid)) process.kill(pid, 'SIGKILL');
}

test('a daemon that never reports ready is stopped by start, not left running', (t) => {
  let pidFile = '';
  t.after(() => killRecordedDaemon(pidFile)); // before the directories go: hooks run in order
  const config = daemonUser(t);
  pidFile = join(tempDir(t, 'shoal-mute-'), 'pid');
  const mute = join(import.meta.dirname, '..', 'fixtures', 'mute-daemon.ts');
  const r = shoal(['daemon', 'start', '--json'], {
    configDir: config,
    env: { NODE_OPTIONS: `--import=${mute}`, MUTE_DAEMON_PID_FILE: pidFile },
  });
  assert.equal(r.status, 1, describe(r));
  assert.match(json<{ error: { message: string } }>(r).error.message, /before it was ready and was killed/);
  const pid = Number(readFileSync(pidFile, 'utf8'));
  assert.ok(pid > 0);
  assert.equal(isDaemon(pid), false, 'the daemon that did not report ready was stopped');
  assert.equal(existsSync(join(config, 'daemon.pid')), false, 'its pid file went with it');
  assert.equal(status(config).status, 1);
});

// spawnDaemon in this process, with a ready wait of a second instead of 30.
test('a daemon that stays silent is stopped once start has waited long enough, not left running', async (t) => {
  let pidFile = '';
  const saved = { ...process.env };
  t.after(() => {
    process.env = saved;
    killRecordedDaemon(pidFile);
  });
  const config = daemonUser(t);
  pidFile = join(tempDir(t, 'shoal-silent-'), 'pid');
  const silent = join(import.meta.dirname, '..', 'fixtures', 'silent-daemon.ts');
  Object.assign(process.env, {
    SHOAL_CONFIG_DIR: config,
    NODE_OPTIONS: `--import=${silent}`,
    SILENT_DAEMON_PID_FILE: pidFile,
  });
  await assert.rejects(spawnDaemon([], 1000), (err) => {
    assert.ok(isShoalError(err, 'TIMEOUT'), String(err));
    assert.match(err.message, /the daemon did not report ready/);
    return true;
  });
  const pid = Number(readFileSync(pidFile, 'utf8'));
  assert.ok(pid > 0);
  assert.equal(isDaemon(pid), false, 'the silent daemon was stopped');
});

test('sharing a second copy of a shared repository warns that the first is the one served', (t) => {
  const config = daemonUser(t);
  const first = newRepo(t, { configDir: config });
  first.write('f.txt', 'f\n');
  first.commit('one');
  first.ok(['share']);
  const copy = join(tempDir(t), 'copy');
  cpSync(first.dir, copy, { recursive: true });
  const r = ok(config, ['share'], copy);
  assert.match(r.stderr, new RegExp(`warning: ${first.dir} holds the same repository and is shared first`));
  const again = json<{ servedFrom?: string }>(ok(config, ['share', '--json'], copy));
  assert.equal(again.servedFrom, first.dir);
  // The same while the daemon runs (it reloads, and serves the first).
  startDaemon(t, config, ['--listen', '/ip4/127.0.0.1/tcp/0']);
  const running = ok(config, ['share'], copy);
  assert.match(
    running.stderr,
    new RegExp(`warning: ${first.dir} holds the same repository and is shared first`),
  );
});

test('a FIFO or a directory in place of a config file is an error, not a command that blocks', (t) => {
  const config = daemonUser(t);
  const fifo = (name: string): void => {
    rmSync(join(config, name), { force: true });
    const made = spawnSync('mkfifo', [join(config, name)], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
  };
  fifo('config.json');
  for (const args of [
    ['daemon', 'start', '--json'],
    ['config', '--global', 'user.name'],
  ]) {
    const r = run(config, args);
    assert.equal(r.status, 1, describe(r));
    assert.match(r.stderr, /config\.json is not a regular file/);
  }
  assert.equal(existsSync(join(config, 'daemon.pid')), false, 'no pid file is left behind');
  rmSync(join(config, 'config.json'));
  fifo('identity.json');
  assert.match(run(config, ['id']).stderr, /identity\.json is not a regular file/);
  rmSync(join(config, 'identity.json'));
  fifo('shares.json');
  const r = run(config, ['daemon', 'start', '--json']);
  assert.equal(r.status, 1, describe(r));
  assert.match(json<{ error: { message: string } }>(r).error.message, /shares\.json is not a regular file/);
  rmSync(join(config, 'shares.json'));
  // known-peers.json only remembers hints: one that cannot be read is passed over.
  fifo('known-peers.json');
  assert.equal(ok(config, ['peers', '--json']).status, 0);
});

test('a share while the daemon starts does not kill it, and is served once it has started', async (t) => {
  const config = daemonUser(t);
  const slow = newRepo(t, { configDir: config });
  slow.ok(['share']);
  // The daemon opens `slow` while it starts: with this test holding its index locked, the
  // daemon waits there, its pid file taken and its control socket not yet listening, until the
  // test lets go (within the index's 10 s busy timeout).
  const lock = new DatabaseSync(slow.path('.shoal/index.db'));
  lock.exec('PRAGMA locking_mode = EXCLUSIVE');
  lock.exec('BEGIN EXCLUSIVE');
  t.after(() => {
    if (lock.isOpen) lock.close();
  });
  const later = newRepo(t, { configDir: config });

  const starting = shoalSpawn(['daemon', 'start', '--json'], { configDir: config });
  let stdout = '';
  starting.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  const exited = once(starting, 'exit') as Promise<[number | null]>;
  t.after(() => starting.kill('SIGKILL'));
  await until('the daemon to take its pid file', () => existsSync(join(config, 'daemon.pid')));
  const pid = Number(readFileSync(join(config, 'daemon.pid'), 'utf8'));
  t.after(() => {
    run(config, ['daemon', 'stop']);
    if (isDaemon(pid)) process.kill(pid, 'SIGKILL');
  });
  // No control socket answers yet: `share` falls back to SIGHUP.
  later.ok(['share']);
  assert.equal(starting.exitCode, null, `daemon start did not wait at the locked index: ${stdout}`);
  lock.exec('COMMIT');
  lock.close();
  const [code] = await exited;
  assert.equal(code, 0, `daemon start: ${stdout}`);
  const started = json<State>({ status: 0, stdout, stderr: '', stdoutBytes: Buffer.from(stdout) });
  assert.equal(started.pid, pid);
  assert.ok(isDaemon(pid));
  assert.deepEqual(started.repos.map((r) => r.path).sort(), [slow.dir, later.dir].sort(), stdout);
  assert.deepEqual(
    status(config)
      .state.repos.map((r) => r.path)
      .sort(),
    [slow.dir, later.dir].sort(),
  );
});

test("a running daemon's log is rotated as it grows, not only when the daemon starts", (t) => {
  const file = join(tempDir(t), 'daemon.log');
  const log = fileLogger(file, undefined, 4096);
  for (let i = 0; i < 1000; i++) log('warn', `refused peer ${i}: not allowed to read`);
  const line = 100;
  assert.ok(statSync(file).size <= 4096 + line, `daemon.log is ${statSync(file).size} bytes`);
  assert.ok(statSync(`${file}.1`).size <= 4096 + line, `daemon.log.1 is ${statSync(`${file}.1`).size} bytes`);
  assert.match(readFileSync(file, 'utf8'), /refused peer 999: not allowed to read\n$/);
  // A started daemon's stdout and stderr append to the same file: after a rotation they still
  // reach the file of that name, not the old generation.
  const stdio = openSync(file, 'a');
  t.after(() => closeSync(stdio));
  for (let i = 0; i < 100; i++) log('warn', `refused peer ${i}: not allowed to read`);
  writeSync(stdio, 'a line on stderr\n');
  assert.match(readFileSync(file, 'utf8'), /a line on stderr\n$/);
});

test('rotating the log at start copies and empties it: a running daemon writing to it keeps its file', (t) => {
  const file = join(tempDir(t), 'daemon.log');
  writeFileSync(file, 'x'.repeat(5000));
  const stdio = openSync(file, 'a'); // a running daemon's stdout
  t.after(() => closeSync(stdio));
  rotateLog(file, 4096);
  assert.equal(statSync(`${file}.1`).size, 5000);
  writeSync(stdio, 'still here\n');
  assert.equal(readFileSync(file, 'utf8'), 'still here\n');
});
