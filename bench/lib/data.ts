// Deterministic benchmark data: an AES-256-CTR keystream from a text seed (incompressible, ~GB/s),
// the two versions of the big file for the dedup scenario, and trees of small files.

import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const BLOCK = 16 << 20;
const zeros = Buffer.alloc(BLOCK);

/** Returns a function yielding the next n bytes of the keystream for seed. */
export function keystream(seed: string): (n: number) => Buffer {
  const key = createHash('sha256').update(`shoal-bench:${seed}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return (n) => {
    const parts: Buffer[] = [];
    for (let left = n; left > 0; left -= BLOCK)
      parts.push(cipher.update(zeros.subarray(0, Math.min(left, BLOCK))));
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  };
}

export interface GeneratedFile {
  path: string;
  size: number;
  sha256: string;
}

export interface VersionPair {
  v1: GeneratedFile;
  v2: GeneratedFile;
  /** Where v2 differs from v1: bytes inserted at the start, the overwritten range (in v1 offsets). */
  insertedAtStart: number;
  overwriteOffset: number;
  overwriteLength: number;
}

/**
 * Writes v1 (size random bytes) and v2 = v1 with overwriteLength bytes overwritten in the middle
 * and insert bytes inserted at the start, in one pass; both are fsynced before returning.
 */
export function writeVersionPair(
  dir: string,
  size: number,
  overwriteLength: number,
  insert: number,
): VersionPair {
  const overwriteOffset = Math.floor((size - overwriteLength) / 2);
  const base = keystream('dedup-v1');
  const patch = keystream('dedup-v2-patch')(overwriteLength);
  const prefix = keystream('dedup-v2-prefix')(insert);
  const p1 = join(dir, 'v1.bin');
  const p2 = join(dir, 'v2.bin');
  const h1 = createHash('sha256');
  const h2 = createHash('sha256');
  const fd1 = openSync(p1, 'w');
  const fd2 = openSync(p2, 'w');
  try {
    writeSync(fd2, prefix);
    h2.update(prefix);
    for (let off = 0; off < size; off += BLOCK) {
      const len = Math.min(BLOCK, size - off);
      const block = base(len);
      writeSync(fd1, block);
      h1.update(block);
      const lo = Math.max(off, overwriteOffset);
      const hi = Math.min(off + len, overwriteOffset + overwriteLength);
      if (lo < hi) patch.copy(block, lo - off, lo - overwriteOffset, hi - overwriteOffset);
      writeSync(fd2, block);
      h2.update(block);
    }
    fsyncSync(fd1);
    fsyncSync(fd2);
  } finally {
    closeSync(fd1);
    closeSync(fd2);
  }
  return {
    v1: { path: p1, size, sha256: h1.digest('hex') },
    v2: { path: p2, size: size + insert, sha256: h2.digest('hex') },
    insertedAtStart: insert,
    overwriteOffset,
    overwriteLength,
  };
}

export interface TreeSpec {
  files: number;
  minSize: number;
  maxSize: number;
  seed: string;
  /** Files per leaf directory; leaf directories are grouped 10 to a top directory. */
  perDir?: number;
  ext?: string;
}

/** The directory of file `i` of a tree (relative), and the file's name. */
function treePlace(spec: TreeSpec, i: number): { dir: string; name: string } {
  const leaf = Math.floor(i / (spec.perDir ?? 100));
  return {
    dir: join(`d${String(Math.floor(leaf / 10)).padStart(3, '0')}`, `e${leaf % 10}`),
    name: `f${String(i).padStart(6, '0')}${spec.ext ?? '.dat'}`,
  };
}

/** Writes a deterministic tree of small random files under root; returns file count and bytes. */
export function writeTree(root: string, spec: TreeSpec): { files: number; bytes: number } {
  const perDir = spec.perDir ?? 100;
  const sizes = keystream(`${spec.seed}-sizes`)(spec.files * 4);
  const content = keystream(`${spec.seed}-content`);
  const span = spec.maxSize - spec.minSize + 1;
  let bytes = 0;
  for (let i = 0; i < spec.files; i++) {
    const { dir, name } = treePlace(spec, i);
    if (i % perDir === 0) mkdirSync(join(root, dir), { recursive: true });
    const size = spec.minSize + (sizes.readUInt32LE(i * 4) % span);
    writeFileSync(join(root, dir, name), content(size));
    bytes += size;
  }
  return { files: spec.files, bytes };
}

/**
 * Changes a tree written by writeTree: of every ten files, five get new random content of the
 * same size range and one is deleted. Each changed file is unlinked first, so a tree that shares
 * its files with others through hard links (cp -al) changes alone.
 */
export function changeTree(
  root: string,
  spec: TreeSpec,
  seed: string,
): { modified: number; deleted: number } {
  const sizes = keystream(`${seed}-sizes`)(spec.files * 4);
  const content = keystream(`${seed}-content`);
  const span = spec.maxSize - spec.minSize + 1;
  let modified = 0;
  let deleted = 0;
  for (let i = 0; i < spec.files; i++) {
    if (i % 10 > 5) continue;
    const { dir, name } = treePlace(spec, i);
    const path = join(root, dir, name);
    unlinkSync(path);
    if (i % 10 === 5) {
      deleted++;
      continue;
    }
    writeFileSync(path, content(spec.minSize + (sizes.readUInt32LE(i * 4) % span)));
    modified++;
  }
  return { modified, deleted };
}

/**
 * Writes size bytes of the keystream for seed to path (fsynced), hashing them unless hash is
 * false (sha256 is then ''). About 1 GiB/s for the keystream, whatever the disk adds.
 */
export function writeRandomFile(path: string, size: number, seed: string, hash = true): GeneratedFile {
  const next = keystream(seed);
  const h = hash ? createHash('sha256') : null;
  const fd = openSync(path, 'w');
  try {
    for (let off = 0; off < size; off += BLOCK) {
      const block = next(Math.min(BLOCK, size - off));
      writeSync(fd, block);
      h?.update(block);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return { path, size, sha256: h ? h.digest('hex') : '' };
}
