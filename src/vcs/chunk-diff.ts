// How many bytes of chunks differ between two versions of a file, reading only the index nodes
// that differ. Both index trees are walked top down as two frontiers; whatever appears in both
// (same id, so the same subtree, wherever it sits in the file) is dropped before it is opened,
// and the tallest remaining nodes are opened next. An edit in one place of a 10 GiB file opens
// a handful of nodes per level, never the whole index.

import { decodeCommit, decodeIndexNode, type IndexNode, type ObjectId, toHex } from '../core/index.ts';
import type { ObjectStore } from '../store/index.ts';
import type { ContentRef } from './content.ts';
import { ancestors } from './merge-base.ts';
import { diffTrees } from './trees.ts';

export interface ChunkDiff {
  /** Bytes of the new version's chunks that the old version does not have. */
  addedBytes: number;
  /** Bytes of the old version's chunks that the new version does not have. */
  removedBytes: number;
  /** Index nodes opened (the cost of the comparison). */
  nodesRead: number;
}

export type NodeReader = (id: ObjectId) => IndexNode;

export function storeNodeReader(objects: ObjectStore): NodeReader {
  return (id) => decodeIndexNode(objects.read(id, 'node'));
}

interface Item {
  key: string;
  id: ObjectId;
  height: number;
  size: number;
}

function item(ref: ContentRef): Item {
  return { key: toHex(ref.id), id: ref.id, height: ref.height, size: ref.size };
}

/** Remove the items the two frontiers share (as multisets). */
function dropCommon(a: Item[], b: Item[]): [Item[], Item[]] {
  const counts = new Map<string, number>();
  for (const x of a) counts.set(x.key, (counts.get(x.key) ?? 0) + 1);
  const keptB: Item[] = [];
  const matched = new Map<string, number>();
  for (const y of b) {
    const n = counts.get(y.key) ?? 0;
    if (n > 0) {
      counts.set(y.key, n - 1);
      matched.set(y.key, (matched.get(y.key) ?? 0) + 1);
    } else keptB.push(y);
  }
  const keptA: Item[] = [];
  for (const x of a) {
    const n = matched.get(x.key) ?? 0;
    if (n > 0) matched.set(x.key, n - 1);
    else keptA.push(x);
  }
  return [keptA, keptB];
}

export function diffChunks(read: NodeReader, before: ContentRef | null, after: ContentRef | null): ChunkDiff {
  let a = before ? [item(before)] : [];
  let b = after ? [item(after)] : [];
  let nodesRead = 0;
  const open = (list: Item[], height: number): Item[] => {
    const out: Item[] = [];
    for (const x of list) {
      if (x.height !== height) {
        out.push(x);
        continue;
      }
      const node = read(x.id);
      nodesRead++;
      for (const e of node.entries)
        out.push({ key: toHex(e.id), id: e.id, height: height - 1, size: e.size });
    }
    return out;
  };
  for (;;) {
    [a, b] = dropCommon(a, b);
    if (a.length === 0 || b.length === 0) break; // nothing left to match: sizes say it all
    let tallest = 0;
    for (const x of a) if (x.height > tallest) tallest = x.height;
    for (const x of b) if (x.height > tallest) tallest = x.height;
    if (tallest === 0) break;
    a = open(a, tallest);
    b = open(b, tallest);
  }
  const sum = (list: Item[]): number => list.reduce((n, x) => n + x.size, 0);
  return { addedBytes: sum(b), removedBytes: sum(a), nodesRead };
}

/**
 * About how many bytes of chunks the commits reachable from `to` but from none of `from` bring: for
 * each such commit, the chunk bytes of its files that its first parent's files lack (in a merge,
 * of the files that differ from every parent's). A chunk that
 * several of those commits add is counted once per commit, so this errs high; it is what a push
 * of `to` to a peer that has the commits `from` sends, give or take, for progress and an ETA.
 */
export function newChunkBytes(objects: ObjectStore, from: readonly ObjectId[], to: ObjectId): number {
  const known = new Set<string>();
  for (const f of from) for (const hex of ancestors(objects, f)) known.add(hex);
  const read = storeNodeReader(objects);
  const seen = new Set<string>();
  const todo = [to];
  let bytes = 0;
  while (todo.length > 0) {
    const id = todo.pop()!;
    const hex = toHex(id);
    if (known.has(hex) || seen.has(hex)) continue;
    seen.add(hex);
    const commit = decodeCommit(objects.read(id, 'commit'));
    const [parent, ...others] = commit.parents.map((p) => decodeCommit(objects.read(p, 'commit')).tree);
    // A merge's file that equals the other side's brings nothing new: that side's commits are
    // counted on their own (or the peer has them). Only paths changed from every parent count.
    const fromOthers = others.map((t) => new Set([...diffTrees(objects, t, commit.tree)].map((c) => c.path)));
    for (const c of diffTrees(objects, parent, commit.tree)) {
      if (c.new && fromOthers.every((changed) => changed.has(c.path)))
        bytes += diffChunks(read, c.old ?? null, c.new).addedBytes;
    }
    todo.push(...commit.parents);
  }
  return bytes;
}
