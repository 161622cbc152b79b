// The writer lock: one process at a time changes a repository. The lock file holds the
// owner's pid; a lock whose process is gone (killed, crashed) is taken over.

import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { ShoalError } from '../core/index.ts';

/** Lock files this process holds, by path. */
const heldHere = new Set<string>();

function alive(pid: number): boolean {
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

  acquire(): void {
    // The pid in the file cannot tell this process's own holders apart (the daemon runs many
    // operations at once): a lock this process holds is refused here, not taken over as stale.
    if (heldHere.has(this.file)) {
      throw new ShoalError(
        'LOCKED',
        'repository is locked by another operation of this process (another shoal command is running)',
      );
    }
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(this.file, 'wx');
        writeSync(fd, String(process.pid));
        closeSync(fd);
        this.held = true;
        heldHere.add(this.file);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let owner = Number.NaN;
      try {
        owner = Number.parseInt(readFileSync(this.file, 'utf8'), 10);
      } catch {
        continue; // released between our attempts
      }
      if (Number.isInteger(owner) && owner !== process.pid && alive(owner)) {
        throw new ShoalError(
          'LOCKED',
          `repository is locked by process ${owner} (another shoal command is running)`,
        );
      }
      this.breakStale(owner);
    }
    throw new ShoalError('LOCKED', 'could not take the repository lock');
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
    let fd: number;
    try {
      fd = openSync(marker, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Another process is breaking it; if that one died doing so, its marker goes too.
      let breaker = Number.NaN;
      try {
        breaker = Number.parseInt(readFileSync(marker, 'utf8'), 10);
      } catch {}
      if (Number.isInteger(breaker) && breaker !== process.pid && !alive(breaker)) {
        try {
          unlinkSync(marker);
        } catch {}
      }
      return;
    }
    try {
      writeSync(fd, String(process.pid));
      closeSync(fd);
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
