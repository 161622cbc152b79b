// File system helpers for the benchmarks: repository sizes (sum of file sizes, like `du -sb`),
// scratch directories under os.tmpdir(), hashing of restored files, and path scrubbing for reports.

import { createHash } from 'node:crypto';
import {
  closeSync,
  type Dirent,
  lstatSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (bench/lib/../..). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Sum of the sizes of the regular files under path (symlinks and directories count 0). */
export function dirBytes(path: string): number {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return 0;
  }
  if (st.isFile()) return st.size;
  if (!st.isDirectory()) return 0;
  let total = 0;
  for (const e of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, e.name);
    if (e.isDirectory()) total += dirBytes(p);
    else if (e.isFile()) total += lstatSync(p).size;
  }
  return total;
}

/** First regular file called name under root (depth first), or null. */
export function findFile(root: string, name: string): string | null {
  let entries: Dirent[];
  try {
    entries = readdirSync(root, { withFileTypes: true });
  } catch {
    return null;
  }
  for (const e of entries) {
    const p = join(root, e.name);
    if (e.isFile() && e.name === name) return p;
  }
  for (const e of entries) {
    if (e.isDirectory()) {
      const found = findFile(join(root, e.name), name);
      if (found !== null) return found;
    }
  }
  return null;
}

export function sha256File(path: string): string {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(16 << 20);
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

export function makeScratch(name: string): string {
  return mkdtempSync(join(tmpdir(), `shoal-bench-${name}-`));
}

export function removeTree(path: string): void {
  rmSync(path, { recursive: true, force: true, maxRetries: 3 });
}

/** Replaces machine paths (repository root, temp dir, home) in text that goes into reports. */
export function sanitize(text: string): string {
  let out = text.split(repoRoot).join('<repo>');
  out = out.split(tmpdir()).join('<tmp>');
  const home = process.env.HOME;
  if (home && home.length > 1) out = out.split(home).join('~');
  return out;
}
