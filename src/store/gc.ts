// The disk half of garbage collection: a live set kept in a temporary SQLite table (so memory
// stays bounded however many chunks a repository holds), and pack compaction. Deciding what is
// live is the caller's job (vcs/gc.ts walks history); this module only drops what it is told
// is dead, and orders every step so that a crash at any instant leaves a valid repository.

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { type ObjectId, ShoalError } from '../core/index.ts';
import { transaction } from './db.ts';
import { PACK_MAGIC, packFileName, RECORD_HEADER } from './pack.ts';
import type { Repository } from './repository.ts';

const MARK_BATCH = 10_000;

/** Object ids known to be live, in a connection-private temporary table. */
export class LiveSet {
  private readonly db: DatabaseSync;
  private readonly qAdd: StatementSync;
  private readonly qHas: StatementSync;
  private inBatch = 0;

  constructor(db: DatabaseSync) {
    this.db = db;
    db.exec('CREATE TEMP TABLE IF NOT EXISTS gc_live (id BLOB PRIMARY KEY) WITHOUT ROWID');
    db.exec('DELETE FROM temp.gc_live');
    this.qAdd = db.prepare('INSERT OR IGNORE INTO temp.gc_live (id) VALUES (?)');
    this.qHas = db.prepare('SELECT 1 AS x FROM temp.gc_live WHERE id = ?');
  }

  /** Mark an id live; false when it already was (so a walk can skip what it has seen). */
  add(id: ObjectId): boolean {
    // Inserts are grouped into transactions of the temporary database: one per insert is slow.
    if (this.inBatch === 0) this.db.exec('BEGIN');
    const added = Number(this.qAdd.run(id).changes) > 0;
    if (++this.inBatch >= MARK_BATCH) this.commit();
    return added;
  }

  has(id: ObjectId): boolean {
    return this.qHas.get(id) !== undefined;
  }

  count(): number {
    this.commit();
    return (this.db.prepare('SELECT COUNT(*) AS n FROM temp.gc_live').get() as { n: number }).n;
  }

  /** Make every mark visible to the queries that follow. */
  commit(): void {
    if (this.inBatch === 0) return;
    this.inBatch = 0;
    this.db.exec('COMMIT');
  }

  dispose(): void {
    if (this.inBatch > 0) {
      this.inBatch = 0;
      this.db.exec('ROLLBACK');
    }
    this.db.exec('DROP TABLE IF EXISTS temp.gc_live');
  }
}

export interface PackUsage {
  pack: number;
  size: number; // bytes of the pack file the index vouches for
  liveBytes: number;
  objects: number;
  liveObjects: number;
}

export interface CompactOptions {
  dryRun?: boolean;
  /** Rewrite a pack when less than this fraction of its bytes is live. */
  threshold?: number;
  /** Rewrite every pack that holds any dead record, whatever its live fraction. */
  anyDead?: boolean;
  onProgress?: (p: { phase: string; bytesDone: number; bytesTotal?: number }) => void;
  signal?: AbortSignal;
  /** More changes to commit in the final transaction (the reflog expiry). */
  finalize?: (db: DatabaseSync) => void;
}

export interface CompactResult {
  objectsRemoved: number;
  bytesRemoved: number; // stored bytes (with record headers) of the objects dropped from the index
  packsRewritten: number[];
  packsWritten: number[];
  bytesCopied: number;
  bytesReclaimed: number; // disk bytes freed: removed packs minus their replacements
}

const RECORD = RECORD_HEADER;

/** How much of each pack is live, by the marks in `live`. */
export function packUsage(db: DatabaseSync): PackUsage[] {
  return db
    .prepare(
      `SELECT p.id AS pack, p.size AS size,
              COALESCE(SUM(CASE WHEN l.id IS NOT NULL THEN o.stored + ${RECORD} END), 0) AS liveBytes,
              COUNT(o.id) AS objects, COUNT(l.id) AS liveObjects
         FROM packs p
         LEFT JOIN objects o ON o.pack = p.id
         LEFT JOIN temp.gc_live l ON l.id = o.id
        GROUP BY p.id ORDER BY p.id`,
    )
    .all() as unknown as PackUsage[];
}

/**
 * Drop every object not in `live` from the index and rewrite the packs whose live fraction is
 * below the threshold. The caller holds the writer lock. Order of operations:
 *   1. live records of those packs are copied into fresh packs; each copy is fsynced before
 *      its row is repointed (the session's checkpoints), so every row always names good bytes;
 *   2. one transaction deletes the dead rows and the old packs' rows, after checking that no
 *      live row still points into an old pack;
 *   3. only then are the old pack files unlinked. A crash before 3 leaves files that no row
 *      lists, which recovery deletes on the next open for writing.
 * Readers of other processes keep working: an open fd survives the unlink, and a reader that
 * finds a pack gone looks its row up again (ObjectStore.read).
 */
export async function compactPacks(
  repo: Repository,
  live: LiveSet,
  opts: CompactOptions = {},
): Promise<CompactResult> {
  const db = repo.db;
  live.commit();
  const threshold = opts.threshold ?? 0.8;
  const dead = db
    .prepare(
      `SELECT COUNT(*) AS n, COALESCE(SUM(stored + ${RECORD}), 0) AS bytes FROM objects
        WHERE id NOT IN (SELECT id FROM temp.gc_live)`,
    )
    .get() as { n: number; bytes: number };
  const usage = packUsage(db);
  const chosen = usage.filter((u) =>
    opts.anyDead ? u.size - u.liveBytes > PACK_MAGIC.length : u.liveBytes < u.size * threshold,
  );
  const toCopy = chosen.reduce((n, u) => n + u.liveBytes, 0);
  const result: CompactResult = {
    objectsRemoved: dead.n,
    bytesRemoved: dead.bytes,
    packsRewritten: chosen.map((u) => u.pack),
    packsWritten: [],
    bytesCopied: 0,
    bytesReclaimed: 0,
  };
  const removedBytes = chosen.reduce((n, u) => n + u.size, 0);
  if (opts.dryRun) {
    // A copy costs its bytes plus one pack header per new pack; estimate one.
    result.bytesCopied = toCopy;
    result.bytesReclaimed = Math.max(0, removedBytes - toCopy - (toCopy > 0 ? 8 : 0));
    return result;
  }

  let written = 0;
  if (toCopy > 0) {
    const session = await repo.objects.beginSession({ newPack: true });
    const firstNew = session.currentPack;
    try {
      const q = db.prepare(
        `SELECT o.id AS id FROM objects o JOIN temp.gc_live l ON l.id = o.id
          WHERE o.pack = ? ORDER BY o.offset`,
      );
      for (const u of chosen) {
        for (const row of q.all(u.pack) as { id: Uint8Array }[]) {
          if (opts.signal?.aborted) throw new ShoalError('ABORTED', 'interrupted');
          await session.copyRecord(row.id);
          opts.onProgress?.({ phase: 'copy', bytesDone: session.bytesWritten, bytesTotal: toCopy });
        }
      }
      await session.close();
    } catch (err) {
      await session.abort();
      throw err;
    }
    result.bytesCopied = session.bytesWritten;
    const fresh = db.prepare('SELECT id, size FROM packs WHERE id >= ?').all(firstNew) as {
      id: number;
      size: number;
    }[];
    result.packsWritten = fresh.map((p) => p.id);
    written = fresh.reduce((n, p) => n + p.size, 0);
  }

  transaction(db, () => {
    db.prepare('DELETE FROM objects WHERE id NOT IN (SELECT id FROM temp.gc_live)').run();
    const left = db.prepare('SELECT COUNT(*) AS n FROM objects WHERE pack = ?');
    const drop = db.prepare('DELETE FROM packs WHERE id = ?');
    for (const u of chosen) {
      const n = (left.get(u.pack) as { n: number }).n;
      if (n > 0) throw new Error(`gc: pack ${u.pack} still holds ${n} live objects after copying`);
      drop.run(u.pack);
    }
    opts.finalize?.(db);
  });
  for (const u of chosen) {
    repo.objects.forgetFd(u.pack);
    rmSync(join(repo.objects.packDir, packFileName(u.pack)), { force: true });
  }
  result.bytesReclaimed = removedBytes - written;
  return result;
}
