// `log`: commits reachable from a revision, newest first (by time, then id), each once.

import { type Commit, decodeCommit, type ObjectId, toHex } from '../core/index.ts';
import type { Repository } from '../store/index.ts';

export interface LogEntry {
  id: ObjectId;
  commit: Commit;
}

export function* log(
  repo: Repository,
  start: ObjectId[],
  limit = Number.POSITIVE_INFINITY,
): Generator<LogEntry> {
  const seen = new Set<string>();
  const queue: LogEntry[] = [];
  const push = (id: ObjectId): void => {
    const key = toHex(id);
    if (seen.has(key)) return;
    seen.add(key);
    queue.push({ id, commit: decodeCommit(repo.objects.read(id, 'commit')) });
  };
  for (const id of start) push(id);
  let n = 0;
  while (queue.length > 0 && n < limit) {
    let best = 0;
    for (let i = 1; i < queue.length; i++) {
      const a = queue[i]!.commit;
      const b = queue[best]!.commit;
      if (a.time > b.time || (a.time === b.time && toHex(queue[i]!.id) > toHex(queue[best]!.id))) best = i;
    }
    const entry = queue.splice(best, 1)[0]!;
    yield entry;
    n++;
    for (const p of entry.commit.parents) push(p);
  }
}
