import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  decodeIndexNode,
  FileIndexBuilder,
  type FileRoot,
  hashChunk,
  type ObjectId,
  toHex,
} from '../../src/core/index.ts';
import { diffChunks, type NodeReader, newChunkBytes } from '../../src/vcs/chunk-diff.ts';
import { merge } from '../../src/vcs/merge.ts';
import { fixture, IDENTITY, noise } from './fixture.ts';

const CHUNK = 64 * 1024;

/**
 * The index of a file made of `ids` (64 KiB chunks), built without any chunk bytes: diffing
 * compares index nodes only, so a 10 GiB file costs a few megabytes of nodes here.
 */
function indexOf(ids: ObjectId[], nodes: Map<string, Uint8Array>): FileRoot {
  const b = new FileIndexBuilder((n) => nodes.set(toHex(n.id), n.bytes));
  for (const id of ids) b.addChunk(id, CHUNK);
  return b.finish();
}

function reader(nodes: Map<string, Uint8Array>): NodeReader {
  return (id) => decodeIndexNode(nodes.get(toHex(id))!);
}

const fakeChunk = (n: number): ObjectId => hashChunk(Buffer.from(`chunk ${n}`));

test('10 GiB file changed in one place: only the differing index nodes are opened', () => {
  const count = (10 * 1024 * 1024 * 1024) / CHUNK; // 163840 chunks
  const ids = Array.from({ length: count }, (_, i) => fakeChunk(i));
  const nodes = new Map<string, Uint8Array>();
  const before = indexOf(ids, nodes);
  const edited = [...ids];
  edited[Math.floor(count / 2)] = fakeChunk(-1);
  const after = indexOf(edited, nodes);
  assert.equal(before.size, 10 * 1024 ** 3);
  assert.ok(before.height >= 3, `height ${before.height}`);

  const r = diffChunks(reader(nodes), before, after);
  assert.equal(r.addedBytes, CHUNK);
  assert.equal(r.removedBytes, CHUNK);
  // A path from the root on each side, give or take a node whose content-defined boundary moved;
  // the whole index has thousands of nodes.
  assert.ok(r.nodesRead <= 4 * before.height, `opened ${r.nodesRead} of ${nodes.size} nodes`);
  assert.ok(nodes.size > 2500);
});

test('an insertion shifts nothing: the same subtrees are matched wherever they sit', () => {
  const ids = Array.from({ length: 20_000 }, (_, i) => fakeChunk(i));
  const nodes = new Map<string, Uint8Array>();
  const before = indexOf(ids, nodes);
  const inserted = [...ids.slice(0, 7000), fakeChunk(-2), fakeChunk(-3), ...ids.slice(7000)];
  const after = indexOf(inserted, nodes);
  const r = diffChunks(reader(nodes), before, after);
  assert.equal(r.addedBytes, 2 * CHUNK);
  assert.equal(r.removedBytes, 0);
  assert.ok(r.nodesRead <= 4 * Math.max(before.height, after.height), `opened ${r.nodesRead}`);
});

test('identical, added, deleted and single-chunk contents', () => {
  const nodes = new Map<string, Uint8Array>();
  const a = indexOf([fakeChunk(1), fakeChunk(2), fakeChunk(3)], nodes);
  assert.deepEqual(diffChunks(reader(nodes), a, a), { addedBytes: 0, removedBytes: 0, nodesRead: 0 });
  assert.deepEqual(diffChunks(reader(nodes), null, a), {
    addedBytes: 3 * CHUNK,
    removedBytes: 0,
    nodesRead: 0,
  });
  assert.deepEqual(diffChunks(reader(nodes), a, null), {
    addedBytes: 0,
    removedBytes: 3 * CHUNK,
    nodesRead: 0,
  });
  const single = { id: fakeChunk(2), height: 0, size: CHUNK };
  const r = diffChunks(reader(nodes), single, a);
  assert.equal(r.addedBytes, 2 * CHUNK);
  assert.equal(r.removedBytes, 0);
});

test('newChunkBytes: what the commits since a base add, commit by commit, for a push estimate', async (t) => {
  const f = fixture(t);
  f.write('x', noise(1 << 20, 1));
  const base = await f.commitAll('base');
  f.write('y', noise(2 << 20, 2));
  await f.commitAll('adds y');
  const changed = noise(2 << 20, 2);
  changed.set(noise(64 * 1024, 3), 1 << 20); // 64 KiB in the middle of y
  f.write('y', changed);
  const tip = await f.commitAll('changes y');

  const sinceBase = newChunkBytes(f.repo.objects, [base], tip);
  // y whole (2 MiB), then the chunks around the change (content-defined: 16-256 KiB each).
  assert.ok(sinceBase >= (2 << 20) + 64 * 1024 && sinceBase <= (2 << 20) + 768 * 1024, String(sinceBase));
  // Without a base, x counts too; from the tip itself, nothing.
  assert.equal(newChunkBytes(f.repo.objects, [], tip), sinceBase + (1 << 20));
  assert.equal(newChunkBytes(f.repo.objects, [tip], tip), 0);
});

test("newChunkBytes: a merge counts what neither side had, not the other side's files again", async (t) => {
  const f = fixture(t);
  f.write('x', noise(64 * 1024, 1));
  const base = await f.commitAll('base');
  f.write('big', noise(2 << 20, 2));
  const theirs = await f.commitAll('their side adds big');
  // Our side: main moved back to base, big gone, a small file added.
  f.repo.refs.update('refs/heads/main', base, 'test: back to base');
  rmSync(join(f.dir, 'big'));
  f.write('s', noise(16 * 1024, 3));
  const ours = await f.commitAll('our side adds s');
  const merged = await merge(f.repo, theirs, { name: 'theirs', identity: IDENTITY, authorName: 'tester' });
  assert.equal(merged.outcome, 'merged');
  const m = merged.head!;
  // To a peer that has their side (a push after a pull): our small file only.
  assert.equal(newChunkBytes(f.repo.objects, [theirs], m), 16 * 1024);
  // To a peer that has our side: their big file, counted once, through their commit.
  assert.equal(newChunkBytes(f.repo.objects, [ours], m), 2 << 20);
});
