// A token bucket for upload and download limits: `take(n)` resolves when n bytes may pass.
// Shared by every transfer of one direction in a process, so the limit is per process.

export class RateLimiter {
  private readonly rate: number; // bytes per second; Infinity means unlimited
  private tokens: number;
  private last = performance.now();
  private queue: Promise<void> = Promise.resolve();

  constructor(bytesPerSecond: number | undefined) {
    this.rate = bytesPerSecond && bytesPerSecond > 0 ? bytesPerSecond : Number.POSITIVE_INFINITY;
    // A burst of at most a quarter second keeps the rate smooth at short time scales.
    this.tokens = Math.min(this.rate / 4, 4 * 1024 * 1024);
  }

  get limited(): boolean {
    return this.rate !== Number.POSITIVE_INFINITY;
  }

  /** The limit in bytes per second (Infinity when unlimited). */
  get bytesPerSecond(): number {
    return this.rate;
  }

  /**
   * Resolves when n bytes may pass, or at once when `signal` aborts: a transfer that stopped
   * must not sit out a wait of minutes (a large request at a low limit) before it can end.
   */
  take(n: number, signal?: AbortSignal): Promise<void> {
    if (!this.limited) return Promise.resolve();
    const next = this.queue.then(() => this.wait(n, signal));
    this.queue = next;
    return next;
  }

  private async wait(n: number, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return;
    const burst = Math.max(this.rate / 4, 64 * 1024);
    const now = performance.now();
    this.tokens = Math.min(burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    this.tokens -= n;
    if (this.tokens < 0) {
      const ms = (-this.tokens / this.rate) * 1000;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', aborted);
          resolve();
        };
        const aborted = (): void => {
          // The request is never sent: its bytes go back, and the next transfer does not pay
          // for them (the time waited so far is credited as for any wait).
          this.tokens += n;
          done();
        };
        const timer = setTimeout(done, ms);
        signal?.addEventListener('abort', aborted, { once: true });
      });
    }
  }
}

/** Parse `30M`, `500k`, `1G` or plain bytes per second. */
export function parseRate(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([kKmMgG]?)(?:B|B\/s|\/s)?$/.exec(text.trim());
  if (!m) return undefined;
  const mult = { '': 1, k: 1e3, m: 1e6, g: 1e9 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.round(Number(m[1]) * mult);
}
