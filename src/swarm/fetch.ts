// Fetching a set of commits from peers: first the metadata (commits, trees, index nodes),
// breadth first and verified against the kind the parent names; then every missing chunk
// through the multi-source scheduler. Objects already stored are never asked for, so an
// interrupted fetch resumes where it stopped.

import {
  decodeCommit,
  decodeIndexNode,
  decodeTree,
  hashObject,
  idEquals,
  isShoalError,
  type ObjectId,
  type ObjectKind,
  ShoalError,
  toHex,
  verifyCommitBytes,
} from '../core/index.ts';
import type { PackSession, Repository } from '../store/index.ts';
import { IdTable } from './id-table.ts';
import { leafVisits, MAX_HAVE_CHUNKS } from './index-walk.ts';
import { abortable, type PeerSession } from './peer-session.ts';
import type { RateLimiter } from './rate-limit.ts';
import {
  DEFAULT_STALL_MS,
  describeDropped,
  lostPeer,
  refusedByAll,
  runScheduler,
  type SchedulerPeer,
  type SchedulerResult,
} from './scheduler.ts';

export interface FetchProgress {
  phase: 'metadata' | 'chunks';
  bytesDone: number;
  bytesTotal: number;
  objects: number;
  peers: number;
}

export interface FetchOptions {
  repo: Repository;
  peers: PeerSession[];
  targets: ObjectId[];
  download: RateLimiter;
  onProgress?: (p: FetchProgress) => void;
  signal?: AbortSignal;
  /** How long a peer may owe data without sending any before it is dropped. */
  stallMs?: number;
  /**
   * At most this many bytes of metadata and missing chunks: beyond it the fetch stops with
   * TOO_LARGE, before storing the object that would go over, and before asking for any chunk
   * once the metadata shows the chunks would not fit.
   */
  maxBytes?: number;
  /** Every byte this fetch stores is added here as it is stored, whether the fetch succeeds or not. */
  spent?: { bytes: number };
  /** Sees each chunk as it is stored: a clone writes its files meanwhile (CheckoutAhead). */
  follower?: ChunkFollower;
}

/** What a fetch hands the chunks it stores to, besides the packs. */
export interface ChunkFollower {
  /**
   * The metadata is stored (and readable): the chunks it will follow, in the order it wants them.
   * The fetch asks for those first, in that order, and for the rest after them.
   */
  wanted(): Iterable<ObjectId>;
  /** No chunk asked for yet. True when it will follow any. */
  start(fetch: FollowedFetch): Promise<boolean>;
  /** A chunk just stored, verified: its bytes stay valid until the promise settles. */
  stored(id: ObjectId, bytes: Uint8Array): Promise<void>;
}

/** What a follower may ask of the fetch it follows. */
export interface FollowedFetch {
  /** Whether this fetch is still to store the chunk. */
  coming(id: ObjectId): boolean;
  /** Whether the chunk is among those the follower wanted (and this fetch asks for). */
  wanted(id: ObjectId): boolean;
  /** The bytes of all the chunks this fetch is to store. */
  incoming: number;
}

export interface FetchResult extends SchedulerResult {
  metadataObjects: number;
  chunks: number;
  alreadyHad: number;
}

interface Need {
  id: ObjectId;
  kind: Exclude<ObjectKind, 'repo' | 'refs'>;
  height: number;
}

interface FileRoot {
  id: ObjectId;
  height: number;
}

const META_BATCH = 512;
/** The most chunk positions one fetch walks to match have-maps, over all its files. */
const MAX_HAVE_WALK = 4 * MAX_HAVE_CHUNKS;
const FLUSH_MS = 1000;
const FLUSH_BYTES = 64 * 1024 * 1024;

export async function fetchCommits(opts: FetchOptions): Promise<FetchResult> {
  const { repo } = opts;
  const alive = [...opts.peers];
  const banned: { peer: string; why: string }[] = [];
  const lost: SchedulerResult['lost'] = []; // dropped, not banned: gone, stalled, refused
  const ban = (p: PeerSession, why: string): void => {
    banned.push({ peer: p.peer, why });
    void p.close(`banned: ${why}`);
    alive.splice(alive.indexOf(p), 1);
  };
  return repo.withWriteLock(async () => {
    const session = await repo.objects.beginSession();
    try {
      const seen = new IdTable(); // commits, trees and index nodes wanted (their sizes are not kept)
      const named = new IdTable(); // to fetch, as the trees and index nodes name them
      const had = new IdTable(); // already stored (their sizes are not kept)
      const roots: FileRoot[] = [];
      let alreadyHad = 0;
      let metadataObjects = 0;
      let metadataBytes = 0;
      const tooLarge = (bytes: number): ShoalError =>
        new ShoalError('TOO_LARGE', `the commits come to more than ${opts.maxBytes} bytes`, {
          bytes,
          metadataObjects, // stored before the fetch stopped
        });
      let queue: Need[] = [];
      const want = (need: Need): void => {
        if (seen.add(need.id, 0)) queue.push(need);
      };
      // Into a store that holds no chunk yet (a fresh clone), each chunk the index names is
      // missing: no lookup each (4 us, 60 ms of a 1 GiB clone's walk).
      const mayHold = repo.objects.holdsChunks();
      const wantChunk = (id: ObjectId, size: number): void => {
        if (named.has(id) || had.has(id)) return;
        if (mayHold && session.has(id)) {
          had.add(id, 0);
          alreadyHad++;
        } else named.add(id, size);
      };
      const wantContent = (id: ObjectId, height: number, size: number): void => {
        if (height === 0) wantChunk(id, size);
        else {
          roots.push({ id, height });
          want({ id, kind: 'node', height });
        }
      };
      const expand = (need: Need, bytes: Uint8Array): void => {
        if (need.kind === 'commit') {
          const c = decodeCommit(bytes);
          want({ id: c.tree, kind: 'tree', height: 0 });
          for (const p of c.parents) want({ id: p, kind: 'commit', height: 0 });
        } else if (need.kind === 'tree') {
          for (const e of decodeTree(bytes).entries) {
            if (e.kind === 'dir') want({ id: e.id, kind: 'tree', height: 0 });
            else if (e.kind === 'symlink') wantChunk(e.id, e.size);
            else wantContent(e.id, e.height, e.size);
          }
        } else {
          const node = decodeIndexNode(bytes);
          if (node.height !== need.height)
            throw new ShoalError('CORRUPT_OBJECT', `index node ${toHex(need.id)} has the wrong height`);
          for (const e of node.entries) {
            if (node.height > 1) want({ id: e.id, kind: 'node', height: node.height - 1 });
            else wantChunk(e.id, e.size);
          }
        }
      };
      for (const t of opts.targets) want({ id: t, kind: 'commit', height: 0 });

      // Metadata, breadth first, in batches.
      let turn = 0;
      while (queue.length > 0) {
        if (opts.signal?.aborted) throw new ShoalError('ABORTED', 'interrupted');
        const batch = queue.slice(0, META_BATCH);
        queue = queue.slice(META_BATCH);
        const remote: Need[] = [];
        for (const need of batch) {
          if (repo.objects.has(need.id)) {
            expand(need, repo.objects.read(need.id, need.kind));
            alreadyHad++;
          } else remote.push(need);
        }
        let missing = remote;
        let attempts = 0;
        while (missing.length > 0) {
          if (attempts++ > 2 * opts.peers.length) {
            throw new ShoalError('MISSING_OBJECT', `no reachable peer has object ${toHex(missing[0]!.id)}`, {
              banned,
              lost,
            });
          }
          if (alive.length === 0) {
            // Each peer refused this key (a private repository that stopped listing it).
            const denied = refusedByAll(banned, lost);
            if (denied) throw new ShoalError('PERMISSION_DENIED', `peer ${denied.peer}: ${denied.why}`);
            // (none dropped here: every peer was lost in an earlier round of the same fetch)
            const why = describeDropped([...banned, ...lost]) || 'each was dropped earlier in this fetch';
            throw new ShoalError(
              'PEER_ERROR',
              `no peer left to fetch from (run the command again to resume): ${why}`,
              { banned, lost },
            );
          }
          const peer = alive[turn++ % alive.length]!;
          const byId = new Map(missing.map((m) => [toHex(m.id), m]));
          const got: { need: Need; bytes: Uint8Array }[] = [];
          const notThere: Need[] = [];
          let bad: string | null = null;
          let lastData = performance.now();
          try {
            await abortable(
              stallGuard(
                peer.get(
                  missing.map((m) => m.id),
                  (id, bytes) => {
                    const need = byId.get(toHex(id))!;
                    lastData = performance.now();
                    if (bytes === null) notThere.push(need);
                    else if (!idEquals(hashObject(need.kind, bytes), need.id))
                      bad = `sent a wrong ${need.kind}`;
                    else got.push({ need, bytes });
                  },
                ),
                () => lastData,
                opts.stallMs ?? DEFAULT_STALL_MS,
                (why) => void peer.close(why),
              ),
              opts.signal,
            );
          } catch (err) {
            if (isShoalError(err, 'ABORTED')) throw err;
            // Banned when it broke the protocol; a peer that went away is only dropped.
            if (peer.misbehaved !== null) ban(peer, peer.misbehaved);
            else {
              alive.splice(alive.indexOf(peer), 1);
              lost.push(lostPeer(peer.peer, err));
            }
            continue;
          }
          if (bad) {
            ban(peer, bad);
            continue;
          }
          for (const { need, bytes } of got) {
            // A commit is its author's only if the author's key signed it. One that does not
            // verify (a writer pushing in another's name, a fork forged in the delegate's) is
            // refused before it is stored, rather than left for fsck or verify to find. Its
            // bytes match its id, so every peer would send the same: no peer is to blame.
            if (need.kind === 'commit' && !verifyCommitBytes(bytes))
              throw new ShoalError(
                'BAD_SIGNATURE',
                `commit ${toHex(need.id).slice(0, 12)} is not signed by its author (its signature does not verify against the author's key); it was refused`,
                { commit: toHex(need.id) },
              );
            try {
              expand(need, bytes);
            } catch (err) {
              ban(peer, `sent an undecodable ${need.kind}: ${(err as Error).message}`);
              bad = 'x';
              break;
            }
            if (opts.maxBytes !== undefined && metadataBytes + bytes.length > opts.maxBytes)
              throw tooLarge(metadataBytes + bytes.length);
            await session.putObject({ kind: need.kind, id: need.id, bytes });
            metadataObjects++;
            metadataBytes += bytes.length;
            if (opts.spent) opts.spent.bytes += bytes.length;
          }
          if (bad) continue;
          missing = notThere;
        }
        opts.onProgress?.({
          phase: 'metadata',
          bytesDone: 0,
          bytesTotal: 0,
          objects: metadataObjects,
          peers: alive.length,
        });
      }
      // The index nodes must be readable for have-maps and for serving while we download.
      await session.flush();
      let chunks = withoutMetadata(named, seen);
      // the first `wantedCount` of them are those the follower wants, `wantedBytes` in all
      let wantedCount = 0;
      let wantedBytes = 0;
      if (opts.follower) ({ chunks, wantedCount, wantedBytes } = followersOrder(chunks, opts.follower));

      const totalBytes = chunks.totalSize();
      if (opts.maxBytes !== undefined) {
        const total = metadataBytes + totalBytes;
        if (total > opts.maxBytes) throw tooLarge(total);
      }
      // The closures above keep these alive for the whole transfer otherwise.
      seen.clear();
      had.clear();
      if (chunks !== named) named.clear();
      const { follower } = opts;
      const storedYet = follower ? new Uint8Array(chunks.length) : null;
      const following =
        follower !== undefined &&
        wantedCount > 0 &&
        (await follower.start({
          coming: (id) => {
            const i = chunks.indexOf(id);
            return i >= 0 && storedYet![i] === 0;
          },
          wanted: (id) => {
            const i = chunks.indexOf(id);
            return i >= 0 && i < wantedCount;
          },
          incoming: totalBytes,
        }));
      // What a follower writes out as it comes is not read back from the packs: when that is
      // most of what comes, they are written past the page cache, which spares the kernel finding
      // memory for every byte. (Small files and other versions are read back by the checkout.)
      if (following && wantedBytes >= totalBytes / 2) await session.writeDirectly();
      const peers = await availability(repo, alive, opts.targets, roots, chunks, { lost, ban }, opts.signal);
      // Commit what arrived every second (or every 64 MiB): an interrupted fetch, even one killed
      // outright, resumes without fetching it again.
      let flushed = performance.now();
      let unflushed = 0;
      const result = await withEarlierDrops(
        runScheduler({
          chunks,
          peers,
          download: opts.download,
          store: async (id, bytes, i) => {
            // putChunk copies the bytes before it resolves, and the scheduler then frees them:
            // putChunkLending, which writes them later, would write freed memory here.
            await session.putChunk(id, bytes, true);
            if (following) {
              storedYet![i] = 1;
              await follower.stored(id, bytes);
            }
            if (opts.spent) opts.spent.bytes += bytes.length;
            unflushed += bytes.length;
            if (unflushed >= FLUSH_BYTES || performance.now() - flushed >= FLUSH_MS) {
              await session.flush();
              flushed = performance.now();
              unflushed = 0;
            }
          },
          onProgress: (p) =>
            opts.onProgress?.({
              phase: 'chunks',
              bytesDone: p.bytesDone,
              bytesTotal: p.bytesTotal,
              objects: metadataObjects + p.chunksDone,
              peers: p.peers,
            }),
          signal: opts.signal,
          stallMs: opts.stallMs,
        }),
        banned,
        lost,
      );
      await session.close();
      return {
        ...result,
        banned: [...banned, ...result.banned],
        lost: [...lost, ...result.lost],
        metadataObjects,
        chunks: chunks.length,
        alreadyHad,
      };
    } catch (err) {
      await closeKeepingWork(session);
      throw err;
    }
  });
}

/**
 * The scheduler's result, or its failure naming also the peers dropped before it started
 * (while the metadata came, or when asked what they hold): "no peer left" names them all.
 */
async function withEarlierDrops(
  work: Promise<SchedulerResult>,
  banned: SchedulerResult['banned'],
  lost: SchedulerResult['lost'],
): Promise<SchedulerResult> {
  try {
    return await work;
  } catch (err) {
    if (!isShoalError(err) || (banned.length === 0 && lost.length === 0)) throw err;
    if (err.code !== 'PEER_ERROR' && err.code !== 'MISSING_OBJECT') throw err;
    const detail = err.detail ?? {};
    throw new ShoalError(err.code, `${err.message}; before that, ${describeDropped([...banned, ...lost])}`, {
      ...detail,
      banned: [...banned, ...((detail.banned ?? []) as SchedulerResult['banned'])],
      lost: [...lost, ...((detail.lost ?? []) as SchedulerResult['lost'])],
    });
  }
}

/** On failure keep what was fetched and verified: the next run resumes from it. */
async function closeKeepingWork(session: PackSession): Promise<void> {
  try {
    await session.close();
  } catch {
    await session.abort();
  }
}

/**
 * Ask every peer what it holds: whole commits when complete, else have-maps per large file.
 * A file's chunk order is walked once, and only as far as one have-map reaches: index nodes
 * may name the same child many times (a file of repeated content, or a peer's crafted index of
 * 4096^3 chunks in a few objects), so the walk is bounded per file and for the whole fetch.
 */
async function availability(
  repo: Repository,
  peers: PeerSession[],
  targets: ObjectId[],
  roots: FileRoot[],
  chunks: IdTable,
  drops: { lost: SchedulerResult['lost']; ban: (p: PeerSession, why: string) => void },
  signal: AbortSignal | undefined,
): Promise<SchedulerPeer[]> {
  const n = chunks.length;
  const out: SchedulerPeer[] = [];
  const unknown: SchedulerPeer[] = [];
  // a file present at several paths has one root
  const unique = [...new Map(roots.map((r) => [`${toHex(r.id)}/${r.height}`, r])).values()];
  const orders = new Map<string, Int32Array | null>();
  let walked = 0;
  const orderOf = (root: FileRoot): Int32Array | null => {
    const key = `${toHex(root.id)}/${root.height}`;
    let order = orders.get(key);
    if (order === undefined) {
      const limit = Math.min(MAX_HAVE_CHUNKS, MAX_HAVE_WALK - walked);
      order = chunkOrder(repo, root, chunks, limit);
      walked += order?.length ?? limit;
      orders.set(key, order);
    }
    return order;
  };
  for (const session of peers) {
    const has = new Uint8Array(n);
    let complete = true;
    // Its session is closed too: a later round of the same fetch does not ask it again.
    const dropped = (err: unknown): void => {
      const why = (err as Error).message;
      if (err instanceof WrongHaveMap) {
        drops.ban(session, why);
        return;
      }
      drops.lost.push(lostPeer(session.peer, err));
      void session.close(why);
    };
    try {
      for (const t of targets) if (!(await abortable(session.have(t, 0, true), signal)).all) complete = false;
    } catch (err) {
      if (isShoalError(err, 'ABORTED')) throw err;
      dropped(err);
      continue;
    }
    if (complete) {
      has.fill(1);
      out.push({ session, has });
      continue;
    }
    try {
      for (const root of unique) {
        // too large to map: its chunks are asked of partial peers like small files' (below)
        const order = orderOf(root);
        if (order === null) continue;
        const map = await abortable(session.have(root.id, root.height), signal);
        if (map.count === 0 && !map.all) continue;
        if (!map.all && map.count !== order.length) throw new WrongHaveMap();
        order.forEach((i, k) => {
          if (i >= 0 && (map.all || (map.bits[k >> 3]! >> (k & 7)) & 1)) has[i] = 1;
        });
      }
    } catch (err) {
      if (isShoalError(err, 'ABORTED')) throw err;
      dropped(err);
      continue;
    }
    const peer = { session, has };
    out.push(peer);
    unknown.push(peer);
  }
  // Chunks no have-map accounts for (small files): ask the partial peers anyway; a `missing`
  // answer takes them off that peer's list.
  for (let i = 0; i < n; i++) {
    if (out.some((p) => p.has[i])) continue;
    for (const p of unknown) p.has[i] = 1;
  }
  return out;
}

/**
 * `chunks` in the order a follower wants them, the others after them as they were; how many
 * it wanted, and their bytes. The trees name chunks breadth first: the chunks of a file whose
 * index is a level deeper than the files around it come after all of theirs, where a clone's
 * checkout writes it between them. The walk is bounded as the have-maps' is (a crafted index
 * can name one chunk a billion times): what lies beyond keeps the order it was named in.
 */
function followersOrder(
  chunks: IdTable,
  follower: ChunkFollower,
): { chunks: IdTable; wantedCount: number; wantedBytes: number } {
  const ordered = new IdTable();
  let bytes = 0;
  let visits = 0;
  try {
    for (const id of follower.wanted()) {
      if (++visits > MAX_HAVE_WALK || ordered.length === chunks.length) break;
      const i = chunks.indexOf(id);
      if (i >= 0 && ordered.add(chunks.id(i), chunks.size(i))) bytes += chunks.size(i);
    }
  } catch {
    // what it reads is the fetch's to check, and it does: the order stays as named
    return { chunks, wantedCount: 0, wantedBytes: 0 };
  }
  const wantedCount = ordered.length;
  if (wantedCount === 0) return { chunks, wantedCount: 0, wantedBytes: 0 };
  for (let i = 0; i < chunks.length; i++) ordered.add(chunks.id(i), chunks.size(i)); // the rest
  return { chunks: ordered, wantedCount, wantedBytes: bytes };
}

/**
 * `chunks` without the ids this fetch also wanted as commits, trees or index nodes. Object ids
 * hash a kind with the bytes, so no honest tree names one as a file's chunk; a crafted one may.
 * Asked for as a chunk, every peer would send the object's bytes, fail the chunk's hash and be
 * banned. Left out, the checkout finds that it is not a chunk, and says so.
 */
function withoutMetadata(chunks: IdTable, metadata: IdTable): IdTable {
  const clash = (i: number): boolean => metadata.has(chunks.id(i));
  let i = 0;
  while (i < chunks.length && !clash(i)) i++;
  if (i === chunks.length) return chunks;
  const kept = new IdTable();
  for (let j = 0; j < chunks.length; j++) if (!clash(j)) kept.add(chunks.id(j), chunks.size(j));
  return kept;
}

/** A have-map whose length is not the file's number of chunks: a broken protocol, banned. */
class WrongHaveMap extends Error {
  constructor() {
    super('sent a have-map of the wrong length');
  }
}

/**
 * The position in `chunks` (-1 when not there) of each chunk of a file, in file order; null
 * when the file has more than `limit` chunks, or its walk more steps than leafVisits allows.
 */
function chunkOrder(repo: Repository, root: FileRoot, chunks: IdTable, limit: number): Int32Array | null {
  const out: number[] = [];
  const visits = leafVisits(
    (id) => decodeIndexNode(repo.objects.read(id, 'node')),
    root.id,
    root.height,
    (e) => chunks.indexOf(e.id),
    limit,
  );
  for (;;) {
    const v = visits.next();
    if (v.done) return v.value ? Int32Array.from(out) : null;
    for (const i of v.value.values) out.push(i);
  }
}

/** Reject when `work` makes no progress (lastData) for `stallMs`; `onStall` breaks it off. */
async function stallGuard<T>(
  work: Promise<T>,
  lastData: () => number,
  stallMs: number,
  onStall: (why: string) => void,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    const check = (): void => {
      const idle = performance.now() - lastData();
      if (idle >= stallMs) {
        const why = `sent nothing for ${Math.round(stallMs / 1000)} s`;
        reject(new ShoalError('PEER_ERROR', why));
        onStall(why);
      } else timer = setTimeout(check, stallMs - idle);
    };
    timer = setTimeout(check, stallMs);
  });
  try {
    return await Promise.race([work, stalled]);
  } finally {
    clearTimeout(timer);
  }
}
