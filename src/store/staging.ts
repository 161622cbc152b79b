// The staging index: for every tracked path, the content it will have in the next commit and
// the stat data of the working file it was read from, so unchanged files are never re-read.

import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { type EntryKind, fromHex, type ObjectId, toHex } from '../core/index.ts';
import { transaction } from './db.ts';

export interface StatStamp {
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  size: number;
}

export interface StagedEntry {
  path: string;
  kind: EntryKind;
  executable: boolean;
  size: number;
  id: ObjectId;
  height: number;
  stamp: StatStamp | null; // null: not known to match any working file
}

interface Row {
  path: string;
  kind: string;
  executable: number;
  size: number;
  id: Uint8Array;
  height: number;
  mtime_ns: string;
  ctime_ns: string;
  ino: string;
}

function fromRow(r: Row): StagedEntry {
  return {
    path: r.path,
    kind: r.kind as EntryKind,
    executable: r.executable === 1,
    size: r.size,
    id: r.id,
    height: r.height,
    stamp:
      r.mtime_ns === ''
        ? null
        : { mtimeNs: BigInt(r.mtime_ns), ctimeNs: BigInt(r.ctime_ns), ino: BigInt(r.ino), size: r.size },
  };
}

export class Staging {
  private readonly db: DatabaseSync;
  private readonly qPut: StatementSync;
  private readonly qUnder: StatementSync;
  private readonly qHas: StatementSync;
  private readonly qGet: StatementSync;
  private readonly seeks = new Map<string, StatementSync>();

  constructor(db: DatabaseSync) {
    this.db = db;
    this.qUnder = db.prepare('SELECT 1 AS x FROM staging WHERE path >= ? AND path < ? LIMIT 1');
    this.qHas = db.prepare('SELECT 1 AS x FROM staging WHERE path = ?');
    this.qGet = db.prepare('SELECT * FROM staging WHERE path = ?');
    this.qPut = db.prepare(
      // An upsert, not INSERT OR REPLACE: a row whose content stays the same is updated in place,
      // so the triggers that track the index's content (see matchingTree) leave it alone.
      `INSERT INTO staging (path, kind, executable, size, id, height, mtime_ns, ctime_ns, ino) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (path) DO UPDATE SET kind = excluded.kind, executable = excluded.executable, size = excluded.size,
         id = excluded.id, height = excluded.height, mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, ino = excluded.ino`,
    );
  }

  /**
   * Every entry in path order (SQLite's byte order, which keeps each directory's paths together),
   * read in pages: nothing holds a cursor open while the caller writes to the repository.
   */
  *entries(): Generator<StagedEntry> {
    yield* this.between('', null);
  }

  /** The entry at `path` and every entry below it as a directory, in path order, in pages. */
  *entriesUnder(path: string): Generator<StagedEntry> {
    if (path === '') {
      yield* this.entries();
      return;
    }
    const exact = this.get(path);
    if (exact) yield exact;
    // Paths below are those after 'path/' and before 'path0' ('0' follows '/'), in byte order.
    yield* this.between(`${path}/`, `${path}0`);
  }

  /** The entries after `after` and (unless null) before `before`, in path order, in pages. */
  private *between(after: string, before: string | null): Generator<StagedEntry> {
    const page =
      before === null
        ? this.db.prepare('SELECT * FROM staging WHERE path > ? ORDER BY path LIMIT 1000')
        : this.db.prepare('SELECT * FROM staging WHERE path > ? AND path < ? ORDER BY path LIMIT 1000');
    for (;;) {
      const rows = (before === null ? page.all(after) : page.all(after, before)) as unknown as Row[];
      for (const r of rows) yield fromRow(r);
      if (rows.length < 1000) return;
      after = rows[rows.length - 1]!.path;
    }
  }

  /** Whether anything is staged below the directory `dir`. */
  hasUnder(dir: string): boolean {
    // Paths below `dir` are those from 'dir/' up to 'dir0' ('0' follows '/'), in byte order.
    return this.qUnder.get(`${dir}/`, `${dir}0`) !== undefined;
  }

  /** Whether `path` itself is staged. */
  has(path: string): boolean {
    return this.qHas.get(path) !== undefined;
  }

  get(path: string): StagedEntry | undefined {
    const r = this.qGet.get(path) as Row | undefined;
    return r ? fromRow(r) : undefined;
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM staging').get() as { n: number }).n;
  }

  /**
   * A number that changes whenever a path is staged or unstaged or its kind, executable bit or id
   * changes (SQLite triggers keep it, see db.ts), and not when only a stat stamp is refreshed.
   */
  generation(): string {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'staging_generation'").get() as
      | { value: string }
      | undefined;
    return row?.value ?? '0';
  }

  /**
   * The tree the index was last found equal to (same paths, kinds, executable bits and ids), if
   * the index has not changed since: `status` then has no staged changes to look for.
   */
  matchingTree(): ObjectId | undefined {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'staging_tree'").get() as
      | { value: string }
      | undefined;
    if (!row) return undefined;
    const [hex, generation] = row.value.split(' ');
    if (generation !== this.generation() || hex === undefined) return undefined;
    try {
      return fromHex(hex);
    } catch {
      return undefined; // not an id: as if nothing were recorded
    }
  }

  /**
   * Record that the index, as of `generation` (read before reading it), equals `tree`. Only a
   * hint: when another connection is writing, this waits a moment at most, then throws.
   */
  recordMatchingTree(tree: ObjectId, generation: string): void {
    const { timeout } = this.db.prepare('PRAGMA busy_timeout').get() as { timeout: number };
    this.db.exec('PRAGMA busy_timeout = 250');
    try {
      this.db
        .prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('staging_tree', ?)")
        .run(`${toHex(tree)} ${generation}`);
    } finally {
      this.db.exec(`PRAGMA busy_timeout = ${Number(timeout)}`);
    }
  }

  /**
   * The tree the last commit made from the index, and the directories with changes since (see
   * staging_dirty in db.ts); undefined when no commit recorded one.
   */
  committedBase(): { tree: ObjectId; dirty: string[] } | undefined {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'staging_base'").get() as
      | { value: string }
      | undefined;
    if (!row) return undefined;
    let tree: ObjectId;
    try {
      tree = fromHex(row.value);
    } catch {
      return undefined; // not an id: as if nothing were recorded
    }
    const dirty = (this.db.prepare('SELECT dir FROM staging_dirty').all() as { dir: string }[]).map(
      (r) => r.dir,
    );
    return { tree, dirty };
  }

  /** Record that the index, as it is now, makes `tree`: no directory has changes since. */
  recordCommittedBase(tree: ObjectId): void {
    transaction(this.db, () => {
      this.db.exec('DELETE FROM staging_dirty');
      this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('staging_base', ?)").run(toHex(tree));
    });
  }

  /**
   * The first entry at or after `from` (or after it, with `exclusive`) and before `before`, in
   * path order: commit seeks through the index with it, skipping directories it need not read.
   */
  seek(from: string, exclusive: boolean, before: string | null): StagedEntry | undefined {
    const op = exclusive ? '>' : '>=';
    const sql =
      before === null
        ? `SELECT * FROM staging WHERE path ${op} ? ORDER BY path LIMIT 1`
        : `SELECT * FROM staging WHERE path ${op} ? AND path < ? ORDER BY path LIMIT 1`;
    let q = this.seeks.get(sql);
    if (!q) {
      q = this.db.prepare(sql);
      this.seeks.set(sql, q);
    }
    const r = (before === null ? q.get(from) : q.get(from, before)) as Row | undefined;
    return r ? fromRow(r) : undefined;
  }

  /** Apply puts and removals in one transaction. */
  apply(puts: StagedEntry[], removals: string[] = []): void {
    if (puts.length === 0 && removals.length === 0) return;
    transaction(this.db, () => {
      const del = this.db.prepare('DELETE FROM staging WHERE path = ?');
      for (const p of removals) del.run(p);
      for (const e of puts) this.put(e);
    });
  }

  private put(e: StagedEntry): void {
    const s = e.stamp;
    this.qPut.run(
      e.path,
      e.kind,
      e.executable ? 1 : 0,
      e.size,
      e.id,
      e.height,
      s ? String(s.mtimeNs) : '',
      s ? String(s.ctimeNs) : '',
      s ? String(s.ino) : '',
    );
  }

  /** Replace the whole index (checkout, reset); `entries` may be a generator, read once. */
  replace(entries: Iterable<StagedEntry>): void {
    transaction(this.db, () => {
      this.db.exec('DELETE FROM staging');
      for (const e of entries) this.put(e);
    });
  }
}
