// Worker thread that reads a file, cuts it into chunks and hashes them, so that the main thread
// only stores. Buffers are shared slots: the worker fills a slot, posts the chunk list, and
// reuses the slot only after the main thread has released it.

import { readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type { ChunkerParams } from '../core/index.ts';
import { cutRule, findCut, hashChunk } from '../core/index.ts';

export interface WorkerSetup {
  slots: SharedArrayBuffer[];
  state: SharedArrayBuffer; // Int32Array: [0..n) slot busy flags, [n] abort flag
  readSize: number;
}

export interface FileJob {
  fd: number;
  chunker: ChunkerParams;
}

export type WorkerMessage =
  | {
      type: 'batch';
      slot: number;
      offsets: Uint32Array;
      lengths: Uint32Array;
      ids: Uint8Array;
      bytes: number;
    }
  | { type: 'done'; total: number }
  | { type: 'error'; code: string | undefined; message: string };

const setup = workerData as WorkerSetup;
const slots = setup.slots.map((s) => new Uint8Array(s));
const state = new Int32Array(setup.state);
const abortIndex = slots.length;

function acquire(slot: number): boolean {
  // Wait until the main thread has released the slot (0), then mark it busy (1).
  for (;;) {
    if (Atomics.load(state, abortIndex) !== 0) return false;
    if (Atomics.compareExchange(state, slot, 0, 1) === 0) return true;
    Atomics.wait(state, slot, 1, 1000);
  }
}

function run(job: FileJob): WorkerMessage {
  const rule = cutRule(job.chunker);
  const max = rule.max;
  let total = 0;
  let slot = 0;
  let prev: Uint8Array | null = null;
  let tailStart = 0;
  let tailLen = 0;
  for (;;) {
    if (!acquire(slot)) return { type: 'done', total: -1 };
    const buf = slots[slot]!;
    if (prev && tailLen > 0) buf.set(prev.subarray(tailStart, tailStart + tailLen), max - tailLen);
    let got = 0;
    while (got < setup.readSize) {
      const n = readSync(job.fd, buf, max + got, setup.readSize - got, total + got);
      if (n === 0) break;
      got += n;
    }
    const eof = got < setup.readSize;
    total += got;
    const end = max + got;
    let pos = max - tailLen;
    const offsets: number[] = [];
    const lengths: number[] = [];
    while (pos < end && (eof || end - pos >= max)) {
      const len = findCut(buf, pos, end, rule);
      offsets.push(pos);
      lengths.push(len);
      pos += len;
    }
    const ids = new Uint8Array(offsets.length * 32);
    for (let i = 0; i < offsets.length; i++) {
      ids.set(hashChunk(buf.subarray(offsets[i]!, offsets[i]! + lengths[i]!)), i * 32);
    }
    tailStart = pos;
    tailLen = end - pos;
    prev = buf;
    parentPort!.postMessage({
      type: 'batch',
      slot,
      offsets: Uint32Array.from(offsets),
      lengths: Uint32Array.from(lengths),
      ids,
      bytes: got,
    } satisfies WorkerMessage);
    if (eof) return { type: 'done', total };
    slot = (slot + 1) % slots.length;
  }
}

parentPort!.on('message', (job: FileJob) => {
  let reply: WorkerMessage;
  try {
    reply = run(job);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    reply = { type: 'error', code: e.code, message: e.message };
  }
  parentPort!.postMessage(reply);
});
