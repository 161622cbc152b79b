// The multi-source clone and the seeder that vanishes, across network namespaces: each seeder in
// its own namespace, linked to the cloner's by its own veth pair (a few milliseconds of netem
// delay when available), addresses in a private range assigned only inside these namespaces.
// Needs root and a working `ip netns`; otherwise skipped with the reason.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it, test } from 'node:test';
import { newRepo, randomFile, sha256File, type TestRepo } from '../cli/repo-helpers.ts';
import { tempDir } from '../helpers.ts';
import {
  assertFsck,
  assertOk,
  type CloneSummary,
  cloneKillingOneSeeder,
  type Lan,
  makeLan,
  netnsUnavailable,
  packBytes,
  parseJson,
  type Server,
  serve,
  shoalAsync,
  shoalBg,
  suiteScope,
  until,
  userAt,
} from './swarm-helpers.ts';

const MiB = 1024 * 1024;
const SIZE = 48 * MiB;
const RATE = 8_000_000;
const unavailable = netnsUnavailable();

if (unavailable) {
  test('across network namespaces', (t) => {
    t.skip(`network namespace tests skipped: ${unavailable}`);
  });
}

describe('across network namespaces', { skip: unavailable !== undefined }, () => {
  const { scope, cleanup } = suiteScope();
  after(cleanup);
  let lan: Lan;
  let url: string;
  let sum: string;
  let seeders: Server[];

  before(async () => {
    lan = makeLan(scope, 3, 'delay 2ms');
    const origin = newRepo(scope);
    sum = randomFile(origin.path('dataset.bin'), SIZE);
    origin.commit('dataset');
    url = origin.j<{ url: string }>(['info']).url;
    // Two more copies, cloned on the host's loopback, then each seeder serves in its namespace.
    const first = await serve(scope, origin);
    const parent = tempDir(scope);
    const repos: TestRepo[] = [origin];
    for (const name of ['b', 'c']) {
      const r = userAt(scope, join(parent, name));
      assertOk(
        await shoalAsync(scope, ['clone', first.addr, r.dir], { cwd: parent, configDir: r.configDir }),
        'clone',
      );
      repos.push(r);
    }
    await first.kill();
    seeders = await Promise.all(
      repos.map((r, i) =>
        serve(scope, r, {
          netns: lan.spokes[i]!.ns,
          listen: `/ip4/${lan.spokes[i]!.addr}/tcp/0`,
          args: ['--max-upload', String(RATE)],
        }),
      ),
    );
    for (const [i, s] of seeders.entries())
      assert.ok(s.addr.includes(`/ip4/${lan.spokes[i]!.addr}/`), s.addr);
  });

  it('a shoal:// clone in one namespace downloads from seeders in three others at once', async (t) => {
    const parent = tempDir(t);
    const user = userAt(t, join(parent, 'clone'));
    const peers = seeders.flatMap((s) => ['--peer', s.addr]);
    const r = await shoalAsync(t, ['clone', url, user.dir, ...peers, '--json'], {
      cwd: parent,
      configDir: user.configDir,
      netns: lan.hub,
    });
    assertOk(r, 'clone');
    const s = parseJson<CloneSummary & { seconds: number }>(r);
    t.diagnostic(`perPeer ${JSON.stringify(s.perPeer)} in ${s.seconds.toFixed(1)} s`);
    assert.deepEqual(s.banned, []);
    const contributors = seeders.filter((p) => (s.perPeer[p.peerId] ?? 0) > 0);
    assert.ok(contributors.length >= 2, `at least two seeders contributed: ${JSON.stringify(s.perPeer)}`);
    assert.equal(contributors.length, 3, `all three contributed: ${JSON.stringify(s.perPeer)}`);
    assert.equal(sha256File(user.path('dataset.bin')), sum);
    assertFsck(user);
  });

  it('a seeder in another namespace killed (-9) mid-transfer: the clone completes from the other', async (t) => {
    const [keep, victim] = [seeders[0]!, seeders[2]!];
    const parent = tempDir(t);
    const user = userAt(t, join(parent, 'clone'));
    const {
      status,
      summary: s,
      output,
    } = await cloneKillingOneSeeder(t, {
      url,
      keep,
      victim,
      dest: user.dir,
      configDir: user.configDir,
      cwd: parent,
      netns: lan.hub,
    });
    assert.equal(status, 0, output);
    assert.ok(
      (s.perPeer[victim.peerId] ?? 0) > 0,
      `the killed seeder had contributed: ${JSON.stringify(s.perPeer)}`,
    );
    assert.ok((s.perPeer[keep.peerId] ?? 0) > 0);
    assert.ok(!s.banned.some((b) => b.peer === victim.peerId), JSON.stringify(s.banned));
    assert.equal(sha256File(user.path('dataset.bin')), sum);
    assertFsck(user);
  });

  it('a seeder whose link goes down silently (no FIN, no RST): the clone completes from the other', async (t) => {
    const [keep, victim] = [seeders[0]!, seeders[1]!];
    const spoke = lan.spokes[1]!;
    const parent = tempDir(t);
    const user = userAt(t, join(parent, 'clone'));
    const c = shoalBg(t, ['clone', url, user.dir, '--peer', keep.addr, '--peer', victim.addr, '--json'], {
      cwd: parent,
      configDir: user.configDir,
      netns: lan.hub,
    });
    await until('the clone to receive data', () => packBytes(user.dir) > 4 * MiB || c.finished());
    assert.equal(c.finished(), false, `the clone finished before the link went down: ${c.stdout()}`);
    // Packets to and from the seeder are dropped from now on: it neither closes nor resets.
    const drop = spawnSync('ip', [
      'netns',
      'exec',
      spoke.ns,
      'tc',
      'qdisc',
      'replace',
      'dev',
      's1',
      'root',
      'netem',
      'loss',
      '100%',
    ]);
    if (drop.status !== 0) spawnSync('ip', ['-n', spoke.ns, 'link', 'set', 's1', 'down']);
    const status = await c.exited;
    assert.equal(status, 0, `${c.stdout()}\n${c.stderr()}`);
    const s = JSON.parse(c.stdout()) as CloneSummary;
    assert.ok((s.perPeer[keep.peerId] ?? 0) > 0);
    assert.equal(sha256File(user.path('dataset.bin')), sum);
    assertFsck(user);
  });
});
