// Reading a file's content back: walk its index tree in order, verifying every node and chunk,
// and write it to a working file through a temporary name, fsynced and renamed into place, so
// a failure (a corrupt chunk, a full disk) never leaves wrong bytes at the path.

import { createHash } from 'node:crypto';
import {
  type BigIntStats,
  closeSync,
  fchmodSync,
  fdatasync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readdirSync,
  renameSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { decodeIndexNode, hashChunk, idEquals, type ObjectId, ShoalError, toHex } from '../core/index.ts';
import { FileAppender, type ObjectStore, processAlive } from '../store/index.ts';

export interface ContentRef {
  id: ObjectId;
  height: number;
  size: number;
}

export interface Leaf {
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
export function* contentLeaves(objects: ObjectStore, ref: ContentRef): Generator<Leaf> {
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

const DURABLE_FILE = 1024 * 1024;
const EARLY_SYNC = 64 * 1024 * 1024;

/** Whether writeContent writes content of this size in pieces, from a few reused buffers. */
export function isLargeContent(size: number): boolean {
  return size >= DURABLE_FILE;
}

// The longest name a temporary may borrow from the file's: with the dot, the suffix and a pid it
// stays within the 255 bytes most file systems allow in one name.
const TEMP_NAME_BYTES = 200;

/**
 * The temporary name a file is written under before it is renamed to `abs`. A file whose name is
 * near the file system's limit gives only the start of it, followed by a hash of the whole name
 * (so two long names with a common start still get different temporaries).
 */
export function tempPathFor(abs: string): string {
  let name = basename(abs);
  if (Buffer.byteLength(name) > TEMP_NAME_BYTES) name = cutName(name, TEMP_NAME_BYTES, 16);
  return join(dirname(abs), `.${name}.shoal-tmp-${process.pid}`);
}

/** Whether a name is one of the temporaries above: never the user's, never tracked. */
export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

const TEMP_NAME = /^\..+\.shoal-tmp-\d+$/;

// The temporaries this process is writing, so that an interrupted command can remove them.
const writing = new Set<string>();
// The temporaries of content written ahead of its checkout (StartedContent), while a fetch runs.
const writingAhead = new Set<string>();

// Set when a command that writes working files after a transfer (clone, pull) is interrupted
// between two files: the next file is not started.
let stopped = false;

/**
 * An interrupt for a command that may be writing working files: no further file is started
 * (writeContent fails with ABORTED). True if one is being written now.
 */
export function stopWritingFiles(): boolean {
  stopped = true;
  return writing.size > 0;
}

/** Remove the temporaries being written (Ctrl-C): best effort, synchronous. */
export function removeTempFiles(): void {
  for (const tmp of [...writing, ...writingAhead]) {
    try {
      unlinkSync(tmp);
    } catch {}
  }
  writing.clear();
  writingAhead.clear();
}

// Directories whose leftovers this process has already looked for.
const swept = new Set<string>();

/**
 * Remove the temporaries in `dir` that a process no longer running left (a checkout killed with
 * -9), once per directory and process: every writer of working files comes through here, and
 * the walk passes over every temporary, so none is ever taken for a file of the user's.
 * `ownToo` takes those of this process's pid for leftovers too (a caller that has written none
 * there yet).
 */
export function sweepLeftovers(dir: string, opts: { ownToo?: boolean } = {}): void {
  if (swept.has(dir)) return;
  swept.add(dir);
  let names: string[];
  try {
    names = readdirSync(dir).filter(isTempName);
  } catch {
    return;
  }
  for (const n of names) {
    const pid = Number(n.slice(n.lastIndexOf('-') + 1));
    if (pid === process.pid ? !opts.ownToo : processAlive(pid)) continue;
    try {
      unlinkSync(join(dir, n));
    } catch {}
  }
}

/**
 * `name` cut to at most `maxBytes`: its start, on a character boundary, then `~` and
 * `hashLength` hex digits of a hash of the whole name, so two long names with a common start
 * stay apart. For names that would go over what a file system allows in one name.
 */
export function cutName(name: string, maxBytes: number, hashLength: number): string {
  const hash = createHash('sha256').update(name).digest('hex').slice(0, hashLength);
  let start = '';
  for (const ch of name) {
    if (Buffer.byteLength(start + ch) > maxBytes - hash.length - 1) break;
    start += ch;
  }
  return `${start}~${hash}`;
}

/** A failed write to the working tree as shoal's error: a full disk or a refusal, said plainly. */
export function mapWriteError(err: unknown, abs: string): never {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT')
    throw new ShoalError('DISK_FULL', `no space left on device writing '${abs}'`);
  if (code === 'EACCES')
    throw new ShoalError('PERMISSION_DENIED', `cannot write '${abs}': permission denied`);
  if (code === 'EFBIG')
    throw new ShoalError(
      'FILE_TOO_LARGE',
      `cannot write '${abs}': too large for this file system or your file size limit`,
    );
  throw err;
}

/** How writeContent writes. */
export interface WriteOptions {
  onBytes?: (n: number) => void;
  /**
   * A file is at `abs` already. A small file then replaces it by unlinking it before the rename:
   * ext4 flushes a file renamed over another at once (its `auto_da_alloc` guard against empty
   * files after a crash), which made replacing 50,000 small files take 9 s of renames instead of
   * 2. The path is missing for a moment (a checkout that stops there finds it missing, which is
   * no local change, and writes it when run again); what was there is staged or committed, a
   * checkout checks that first. A file is never seen torn, but after a power loss a replaced
   * small file can come back empty, like any file written without fsync: `status` then shows
   * it modified and `restore` brings it back.
   */
  replaces?: boolean;
  /**
   * Asked just before the written file replaces `abs`. False means someone changed the path
   * while the file was being written (a large one takes seconds): the temporary is removed,
   * `abs` is left as it is, and writeContent throws ChangedMeanwhile.
   */
  stillAsFound?: () => boolean;
  /** The first part of the content, written already (see StartedContent): the rest is added. */
  started?: StartedContent;
}

/**
 * A large file's content written in part before it is checked out (by CheckoutAhead, while a
 * clone fetches): a temporary outside the working tree, holding the first `leaves` leaves of
 * content `content`, up to `position`, as writeContent would have written them. It is open (`fd`)
 * only while it is being written: a clone of many files holds one descriptor, not one each.
 */
export interface StartedContent {
  content: ObjectId;
  fd: number; // -1 when closed
  tmp: string;
  position: number;
  leaves: number;
  previous: ObjectId | null;
  holes: boolean;
}

let startedCount = 0;

/**
 * A new temporary in `dir` (which must exist) for content written ahead of its checkout. It is
 * removed with the others on an interrupt, and by the next writer in `dir` if this process dies;
 * it is not a working file being written (stopWritingFiles), as it is not in the working tree.
 */
export function startContent(dir: string, content: ObjectId): StartedContent {
  sweepLeftovers(dir);
  const tmp = join(dir, `.${++startedCount}.shoal-tmp-${process.pid}`);
  const fd = openSync(tmp, 'w+', 0o666); // readable: an appender continuing it reads its last block
  writingAhead.add(tmp);
  return { content, fd, tmp, position: 0, leaves: 0, previous: null, holes: false };
}

/** Close a started content's temporary, if open, and leave it for writeContent to continue. */
export function closeStarted(s: StartedContent): void {
  const fd = s.fd;
  s.fd = -1;
  if (fd >= 0) closeSync(fd);
}

/** Close a started content's temporary and remove it, as far as it can be (never throws). */
export function dropStarted(s: StartedContent): void {
  try {
    closeStarted(s);
  } catch {}
  try {
    rmSync(s.tmp, { force: true });
  } catch {} // a read-only or failing disk: the next clone there sweeps it
  leftAhead(s.tmp);
}

/** `tmp` is no longer a temporary written ahead; its directory goes with the last of them. */
function leftAhead(tmp: string): void {
  writingAhead.delete(tmp);
  const dir = dirname(tmp);
  for (const other of writingAhead) if (dirname(other) === dir) return;
  try {
    rmdirSync(dir);
  } catch {} // another process's leftovers in it: the next clone sweeps them
}

/**
 * Move a started content's temporary to `tmp`, next to the path it is for, and open it. False,
 * and dropped, when it is not this content or cannot be moved there (another file system): then
 * the file is written whole.
 */
function adopt(s: StartedContent, ref: ContentRef, tmp: string): boolean {
  if (!idEquals(s.content, ref.id) || !isLargeContent(ref.size) || s.fd >= 0) {
    dropStarted(s);
    return false;
  }
  try {
    renameSync(s.tmp, tmp);
  } catch {
    dropStarted(s);
    return false;
  }
  const from = s.tmp;
  s.tmp = tmp;
  writing.add(tmp);
  leftAhead(from);
  try {
    s.fd = openSync(tmp, 'r+'); // readable: an appender continuing it reads its last block
  } catch {
    rmSync(tmp, { force: true });
    writing.delete(tmp);
    return false;
  }
  return true;
}

/** What writeContent throws when `stillAsFound` said no: nothing was written at the path. */
export class ChangedMeanwhile extends Error {
  constructor(abs: string) {
    super(`'${abs}' changed while its new content was being written`);
    this.name = 'ChangedMeanwhile';
  }
}

/** Repeated chunks from this size on are looked at as possible zeros (see writeContent). */
const HOLE_CHUNK_MIN = 64 * 1024;
const zeroIds = new Map<number, ObjectId>();

/**
 * Whether a leaf following `previous` in a file is left as a hole, not written: a chunk just like
 * the one before is most likely zeros (a sparse file, a disk image), and its id tells its bytes
 * without reading them.
 */
export function isHole(previous: ObjectId | null, leaf: Leaf): boolean {
  return (
    previous !== null &&
    leaf.size >= HOLE_CHUNK_MIN &&
    idEquals(previous, leaf.id) &&
    idEquals(leaf.id, zeroChunkId(leaf.size))
  );
}

/** The id of a chunk of `size` zero bytes (a few sizes are remembered: runs of zeros cut alike). */
function zeroChunkId(size: number): ObjectId {
  let id = zeroIds.get(size);
  if (!id) {
    if (zeroIds.size >= 16) zeroIds.clear();
    id = hashChunk(new Uint8Array(size));
    zeroIds.set(size, id);
  }
  return id;
}

/**
 * Write a file's content to `abs` (temp file, then rename; large files fsynced first). Returns
 * the file's stat as this wrote it, taken before the rename.
 */
export async function writeContent(
  objects: ObjectStore,
  ref: ContentRef,
  abs: string,
  executable: boolean,
  opts: WriteOptions = {},
): Promise<BigIntStats> {
  const { onBytes } = opts;
  if (stopped) throw new ShoalError('ABORTED', 'interrupted');
  const tmp = tempPathFor(abs);
  sweepLeftovers(dirname(abs));
  const started = opts.started && adopt(opts.started, ref, tmp) ? opts.started : undefined;
  let fd: number;
  if (started) fd = started.fd;
  else {
    try {
      fd = openSync(tmp, 'w', executable ? 0o777 : 0o666);
    } catch (err) {
      mapWriteError(err, abs);
    }
    writing.add(tmp);
  }
  const file: TempFile = {
    fd,
    tmp,
    abs,
    closed: false,
    replaces: opts.replaces === true,
    stillAsFound: opts.stillAsFound,
  };
  if (ref.size < DURABLE_FILE) return writeSmall(objects, ref, file, executable, onBytes);
  let out: FileAppender | null = null;
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
    // Large files go out with O_DIRECT where the filesystem allows (see FileAppender), from a
    // few reused buffers that keep memory flat however large the file is.
    out = new FileAppender(fd, tmp, started?.position ?? 0, { direct: true });
    let previous = started?.previous ?? null;
    let holes = started?.holes ?? false;
    let ahead = started?.leaves ?? 0;
    for (const leaf of contentLeaves(objects, ref)) {
      if (ahead > 0) {
        ahead--; // written already
        onBytes?.(leaf.size);
        continue;
      }
      if (isHole(previous, leaf)) {
        await out.appendZeros(leaf.size);
        holes = true;
      } else await out.append(leaf.size, (buf, at) => objects.readChunkInto(leaf.id, leaf.size, buf, at));
      previous = leaf.id;
      onBytes?.(leaf.size);
      startSync(out.position);
    }
    await out.flush();
    if (holes) ftruncateSync(fd, ref.size); // it may end in a hole
    // Released (every write settled) before the fd can close, on success or error alike.
    await out.release();
    await syncing;
    if (syncError) throw syncError;
    // A large file is made durable before it replaces the path (writeSmall leaves small ones to
    // the OS: a checkout of many small files would otherwise wait on one flush per file).
    return install(file, executable, true);
  } catch (err) {
    await out?.release();
    await syncing;
    abandon(file, err);
  }
}

/** A file being written under a temporary name next to `abs`. */
interface TempFile {
  fd: number;
  tmp: string;
  abs: string;
  closed: boolean;
  replaces: boolean; // see WriteOptions
  stillAsFound: (() => boolean) | undefined; // see WriteOptions
}

/** Give the written temporary its mode (and with `durable` an fsync), then rename it into place. */
function install(file: TempFile, executable: boolean, durable: boolean): BigIntStats {
  if (executable) makeExecutable(file.fd);
  if (durable) fsyncSync(file.fd);
  const stat = fstatSync(file.fd, { bigint: true });
  file.closed = true;
  closeSync(file.fd);
  if (file.stillAsFound && !file.stillAsFound()) throw new ChangedMeanwhile(file.abs);
  if (file.replaces && !durable) {
    try {
      unlinkSync(file.abs);
    } catch {} // gone already, or not removable: the rename reports what matters
  }
  renameSync(file.tmp, file.abs);
  writing.delete(file.tmp);
  return stat;
}

/** After a failed write: the descriptor closed (unless it was), the temporary removed. */
function abandon(file: TempFile, err: unknown): never {
  if (!file.closed) {
    try {
      closeSync(file.fd);
    } catch {}
  }
  rmSync(file.tmp, { force: true });
  writing.delete(file.tmp);
  if (err instanceof ChangedMeanwhile) throw err;
  mapWriteError(err, file.abs);
}

/**
 * A file under DURABLE_FILE: assembled in memory and written with synchronous calls. A checkout
 * of many small files spent most of its time waiting on a thread-pool round trip per file
 * otherwise (100,000 files of 1-16 KiB: 7 of 22 s idle). Not fsynced, as with large files, the
 * flush of many small files is left to the OS.
 */
function writeSmall(
  objects: ObjectStore,
  ref: ContentRef,
  file: TempFile,
  executable: boolean,
  onBytes?: (n: number) => void,
): BigIntStats {
  try {
    const buf = Buffer.allocUnsafe(ref.size);
    let at = 0;
    for (const leaf of contentLeaves(objects, ref)) {
      objects.readChunkInto(leaf.id, leaf.size, buf, at);
      at += leaf.size;
      onBytes?.(leaf.size);
    }
    for (let done = 0; done < buf.length; ) {
      const n = writeSync(file.fd, buf, done, buf.length - done, done);
      if (n === 0) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      done += n;
    }
    return install(file, executable, false);
  } catch (err) {
    abandon(file, err);
  }
}

/**
 * Execute permission wherever the file (created with mode 0777 less the umask) may be read, as
 * git does: a fixed 0755 would ignore a umask of 077. The fchmod is for a temporary name that
 * existed already, whose mode open() leaves as it was.
 */
function makeExecutable(fd: number): void {
  const mode = Number(fstatSync(fd).mode) & 0o777;
  fchmodSync(fd, mode | ((mode & 0o444) >> 2));
}

export function writeSymlink(objects: ObjectStore, id: ObjectId, abs: string): void {
  if (stopped) throw new ShoalError('ABORTED', 'interrupted');
  // The target's bytes as stored, not decoded: a target that is not UTF-8 comes back unchanged.
  const target = Buffer.from(objects.read(id, 'chunk'));
  const tmp = tempPathFor(abs);
  rmSync(tmp, { force: true });
  symlinkSync(target, tmp);
  renameSync(tmp, abs);
}
