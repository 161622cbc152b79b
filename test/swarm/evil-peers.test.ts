// Malicious peers, through the real protocol: a peer that sends corrupted chunk bytes, another
// chunk's bytes, an object nobody asked for, an oversized message, corrupted metadata, forged or
// tampered refs, refs naming a commit that exists nowhere, or another repository's identity.
// Each is detected, the peer is banned (the `banned` list of --json), the clone completes from
// the honest peer, and nothing bad is stored (fsck passes, files are byte-exact).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { decodeSignedRefs, toHex } from '../../src/core/index.ts';
import { newRepo, randomFile, sha256File, type TestRepo } from '../cli/repo-helpers.ts';
import { tempDir } from '../helpers.ts';
import {
  assertFsck,
  type CloneSummary,
  cloneWithStallTimeout,
  type EvilMode,
  evilPeer,
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
const sums: Record<string, string> = {};
/** A plain clone of the origin (same refs), served by the evil peer in the chunk modes. */
let mirror: TestRepo;
/** A clone with a commit of its own on main, served by the evil peer in the refs modes. */
let fork: TestRepo;
let forkHead: string;

before(async () => {
  origin = newRepo(scope);
  sums['data/model.bin'] = randomFile(origin.path('data/model.bin'), 8 * 1024 * 1024);
  origin.write('README.md', 'honest data\n');
  sums['README.md'] = sha256File(origin.path('README.md'));
  originHead = origin.commit('honest');
  originServer = await serve(scope, origin);

  const parent = tempDir(scope);
  mirror = userAt(scope, join(parent, 'mirror'));
  fork = userAt(scope, join(parent, 'fork'));
  for (const r of [mirror, fork]) {
    const c = await shoalAsync(scope, ['clone', originServer.addr, r.dir], {
      cwd: parent,
      configDir: r.configDir,
    });
    assert.equal(c.status, 0, c.stderr);
  }
  fork.write('README.md', 'evil data\n');
  randomFile(fork.path('data/evil.bin'), 256 * 1024);
  forkHead = fork.commit('evil');
});

/** Clone as a fresh user from the evil peer first, then the honest origin. */
async function victimClone(
  t: Scope,
  evil: Server,
  source?: string,
): Promise<{ victim: TestRepo; r: Awaited<ReturnType<typeof shoalAsync>> }> {
  const parent = tempDir(t);
  const victim = userAt(t, join(parent, 'victim'));
  const args = source
    ? ['clone', source, victim.dir, '--peer', evil.addr, '--peer', originServer.addr]
    : ['clone', evil.addr, victim.dir, '--peer', originServer.addr];
  const r = await shoalAsync(t, [...args, '--json'], { cwd: parent, configDir: victim.configDir });
  return { victim, r };
}

/** Every refs document the victim stored verifies, and the delegate's names the honest commit. */
function assertStoredRefs(victim: TestRepo): void {
  const db = new DatabaseSync(victim.path('.shoal/index.db'), { readOnly: true });
  try {
    const rows = db.prepare('SELECT signer, doc FROM signed_refs').all() as {
      signer: Uint8Array;
      doc: Uint8Array;
    }[];
    const delegate = origin.j<{ delegates: { publicKey: string }[] }>(['info']).delegates[0]!.publicKey;
    let sawDelegate = false;
    for (const row of rows) {
      const doc = decodeSignedRefs(row.doc); // throws on a bad signature
      assert.equal(toHex(doc.signer), toHex(row.signer));
      if (toHex(doc.signer) === delegate) {
        sawDelegate = true;
        assert.equal(toHex(doc.refs.get('refs/heads/main')!), originHead);
      }
    }
    assert.ok(sawDelegate, "the delegate's refs are stored");
  } finally {
    db.close();
  }
}

function assertHonestClone(victim: TestRepo, s: CloneSummary): void {
  assertStoredRefs(victim);
  assert.equal(s.commit, originHead, 'HEAD is the honest commit');
  assert.equal(s.canonical['refs/heads/main'], originHead);
  for (const [path, sum] of Object.entries(sums)) assert.equal(sha256File(victim.path(path)), sum, path);
  assertFsck(victim);
  assert.equal(victim.j<{ ok: boolean }>(['verify']).ok, true);
  assert.equal(originServer.proc.exitCode, null, 'the honest peer is still serving');
}

async function expectBanned(t: Scope, mode: EvilMode, repo: () => TestRepo, why: RegExp): Promise<void> {
  const evil = await evilPeer(t, repo(), repo().configDir, mode);
  const { victim, r } = await victimClone(t, evil);
  assert.equal(r.status, 0, `clone with a ${mode} peer: ${r.stdout}\n${r.stderr}`);
  const s = parseJson<CloneSummary>(r);
  const ban = s.banned.find((b) => b.peer === evil.peerId);
  assert.ok(ban, `the ${mode} peer is banned: ${JSON.stringify(s.banned)}`);
  assert.match(ban.why, why);
  assert.ok((s.perPeer[originServer.peerId] ?? 0) > 0, 'the honest peer delivered');
  assertHonestClone(victim, s);
}

describe('a peer sending bad chunks is banned and the clone completes from the honest peer', () => {
  it('control: an honest second peer is not banned, and both deliver', async (t) => {
    const evil = await evilPeer(t, mirror, mirror.configDir, 'honest');
    const { victim, r } = await victimClone(t, evil);
    assert.equal(r.status, 0, r.stderr);
    const s = parseJson<CloneSummary>(r);
    assert.deepEqual(s.banned, []);
    assert.ok((s.perPeer[evil.peerId] ?? 0) > 0, JSON.stringify(s.perPeer));
    assertHonestClone(victim, s);
  });

  it('corrupted chunk bytes', (t) => expectBanned(t, 'corrupt-chunk', () => mirror, /wrong bytes/));
  it("another chunk's bytes", (t) => expectBanned(t, 'wrong-chunk', () => mirror, /wrong bytes/));
  it('an object nobody asked for', (t) =>
    expectBanned(t, 'unrequested-chunk', () => mirror, /not asked for/));
  it('a message declaring an oversized payload', (t) =>
    expectBanned(t, 'oversized', () => mirror, /exceeds|too large|limit/));
  it('a header length prefix of 2 GiB', (t) =>
    expectBanned(t, 'huge-header', () => mirror, /outside|exceeds/));
  it('corrupted metadata (commits, trees, index nodes)', (t) =>
    expectBanned(t, 'corrupt-metadata', () => mirror, /wrong|undecodable/));
});

describe('a peer sending bad refs is banned; the canonical refs stay the delegate’s', () => {
  it('refs naming the delegate as signer but signed with another key', (t) =>
    expectBanned(t, 'forged-refs', () => fork, /signature/));
  it("the delegate's refs with main changed", (t) =>
    expectBanned(t, 'tampered-refs', () => fork, /signature/));

  it('another repository identity, for a shoal:// clone', async (t) => {
    const evil = await evilPeer(t, mirror, mirror.configDir, 'foreign-identity');
    const url = origin.j<{ url: string }>(['info']).url;
    const { victim, r } = await victimClone(t, evil, url);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const s = parseJson<CloneSummary>(r);
    assert.ok(
      s.banned.some((b) => b.peer === evil.peerId),
      `the impostor is banned: ${JSON.stringify(s.banned)}`,
    );
    assert.equal(s.repo, url.slice('shoal://'.length));
    assertHonestClone(victim, s);
  });

  it('a validly signed fork by a non-delegate is never canonical: it stays <peer-id>/main', async (t) => {
    const evil = await evilPeer(t, fork, fork.configDir, 'non-delegate-refs');
    const { victim, r } = await victimClone(t, evil);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const s = parseJson<CloneSummary>(r);
    assert.deepEqual(s.banned, [], 'publishing a fork is allowed');
    assertHonestClone(victim, s);
    assert.ok(s.updated.includes(`refs/remotes/${evil.peerId}/main`), JSON.stringify(s.updated));
    const tip = victim.j<{ id: string }[]>(['log', '-n', '1', `${evil.peerId}/main`])[0]!.id;
    assert.equal(tip, forkHead);
    assert.equal(victim.ok(['cat', `${evil.peerId}/main:README.md`]).stdout, 'evil data\n');
  });

  it('refs naming a commit that exists nowhere do not stop the clone', async (t) => {
    const evil = await evilPeer(t, mirror, mirror.configDir, 'dangling-refs');
    const { victim, r } = await victimClone(t, evil);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const s = parseJson<CloneSummary>(r);
    assertHonestClone(victim, s);
    assert.ok(!s.updated.includes(`refs/remotes/${evil.peerId}/main`), 'no ref to a commit we do not have');
    assert.equal(victim.run(['log', `${evil.peerId}/main`]).status, 1);
  });
});

// Last: it moves the origin and the mirror on to a second version.
describe('a fetch (not only a clone) with a peer sending bad chunks', () => {
  it('bans the peer and completes the fetch from the honest one', async (t) => {
    const parent = tempDir(t);
    const victim = userAt(t, join(parent, 'victim'));
    const c = await shoalAsync(t, ['clone', originServer.addr, victim.dir], {
      cwd: parent,
      configDir: victim.configDir,
    });
    assert.equal(c.status, 0, c.stderr);

    const newSum = randomFile(origin.path('data/model-v2.bin'), 8 * 1024 * 1024);
    const v2 = origin.commit('v2');
    const pulled = await shoalAsync(t, ['pull'], { cwd: mirror.dir, configDir: mirror.configDir });
    assert.equal(pulled.status, 0, pulled.stderr);
    const evil = await evilPeer(t, mirror, mirror.configDir, 'corrupt-chunk');

    // The evil peer first, so that it is handed part of the work.
    const r = await shoalAsync(t, ['fetch', evil.addr, '--peer', originServer.addr, '--json'], {
      cwd: victim.dir,
      configDir: victim.configDir,
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const s = parseJson<CloneSummary>(r);
    assert.ok(
      s.banned.some((b) => b.peer === evil.peerId && /wrong bytes/.test(b.why)),
      JSON.stringify(s.banned),
    );
    assert.equal(s.canonical['refs/heads/main'], v2);
    assertFsck(victim);
    const merged = await shoalAsync(t, ['merge', 'origin/main'], {
      cwd: victim.dir,
      configDir: victim.configDir,
    });
    assert.equal(merged.status, 0, merged.stderr);
    assert.equal(sha256File(victim.path('data/model-v2.bin')), newSum);
    assertFsck(victim);
  });
});

describe('a peer that stops answering chunk requests', () => {
  it('as the only source, the clone fails after transfer.stall-timeout instead of hanging', {
    timeout: 120_000,
  }, async (t) => {
    const evil = await evilPeer(t, mirror, mirror.configDir, 'silent-chunks');
    const { r } = await cloneWithStallTimeout(t, evil.addr, 1);
    assert.equal(r.status, 1, r.stdout);
    const e = parseJson<{ error: { code: string; message: string } }>(r).error;
    assert.equal(e.code, 'PEER_ERROR');
    // The error says which peer went and why.
    assert.match(
      e.message,
      new RegExp(`no peer left to fetch from .*: peer ${evil.peerId}: sent nothing for 1 s`),
    );
  });

  it('next to an honest peer, the clone completes and the silent one is dropped, not banned', {
    timeout: 120_000,
  }, async (t) => {
    const evil = await evilPeer(t, mirror, mirror.configDir, 'silent-chunks');
    const { victim, r } = await victimClone(t, evil);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const s = parseJson<CloneSummary>(r);
    assert.equal(
      s.banned.find((b) => b.peer === evil.peerId && /banned/.test(b.why)),
      undefined,
    );
    assert.ok((s.perPeer[originServer.peerId] ?? 0) > 0, 'the honest peer delivered');
    assert.equal(s.commit, s.canonical['refs/heads/main']);
    assertFsck(victim);
    assert.equal(victim.j<{ ok: boolean }>(['verify']).ok, true);
  });
});
