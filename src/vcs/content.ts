// Reading a file's content back: walk its index tree in order, verifying every node and chunk,
// and write it to a working file through a temporary name, fsynced and renamed into place, so
// a failure (a corrupt chunk, a full disk) never leaves wrong bytes at the path.

import {
  type BigIntStats,
  closeSync,
  fchmodSync,
  fdatasync,
  fstatSync,
  fsyncSync,
  openSync,
  renameSync,
  rmSync,
  symlinkSync,
  write,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { decodeIndexNode, type ObjectId, ShoalError, toHex } from '../core/index.ts';
import type { ObjectStore } from '../store/index.ts';

export interface ContentRef {
  id: ObjectId;
  height: number;
  size: number;
}

interface Leaf {
  id: ObjectId;
  size: number;
}

/** The verified chunks of a file's content, in order. */
export function* contentChunks(objects: ObjectStore, ref: ContentRef): Generator<Uint8Array> {
  for (const leaf of contentLeaves(objects, ref)) {
    const chunk = objects.read(leaf.id, 'chunk');
    if (chunk.length !== leaf.size) {
      throw new ShoalError(
        'CORRUPT_OBJECT',
        `chunk ${toHex(leaf.id)} has ${chunk.length} bytes, its index says ${leaf.size}`,
      );
    }
    yield chunk;
  }
}

/**
 * The chunk ids and sizes of a file's content, in order, from its verified index nodes. The
 * sizes are checked to add up at every level, so a reader can place each chunk before reading it.
 */
function* contentLeaves(objects: ObjectStore, ref: ContentRef): Generator<Leaf> {
  let total = 0;
  for (const leaf of walkContent(objects, ref.id, ref.height, ref.size)) {
    total += leaf.size;
    yield leaf;
  }
  if (total !== ref.size) {
    throw new ShoalError(
      'CORRUPT_OBJECT',
      `content ${toHex(ref.id)} has ${total} bytes, expected ${ref.size}`,
    );
  }
}

function* walkContent(objects: ObjectStore, id: ObjectId, height: number, size: number): Generator<Leaf> {
  if (height === 0) {
    yield { id, size };
    return;
  }
  const node = decodeIndexNode(objects.read(id, 'node'));
  if (node.height !== height)
    throw new ShoalError('CORRUPT_OBJECT', `index node ${toHex(id)} has the wrong height`);
  let sum = 0;
  for (const e of node.entries) sum += e.size;
  if (sum !== size)
    throw new ShoalError('CORRUPT_OBJECT', `index node ${toHex(id)} does not add up to ${size} bytes`);
  for (const e of node.entries) yield* walkContent(objects, e.id, height - 1, e.size);
}

const WRITE_BUFFER = 2 * 1024 * 1024;
const MAX_IN_FLIGHT = 3;
const DURABLE_FILE = 1024 * 1024;
const EARLY_SYNC = 64 * 1024 * 1024;

function writeAll(fd: number, buf: Buffer, len: number, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number): void => {
      if (done >= len) {
        resolve();
        return;
      }
      write(fd, buf, done, len - done, position + done, (err, n) => (err ? reject(err) : step(done + n)));
    };
    step(0);
  });
}

export function tempPathFor(abs: string): string {
  return join(dirname(abs), `.${basename(abs)}.shoal-tmp-${process.pid}`);
}

function mapWriteError(err: unknown, abs: string): never {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT')
    throw new ShoalError('DISK_FULL', `no space left on device writing '${abs}'`);
  if (code === 'EACCES')
    throw new ShoalError('PERMISSION_DENIED', `cannot write '${abs}': permission denied`);
  throw err;
}

/**
 * Write a file's content to `abs` atomically (temp file, fsync, rename). Returns the file's
 * stat as this wrote it, taken before the rename.
 */
export async function writeContent(
  objects: ObjectStore,
  ref: ContentRef,
  abs: string,
  executable: boolean,
  onBytes?: (n: number) => void,
): Promise<BigIntStats> {
  const tmp = tempPathFor(abs);
  let fd: number;
  try {
    fd = openSync(tmp, 'w', executable ? 0o777 : 0o666);
  } catch (err) {
    mapWriteError(err, abs);
  }
  const inFlight: Promise<void>[] = [];
  // A large file is flushed while it is still being written, one fdatasync at a time in the
  // background, so the fsync that makes it durable finds little left to do (it took 0.37 s
  // of a 1 GiB checkout's 1 s when all of the file waited for it).
  // A writeback error is reported to one fsync only: one seen here must fail the write.
  let syncing: Promise<void> | null = null;
  let syncError: Error | null = null;
  let syncedTo = 0;
  const startSync = (upTo: number): void => {
    if (syncing || upTo - syncedTo < EARLY_SYNC) return;
    syncedTo = upTo;
    syncing = new Promise<void>((resolve) =>
      fdatasync(fd, (err) => {
        if (err) syncError ??= err;
        resolve();
      }),
    ).then(() => {
      syncing = null;
    });
  };
  try {
    // A few buffers, sized to the file and reused, keep memory flat however large it is.
    const size = Math.max(1, Math.min(WRITE_BUFFER, ref.size));
    const spare: Buffer[] = [];
    let buf: Buffer = Buffer.allocUnsafe(size);
    let used = 0;
    let position = 0;
    const submit = async (): Promise<void> => {
      if (used === 0) return;
      const full = buf;
      const end = position + used;
      inFlight.push(
        writeAll(fd, full, used, position).then(() => {
          spare.push(full);
          if (ref.size >= DURABLE_FILE) startSync(end);
        }),
      );
      position = end;
      buf = spare.pop() ?? Buffer.allocUnsafe(size);
      used = 0;
      if (inFlight.length >= MAX_IN_FLIGHT) await inFlight.shift();
    };
    for (const leaf of contentLeaves(objects, ref)) {
      if (used + leaf.size > buf.length) await submit();
      if (leaf.size > buf.length) buf = Buffer.allocUnsafe(leaf.size);
      objects.readChunkInto(leaf.id, leaf.size, buf, used);
      used += leaf.size;
      onBytes?.(leaf.size);
    }
    await submit();
    // Not spliced out before they settle: on an error, the catch below must still wait for
    // every write before it closes the fd.
    await Promise.all(inFlight);
    inFlight.length = 0;
    await syncing;
    if (syncError) throw syncError;
    if (executable) fchmodSync(fd, 0o755);
    // Large files are made durable before they replace the path; small ones are left to the
    // OS (a checkout of many small files would otherwise wait on one flush per file).
    if (ref.size >= DURABLE_FILE) fsyncSync(fd);
    const stat = fstatSync(fd, { bigint: true });
    closeSync(fd);
    renameSync(tmp, abs);
    return stat;
  } catch (err) {
    await Promise.allSettled(inFlight);
    await syncing;
    try {
      closeSync(fd);
    } catch {}
    rmSync(tmp, { force: true });
    mapWriteError(err, abs);
  }
}

export function writeSymlink(objects: ObjectStore, id: ObjectId, abs: string): void {
  const target = Buffer.from(objects.read(id, 'chunk')).toString('utf8');
  const tmp = tempPathFor(abs);
  rmSync(tmp, { force: true });
  symlinkSync(target, tmp);
  renameSync(tmp, abs);
}
