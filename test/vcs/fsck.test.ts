// fsck of the signed refs documents a repository holds: they are served to peers, who refuse a
// damaged one, so fsck names each that does not verify or is filed wrongly.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeSignedRefs, hashChunk, type ObjectId, signRefs, toHex } from '../../src/core/index.ts';
import { fsck, gc } from '../../src/vcs/index.ts';
import { fixture, IDENTITY } from './fixture.ts';

const REPO_ID = new Uint8Array(32).fill(9);

function signedDoc(seq: number, head: ObjectId): Uint8Array {
  return encodeSignedRefs(
    signRefs(IDENTITY.seed, {
      repo: REPO_ID,
      signer: IDENTITY.publicKey,
      seq,
      time: 1_700_000_000_000 + seq,
      refs: new Map([['refs/heads/main', head]]),
    }),
  ).bytes;
}

test('fsck checks every signed refs document held, the previous one too', async (t) => {
  const f = fixture(t);
  f.write('a.txt', 'one\n');
  const head = await f.commitAll('first');
  f.repo.signedRefs.put(IDENTITY.publicKey, 1, signedDoc(1, head));
  f.repo.signedRefs.put(IDENTITY.publicKey, 2, signedDoc(2, head), () => true); // keeps seq 1 as previous
  assert.equal(f.repo.signedRefs.previous(IDENTITY.publicKey)?.seq, 1);
  assert.deepEqual(fsck(f.repo).problems, []);

  const id = `refs:${toHex(IDENTITY.publicKey)}`;
  // One byte of the current document's signature flipped on disk.
  const current = f.repo.signedRefs.get(IDENTITY.publicKey)!.doc;
  const flipped = new Uint8Array(current);
  flipped[flipped.length - 1]! ^= 1;
  f.repo.db.prepare('UPDATE signed_refs SET doc = ? WHERE signer = ?').run(flipped, IDENTITY.publicKey);
  assert.deepEqual(fsck(f.repo).problems, [{ id, problem: 'signed refs: the signature does not verify' }]);

  // The previous document filed under a sequence number it does not carry.
  f.repo.db.prepare('UPDATE signed_refs SET doc = ? WHERE signer = ?').run(current, IDENTITY.publicKey);
  f.repo.db.prepare('UPDATE signed_refs_previous SET seq = 5 WHERE signer = ?').run(IDENTITY.publicKey);
  assert.deepEqual(fsck(f.repo).problems, [
    { id, problem: 'previous signed refs: filed under another signer or sequence number' },
  ]);

  // Bytes that are no document at all.
  f.repo.db
    .prepare('UPDATE signed_refs SET doc = ? WHERE signer = ?')
    .run(new Uint8Array([1, 2, 3]), IDENTITY.publicKey);
  const problems = fsck(f.repo).problems.map((p) => p.problem);
  assert.equal(problems.length, 2);
  assert.match(problems[0]!, /^signed refs: /);

  // gc drops what does not verify (nothing could use it), and fsck passes again.
  assert.equal((await gc(f.repo, { dryRun: true })).refsDocsDropped, 2);
  assert.equal(fsck(f.repo).problems.length, 2, 'a dry run drops nothing');
  assert.equal((await gc(f.repo)).refsDocsDropped, 2);
  assert.deepEqual(fsck(f.repo).problems, []);
  assert.equal(f.repo.signedRefs.get(IDENTITY.publicKey), undefined);
});

test('fsck next to a gc: objects the gc removes while fsck runs are no problem', async (t) => {
  const f = fixture(t);
  f.write('kept.txt', 'kept\n');
  await f.commitAll('first');
  // Chunks no commit holds (what an add that was never committed leaves), stored after it.
  const session = await f.repo.objects.beginSession();
  const garbage: Uint8Array[] = [];
  for (let i = 0; i < 20; i++) {
    const bytes = new TextEncoder().encode(`garbage ${i}\n`.repeat(100));
    garbage.push(hashChunk(bytes));
    await session.putChunk(hashChunk(bytes), bytes);
  }
  await session.close();
  // A gc removes them while fsck runs: as fsck reports its first object, after it listed them.
  let removed = false;
  const result = fsck(f.repo, () => {
    if (removed) return;
    removed = true;
    for (const id of garbage) f.repo.db.prepare('DELETE FROM objects WHERE id = ?').run(id);
  });
  assert.ok(removed);
  assert.deepEqual(result.problems, []);
  assert.equal(result.damaged, 0);
});

test('fsck names files in tree order: a directory where it stands, before the files listed after it', async (t) => {
  const f = fixture(t);
  f.write('a/x', 'in a\n');
  f.write('b', 'beside a\n');
  f.write('c/y', 'in c\n');
  await f.commitAll('three files');
  f.repo.db.exec('DELETE FROM objects WHERE type = 0'); // every chunk gone
  const r = await fsck(f.repo);
  assert.deepEqual(
    r.problems.map((p) => p.problem).filter((p) => p.startsWith('file ')),
    ['file a/x: missing chunk', 'file b: missing chunk', 'file c/y: missing chunk'],
  );
});
