// clone, fetch, pull, push and remote between real shoal processes on loopback: where a clone
// goes, and what these commands accept as a destination or a peer address.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { type TestContext, test } from 'node:test';
import { encodeRepoIdentity, fromHex } from '../../src/core/index.ts';
import { Repository } from '../../src/store/index.ts';
import { adoptRepoIdentity } from '../../src/swarm/repo-state.ts';
import { type RunResult, tempDir } from '../helpers.ts';
import { parseJson, publicKey, serve, shoalAsync } from '../swarm/swarm-helpers.ts';
import { configFor, describe, newRepo, type TestRepo } from './repo-helpers.ts';

type T = TestContext;

interface ErrorOut {
  error: { code: string; message: string };
}

/** A repository with one commit whose identity (created here, before any serve) is named `name`. */
async function repoNamed(t: T, name: string): Promise<TestRepo> {
  const repo = newRepo(t);
  repo.write('payload.txt', 'from the peer\n');
  repo.commit('first');
  const identity = encodeRepoIdentity({
    name,
    created: Date.now(),
    delegates: [fromHex(publicKey(repo))],
    threshold: 1,
    visibility: 'public',
  });
  const r = Repository.open(repo.dir);
  try {
    await adoptRepoIdentity(r, identity.bytes);
  } finally {
    r.close();
  }
  return repo;
}

test("a clone without a directory never leaves the working directory for the peer's name", async (t) => {
  const outside = tempDir(t);
  for (const name of ['../escaped', join(outside, 'abs'), '..', '.', '', 'a/b', 'n'.repeat(256)]) {
    const repo = await repoNamed(t, name);
    const server = await serve(t, repo);
    const parent = tempDir(t);
    const cwd = join(parent, 'work');
    mkdirSync(cwd);
    const r = await shoalAsync(t, ['clone', server.addr, '--json'], { cwd, configDir: configFor(t) });
    assert.equal(r.status, 1, `${JSON.stringify(name)}: ${describe(r)}`);
    const out = parseJson<ErrorOut>(r);
    assert.equal(out.error.code, 'INVALID_ARGUMENT', r.stdout);
    assert.match(out.error.message, /not a directory name.*shoal clone <source> <dir>/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.deepEqual(readdirSync(parent), ['work'], `${JSON.stringify(name)}: nothing beside the cwd`);
    assert.deepEqual(readdirSync(cwd), [], `${JSON.stringify(name)}: nothing in the cwd`);
    assert.deepEqual(readdirSync(outside), [], `${JSON.stringify(name)}: nothing elsewhere`);
    assert.equal(existsSync(join(parent, 'escaped')), false);
    await server.kill();
  }

  // A plain name is still the default directory; and a directory named on the command line is
  // used whatever the repository's name.
  const plain = await repoNamed(t, 'models v2');
  const server = await serve(t, plain);
  const cwd = tempDir(t);
  const configDir = configFor(t);
  // A stall timeout no timer can hold (Infinity, or more than a day) is refused up front.
  for (const bad of ['Infinity', '100000']) {
    writeFileSync(
      join(configDir, 'config.json'),
      JSON.stringify({ 'user.name': 'T', 'transfer.stall-timeout': bad }),
    );
    const r = await shoalAsync(t, ['clone', server.addr, '--json'], { cwd, configDir });
    assert.equal(r.status, 1, describe(r));
    assert.match(parseJson<ErrorOut>(r).error.message, /transfer\.stall-timeout/);
  }
  writeFileSync(join(configDir, 'config.json'), JSON.stringify({ 'user.name': 'T' }));
  const ok = await shoalAsync(t, ['clone', server.addr, '--json'], { cwd, configDir });
  assert.equal(ok.status, 0, describe(ok));
  assert.ok(existsSync(join(cwd, 'models v2', 'payload.txt')));
  const odd = await repoNamed(t, '../elsewhere');
  const oddServer = await serve(t, odd);
  const named = await shoalAsync(t, ['clone', oddServer.addr, 'mine', '--json'], { cwd, configDir });
  assert.equal(named.status, 0, describe(named));
  assert.ok(existsSync(join(cwd, 'mine', 'payload.txt')));
});

/** A repository with one commit, served on loopback. */
async function servedRepo(t: T): ReturnType<typeof serve> {
  const repo = newRepo(t);
  repo.write('a.txt', 'a\n');
  repo.commit('first');
  return serve(t, repo);
}

/** A served repository and a clone of it by another user, in `<parent>/clone`. */
async function servedAndCloned(t: T) {
  const server = await servedRepo(t);
  const parent = tempDir(t);
  const user = newRepo(t, { dir: join(parent, 'clone'), init: false });
  const clone = await shoalAsync(t, ['clone', server.addr, user.dir, '--json'], {
    cwd: parent,
    configDir: user.configDir,
  });
  assert.equal(clone.status, 0, describe(clone));
  return { server, parent, user };
}

test('a clone into a path that is a file, or below one: a clear error, exit 1, the file kept', async (t) => {
  const server = await servedRepo(t);
  const parent = tempDir(t);
  const configDir = configFor(t);
  writeFileSync(join(parent, 'file'), 'mine\n');
  for (const dest of ['file', join('file', 'below')]) {
    const r = await shoalAsync(t, ['clone', server.addr, dest, '--json'], { cwd: parent, configDir });
    assert.equal(r.status, 1, `${dest}: ${describe(r)}`);
    const out = parseJson<ErrorOut>(r);
    assert.equal(out.error.code, 'ALREADY_EXISTS', r.stdout);
    assert.doesNotMatch(out.error.message, /internal error/);
    assert.match(out.error.message, /file/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(readFileSync(join(parent, 'file'), 'utf8'), 'mine\n');
  }
  assert.deepEqual(readdirSync(parent), ['file']);
});

test('a clone into a symlink to nothing: a clear error; into what a killed init left: it starts over there', async (t) => {
  const server = await servedRepo(t);
  const parent = tempDir(t);
  const configDir = configFor(t);
  symlinkSync(join(parent, 'nowhere'), join(parent, 'dangling'));
  const r = await shoalAsync(t, ['clone', server.addr, 'dangling', '--json'], { cwd: parent, configDir });
  assert.equal(r.status, 1, describe(r));
  const out = parseJson<ErrorOut>(r);
  assert.equal(out.error.code, 'ALREADY_EXISTS', r.stdout);
  assert.match(out.error.message, /symlink to nothing/);

  // An init killed before its index appeared leaves .shoal with an unfinished index only.
  const dest = join(parent, 'half');
  mkdirSync(join(dest, '.shoal', 'packs'), { recursive: true });
  writeFileSync(join(dest, '.shoal', 'index.db.init-999999999'), 'half made');
  const again = await shoalAsync(t, ['clone', server.addr, 'half', '--json'], { cwd: parent, configDir });
  assert.equal(again.status, 0, describe(again));
  assert.deepEqual(
    readdirSync(join(dest, '.shoal')).filter((n) => n.startsWith('index.db.init-')),
    [],
  );
  // Anything else there is still not overwritten.
  mkdirSync(join(parent, 'other', '.shoal'), { recursive: true });
  writeFileSync(join(parent, 'other', '.shoal', 'notes'), 'mine');
  const other = await shoalAsync(t, ['clone', server.addr, 'other', '--json'], { cwd: parent, configDir });
  assert.equal(other.status, 1, describe(other));
  assert.equal(readFileSync(join(parent, 'other', '.shoal', 'notes'), 'utf8'), 'mine');
});

test('a clone whose identity document was dropped (by an earlier gc) gets it back from its peers on fetch', async (t) => {
  const { user } = await servedAndCloned(t);
  const id = user.j<{ id: string }>(['info']).id;
  const db = new DatabaseSync(user.path('.shoal/index.db'));
  db.prepare('DELETE FROM objects WHERE id = ?').run(Buffer.from(id, 'hex'));
  db.close();
  assert.equal(user.run(['fsck']).status, 1);
  const r = await shoalAsync(t, ['fetch', '--json'], { cwd: user.dir, configDir: user.configDir });
  assert.equal(r.status, 0, describe(r));
  assert.equal(user.j<{ id: string }>(['info']).id, id);
  assert.equal(user.j<{ ok: boolean }>(['fsck']).ok, true);
});

test('a rate that is not one: misuse as an option, a failure naming the key as a setting', async (t) => {
  const { user } = await servedAndCloned(t);
  const opts = { cwd: user.dir, configDir: user.configDir };
  for (const rate of ['10Q', '0.4', '-1']) {
    const r = await shoalAsync(t, ['fetch', `--max-download=${rate}`, '--json'], opts);
    assert.equal(r.status, 2, describe(r));
    assert.match(parseJson<ErrorOut>(r).error.message, /--max-download: .* is not a rate/);
  }
  for (const [key, args] of [
    ['transfer.max-download', ['fetch']],
    ['transfer.max-upload', ['push', 'origin']],
  ] as const) {
    user.ok(['config', key, '10Q']);
    const r = await shoalAsync(t, [...args, '--json'], opts);
    assert.equal(r.status, 1, describe(r));
    const e = parseJson<ErrorOut>(r).error;
    assert.equal(e.code, 'INVALID_ARGUMENT');
    assert.match(e.message, new RegExp(`^${key.replace('.', '\\.')} must be a rate .*not '10Q'$`));
    user.ok(['config', 'unset', key]);
  }
  // 0 is no limit.
  assert.equal((await shoalAsync(t, ['fetch', '--max-download', '0'], opts)).status, 0);
});

test('a peer address that is not a multiaddr: misuse, said clearly by clone, fetch, pull, push and remote add', async (t) => {
  const { server, parent, user } = await servedAndCloned(t);
  const bad = ['garbage', '/ip4/999.0.0.1/tcp/1', `/ip4/127.0.0.1/tcp/1/p2p/not-a-peer-id`];
  const expectInvalid = (r: RunResult, what: string): void => {
    assert.equal(r.status, 2, `${what}: ${describe(r)}`);
    const out = parseJson<ErrorOut>(r);
    assert.equal(out.error.code, 'USAGE', `${what}: ${r.stdout}`);
    assert.match(out.error.message, /is not a peer address/);
    assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, what);
  };
  for (const addr of bad) {
    const opts = { cwd: user.dir, configDir: user.configDir };
    for (const args of [
      ['fetch', '--peer', addr],
      ['pull', '--peer', addr],
      ['push', 'origin', '--peer', addr],
    ]) {
      expectInvalid(await shoalAsync(t, [...args, '--json'], opts), `${args.join(' ')}`);
    }
    const dest = join(parent, 'other');
    const r = await shoalAsync(t, ['clone', server.addr, dest, '--peer', addr, '--json'], {
      cwd: parent,
      configDir: user.configDir,
    });
    expectInvalid(r, `clone --peer ${addr}`);
    assert.equal(existsSync(dest), false);
    // remote add refuses it rather than storing an address every later fetch would fail on
    expectInvalid(user.run(['remote', 'add', 'lab', server.addr, '--peer', addr, '--json']), 'remote add');
    assert.deepEqual(
      user.j<{ name: string }[]>(['remote', 'list']).map((r) => r.name),
      ['origin'],
    );
  }
  // A source whose /p2p/ part is no peer id, and an address the node cannot listen on: misuse
  // too, said before anything is dialled or stored.
  const opts = { cwd: user.dir, configDir: user.configDir };
  for (const source of ['/ip4/127.0.0.1/tcp/1/p2p/notapeer', '/ip4/127.0.0.1/tcp/1/p2p/Qmbogus']) {
    for (const args of [
      ['fetch', source],
      ['pull', source],
      ['push', source],
      ['remote', 'add', 'odd', source],
    ]) {
      const r = await shoalAsync(t, [...args, '--json'], opts);
      assert.equal(r.status, 2, `${args.join(' ')}: ${describe(r)}`);
      assert.match(parseJson<ErrorOut>(r).error.message, /is not a multiaddr ending in \/p2p\/<peer-id>/);
    }
    const r = await shoalAsync(t, ['clone', source, join(parent, 'other'), '--json'], opts);
    assert.equal(r.status, 2, describe(r));
  }
  for (const listen of ['/ip4/127.0.0.1/udp/4001', '/ip4/127.0.0.1', '/ip4/127.0.0.1/tcp/0/ws']) {
    for (const args of [
      ['serve', '--listen', listen],
      ['fetch', '--listen', listen],
    ]) {
      const r = await shoalAsync(t, [...args, '--json'], opts);
      assert.equal(r.status, 2, `${args.join(' ')}: ${describe(r)}`);
      assert.match(parseJson<ErrorOut>(r).error.message, /shoal listens on TCP/);
    }
  }
  // A well-formed address is still taken as it was.
  user.ok(['remote', 'add', 'lab', server.addr, '--peer', server.addr]);
  const fetched = await shoalAsync(t, ['fetch', 'lab', '--json'], {
    cwd: user.dir,
    configDir: user.configDir,
  });
  assert.equal(fetched.status, 0, describe(fetched));
});

test("a --peer address is tried though another address of the same user's serves another repository", async (t) => {
  // One user serving two repositories, from two processes: one peer id, two addresses.
  const x = newRepo(t);
  x.write('x.txt', 'x\n');
  x.commit('x');
  const y = newRepo(t, { configDir: x.configDir });
  y.write('y.txt', 'y\n');
  y.commit('y');
  let xServer = await serve(t, x);
  const yServer = await serve(t, y);
  const parent = tempDir(t);
  const user = newRepo(t, { dir: join(parent, 'bx'), init: false });
  const other = newRepo(t, { dir: join(parent, 'by'), init: false, configDir: user.configDir });
  for (const [addr, dir] of [
    [xServer.addr, user.dir],
    [yServer.addr, other.dir],
  ] as const) {
    const r = await shoalAsync(t, ['clone', addr, dir, '--json'], { cwd: parent, configDir: user.configDir });
    assert.equal(r.status, 0, describe(r));
  }
  // X's server comes back on another port; the Y address, known for the same peer, answers
  // that it does not serve X, and the address named with --peer must still be dialled.
  await xServer.kill();
  x.write('x.txt', 'x2\n');
  const x2 = x.commit('x2');
  xServer = await serve(t, x);
  const r = await shoalAsync(t, ['fetch', '--peer', xServer.addr, '--json'], {
    cwd: user.dir,
    configDir: user.configDir,
  });
  assert.equal(r.status, 0, describe(r));
  assert.equal(user.j<{ id: string }[]>(['log', '-n', '1', 'origin/main'])[0]!.id, x2);
});
