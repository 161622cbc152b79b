// LAN discovery with mDNS, which sends multicast: it runs only between network namespaces made
// here (a seeder's namespace linked to the cloner's by a veth pair), never on the host's own
// network. Needs root and a working `ip netns`; otherwise skipped with the reason.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it, test } from 'node:test';
import { newRepo, randomFile, sha256File } from '../cli/repo-helpers.ts';
import { tempDir } from '../helpers.ts';
import {
  assertFsck,
  assertOk,
  type Lan,
  makeLan,
  netnsUnavailable,
  parseJson,
  type Server,
  serve,
  shoalAsync,
  suiteScope,
  userAt,
} from './swarm-helpers.ts';

const unavailable = netnsUnavailable();
const MDNS = { SHOAL_MDNS: '1' };

if (unavailable) {
  test('LAN discovery across network namespaces', (t) => {
    t.skip(`mDNS tests skipped: ${unavailable}`);
  });
}

describe('LAN discovery across network namespaces', { skip: unavailable !== undefined }, () => {
  const { scope, cleanup } = suiteScope();
  after(cleanup);
  let lan: Lan;
  let seeder: Server;
  let repoId: string;
  let sum: string;

  before(async () => {
    lan = makeLan(scope, 1, undefined, true);
    const origin = newRepo(scope);
    sum = randomFile(origin.path('weights.bin'), 2 * 1024 * 1024);
    origin.commit('weights');
    repoId = origin.j<{ id: string }>(['info']).id;
    const spoke = lan.spokes[0]!;
    seeder = await serve(scope, origin, {
      netns: spoke.ns,
      listen: `/ip4/${spoke.addr}/tcp/0`,
      args: ['--mdns'],
      env: MDNS,
    });
  });

  it('peers finds the seeder on the LAN with the repository it serves', async (t) => {
    const parent = tempDir(t);
    const user = userAt(t, join(parent, 'u'));
    const r = await shoalAsync(t, ['peers', '--wait', '4', '--json'], {
      cwd: parent,
      configDir: user.configDir,
      netns: lan.hub,
      env: MDNS,
    });
    assertOk(r, 'peers');
    const listing = parseJson<{ peerId: string; sources: string[]; repos: { id: string }[] }[]>(r);
    const found = listing.find((p) => p.peerId === seeder.peerId);
    assert.ok(found, `the seeder is found on the LAN: ${r.stdout}`);
    assert.deepEqual(found.sources, ['lan']);
    assert.deepEqual(
      found.repos.map((x) => x.id),
      [repoId],
    );
  });

  it('a clone by peer id alone finds the peer on the LAN', async (t) => {
    const parent = tempDir(t);
    const user = userAt(t, join(parent, 'by-peer'));
    const r = await shoalAsync(t, ['clone', seeder.peerId, user.dir, '--json'], {
      cwd: parent,
      configDir: user.configDir,
      netns: lan.hub,
      env: MDNS,
    });
    assertOk(r, 'clone by peer id');
    assert.equal(sha256File(user.path('weights.bin')), sum);
    assertFsck(user);
  });

  it('a clone of shoal://<repo-id> with no --peer finds its holder on the LAN', async (t) => {
    const parent = tempDir(t);
    const user = userAt(t, join(parent, 'by-url'));
    const r = await shoalAsync(t, ['clone', `shoal://${repoId}`, user.dir, '--json'], {
      cwd: parent,
      configDir: user.configDir,
      netns: lan.hub,
      env: MDNS,
    });
    assertOk(r, 'clone by URL');
    assert.equal(sha256File(user.path('weights.bin')), sum);
  });

  it('with SHOAL_MDNS=0 the same clone by peer id finds nobody', async (t) => {
    const parent = tempDir(t);
    const user = userAt(t, join(parent, 'quiet'));
    const r = await shoalAsync(t, ['clone', seeder.peerId, user.dir, '--json'], {
      cwd: parent,
      configDir: user.configDir,
      netns: lan.hub,
    });
    assert.equal(r.status, 1, r.stdout);
    assert.equal(parseJson<{ error: { code: string } }>(r).error.code, 'NOT_FOUND');
  });
});
