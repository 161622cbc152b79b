// Walking a large file's index in file order, for have-maps on both sides of a `have` request.
// Index nodes may name one child many times, so a few small objects can list an astronomical
// number of chunks, or (a chain of one-entry nodes below a wide one) make every chunk position
// cost many node visits. So each distinct node is read once, and a walk stops after as many
// chunk positions as one have-map describes, or after MAX_HAVE_STEPS steps (children visited
// plus positions).

import { type IndexNode, type ObjectId, toHex } from '../core/index.ts';

/** The most chunks one have-map describes (its bitmap is at most 512 KiB). */
export const MAX_HAVE_CHUNKS = 4 * 1024 * 1024;
/** The most steps (children visited plus chunk positions) one walk takes. */
export const MAX_HAVE_STEPS = 4 * MAX_HAVE_CHUNKS;

/** One visit of a lowest-level (height 1) node. */
export interface LeafVisit<T> {
  /** What `leafValue` gave for each of the node's chunks, worked out once per node. */
  values: readonly T[];
  /** Steps taken so far, this visit included. */
  steps: number;
}

/**
 * The height-1 nodes under `root`, in file order, as often as the index names them, each with
 * `leafValue` of its chunks (computed on the node's first visit only). Returns true when the
 * walk completed; false past `maxChunks` positions or MAX_HAVE_STEPS steps, or when `readNode`
 * returns null (a node that cannot be read).
 */
export function* leafVisits<T>(
  readNode: (id: ObjectId) => IndexNode | null,
  root: ObjectId,
  height: number,
  leafValue: (chunk: IndexNode['entries'][number]) => T,
  maxChunks = MAX_HAVE_CHUNKS,
): Generator<LeafVisit<T>, boolean> {
  const leaves = new Map<string, T[]>(); // height 1 node -> its chunks' values
  const children = new Map<string, ObjectId[]>(); // higher node -> its children
  let chunks = 0;
  let steps = 0;
  function* walk(id: ObjectId, h: number): Generator<LeafVisit<T>, boolean> {
    const key = toHex(id);
    if (h === 1) {
      let values = leaves.get(key);
      if (values === undefined) {
        const node = readNode(id);
        if (!node) return false;
        values = node.entries.map(leafValue);
        leaves.set(key, values);
      }
      chunks += values.length;
      steps += values.length;
      if (chunks > maxChunks || steps > MAX_HAVE_STEPS) return false;
      yield { values, steps };
      return true;
    }
    let below = children.get(key);
    if (!below) {
      const node = readNode(id);
      if (!node) return false;
      below = node.entries.map((e) => e.id);
      children.set(key, below);
    }
    for (const child of below) {
      if (++steps > MAX_HAVE_STEPS || !(yield* walk(child, h - 1))) return false;
    }
    return true;
  }
  return yield* walk(root, height);
}
