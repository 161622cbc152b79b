// Worker thread that chunks and hashes one segment of a file and reports only (offset, length,
// id) triples, never bytes: several workers can then cut one large file in parallel, and the
// main thread reads back just the chunks it has to store.

import { readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
// Imported from the modules themselves, not core/index.ts: a worker starts in a third of the time.
import { type ChunkerParams, cutRule } from '../core/chunker.ts';
import { WasmCutter } from '../core/chunker-wasm.ts';
import { hashChunk } from '../core/id.ts';

export interface SegmentJob {
  fd: number;
  start: number; // a chunk starts here
  end: number; // stop at the first cut at or after this offset (or at end of file)
  chunker: ChunkerParams;
  /** Int32Array over a SharedArrayBuffer: [0] stop flag set by the main thread, [1] unacked batches. */
  control: SharedArrayBuffer;
  maxUnacked: number;
}

export type WorkerMessage =
  | { type: 'batch'; offsets: Float64Array; lengths: Uint32Array; ids: Uint8Array }
  | { type: 'done'; end: number; stopped: boolean }
  | { type: 'error'; code: string | undefined; message: string };

const READ_SIZE = 16 * 1024 * 1024;

// A worker cuts one file after another: its buffer is kept for the next job with the same rule.
let lastCutter: { key: string; cutter: WasmCutter } | null = null;

function cutterFor(chunker: ChunkerParams): WasmCutter {
  const key = `${chunker.min}/${chunker.avg}/${chunker.max}`;
  if (lastCutter?.key !== key) {
    const rule = cutRule(chunker);
    lastCutter = { key, cutter: new WasmCutter(rule, rule.max + READ_SIZE) };
  }
  return lastCutter.cutter;
}

function run(job: SegmentJob): WorkerMessage {
  const max = cutRule(job.chunker).max;
  const control = new Int32Array(job.control);
  const cutter = cutterFor(job.chunker);
  const buf = cutter.bytes;
  let base = job.start; // file offset of buf[max]
  let tailLen = 0; // bytes before buf[max] carried over from the previous read
  for (;;) {
    if (Atomics.load(control, 0) !== 0) return { type: 'done', end: base - tailLen, stopped: true };
    // Flow control: wait while the main thread is far behind.
    while (Atomics.load(control, 1) >= job.maxUnacked) {
      Atomics.wait(control, 1, Atomics.load(control, 1), 500);
      if (Atomics.load(control, 0) !== 0) return { type: 'done', end: base - tailLen, stopped: true };
    }
    let got = 0;
    while (got < READ_SIZE) {
      const n = readSync(job.fd, buf, max + got, READ_SIZE - got, base + got);
      if (n === 0) break;
      got += n;
    }
    const eof = got < READ_SIZE;
    const end = max + got;
    let pos = max - tailLen;
    const offsets: number[] = [];
    const lengths: number[] = [];
    const idParts: Buffer[] = [];
    let reachedEnd = false;
    while (pos < end && (eof || end - pos >= max)) {
      const len = cutter.cut(pos, end);
      offsets.push(base - max + pos);
      lengths.push(len);
      idParts.push(hashChunk(buf.subarray(pos, pos + len)) as Buffer);
      pos += len;
      if (base - max + pos >= job.end) {
        reachedEnd = true;
        break;
      }
    }
    if (offsets.length > 0) {
      Atomics.add(control, 1, 1);
      parentPort!.postMessage({
        type: 'batch',
        offsets: Float64Array.from(offsets),
        lengths: Uint32Array.from(lengths),
        ids: Buffer.concat(idParts),
      } satisfies WorkerMessage);
    }
    const fileEnd = base - max + pos;
    if (reachedEnd || (eof && pos >= end)) return { type: 'done', end: fileEnd, stopped: false };
    // Carry the unchunked tail (shorter than `max`) in front of the next read.
    tailLen = end - pos;
    buf.copyWithin(max - tailLen, pos, end);
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
