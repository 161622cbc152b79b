// Content-addressed object storage: records in append-only packs, located through the SQLite
// index. Every read is verified against its id before it is returned. Writes go through a
// PackSession: bytes are written and fsynced before the index rows that point at them commit.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open as openFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { constants as zc, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import {
  type EncodedObject,
  hashChunk,
  hashObject,
  idEquals,
  isShoalError,
  type ObjectId,
  type ObjectKind,
  ShoalError,
  toHex,
} from '../core/index.ts';
import { transaction } from './db.ts';
import { FileAppender } from './file-appender.ts';
import {
  CODEC_RAW,
  CODEC_ZSTD,
  PACK_MAGIC,
  packFileName,
  RECORD_HEADER,
  readRecordHeader,
  type StoredType,
  typeCode,
  typeName,
  writeRecordHeader,
} from './pack.ts';

export type Compression = 'auto' | 'none';

export interface ObjectInfo {
  type: StoredType;
  pack: number;
  offset: number;
  stored: number;
  size: number;
  codec: number;
}

interface ObjectRow {
  type: number;
  pack: number;
  offset: number;
  stored: number;
  size: number;
  codec: number;
}

const PACK_LIMIT = 512 * 1024 * 1024;
const CHUNK_TYPE = typeCode('chunk');
const CHECKPOINT_BYTES = 128 * 1024 * 1024;
const SAMPLE = 4096;

/** The pack to append to cannot be opened: a directory in its place is damage, not a full disk. */
function packOpenError(err: unknown, pack: number): never {
  if ((err as NodeJS.ErrnoException).code === 'EISDIR') {
    throw new ShoalError('CORRUPT_OBJECT', `pack ${packFileName(pack)} is not a file`);
  }
  return diskError(err);
}

function diskError(err: unknown): never {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    throw new ShoalError(
      'DISK_FULL',
      'no space left on device; the repository is intact: free some space and run the command again',
    );
  }
  if (code === 'EFBIG') {
    throw new ShoalError(
      'FILE_TOO_LARGE',
      'a pack file would grow past this file system or your file size limit; the repository is intact',
    );
  }
  throw err;
}

/** How often a long-running process reads the list of damaged objects again. */
const DAMAGED_RELOAD_MS = 10_000;
/** How often reads look for descriptors of packs deleted meanwhile. */
const SWEEP_MS = 1000;

export class ObjectStore {
  readonly packDir: string;
  private readonly db: DatabaseSync;
  private readonly fds = new Map<number, number>();
  private readonly qGet: StatementSync;
  private readonly qHas: StatementSync;
  readonly compression: Compression;

  constructor(packDir: string, db: DatabaseSync, compression: Compression) {
    this.packDir = packDir;
    this.db = db;
    this.compression = compression;
    this.qGet = db.prepare('SELECT type, pack, offset, stored, size, codec FROM objects WHERE id = ?');
    this.qHas = db.prepare('SELECT 1 AS x FROM objects WHERE id = ?');
  }

  has(id: ObjectId): boolean {
    return this.qHas.get(id) !== undefined && !this.isDamaged(id);
  }

  /** Whether any chunk is stored (committed): a fresh clone's fetch has none to look up. */
  holdsChunks(): boolean {
    return (
      this.db.prepare('SELECT 1 AS x FROM objects WHERE type = ? LIMIT 1').get(typeCode('chunk')) !==
      undefined
    );
  }

  // Objects fsck found damaged, by hex id: `has` says no for them, so the next add or fetch that
  // brings the same bytes stores them again, and the row then points at the good copy.
  private damagedIds: Set<string> | undefined;

  private damagedAt = 0;

  private damaged(): Set<string> {
    // Read again now and then: a daemon runs for days while fsck (another process) records.
    if (!this.damagedIds || performance.now() - this.damagedAt > DAMAGED_RELOAD_MS) {
      this.damagedAt = performance.now();
      this.damagedIds = new Set();
      try {
        for (const r of this.db.prepare('SELECT id FROM damaged').all() as { id: Uint8Array }[])
          this.damagedIds.add(toHex(r.id));
      } catch {} // an index opened for reading only, from before the table: none recorded
    }
    return this.damagedIds;
  }

  isDamaged(id: ObjectId): boolean {
    const d = this.damaged();
    return d.size > 0 && d.has(toHex(id));
  }

  /**
   * Record what fsck found: `ids` damaged, and every other object that verified no longer so.
   * Best effort: fsck still reports when the index cannot be written.
   */
  recordDamaged(ids: ObjectId[]): void {
    try {
      transaction(this.db, () => {
        this.db.exec('DELETE FROM damaged');
        const put = this.db.prepare('INSERT OR IGNORE INTO damaged (id) VALUES (?)');
        for (const id of ids) put.run(id);
      });
      this.damagedIds = new Set(ids.map(toHex));
    } catch {}
  }

  /** A damaged object stored again: its row now points at the good copy. */
  repaired(id: ObjectId): void {
    this.db.prepare('DELETE FROM damaged WHERE id = ?').run(id);
    this.damagedIds?.delete(toHex(id));
  }

  info(id: ObjectId): ObjectInfo | undefined {
    const row = this.qGet.get(id) as ObjectRow | undefined;
    if (!row) return undefined;
    return { ...row, type: typeName(row.type) };
  }

  private fd(pack: number): number {
    if (this.fds.size > 0 && performance.now() - this.sweptAt > SWEEP_MS) this.releaseDeletedPacks();
    let fd = this.fds.get(pack);
    if (fd === undefined) {
      try {
        fd = openSync(join(this.packDir, packFileName(pack)), 'r');
      } catch {
        throw new ShoalError('CORRUPT_OBJECT', `pack ${packFileName(pack)} is missing`);
      }
      // A directory opens for reading too, and then fails every read with EISDIR.
      if (!fstatSync(fd).isFile()) {
        closeSync(fd);
        throw new ShoalError('CORRUPT_OBJECT', `pack ${packFileName(pack)} is not a file`);
      }
      this.fds.set(pack, fd);
    }
    return fd;
  }

  /** The verified bytes of an object; throws MISSING_OBJECT or CORRUPT_OBJECT. */
  read(id: ObjectId, expected?: StoredType): Uint8Array {
    return this.load(id, expected).data;
  }

  /**
   * Read a chunk of `size` bytes straight into `target` at `at`, verified like read(). A chunk
   * stored raw is read from its pack directly into place, saving an allocation and a copy per
   * chunk on the checkout path; anything else (compressed, corrupt, moved by gc) goes through
   * read(), which also produces the error.
   */
  readChunkInto(id: ObjectId, size: number, target: Uint8Array, at: number): void {
    const row = this.lookup(id, 'chunk');
    if (row.size === size && this.readRawChunk(id, row, () => target.subarray(at, at + size))) return;
    const data = this.load(id, 'chunk', row).data;
    if (data.length !== size) {
      throw new ShoalError(
        'CORRUPT_OBJECT',
        `chunk ${toHex(id)} has ${data.length} bytes, its index says ${size}`,
      );
    }
    target.set(data, at);
  }

  /**
   * The verified bytes of an object, as read(), with a chunk stored raw read into the memory
   * `place(size)` gives (a sender's reusable buffers, see SendBuffers); the rest, and anything
   * that fails its check there, into memory of its own.
   */
  readPlaced(id: ObjectId, place: (size: number) => Uint8Array): Uint8Array {
    const row = this.lookup(id);
    return this.readRawChunk(id, row, place) ?? this.load(id, undefined, row).data;
  }

  /** A raw chunk's bytes read straight into `view(size)`, if it is one and they verified. */
  private readRawChunk(
    id: ObjectId,
    row: ObjectRow,
    view: (size: number) => Uint8Array,
  ): Uint8Array | undefined {
    if (row.type !== CHUNK_TYPE || row.codec !== CODEC_RAW || row.stored !== row.size) return undefined;
    const target = view(row.size);
    let got = -1;
    try {
      got = readSync(this.fd(row.pack), target, 0, row.size, row.offset + RECORD_HEADER);
    } catch {}
    return got === row.size && idEquals(hashChunk(target), id) ? target : undefined;
  }

  /** A record exactly as stored (gc copies it verbatim), verified like read(). */
  readStored(id: ObjectId): { type: number; codec: number; size: number; stored: Uint8Array } {
    const { row, stored } = this.load(id);
    return { type: row.type, codec: row.codec, size: row.size, stored };
  }

  private lookup(id: ObjectId, expected?: StoredType): ObjectRow {
    const row = this.qGet.get(id) as ObjectRow | undefined;
    if (!row) throw new ShoalError('MISSING_OBJECT', `object ${toHex(id)} is missing`, { id: toHex(id) });
    const type = typeName(row.type);
    if (expected && type !== expected) {
      throw new ShoalError('CORRUPT_OBJECT', `object ${toHex(id)} is a ${type}, expected a ${expected}`);
    }
    return row;
  }

  /** The object's record, read and verified; `row` is its lookup when the caller has made it. */
  private load(
    id: ObjectId,
    expected?: StoredType,
    row = this.lookup(id, expected),
  ): { row: ObjectRow; stored: Uint8Array; data: Uint8Array } {
    try {
      return this.loadFrom(id, row);
    } catch (err) {
      if (!isShoalError(err, 'CORRUPT_OBJECT')) throw err;
      // gc may have moved the object and unlinked its pack after the row was read, or a cached
      // fd may belong to a pack file gc has since removed: look the row up afresh, once.
      this.forgetFd(row.pack);
      return this.loadFrom(id, this.lookup(id, expected));
    }
  }

  private loadFrom(id: ObjectId, row: ObjectRow): { row: ObjectRow; stored: Uint8Array; data: Uint8Array } {
    const type = typeName(row.type);
    const buf = Buffer.allocUnsafe(RECORD_HEADER + row.stored);
    const got = readSync(this.fd(row.pack), buf, 0, buf.length, row.offset);
    const corrupt = (why: string): never => {
      throw new ShoalError(
        'CORRUPT_OBJECT',
        `object ${toHex(id)} is corrupt (${why}; ${packFileName(row.pack)} at offset ${row.offset})`,
        { id: toHex(id) },
      );
    };
    if (got !== buf.length) corrupt('pack is truncated');
    const header = readRecordHeader(buf, 0);
    if (!header || !idEquals(header.id, id) || header.stored !== row.stored || header.type !== row.type) {
      corrupt('bad record header');
    }
    const stored: Uint8Array = buf.subarray(RECORD_HEADER);
    let data = stored;
    if (row.codec === CODEC_ZSTD) {
      try {
        data = zstdDecompressSync(stored);
      } catch {
        corrupt('cannot decompress');
      }
    } else if (row.codec !== CODEC_RAW) corrupt(`unknown codec ${row.codec}`);
    if (data.length !== row.size) corrupt('wrong size');
    const actual = type === 'chunk' ? hashChunk(data) : hashObject(type as ObjectKind, data);
    if (!idEquals(actual, id)) corrupt('hash mismatch');
    return { row, stored, data };
  }

  /** Every stored object id with its type, in id order, in pages (for fsck and gc). */
  *list(): Generator<{ id: ObjectId; info: ObjectInfo }> {
    const q = this.db.prepare(
      'SELECT id, type, pack, offset, stored, size, codec FROM objects WHERE id > ? ORDER BY id LIMIT 1000',
    );
    let after: Uint8Array = new Uint8Array(0);
    for (;;) {
      const rows = q.all(after) as unknown as (ObjectRow & { id: Uint8Array })[];
      if (rows.length === 0) return;
      for (const r of rows) yield { id: r.id, info: { ...r, type: typeName(r.type) } };
      after = rows[rows.length - 1]!.id;
    }
  }

  totals(): { objects: number; chunks: number; logical: number; stored: number } {
    const r = this.db
      .prepare(
        'SELECT COUNT(*) AS objects, SUM(type = 0) AS chunks, COALESCE(SUM(size), 0) AS logical, COALESCE(SUM(stored + 44), 0) AS stored FROM objects',
      )
      .get() as { objects: number; chunks: number | null; logical: number; stored: number };
    return { objects: r.objects, chunks: r.chunks ?? 0, logical: r.logical, stored: r.stored };
  }

  /**
   * Packs whose header is not what shoal writes: nothing reads it (objects are found by offset),
   * so it is a sign of damage from outside, said by fsck.
   */
  packHeaderProblems(): { pack: string; problem: string }[] {
    const problems: { pack: string; problem: string }[] = [];
    for (const { id } of this.db.prepare('SELECT id FROM packs ORDER BY id').all() as { id: number }[]) {
      const head = Buffer.alloc(PACK_MAGIC.length);
      try {
        readSync(this.fd(id), head, 0, head.length, 0);
      } catch (err) {
        if (!isShoalError(err)) throw err;
        // Removed meanwhile by a gc: gone from the table too, and no damage.
        if (this.db.prepare('SELECT 1 FROM packs WHERE id = ?').get(id) === undefined) continue;
        problems.push({ pack: packFileName(id), problem: err.message });
        continue;
      }
      if (!head.equals(PACK_MAGIC))
        problems.push({ pack: packFileName(id), problem: `pack ${packFileName(id)} has a damaged header` });
    }
    return problems;
  }

  private sweptAt = 0;

  /**
   * Close the descriptors of packs a gc (in another process) deleted: held open, they kept the
   * disk space gc said it reclaimed for as long as a serving peer or the daemon ran. Called now
   * and then by reads, and by a server on a timer.
   */
  releaseDeletedPacks(): void {
    this.sweptAt = performance.now();
    for (const [pack, fd] of this.fds) {
      let gone: boolean;
      try {
        gone = fstatSync(fd).nlink === 0;
      } catch {
        gone = true;
      }
      if (gone) this.forgetFd(pack);
    }
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }

  /**
   * Start writing; the caller must hold the repository's writer lock. `newPack` starts a fresh
   * pack instead of appending to the last one (gc must not append to a pack it may remove).
   * `direct` writes whole blocks with O_DIRECT where the filesystem takes it, past the page cache:
   * for bytes nothing is about to read back. `add` asks for it: it stores chunks of files that
   * stay in the working tree, and spares the kernel finding page-cache memory for every byte.
   * Other sessions write through the page cache. What a fetch stores is read back at once by the
   * checkout that follows it (a pull): with direct writes a 1 GiB clone spent less system time
   * fetching but more reading the packs back from the device, and ended later (BENCHMARKS.md,
   * "Direct I/O: what was tried, and what was kept"), until a clone wrote its files as the
   * chunks came (writeDirectly).
   */
  async beginSession(opts: { newPack?: boolean; direct?: boolean } = {}): Promise<PackSession> {
    const session = new PackSession(this, this.db, opts.direct === true);
    await session.open(opts.newPack === true);
    return session;
  }

  forgetFd(pack: number): void {
    const fd = this.fds.get(pack);
    this.fds.delete(pack);
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {} // already unusable
    }
  }
}

interface PendingRow {
  id: Uint8Array;
  type: number;
  pack: number;
  offset: number;
  stored: number;
  size: number;
  codec: number;
  copy?: boolean; // a verbatim copy by gc: the existing row is repointed
  replaces?: boolean; // a good copy of an object recorded as damaged: its row is rewritten
}

/**
 * Decides how to store each chunk: zstd only where it saves at least 10%, probed on a sample.
 * After a run of 16 incompressible chunks (random data, media) only every eighth chunk is probed,
 * which measured 0.2 s saved per GiB of random data; after 256, every 64th. A probe costs about
 * 60 us, most of it zstd setting up its context: every eighth chunk of a GiB still cost 0.12 s
 * of a clone's 4 s of CPU. Compressible data after a long incompressible run is found within 64
 * chunks, and every chunk is probed again from there.
 */
class CompressionPolicy {
  private readonly mode: Compression;
  private incompressibleRun = 0;

  constructor(mode: Compression) {
    this.mode = mode;
  }

  apply(bytes: Uint8Array): { codec: number; data: Uint8Array } {
    const raw = { codec: CODEC_RAW, data: bytes };
    if (this.mode === 'none' || bytes.length < 64) return raw;
    // Counted once per chunk, probed or not: a probe every 8th (64th) chunk exactly.
    const run = this.incompressibleRun;
    if (run >= 16 && run % (run >= 256 ? 64 : 8) !== 0) {
      this.incompressibleRun++;
      return raw;
    }
    if (bytes.length > SAMPLE * 2) {
      const mid = (bytes.length >>> 1) - SAMPLE / 2;
      const probe = zstdCompressSync(bytes.subarray(mid, mid + SAMPLE), {
        params: { [zc.ZSTD_c_compressionLevel]: 1 },
      });
      if (probe.length > SAMPLE * 0.9) {
        this.incompressibleRun++;
        return raw;
      }
    }
    const packed = zstdCompressSync(bytes, { params: { [zc.ZSTD_c_compressionLevel]: 3 } });
    if (packed.length <= bytes.length * 0.9) {
      this.incompressibleRun = 0;
      return { codec: CODEC_ZSTD, data: packed };
    }
    this.incompressibleRun++;
    return raw;
  }
}

export class PackSession {
  private readonly store: ObjectStore;
  private readonly db: DatabaseSync;
  private pack = 0;
  private fh: FileHandle | null = null;
  private out: FileAppender | null = null;
  private writeError: unknown = null;
  private pending: PendingRow[] = [];
  private readonly pendingIds = new Set<string>();
  private sinceCheckpoint = 0;
  private readonly insert: StatementSync;
  private readonly repoint: StatementSync;
  private readonly replace: StatementSync;
  private readonly qHas: StatementSync;
  private readonly writes: { direct: boolean };
  bytesWritten = 0;
  private readonly chunkPolicy: CompressionPolicy;
  private readonly objectPolicy: CompressionPolicy;
  // The fsync of the previous checkpoint, still running while appending goes on.
  private syncing: { done: Promise<void>; rows: PendingRow[]; pack: number; size: number } | null = null;
  // The last checkpoint called (settled either way): the next one runs after it.
  private turn: Promise<void> = Promise.resolve();

  constructor(store: ObjectStore, db: DatabaseSync, direct: boolean) {
    this.store = store;
    this.writes = { direct };
    this.chunkPolicy = new CompressionPolicy(store.compression);
    this.objectPolicy = new CompressionPolicy(store.compression);
    this.db = db;
    this.insert = db.prepare(
      'INSERT OR IGNORE INTO objects (id, type, pack, offset, stored, size, codec) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.repoint = db.prepare('UPDATE objects SET pack = ?, offset = ? WHERE id = ?');
    this.replace = db.prepare(
      'UPDATE objects SET type = ?, pack = ?, offset = ?, stored = ?, size = ?, codec = ? WHERE id = ?',
    );
    this.qHas = db.prepare('SELECT 1 AS x FROM objects WHERE id = ?');
  }

  async open(newPack = false): Promise<void> {
    const last = this.db.prepare('SELECT id, size FROM packs ORDER BY id DESC LIMIT 1').get() as
      | { id: number; size: number }
      | undefined;
    if (last && last.size < PACK_LIMIT && !newPack) {
      this.pack = last.id;
      const path = join(this.store.packDir, packFileName(last.id));
      this.fh = await openFile(path, 'r+').catch((err) => packOpenError(err, last.id));
      this.out = new FileAppender(this.fh.fd, path, last.size, this.writes);
    } else {
      await this.newPack((last?.id ?? 0) + 1);
    }
  }

  private async newPack(n: number): Promise<void> {
    this.pack = n;
    const path = join(this.store.packDir, packFileName(n));
    this.fh = await openFile(path, 'w+').catch(diskError);
    await this.fh.write(PACK_MAGIC, 0, PACK_MAGIC.length, 0).catch(diskError);
    await this.fh.sync().catch(diskError);
    this.db.prepare('INSERT INTO packs (id, size) VALUES (?, ?)').run(n, PACK_MAGIC.length);
    this.out = new FileAppender(this.fh.fd, path, PACK_MAGIC.length, this.writes);
  }

  /** True when the object is already stored or written in this session. */
  has(id: ObjectId): boolean {
    return this.pendingIds.has(toHex(id)) || (this.qHas.get(id) !== undefined && !this.store.isDamaged(id));
  }

  /**
   * Store a chunk whose id the caller computed from these bytes. Returns false for a duplicate.
   * A caller that already knows the chunk is absent (a fetch plans only missing chunks) passes
   * `knownMissing` to skip the lookup; a duplicate row would be ignored at commit anyway.
   */
  putChunk(id: ObjectId, bytes: Uint8Array, knownMissing = false): Promise<boolean> {
    return this.storeChunk(id, bytes, knownMissing, false);
  }

  /**
   * putChunk without copying `bytes` (when they are stored as they are): the caller keeps them
   * unchanged until `lentWritten()` resolves.
   */
  putChunkLending(id: ObjectId, bytes: Uint8Array, knownMissing = false): Promise<boolean> {
    return this.storeChunk(id, bytes, knownMissing, true);
  }

  private async storeChunk(
    id: ObjectId,
    bytes: Uint8Array,
    knownMissing: boolean,
    lend: boolean,
  ): Promise<boolean> {
    if (!knownMissing && this.has(id)) return false;
    const { codec, data } = this.chunkPolicy.apply(bytes);
    // Lent only when stored as they are: compressed bytes are this session's own copy.
    await this.append(id, typeCode('chunk'), codec, data, bytes.length, false, lend && data === bytes);
    return true;
  }

  /** Every chunk lent to putChunkLending so far is written: its memory may be reused. */
  async lentWritten(): Promise<void> {
    if (this.writeError) diskError(this.writeError);
    await this.out?.lentWritten().catch(diskError);
  }

  async putObject(obj: EncodedObject): Promise<boolean> {
    if (this.has(obj.id)) return false;
    const { codec, data } =
      obj.bytes.length > 1024 ? this.objectPolicy.apply(obj.bytes) : { codec: CODEC_RAW, data: obj.bytes };
    await this.append(obj.id, typeCode(obj.kind), codec, data, obj.bytes.length);
    return true;
  }

  /**
   * Append a stored record verbatim (gc compacting packs): read and verified from its current
   * pack, its row is repointed to the copy when the copy is durable, at a checkpoint.
   */
  async copyRecord(id: ObjectId): Promise<void> {
    const r = this.store.readStored(id);
    await this.append(id, r.type, r.codec, r.stored, r.size, true);
  }

  /**
   * From here on, whole blocks go to the pack with O_DIRECT, as with `direct` (beginSession): for
   * a fetch whose chunks are written to their files as they arrive, so that nothing reads them
   * back. Call it with no append or flush running.
   */
  async writeDirectly(): Promise<void> {
    if (this.writes.direct || !this.out || !this.fh) return;
    const out = this.out;
    await out.flush().catch(diskError);
    await out.release();
    this.writes.direct = true;
    this.out = new FileAppender(
      this.fh.fd,
      join(this.store.packDir, packFileName(this.pack)),
      out.position,
      this.writes,
    );
  }

  /** Whether whole blocks go to the pack with O_DIRECT (asked for, and taken by the filesystem). */
  get direct(): boolean {
    return this.out?.direct ?? false;
  }

  /** The pack this session appends to. */
  get currentPack(): number {
    return this.pack;
  }

  private async append(
    id: ObjectId,
    type: number,
    codec: number,
    data: Uint8Array,
    size: number,
    copy = false,
    lend = false,
  ): Promise<void> {
    if (this.writeError) diskError(this.writeError);
    const total = RECORD_HEADER + data.length;
    if (this.out!.position + total > PACK_LIMIT && this.out!.position > PACK_MAGIC.length) {
      await this.flush();
      await this.closePack();
      await this.newPack(this.pack + 1);
    }
    const offset = this.out!.position;
    const header = (buf: Buffer, at: number): void =>
      writeRecordHeader(buf, at, { type, codec, stored: data.length, size, id });
    await (lend
      ? this.out!.appendLending(RECORD_HEADER, header, data)
      : this.out!.append(total, (buf, at) => {
          header(buf, at);
          buf.set(data, at + RECORD_HEADER);
        })
    ).catch(diskError);
    const idCopy = new Uint8Array(id);
    const replaces = !copy && this.store.isDamaged(id);
    this.pending.push({
      id: idCopy,
      type,
      pack: this.pack,
      offset,
      stored: data.length,
      size,
      codec,
      copy,
      replaces,
    });
    this.pendingIds.add(toHex(idCopy));
    this.bytesWritten += total;
    this.sinceCheckpoint += total;
    if (this.sinceCheckpoint >= CHECKPOINT_BYTES) await this.checkpoint();
  }

  /** Release the current pack's appender and descriptor (its bytes already flushed). */
  private async closePack(): Promise<void> {
    const out = this.out;
    const fh = this.fh;
    this.out = null;
    this.fh = null;
    await out?.release();
    await fh?.close();
  }

  /**
   * Start making everything appended so far durable: the writes are awaited, an fsync starts,
   * and its index rows commit once that fsync is done, at the next checkpoint or at close.
   * Appending goes on meanwhile, so the disk flush overlaps chunking and hashing.
   *
   * What a checkpoint covers is fixed when it is called: a record appended while it waits (a
   * caller may append concurrently) may not be written when its fsync starts, so its row waits
   * for the next checkpoint. Checkpoints run one after another, each after the one before.
   */
  async checkpoint(): Promise<void> {
    if (this.writeError) diskError(this.writeError);
    const rows = this.pending;
    const size = this.out!.position;
    const pack = this.pack;
    const out = this.out!;
    const fh = this.fh!;
    this.pending = [];
    this.sinceCheckpoint = 0;
    await this.inTurn(async () => {
      await out.flush().catch(diskError); // every byte up to `size`, and perhaps more
      await this.commitSynced();
      if (rows.length === 0) return;
      this.syncing = {
        done: fh.datasync().catch((err) => {
          this.writeError ??= err;
        }),
        rows,
        pack,
        size,
      };
    });
  }

  /** Run `fn` after every checkpoint called before it. */
  private inTurn(fn: () => Promise<void>): Promise<void> {
    const run = this.turn.then(fn);
    this.turn = run.catch(() => {});
    return run;
  }

  /** Wait for the running fsync, then commit the rows it made durable. */
  private async commitSynced(): Promise<void> {
    const s = this.syncing;
    if (!s) return;
    this.syncing = null;
    await s.done;
    if (this.writeError) diskError(this.writeError);
    transaction(this.db, () => {
      for (const r of s.rows) {
        if (r.copy) this.repoint.run(r.pack, r.offset, r.id);
        else if (r.replaces) {
          this.replace.run(r.type, r.pack, r.offset, r.stored, r.size, r.codec, r.id);
          this.insert.run(r.id, r.type, r.pack, r.offset, r.stored, r.size, r.codec); // gone meanwhile
        } else this.insert.run(r.id, r.type, r.pack, r.offset, r.stored, r.size, r.codec);
      }
      this.db.prepare('UPDATE packs SET size = MAX(size, ?) WHERE id = ?').run(s.size, s.pack);
    });
    for (const r of s.rows) {
      this.pendingIds.delete(toHex(r.id));
      if (r.replaces) this.store.repaired(r.id);
    }
  }

  /** Everything appended so far is durable and indexed when this resolves. */
  async flush(): Promise<void> {
    await this.checkpoint();
    await this.inTurn(() => this.commitSynced());
  }

  /** Commit what was written and release the pack. */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.abort();
    }
  }

  /** Drop uncommitted records; the pack is truncated back by recovery or here. */
  async abort(): Promise<void> {
    await this.turn; // a checkpoint still running finishes (or fails) first
    const out = this.out;
    this.out = null;
    await out?.release();
    await this.syncing?.done;
    this.syncing = null;
    const fh = this.fh;
    this.fh = null;
    if (!fh) return;
    this.pending = [];
    this.pendingIds.clear();
    const row = this.db.prepare('SELECT size FROM packs WHERE id = ?').get(this.pack) as
      | { size: number }
      | undefined;
    try {
      if (row && fstatSync(fh.fd).size > row.size) await fh.truncate(row.size);
    } catch {}
    await fh.close();
    this.store.forgetFd(this.pack);
  }
}
