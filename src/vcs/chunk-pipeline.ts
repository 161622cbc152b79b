// Chunks a large file on worker threads. Below PARALLEL_MIN one worker cuts the whole file; above
// it, a second worker starts at the middle as if a chunk began there. The first worker goes on
// past the middle until one of its cuts is a chunk start the second worker also found: from that
// point both cut identically (a cut depends only on the bytes after the previous cut), so the
// result equals a serial pass. If they never meet, the first worker simply finishes the file.

import { Worker } from 'node:worker_threads';
import { type ChunkerParams, ShoalError } from '../core/index.ts';
import type { SegmentJob, WorkerMessage } from './chunk-worker.ts';

const PARALLEL_MIN = 64 * 1024 * 1024;
const MAX_UNACKED = 1024; // batches (16 MiB of file, ~12 KB of metadata each) a worker may run ahead

export type ChunkHandler = (offset: number, length: number, id: Uint8Array) => Promise<void>;

type Batch = Extract<WorkerMessage, { type: 'batch' }>;

class Channel {
  readonly worker: Worker;
  private readonly inbox: WorkerMessage[] = [];
  private wake: (() => void) | null = null;
  private failure: Error | null = null;
  control = new Int32Array(new SharedArrayBuffer(8));

  constructor() {
    this.worker = new Worker(new URL('./chunk-worker.ts', import.meta.url));
    this.worker.on('message', (m: WorkerMessage) => {
      this.inbox.push(m);
      this.wake?.();
    });
    this.worker.on('error', (err) => {
      this.failure = err;
      this.wake?.();
    });
  }

  start(job: Omit<SegmentJob, 'control' | 'maxUnacked'>): void {
    this.control = new Int32Array(new SharedArrayBuffer(8));
    this.worker.postMessage({
      ...job,
      control: this.control.buffer,
      maxUnacked: MAX_UNACKED,
    } satisfies SegmentJob);
  }

  async next(): Promise<WorkerMessage> {
    for (;;) {
      const m = this.inbox.shift();
      if (m) {
        if (m.type === 'batch') {
          Atomics.sub(this.control, 1, 1);
          Atomics.notify(this.control, 1);
        }
        if (m.type === 'error') throw new Error(`chunk worker: ${m.message}`);
        return m;
      }
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = null;
    }
  }

  stop(): void {
    Atomics.store(this.control, 0, 1);
    Atomics.notify(this.control, 1);
  }

  /** Read messages until the current job's `done`. */
  async drain(): Promise<void> {
    for (;;) if ((await this.next()).type === 'done') return;
  }
}

export class ChunkPipeline {
  private channels: Channel[] = [];

  /** Start the workers a file of `size` bytes will need, so they load while other work goes on. */
  warm(size: number): void {
    if (size >= PARALLEL_MIN) this.channel(1);
    else this.channel(0);
  }

  private channel(i: number): Channel {
    while (this.channels.length <= i) this.channels.push(new Channel());
    return this.channels[i]!;
  }

  /**
   * Cut and hash the open file `fd` of `size` bytes, calling `onChunk` for every chunk in file
   * order. Returns the number of bytes covered.
   */
  async run(
    fd: number,
    size: number,
    chunker: ChunkerParams,
    onChunk: ChunkHandler,
    onBytes?: (n: number) => void,
    signal?: AbortSignal,
  ): Promise<number> {
    try {
      return await this.cut(fd, size, chunker, onChunk, onBytes, signal);
    } catch (err) {
      await this.close(); // workers may be mid-job: start fresh next time
      throw err;
    }
  }

  private async cut(
    fd: number,
    size: number,
    chunker: ChunkerParams,
    onChunk: ChunkHandler,
    onBytes?: (n: number) => void,
    signal?: AbortSignal,
  ): Promise<number> {
    let expected = 0; // where the next chunk must start
    const emit = async (b: Batch, from: number, to = b.offsets.length): Promise<void> => {
      for (let i = from; i < to; i++) {
        if (signal?.aborted) throw new ShoalError('ABORTED', 'interrupted');
        const offset = b.offsets[i]!;
        if (offset !== expected)
          throw new Error(`chunk pipeline lost its place at ${offset} (expected ${expected})`);
        const length = b.lengths[i]!;
        await onChunk(offset, length, b.ids.subarray(i * 32, i * 32 + 32));
        expected = offset + length;
        onBytes?.(length);
      }
    };
    const first = this.channel(0);
    if (size < PARALLEL_MIN) {
      first.start({ fd, start: 0, end: Number.POSITIVE_INFINITY, chunker });
      for (;;) {
        const m = await first.next();
        if (m.type === 'done') return expected;
        await emit(m as Batch, 0);
      }
    }
    const middle = Math.floor(size / 2 / chunker.max) * chunker.max;
    const second = this.channel(1);
    first.start({ fd, start: 0, end: Number.POSITIVE_INFINITY, chunker });
    second.start({ fd, start: middle, end: Number.POSITIVE_INFINITY, chunker });

    // Chunk starts the second worker found, and its batches in order.
    const starts = new Set<number>([middle]);
    const secondBatches: Batch[] = [];
    let secondDone = false;
    let secondReach = middle; // every start below this is known
    const pullSecond = async (): Promise<void> => {
      const m = await second.next();
      if (m.type === 'done') {
        secondDone = true;
        return;
      }
      const b = m as Batch;
      secondBatches.push(b);
      for (let i = 0; i < b.offsets.length; i++) starts.add(b.offsets[i]! + b.lengths[i]!);
      secondReach = b.offsets[b.offsets.length - 1]! + b.lengths[b.lengths.length - 1]!;
    };

    let synced = -1;
    while (synced < 0) {
      const m = await first.next();
      if (m.type === 'done') {
        // The first worker reached the end of the file on its own.
        second.stop();
        await second.drain().catch(() => {});
        return expected;
      }
      const b = m as Batch;
      let i = 0;
      for (; i < b.offsets.length; i++) {
        const offset = b.offsets[i]!;
        if (offset >= middle) {
          while (!secondDone && offset > secondReach) await pullSecond();
          if (starts.has(offset)) {
            synced = offset;
            break;
          }
        }
      }
      await emit(b, 0, i); // the first worker's own chunks, up to the sync point
      if (synced >= 0) break;
    }
    first.stop();
    await first.drain().catch(() => {});
    // Continue with the second worker's chunks from the sync point on.
    for (;;) {
      const b = secondBatches.shift();
      if (b) {
        let from = 0;
        while (from < b.offsets.length && b.offsets[from]! < expected) from++;
        await emit(b, from);
        continue;
      }
      if (secondDone) return expected;
      await pullSecond();
    }
  }

  async close(): Promise<void> {
    const channels = this.channels;
    this.channels = [];
    await Promise.all(
      channels.map(async (c) => {
        c.stop();
        await c.worker.terminate();
      }),
    );
  }
}
