// Hostile peers that do not send bad data but withhold answers or send what an honest peer
// never would: the fetch must still end (completing from the honest peer), and a peer that
// serves what it learnt from them must keep serving.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { multiaddr } from '@multiformats/multiaddr';
import { toHex } from '../../src/core/index.ts';
import { createPeerNode, FrameReader, FrameWriter, SYNC_PROTOCOL } from '../../src/net/index.ts';
import { newRepo, randomFile, sha256File, type TestRepo } from '../cli/repo-helpers.ts';
import { indexBomb } from '../fixtures/index-bomb.ts';
import { tempDir } from '../helpers.ts';
import {
  assertFsck,
  type CloneSummary,
  cloneWithStallTimeout,
  type EvilMode,
  evilPeer,
  interruptCloneAfterCommit,
  parseJson,
  type Scope,
  type Server,
  serve,
  shoalAsync,
  suiteScope,
  userAt,
} from './swarm-helpers.ts';

const { scope, cleanup } = suiteScope();
after(cleanup);

let origin: TestRepo;
let originHead: string;
let originServer: Server;
let sum: string;
/** A plain clone of the origin, served by the evil peer. */
let mirror: TestRepo;

before(async () => {
  origin = newRepo(scope);
  sum = randomFile(origin.path('data.bin'), 1024 * 1024);
  originHead = origin.commit('data');
  originServer = await serve(scope, origin);
  const parent = tempDir(scope);
  mirror = userAt(scope, join(parent, 'mirror'));
  const c = await shoalAsync(scope, ['clone', originServer.addr, mirror.dir], {
    cwd: parent,
    configDir: mirror.configDir,
  });
  assert.equal(c.status, 0, c.stderr);
});

/**
 * A new user (stall timeout `stallSeconds`) clones from `first`, then the honest origin; returns
 * the clone and its result.
 */
async function cloneFrom(
  t: Scope,
  first: Server,
  stallSeconds: number,
  env?: Record<string, string>,
): Promise<{ victim: TestRepo; r: Awaited<ReturnType<typeof shoalAsync>> }> {
  const { clone: victim, r } = await cloneWithStallTimeout(t, first.addr, stallSeconds, {
    peers: [originServer.addr],
    env,
  });
  return { victim, r };
}

function assertHonestClone(victim: TestRepo, s: CloneSummary): void {
  assert.equal(s.commit, originHead);
  assert.equal(sha256File(victim.path('data.bin')), sum);
  assertFsck(victim);
}

describe('a peer that never answers', () => {
  for (const mode of ['silent-hello', 'silent-have'] as EvilMode[]) {
    it(`${mode}: the clone completes from the honest peer after the stall timeout`, {
      timeout: 60_000,
    }, async (t) => {
      const evil = await evilPeer(t, mirror, mirror.configDir, mode);
      const { victim, r } = await cloneFrom(t, evil, 1);
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
      const s = parseJson<CloneSummary>(r);
      assert.ok((s.perPeer[originServer.peerId] ?? 0) > 0, 'the honest peer delivered');
      assertHonestClone(victim, s);
    });
  }
});

describe('Ctrl-C while a clone waits on a peer that never answers `have`', () => {
  it('ends at once, not when the stall timeout drops the peer', {
    // The stall timeout is ten minutes: a clone that waited for it fails the test by its timeout.
    timeout: 60_000,
  }, async (t) => {
    const evil = await evilPeer(t, mirror, mirror.configDir, 'silent-have');
    const parent = tempDir(t);
    const victim = userAt(t, join(parent, 'clone'));
    assert.equal(victim.run(['config', '--global', 'transfer.stall-timeout', '600'], parent).status, 0);
    // The commit, tree and index nodes are stored before the peer is asked what it has.
    await interruptCloneAfterCommit(t, victim, parent, [evil.addr]);
  });
});

describe('a peer that takes a push and then neither fetches nor answers', () => {
  it('fails the push after transfer.stall-timeout instead of hanging', { timeout: 60_000 }, async (t) => {
    const evil = await evilPeer(t, mirror, mirror.configDir, 'silent-push');
    const parent = tempDir(t);
    const user = userAt(t, join(parent, 'user'));
    const c = await shoalAsync(t, ['clone', evil.addr, user.dir], { cwd: parent, configDir: user.configDir });
    assert.equal(c.status, 0, c.stderr);
    user.write('new.txt', 'to push\n');
    user.commit('to push');
    user.ok(['config', 'transfer.stall-timeout', '1']);
    const r = await shoalAsync(t, ['push', 'origin', '--json'], { cwd: user.dir, configDir: user.configDir });
    assert.equal(r.status, 1, r.stdout);
    const e = parseJson<{ error: { code: string; message: string } }>(r).error;
    assert.equal(e.code, 'PEER_ERROR');
    assert.match(e.message, /did not answer for 1 s/);
  });
});

describe('a peer relaying a flood of forks', () => {
  it('does not stop the peer that learnt them from serving the repository', async (t) => {
    const evil = await evilPeer(t, mirror, mirror.configDir, 'many-forks');
    const { victim, r } = await cloneFrom(t, evil, 30);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assertHonestClone(victim, parseJson<CloneSummary>(r));
    // The victim follows the delegate and the peer it fetched from, not the strangers that peer
    // relayed: it stores neither their documents nor their forks' content, and so does not
    // relay them either.
    const db = new DatabaseSync(victim.path('.shoal/index.db'), { readOnly: true });
    const stored = (db.prepare('SELECT count(*) AS n FROM signed_refs').get() as { n: number }).n;
    db.close();
    assert.ok(stored <= 3, `the victim stored ${stored} refs documents`);
    const victimServer = await serve(t, victim);
    const parent = tempDir(t);
    const next = userAt(t, join(parent, 'next'));
    const c = await shoalAsync(t, ['clone', victimServer.addr, next.dir, '--json'], {
      cwd: parent,
      configDir: next.configDir,
    });
    assert.equal(c.status, 0, `${c.stdout}\n${c.stderr}`);
    assertHonestClone(next, parseJson<CloneSummary>(c));
  });
});

describe("a peer publishing a commit signed with a key that is not its author's", () => {
  it('the commit is refused on arrival: the fork is left out, nothing of it stored, the clone complete', {
    timeout: 60_000,
  }, async (t) => {
    const evil = await evilPeer(t, mirror, mirror.configDir, 'forged-commit');
    const { victim, r } = await cloneFrom(t, evil, 30);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const s = parseJson<CloneSummary & { refused: { commit: string; why: string }[] }>(r);
    assertHonestClone(victim, s); // fsck included: no commit with a bad signature was stored
    assert.ok(!s.updated.includes(`refs/remotes/${evil.peerId}/main`), JSON.stringify(s.updated));
    assert.equal(s.refused.length, 1, r.stdout);
    assert.match(s.refused[0]!.why, /is not signed by its author/);
    assert.equal(victim.run(['show', s.refused[0]!.commit]).status, 1, 'the refused commit is not stored');
  });
});

describe('a peer that goes away while sending a fork only it has', () => {
  it('leaves the fork out: the clone completes with the canonical refs, the peer listed as lost', {
    timeout: 60_000,
  }, async (t) => {
    const evil = await evilPeer(t, mirror, mirror.configDir, 'vanishing-fork');
    // From that peer alone: it serves the canonical refs whole, then no peer is left for the fork.
    const { clone: victim, r } = await cloneWithStallTimeout(t, evil.addr, 30);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const s = parseJson<CloneSummary & { lost: { peer: string; why: string }[] }>(r);
    assertHonestClone(victim, s);
    assert.ok(!s.updated.includes(`refs/remotes/${evil.peerId}/main`), JSON.stringify(s.updated));
    assert.ok(
      s.lost.some((l) => l.peer === evil.peerId),
      JSON.stringify(s.lost),
    );
    // and the fork is listed as left out, with why
    assert.deepEqual(
      s.skippedForks.map((f) => [f.ref, f.reason]),
      [[`${evil.peerId}/main`, 'unavailable']],
    );
    assert.match(s.skippedForks[0]!.why ?? '', new RegExp(`^peer ${evil.peerId}: `));
  });
});

// A process that walked every one of the bomb's chunk positions would run out of this much heap
// within seconds (or never answer): either fails the test instead of eating the machine.
const SMALL_HEAP = { NODE_OPTIONS: '--max-old-space-size=256' };

describe('a file index whose nodes repeat one child (4096^2 chunks, 28 nodes deep, in 31 objects)', () => {
  let victim: TestRepo;
  let evilId: string;

  it('published as a fork, it is fetched without walking every chunk position', {
    timeout: 60_000,
  }, async (t) => {
    const evil = await evilPeer(scope, mirror, mirror.configDir, 'index-bomb');
    evilId = evil.peerId;
    const cloned = await cloneFrom(scope, evil, 30, SMALL_HEAP);
    victim = cloned.victim;
    const { r } = cloned;
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const s = parseJson<CloneSummary>(r);
    assertHonestClone(victim, s);
    assert.ok(s.updated.includes(`refs/remotes/${evil.peerId}/main`), JSON.stringify(s.updated));
    t.diagnostic(`fork fetched: ${s.updated.join(', ')}`);
  });

  it('held by a server, a have-map request for it is answered, and the server goes on serving', {
    timeout: 60_000,
  }, async (t) => {
    assert.ok(victim && evilId, 'the previous test cloned the fork');
    const server = await serve(t, victim, { env: SMALL_HEAP });
    const node = await createPeerNode({ seed: randomBytes(32) });
    t.after(() => node.stop());
    const bomb = indexBomb();
    const repo = Buffer.from(victim.j<{ id: string }>(['info']).id, 'hex');
    const ask = async (req: number, header: Record<string, unknown> & { type: string }) => {
      const stream = await node.dialProtocol(multiaddr(server.addr), SYNC_PROTOCOL);
      const reader = new FrameReader(stream);
      const writer = new FrameWriter(stream);
      await writer.write({ type: 'hello', req: 1, repo });
      assert.equal((await reader.read())?.header.type, 'repo');
      await writer.write({ ...header, req });
      const answer = await reader.read();
      await writer.close();
      return answer?.header;
    };
    const map = await ask(2, { type: 'have', root: bomb.root, height: bomb.height, commit: false });
    assert.equal(map?.type, 'have-map', JSON.stringify(map));
    assert.equal(map?.all, false);
    assert.equal(map?.count, 0, 'too many chunks for one have-map: the peer says it cannot tell');
    const chunk = await ask(3, { type: 'get', ids: [bomb.chunk.id] });
    assert.equal(chunk?.type, 'object');
    assert.equal(toHex(chunk?.id as Uint8Array), toHex(bomb.chunk.id));
    assert.equal(server.finished(), false, server.stderr());
  });
});
