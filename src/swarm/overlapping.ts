// Attempts at one goal that overlap instead of waiting for each other, as in "Happy Eyeballs"
// (RFC 8305): the next starts a little after the one before, or at once when that one failed,
// and the first to succeed ends the rest. One address of a peer that swallows packets then costs
// a fraction of a second, not the whole dial timeout of every address after it.

/** How long one address of a peer is tried alone before the next is tried alongside it. */
export const NEXT_ADDRESS_AFTER_MS = 250;

/**
 * Run `attempt` on `items` in order, each `staggerMs` after the one before started or as soon as
 * it failed, until one succeeds. The signal each attempt gets aborts once another succeeded (or
 * `signal` did); every attempt has ended when this resolves. True when one succeeded.
 */
export function firstToSucceed<T>(
  items: readonly T[],
  attempt: (item: T, signal: AbortSignal) => Promise<boolean>,
  staggerMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  const won = new AbortController();
  const ended = signal ? AbortSignal.any([signal, won.signal]) : won.signal;
  return new Promise((resolve) => {
    let next = 0;
    let running = 0;
    let timer: NodeJS.Timeout | undefined;
    const settleIfDone = (): void => {
      if (running === 0 && (ended.aborted || next >= items.length)) {
        clearTimeout(timer);
        resolve(won.signal.aborted);
      }
    };
    const start = (): void => {
      clearTimeout(timer);
      if (ended.aborted || next >= items.length) {
        settleIfDone();
        return;
      }
      running++;
      const item = items[next++]!;
      // (An attempt that throws at once, before its promise, fails like one that rejects.)
      Promise.resolve()
        .then(() => attempt(item, ended))
        .catch(() => false)
        .then((ok) => {
          running--;
          if (ok) won.abort();
          if (ended.aborted) settleIfDone();
          else start(); // failed: the next one now
        });
      timer = setTimeout(start, staggerMs);
    };
    start();
  });
}
