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
      try {
        unlinkSync(this.file); // stale: its owner is gone
      } catch {}
    }
    throw new ShoalError('LOCKED', 'could not take the repository lock');
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
