// One repository on disk: a working tree with a `.shoal/` directory holding packs, the SQLite
// index and the repository config. Opening for writing takes the writer lock and runs crash
// recovery (truncating pack bytes that no committed index row points at).

import { AsyncLocalStorage } from 'node:async_hooks';
import {
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  type Stats,
  statSync,
  truncateSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import {
  type ChunkerParams,
  DEFAULT_CHUNKER,
  formatChunker,
  isShoalError,
  ShoalError,
} from '../core/index.ts';
import { indexProblems, openDatabase, transaction } from './db.ts';
import {
  changeConfigFile,
  globalConfigFile,
  readConfigObject,
  readConfigValue,
  writeConfigFile,
} from './identity.ts';
import { processAlive, WriterLock } from './lock.ts';
import { ObjectStore } from './object-store.ts';
import { packFileName } from './pack.ts';
import { Refs } from './refs.ts';
import { SignedRefsStore } from './signed-refs-store.ts';
import { Staging } from './staging.ts';

export const REPO_DIR = '.shoal';

/** The repository's own config file (`shoal config` edits it without opening the repository). */
export function repoConfigFile(root: string): string {
  return join(root, REPO_DIR, 'config.json');
}

/** Code points HFS+ leaves out when it compares names (as git's `.git` checks do). */
const IGNORED_BY_HFS = /[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]/g;

/**
 * Whether a name at the root of the working tree is, on some file system, the repository's own
 * directory: `.shoal` in any case (case-insensitive file systems), with code points HFS+ ignores
 * or trailing dots and spaces (which Windows drops), or its 8.3 short name `SHOAL~1`. Such a
 * name is never read from a working tree nor written into one: a commit made elsewhere could
 * otherwise write into the repository's directory on a Mac or on Windows.
 */
export function namesRepoDir(name: string): boolean {
  const n = name
    .replace(IGNORED_BY_HFS, '')
    .replace(/[. ]+$/, '')
    .toLowerCase();
  return n === REPO_DIR || n === 'shoal~1';
}
export const FORMAT = 1;

/** How long a command waits for another process's lock, and how often it looks. */
const LOCK_WAIT_MS = 3000;
const LOCK_POLL_MS = 25;

/**
 * Refuses a new repository at `abs` when that is inside another repository's own directory,
 * where its commands never look (and its gc or checkout would not expect one).
 */
export function refuseInsideRepoDir(abs: string): void {
  for (let at = abs; dirname(at) !== at; at = dirname(at)) {
    if (basename(at) === REPO_DIR && existsSync(join(at, 'index.db'))) {
      throw new ShoalError(
        'INVALID_ARGUMENT',
        `cannot create a repository inside '${at}', the ${REPO_DIR} directory of the repository at '${dirname(at)}'`,
      );
    }
  }
}

export class Repository {
  readonly root: string;
  readonly dir: string;
  readonly db: DatabaseSync;
  readonly objects: ObjectStore;
  readonly refs: Refs;
  readonly staging: Staging;
  readonly signedRefs: SignedRefsStore;
  readonly chunker: ChunkerParams;
  private readonly lock: WriterLock;
  private readonly lockScope = new AsyncLocalStorage<true>();

  private constructor(root: string, db: DatabaseSync) {
    this.root = root;
    this.dir = join(root, REPO_DIR);
    this.db = db;
    this.lock = new WriterLock(join(this.dir, 'lock'));
    this.refs = new Refs(db);
    this.staging = new Staging(db);
    this.signedRefs = new SignedRefsStore(db);
    this.chunker = parseChunker(this.meta('chunker'));
    const compression = this.config('core.compression') ?? 'auto';
    if (compression !== 'auto' && compression !== 'none') {
      db.close();
      throw new ShoalError(
        'INVALID_ARGUMENT',
        `config core.compression is '${compression}': it must be auto or none (fix it with: shoal config core.compression auto)`,
      );
    }
    this.objects = new ObjectStore(join(this.dir, 'packs'), db, compression === 'none' ? 'none' : 'auto');
  }

  /** Create a repository in `root` (which may exist and hold files). */
  static init(root: string): Repository {
    const abs = resolve(root);
    refuseInsideRepoDir(abs);
    const dir = join(abs, REPO_DIR);
    if (existsSync(join(dir, 'index.db'))) {
      throw new ShoalError('ALREADY_A_REPOSITORY', `'${abs}' is already a shoal repository`);
    }
    const there = lstatSync(dir, { throwIfNoEntry: false });
    if (there && !there.isDirectory()) {
      throw new ShoalError(
        'ALREADY_EXISTS',
        `cannot create a repository at '${abs}': '${dir}' exists and is not a directory`,
      );
    }
    mkdirSync(join(dir, 'packs'), { recursive: true });
    // The index is made under a name of its own and appears as index.db only when complete:
    // index.db is what marks a repository, so a kill mid-way must not leave a half-made one
    // (which every command would then report as corrupt, and init refuse to redo), and a
    // command started meanwhile must not open it half-made.
    sweepUnfinishedIndexes(dir);
    const index = join(dir, 'index.db');
    const unfinished = join(dir, `${UNFINISHED_INDEX}${process.pid}`);
    const fresh = openDatabase(unfinished, true);
    try {
      transaction(fresh, () => {
        const put = fresh.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)');
        put.run('format', String(FORMAT));
        put.run('chunker', formatChunker(DEFAULT_CHUNKER));
        put.run('created', String(Date.now()));
        put.run('HEAD', 'ref: refs/heads/main');
      });
    } finally {
      fresh.close(); // checkpoints the write-ahead log into the file and removes it
    }
    try {
      publishOnce(
        unfinished,
        index,
        () => new ShoalError('ALREADY_A_REPOSITORY', `'${abs}' is already a shoal repository`),
      );
    } finally {
      removeIndexFiles(unfinished);
    }
    writeConfigFile(repoConfigFile(abs), {});
    return new Repository(abs, openDatabase(index, false));
  }

  /** Find the repository containing `start` (walking up, as git does) and open it. */
  static open(start: string): Repository {
    const root = Repository.find(start);
    if (!root) {
      // A .shoal directory without its index on the way up is more likely a damaged repository
      // than none: say so.
      let hint = '';
      for (let dir = resolve(start); ; dir = dirname(dir)) {
        const repoDir = join(dir, REPO_DIR);
        if (lstatSync(repoDir, { throwIfNoEntry: false })?.isDirectory()) {
          hint = unfinishedInit(repoDir)
            ? `; ${repoDir} is what an init that did not finish left: run 'shoal init' there again`
            : `; ${repoDir} has no index.db (a damaged repository?)`;
          break;
        }
        if (dirname(dir) === dir) break;
      }
      throw new ShoalError(
        'NOT_A_REPOSITORY',
        `not a shoal repository (or any parent): ${resolve(start)}${hint}`,
      );
    }
    const db = openDatabase(join(root, REPO_DIR, 'index.db'), false);
    const format = (
      db.prepare("SELECT value FROM meta WHERE key = 'format'").get() as { value: string } | undefined
    )?.value;
    if (Number(format) !== FORMAT) {
      // No format at all is a damaged index (its meta table), not a newer shoal's repository.
      const damaged = format === undefined ? indexProblems(db) : [];
      db.close();
      if (damaged.length > 0) throw new ShoalError('CORRUPT_OBJECT', damaged[0]!);
      throw new ShoalError(
        'UNSUPPORTED_FORMAT',
        `repository format ${format} is not supported by this shoal`,
      );
    }
    return new Repository(root, db);
  }

  static find(start: string): string | undefined {
    let dir = resolve(start);
    let st: Stats | undefined;
    try {
      st = statSync(dir, { throwIfNoEntry: false });
    } catch {} // ENOTDIR (below a file), ELOOP: no directory there either
    if (!st) throw new ShoalError('PATH_NOT_FOUND', `no such directory: ${dir}`);
    if (!st.isDirectory()) throw new ShoalError('PATH_NOT_FOUND', `not a directory: ${dir}`);
    for (;;) {
      if (existsSync(join(dir, REPO_DIR, 'index.db'))) return dir;
      const parent = dirname(dir);
      if (parent === dir) return undefined;
      dir = parent;
    }
  }

  meta(key: string): string | undefined {
    return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)
      ?.value;
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, value);
  }

  /** A config value: the repository's config, else the user's global config. */
  config(key: string): string | undefined {
    return readConfigValue(repoConfigFile(this.root), key) ?? readConfigValue(globalConfigFile(), key);
  }

  /** The repository's config file as it is (values that are not strings too). */
  localConfig(): Record<string, unknown> {
    return readConfigObject(repoConfigFile(this.root));
  }

  /**
   * Change the repository's config file, holding its lock: values that are not strings are kept
   * as they are (a setting is checked where it is read, by config()).
   */
  changeLocalConfig(change: (config: Record<string, unknown>) => void): void {
    changeConfigFile(repoConfigFile(this.root), change);
  }

  /**
   * Take the writer lock and repair what a crash may have left. `purpose` says what holds it to
   * a command that finds it taken (a daemon taking a push, say).
   */
  lockForWrite(purpose?: string): void {
    this.lock.acquire(purpose);
    try {
      this.recover();
    } catch (err) {
      this.lock.release();
      throw err;
    }
  }

  unlock(): void {
    this.lock.release();
  }

  /** Another live process holding the writer lock, and what it said it is doing. */
  lockHolder(): { pid: number; purpose: string } | undefined {
    return this.lock.holder();
  }

  /**
   * Run fn holding the writer lock. Re-entrant within one async call chain, so an operation
   * that holds the lock can call another that takes it (merge commits through commit()).
   * Another process's lock is waited for a moment (a status refreshing its stamps holds it for
   * milliseconds, and a command typed meanwhile failed), unless `wait` is false: an optional
   * write (status's) gives way at once instead.
   */
  async withWriteLock<T>(
    fn: () => Promise<T> | T,
    purpose?: string,
    opts: { wait?: boolean } = {},
  ): Promise<T> {
    if (this.lockScope.getStore()) return await fn();
    const deadline = performance.now() + (opts.wait === false ? 0 : LOCK_WAIT_MS);
    for (;;) {
      try {
        this.lockForWrite(purpose);
        break;
      } catch (err) {
        // Held by another live process (not this one's other work): try again shortly.
        if (!isShoalError(err, 'LOCKED') || err.detail?.pid === undefined || performance.now() > deadline)
          throw err;
        await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
      }
    }
    try {
      return await this.lockScope.run(true, fn);
    } finally {
      this.unlock();
    }
  }

  private recover(): void {
    const packDir = join(this.dir, 'packs');
    const rows = this.db.prepare('SELECT id, size FROM packs').all() as { id: number; size: number }[];
    const known = new Set<string>();
    for (const { id, size } of rows) {
      const file = join(packDir, packFileName(id));
      known.add(packFileName(id));
      let st: Stats;
      try {
        st = statSync(file);
      } catch {
        throw new ShoalError('CORRUPT_OBJECT', `pack ${packFileName(id)} is missing`);
      }
      if (!st.isFile()) throw new ShoalError('CORRUPT_OBJECT', `pack ${packFileName(id)} is not a file`);
      // Bytes past the committed size belong to an operation that never committed.
      if (st.size > size) truncateSync(file, size);
    }
    // Files no row names are packs an interrupted operation started; anything else is not ours.
    for (const entry of readdirSync(packDir, { withFileTypes: true })) {
      if (!known.has(entry.name) && entry.isFile()) rmSync(join(packDir, entry.name), { force: true });
    }
  }

  close(): void {
    this.objects.close();
    this.db.close();
    this.lock.release();
  }
}

function parseChunker(value: string | undefined): ChunkerParams {
  if (!value) return DEFAULT_CHUNKER;
  const [min, avg, max] = value.split('/').map(Number);
  if (!min || !avg || !max) throw new ShoalError('UNSUPPORTED_FORMAT', `bad chunker parameters '${value}'`);
  return { min, avg, max };
}

/** An index being created by `init`, named after the process (`index.db.init-<pid>`). */
export const UNFINISHED_INDEX = 'index.db.init-';

/** A `.shoal` directory holding only what an interrupted init leaves: no index, no pack data. */
export function unfinishedInit(repoDir: string): boolean {
  try {
    const packs = join(repoDir, 'packs');
    return (
      readdirSync(repoDir).every((n) => n === 'packs' || n.startsWith(UNFINISHED_INDEX)) &&
      (!existsSync(packs) || readdirSync(packs).length === 0)
    );
  } catch {
    return false;
  }
}

/** A database file with the write-ahead log and shared-memory files SQLite keeps beside it. */
function removeIndexFiles(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) rmSync(f, { force: true });
}

/** Indexes an init killed before it finished left behind (not those of an init still running). */
function sweepUnfinishedIndexes(dir: string): void {
  for (const name of readdirSync(dir)) {
    const m = /^index\.db\.init-(\d+)$/.exec(name);
    if (m && !processAlive(Number(m[1]))) removeIndexFiles(join(dir, name));
  }
}

/**
 * Give `from` the name `to`, unless `to` exists (then `exists()` is thrown): a hard link is
 * exclusive, so of two inits racing, one wins. Where the file system has no hard links, a rename
 * after a check (the race is then lost only by the slower of two inits run at the same moment).
 */
function publishOnce(from: string, to: string, exists: () => Error): void {
  try {
    linkSync(from, to);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw exists();
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
    if (existsSync(to)) throw exists();
    renameSync(from, to);
  }
  fsyncDirectory(dirname(to));
}

function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
