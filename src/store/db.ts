// The SQLite index of a repository (node:sqlite, WAL): which pack holds each object, refs,
// HEAD, the staging index and format metadata. Schema changes bump SCHEMA_VERSION.

import { accessSync, constants, statfsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { pathToFileURL } from 'node:url';
import { isShoalError, ShoalError } from '../core/index.ts';

export const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS packs (
  id INTEGER PRIMARY KEY,
  size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS objects (
  id BLOB PRIMARY KEY,
  type INTEGER NOT NULL,
  pack INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  stored INTEGER NOT NULL,
  size INTEGER NOT NULL,
  codec INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS objects_by_pack ON objects (pack);
CREATE TABLE IF NOT EXISTS damaged (id BLOB PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS refs (name TEXT PRIMARY KEY, id BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reflog (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  old BLOB,
  new BLOB,
  time INTEGER NOT NULL,
  message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS signed_refs (
  signer BLOB PRIMARY KEY,
  seq INTEGER NOT NULL,
  doc BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS signed_refs_previous (
  signer BLOB PRIMARY KEY,
  seq INTEGER NOT NULL,
  doc BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS staging (
  path TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  executable INTEGER NOT NULL,
  size INTEGER NOT NULL,
  id BLOB NOT NULL,
  height INTEGER NOT NULL,
  mtime_ns TEXT NOT NULL,
  ctime_ns TEXT NOT NULL,
  ino TEXT NOT NULL
) WITHOUT ROWID;
${(['INSERT', 'DELETE', 'UPDATE'] as const).map(stagingTrigger).join('\n')}
CREATE TABLE IF NOT EXISTS staging_dirty (dir TEXT PRIMARY KEY) WITHOUT ROWID;
${(['INSERT', 'DELETE', 'UPDATE'] as const).map(dirtyTrigger).join('\n')}
`;

/** SQL for the directory of a staged path ('' for the root): everything before its last '/'. */
function parentOf(path: string): string {
  return `substr(${path}, 1, length(rtrim(${path}, replace(${path}, '/', ''))) - 1)`;
}

/**
 * A trigger that records in staging_dirty the directory of every path that enters or leaves the
 * staging index or whose kind, executable bit or id changes. A commit clears the table when it
 * records the tree it made (meta.staging_base): a directory not in the table, nor above one that
 * is, still has that tree's subtree, so the next commit reuses it instead of hashing it again.
 * Being in the database, it fires whichever program writes the table.
 */
function dirtyTrigger(event: 'INSERT' | 'DELETE' | 'UPDATE'): string {
  const when =
    event === 'UPDATE'
      ? ' WHEN OLD.path IS NOT NEW.path OR OLD.kind IS NOT NEW.kind OR OLD.executable IS NOT NEW.executable OR OLD.id IS NOT NEW.id'
      : '';
  const dirs = [...(event === 'INSERT' ? [] : ['OLD.path']), ...(event === 'DELETE' ? [] : ['NEW.path'])];
  return `CREATE TRIGGER IF NOT EXISTS staging_dirty_${event.toLowerCase()} AFTER ${event} ON staging${when} BEGIN
${dirs.map((d) => `  INSERT INTO staging_dirty (dir) VALUES (${parentOf(d)}) ON CONFLICT (dir) DO NOTHING;`).join('\n')}
END;`;
}

/**
 * A trigger that bumps meta.staging_generation whenever a path enters or leaves the staging
 * index or its kind, executable bit or id changes; a stamp refresh leaves it alone. Being in the
 * database, it fires whichever program writes the table (Staging.matchingTree relies on this).
 */
function stagingTrigger(event: 'INSERT' | 'DELETE' | 'UPDATE'): string {
  const when =
    event === 'UPDATE'
      ? ' WHEN OLD.path IS NOT NEW.path OR OLD.kind IS NOT NEW.kind OR OLD.executable IS NOT NEW.executable OR OLD.id IS NOT NEW.id'
      : '';
  return `CREATE TRIGGER IF NOT EXISTS staging_${event.toLowerCase()} AFTER ${event} ON staging${when} BEGIN
  INSERT INTO meta (key, value) VALUES ('staging_generation', '1')
    ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1;
END;`;
}

export function openDatabase(file: string, create: boolean): DatabaseSync {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(file, { open: true, timeout: 10_000 });
  } catch (err) {
    throw new ShoalError('CORRUPT_OBJECT', `cannot open repository index: ${(err as Error).message}`);
  }
  // Closed on every failure below: the daemon opens repositories for as long as it runs.
  try {
    // An index that holds no shoal tables (emptied, truncated to nothing, replaced) is damage to
    // report, not a new index to fill with an empty schema: that would lose the evidence, and
    // the repository would look as if it had no history.
    if (
      !create &&
      db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() === undefined
    ) {
      throw new ShoalError(
        'CORRUPT_OBJECT',
        `the repository index ${file} is corrupt: it holds no shoal tables (emptied or replaced?)`,
      );
    }
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = FULL');
    db.exec('PRAGMA foreign_keys = OFF');
    // Every statement is CREATE ... IF NOT EXISTS, so older repositories gain new tables.
    db.exec(SCHEMA);
    if (create) {
      db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(
        'schema',
        String(SCHEMA_VERSION),
      );
    } else {
      const row = db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as
        | { value: string }
        | undefined;
      if (!row)
        throw new ShoalError(
          'CORRUPT_OBJECT',
          `the repository index ${file} is corrupt: it has no schema version`,
        );
      if (Number(row.value) > SCHEMA_VERSION) {
        throw new ShoalError(
          'UNSUPPORTED_FORMAT',
          `repository index schema ${row.value} is newer than this shoal understands (${SCHEMA_VERSION})`,
        );
      }
    }
  } catch (err) {
    db.close();
    const mapped = readOnlyOnOpen(corruptOnOpen(diskFullOnOpen(err, file), file), file);
    const readable = !create && isShoalError(mapped, 'DISK_FULL') ? openForReadingOnly(file) : undefined;
    if (readable) return readable;
    throw mapped;
  }
  return db;
}

/** Whether this process opened an index for reading only because the disk is full. */
let openedOnFullDisk = false;

/**
 * On a full disk SQLite cannot make the shared-memory file a WAL database needs: the index is
 * then opened as it is on disk, for reading only, so that log, ls, cat and checkout to another
 * disk still work. Only when no write-ahead log is waiting to be folded in (a clean last close
 * leaves none), since reading the file alone would then miss its newest transactions.
 */
function openForReadingOnly(file: string): DatabaseSync | undefined {
  try {
    if ((statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0) > 0) return undefined;
    const url = pathToFileURL(file);
    url.searchParams.set('immutable', '1');
    const db = new DatabaseSync(url, { readOnly: true });
    if (
      db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() === undefined
    ) {
      db.close();
      return undefined;
    }
    openedOnFullDisk = true;
    return db;
  } catch {
    return undefined;
  }
}

/** "database disk image is malformed" and "file is not a database" name the file that is. */
function corruptOnOpen(err: unknown, file: string): unknown {
  const code = sqliteCode(err);
  if (code !== SQLITE_CORRUPT && code !== SQLITE_NOTADB) return err;
  return new ShoalError(
    'CORRUPT_OBJECT',
    `the repository index ${file} is corrupt: ${(err as Error).message}`,
  );
}

const SQLITE_CORRUPT = 11;
const SQLITE_NOTADB = 26;

/**
 * "attempt to write a readonly database" or "unable to open database file" where the index or
 * its directory cannot be written: opening the index in WAL mode creates files next to it, so
 * a command that only reads needs to write there too.
 */
function readOnlyOnOpen(err: unknown, file: string): unknown {
  const code = sqliteCode(err);
  if (code !== SQLITE_READONLY && code !== SQLITE_CANTOPEN) return err;
  let why: string | undefined;
  for (const path of [dirname(file), file]) {
    try {
      accessSync(path, constants.W_OK);
    } catch (e) {
      const errno = (e as NodeJS.ErrnoException).code;
      if (errno === 'EROFS') why = 'read-only file system';
      else if (errno === 'EACCES' || errno === 'EPERM') why ??= 'permission denied';
    }
  }
  if (why === undefined) {
    if (code === SQLITE_CANTOPEN) return err;
    why = 'permission denied';
  }
  return new ShoalError(
    'PERMISSION_DENIED',
    `cannot write the repository index ${file} or its directory (${why}); shoal needs to, even to read it`,
  );
}

const SQLITE_READONLY = 8;
const SQLITE_CANTOPEN = 14;

/**
 * A failure of the index after it opened, said plainly where it is the user's to fix: SQLite
 * opens an index it cannot write read-only, and only the first write says so ("attempt to write
 * a readonly database"). SQLite gives its shared-memory file the index's permissions, so both
 * (and the log) need fixing.
 */
export function indexFailure(err: unknown): ShoalError | undefined {
  const code = sqliteCode(err);
  if (code === SQLITE_CORRUPT || code === SQLITE_NOTADB) return damagedIndex((err as Error).message);
  if (code !== SQLITE_READONLY) return undefined;
  if (openedOnFullDisk) {
    // (Per process: in a daemon serving several repositories this may be another one's.)
    return new ShoalError(
      'DISK_FULL',
      'cannot write the repository index: the disk is full (it could only be opened for reading; free some space and run the command again), or it is read-only to you',
    );
  }
  return new ShoalError(
    'PERMISSION_DENIED',
    'cannot write the repository index: .shoal/index.db (or index.db-shm or index.db-wal beside it) is read-only to you',
  );
}

/**
 * SQLite needs room for its shared-memory and log files just to open a WAL database: on a full
 * disk it says "disk I/O error". Said plainly when the file system has no room left.
 */
function diskFullOnOpen(err: unknown, file: string): unknown {
  const code = sqliteCode(err);
  if (code !== SQLITE_IOERR && code !== SQLITE_FULL) return err;
  try {
    const fs = statfsSync(dirname(file));
    if (fs.bavail * fs.bsize >= 1024 * 1024) return err;
  } catch {
    return err;
  }
  return new ShoalError('DISK_FULL', 'no space left on device: the repository index cannot even be opened');
}

const SQLITE_IOERR = 10;

/**
 * Run fn inside one read transaction: its queries share one snapshot and one lock (a query on
 * its own is a transaction of its own). Writes in between go through outsideRead().
 */
export async function readTransaction<T>(db: DatabaseSync, fn: () => Promise<T>): Promise<T> {
  db.exec('BEGIN');
  try {
    return await fn();
  } finally {
    if (db.isTransaction) db.exec('COMMIT');
  }
}

/**
 * Run fn, which reads and does not wait, inside one read transaction unless the connection is
 * in one already. A query on its own takes and drops SQLite's file locks: six fcntl calls for
 * each object looked up by id, where a snapshot takes them once.
 */
export function readSnapshot<T>(db: DatabaseSync, fn: () => T): T {
  if (db.isTransaction) return fn();
  db.exec('BEGIN');
  try {
    return fn();
  } finally {
    if (db.isTransaction) db.exec('COMMIT');
  }
}

/** Run fn, a write, outside the read transaction the caller may hold, which starts again after. */
export function outsideRead<T>(db: DatabaseSync, fn: () => T): T {
  const reading = db.isTransaction;
  if (reading) db.exec('COMMIT');
  try {
    return fn();
  } finally {
    if (reading) db.exec('BEGIN');
  }
}

/** Run fn inside one IMMEDIATE transaction; rolls back if it throws. */
export function transaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = fn();
    db.exec('COMMIT');
    return result;
  } catch (err) {
    // SQLite may have rolled back already (a full disk does that): the error is the news.
    if (db.isTransaction) db.exec('ROLLBACK');
    throw sqliteError(err);
  }
}

/** SQLite's "database or disk is full" as shoal's DISK_FULL; anything else unchanged. */
function sqliteError(err: unknown): unknown {
  if (sqliteCode(err) === SQLITE_FULL) {
    return new ShoalError(
      'DISK_FULL',
      'no space left on device for the repository index; the repository is intact: free some space and run the command again',
    );
  }
  return err;
}

const SQLITE_FULL = 13;

function damagedIndex(detail: string): ShoalError {
  return new ShoalError(
    'CORRUPT_OBJECT',
    `the repository index .shoal/index.db is damaged (${detail}); the packs hold the objects, but refs and the index of them are in it: restore it from a backup, or clone again`,
  );
}

/**
 * SQLite's own check of the index file (every page, every row's format; not every index's
 * entries, which `integrity_check` adds at several times the cost). Empty when it is sound.
 */
export function indexProblems(db: DatabaseSync): string[] {
  try {
    const rows = db.prepare('PRAGMA quick_check(20)').all() as { quick_check: string }[];
    // Its report starts with a line naming the database ("*** in database main ***").
    const found = rows
      .flatMap((r) => r.quick_check.split('\n'))
      .filter((m) => m !== 'ok' && !/^\*\*\*/.test(m));
    if (found.length === 0) return [];
    const more = found.length > 3 ? `; and ${found.length - 3} more` : '';
    return [damagedIndex(`${found.slice(0, 3).join('; ')}${more}`).message];
  } catch (err) {
    const code = sqliteCode(err);
    if (code === SQLITE_CORRUPT || code === SQLITE_NOTADB)
      return [damagedIndex((err as Error).message).message];
    throw err;
  }
}

/** An SQLite error's primary result code (its extended code's low byte), if it is one. */
function sqliteCode(err: unknown): number | undefined {
  const code = (err as { errcode?: number } | null)?.errcode;
  return code === undefined ? undefined : code & 0xff;
}
