// The multi-source chunk scheduler. It knows which peer holds which chunk (have-maps), asks for
// the rarest chunks first, keeps a pipeline per peer sized to that peer's measured throughput,
// duplicates the last outstanding requests (endgame), verifies every chunk on arrival, bans a
// peer that sends bad bytes, and re-queues the work of a peer that fails or disappears.

import { hashChunk, idEquals, isShoalError, ShoalError, toHex } from '../core/index.ts';
import { releaseCopy } from '../net/index.ts';
import type { IdTable } from './id-table.ts';
import type { PeerSession } from './peer-session.ts';
import type { RateLimiter } from './rate-limit.ts';

export interface SchedulerPeer {
  session: PeerSession;
  /** has[i] = 1 when the peer is known to hold chunk i. */
  has: Uint8Array;
}

export interface SchedulerProgress {
  bytesDone: number;
  bytesTotal: number;
  chunksDone: number;
  chunksTotal: number;
  peers: number; // peers that delivered data in the last two seconds
}

export interface SchedulerResult {
  bytes: number;
  duplicateBytes: number;
  perPeer: Record<string, number>;
  banned: { peer: string; why: string }[];
  /**
   * Peers dropped without a ban (gone, stalled, no longer serving the repository), why, and the
   * error's code where the peer answered with one.
   */
  lost: { peer: string; why: string; code?: string }[];
}

export interface SchedulerOptions {
  /** The chunks to fetch; a peer's `has` and the progress count them in this order. */
  chunks: IdTable;
  peers: SchedulerPeer[];
  /**
   * Stores verified chunk `i` of `chunks`; `bytes` may be freed once it resolves, so it must not
   * keep them.
   */
  store: (id: Uint8Array, bytes: Uint8Array, i: number) => Promise<void>;
  download: RateLimiter;
  onProgress?: (p: SchedulerProgress) => void;
  signal?: AbortSignal;
  /** A peer owing data that sends nothing for this long is dropped and its work re-queued. */
  stallMs?: number;
  /** In the endgame, a chunk is asked of a second peer only once it is this old. */
  endgameDelayMs?: number;
}

/** A peer dropped without a ban, for `lost`: why, and the error's code where it has one. */
export function lostPeer(peer: string, err: unknown): SchedulerResult['lost'][number] {
  return { peer, why: (err as Error).message, ...(isShoalError(err) ? { code: err.code } : {}) };
}

/**
 * The refusal to report when every peer given up on refused this key (a private repository that
 * does not list it) and none was banned: running again would not help, unlike for peers gone.
 */
export function refusedByAll(
  banned: readonly unknown[],
  lost: SchedulerResult['lost'],
): SchedulerResult['lost'][number] | undefined {
  const denied = lost.find((l) => l.code === 'PERMISSION_DENIED');
  return denied && banned.length === 0 && lost.every((l) => l.code === denied.code) ? denied : undefined;
}

/** Peers given up on, as an error message lists them: `peer <id>: <why>; ...`. */
export function describeDropped(peers: readonly { peer: string; why: string }[]): string {
  return peers.map((l) => `peer ${l.peer}: ${l.why}`).join('; ');
}

export const DEFAULT_STALL_MS = 30_000;
// Long enough that a healthy peer's answer usually wins, so small transfers are not fetched
// twice; short enough that a slow or silent peer's last chunks soon come from elsewhere.
export const DEFAULT_ENDGAME_DELAY_MS = 300;

const PENDING = 0;
const REQUESTED = 1;
const DONE = 2;

const BATCH_BYTES = 1024 * 1024;
const MIN_WINDOW = 2 * 1024 * 1024;
const MAX_WINDOW = 64 * 1024 * 1024;
const START_WINDOW = 4 * 1024 * 1024;
const WINDOW_SECONDS = 0.25; // keep a quarter second of a peer's throughput in flight
const MAX_BUFFERED = 16 * 1024 * 1024; // received but not yet stored
const RAREST_SCAN = 64;

interface PeerState {
  peer: SchedulerPeer;
  outstanding: number; // bytes requested and not yet answered
  inFlight: Set<number>;
  received: number;
  rate: number; // bytes per second, smoothed
  rateMark: { t: number; bytes: number };
  lastData: number;
  sent: number; // requests sent to it and not yet answered in full
  waitingSince: number; // when it last went from owing nothing (no request sent) to owing some
  alive: boolean;
}

export async function runScheduler(opts: SchedulerOptions): Promise<SchedulerResult> {
  const n = opts.chunks.length;
  const result: SchedulerResult = { bytes: 0, duplicateBytes: 0, perPeer: {}, banned: [], lost: [] };
  if (n === 0) return result;
  const state = new Uint8Array(n);
  const requestedFrom = new Uint8Array(n); // how many peers a chunk is outstanding at
  const requestedAt = new Float64Array(n); // when it was first asked for
  const endgameDelay = opts.endgameDelayMs ?? DEFAULT_ENDGAME_DELAY_MS;
  let endgameWake = Number.POSITIVE_INFINITY; // when a chunk next becomes old enough to duplicate
  const bytesTotal = opts.chunks.totalSize();
  const peers: PeerState[] = opts.peers.map((p) => ({
    peer: p,
    outstanding: 0,
    inFlight: new Set(),
    received: 0,
    rate: 0,
    rateMark: { t: performance.now(), bytes: 0 },
    lastData: 0,
    sent: 0,
    waitingSince: 0,
    alive: true,
  }));
  const availability = new Uint16Array(n);
  for (const p of peers) for (let i = 0; i < n; i++) availability[i]! += p.peer.has[i]!;

  let done = 0;
  let bytesDone = 0;
  let buffered = 0;
  let lowWater = 0;
  let storing: Promise<void> = Promise.resolve();
  let finish!: () => void;
  let fail!: (err: Error) => void;
  const finished = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  let settled = false;
  // Aborted once the transfer is settled, however: a request waiting on the download limit
  // stops waiting, so the process can end.
  const stopped = new AbortController();
  const settle = (err?: Error): void => {
    if (settled) return;
    settled = true;
    stopped.abort();
    if (err) fail(err);
    else finish();
  };

  const progress = (): void => {
    const now = performance.now();
    opts.onProgress?.({
      bytesDone,
      bytesTotal,
      chunksDone: done,
      chunksTotal: n,
      peers: peers.filter((p) => p.alive && now - p.lastData < 2000).length,
    });
  };

  const drop = (p: PeerState, why: string, ban: boolean, code?: string): void => {
    // (Once the transfer is over, requests still out fail as their streams close: no news.)
    if (!p.alive || settled) return;
    p.alive = false;
    if (ban) {
      result.banned.push({ peer: p.peer.session.peer, why });
      void p.peer.session.close(`banned: ${why}`);
    } else result.lost.push({ peer: p.peer.session.peer, why, ...(code ? { code } : {}) });
    for (let i = 0; i < n; i++) if (p.peer.has[i]) availability[i]!--;
    for (const i of p.inFlight) {
      requestedFrom[i]!--;
      if (state[i] === REQUESTED && requestedFrom[i] === 0) state[i] = PENDING;
    }
    p.inFlight.clear();
    p.outstanding = 0;
    lowWater = 0;
  };

  const window = (p: PeerState): number =>
    p.rate === 0 ? START_WINDOW : Math.min(MAX_WINDOW, Math.max(MIN_WINDOW, p.rate * WINDOW_SECONDS));

  /** Choose chunks for one peer: the rarest pending ones it has, else (endgame) duplicates. */
  const pick = (p: PeerState, budget: number): number[] => {
    const picked: number[] = [];
    let bytes = 0;
    while (lowWater < n && state[lowWater] === DONE) lowWater++;
    const candidates: number[] = [];
    for (let i = lowWater; i < n && candidates.length < RAREST_SCAN * 4; i++) {
      if (state[i] === PENDING && p.peer.has[i]) candidates.push(i);
    }
    if (candidates.length > 0) {
      // Rarest first among the next candidates, file order among equals.
      const window = candidates.slice(0, RAREST_SCAN);
      window.sort((a, b) => availability[a]! - availability[b]! || a - b);
      for (const i of window) {
        if (bytes >= budget && picked.length > 0) break;
        picked.push(i);
        bytes += opts.chunks.size(i);
      }
      return picked;
    }
    // Endgame: nothing left to hand out, so duplicate what other peers still owe and have owed
    // for a while; the younger requests are looked at again when they come of age.
    const now = performance.now();
    for (let i = lowWater; i < n && bytes < budget; i++) {
      if (state[i] === REQUESTED && p.peer.has[i] && !p.inFlight.has(i) && requestedFrom[i]! < 2) {
        const ripe = requestedAt[i]! + endgameDelay;
        if (ripe > now) {
          endgameWake = Math.min(endgameWake, ripe);
          continue;
        }
        picked.push(i);
        bytes += opts.chunks.size(i);
      }
    }
    return picked;
  };

  const onChunk = (p: PeerState, i: number, bytes: Uint8Array | null): void => {
    // Once the transfer is over (done, failed or interrupted), what still arrives is not stored:
    // the caller is closing the pack session.
    if (settled) return;
    const size = opts.chunks.size(i);
    if (p.inFlight.delete(i)) {
      requestedFrom[i]!--;
      p.outstanding -= size;
    }
    if (bytes === null) {
      // The peer does not have it after all.
      if (p.peer.has[i]) {
        p.peer.has[i] = 0;
        availability[i]!--;
      }
      if (state[i] === REQUESTED && requestedFrom[i] === 0) state[i] = PENDING;
      lowWater = Math.min(lowWater, i);
      return;
    }
    const id = opts.chunks.id(i);
    if (bytes.length !== size || !idEquals(hashChunk(bytes), id)) {
      if (state[i] === REQUESTED && requestedFrom[i] === 0) state[i] = PENDING;
      drop(p, `sent wrong bytes for chunk ${toHex(id).slice(0, 12)}`, true);
      return;
    }
    const now = performance.now();
    p.received += bytes.length;
    p.lastData = now;
    const dt = (now - p.rateMark.t) / 1000;
    if (dt >= 0.2) {
      const sample = (p.received - p.rateMark.bytes) / dt;
      p.rate = p.rate === 0 ? sample : p.rate * 0.6 + sample * 0.4;
      p.rateMark = { t: now, bytes: p.received };
    }
    if (state[i] === DONE) {
      result.duplicateBytes += bytes.length;
      return;
    }
    state[i] = DONE;
    done++;
    bytesDone += bytes.length;
    result.bytes += bytes.length;
    result.perPeer[p.peer.session.peer] = (result.perPeer[p.peer.session.peer] ?? 0) + bytes.length;
    buffered += bytes.length;
    const copy = bytes;
    storing = storing.then(async () => {
      await opts.store(id, copy, i);
      buffered -= copy.length;
      releaseCopy(copy); // the store keeps a copy of its own
    });
    storing.catch((err) => settle(err));
  };

  let endgameTimer: NodeJS.Timeout | undefined;
  let pumping = false;
  let again = false;
  const pump = async (): Promise<void> => {
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    try {
      do {
        again = false;
        if (settled) return;
        if (opts.signal?.aborted) {
          settle(new ShoalError('ABORTED', 'interrupted'));
          return;
        }
        if (done === n) {
          await storing;
          progress();
          settle();
          return;
        }
        const live = peers.filter((p) => p.alive);
        if (live.length === 0) {
          // Every peer refused this key (a private repository that no longer lists it): say so,
          // rather than that the peers went away; running again would not help.
          const denied = refusedByAll(result.banned, result.lost);
          if (denied) {
            settle(
              new ShoalError('PERMISSION_DENIED', `peer ${denied.peer}: ${denied.why}`, {
                lost: result.lost,
              }),
            );
            return;
          }
          settle(
            new ShoalError(
              'PEER_ERROR',
              `no peer left to fetch from (${n - done} chunks missing; run the command again to resume): ${describeDropped([...result.banned, ...result.lost])}`,
              { banned: result.banned, lost: result.lost },
            ),
          );
          return;
        }
        if (buffered > MAX_BUFFERED) {
          await storing;
          again = true;
          continue;
        }
        let issued = false;
        for (const p of live) {
          while (p.alive && p.outstanding < window(p)) {
            const batch = pick(p, Math.min(BATCH_BYTES, window(p) - p.outstanding));
            if (batch.length === 0) break;
            const bytes = batch.reduce((s, i) => s + opts.chunks.size(i), 0);
            for (const i of batch) {
              if (state[i] === PENDING) {
                state[i] = REQUESTED;
                requestedAt[i] = performance.now();
              }
              requestedFrom[i]!++;
              p.inFlight.add(i);
            }
            p.outstanding += bytes;
            issued = true;
            await opts.download.take(bytes, stopped.signal);
            if (settled) return; // the chunks marked requested above no longer matter
            // The stall clock counts requests sent, not those waiting on our own download
            // limit: that wait is no silence of the peer's.
            if (p.sent === 0) p.waitingSince = performance.now();
            p.sent++;
            const ids = batch.map((i) => opts.chunks.id(i));
            p.peer.session
              .get(ids, (id, data) => {
                const i = opts.chunks.indexOf(id);
                if (i >= 0) onChunk(p, i, data);
              })
              .then(
                () => {
                  p.sent--;
                  progress();
                  void pump();
                },
                (err: Error) => {
                  p.sent--;
                  // A peer that broke the protocol is banned; one that went away is only dropped.
                  const violation = p.peer.session.misbehaved;
                  drop(
                    p,
                    violation ?? err.message,
                    violation !== null,
                    isShoalError(err) ? err.code : undefined,
                  );
                  void pump();
                },
              );
          }
        }
        if (endgameWake !== Number.POSITIVE_INFINITY && endgameTimer === undefined) {
          endgameTimer = setTimeout(
            () => {
              endgameTimer = undefined;
              void pump();
            },
            Math.max(1, endgameWake - performance.now()),
          );
          endgameWake = Number.POSITIVE_INFINITY;
        }
        const anyInFlight = peers.some((p) => p.alive && p.inFlight.size > 0);
        if (!issued && !anyInFlight) {
          const missing = state.findIndex((s) => s !== DONE);
          settle(
            new ShoalError(
              'MISSING_OBJECT',
              `no reachable peer has chunk ${toHex(opts.chunks.id(missing))} (${n - done} chunks missing)`,
            ),
          );
          return;
        }
      } while (again);
    } finally {
      pumping = false;
    }
  };

  const onAbort = (): void => settle(new ShoalError('ABORTED', 'interrupted'));
  opts.signal?.addEventListener('abort', onAbort);
  // A peer can go silent without closing anything (a dead link): drop it when it owes data
  // and has sent nothing for stallMs, so its chunks go to others instead of waiting forever.
  const stallMs = opts.stallMs ?? DEFAULT_STALL_MS;
  const watchdog = setInterval(
    () => {
      const now = performance.now();
      for (const p of peers) {
        if (p.alive && p.sent > 0 && now - Math.max(p.lastData, p.waitingSince) > stallMs) {
          drop(p, `sent nothing for ${Math.round(stallMs / 1000)} s`, false);
          void p.peer.session.close('stalled');
          void pump();
        }
      }
    },
    Math.max(50, Math.min(1000, stallMs / 4)),
  );
  try {
    void pump();
    try {
      await finished;
    } catch (err) {
      // Whatever is being stored finishes first: the caller closes the pack session next.
      await storing.catch(() => {});
      throw err;
    }
    await storing;
    return result;
  } finally {
    clearInterval(watchdog);
    clearTimeout(endgameTimer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
