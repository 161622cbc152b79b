// One stream to one peer for one repository, from the fetching side: requests go out with a
// number, a background loop routes each response to the request it answers, and any protocol
// violation fails every pending request so the scheduler can drop or ban the peer.

import type { Connection, PeerId, Stream } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';
import { type ErrorCode, isShoalError, ShoalError } from '../core/index.ts';
import {
  FrameReader,
  FrameWriter,
  OpenStreamError,
  openStream,
  type PeerNode,
  parseResponse,
  type Response,
  SYNC_PROTOCOL,
  WIRE_ERRORS,
} from '../net/index.ts';
import { DEFAULT_STALL_MS } from './scheduler.ts';

export interface HaveMap {
  all: boolean;
  count: number;
  bits: Uint8Array;
}

type Pending = {
  onResponse: (r: Response, payload: Uint8Array | undefined) => boolean; // true when finished
  fail: (err: Error) => void;
};

const LIMITS = { maxHeaderBytes: 1024 * 1024, maxPayloadBytes: 16 * 1024 * 1024 };

// The wire error codes that stand for one of shoal's own, both ways; any other is a peer error.
const CODES: [number, ErrorCode][] = [
  [WIRE_ERRORS.forbidden, 'PERMISSION_DENIED'],
  [WIRE_ERRORS.notFound, 'NOT_FOUND'],
  [WIRE_ERRORS.notFastForward, 'NOT_FAST_FORWARD'],
  [WIRE_ERRORS.dirtyWorktree, 'DIRTY_WORKTREE'],
  [WIRE_ERRORS.busy, 'LOCKED'],
  [WIRE_ERRORS.mergeInProgress, 'MERGE_IN_PROGRESS'],
  [WIRE_ERRORS.moveInterrupted, 'MOVE_INTERRUPTED'],
  [WIRE_ERRORS.currentBranch, 'CURRENT_BRANCH'],
];

/** The error a peer's `error` answer stands for. */
export function wireError(code: number, message: string): ShoalError {
  const ours = CODES.find(([wire]) => wire === code)?.[1] ?? 'PEER_ERROR';
  // The paths in the way are listed one per line, indented, as a local DIRTY_WORKTREE lists
  // them: given back as `paths`, as it gives them (at most the first 50).
  const paths =
    ours === 'DIRTY_WORKTREE'
      ? message
          .split('\n')
          .filter((l) => l.startsWith('  ') && !/^ {2}and \d+ more$/.test(l))
          .map((l) => l.slice(2))
      : undefined;
  return new ShoalError(ours, message, paths ? { paths } : undefined);
}

/**
 * The wire code to answer a push that failed with `err`: internal for errors the table does not
 * have, and for NOT_FOUND, which the server answers itself, only where it serves no repository.
 */
export function wireCode(err: ShoalError): number {
  const wire = CODES.find(([, code]) => code === err.code)?.[0];
  return wire === undefined || wire === WIRE_ERRORS.notFound ? WIRE_ERRORS.internal : wire;
}

export class PeerSession {
  readonly peer: string;
  private readonly stream: Stream;
  private readonly reader: FrameReader;
  private readonly writer: FrameWriter;
  private readonly pending = new Map<number, Pending>();
  private nextReq = 1;
  private failure: Error | null = null;
  private violation: string | null = null;
  /** How long a `hello` or `have` may go unanswered, with nothing else arriving either. */
  private readonly stallMs: number;
  private lastFrame = performance.now();
  /** The connection the stream runs on, when this side opened it: renew() opens another stream. */
  private readonly connection: Connection | undefined;
  readonly closed: Promise<void>;

  private constructor(stream: Stream, peer: string, stallMs = DEFAULT_STALL_MS, connection?: Connection) {
    this.stream = stream;
    this.peer = peer;
    this.stallMs = stallMs;
    this.connection = connection;
    this.reader = new FrameReader(stream, { limits: LIMITS, highWaterMark: 8 * 1024 * 1024 });
    this.writer = new FrameWriter(stream, { limits: LIMITS });
    this.closed = this.readLoop();
  }

  /** A session on a new stream to `target`; `expect`: the peer that must answer (see openStream). */
  static async open(
    node: PeerNode,
    target: PeerId | Multiaddr,
    signal?: AbortSignal,
    stallMs?: number,
    expect?: string,
  ): Promise<PeerSession> {
    let opened: Awaited<ReturnType<typeof openStream>>;
    try {
      // The peer is named by the connection (Noise authenticated it), not by the address: an
      // address without /p2p/ names no one, and the refs a peer follows are keyed by peer id.
      opened = await openStream(node, target, SYNC_PROTOCOL, { signal, expect });
    } catch (err) {
      const why =
        err instanceof OpenStreamError && err.timedOut
          ? 'no answer in time (nothing there, or the peer has left that address)'
          : (err as Error).message;
      throw new ShoalError('PEER_ERROR', `cannot reach peer ${String(target)}: ${why}`);
    }
    const { connection, stream } = opened;
    return new PeerSession(stream, connection.remotePeer.toString(), stallMs, connection);
  }

  /** Requests sent whose answers have not all come. */
  get busy(): boolean {
    return this.pending.size > 0;
  }

  /**
   * A session with the same peer for `repo` on a new stream of the same connection, and this one
   * reset. A peer answers a stream's requests in order, so answers nobody needs any more (chunks
   * another peer sent first, a slow peer's window at the end of a transfer) would hold up every
   * later request on it; resetting the stream is how the peer learns to stop sending them.
   */
  async renew(repo: Uint8Array, signal?: AbortSignal): Promise<PeerSession> {
    if (!this.connection) throw new ShoalError('PEER_ERROR', 'this session cannot be renewed');
    let stream: Stream;
    try {
      stream = await this.connection.newStream(SYNC_PROTOCOL, { signal });
    } catch (err) {
      if (signal?.aborted) throw new ShoalError('ABORTED', 'interrupted');
      throw new ShoalError('PEER_ERROR', `cannot reach peer ${this.peer}: ${(err as Error).message}`);
    }
    const next = new PeerSession(stream, this.peer, this.stallMs, this.connection);
    try {
      await abortable(next.hello(repo), signal);
    } catch (err) {
      await next.close(`hello failed: ${(err as Error).message}`);
      throw err;
    }
    void this.close('replaced by a new stream');
    return next;
  }

  /** Wrap a stream the remote side opened (a push's fetch-back). */
  static fromStream(stream: Stream, peer: string, stallMs?: number): PeerSession {
    return new PeerSession(stream, peer, stallMs);
  }

  get failed(): Error | null {
    return this.failure;
  }

  /**
   * Why the peer broke the protocol, if it did: a malformed or oversized message, a response
   * to no request, an object nobody asked for. Null when it behaved (or merely went away), so
   * callers ban the peer only for misbehaving, never for disappearing.
   */
  get misbehaved(): string | null {
    return this.violation;
  }

  private async readLoop(): Promise<void> {
    try {
      for (;;) {
        let frame: Awaited<ReturnType<FrameReader['read']>>;
        try {
          frame = await this.reader.read();
        } catch (err) {
          if (isShoalError(err) && err.detail?.violation === true) this.violation ??= err.message;
          throw err;
        }
        if (!frame) break;
        this.lastFrame = performance.now();
        try {
          const r = parseResponse(frame.header);
          const p = this.pending.get(r.req);
          if (!p) throw new ShoalError('PEER_ERROR', `response to unknown request ${r.req}`);
          if (r.type === 'error') {
            this.pending.delete(r.req);
            p.fail(wireError(r.code, r.message));
            continue;
          }
          if (p.onResponse(r, frame.payload)) this.pending.delete(r.req);
        } catch (err) {
          // The message was read whole; rejecting it is the peer's fault.
          if (isShoalError(err, 'PEER_ERROR')) this.violation ??= err.message;
          throw err;
        }
      }
      this.failAll(new ShoalError('PEER_ERROR', 'the peer closed the stream'));
    } catch (err) {
      this.failAll(err instanceof ShoalError ? err : new ShoalError('PEER_ERROR', (err as Error).message));
    }
  }

  private failAll(err: Error): void {
    this.failure ??= err;
    for (const p of this.pending.values()) p.fail(err);
    this.pending.clear();
  }

  /**
   * Send a request. With `deadline`, a peer that sends nothing at all for stallMs while the
   * request is unanswered is given up on (the session fails, the peer is dropped, not banned):
   * the answers that have no watchdog of their own (`get` has the scheduler's) must not keep a
   * fetch waiting forever. `deadline` may also be a function giving the time of other activity
   * that counts as the peer's (a push: our server's work for its fetch).
   */
  private send(
    header: Record<string, unknown> & { type: string },
    pending: Pending,
    deadline: boolean | (() => number) = false,
  ): void {
    if (this.failure) {
      pending.fail(this.failure);
      return;
    }
    if (deadline) pending = this.withDeadline(pending, deadline === true ? undefined : deadline);
    const req = this.nextReq++;
    this.pending.set(req, pending);
    this.writer.write({ ...header, req }).catch((err) => this.failAll(err));
  }

  private withDeadline(pending: Pending, activity?: () => number): Pending {
    const sent = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const check = (): void => {
      const idle = performance.now() - Math.max(sent, this.lastFrame, activity?.() ?? 0);
      if (idle >= this.stallMs) {
        void this.close(`the peer did not answer for ${Math.round(this.stallMs / 1000)} s`);
      } else timer = setTimeout(check, this.stallMs - idle);
    };
    timer = setTimeout(check, this.stallMs);
    return {
      onResponse: (r, payload) => {
        const finished = pending.onResponse(r, payload);
        if (finished) clearTimeout(timer);
        return finished;
      },
      fail: (err) => {
        clearTimeout(timer);
        pending.fail(err);
      },
    };
  }

  hello(repo: Uint8Array | null): Promise<{ identity: Uint8Array; refs: Uint8Array[] }> {
    return new Promise((resolve, reject) =>
      this.send(
        { type: 'hello', repo },
        {
          onResponse: (r) => {
            if (r.type !== 'repo') throw new ShoalError('PEER_ERROR', `expected repo, got ${r.type}`);
            resolve({ identity: r.identity, refs: r.refs });
            return true;
          },
          fail: reject,
        },
        true,
      ),
    );
  }

  /**
   * Ask for objects; `onObject` gets each one's bytes (unverified: the caller verifies) or
   * null when the peer does not have it. Resolves when every id was answered.
   */
  get(ids: Uint8Array[], onObject: (id: Uint8Array, bytes: Uint8Array | null) => void): Promise<void> {
    const waiting = new Set(ids.map((i) => Buffer.from(i).toString('hex')));
    return new Promise((resolve, reject) =>
      this.send(
        { type: 'get', ids },
        {
          onResponse: (r, payload) => {
            if (r.type !== 'object' && r.type !== 'missing') {
              throw new ShoalError('PEER_ERROR', `expected an object, got ${r.type}`);
            }
            const key = Buffer.from(r.id).toString('hex');
            if (!waiting.delete(key))
              throw new ShoalError('PEER_ERROR', 'sent an object that was not asked for');
            if (r.type === 'object' && payload === undefined)
              throw new ShoalError('PEER_ERROR', 'object without bytes');
            onObject(r.id, r.type === 'object' ? payload! : null);
            if (waiting.size === 0) {
              resolve();
              return true;
            }
            return false;
          },
          fail: reject,
        },
      ),
    );
  }

  have(root: Uint8Array, height: number, commit = false): Promise<HaveMap> {
    return new Promise((resolve, reject) =>
      this.send(
        { type: 'have', root, height, commit },
        {
          onResponse: (r) => {
            if (r.type !== 'have-map')
              throw new ShoalError('PEER_ERROR', `expected a have-map, got ${r.type}`);
            resolve({ all: r.all, count: r.count, bits: r.bits });
            return true;
          },
          fail: reject,
        },
        true,
      ),
    );
  }

  /**
   * Ask the peer to take `updates` (it fetches them from us on a stream of its own) and delete
   * `deletes`. `activity` gives the time our server last took a request or sent objects: while
   * the peer fetches, that is its sign of life, and the push fails once it neither fetches nor
   * answers for stallMs.
   */
  push(
    refs: Uint8Array,
    updates: [string, Uint8Array][],
    deletes: string[],
    force: boolean,
    activity: () => number,
  ): Promise<string[]> {
    return new Promise((resolve, reject) =>
      this.send(
        // `deletes` only when there are some: a peer from before deletions takes the rest as ever
        { type: 'push', refs, updates, ...(deletes.length > 0 ? { deletes } : {}), force },
        {
          onResponse: (r) => {
            if (r.type !== 'pushed') throw new ShoalError('PEER_ERROR', `expected pushed, got ${r.type}`);
            resolve(r.updated);
            return true;
          },
          fail: reject,
        },
        activity,
      ),
    );
  }

  /** The connection under this session, when this side opened it (two sessions may share one). */
  get connectionId(): string | undefined {
    return this.connection?.id;
  }

  /** Close the whole connection under this session (its other streams too). */
  async closeConnection(): Promise<void> {
    await this.connection?.close().catch(() => {});
  }

  /** Close cleanly; with a reason, abort (used when banning a peer). */
  async close(reason?: string): Promise<void> {
    if (reason) {
      this.failAll(new ShoalError('PEER_ERROR', reason));
      this.stream.abort(new Error(reason));
      return;
    }
    await this.writer.close().catch(() => {});
  }
}

/**
 * `work`, or ABORTED as soon as `signal` is: a request a peer is slow to answer (metadata, a
 * have-map) does not keep Ctrl-C waiting. The request itself ends when the peer is let go.
 */
export async function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new ShoalError('ABORTED', 'interrupted'));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort);
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
