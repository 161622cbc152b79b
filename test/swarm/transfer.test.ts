// Moving a large file between real shoal processes on loopback: a shoal:// clone from three
// seeders downloads from all three at once; a new version with 1 MiB changed costs about 1 MiB
// to fetch; a seeder that is killed mid-transfer is replaced by the other one.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { newRepo, randomFile, sha256File, type TestRepo } from '../cli/repo-helpers.ts';
import { tempDir } from '../helpers.ts';
import {
  assertFsck,
  assertOk,
  type CloneSummary,
  cloneKillingOneSeeder,
  parseJson,
  type Server,
  serve,
  shoalAsync,
  suiteScope,
  userAt,
} from './swarm-helpers.ts';

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;
/** Each seeder's upload limit: slow enough that one seeder alone could not finish in time. */
const RATE = 8_000_000;

const { scope, cleanup } = suiteScope();
after(cleanup);

let origin: TestRepo;
let url: string;
let sum: string;
/** The origin and two clones of it, each serving at RATE. */
let seeders: Server[] = [];
let seederRepos: TestRepo[] = [];

before(async () => {
  origin = newRepo(scope);
  sum = randomFile(origin.path('model.bin'), SIZE);
  origin.write('config.json', '{"layers": 12}\n');
  origin.commit('v1');
  url = origin.j<{ url: string }>(['info']).url;

  // Two more seeders: clones made at full speed, then everyone serves at RATE.
  const first = await serve(scope, origin);
  const parent = tempDir(scope);
  seederRepos = [origin];
  for (const name of ['seeder-b', 'seeder-c']) {
    const r = userAt(scope, join(parent, name));
    assertOk(
      await shoalAsync(scope, ['clone', first.addr, r.dir], { cwd: parent, configDir: r.configDir }),
      'clone',
    );
    seederRepos.push(r);
  }
  await first.kill();
  seeders = await Promise.all(
    seederRepos.map((r) => serve(scope, r, { args: ['--max-upload', String(RATE)] })),
  );
});

describe('three seeders, one clone', () => {
  let clone: TestRepo;

  it('a shoal:// clone downloads from all three seeders at once', async (t) => {
    const parent = tempDir(scope); // the next test uses this clone
    clone = userAt(scope, join(parent, 'clone'));
    const peers = seeders.flatMap((s) => ['--peer', s.addr]);
    const r = await shoalAsync(t, ['clone', url, clone.dir, ...peers, '--json'], {
      cwd: parent,
      configDir: clone.configDir,
    });
    assertOk(r, 'clone');
    const s = parseJson<CloneSummary & { seconds: number }>(r);
    t.diagnostic(`perPeer ${JSON.stringify(s.perPeer)} in ${s.seconds.toFixed(1)} s`);
    assert.deepEqual(s.banned, []);
    assert.equal(s.bytes, SIZE + 15);
    assert.equal(s.duplicateBytes >= 0, true);
    const contributors = seeders.filter((p) => (s.perPeer[p.peerId] ?? 0) > 0);
    assert.ok(contributors.length >= 2, `at least two seeders contributed: ${JSON.stringify(s.perPeer)}`);
    assert.equal(contributors.length, 3, `all three seeders contributed: ${JSON.stringify(s.perPeer)}`);
    // At once: no single seeder could have delivered this much in that time.
    const most = Math.max(...Object.values(s.perPeer));
    assert.ok(most < SIZE * 0.8, `no seeder did nearly everything: ${JSON.stringify(s.perPeer)}`);
    // The chunks come interleaved from three peers; those that come before their turn are kept
    // aside for the file, so most of it is written while they come, not read back afterwards.
    t.diagnostic(`written while fetching: ${s.writtenWhileFetching} of ${SIZE}`);
    assert.ok(s.writtenWhileFetching >= SIZE / 2, `written while fetching: ${s.writtenWhileFetching}`);

    assert.equal(sha256File(clone.path('model.bin')), sum);
    assertFsck(clone);
    assert.equal(clone.j<{ ok: boolean }>(['verify']).ok, true);
  });

  it('fetch and pull of a new version transfer only the changed chunks', async () => {
    assert.ok(clone, 'needs the clone of the previous test');
    // Change 1 MiB in the middle of the 64 MiB file, on the origin, while it keeps serving.
    const fd = openSync(origin.path('model.bin'), 'r+');
    writeSync(fd, randomBytes(MiB), 0, MiB, 40 * MiB + 12345);
    closeSync(fd);
    const newSum = sha256File(origin.path('model.bin'));
    const v2 = origin.commit('v2: 1 MiB changed');

    const r = await shoalAsync(scope, ['fetch', '--json'], { cwd: clone.dir, configDir: clone.configDir });
    assertOk(r, 'fetch');
    const f = parseJson<{ bytes: number; updated: string[]; banned: unknown[] }>(r);
    assert.deepEqual(f.banned, []);
    assert.ok(f.updated.includes('refs/remotes/origin/main'), JSON.stringify(f.updated));
    assert.ok(f.bytes >= MiB && f.bytes < 2 * MiB, `fetched ${f.bytes} bytes for 1 MiB changed`);

    const p = await shoalAsync(scope, ['pull', '--json'], { cwd: clone.dir, configDir: clone.configDir });
    assertOk(p, 'pull');
    const pulled = parseJson<{ fetch: { bytes: number }; merge: { head: string } }>(p);
    assert.equal(pulled.merge.head, v2);
    assert.equal(pulled.fetch.bytes, 0, 'pull after fetch has nothing left to transfer');
    assert.equal(sha256File(clone.path('model.bin')), newSum);
    assertFsck(clone);
  });
});

it('a seeder killed (-9) mid-transfer: the clone completes from the other seeder', async (t) => {
  const [keep, victim] = [seeders[1]!, seeders[2]!];
  const parent = tempDir(t);
  const clone = userAt(t, join(parent, 'clone'));
  // Once data is arriving (the destination's packs grow), the second seeder vanishes.
  const {
    status,
    summary: s,
    output,
  } = await cloneKillingOneSeeder(t, {
    url,
    keep,
    victim,
    dest: clone.dir,
    configDir: clone.configDir,
    cwd: parent,
  });
  assert.equal(status, 0, output);
  assert.ok((s.perPeer[keep.peerId] ?? 0) > 0);
  assert.ok(
    (s.perPeer[victim.peerId] ?? 0) > 0,
    `the killed seeder had contributed: ${JSON.stringify(s.perPeer)}`,
  );
  assert.ok(
    !s.banned.some((b) => b.peer === victim.peerId),
    `vanishing is not misbehaving: ${JSON.stringify(s.banned)}`,
  );
  // It is listed as lost, with why.
  assert.ok(
    s.lost.some((l) => l.peer === victim.peerId && l.why.length > 0),
    JSON.stringify(s.lost),
  );
  assert.ok(!s.lost.some((l) => l.peer === keep.peerId), JSON.stringify(s.lost));
  assert.equal(sha256File(clone.path('model.bin')), sum);
  assertFsck(clone);
});
