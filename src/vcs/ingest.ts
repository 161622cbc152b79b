// Reads one working file, chunks it, hashes every chunk and (given a pack session) stores the
// chunks and index nodes not already present. Reads are double-buffered so the disk works
// while this thread chunks and hashes; memory is bounded by two read buffers.

import { type BigIntStats, closeSync, constants, fstatSync, openSync, read, readSync } from 'node:fs';
import { WasmCutter } from '../core/chunker-wasm.ts';
import {
  type ChunkerParams,
  cutRule,
  type EncodedObject,
  FileIndexBuilder,
  type FileRoot,
  findCut,
  formatChunker,
  hashChunk,
  ShoalError,
} from '../core/index.ts';
import type { PackSession } from '../store/index.ts';
import type { ChunkPipeline } from './chunk-pipeline.ts';

const READ_SIZE = 16 * 1024 * 1024;
const SMALL_FILE = 1024 * 1024;
export const PIPELINE_FILE = 32 * 1024 * 1024;

export interface IngestOptions {
  chunker: ChunkerParams;
  session: PackSession | null; // null: only compute the content id
  pipeline?: ChunkPipeline; // reads, chunks and hashes large files on a worker thread
  onBytes?: (n: number) => void;
  signal?: AbortSignal;
}

export interface Ingested extends FileRoot {
  stat: BigIntStats;
  newBytes: number; // bytes of chunks that were not stored before
}

function sameFile(a: BigIntStats, b: BigIntStats): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino;
}

function changed(path: string): never {
  throw new ShoalError(
    'FILE_CHANGED_WHILE_READING',
    `'${path}' changed while it was being read; it was not added (try again when it is not being written)`,
    { path },
  );
}

class ChunkSink {
  readonly builder: FileIndexBuilder;
  private readonly nodes: EncodedObject[] = [];
  private readonly session: PackSession | null;
  newBytes = 0;

  constructor(session: PackSession | null) {
    this.session = session;
    this.builder = new FileIndexBuilder((node) => this.nodes.push(node));
  }

  async chunk(bytes: Uint8Array): Promise<void> {
    await this.hashed(bytes, hashChunk(bytes));
  }

  async hashed(bytes: Uint8Array, id: Uint8Array): Promise<void> {
    this.builder.addChunk(id, bytes.length);
    if (this.session && (await this.session.putChunk(id, bytes))) this.newBytes += bytes.length;
    if (this.nodes.length > 0) await this.flushNodes();
  }

  /**
   * A chunk the worker pipeline cut and hashed, with the very bytes it hashed (so a file that
   * changes under us can never be stored torn; the stat check at the end reports the change).
   */
  async store(id: Uint8Array, bytes: Uint8Array): Promise<void> {
    if (this.session && !this.session.has(id)) {
      await this.session.putChunkLending(id, bytes, true);
      this.newBytes += bytes.length;
    }
  }

  /** The bytes lent to `store` are written: the pipeline may hand their memory back. */
  async written(): Promise<void> {
    await this.session?.lentWritten();
  }

  /** The pipeline's chunks, in file order. */
  async located(id: Uint8Array, length: number): Promise<void> {
    this.builder.addChunk(new Uint8Array(id), length);
    if (this.nodes.length > 0) await this.flushNodes();
  }

  async flushNodes(): Promise<void> {
    const nodes = this.nodes.splice(0);
    if (this.session) for (const n of nodes) await this.session.putObject(n);
  }

  async finish(): Promise<FileRoot> {
    const root = this.builder.finish();
    await this.flushNodes();
    return root;
  }
}

/** Chunk and store one regular file. */
export async function ingestFile(path: string, opts: IngestOptions): Promise<Ingested> {
  let fd: number;
  try {
    // Without blocking: the caller lstat'ed a regular file, but a FIFO put in its place since
    // would hold a blocking open until a writer came. The fstat below refuses anything but a file.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ShoalError('PATH_NOT_FOUND', `'${path}' does not exist`, { path });
    if (code === 'EACCES')
      throw new ShoalError('PERMISSION_DENIED', `cannot read '${path}': permission denied`);
    throw err;
  }
  try {
    const before = fstatSync(fd, { bigint: true });
    if (!before.isFile()) throw new ShoalError('NOT_A_FILE', `'${path}' is not a regular file`);
    const sink = new ChunkSink(opts.session);
    let total: number;
    if (before.size <= BigInt(SMALL_FILE)) total = await readSmall(fd, path, Number(before.size), sink, opts);
    else if (opts.pipeline && before.size >= BigInt(PIPELINE_FILE)) {
      total = await opts.pipeline.run(
        fd,
        Number(before.size),
        opts.chunker,
        {
          store: (id, bytes) => sink.store(id, bytes),
          written: () => sink.written(),
          emit: (_offset, length, id) => sink.located(id, length),
        },
        opts.onBytes,
        opts.signal,
      );
    } else total = await readLarge(fd, sink, opts);
    const after = fstatSync(fd, { bigint: true });
    if (!sameFile(before, after) || BigInt(total) !== before.size) changed(path);
    const root = await sink.finish();
    return { ...root, stat: before, newBytes: sink.newBytes };
  } finally {
    closeSync(fd);
  }
}

async function readSmall(
  fd: number,
  path: string,
  size: number,
  sink: ChunkSink,
  opts: IngestOptions,
): Promise<number> {
  // Sized to the file (one byte more, to notice growth): allocating the 1 MiB maximum for every
  // small file cost two thirds of the time of adding 20,000 of them.
  const buf = Buffer.allocUnsafe(size + 1);
  let n = 0;
  for (;;) {
    const got = readSync(fd, buf, n, buf.length - n, n);
    if (got === 0) break;
    n += got;
    if (n > size) changed(path);
  }
  // An empty file's root is the empty chunk (docs/format.md): store it like any other chunk,
  // so that cat, checkout and fsck find it.
  if (n === 0) await sink.chunk(buf.subarray(0, 0));
  const rule = cutRule(opts.chunker);
  let pos = 0;
  while (pos < n) {
    const len = findCut(buf, pos, n, rule);
    await sink.chunk(buf.subarray(pos, pos + len));
    pos += len;
  }
  opts.onBytes?.(n);
  return n;
}

// Pairs of chunking buffers for readLarge, kept between files (allocating 2 x 16 MiB for each
// file would dominate adding many files of a few MiB); a call running while another holds the
// pair gets its own.
const cutterPool = new Map<string, WasmCutter[][]>();

async function readLarge(fd: number, sink: ChunkSink, opts: IngestOptions): Promise<number> {
  const rule = cutRule(opts.chunker);
  const max = rule.max;
  const key = formatChunker(opts.chunker);
  const pool = cutterPool.get(key) ?? [];
  cutterPool.set(key, pool);
  // Each buffer receives reads at offset `max`; the unchunked tail of the previous buffer (always
  // shorter than `max`) is copied just before it, so a chunk never spans two buffers.
  const cutters = pool.pop() ?? [
    new WasmCutter(rule, max + READ_SIZE),
    new WasmCutter(rule, max + READ_SIZE),
  ];
  // fs.read on the threadpool, so the next buffer fills while this one is chunked.
  const readAt = (buf: Uint8Array, position: number): Promise<number> =>
    new Promise((resolve, reject) =>
      read(fd, buf, max, READ_SIZE, position, (err, n) => (err ? reject(err) : resolve(n))),
    );
  let pending: Promise<number> | null = null;
  try {
    let position = 0;
    let which = 0;
    pending = readAt(cutters[0]!.bytes, 0);
    let tailStart = 0;
    let tailLen = 0;
    let prev: Uint8Array | null = null;
    for (;;) {
      if (opts.signal?.aborted) throw new ShoalError('ABORTED', 'interrupted');
      const got = await pending;
      const cutter = cutters[which]!;
      const buf = cutter.bytes;
      if (prev && tailLen > 0) buf.set(prev.subarray(tailStart, tailStart + tailLen), max - tailLen);
      if (got === 0) {
        // End of file: chunk the tail with nothing more to come.
        let pos = max - tailLen;
        const end = max;
        while (pos < end) {
          const len = cutter.cut(pos, end);
          await sink.chunk(buf.subarray(pos, pos + len));
          pos += len;
        }
        return position;
      }
      position += got;
      which ^= 1;
      pending = readAt(cutters[which]!.bytes, position);
      let pos = max - tailLen;
      const end = max + got;
      while (end - pos >= max) {
        const len = cutter.cut(pos, end);
        await sink.chunk(buf.subarray(pos, pos + len));
        pos += len;
      }
      tailStart = pos;
      tailLen = end - pos;
      prev = buf;
      opts.onBytes?.(got);
    }
  } finally {
    // Never close the fd (or reuse the buffers) under a read still in flight.
    await pending?.catch(() => {});
    pool.push(cutters);
  }
}
