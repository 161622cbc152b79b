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

/** One visit of a lowest-level (height 1) node; `node` is given the first time only. */
export interface LeafVisit {
  key: string;
  node: IndexNode | undefined;
  /** Steps taken so far, this visit included. */
  steps: number;
}

/**
 * The height-1 nodes under `root`, in file order, as often as the index names them. Returns true
 * when the walk completed; false past `maxChunks` positions or MAX_HAVE_STEPS steps, or when
 * `readNode` returns null (a node that cannot be read).
 */
export function* leafVisits(
  readNode: (id: ObjectId) => IndexNode | null,
  root: ObjectId,
  height: number,
  maxChunks = MAX_HAVE_CHUNKS,
): Generator<LeafVisit, boolean> {
  const counts = new Map<string, number>(); // height 1 node -> its number of chunks
  const children = new Map<string, ObjectId[]>(); // higher node -> its children
  let chunks = 0;
  let steps = 0;
  function* walk(id: ObjectId, h: number): Generator<LeafVisit, boolean> {
    const key = toHex(id);
    if (h === 1) {
      let count = counts.get(key);
      let node: IndexNode | undefined;
      if (count === undefined) {
        node = readNode(id) ?? undefined;
        if (!node) return false;
        count = node.entries.length;
        counts.set(key, count);
      }
      chunks += count;
      steps += count;
      if (chunks > maxChunks || steps > MAX_HAVE_STEPS) return false;
      yield { key, node, steps };
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
