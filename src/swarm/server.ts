// Serving repositories over `/shoal/sync/1`: refs, verified objects and have-maps, to any peer
// for a public repository and only to listed keys for a private one. Every object is read
// through the store, which verifies it against its id, so a corrupt local pack is never served.

import { setImmediate as yieldToOthers } from 'node:timers/promises';
import type { Connection, Stream } from '@libp2p/interface';
import {
  decodeIndexNode,
  isShoalError,
  type KeyPair,
  type ObjectId,
  ShoalError,
  toHex,
} from '../core/index.ts';
import {
  type FrameHeader,
  FrameReader,
  FrameWriter,
  limitRequestWindow,
  MAX_LISTED_REPOS,
  type PeerNode,
  parseRequest,
  publicKeyBytesOfPeer,
  REQUEST_STREAM_BUFFER,
  REQUEST_STREAM_LIMITS,
  type Request,
  SendBuffers,
  SYNC_PROTOCOL,
  WIRE_ERRORS,
} from '../net/index.ts';
import { type Repository, readSnapshot } from '../store/index.ts';
import { leafVisits } from './index-walk.ts';
import { wireCode } from './peer-session.ts';
import type { RateLimiter } from './rate-limit.ts';
import { mayRead, type RepoState, servedRefs } from './repo-state.ts';

export interface ServedRepo {
  repo: Repository;
  state: RepoState;
  /**
   * Keys that may read it besides those its access lists allow: a push's own server lets the
   * peer it pushes to fetch the commits offered, which that peer's key may not be listed for.
   */
  alsoReadBy?: (key: Uint8Array) => boolean;
  /**
   * True once the repository has left the path it was opened at (deleted, or another put there):
   * it is then answered as not served, before the holder of the list notices and removes it.
   */
  gone?: () => boolean;
}

/** Whether `key` may read a repository served (its access lists, or what the server adds). */
function mayReadServed(served: ServedRepo, key: Uint8Array): boolean {
  return served.alsoReadBy?.(key) === true || mayRead(served.repo, served.state, key);
}

/** What a push asks of the server; implemented by push-handler.ts. */
export type PushHandler = (
  served: ServedRepo,
  request: Extract<Request, { type: 'push' }>,
  peer: { key: Uint8Array; connection: Connection },
) => Promise<string[]>;

export interface ServerEvent {
  /**
   * `damaged`: an object of ours failed its check when read to be sent (answered as missing).
   * `failed`: a request we could not answer for a fault of ours (answered with an error).
   */
  type: 'served' | 'denied' | 'peer-error' | 'damaged' | 'failed';
  peer: string;
  bytes?: number;
  message?: string;
}

export interface SyncServerOptions {
  user: KeyPair;
  upload: RateLimiter;
  onPush?: PushHandler;
  onEvent?: (e: ServerEvent) => void;
}

const REQUEST_LIMITS = { maxHeaderBytes: 1024 * 1024, maxPayloadBytes: 1024 * 1024 };
const RESPONSE_LIMITS = { maxHeaderBytes: 1024 * 1024, maxPayloadBytes: 16 * 1024 * 1024 };
const SEND_GROUP_BYTES = 1024 * 1024;

/** How often a server lets go of packs deleted by a gc elsewhere. */
const RELEASE_PACKS_MS = 10_000;

export class SyncServer {
  private readonly repos = new Map<string, ServedRepo>();
  // Requests running on each served repository, and remove()s waiting for them to end.
  private readonly running = new Map<ServedRepo, number>();
  private readonly idle: (() => void)[] = [];
  private readonly opts: SyncServerOptions;
  /** Object bytes handed to the stream so far, to every peer. */
  bytesServed = 0;
  /**
   * When this server last made progress for any peer (performance.now(); 0 before the first): a
   * request arrived, the transport took more of an answer, a have-map walk went on, a group of
   * objects went out. A push waits on this while the peer fetches from it. It is not specific
   * to one peer: other peers' requests can only delay a push's timeout, and a pushing process
   * serves on loopback only, unless given --listen.
   */
  lastActivity = 0;

  private touch(): void {
    this.lastActivity = performance.now();
  }

  private readonly releaser: NodeJS.Timeout;
  // What objects are read into to be sent: memory reused once Noise has encrypted it.
  private readonly sendBuffers = new SendBuffers();
  private readonly placeForSending = (size: number) => this.sendBuffers.take(size);

  /** Stop the timers this server runs (its peer is stopping). */
  stop(): void {
    clearInterval(this.releaser);
  }

  setPushHandler(handler: PushHandler): void {
    this.opts.onPush = handler;
  }

  constructor(opts: SyncServerOptions) {
    this.opts = opts;
    // A gc in another process deletes packs this server may hold open from an earlier request:
    // let them go now and then, so that the space it reclaimed is free (reads do it too). And
    // memory kept for sending goes once the server has sent nothing for a while.
    this.releaser = setInterval(() => {
      this.sendBuffers.trim();
      for (const s of this.repos.values()) {
        try {
          s.repo.objects.releaseDeletedPacks();
        } catch {} // a repository closed meanwhile
      }
    }, RELEASE_PACKS_MS).unref();
  }

  add(served: ServedRepo): void {
    this.repos.set(toHex(served.state.id), served);
  }

  /**
   * Stop serving a repository. Streams bound to it get an error from their next request on; the
   * promise resolves once no request of theirs is still running, when the repository may be
   * closed.
   */
  async remove(id: ObjectId): Promise<void> {
    const served = this.repos.get(toHex(id));
    this.repos.delete(toHex(id));
    while (served && (this.running.get(served) ?? 0) > 0) {
      await new Promise<void>((resolve) => this.idle.push(resolve));
    }
  }

  /** Whether `served` is still served (not removed since a stream bound to it). */
  private stillServed(served: ServedRepo): boolean {
    return this.repos.get(toHex(served.state.id)) === served && served.gone?.() !== true;
  }

  private async whileRunning<T>(served: ServedRepo, work: () => Promise<T>): Promise<T> {
    this.running.set(served, (this.running.get(served) ?? 0) + 1);
    try {
      return await work();
    } finally {
      const left = (this.running.get(served) ?? 1) - 1;
      if (left > 0) this.running.set(served, left);
      else {
        this.running.delete(served);
        for (const wake of this.idle.splice(0)) wake();
      }
    }
  }

  has(id: ObjectId): boolean {
    return this.repos.has(toHex(id));
  }

  async attach(node: PeerNode): Promise<void> {
    await node.handle(
      SYNC_PROTOCOL,
      (stream, connection) => this.serve(stream, connection),
      REQUEST_STREAM_LIMITS,
    );
  }

  async serve(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString();
    // A client that stops reading our answers stops us reading its requests: what it sends
    // meanwhile is held to a small window and buffer, not yamux's grown window (limitRequestWindow).
    limitRequestWindow(stream);
    const reader = new FrameReader(stream, { limits: REQUEST_LIMITS, highWaterMark: REQUEST_STREAM_BUFFER });
    const writer = new FrameWriter(stream, { limits: RESPONSE_LIMITS, onDrain: () => this.touch() });
    let key: Uint8Array;
    try {
      key = publicKeyBytesOfPeer(connection.remotePeer);
    } catch {
      stream.abort(new Error('not an Ed25519 peer'));
      return;
    }
    let bound: ServedRepo | null = null;
    try {
      for (;;) {
        const frame = await reader.read();
        if (!frame) break;
        this.touch();
        if (frame.payload !== undefined) throw new ShoalError('PEER_ERROR', 'requests carry no payload');
        const request = parseRequest(frame.header);
        const fail = (code: number, message: string) =>
          writer.write({ type: 'error', req: request.req, code, message });
        try {
          if (request.type === 'hello') {
            // Without a repository id (a clone of a bare address), the first this key may read:
            // a private repository served first must not hide the public ones after it.
            const served = request.repo
              ? this.repos.get(toHex(request.repo))
              : ([...this.repos.values()].find((r) => this.stillServed(r) && readableQuietly(r, key)) ??
                this.repos.values().next().value);
            if (!served || !this.stillServed(served)) {
              await fail(WIRE_ERRORS.notFound, 'this peer does not serve that repository');
              continue;
            }
            if (!mayReadServed(served, key)) {
              this.opts.onEvent?.({ type: 'denied', peer });
              await fail(
                WIRE_ERRORS.forbidden,
                'this repository is private and your key is not allowed to read it',
              );
              continue;
            }
            bound = served;
            await writer.write({
              type: 'repo',
              req: request.req,
              identity: served.state.identityBytes,
              // room for the identity document and the message's other fields
              refs: servedRefs(
                served.repo,
                served.state,
                this.opts.user,
                RESPONSE_LIMITS.maxHeaderBytes - served.state.identityBytes.length - 64 * 1024,
              ),
            });
            continue;
          }
          if (request.type === 'list') {
            await writer.write({ type: 'repos', req: request.req, repos: this.listFor(key) });
            continue;
          }
          if (!bound) {
            await fail(WIRE_ERRORS.badRequest, 'say hello first');
            continue;
          }
          if (!this.stillServed(bound)) {
            bound = null;
            await fail(WIRE_ERRORS.notFound, 'this peer stopped serving the repository');
            continue;
          }
          // Checked on every request, not only at hello: a key taken off a private repository's
          // list loses access on the streams it already has open too.
          if (!mayReadServed(bound, key)) {
            this.opts.onEvent?.({ type: 'denied', peer });
            bound = null;
            await fail(
              WIRE_ERRORS.forbidden,
              'this repository is private and your key is not allowed to read it',
            );
            continue;
          }
          // A repository removed meanwhile is closed only once this request is done with it.
          const served = bound;
          await this.whileRunning(served, async () => {
            switch (request.type) {
              case 'get':
                await this.sendObjects(served.repo, request.req, request.ids, writer, peer);
                break;
              case 'have':
                await writer.write(await haveMap(served.repo, request, () => this.touch()));
                this.touch();
                break;
              case 'push': {
                if (!this.opts.onPush) {
                  await fail(WIRE_ERRORS.forbidden, 'this peer does not accept pushes');
                  break;
                }
                try {
                  const updated = await this.opts.onPush(served, request, { key, connection });
                  await writer.write({ type: 'pushed', req: request.req, updated });
                } catch (err) {
                  if (!isShoalError(err)) throw err;
                  await fail(wireCode(err), err.message);
                }
                break;
              }
            }
          });
        } catch (err) {
          // A fault of ours (a config file that cannot be read, a damaged index): the request is
          // answered with an error, as the protocol says, and the stream goes on. Resetting it
          // blamed the peer, and told it nothing.
          if (!isShoalError(err) || err.code === 'PEER_ERROR') throw err;
          this.opts.onEvent?.({ type: 'failed', peer, message: err.message });
          await fail(WIRE_ERRORS.internal, `this peer could not answer: ${err.message}`);
        }
      }
      await writer.close().catch(() => {});
    } catch (err) {
      this.opts.onEvent?.({ type: 'peer-error', peer, message: (err as Error).message });
      stream.abort(err as Error);
    }
  }

  /** The identity documents of the repositories `key` may read, within one message's limit. */
  private listFor(key: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let size = 0;
    for (const served of this.repos.values()) {
      if (out.length === MAX_LISTED_REPOS) break;
      if (!this.stillServed(served)) continue;
      let readable = false;
      try {
        readable = mayReadServed(served, key);
      } catch {} // an unreadable config: list it to nobody
      if (!readable) continue;
      size += served.state.identityBytes.length + 8;
      if (size > RESPONSE_LIMITS.maxHeaderBytes / 2) break;
      out.push(served.state.identityBytes);
    }
    return out;
  }

  private async sendObjects(
    repo: Repository,
    req: number,
    ids: Uint8Array[],
    writer: FrameWriter,
    peer: string,
  ): Promise<void> {
    let bytes = 0;
    // Objects go out in groups of about 1 MiB, each in one stream write (see writeBatch). Under
    // an upload limit a group is at most a quarter second of it, so that the limit stays smooth
    // and the first bytes of a response never wait long enough to look like a stall.
    const upload = this.opts.upload;
    const groupLimit = upload.limited
      ? Math.min(SEND_GROUP_BYTES, Math.max(64 * 1024, upload.bytesPerSecond / 4))
      : SEND_GROUP_BYTES;
    // Unlimited, objects are read into reused memory (SendBuffers): a seeder at full speed then
    // spares the GC most of its work. Under a limit, a group can be a small part of a slab, and
    // a stream that stalls would keep the whole slab from reuse: each object gets its own.
    let group: { header: FrameHeader; payload?: Uint8Array }[] = [];
    let groupBytes = 0;
    const sendGroup = async (): Promise<void> => {
      if (group.length === 0) return;
      if (groupBytes > 0) await upload.take(groupBytes);
      const messages = group;
      group = [];
      bytes += groupBytes;
      this.bytesServed += groupBytes; // as it goes: a push shows its progress from this
      groupBytes = 0;
      await writer.writeBatch(messages);
      this.touch();
    };
    // A group is read inside one SQLite snapshot and sent after it: no snapshot stays open
    // across a wait, while other streams' requests use the same connection.
    let next = 0;
    let held: { id: ObjectId; data: Uint8Array } | undefined; // read, left for the next group
    const add = (id: ObjectId, data: Uint8Array) => {
      group.push({ header: { type: 'object', req, id }, payload: data });
      groupBytes += data.length;
    };
    while (next < ids.length || held) {
      let unread: ObjectId | undefined; // failed inside the snapshot: read again after it
      readSnapshot(repo.db, () => {
        if (held) add(held.id, held.data);
        held = undefined;
        while (next < ids.length && groupBytes < groupLimit) {
          const id = ids[next++]!;
          let data: Uint8Array;
          try {
            data = upload.limited ? repo.objects.read(id) : repo.objects.readPlaced(id, this.placeForSending);
          } catch (err) {
            if (!isShoalError(err)) throw err;
            unread = id;
            return;
          }
          // Under a limit, sent before it would outgrow the quarter-second piece: a piece is
          // larger only when one object is. (Unlimited, groups of a MiB or a little over.)
          if (upload.limited && groupBytes > 0 && groupBytes + data.length > groupLimit) {
            held = { id, data };
            return;
          }
          add(id, data);
        }
      });
      if (unread) {
        // A gc in another process may have moved it since the snapshot began: the store looks
        // an object up afresh when its pack is gone, which a snapshot would not let it see.
        try {
          held = { id: unread, data: repo.objects.read(unread) };
        } catch (err) {
          if (!isShoalError(err)) throw err;
          // Missing, or corrupt here: either way the peer must get it elsewhere, and soon.
          // Damage is this repository's problem, and said.
          if (err.code === 'CORRUPT_OBJECT')
            this.opts.onEvent?.({ type: 'damaged', peer, message: err.message });
          group.push({ header: { type: 'missing', req, id: unread } });
        }
      }
      await sendGroup();
    }
    this.opts.onEvent?.({ type: 'served', peer, bytes });
  }
}

/** Steps of a have-map's walk between turns of the event loop. */
const YIELD_EVERY = 16_384;

/**
 * Which chunks under a content root this repository holds, in file order, within the bounds of
 * leafVisits (beyond them: `count: 0`, too large to map). A lowest-level node's chunks are looked
 * up once per request however often it is named.
 */
async function haveMap(repo: Repository, request: Extract<Request, { type: 'have' }>, touch: () => void) {
  const base = { type: 'have-map' as const, req: request.req };
  if (request.commit) {
    const complete = [...repo.refs.list('refs/')].some((r) => Buffer.compare(r.id, request.root) === 0);
    return { ...base, all: complete, count: 0, bits: new Uint8Array(0) };
  }
  if (request.height === 0) {
    const has = repo.objects.has(request.root);
    return { ...base, all: has, count: 1, bits: new Uint8Array([has ? 1 : 0]) };
  }
  const flags: boolean[] = [];
  const readNode = (id: ObjectId) => {
    try {
      return decodeIndexNode(repo.objects.read(id, 'node'));
    } catch {
      return null;
    }
  };
  // A map of a very large file takes millions of steps: other peers' requests (a daemon serves
  // many repositories) are answered in between.
  const visits = leafVisits(readNode, request.root, request.height, (e) => repo.objects.has(e.id));
  let yielded = 0;
  for (;;) {
    const v = visits.next();
    if (v.done) {
      if (!v.value) return { ...base, all: false, count: 0, bits: new Uint8Array(0) };
      break;
    }
    const { values, steps } = v.value;
    for (const f of values) flags.push(f);
    if (steps - yielded >= YIELD_EVERY) {
      yielded = steps;
      touch();
      await yieldToOthers();
    }
  }
  const bits = new Uint8Array(Math.ceil(flags.length / 8));
  let all = true;
  flags.forEach((f, i) => {
    if (f) bits[i >> 3]! |= 1 << (i & 7);
    else all = false;
  });
  return { ...base, all, count: flags.length, bits: all ? new Uint8Array(0) : bits };
}

/** mayRead, taking a repository whose access settings cannot be read for one that refuses. */
function readableQuietly(served: ServedRepo, key: Uint8Array): boolean {
  try {
    return mayReadServed(served, key);
  } catch {
    return false;
  }
}
