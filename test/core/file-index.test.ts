// FileIndexBuilder: the content-defined tree of index nodes over a file's chunk list.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  chunkLengths,
  decodeIndexNode,
  EMPTY_CHUNK_ID,
  type EncodedObject,
  FileIndexBuilder,
  type FileRoot,
  hashChunk,
  type IndexEntry,
  isNodeBoundary,
  MAX_NODE_ENTRIES,
  NODE_BOUNDARY_BITS,
  type ObjectId,
  toHex,
  xorshiftStream,
} from '../../src/core/index.ts';
import { ROOT } from '../helpers.ts';

interface Built {
  root: FileRoot;
  nodes: Map<string, EncodedObject>;
  order: string[];
}

function build(entries: IndexEntry[]): Built {
  const nodes = new Map<string, EncodedObject>();
  const order: string[] = [];
  const builder = new FileIndexBuilder((n) => {
    nodes.set(toHex(n.id), n);
    order.push(toHex(n.id));
  });
  for (const e of entries) builder.addChunk(e.id, e.size);
  return { root: builder.finish(), nodes, order };
}

/** The chunk list a root stands for, read back through the emitted nodes. */
function expand(built: Built, id: ObjectId, height: number): IndexEntry[] {
  if (height === 0) return [];
  const node = built.nodes.get(toHex(id));
  assert.ok(node, `node ${toHex(id)} was not emitted`);
  const decoded = decodeIndexNode(node.bytes);
  assert.equal(decoded.height, height);
  assert.ok(decoded.entries.length >= 1 && decoded.entries.length <= MAX_NODE_ENTRIES);
  if (height === 1) return decoded.entries;
  const out: IndexEntry[] = [];
  for (const e of decoded.entries) {
    const below = expand(built, e.id, height - 1);
    assert.equal(
      below.reduce((n, x) => n + x.size, 0),
      e.size,
      'an entry size is the sum below it',
    );
    out.push(...below);
  }
  return out;
}

/** A synthetic chunk id; `boundary` forces whether it ends a node. */
function fakeId(n: number, boundary?: boolean): ObjectId {
  for (let salt = 0; ; salt++) {
    const id = hashChunk(Buffer.from(`chunk ${n} ${salt}`));
    if (boundary === undefined || isNodeBoundary(id) === boundary) return id;
  }
}

/** A compact form of a chunk list, so comparisons print small diffs and ignore Buffer vs Uint8Array. */
function show(list: IndexEntry[]): string {
  return list.map((e) => `${toHex(e.id).slice(0, 16)}:${e.size}`).join(' ');
}

function sameList(actual: IndexEntry[], expected: IndexEntry[], message?: string): void {
  assert.equal(actual.length, expected.length, message);
  assert.ok(show(actual) === show(expected), message ?? 'chunk lists differ');
}

function fakeList(count: number, seed = 0): IndexEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    id: fakeId(seed * 1_000_000 + i),
    size: 1000 + (i % 77),
  }));
}

test('node boundaries: an id ending in NODE_BOUNDARY_BITS zero bits', () => {
  assert.equal(NODE_BOUNDARY_BITS, 6);
  const id = new Uint8Array(32).fill(0xff);
  id[31] = 0x40; // low 6 bits zero
  assert.equal(isNodeBoundary(id), true);
  id[31] = 0x41;
  assert.equal(isNodeBoundary(id), false);
  id[31] = 0x20;
  assert.equal(isNodeBoundary(id), false);
});

test('an empty file is the empty chunk at height 0, with no nodes', () => {
  const b = build([]);
  assert.deepEqual({ ...b.root, id: toHex(b.root.id) }, { id: toHex(EMPTY_CHUNK_ID), height: 0, size: 0 });
  assert.equal(b.nodes.size, 0);
});

test('a single chunk gives height 0 and no index node, even when its id is a boundary', () => {
  for (const boundary of [false, true]) {
    const id = fakeId(1, boundary);
    const b = build([{ id, size: 12345 }]);
    assert.deepEqual({ ...b.root, id: toHex(b.root.id) }, { id: toHex(id), height: 0, size: 12345 });
    assert.equal(b.nodes.size, 0);
  }
});

test('two chunks give one node of height 1 (unless a boundary splits them)', () => {
  const entries = [
    { id: fakeId(1, false), size: 10 },
    { id: fakeId(2, false), size: 20 },
  ];
  const b = build(entries);
  assert.equal(b.root.height, 1);
  assert.equal(b.root.size, 30);
  assert.equal(b.nodes.size, 1);
  sameList(expand(b, b.root.id, 1), entries);
  // A boundary on the first chunk closes a node after it: two leaves under a root of height 2.
  const split = [
    { id: fakeId(3, true), size: 10 },
    { id: fakeId(4, false), size: 20 },
  ];
  const s = build(split);
  assert.equal(s.root.size, 30);
  assert.ok(s.root.height >= 2);
  sameList(expand(s, s.root.id, s.root.height), split);
});

test('many chunks give a tree whose leaves are the chunk list in order', () => {
  for (const count of [3, 64, 65, 1000, 5000]) {
    const entries = fakeList(count, count);
    const b = build(entries);
    assert.equal(
      b.root.size,
      entries.reduce((n, e) => n + e.size, 0),
    );
    assert.ok(b.root.height >= 1);
    if (count >= 1000) assert.ok(b.root.height >= 2, `height ${b.root.height} for ${count} chunks`);
    assert.ok(b.root.height <= 5, `height ${b.root.height} for ${count} chunks`);
    sameList(expand(b, b.root.id, b.root.height), entries);
    // Every emitted node is reachable from the root (nothing is written that is not used)...
    const reachable = new Set<string>();
    const mark = (id: ObjectId, h: number): void => {
      if (h === 0) return;
      reachable.add(toHex(id));
      for (const e of decodeIndexNode(b.nodes.get(toHex(id))!.bytes).entries) mark(e.id, h - 1);
    };
    mark(b.root.id, b.root.height);
    assert.deepEqual([...reachable].sort(), [...b.nodes.keys()].sort());
    // ...and children are emitted before their parents (streaming: a parent never waits).
    assert.equal(b.order[b.order.length - 1], toHex(b.root.id));
    // Interior nodes close after a boundary entry or at the end of their level.
    for (const node of b.nodes.values()) {
      const d = decodeIndexNode(node.bytes);
      for (const e of d.entries.slice(0, -1)) assert.equal(isNodeBoundary(e.id), false);
    }
    // Deterministic.
    assert.equal(toHex(build(entries).root.id), toHex(b.root.id));
  }
});

test('changing one chunk in a 5000-chunk list changes only O(log n) nodes', () => {
  const entries = fakeList(5000, 7);
  const base = build(entries);
  const height = base.root.height;
  assert.ok(base.nodes.size > 60, `${base.nodes.size} nodes`);
  for (const at of [0, 1, 2500, 4998, 4999]) {
    for (const boundary of [false, true]) {
      const changed = [...entries];
      changed[at] = { id: fakeId(9_000_000 + at, boundary), size: entries[at]!.size + 1 };
      const b = build(changed);
      const fresh = [...b.nodes.keys()].filter((k) => !base.nodes.has(k));
      // One node per level on the path to the root; a new boundary can split one node per level.
      assert.ok(
        fresh.length >= 1 && fresh.length <= 2 * Math.max(height, b.root.height),
        `at ${at} boundary ${boundary}: ${fresh.length} new nodes of ${b.nodes.size} (height ${height})`,
      );
      sameList(expand(b, b.root.id, b.root.height), changed);
    }
  }
});

test('inserting a chunk changes only O(log n) nodes (boundaries are content-defined)', () => {
  const entries = fakeList(5000, 8);
  const base = build(entries);
  const inserted = [
    ...entries.slice(0, 1234),
    { id: fakeId(42_000_000, false), size: 5 },
    ...entries.slice(1234),
  ];
  const b = build(inserted);
  const fresh = [...b.nodes.keys()].filter((k) => !base.nodes.has(k));
  assert.ok(fresh.length <= 2 * b.root.height, `${fresh.length} new nodes`);
});

test('a run without boundaries is split at MAX_NODE_ENTRIES', () => {
  const entries = Array.from({ length: MAX_NODE_ENTRIES * 2 + 5 }, (_, i) => ({
    id: fakeId(i, false),
    size: 1,
  }));
  const b = build(entries);
  assert.equal(b.root.height, 2);
  const root = decodeIndexNode(b.nodes.get(toHex(b.root.id))!.bytes);
  assert.deepEqual(
    root.entries.map((e) => e.size),
    [MAX_NODE_ENTRIES, MAX_NODE_ENTRIES, 5],
  );
  sameList(expand(b, b.root.id, 2), entries);
});

test('file index vectors of seeded streams match docs/format-vectors.json', () => {
  const vectors = JSON.parse(readFileSync(join(ROOT, 'docs', 'format-vectors.json'), 'utf8')) as {
    fileIndex: {
      nodeBoundaryBits: number;
      maxNodeEntries: number;
      files: {
        seed: number;
        length: number;
        chunks: number;
        indexNodes: number;
        root: string;
        height: number;
      }[];
    };
  };
  assert.equal(vectors.fileIndex.nodeBoundaryBits, NODE_BOUNDARY_BITS);
  assert.equal(vectors.fileIndex.maxNodeEntries, MAX_NODE_ENTRIES);
  for (const f of vectors.fileIndex.files) {
    const buf = xorshiftStream(f.seed, f.length);
    const list: IndexEntry[] = [];
    let offset = 0;
    for (const length of chunkLengths(buf)) {
      list.push({ id: hashChunk(buf.subarray(offset, offset + length)), size: length });
      offset += length;
    }
    const b = build(list);
    assert.deepEqual(
      { chunks: list.length, indexNodes: b.nodes.size, root: toHex(b.root.id), height: b.root.height },
      { chunks: f.chunks, indexNodes: f.indexNodes, root: f.root, height: f.height },
      `seed ${f.seed}, ${f.length} bytes`,
    );
  }
  // Pinned here as well: a 48 MiB stream has a two-level index.
  assert.equal(
    vectors.fileIndex.files[2]!.root,
    'b82625225d75d5470afffd74a531918df740336ff939897c43dd83c4f79715bd',
  );
});
