// A repository driven through the vcs functions directly (no child processes), for tests that
// need many steps quickly. Files are written relative to the repository root.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { keyPairFromSeed, type ObjectId } from '../../src/core/index.ts';
import { Repository } from '../../src/store/index.ts';
import { add, commit } from '../../src/vcs/index.ts';
import { tempDir } from '../helpers.ts';

export const IDENTITY = keyPairFromSeed(new Uint8Array(32).fill(7));

export interface Fixture {
  dir: string;
  repo: Repository;
  write: (path: string, content: string | Uint8Array) => void;
  commitAll: (message: string, time?: number) => Promise<ObjectId>;
}

let clock = Date.UTC(2026, 0, 1);

export function fixture(t: { after: (fn: () => void) => void }): Fixture {
  const dir = tempDir(t);
  const repo = Repository.init(dir);
  t.after(() => repo.close());
  const write = (path: string, content: string | Uint8Array): void => {
    const abs = join(dir, path);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, content);
  };
  const commitAll = async (message: string, time?: number): Promise<ObjectId> => {
    await add(repo, { cwd: dir, paths: ['.'] });
    clock += 1000;
    const r = await commit(repo, {
      message,
      authorName: 'tester',
      identity: IDENTITY,
      time: time ?? clock,
      allowEmpty: true,
    });
    return r.id;
  };
  return { dir, repo, write, commitAll };
}

/** Deterministic pseudo-random bytes. */
export function noise(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
