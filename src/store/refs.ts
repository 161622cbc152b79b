// Refs (branches `refs/heads/<name>`, tags `refs/tags/<name>`) and HEAD, kept in the SQLite
// index so that an update is atomic. Every change is logged in the reflog for recovery.

import type { DatabaseSync } from 'node:sqlite';
import { ID_LENGTH, isShoalError, type ObjectId, refNameProblem, ShoalError } from '../core/index.ts';
import { indexProblems, transaction } from './db.ts';

export type Head = { kind: 'branch'; name: string } | { kind: 'detached'; id: ObjectId };

export interface RefEntry {
  name: string;
  id: ObjectId;
}

export interface ReflogEntry {
  seq: number;
  name: string;
  old: ObjectId | null;
  new: ObjectId | null;
  time: number;
  message: string;
}

export class Refs {
  private readonly db: DatabaseSync;

  constructor(db: DatabaseSync) {
    this.db = db;
  }

  get(name: string): ObjectId | undefined {
    const row = this.db.prepare('SELECT id FROM refs WHERE name = ?').get(name) as
      | { id: unknown }
      | undefined;
    if (row === undefined) return undefined;
    if (!(row.id instanceof Uint8Array) || row.id.length !== ID_LENGTH)
      throw new ShoalError(
        'CORRUPT_OBJECT',
        `ref '${name}' is corrupt in the repository index: not an object id`,
      );
    return row.id;
  }

  list(prefix = ''): RefEntry[] {
    const rows = this.db
      .prepare('SELECT name, id FROM refs WHERE substr(name, 1, ?) = ? ORDER BY name')
      .all(prefix.length, prefix) as unknown as RefEntry[];
    return rows;
  }

  /**
   * Set (or with id null, delete) a ref, optionally only if it still has the value `expected`
   * (compare-and-swap). Returns false when the expectation failed.
   */
  update(name: string, id: ObjectId | null, message: string, expected?: ObjectId | null): boolean {
    return transaction(this.db, () => {
      const old = this.get(name) ?? null;
      if (expected !== undefined) {
        const same =
          (expected === null && old === null) ||
          (expected !== null && old !== null && Buffer.compare(expected, old) === 0);
        if (!same) return false;
      }
      if (id === null) this.db.prepare('DELETE FROM refs WHERE name = ?').run(name);
      else this.db.prepare('INSERT OR REPLACE INTO refs (name, id) VALUES (?, ?)').run(name, id);
      this.db
        .prepare('INSERT INTO reflog (name, old, new, time, message) VALUES (?, ?, ?, ?, ?)')
        .run(name, old, id, Date.now(), message);
      return true;
    });
  }

  head(): Head {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'HEAD'").get() as
      | { value: string }
      | undefined;
    const value = row?.value ?? 'ref: refs/heads/main';
    // Anything else (an edited or damaged index) would be taken at its word: a commit would
    // name an id that is not one as its parent, or create a branch no command can name.
    if (value.startsWith('ref: refs/heads/')) {
      const name = value.slice('ref: refs/heads/'.length);
      if (refNameProblem(name) === null) return { kind: 'branch', name };
    } else if (/^[0-9a-f]{64}$/.test(value)) {
      return { kind: 'detached', id: new Uint8Array(Buffer.from(value, 'hex')) };
    }
    throw new ShoalError(
      'CORRUPT_OBJECT',
      `HEAD is corrupt in the repository index: '${value}' (shoal switch --force <branch> sets it again)`,
    );
  }

  /**
   * Point HEAD at a branch or (detached) at a commit. A move from or to a detached HEAD is
   * logged in the reflog under `HEAD`: no branch's log holds a commit made there, and after a
   * switch away this is where it is found again.
   */
  setHead(head: Head, message = 'HEAD moved'): void {
    const atomically = (fn: () => void): void => (this.db.isTransaction ? fn() : transaction(this.db, fn));
    atomically(() => {
      let before: Head | undefined;
      try {
        before = this.head();
      } catch {} // a damaged HEAD being set again: nothing to log it moved from
      const commitOf = (h: Head | undefined): ObjectId | null =>
        h === undefined ? null : h.kind === 'detached' ? h.id : (this.get(`refs/heads/${h.name}`) ?? null);
      const value =
        head.kind === 'branch' ? `ref: refs/heads/${head.name}` : Buffer.from(head.id).toString('hex');
      this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('HEAD', ?)").run(value);
      if (before?.kind !== 'detached' && head.kind !== 'detached') return;
      const old = commitOf(before);
      const now = commitOf(head);
      const stays = before?.kind === 'detached' && head.kind === 'detached';
      if (stays && old && now && Buffer.compare(old, now) === 0) return;
      this.db
        .prepare('INSERT INTO reflog (name, old, new, time, message) VALUES (?, ?, ?, ?, ?)')
        .run('HEAD', old, now, Date.now(), message);
    });
  }

  /** The commit HEAD points at, or undefined on an unborn branch. */
  /**
   * The commit HEAD names, or undefined when HEAD itself is damaged: for a forced move, which
   * needs no record of where it starts from and is how a damaged HEAD gets set again.
   */
  headCommitIfReadable(): ObjectId | undefined {
    try {
      return this.headCommit();
    } catch (err) {
      if (isShoalError(err, 'CORRUPT_OBJECT')) return undefined;
      throw err;
    }
  }

  headCommit(): ObjectId | undefined {
    const head = this.head();
    if (head.kind === 'detached') return head.id;
    return this.get(`refs/heads/${head.name}`);
  }

  private unbornChecked = false;

  /**
   * For a command about to say "no commits yet" or to start a new history: a branch with no
   * commits in a repository that holds commits is rare (an orphan branch, a clone before its
   * checkout), and it is also what a damaged page of the refs table looks like. The index is
   * checked then, once per process.
   */
  assertUnbornIsReal(): void {
    if (this.unbornChecked) return;
    this.unbornChecked = true;
    if (this.db.prepare('SELECT 1 FROM objects WHERE type = 3 LIMIT 1').get() === undefined) return;
    const problems = indexProblems(this.db);
    if (problems.length > 0) throw new ShoalError('CORRUPT_OBJECT', problems[0]!);
  }

  /** Past values, newest first: of the refs `names` (one name, or several merged), or of all. */
  reflog(names?: string | string[], limit = 100): ReflogEntry[] {
    const list = names === undefined ? [] : typeof names === 'string' ? [names] : names;
    const rows =
      list.length > 0
        ? this.db
            .prepare(
              `SELECT * FROM reflog WHERE name IN (${list.map(() => '?').join(', ')}) ORDER BY seq DESC LIMIT ?`,
            )
            .all(...list, limit)
        : this.db.prepare('SELECT * FROM reflog ORDER BY seq DESC LIMIT ?').all(limit);
    return rows as unknown as ReflogEntry[];
  }
}
