// The main-thread side of chunk-worker.ts: hands a file to the worker and consumes its batches
// of (offset, length, id) in order, releasing each shared slot once its chunks are stored.

import { Worker } from 'node:worker_threads';
import { type ChunkerParams, ShoalError } from '../core/index.ts';
import type { FileJob, WorkerMessage, WorkerSetup } from './chunk-worker.ts';

const SLOTS = 3;
const READ_SIZE = 16 * 1024 * 1024;

export type BatchHandler = (chunk: Uint8Array, id: Uint8Array) => Promise<void>;

export class ChunkPipeline {
  private worker: Worker | null = null;
  private state: Int32Array | null = null;
  private slots: Uint8Array[] = [];
  private readonly inbox: WorkerMessage[] = [];
  private wake: (() => void) | null = null;
  private failure: Error | null = null;

  private start(maxChunk: number): Worker {
    if (this.worker) return this.worker;
    const setup: WorkerSetup = {
      slots: Array.from({ length: SLOTS }, () => new SharedArrayBuffer(maxChunk + READ_SIZE)),
      state: new SharedArrayBuffer(4 * (SLOTS + 1)),
      readSize: READ_SIZE,
    };
    this.slots = setup.slots.map((s) => new Uint8Array(s));
    this.state = new Int32Array(setup.state);
    const worker = new Worker(new URL('./chunk-worker.ts', import.meta.url), { workerData: setup });
    worker.on('message', (m: WorkerMessage) => {
      this.inbox.push(m);
      this.wake?.();
    });
    worker.on('error', (err) => {
      this.failure = err;
      this.wake?.();
    });
    this.worker = worker;
    return worker;
  }

  private async next(): Promise<WorkerMessage> {
    for (;;) {
      const m = this.inbox.shift();
      if (m) return m;
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = null;
    }
  }

  private release(slot: number): void {
    Atomics.store(this.state!, slot, 0);
    Atomics.notify(this.state!, slot);
  }

  /** Chunk and hash the open file `fd`, calling `onChunk` for each chunk in order. */
  async run(
    fd: number,
    chunker: ChunkerParams,
    onChunk: BatchHandler,
    onBytes?: (n: number) => void,
    signal?: AbortSignal,
  ): Promise<number> {
    const worker = this.start(chunker.max);
    worker.postMessage({ fd, chunker } satisfies FileJob);
    try {
      for (;;) {
        const m = await this.next();
        if (m.type === 'done') return m.total;
        if (m.type === 'error') {
          throw m.code === 'EIO' || m.code === 'EACCES'
            ? new ShoalError('PERMISSION_DENIED', `cannot read file: ${m.message}`)
            : new Error(m.message);
        }
        const data = this.slots[m.slot]!;
        for (let i = 0; i < m.offsets.length; i++) {
          if (signal?.aborted) throw new ShoalError('ABORTED', 'interrupted');
          const off = m.offsets[i]!;
          await onChunk(data.subarray(off, off + m.lengths[i]!), m.ids.subarray(i * 32, i * 32 + 32));
        }
        this.release(m.slot);
        onBytes?.(m.bytes);
      }
    } catch (err) {
      // The worker may be blocked on a slot or mid-read: discard it; a new one starts on demand.
      await this.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    this.inbox.length = 0;
    this.failure = null;
    if (w) {
      Atomics.store(this.state!, SLOTS, 1);
      for (let i = 0; i < SLOTS; i++) Atomics.notify(this.state!, i);
      await w.terminate();
    }
  }
}
