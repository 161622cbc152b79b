// A running shoal peer: a libp2p node with this user's identity, the sync server attached, and
// helpers to reach the peers a source names (a multiaddr, a LAN peer id, or every peer that
// holds `shoal://<repo-id>`).

import type { PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import {
  decodeRepoIdentity,
  encodeRepoIdentity,
  fromHex,
  isShoalError,
  type KeyPair,
  type ObjectId,
  ShoalError,
  toHex,
} from '../core/index.ts';
import { bareAddress, createPeerNode, type PeerNode } from '../net/index.ts';
import { readKnownPeers, rememberPeer } from '../store/index.ts';
import { firstToSucceed, NEXT_ADDRESS_AFTER_MS } from './overlapping.ts';
import { abortable, PeerSession } from './peer-session.ts';
import { RateLimiter } from './rate-limit.ts';
import { type PushHandler, type ServerEvent, SyncServer } from './server.ts';

export interface PeerOptions {
  user: KeyPair;
  listen?: string[];
  mdns?: boolean;
  maxUpload?: number;
  maxDownload?: number;
  onPush?: PushHandler;
  onEvent?: (e: ServerEvent) => void;
}

export interface Peer {
  node: PeerNode;
  server: SyncServer;
  download: RateLimiter;
  /** Multiaddrs others can dial, each ending in /p2p/<peer-id>. */
  addrs(): string[];
  stop(): Promise<void>;
}

export async function startPeer(opts: PeerOptions): Promise<Peer> {
  const node = await createPeerNode({
    seed: opts.user.seed,
    // A peer that looks on the LAN is reachable from it, so it can serve what it has while it
    // downloads; without LAN discovery nobody would learn its address, so loopback is enough.
    listen: opts.listen ?? [opts.mdns ? '/ip4/0.0.0.0/tcp/0' : '/ip4/127.0.0.1/tcp/0'],
    mdns: opts.mdns ?? false,
  });
  const server = new SyncServer({
    user: opts.user,
    upload: new RateLimiter(opts.maxUpload),
    onPush: opts.onPush,
    onEvent: opts.onEvent,
  });
  await server.attach(node);
  return {
    node,
    server,
    download: new RateLimiter(opts.maxDownload),
    addrs: () => node.getMultiaddrs().map((a) => a.toString()),
    stop: async () => {
      server.stop();
      await node.stop();
      // libp2p re-arms a 1 s debounce timer (refreshing its own addresses) when its listeners
      // close, and nothing stops it: a command would linger that long before exiting.
      (
        node as unknown as {
          components?: { addressManager?: { _updatePeerStoreAddresses?: { stop?: () => void } } };
        }
      ).components?.addressManager?._updatePeerStoreAddresses?.stop?.();
    },
  };
}

export type Source =
  | { kind: 'addr'; addr: string; peer: string | undefined }
  | { kind: 'peer'; peer: string }
  | { kind: 'repo'; repo: ObjectId };

export function parseSource(text: string): Source {
  if (text.startsWith('shoal://')) {
    const hex = text.slice('shoal://'.length).replace(/\/+$/, '');
    try {
      return { kind: 'repo', repo: fromHex(hex) };
    } catch {
      throw new ShoalError('INVALID_ARGUMENT', `'${text}' is not a shoal://<repository id> URL`);
    }
  }
  if (text.startsWith('/')) {
    try {
      const ma = multiaddr(text);
      const peer = ma.getComponents().findLast((c) => c.name === 'p2p')?.value;
      if (!peer) throw new Error('no /p2p/ part');
      peerIdFromString(peer); // checked now, not when it is dialled (in libp2p's words then)
      return { kind: 'addr', addr: text, peer };
    } catch (err) {
      throw new ShoalError(
        'INVALID_ARGUMENT',
        `'${text}' is not a multiaddr ending in /p2p/<peer-id> (${(err as Error).message})`,
      );
    }
  }
  try {
    peerIdFromString(text);
    return { kind: 'peer', peer: text };
  } catch {
    throw new ShoalError('INVALID_ARGUMENT', `'${text}' is not a multiaddr, a peer id or a shoal:// URL`);
  }
}

/**
 * Check a peer address (`--peer`, `remote.<name>.peers`): a multiaddr, whose /p2p/ part, if it
 * has one, is a peer id. Returns it unchanged.
 */
export function checkPeerAddress(text: string): string {
  try {
    const peer = multiaddr(text)
      .getComponents()
      .findLast((c) => c.name === 'p2p')?.value;
    if (peer !== undefined) peerIdFromString(peer);
    return text;
  } catch (err) {
    throw new ShoalError(
      'INVALID_ARGUMENT',
      `'${text}' is not a peer address (a multiaddr like /ip4/<ip>/tcp/<port>/p2p/<peer-id>): ${(err as Error).message}`,
    );
  }
}

export interface Connected {
  session: PeerSession;
  identity: Uint8Array;
  refs: Uint8Array[];
}

/** Wait until mDNS has found `want` (a peer id) or any peer, for at most `ms`. */
async function discoverOnLan(node: PeerNode, ms: number, want?: string): Promise<PeerId[]> {
  const found = new Map<string, PeerId>();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      node.removeEventListener('peer:discovery', onPeer);
      resolve([...found.values()]);
    };
    const onPeer = (evt: CustomEvent<{ id: PeerId }>): void => {
      found.set(evt.detail.id.toString(), evt.detail.id);
      if (want && evt.detail.id.toString() === want) done();
    };
    const timer = setTimeout(done, ms);
    node.addEventListener('peer:discovery', onPeer);
  });
}

/**
 * Open a session with every peer the source and the extra addresses name, that serves the
 * repository (`repo`, or for a single-peer source whatever it serves). Peers that cannot be
 * reached or do not have it are skipped; none at all is an error.
 */
export async function connect(
  peer: Peer,
  source: Source,
  extra: string[],
  opts: { repo?: ObjectId; lanWaitMs?: number; signal?: AbortSignal; stallMs?: number } = {},
): Promise<Connected[]> {
  const targets: (string | PeerId)[] = extra.map(checkPeerAddress);
  let repo = opts.repo ?? (source.kind === 'repo' ? source.repo : undefined);
  if (source.kind === 'addr') {
    // The address given first, then the others this peer was last seen at: a remote saved as a
    // multiaddr still reaches a peer that has moved to another port since.
    const id = source.peer;
    const known = id === undefined ? undefined : readKnownPeers()[id];
    const others = (known?.addrs ?? [])
      .map((a) => (a.includes('/p2p/') ? a : `${a}/p2p/${id}`))
      .filter((a) => a !== source.addr);
    targets.unshift(source.addr, ...others);
  }
  if (source.kind === 'peer') {
    const known = readKnownPeers()[source.peer];
    if (known)
      targets.unshift(
        ...known.addrs.map((a) => `${a}/p2p/${source.peer}`.replace(/\/p2p\/[^/]+\/p2p\//, '/p2p/')),
      );
    else {
      const lan = await discoverOnLan(peer.node, opts.lanWaitMs ?? 3000, source.peer);
      const hit = lan.find((p) => p.toString() === source.peer);
      if (!hit)
        throw new ShoalError(
          'NOT_FOUND',
          `peer ${source.peer} was not found on the LAN or among known peers`,
        );
      targets.unshift(hit);
    }
  }
  if (source.kind === 'repo') {
    const hex = toHex(source.repo);
    for (const [id, kp] of Object.entries(readKnownPeers())) {
      if (kp.repos.includes(hex))
        for (const a of kp.addrs) targets.push(a.includes('/p2p/') ? a : `${a}/p2p/${id}`);
    }
    if (peer.node.getMultiaddrs().length > 0 && opts.lanWaitMs !== 0) {
      targets.push(...(await discoverOnLan(peer.node, opts.lanWaitMs ?? 1500)));
    }
  }
  const self = peer.node.peerId.toString();
  const out: Connected[] = [];
  const sessionWith = (peerId: string): Connected | undefined => out.find((c) => c.session.peer === peerId);
  // Per peer id, why each attempt failed, with its address's place in the order tried.
  const errors = new Map<string, { at: number; why: string; denied: boolean }[]>();
  // Per group (a peer id), the addresses it did not answer at, with their place in the order
  // tried: failed, or still silent when a later one answered. Remembered as misses once the
  // group is done and the peer answered at another (reached: where, and at which place).
  const missed = new Map<string, { at: number; addr: string }[]>();
  const reached = new Map<string, { peer: string; addrs: string[]; repo: string; at: number }>();
  /** Once a group is done: the peer's addresses, and those it missed before the one it answered at. */
  const remember = (id: string): void => {
    const r = reached.get(id);
    if (!r) return;
    const before = r.peer === id ? (missed.get(id) ?? []).filter((m) => m.at < r.at) : [];
    rememberPeer(
      r.peer,
      r.addrs,
      r.repo,
      before.map((m) => m.addr),
    );
  };
  let dialledSelf = false;
  const idOf = (t: string | PeerId): string =>
    typeof t === 'string'
      ? (multiaddr(t)
          .getComponents()
          .findLast((c) => c.name === 'p2p')?.value ?? t)
      : t.toString();
  // One attempt; true when it gave a session (or the peer had one already). `bare`: the address
  // was dialled without its /p2p/ part, so PeerSession.open checks who answered instead of Noise.
  const reach = async (
    t: string | PeerId,
    id: string,
    signal: AbortSignal | undefined,
    bare = false,
    at = 0,
  ): Promise<boolean> => {
    let answered = false; // the peer named answered there (whatever it said then)
    try {
      const target = typeof t === 'string' ? multiaddr(t) : t;
      const session = await PeerSession.open(peer.node, target, signal, opts.stallMs, bare ? id : undefined);
      answered = true;
      // A peer reached at once by another target (an address without /p2p/ names no one until
      // the connection says who answered) keeps its first session, and this one goes, with its
      // connection unless the two share it.
      const keptFirst = async (): Promise<boolean> => {
        const first = sessionWith(session.peer);
        if (!first) return false;
        await session.close();
        if (session.connectionId !== first.session.connectionId) await session.closeConnection();
        return true;
      };
      if (await keptFirst()) return true;
      try {
        // (A losing attempt's hello ends when the winner's does: it waits for no stalled peer.)
        const hello = await abortable(session.hello(repo ?? null), signal);
        // Another attempt at the same peer may have said hello meanwhile.
        if (await keptFirst()) return true;
        out.push({ session, identity: hello.identity, refs: hello.refs });
        const addrs = peer.node
          .getConnections(peerIdFromString(session.peer))
          .map((c) => c.remoteAddr.toString());
        const repoId = repo ?? encodeRepoIdentity(decodeRepoIdentity(hello.identity)).id;
        repo ??= repoId;
        reached.set(id, { peer: session.peer, addrs, repo: toHex(repoId), at });
        return true;
      } catch (err) {
        await session.close();
        // Its other addresses are still worth trying: this one may be another process of the
        // same user, serving another repository (a peer id is a user, not one process). Its
        // connection goes too, or the next dial of that peer id would be handed it again.
        await session.closeConnection();
        throw err;
      }
    } catch (err) {
      if (!answered && typeof t === 'string') missed.set(id, [...(missed.get(id) ?? []), { at, addr: t }]);
      // Another attempt at the same peer won: this one's failure is no news.
      if (signal?.aborted && !opts.signal?.aborted) return false;
      const failed = errors.get(id) ?? [];
      const refused = isShoalError(err, 'PERMISSION_DENIED');
      // The address names the peer already said in front of it.
      failed.push({ at, why: (err as Error).message.replaceAll(`/p2p/${id}`, ''), denied: refused });
      errors.set(id, failed);
      return refused; // another address of it would say the same
    }
  };
  // Distinct peers are dialled at once, and each peer's addresses in the order found until one
  // answers: a peer remembered at an address it has left (a laptop on another network) is still
  // reached at another.
  const groups = new Map<string, (string | PeerId)[]>();
  for (const t of targets) {
    const id = idOf(t);
    if (id === self) {
      dialledSelf = true;
      continue;
    }
    const addrs = groups.get(id);
    // An address known twice (named, and remembered) is tried, and named in an error, once.
    if (addrs) {
      if (!addrs.some((a) => String(a) === String(t))) addrs.push(t);
    } else groups.set(id, [t]);
  }
  if (groups.size === 0 && !dialledSelf && source.kind === 'repo') {
    throw new ShoalError(
      'NOT_FOUND',
      `no peer holding shoal://${toHex(source.repo)} is known or was found on the LAN; name one with --peer <multiaddr>`,
    );
  }
  // One address after another, each once the one before has failed: while the repository is
  // not known yet, the address the user named decides which one it is.
  const reachInOrder = async ([id, addrs]: [string, (string | PeerId)[]]): Promise<void> => {
    for (const [at, t] of addrs.entries()) {
      if (sessionWith(id) || (await reach(t, id, opts.signal, false, at))) break;
    }
    remember(id);
  };
  // The addresses overlapping: the next is tried NEXT_ADDRESS_AFTER_MS after the one before
  // started, or as soon as it failed, and the first session ends the others. An address that
  // swallows packets (a network the peer has left) would otherwise hold up the rest for the
  // whole dial timeout, 6 s. They are dialled bare, without /p2p/: libp2p queues the dials of
  // one peer id behind each other, which would make them one after another again.
  const reachOverlapping = async ([id, addrs]: [string, (string | PeerId)[]]): Promise<void> => {
    const dials = bareAddresses(addrs);
    if (dials.length <= 1 || connectedTo(peer.node, id)) return reachInOrder([id, addrs]);
    await firstToSucceed(
      [...dials.entries()],
      ([at, t], signal) => reach(t, id, signal, true, at),
      NEXT_ADDRESS_AFTER_MS,
      opts.signal,
    );
    remember(id);
  };
  // Until the repository is known, the source alone says which one; then every other peer is
  // dialled at once, so an unreachable one costs its timeout once, not once per peer.
  let rest = [...groups];
  while (repo === undefined && rest.length > 0) {
    await reachInOrder(rest[0]!);
    rest = rest.slice(1);
  }
  await Promise.all(rest.map(reachOverlapping));
  // Ctrl-C while dialling: said as such, not as peers that could not be reached.
  if (opts.signal?.aborted) {
    for (const c of out) await c.session.close();
    throw new ShoalError('ABORTED', 'interrupted');
  }
  if (out.length === 0) {
    const why = errors.size > 0 ? `: ${unreachedSummary(errors)}` : '';
    // A peer that holds the repository but refuses our key says more than "not found".
    if ([...errors.values()].some((failed) => failed.some((f) => f.denied)))
      throw new ShoalError('PERMISSION_DENIED', `no peer serving the repository lets this key read it${why}`);
    // A peer cannot connect to itself: another shoal process of this user (same key) is no source.
    if (dialledSelf && errors.size === 0)
      throw new ShoalError(
        'NOT_FOUND',
        `the source is this user's own peer (${self}), which cannot be dialled from itself; ` +
          'clone from another peer, or run this shoal with its own identity (SHOAL_CONFIG_DIR)',
      );
    throw new ShoalError('NOT_FOUND', `no peer serving the repository could be reached${why}`);
  }
  return out;
}

/** Attempts shown per peer when none gave a session: a peer remembered at many addresses it left. */
const SHOWN_ATTEMPTS = 2;

/**
 * Why no peer was reached, one part per peer: the failures of its first addresses (in the order
 * they were tried, not the order they failed: the address named first is the one to hear of),
 * and how many more failed.
 */
function unreachedSummary(errors: Map<string, { at: number; why: string; denied: boolean }[]>): string {
  return [...errors]
    .map(([id, failed]) => {
      // A refusal says most: first, wherever its address came.
      const shown = failed
        .toSorted((a, b) => Number(b.denied) - Number(a.denied) || a.at - b.at)
        .slice(0, SHOWN_ATTEMPTS);
      const more = failed.length - shown.length;
      const rest = more > 0 ? `; ${more} more address${more === 1 ? '' : 'es'} failed too` : '';
      return `${id}: ${shown.map((f) => f.why).join('; ')}${rest}`;
    })
    .join('; ');
}

/**
 * Whether the node has a connection to `id` already (an earlier connect of this process): a dial
 * by peer id is handed it at once, where a bare one would open another. False for a group keyed
 * by an address that names no peer.
 */
function connectedTo(node: PeerNode, id: string): boolean {
  try {
    return node.getConnections(peerIdFromString(id)).length > 0;
  } catch {
    return false;
  }
}

/**
 * A peer's addresses without their /p2p/ part, each once, in order. A peer id found on the LAN
 * stays one: libp2p dials the addresses it holds for it, sorted its way, and a dial keyed by
 * peer id waits only for other dials keyed by the same one.
 */
function bareAddresses(targets: (string | PeerId)[]): (string | PeerId)[] {
  const out = new Map<string, string | PeerId>();
  for (const t of targets) {
    const bare = typeof t === 'string' ? bareAddress(t).toString() : t;
    if (!out.has(String(bare))) out.set(String(bare), bare);
  }
  return [...out.values()];
}
