// Making directories along a path the user chose (a repository, the config directory).

import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathError } from '../core/index.ts';

/**
 * `mkdir -p`, one level at a time. Node's recursive mkdir never returns where a directory exists
 * but refuses children (under /proc it gets ENOENT, then EEXIST for the parent, and tries again
 * for ever); here the first refusal is the error, with its path.
 */
export function makeDirs(path: string, mode?: number): void {
  const missing: string[] = [];
  for (let p = resolve(path); ; ) {
    if (isDirectory(p)) break;
    missing.push(p);
    const parent = dirname(p);
    if (parent === p) break;
    p = parent;
  }
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir, mode === undefined ? {} : { mode });
    } catch (err) {
      // Made meanwhile by another process: as good as made here.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !isDirectory(dir)) throw err;
    }
  }
}

function isDirectory(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
}

/** makeDirs for a path of the user's (the config directory): a failure is said with its path. */
export function makeUserDirs(path: string, mode?: number): void {
  try {
    makeDirs(path, mode);
  } catch (err) {
    throw pathError(err, path) ?? err;
  }
}
