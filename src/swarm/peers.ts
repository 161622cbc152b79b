// Finding peers and what they serve: listen on the LAN (mDNS) for a bounded window, add the
// known peers, and ask each one for its repositories with a `list` request. Every repository
// listed is an identity document whose id we compute ourselves, so a peer can omit
// repositories but cannot misname one.

import type { PeerId } from '@libp2p/interface';
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr';
import {
  decodeRepoIdentity,
  encodeRepoIdentity,
  type KeyPair,
  ShoalError,
  toHex,
  type Visibility,
} from '../core/index.ts';
import {
  bareAddress,
  createPeerNode,
  FrameReader,
  FrameWriter,
  OpenStreamError,
  openStream,
  type PeerNode,
  parseResponse,
  SYNC_PROTOCOL,
} from '../net/index.ts';
import type { KnownPeer } from '../store/index.ts';
import { firstToSucceed, NEXT_ADDRESS_AFTER_MS } from './overlapping.ts';

export interface ListedRepo {
  id: string;
  name: string;
  visibility: Visibility;
}

export type PeerSource = 'lan' | 'known';

export interface PeerListing {
  peerId: string;
  addrs: string[];
  sources: PeerSource[];
  /** Whether the peer answered the `list` request. */
  reachable: boolean;
  /** The repositories it serves to us (only when reachable). */
  repos: ListedRepo[];
  /** Repository ids it served us before, from known-peers.json. */
  knownRepos: string[];
  error?: string;
}

export interface FindPeersOptions {
  user: KeyPair;
  /** How long to listen for LAN peers, in ms; 0 skips mDNS. */
  lanWaitMs: number;
  /** Peers remembered from earlier transfers. */
  known: Record<string, KnownPeer>;
  /** How long one peer may take to answer, in ms. */
  queryTimeoutMs?: number;
  /** mDNS service tag; default shoal's. */
  mdnsServiceTag?: string;
  signal?: AbortSignal;
}

const LIMITS = { maxHeaderBytes: 1024 * 1024, maxPayloadBytes: 1 };

function withPeer(addr: string, peerId: string): string {
  return addr.includes('/p2p/') ? addr : `${addr}/p2p/${peerId}`;
}

/**
 * Ask one peer which repositories it serves to us. With `expect`, the peer that answers must be
 * that one (the target is an address without /p2p/, which names no one).
 */
export async function askRepos(
  node: PeerNode,
  target: PeerId | Multiaddr | Multiaddr[],
  signal?: AbortSignal,
  expect?: string,
): Promise<ListedRepo[]> {
  let stream: Awaited<ReturnType<typeof openStream>>['stream'];
  try {
    ({ stream } = await openStream(node, target, SYNC_PROTOCOL, { signal, expect }));
  } catch (err) {
    const why = err instanceof OpenStreamError && err.timedOut ? 'no answer in time' : (err as Error).message;
    throw new ShoalError('PEER_ERROR', `cannot reach the peer: ${why}`);
  }
  const onAbort = (): void => stream.abort(new Error('timed out'));
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const writer = new FrameWriter(stream, { limits: LIMITS });
    const reader = new FrameReader(stream, { limits: LIMITS });
    await writer.write({ type: 'list', req: 1 });
    const frame = await reader.read();
    if (!frame) throw new ShoalError('PEER_ERROR', 'the peer closed the stream without answering');
    const response = parseResponse(frame.header);
    if (response.type === 'error') throw new ShoalError('PEER_ERROR', response.message);
    if (response.type !== 'repos' || response.req !== 1)
      throw new ShoalError('PEER_ERROR', `expected a repository list, got ${response.type}`);
    await writer.close().catch(() => {});
    const repos: ListedRepo[] = [];
    for (const bytes of response.repos) {
      try {
        const identity = decodeRepoIdentity(bytes);
        repos.push({
          id: toHex(encodeRepoIdentity(identity).id),
          name: identity.name,
          visibility: identity.visibility,
        });
      } catch {
        // An identity this shoal cannot read (a newer format): leave it out.
      }
    }
    return repos;
  } catch (err) {
    stream.abort(err as Error);
    if (signal?.aborted) throw new ShoalError('PEER_ERROR', 'the peer did not answer in time');
    // A peer that predates `list` resets the stream on the unknown request.
    throw err instanceof ShoalError ? err : new ShoalError('PEER_ERROR', (err as Error).message);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Wait `ms` for mDNS answers; returns each peer found with the addresses it announced. */
function listenOnLan(node: PeerNode, ms: number, signal?: AbortSignal): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      node.removeEventListener('peer:discovery', onPeer);
      signal?.removeEventListener('abort', done);
      resolve(found);
    };
    const onPeer = (evt: CustomEvent<{ id: PeerId; multiaddrs: Multiaddr[] }>): void => {
      const id = evt.detail.id.toString();
      const addrs = evt.detail.multiaddrs.map((a) => a.toString());
      found.set(id, [...new Set([...(found.get(id) ?? []), ...addrs])]);
    };
    const timer = setTimeout(done, ms);
    node.addEventListener('peer:discovery', onPeer);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Peers on the LAN and known peers, each with the repositories it serves to this user. */
export async function findPeers(opts: FindPeersOptions): Promise<PeerListing[]> {
  const node = await createPeerNode({
    seed: opts.user.seed,
    mdns: opts.lanWaitMs > 0,
    mdnsServiceTag: opts.mdnsServiceTag,
  });
  try {
    const self = node.peerId.toString();
    const listings = new Map<string, PeerListing>();
    const entry = (peerId: string): PeerListing => {
      let l = listings.get(peerId);
      if (!l) {
        l = { peerId, addrs: [], sources: [], reachable: false, repos: [], knownRepos: [] };
        listings.set(peerId, l);
      }
      return l;
    };
    const lan =
      opts.lanWaitMs > 0 ? await listenOnLan(node, opts.lanWaitMs, opts.signal) : new Map<string, string[]>();
    for (const [peerId, addrs] of lan) {
      if (peerId === self) continue;
      const l = entry(peerId);
      l.sources.push('lan');
      l.addrs.push(...addrs.map((a) => withPeer(a, peerId)));
    }
    for (const [peerId, kp] of Object.entries(opts.known)) {
      if (peerId === self) continue;
      const l = entry(peerId);
      l.sources.push('known');
      l.addrs = [...new Set([...l.addrs, ...(kp.addrs ?? []).map((a) => withPeer(a, peerId))])];
      l.knownRepos = kp.repos ?? [];
    }
    const timeout = opts.queryTimeoutMs ?? 5000;
    await Promise.all(
      [...listings.values()].map(async (l) => {
        const targets: Multiaddr[] = [];
        for (const a of l.addrs) {
          try {
            targets.push(multiaddr(a));
          } catch {} // a malformed remembered address: try the others
        }
        if (targets.length === 0) {
          l.error = 'no usable address';
          return;
        }
        const signal = opts.signal
          ? AbortSignal.any([opts.signal, AbortSignal.timeout(timeout)])
          : AbortSignal.timeout(timeout);
        // Its addresses overlapping, dialled bare (see connect): one it has left does not
        // use up the time the peer has to answer.
        const bare = [...new Set(targets.map((a) => bareAddress(a).toString()))].map((a) => multiaddr(a));
        const failed: { at: number; why: string }[] = [];
        await firstToSucceed(
          [...bare.entries()],
          async ([at, addr], ended) => {
            try {
              l.repos = await askRepos(node, addr, ended, l.peerId);
              l.reachable = true;
              return true;
            } catch (err) {
              failed.push({ at, why: (err as Error).message });
              return false;
            }
          },
          NEXT_ADDRESS_AFTER_MS,
          signal,
        );
        if (!l.reachable) {
          // The first failure in address order; those still silent at the deadline said nothing.
          const first = failed.toSorted((a, b) => a.at - b.at)[0];
          const why = first?.why ?? 'cannot reach the peer: no answer in time';
          l.error = bare.length > 1 ? `none of its ${bare.length} addresses answered (${why})` : why;
        }
      }),
    );
    return [...listings.values()].sort(
      (a, b) =>
        Number(b.reachable) - Number(a.reachable) ||
        Number(b.sources.includes('lan')) - Number(a.sources.includes('lan')) ||
        (a.peerId < b.peerId ? -1 : 1),
    );
  } finally {
    await node.stop();
  }
}
