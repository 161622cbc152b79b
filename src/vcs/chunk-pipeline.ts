// Chunks a large file on worker threads. Below PARALLEL_MIN one worker cuts the whole file; above
// it, a second worker starts at the middle as if a chunk began there. The first worker goes on
// past the middle until one of its cuts is a chunk start the second worker also found: from that
// point both cut identically (a cut depends only on the bytes after the previous cut), so the
// result equals a serial pass. If they never meet, the first worker simply finishes the file.
//
// Chunks reach the main thread in two steps. As soon as a batch arrives, its chunks' bytes are
// offered to `store` straight from the worker's shared memory, and the worker's slot is released;
// the chunk list is then emitted in file order, as metadata only. The second worker's first
// chunks may not be chunks of the file at all (until the two workers' cuts meet), so their bytes
// are copied aside and stored only if they are emitted. Should the cuts not meet within those
// first chunks (data where they do not meet within megabytes is contrived), chunks of the second
// worker that the file does not use can be stored; they are unreachable, and gc removes them.

import { Worker } from 'node:worker_threads';
import { type ChunkerParams, ShoalError } from '../core/index.ts';
import type { SegmentJob, WorkerMessage } from './chunk-worker.ts';

const PARALLEL_MIN = 64 * 1024 * 1024;
/** Read buffers of 4 MiB per worker, shared with this thread. */
const SLOTS = 4;
/** The second worker's chunks whose bytes are held back until the two workers' cuts meet. */
const HELD_CHUNKS = 16;

export interface ChunkTarget {
  /**
   * A chunk's bytes, as they arrive (not in file order): store them if they are new. The bytes
   * stay valid until `written` resolves (without `written`, until the returned promise settles).
   */
  store(id: Uint8Array, bytes: Uint8Array): Promise<void>;
  /** Resolves once the bytes given to `store` so far are no longer needed. */
  written?(): Promise<void>;
  /** Every chunk of the file, in file order, after its bytes were offered to `store`. */
  emit(offset: number, length: number, id: Uint8Array): Promise<void>;
}

type Batch = Extract<WorkerMessage, { type: 'batch' }>;
type Received = Exclude<WorkerMessage, { type: 'memory' }>;

class Channel {
  readonly worker: Worker;
  private readonly inbox: WorkerMessage[] = [];
  private failure: Error | null = null;
  private control = new Int32Array(new SharedArrayBuffer(4 * (1 + SLOTS)));
  memory: Uint8Array = new Uint8Array(0);
  /** Called whenever a message or a failure arrives. */
  onArrival: (() => void) | null = null;

  constructor() {
    this.worker = new Worker(new URL('./chunk-worker.ts', import.meta.url));
    this.worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'memory') this.memory = new Uint8Array(m.buffer, m.byteOffset, m.length);
      else this.inbox.push(m);
      this.onArrival?.();
    });
    this.worker.on('error', (err) => {
      this.failure = err;
      this.onArrival?.();
    });
  }

  start(job: Omit<SegmentJob, 'control' | 'slots'>): void {
    this.control = new Int32Array(new SharedArrayBuffer(4 * (1 + SLOTS)));
    this.worker.postMessage({ ...job, slots: SLOTS, control: this.control.buffer } satisfies SegmentJob);
  }

  /** The next message, if one has arrived. */
  take(): Received | undefined {
    if (this.failure) throw this.failure;
    const m = this.inbox.shift() as Received | undefined;
    if (m?.type === 'error') throw new Error(`chunk worker: ${m.message}`);
    return m;
  }

  async next(): Promise<Received> {
    for (;;) {
      const m = this.take();
      if (m) return m;
      await new Promise<void>((resolve) => {
        this.onArrival = resolve;
      });
      this.onArrival = null;
    }
  }

  /** Fail the channel: the next take() throws `err`, and a wait for a message ends now. */
  fail(err: unknown): void {
    this.failure ??= err instanceof Error ? err : new Error(String(err));
    this.onArrival?.();
  }

  /** Let the worker fill the slot of a batch again. */
  release(slot: number): void {
    Atomics.store(this.control, 1 + slot, 0);
    Atomics.notify(this.control, 1 + slot);
  }

  stop(): void {
    Atomics.store(this.control, 0, 1);
    for (let s = 0; s < SLOTS; s++) Atomics.notify(this.control, 1 + s);
  }

  /** Read messages until the current job's `done`. */
  async drain(): Promise<void> {
    for (;;) {
      const m = await this.next();
      if (m.type === 'done') return;
      if (m.type === 'batch') this.release(m.slot);
    }
  }
}

/**
 * The next message from either of two channels. Both are taken in turn when both have some, so
 * that neither worker waits for its slots while the other keeps the main thread busy.
 */
async function nextOf(a: Channel, b: Channel, turn: number): Promise<{ from: Channel; m: Received }> {
  const [x, y] = turn % 2 === 0 ? [a, b] : [b, a];
  for (;;) {
    const fromX = x.take();
    if (fromX) return { from: x, m: fromX };
    const fromY = y.take();
    if (fromY) return { from: y, m: fromY };
    await new Promise<void>((resolve) => {
      a.onArrival = resolve;
      b.onArrival = resolve;
    });
    a.onArrival = null;
    b.onArrival = null;
  }
}

export class ChunkPipeline {
  private channels: Channel[] = [];
  // Slots whose bytes the target is still writing, released to their worker when it is done.
  private releasing: Promise<void>[] = [];
  private releaseError: unknown = null;

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
   * Cut and hash the open file `fd` of `size` bytes, offering every chunk to `target`. Returns
   * the number of bytes covered.
   */
  async run(
    fd: number,
    size: number,
    chunker: ChunkerParams,
    target: ChunkTarget,
    onBytes?: (n: number) => void,
    signal?: AbortSignal,
  ): Promise<number> {
    this.releasing = [];
    this.releaseError = null;
    try {
      const covered = await this.cut(fd, size, chunker, target, onBytes, signal);
      await this.slotsReturned();
      return covered;
    } catch (err) {
      await this.slotsReturned().catch(() => {});
      await this.close(); // workers may be mid-job: start fresh next time
      throw err;
    }
  }

  /**
   * Wait until the target is done with every slot's bytes: a worker must not overwrite memory a
   * write still reads from, nor start its next job before.
   */
  private async slotsReturned(): Promise<void> {
    await Promise.all(this.releasing.splice(0));
    if (this.releaseError) throw this.releaseError;
  }

  private async cut(
    fd: number,
    size: number,
    chunker: ChunkerParams,
    target: ChunkTarget,
    onBytes?: (n: number) => void,
    signal?: AbortSignal,
  ): Promise<number> {
    let expected = 0; // where the next chunk must start
    const held = new Map<number, Uint8Array>(); // offset -> bytes copied aside
    const emit = async (b: Batch, from: number, to = b.offsets.length): Promise<void> => {
      for (let i = from; i < to; i++) {
        if (signal?.aborted) throw new ShoalError('ABORTED', 'interrupted');
        const offset = b.offsets[i]!;
        if (offset !== expected)
          throw new Error(`chunk pipeline lost its place at ${offset} (expected ${expected})`);
        const length = b.lengths[i]!;
        const id = b.ids.subarray(i * 32, i * 32 + 32);
        const bytes = held.get(offset);
        if (bytes) await target.store(id, bytes);
        await target.emit(offset, length, id);
        expected = offset + length;
        onBytes?.(length);
      }
    };
    // Offer a batch's chunks to `store`, except its first `hold`, which are copied aside; then
    // free the worker's slot once the target is done with its bytes (it may still be writing
    // them: the main thread goes on meanwhile). Returns how many chunks it held.
    const receive = async (from: Channel, b: Batch, hold = 0): Promise<number> => {
      if (this.releaseError) throw this.releaseError;
      const n = Math.min(hold, b.offsets.length);
      for (let i = 0; i < b.offsets.length; i++) {
        const bytes = from.memory.subarray(b.at[i]!, b.at[i]! + b.lengths[i]!);
        if (i < n) held.set(b.offsets[i]!, Buffer.from(bytes));
        else await target.store(b.ids.subarray(i * 32, i * 32 + 32), bytes);
      }
      if (!target.written) {
        from.release(b.slot);
        return n;
      }
      this.releasing.push(
        target.written().then(
          () => from.release(b.slot),
          (err) => {
            this.releaseError ??= err;
            // The worker may be waiting for this very slot, and this thread for the worker's
            // next batch: wake this thread with the error (the workers are stopped after).
            from.fail(err);
          },
        ),
      );
      // At most every slot of both workers outstanding; usually each is written long before.
      if (this.releasing.length > 2 * SLOTS) await this.releasing.shift();
      return n;
    };

    const first = this.channel(0);
    if (size < PARALLEL_MIN) {
      first.start({ fd, start: 0, chunker });
      for (;;) {
        const m = await first.next();
        if (m.type === 'done') return expected;
        await receive(first, m as Batch);
        await emit(m as Batch, 0);
      }
    }
    const middle = Math.floor(size / 2 / chunker.max) * chunker.max;
    const second = this.channel(1);
    first.start({ fd, start: 0, chunker });
    second.start({ fd, start: middle, chunker });

    const firstBatches: Batch[] = []; // received, not yet emitted
    const secondBatches: Batch[] = [];
    const starts = new Set<number>([middle]); // chunk starts the second worker found
    let secondReach = middle; // every second-worker start below this is known
    let firstDone = false;
    let secondDone = false;
    let toHold = HELD_CHUNKS;
    let synced = -1; // the first offset where both workers cut alike
    let firstIndex = 0; // next chunk of firstBatches[0] to look at
    let turn = 0;

    // Emit the first worker's chunks up to the sync point, as far as what arrived tells.
    const advanceFirst = async (): Promise<void> => {
      while (synced < 0 && firstBatches.length > 0) {
        const b = firstBatches[0]!;
        let i = firstIndex;
        let blocked = false;
        for (; i < b.offsets.length; i++) {
          const offset = b.offsets[i]!;
          if (offset < middle) continue;
          if (starts.has(offset)) {
            synced = offset;
            break;
          }
          if (!secondDone && offset > secondReach) {
            blocked = true; // the second worker's cuts up to here are not known yet
            break;
          }
        }
        await emit(b, firstIndex, i);
        firstIndex = i;
        if (synced >= 0 || blocked) return;
        firstBatches.shift();
        firstIndex = 0;
      }
    };

    while (synced < 0) {
      const { from, m } = await nextOf(first, second, turn++);
      if (from === second) {
        if (m.type === 'done') secondDone = true;
        else {
          const b = m as Batch;
          toHold -= await receive(second, b, toHold);
          for (let i = 0; i < b.offsets.length; i++) starts.add(b.offsets[i]! + b.lengths[i]!);
          secondReach = b.offsets[b.offsets.length - 1]! + b.lengths[b.lengths.length - 1]!;
          secondBatches.push(b);
        }
      } else if (m.type === 'done') firstDone = true;
      else {
        await receive(first, m as Batch);
        firstBatches.push(m as Batch);
      }
      await advanceFirst();
      if (synced < 0 && firstDone && firstBatches.length === 0) {
        // The first worker reached the end of the file on its own.
        second.stop();
        if (!secondDone) await this.settle(second);
        return expected;
      }
    }
    first.stop();
    if (!firstDone) await this.settle(first);
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
      const m = await second.next();
      if (m.type === 'done') secondDone = true;
      else {
        toHold -= await receive(second, m as Batch, toHold);
        secondBatches.push(m as Batch);
      }
    }
  }

  /** Wait for a stopped worker's job to end; a worker that failed instead is replaced. */
  private async settle(c: Channel): Promise<void> {
    try {
      await c.drain();
    } catch {
      const i = this.channels.indexOf(c);
      if (i >= 0) this.channels.splice(i, 1, new Channel());
      await c.worker.terminate();
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
