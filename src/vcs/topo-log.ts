// History in topological order (every commit before its parents; among those ready, newest
// first), the order a graph of the history can be drawn in. It reads every reachable commit
// first, as `git log --topo-order` does; commits are small, so that stays cheap.

import { type Commit, decodeCommit, type ObjectId, toHex } from '../core/index.ts';
import type { Repository } from '../store/index.ts';
import type { LogEntry } from './log.ts';

function later(a: LogEntry, b: LogEntry): boolean {
  return a.commit.time > b.commit.time || (a.commit.time === b.commit.time && toHex(a.id) > toHex(b.id));
}

/** A binary heap of entries, newest on top. */
class Newest {
  private readonly items: LogEntry[] = [];

  get size(): number {
    return this.items.length;
  }

  push(e: LogEntry): void {
    const a = this.items;
    a.push(e);
    for (let i = a.length - 1; i > 0; ) {
      const up = (i - 1) >> 1;
      if (!later(a[i]!, a[up]!)) break;
      [a[i], a[up]] = [a[up]!, a[i]!];
      i = up;
    }
  }

  pop(): LogEntry {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < a.length && later(a[l]!, a[best]!)) best = l;
        if (r < a.length && later(a[r]!, a[best]!)) best = r;
        if (best === i) break;
        [a[i], a[best]] = [a[best]!, a[i]!];
        i = best;
      }
    }
    return top;
  }
}

function uniqueParents(c: Commit): ObjectId[] {
  const seen = new Set<string>();
  return c.parents.filter((p) => !seen.has(toHex(p)) && seen.add(toHex(p)) !== undefined);
}

export function* topoLog(
  repo: Repository,
  start: ObjectId[],
  limit = Number.POSITIVE_INFINITY,
): Generator<LogEntry> {
  const commits = new Map<string, { id: ObjectId; commit: Commit }>();
  const children = new Map<string, number>();
  const stack = [...start];
  while (stack.length > 0) {
    const id = stack.pop()!;
    const key = toHex(id);
    if (commits.has(key)) continue;
    const commit = decodeCommit(repo.objects.read(id, 'commit'));
    commits.set(key, { id, commit });
    for (const p of uniqueParents(commit)) {
      const pk = toHex(p);
      children.set(pk, (children.get(pk) ?? 0) + 1);
      stack.push(p);
    }
  }
  const ready = new Newest();
  for (const [key, e] of commits) if (!children.has(key)) ready.push(e);
  let n = 0;
  while (ready.size > 0 && n < limit) {
    const e = ready.pop();
    yield e;
    n++;
    for (const p of uniqueParents(e.commit)) {
      const pk = toHex(p);
      const left = children.get(pk)! - 1;
      children.set(pk, left);
      if (left === 0) ready.push(commits.get(pk)!);
    }
  }
}
