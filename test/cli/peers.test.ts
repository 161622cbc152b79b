// `shoal peers` through the real CLI: a known peer (remembered from a clone) with the
// repositories it serves to us, private ones only once our key may read them, and peers found
// on the LAN with mDNS when multicast works here.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { json, tempDir } from '../helpers.ts';
import { silentPort } from '../swarm/swarm-helpers.ts';
import { daemonUser, ok, run, startDaemon } from './daemon-helpers.ts';
import { newRepo } from './repo-helpers.ts';

interface Listing {
  peerId: string;
  addrs: string[];
  sources: string[];
  reachable: boolean;
  repos: { id: string; name: string; visibility: string }[];
  knownRepos: string[];
  error?: string;
}

/**
 * A daemon sharing a one-file repository, and a user who cloned it into `<parent>/copy` (which
 * makes the daemon a known peer of that user's).
 */
function knownSeeder(t: Parameters<typeof tempDir>[0]) {
  const seeder = daemonUser(t);
  const repo = newRepo(t, { configDir: seeder });
  repo.write('f.txt', 'x\n');
  repo.commit('x');
  const repoId = json<{ id: string }>(repo.ok(['share', '--json'])).id;
  const daemon = startDaemon(t, seeder);
  const user = daemonUser(t);
  const parent = tempDir(t);
  ok(user, ['clone', daemon.addrs[0]!, 'copy'], parent);
  return { seeder, repoId, daemon, user, parent, knownPeers: join(user, 'known-peers.json') };
}

interface Remembered {
  addrs: string[];
  misses?: Record<string, number>;
}

/** The user's known-peers.json entry of `peerId`. */
function remembered(file: string, peerId: string): Remembered {
  return (JSON.parse(readFileSync(file, 'utf8')) as Record<string, Remembered>)[peerId]!;
}

/** Put `addr` first among the addresses known for `peerId`. */
function rememberFirst(file: string, peerId: string, addr: string): void {
  const peers = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Remembered>;
  peers[peerId]!.addrs.unshift(addr);
  writeFileSync(file, JSON.stringify(peers));
}

test('peers lists known peers with the repositories they serve to us', async (t) => {
  const seeder = daemonUser(t);
  const open = newRepo(t, { configDir: seeder });
  open.write('readme.txt', 'public\n');
  open.commit('public');
  const openId = json<{ id: string }>(open.ok(['share', '--json'])).id;
  open.fails(['share', '--private'], 'CONFLICT'); // visibility is part of the identity
  const secret = newRepo(t, { configDir: seeder });
  secret.write('secret.txt', 'private\n');
  secret.commit('private');
  const secretShare = json<{ id: string; visibility: string }>(secret.ok(['share', '--private', '--json']));
  assert.equal(secretShare.visibility, 'private');
  const daemon = startDaemon(t, seeder);

  const user = daemonUser(t);
  const nobody = json<Listing[]>(ok(user, ['peers', '--no-mdns', '--json']));
  assert.deepEqual(nobody, [], 'no known peers yet, and no LAN lookup');

  // The clone makes the seeder a known peer.
  ok(user, ['clone', daemon.addrs[0]!, 'copy'], tempDir(t));
  const known = json<Listing[]>(ok(user, ['peers', '--no-mdns', '--json']));
  const seen = known.find((p) => p.peerId === daemon.peerId);
  assert.ok(seen, `the seeder is listed: ${JSON.stringify(known)}`);
  assert.deepEqual(seen.sources, ['known']);
  assert.equal(seen.reachable, true, seen.error);
  assert.deepEqual(seen.repos, [{ id: openId, name: open.dir.split('/').pop(), visibility: 'public' }]);
  assert.deepEqual(seen.knownRepos, [openId]);

  // A private repository is listed to the keys that may read it, and to no one else.
  const key = json<{ publicKey: string }>(ok(user, ['id', '--json'])).publicKey;
  secret.ok(['config', 'access.readers', key]);
  const allowed = json<Listing[]>(ok(user, ['peers', '--no-mdns', '--json'])).find(
    (p) => p.peerId === daemon.peerId,
  );
  assert.deepEqual(allowed?.repos.map((r) => r.id).sort(), [openId, secretShare.id].sort());
  const human = ok(user, ['peers', '--no-mdns']).stdout;
  assert.match(human, new RegExp(`${daemon.peerId}  \\(known\\)`));
  assert.match(human, new RegExp(`shoal://${secretShare.id}  \\S+  \\(private\\)`));
});

test('peers checks its options and reports an unreachable known peer', (t) => {
  const { seeder, daemon, user } = knownSeeder(t);
  ok(seeder, ['daemon', 'stop']);

  const listed = json<Listing[]>(ok(user, ['peers', '--no-mdns', '--json']));
  const gone = listed.find((p) => p.peerId === daemon.peerId);
  assert.equal(gone?.reachable, false);
  assert.ok(gone?.error);
  assert.deepEqual(gone?.repos, []);
  assert.equal(gone?.knownRepos.length, 1);
  assert.match(ok(user, ['peers', '--no-mdns']).stdout, /\(known, unreachable: /);

  assert.equal(run(user, ['peers', '--wait', 'soon']).status, 2);
  assert.equal(run(user, ['peers', 'extra']).status, 2);
});

test('a known peer is reached at its next known address when the first (or the one named) no longer answers', (t) => {
  const { repoId, daemon, user, knownPeers } = knownSeeder(t);
  // The peer as if it had moved: an address where nothing listens now comes first.
  rememberFirst(knownPeers, daemon.peerId, '/ip4/127.0.0.1/tcp/1');
  const known = () => remembered(knownPeers, daemon.peerId);
  // A multiaddr where the peer no longer listens (a remote saved before it moved) reaches it too.
  const stale = `/ip4/127.0.0.1/tcp/1/p2p/${daemon.peerId}`;
  // Each time the peer answers at another address after the one it has left was tried, that
  // one has missed once more; not tried (the address that answered last comes first), no change.
  const missesAfter: (number | undefined)[] = [];
  for (const source of [`shoal://${repoId}`, daemon.peerId, stale, stale]) {
    const dir = tempDir(t);
    const r = run(user, ['clone', source, 'again', '--json'], dir);
    assert.equal(r.status, 0, `clone ${source}: ${r.stderr}`);
    assert.deepEqual(json<{ peers: string[] }>(r).peers, [daemon.peerId]);
    missesAfter.push(known().misses?.['/ip4/127.0.0.1/tcp/1']);
  }
  // Three misses in a row, and it is forgotten; the address that answered stays.
  assert.deepEqual(missesAfter, [1, 1, 2, undefined]);
  assert.ok(!known().addrs.includes('/ip4/127.0.0.1/tcp/1'), JSON.stringify(known()));
  assert.equal(known().misses, undefined);
  assert.ok(known().addrs.length > 0);
});

test('peers reaches a known peer past a remembered address that never answers', async (t) => {
  const { seeder, repoId, daemon, user, knownPeers } = knownSeeder(t);
  // First among its addresses, one that accepts and never answers: tried one after the other,
  // it would use up the 5 s the peer has to answer before the next one is dialled.
  rememberFirst(knownPeers, daemon.peerId, `/ip4/127.0.0.1/tcp/${await silentPort(t)}`);
  const listed = json<Listing[]>(ok(user, ['peers', '--no-mdns', '--json']));
  const seen = listed.find((p) => p.peerId === daemon.peerId);
  assert.equal(seen?.reachable, true, seen?.error);
  assert.deepEqual(
    seen.repos.map((r) => r.id),
    [repoId],
  );

  // With none of them answering, the error says how many were tried, and why the first failed.
  ok(seeder, ['daemon', 'stop']);
  const gone = json<Listing[]>(ok(user, ['peers', '--no-mdns', '--json'])).find(
    (p) => p.peerId === daemon.peerId,
  );
  assert.equal(gone?.reachable, false);
  assert.match(
    gone.error ?? '',
    /^none of its \d+ addresses answered \(cannot reach the peer: no answer in time\)$/,
  );
});

test('a remembered address that stays silent while the peer answers at another is forgotten too', async (t) => {
  const { daemon, user, parent, knownPeers } = knownSeeder(t);
  // The remote names an address that accepts and never answers, and known-peers.json has it
  // too: each fetch dials it first, and the peer answers at its other address meanwhile.
  const silent = `/ip4/127.0.0.1/tcp/${await silentPort(t)}`;
  rememberFirst(knownPeers, daemon.peerId, silent);
  const copy = join(parent, 'copy');
  ok(user, ['remote', 'set-url', 'origin', `${silent}/p2p/${daemon.peerId}`], copy);
  const known = () => remembered(knownPeers, daemon.peerId);
  const missesAfter: (number | undefined)[] = [];
  for (let i = 0; i < 3; i++) {
    const r = json<{ peers: string[] }>(ok(user, ['fetch', '--json'], copy));
    assert.deepEqual(r.peers, [daemon.peerId]);
    missesAfter.push(known().misses?.[silent]);
  }
  assert.deepEqual(missesAfter, [1, 2, undefined]);
  assert.ok(!known().addrs.includes(silent), JSON.stringify(known()));
});

test('entries of known-peers.json in the wrong shape are forgotten, not an internal error', (t) => {
  const user = daemonUser(t);
  writeFileSync(
    join(user, 'known-peers.json'),
    JSON.stringify({
      a: 5,
      b: { addrs: 5 },
      c: { addrs: ['/ip4/127.0.0.1/tcp/9'], repos: 'x', lastSeen: 1 },
    }),
  );
  assert.deepEqual(json<Listing[]>(ok(user, ['peers', '--no-mdns', '--json'])), []);
});
