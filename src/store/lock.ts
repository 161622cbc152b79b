// The writer lock: one process at a time changes a repository. The lock file holds the
// owner's pid; a lock whose process is gone (killed, crashed) is taken over.

import {
  closeSync,
  linkSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { resolve } from 'node:path';
import { isShoalError, ShoalError, systemError } from '../core/index.ts';

/** Lock files this process holds, by path. */
const heldHere = new Set<string>();

/** How long taking a lock or breaking a stale one can take, with room to spare. */
const SETTLE_MS = 10_000;

function olderThan(file: string, ms: number): boolean {
  try {
    return Date.now() - statSync(file).mtimeMs > ms;
  } catch {
    return false;
  }
}

/**
 * When process `pid` started, as Linux counts it (clock ticks since boot), or undefined where
 * that cannot be read. A lock records its owner's, so that a message can say when the pid in a
 * lock left by a crash seems to be another process's now (it is not taken over for that: see
 * acquire).
 */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name, in parentheses, may hold spaces: the fields that follow come after ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** What this process's command is, for a lock it takes without a purpose of its own. */
let defaultPurpose: string | undefined;

/** Say what this process is (`shoal add`) to whoever finds a lock it holds. */
export function setLockPurpose(purpose: string): void {
  defaultPurpose = purpose;
}

/** Whether process `pid` exists (one of another user's counts: EPERM). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class WriterLock {
  private readonly file: string;
  private held = false;

  constructor(file: string) {
    this.file = resolve(file);
  }

  /** The lock file's three lines (see create), or undefined when there is none to read. */
  private read(): { pid: number; purpose: string; started: string } | undefined {
    try {
      const [pid = '', purpose = '', started = ''] = readFileSync(this.file, 'utf8').split('\n');
      return { pid: Number.parseInt(pid, 10), purpose: purpose.trim(), started: started.trim() };
    } catch {
      return undefined;
    }
  }

  /** Whether `pid` (from the lock file) is another live process: the lock is held then. */
  private heldBy(pid: number): boolean {
    return Number.isInteger(pid) && pid !== process.pid && processAlive(pid);
  }

  /** The live process holding the lock, if another one does, and what it said it is doing. */
  holder(): { pid: number; purpose: string } | undefined {
    const found = this.read();
    return found && this.heldBy(found.pid) ? { pid: found.pid, purpose: found.purpose } : undefined;
  }

  /**
   * Take the lock. `purpose` (what holds it, said to whoever finds it taken) is written on the
   * line after the pid.
   */
  acquire(purpose?: string): void {
    // The pid in the file cannot tell this process's own holders apart (the daemon runs many
    // operations at once): a lock this process holds is refused here, not taken over as stale.
    if (heldHere.has(this.file)) {
      throw new ShoalError(
        'LOCKED',
        'repository is locked by another operation of this process (another shoal command is running)',
      );
    }
    for (let attempt = 0; attempt < 3; attempt++) {
      if (this.create(this.file, purpose)) {
        this.held = true;
        heldHere.add(this.file);
        return;
      }
      const found = this.read();
      if (!found) continue; // released between our attempts
      const owner = found.pid;
      // A live pid means the lock is held, even when that process started after the lock was
      // taken (the pid reused after a crash): pid numbers mean other processes in another pid
      // namespace (a daemon in a container, a command on the host), and taking a live writer's
      // lock is far worse than asking the user to remove a stale one. The start time says which.
      if (this.heldBy(owner)) {
        const now = found.started === '' ? undefined : processStart(owner);
        const reused = now !== undefined && now !== found.started;
        // Removing the lock is advice only where the holder may be gone: for a holder known
        // to be alive (its start time matches) it would let two writers in.
        const advice = reused
          ? `; that pid seems to be another process now: if no shoal command is running, remove ${this.file}`
          : now === undefined
            ? `; if no shoal command is running, remove ${this.file}`
            : '; try again once it is done';
        // `held` without the advice, for a caller whose user can act on neither (a pushing peer).
        const held = `repository is locked by process ${owner} (${found.purpose || 'another shoal command is running'})`;
        throw new ShoalError('LOCKED', `${held}${advice}`, { pid: owner, held });
      }
      // A lock without a pid is one being written on a file system without hard links (see
      // create) or left by a crash: stale only once it is older than that takes.
      if (!Number.isInteger(owner) && !olderThan(this.file, SETTLE_MS)) continue;
      this.breakStale(owner);
    }
    throw new ShoalError(
      'LOCKED',
      `could not take the repository lock ${this.file}; if no shoal command is running, remove it and any ${this.file}.stale-* next to it`,
    );
  }

  /**
   * Create `file` holding this process's pid, atomically: the pid is written under a private
   * name and linked into place, so nobody ever reads the lock of a live process empty. Where the
   * file system has no hard links, an exclusive create and a write. False when it exists.
   */
  private create(file: string, purpose?: string): boolean {
    const tmp = `${file}.${process.pid}.tmp`;
    const said = (purpose ?? defaultPurpose)?.replace(/\s+/g, ' ') ?? '';
    const text = `${process.pid}\n${said}\n${processStart(process.pid) ?? ''}\n`;
    try {
      writeFileSync(tmp, text);
      try {
        linkSync(tmp, file);
        return true;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') return false;
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
      }
    } finally {
      try {
        unlinkSync(tmp);
      } catch {}
    }
    let fd: number;
    try {
      fd = openSync(file, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
    return true;
  }

  /**
   * Remove the lock file of `owner`, a process that is gone. Reading the pid and removing the
   * file are two steps: another process may have broken the same stale lock in between and
   * taken the lock, and removing by name would then remove its lock (both would write at once,
   * and one's recovery would truncate the packs the other is writing). So only the process
   * that creates the marker `<lock>.stale-<owner>` may remove it, and only while the file still
   * names `owner`: no other process can replace the file in the meantime.
   */
  private breakStale(owner: number): void {
    const marker = `${this.file}.stale-${Number.isInteger(owner) ? owner : 'unreadable'}`;
    if (!this.create(marker)) {
      // Another process is breaking it. Breaking takes a moment: a marker whose process is gone,
      // or one older than that (its pid since reused), was left by a crash and goes too.
      let breaker = Number.NaN;
      try {
        breaker = Number.parseInt(readFileSync(marker, 'utf8'), 10);
      } catch {}
      // (One naming this process is an earlier process's whose pid it reuses: old, it goes too.)
      const leftByCrash =
        olderThan(marker, SETTLE_MS) ||
        (breaker !== process.pid && Number.isInteger(breaker) && !processAlive(breaker));
      if (leftByCrash) {
        try {
          unlinkSync(marker);
        } catch {}
      }
      return;
    }
    try {
      let now = Number.NaN;
      try {
        now = Number.parseInt(readFileSync(this.file, 'utf8'), 10);
      } catch {}
      if (now === owner || (Number.isNaN(now) && !Number.isInteger(owner))) unlinkSync(this.file);
    } catch {
    } finally {
      try {
        unlinkSync(marker);
      } catch {}
    }
  }

  release(): void {
    if (!this.held) return;
    heldHere.delete(this.file);
    this.held = false;
    try {
      unlinkSync(this.file);
    } catch {}
  }
}

/** How long a change to a small shared file (shares.json, a config file) waits for another. */
const FILE_LOCK_WAIT_MS = 10_000;

/**
 * Run a read-modify-write of `file` holding `<file>.lock`: commands run at once each wrote back
 * what they had read, and all but one lost their change. A change takes milliseconds: a second
 * one waits for it, then goes on.
 */
export function withFileLock<T>(file: string, change: () => T): T {
  const lock = new WriterLock(`${file}.lock`);
  const deadline = Date.now() + FILE_LOCK_WAIT_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      lock.acquire();
      break;
    } catch (err) {
      if (!isShoalError(err, 'LOCKED')) throw systemError(err, file) ?? err;
      if (Date.now() > deadline)
        throw new ShoalError('LOCKED', `${file} is being changed by another shoal command`);
      Atomics.wait(pause, 0, 0, 10);
    }
  }
  try {
    return change();
  } finally {
    lock.release();
  }
}
