// A one-line progress display on stderr: bytes, rate and ETA, redrawn at most ten times a second.

import type { Progress } from '../vcs/index.ts';
import { formatBytes } from './format.ts';

export function progressPrinter(label: string): { onProgress: (p: Progress) => void; done: () => void } {
  const start = performance.now();
  let last = 0;
  let drawn = false;
  const draw = (p: Progress, final: boolean): void => {
    const now = performance.now();
    if (!final && now - last < 100) return;
    last = now;
    const secs = (now - start) / 1000;
    const rate = secs > 0 ? p.bytesDone / secs : 0;
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
