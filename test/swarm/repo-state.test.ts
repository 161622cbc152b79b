// Signed refs documents of one's own: their sequence numbers.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeSignedRefs, encodeSignedRefs, keyPairFromSeed, signRefs } from '../../src/core/index.ts';
import { Repository } from '../../src/store/index.ts';
import { ensureRepoIdentity, ownSignedRefs, servedRefs } from '../../src/swarm/repo-state.ts';
import { tempDir } from '../helpers.ts';

process.env.SHOAL_CONFIG_DIR = mkdtempSync(join(tmpdir(), 'shoal-state-config-'));
process.on('exit', () => rmSync(process.env.SHOAL_CONFIG_DIR!, { recursive: true, force: true }));

test('a signer that lost its refs document still signs one its peers take as newer', async (t) => {
  const repo = Repository.init(tempDir(t));
  t.after(() => repo.close());
  const user = keyPairFromSeed(randomBytes(32));
  const state = await ensureRepoIdentity(repo, user);
  // What its peers hold: a document it signed before, at sequence 41 (counted one by one).
  const held = signRefs(user.seed, {
    repo: state.id,
    signer: user.publicKey,
    seq: 41,
    time: 1,
    refs: new Map(),
  });
  assert.ok(encodeSignedRefs(held).bytes.length > 0);
  // A fresh clone has no document of its own: its first must still be newer than theirs.
  const before = Date.now();
  const fresh = decodeSignedRefs(ownSignedRefs(repo, state, user));
  assert.ok(fresh.seq > held.seq && fresh.seq >= before, `seq ${fresh.seq}`);
  // And each one after goes up by one at least, whatever the clock does.
  repo.db
    .prepare('UPDATE signed_refs SET seq = ? WHERE signer = ?')
    .run(Number.MAX_SAFE_INTEGER - 10, user.publicKey);
  repo.refs.update('refs/heads/other', randomBytes(32), 'test');
  const next = decodeSignedRefs(ownSignedRefs(repo, state, user));
  assert.equal(next.seq, Number.MAX_SAFE_INTEGER - 9);
});

test("a delegate's previous refs document is kept only when held whole", (t) => {
  const repo = Repository.init(tempDir(t));
  t.after(() => repo.close());
  const signer = randomBytes(32);
  const doc = (n: number): Uint8Array => Buffer.from(`document ${n}`);
  repo.signedRefs.put(signer, 1, doc(1));
  repo.signedRefs.put(signer, 2, doc(2), () => true); // 1 was held whole: it is the previous one
  assert.deepEqual(Buffer.from(repo.signedRefs.previous(signer)!.doc), Buffer.from(doc(1)));
  // 2 arrived but its fetch was interrupted: 3 replaces it, and 1 stays the one to fall back on.
  repo.signedRefs.put(signer, 3, doc(3), (d) => Buffer.from(d).equals(doc(1)));
  assert.deepEqual(Buffer.from(repo.signedRefs.previous(signer)!.doc), Buffer.from(doc(1)));
  assert.equal(
    repo.signedRefs.put(signer, 3, doc(4), () => true),
    false,
    'an equal sequence is not newer',
  );
  assert.equal(repo.signedRefs.get(signer)!.seq, 3);
});

test('refs documents damaged on disk: ours is signed afresh, a fork is not relayed', async (t) => {
  const repo = Repository.init(tempDir(t));
  t.after(() => repo.close());
  const user = keyPairFromSeed(randomBytes(32));
  const state = await ensureRepoIdentity(repo, user);
  const damage = (signer: Uint8Array): void => {
    const doc = new Uint8Array(repo.signedRefs.get(signer)!.doc);
    doc[doc.length - 1]! ^= 1; // in the signature
    repo.db.prepare('UPDATE signed_refs SET doc = ? WHERE signer = ?').run(doc, signer);
  };
  const own = decodeSignedRefs(ownSignedRefs(repo, state, user));
  damage(user.publicKey);
  const resigned = decodeSignedRefs(ownSignedRefs(repo, state, user));
  assert.ok(resigned.seq > own.seq, 'a newer document, which verifies');

  // A fork's document, well signed, then damaged: the peer stops relaying it (its peers would
  // ban it for a document that does not verify) and serves its own still.
  const bob = keyPairFromSeed(randomBytes(32));
  const fork = signRefs(bob.seed, {
    repo: state.id,
    signer: bob.publicKey,
    seq: 1,
    time: 1,
    refs: new Map(),
  });
  repo.signedRefs.put(bob.publicKey, 1, encodeSignedRefs(fork).bytes);
  assert.equal(servedRefs(repo, state, user).length, 2);
  damage(bob.publicKey);
  const served = servedRefs(repo, state, user).map((d) => decodeSignedRefs(d));
  assert.deepEqual(
    served.map((d) => Buffer.from(d.signer).toString('hex')),
    [Buffer.from(user.publicKey).toString('hex')],
  );
});
