// Worker thread that chunks and hashes one segment of a file. It reads the file into slots of
// a WebAssembly memory shared with the main thread and reports (offset, length, id, place)
// for every chunk; the main thread copies the bytes of the chunks it has to store straight out
// of the slot, then frees the slot. The bytes stored are therefore exactly the bytes hashed,
// and nothing is read or hashed twice.

import { readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
// Imported from the modules themselves, not core/index.ts: a worker starts in a third of the time.
import { type ChunkerParams, cutRule, formatChunker } from '../core/chunker.ts';
import { WasmCutter } from '../core/chunker-wasm.ts';
import { hashChunk } from '../core/id.ts';

const READ_SIZE = 4 * 1024 * 1024;

export interface SegmentJob {
  fd: number;
  start: number; // a chunk starts here; the job cuts from there to the end of the file
  chunker: ChunkerParams;
  /** Read buffers; each holds up to `max` bytes carried over, then READ_SIZE bytes read. */
  slots: number;
  /**
   * Int32Array over a SharedArrayBuffer: [0] the stop flag, set by the main thread; [1 + s] is 1
   * while slot s holds a batch the main thread has not released.
   */
  control: SharedArrayBuffer;
}

export type WorkerMessage =
  /** Sent first in every job: the memory the batches' `at` positions point into. */
  | { type: 'memory'; buffer: SharedArrayBuffer; byteOffset: number; length: number }
  | {
      type: 'batch';
      slot: number;
      offsets: Float64Array; // file offset of each chunk
      lengths: Uint32Array;
      ids: Uint8Array; // 32 bytes per chunk
      at: Uint32Array; // where each chunk's bytes are in the shared memory
    }
  | { type: 'done' }
  | { type: 'error'; code: string | undefined; message: string };

// A worker cuts one file after another: its memory is kept for the next job with the same rule.
let lastCutter: { key: string; cutter: WasmCutter; slotSize: number } | null = null;

function cutterFor(chunker: ChunkerParams, slots: number): { cutter: WasmCutter; slotSize: number } {
  const key = `${formatChunker(chunker)}/${slots}`;
  if (lastCutter?.key !== key) {
    const rule = cutRule(chunker);
    const slotSize = rule.max + READ_SIZE;
    lastCutter = { key, cutter: new WasmCutter(rule, slotSize * slots, true), slotSize };
  }
  return lastCutter;
}

function run(job: SegmentJob): WorkerMessage {
  const max = cutRule(job.chunker).max;
  const control = new Int32Array(job.control);
  const { cutter, slotSize } = cutterFor(job.chunker, job.slots);
  const memory = cutter.bytes;
  parentPort!.postMessage({
    type: 'memory',
    buffer: memory.buffer as SharedArrayBuffer,
    byteOffset: memory.byteOffset,
    length: memory.length,
  } satisfies WorkerMessage);
  const stopped = (): boolean => Atomics.load(control, 0) !== 0;
  let base = job.start; // file offset of the next read
  let tailStart = 0; // bytes not chunked yet, at the end of the previous slot
  let tailLen = 0;
  for (let round = 0; ; round++) {
    const slot = round % job.slots;
    // Wait for the main thread to release this slot (it may also tell us to stop).
    while (Atomics.load(control, 1 + slot) !== 0) {
      if (stopped()) return { type: 'done' };
      Atomics.wait(control, 1 + slot, 1, 500);
    }
    if (stopped()) return { type: 'done' };
    const slotStart = slot * slotSize;
    const readStart = slotStart + max;
    // The carried tail (shorter than max) goes just in front of the new bytes.
    memory.copyWithin(readStart - tailLen, tailStart, tailStart + tailLen);
    let got = 0;
    while (got < READ_SIZE) {
      const n = readSync(job.fd, memory, readStart + got, READ_SIZE - got, base + got);
      if (n === 0) break;
      got += n;
    }
    const eof = got < READ_SIZE;
    const end = readStart + got;
    let pos = readStart - tailLen;
    const fileOffsetOf = (p: number): number => base - readStart + p;
    const offsets: number[] = [];
    const lengths: number[] = [];
    const at: number[] = [];
    const idParts: Uint8Array[] = [];
    while (pos < end && (eof || end - pos >= max)) {
      const len = cutter.cut(pos, end);
      offsets.push(fileOffsetOf(pos));
      lengths.push(len);
      at.push(pos);
      idParts.push(hashChunk(memory.subarray(pos, pos + len)));
      pos += len;
    }
    if (offsets.length > 0) {
      Atomics.store(control, 1 + slot, 1);
      parentPort!.postMessage({
        type: 'batch',
        slot,
        offsets: Float64Array.from(offsets),
        lengths: Uint32Array.from(lengths),
        ids: Buffer.concat(idParts),
        at: Uint32Array.from(at),
      } satisfies WorkerMessage);
    }
    if (eof && pos >= end) return { type: 'done' };
    tailStart = pos;
    tailLen = end - pos;
    base += got;
  }
}

parentPort!.on('message', (job: SegmentJob) => {
  let reply: WorkerMessage;
  try {
    reply = run(job);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    reply = { type: 'error', code: e.code, message: e.message };
  }
  parentPort!.postMessage(reply);
});
