// A one-line progress display on stderr: bytes, rate and ETA, redrawn at most ten times a second.

import type { Progress } from '../vcs/index.ts';
import { formatBytes } from './format.ts';

/** How far back the rate shown while work goes on looks. */
const RECENT_MS = 5000;

/**
 * The rate of the last few seconds, from the byte counts seen at each redraw: what a transfer
 * does now, as a peer joins or leaves or the network slows, which the average since the start
 * (dialling and the index walk included) hides for long. The ETA follows from it.
 */
export class RecentRate {
  readonly #seen: { ms: number; bytes: number }[] = [];

  constructor(startMs: number) {
    this.#seen.push({ ms: startMs, bytes: 0 });
  }

  /** Bytes per second over at most the last RECENT_MS before `ms`, `bytes` done by then. */
  at(ms: number, bytes: number): number {
    const seen = this.#seen;
    // The oldest kept sample is the last one at least RECENT_MS old: the span stays just over it.
    while (seen.length > 1 && seen[1]!.ms <= ms - RECENT_MS) seen.shift();
    const from = seen[0]!;
    seen.push({ ms, bytes });
    const secs = (ms - from.ms) / 1000;
    return secs > 0 ? Math.max(0, bytes - from.bytes) / secs : 0;
  }
}

export function progressPrinter(label: string): { onProgress: (p: Progress) => void; done: () => void } {
  const start = performance.now();
  const recent = new RecentRate(start);
  let last = 0;
  let drawn = false;
  const draw = (p: Progress, final: boolean): void => {
    const now = performance.now();
    if (!final && now - last < 100) return;
    last = now;
    const secs = (now - start) / 1000;
    // The last line, drawn when the work is done, gives the average of the whole run.
    const rate = final ? (secs > 0 ? p.bytesDone / secs : 0) : recent.at(now, p.bytesDone);
    let line = `${label}: ${formatBytes(p.bytesDone)}`;
    if (p.bytesTotal) {
      const pct = Math.min(100, Math.floor((p.bytesDone / p.bytesTotal) * 100));
      line += ` / ${formatBytes(p.bytesTotal)} (${pct}%)`;
    }
    line += `, ${formatBytes(rate)}/s`;
    if (p.bytesTotal && rate > 0 && !final)
      line += `, ETA ${Math.ceil((p.bytesTotal - p.bytesDone) / rate)}s`;
    if (p.itemsTotal !== undefined) line += `, ${p.itemsDone ?? 0}/${p.itemsTotal} files`;
    if (p.peers !== undefined) line += `, ${p.peers} peer${p.peers === 1 ? '' : 's'}`;
    process.stderr.write(`\r\x1b[K${line}`);
    drawn = true;
  };
  let lastProgress: Progress | null = null;
  return {
    onProgress: (p) => {
      lastProgress = p;
      draw(p, false);
    },
    done: () => {
      if (lastProgress) draw(lastProgress, true);
      if (drawn) process.stderr.write('\n');
    },
  };
}
