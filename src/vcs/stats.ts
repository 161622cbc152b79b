// `stats`: what the repository holds and what deduplication saved. Logical bytes are the sum
// of every reachable commit's tree size: what storing each version whole would cost.

import { decodeCommit, type ObjectId, toHex } from '../core/index.ts';
import type { Repository } from '../store/index.ts';
import { readTree } from './trees.ts';

export interface Stats {
  commits: number;
  objects: number;
  chunks: number;
  uniqueBytes: number;
  logicalBytes: number;
  storedBytes: number;
  /** The pack files' committed bytes: stored bytes plus what unreachable records still take up. */
  packBytes: number;
  dedupRatio: number;
}

export function stats(repo: Repository): Stats {
  const t = repo.objects.totals();
  const chunkBytes = (
    repo.db.prepare('SELECT COALESCE(SUM(size), 0) AS n FROM objects WHERE type = 0').get() as { n: number }
  ).n;
  const seen = new Set<string>();
  const pending: ObjectId[] = repo.refs.list().map((r) => r.id);
  const head = repo.refs.headCommit();
  if (head) pending.push(head);
  let logical = 0;
  while (pending.length > 0) {
    const id = pending.pop()!;
    const key = toHex(id);
    if (seen.has(key) || !repo.objects.has(id)) continue;
    seen.add(key);
    const c = decodeCommit(repo.objects.read(id, 'commit'));
    for (const e of readTree(repo.objects, c.tree).entries) logical += e.size;
    pending.push(...c.parents);
  }
  return {
    commits: seen.size,
    objects: t.objects,
    chunks: t.chunks,
    uniqueBytes: chunkBytes,
    logicalBytes: logical,
    storedBytes: t.stored,
    packBytes: (repo.db.prepare('SELECT COALESCE(SUM(size), 0) AS n FROM packs').get() as { n: number }).n,
    dedupRatio: t.stored > 0 ? logical / t.stored : 0,
  };
}
