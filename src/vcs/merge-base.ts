// Ancestry questions on the commit graph: is one commit an ancestor of another, and what is the
// best common ancestor of two (the base of a three-way merge).

import { decodeCommit, idEquals, type ObjectId, toHex } from '../core/index.ts';
import type { ObjectStore } from '../store/index.ts';

function parentsOf(objects: ObjectStore, id: ObjectId): ObjectId[] {
  return decodeCommit(objects.read(id, 'commit')).parents;
}

/** Every commit reachable from `start`, itself included, as hex ids. */
export function ancestors(objects: ObjectStore, start: ObjectId): Set<string> {
  const seen = new Set<string>();
  const stack = [start];
  while (stack.length > 0) {
    const id = stack.pop()!;
    const key = toHex(id);
    if (seen.has(key)) continue;
    seen.add(key);
    stack.push(...parentsOf(objects, id));
  }
  return seen;
}

/** Whether `a` is `b` or one of its ancestors. */
export function isAncestor(objects: ObjectStore, a: ObjectId, b: ObjectId): boolean {
  return isAncestorOfAny(objects, a, [b]);
}

/** Whether `a` is one of `tips` or an ancestor of one: one walk, each commit visited once. */
export function isAncestorOfAny(objects: ObjectStore, a: ObjectId, tips: ObjectId[]): boolean {
  const target = toHex(a);
  const seen = new Set<string>();
  const stack = [...tips];
  while (stack.length > 0) {
    const id = stack.pop()!;
    const key = toHex(id);
    if (key === target) return true;
    if (seen.has(key)) continue;
    seen.add(key);
    stack.push(...parentsOf(objects, id));
  }
  return false;
}

/**
 * The best common ancestor of two commits: among the common ancestors that no other common
 * ancestor descends from, the newest. Undefined for unrelated histories.
 */
export function mergeBase(objects: ObjectStore, a: ObjectId, b: ObjectId): ObjectId | undefined {
  const ofA = ancestors(objects, a);
  // Walk b's history; stop at the first common commits on each path.
  const candidates = new Map<string, ObjectId>();
  const seen = new Set<string>();
  const stack = [b];
  while (stack.length > 0) {
    const id = stack.pop()!;
    const key = toHex(id);
    if (seen.has(key)) continue;
    seen.add(key);
    if (ofA.has(key)) {
      candidates.set(key, id);
      continue;
    }
    stack.push(...parentsOf(objects, id));
  }
  const list = [...candidates.values()];
  const best = list.filter(
    (c) => !list.some((other) => !idEquals(other, c) && isAncestor(objects, c, other)),
  );
  let chosen: ObjectId | undefined;
  let chosenTime = -1;
  for (const c of best) {
    const time = decodeCommit(objects.read(c, 'commit')).time;
    if (time > chosenTime || (time === chosenTime && chosen && toHex(c) > toHex(chosen))) {
      chosen = c;
      chosenTime = time;
    }
  }
  return chosen;
}

/**
 * How many commits `a` has that `b` has not (ahead) and `b` has that `a` has not (behind), as
 * git's "ahead 2, behind 1". Both histories are walked together, newest first, each commit
 * marked with the sides it is reachable from, until every commit still queued is reachable from
 * both: the walk costs what the two sides differ by, not their histories. Past `limit` commits
 * it stops, and the counts are lower bounds (`exact` false).
 */
export function aheadBehind(
  objects: ObjectStore,
  a: ObjectId,
  b: ObjectId,
  limit = 2000,
): { ahead: number; behind: number; exact: boolean } {
  if (idEquals(a, b)) return { ahead: 0, behind: 0, exact: true };
  const A = 1;
  const B = 2;
  const flags = new Map<string, number>();
  const times = new Map<string, number>();
  const queue: { id: ObjectId; key: string }[] = [];
  const add = (id: ObjectId, flag: number): void => {
    const key = toHex(id);
    const had = flags.get(key);
    if (had === undefined) {
      times.set(key, decodeCommit(objects.read(id, 'commit')).time);
      flags.set(key, flag);
      queue.push({ id, key });
    } else flags.set(key, had | flag);
  };
  add(a, A);
  add(b, B);
  let ahead = 0;
  let behind = 0;
  for (let steps = 0; queue.length > 0; steps++) {
    if (queue.every((q) => flags.get(q.key) === (A | B))) return { ahead, behind, exact: true };
    if (steps >= limit) return { ahead, behind, exact: false };
    // The newest first: a commit's descendants on both sides are marked before it is counted.
    let best = 0;
    for (let i = 1; i < queue.length; i++)
      if (times.get(queue[i]!.key)! > times.get(queue[best]!.key)!) best = i;
    const { id, key } = queue.splice(best, 1)[0]!;
    const flag = flags.get(key)!;
    if (flag === A) ahead++;
    else if (flag === B) behind++;
    for (const p of parentsOf(objects, id)) add(p, flag);
  }
  return { ahead, behind, exact: true };
}
