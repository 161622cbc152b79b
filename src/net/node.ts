// The libp2p node factory: TCP + Noise + Yamux (+ identify, + mDNS when asked), keyed by the
// user's identity seed. Yamux windows and stream buffers are sized for bulk transfers; every
// per-stream buffer stays bounded (see docs/protocol.md, "Transport stack").

import { yamux } from '@chainsafe/libp2p-yamux';
import { type Identify, identify } from '@libp2p/identify';
import type { Connection, Libp2p, Stream } from '@libp2p/interface';
import { mdns } from '@libp2p/mdns';
import { tcp } from '@libp2p/tcp';
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr';
import { createLibp2p, type Libp2pOptions } from 'libp2p';
import { ShoalError } from '../core/errors.ts';
import { privateKeyFromSeed } from './identity.ts';
import { shoalNoise } from './noise-crypto.ts';

/** Services every shoal node runs. */
export interface PeerNodeServices extends Record<string, unknown> {
  identify: Identify;
}

export type PeerNode = Libp2p<PeerNodeServices>;

export interface PeerNodeOptions {
  /** The 32-byte Ed25519 identity seed; it is also the libp2p peer id. */
  seed: Uint8Array;
  /** Multiaddrs to listen on; default `['/ip4/127.0.0.1/tcp/0']` (loopback, ephemeral port). */
  listen?: string[];
  /** Discover peers on the LAN with mDNS (multicast); default false. */
  mdns?: boolean;
  /** mDNS service tag, so shoal peers only find each other; default `_shoal._udp.local`. */
  mdnsServiceTag?: string;
  /** Largest yamux receive window one stream may grow to, in bytes; default 16 MiB. */
  maxStreamWindow?: number;
  /** Maximum concurrent yamux streams per connection and direction; default 1024. */
  maxStreamsPerConnection?: number;
  /** Maximum open connections; default 300. */
  maxConnections?: number;
  /** Agent version announced through identify; default `shoal`. */
  agentVersion?: string;
}

/** yamux's spec-fixed initial window: both ends assume it, so it must not be raised. */
const YAMUX_INITIAL_WINDOW = 256 * 1024;
export const DEFAULT_MAX_STREAM_WINDOW = 16 * 1024 * 1024;
export const DEFAULT_MAX_STREAMS_PER_CONNECTION = 1024;

/**
 * Per-protocol stream limits (libp2p's defaults are 32 inbound / 64 outbound per protocol and
 * connection). Pass them to `node.handle(protocol, handler, STREAM_LIMITS)`, and to
 * `dialProtocol(peer, protocol, STREAM_LIMITS)` for a protocol this node does not handle:
 * libp2p takes the outbound limit from the local handler's registration, else from the dial.
 */
export const STREAM_LIMITS = { maxInboundStreams: 256, maxOutboundStreams: 256 } as const;

/**
 * Limits for a protocol whose inbound streams only carry requests to this node, as `/shoal/sync`
 * does for a server: a client needs one or two such streams per connection, and each one a
 * remote opens is memory this node may have to hold (see limitRequestWindow).
 */
export const REQUEST_STREAM_LIMITS = { maxInboundStreams: 32, maxOutboundStreams: 256 } as const;

/** What a request stream may hold of data its handler has not read yet, besides one message. */
export const REQUEST_STREAM_BUFFER = YAMUX_INITIAL_WINDOW;

/**
 * Hold an inbound stream that only carries requests to yamux's initial 256 KiB receive window.
 * yamux grows a stream's window (up to maxStreamWindow, 16 MiB) while data arrives quickly, and
 * a handler busy writing an answer to a peer that does not read it stops reading requests: the
 * peer could then park the whole grown window in this node's memory, on every stream it opens.
 * Requests are small, so the initial window is plenty. Returns false when the stream is not a
 * yamux stream of the shape this knows (nothing is changed then).
 */
export function limitRequestWindow(stream: Stream): boolean {
  const s = stream as unknown as { maxStreamWindowSize?: unknown };
  if (typeof s.maxStreamWindowSize !== 'number') return false;
  s.maxStreamWindowSize = YAMUX_INITIAL_WINDOW;
  return true;
}

/** The multiaddr protocol code of /p2p/. */
const P2P_CODE = 421;

/**
 * An address without its /p2p/ part. Dialled so, it names no one: libp2p does not queue the dial
 * behind other dials of the same peer id, and the caller checks who answered.
 */
export function bareAddress(addr: Multiaddr | string): Multiaddr {
  return (typeof addr === 'string' ? multiaddr(addr) : addr).decapsulateCode(P2P_CODE);
}

/** Opening a stream to a peer failed: libp2p's words, or the wrong peer answering. */
export class OpenStreamError extends Error {
  /** The dial gave up waiting for an answer (libp2p's per-address timeout, or the caller's). */
  readonly timedOut: boolean;
  constructor(message: string, timedOut: boolean) {
    super(message);
    this.timedOut = timedOut;
  }
}

/**
 * Dial `target` and open a `protocol` stream on the connection. With `expect`, the target names
 * no peer (an address without /p2p/) and the peer that answers must be that one: another is
 * refused before any stream is opened, and its connection left alone (a dial of the same address
 * for that peer may share it; stopping the node closes it). A connection dialled for `expect`
 * that gives no stream is closed. Failures are OpenStreamError.
 */
export async function openStream(
  node: PeerNode,
  target: Parameters<PeerNode['dial']>[0],
  protocol: string,
  opts: { signal?: AbortSignal; expect?: string } = {},
): Promise<{ connection: Connection; stream: Stream }> {
  let connection: Connection | undefined;
  try {
    connection = await node.dial(target, { signal: opts.signal });
    if (opts.expect !== undefined && connection.remotePeer.toString() !== opts.expect)
      throw new OpenStreamError(`peer ${connection.remotePeer} answered there`, false);
    return { connection, stream: await connection.newStream(protocol, { signal: opts.signal }) };
  } catch (err) {
    if (err instanceof OpenStreamError) throw err;
    if (opts.expect !== undefined) await connection?.close().catch(() => {});
    // libp2p says it gave up on an address in the words of AbortSignal.timeout.
    const message = (err as Error).message;
    throw new OpenStreamError(
      message,
      (err as Error).name === 'TimeoutError' || /aborted due to timeout/.test(message),
    );
  }
}

/** Throws INVALID_ARGUMENT unless `addr` is a multiaddr this node could listen on. */
export function checkListenAddress(addr: string): void {
  let names: string[];
  try {
    names = multiaddr(addr)
      .getComponents()
      .map((c) => c.name);
  } catch (err) {
    throw new ShoalError(
      'INVALID_ARGUMENT',
      `'${addr}' is not an address to listen on (a multiaddr like /ip4/0.0.0.0/tcp/4001): ${(err as Error).message}`,
    );
  }
  // The node has one transport, TCP: anything else (udp, ws, an address without a port) would
  // fail only when the node starts, in libp2p's words.
  if (names.length !== 2 || (names[0] !== 'ip4' && names[0] !== 'ip6') || names[1] !== 'tcp') {
    throw new ShoalError(
      'INVALID_ARGUMENT',
      `'${addr}' is not an address to listen on: shoal listens on TCP, at /ip4/<address>/tcp/<port> or /ip6/<address>/tcp/<port>`,
    );
  }
}

/** Creates and starts a libp2p node for the identity `seed`. Stop it with `node.stop()`. */

export async function createPeerNode(options: PeerNodeOptions): Promise<PeerNode> {
  const privateKey = await privateKeyFromSeed(options.seed);
  const maxStreamWindow = options.maxStreamWindow ?? DEFAULT_MAX_STREAM_WINDOW;
  if (
    !Number.isSafeInteger(maxStreamWindow) ||
    maxStreamWindow < YAMUX_INITIAL_WINDOW ||
    maxStreamWindow > 2 ** 32 - 1
  ) {
    throw new ShoalError('INVALID_ARGUMENT', `maxStreamWindow must be between 256 KiB and 4 GiB`);
  }
  const maxStreams = options.maxStreamsPerConnection ?? DEFAULT_MAX_STREAMS_PER_CONNECTION;
  for (const addr of options.listen ?? []) checkListenAddress(addr);
  const peerDiscovery: NonNullable<Libp2pOptions['peerDiscovery']> = [];
  if (options.mdns === true) {
    peerDiscovery.push(mdns({ serviceTag: options.mdnsServiceTag ?? '_shoal._udp.local' }));
  }
  try {
    return await createLibp2p<PeerNodeServices>({
      privateKey,
      addresses: { listen: options.listen ?? ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [shoalNoise()],
      streamMuxers: [
        yamux({
          maxInboundStreams: maxStreams,
          maxOutboundStreams: maxStreams,
          streamOptions: {
            initialStreamWindowSize: YAMUX_INITIAL_WINDOW,
            maxStreamWindowSize: maxStreamWindow,
            // A paused stream still receives whatever the remote's send window allows (at most
            // our receive window), which libp2p buffers; below the window it would reset the
            // stream instead of applying backpressure.
            maxReadBufferLength: maxStreamWindow + YAMUX_INITIAL_WINDOW,
            // A safety net: the framing writer waits for drain, so this is never reached.
            maxWriteBufferLength: 64 * 1024 * 1024,
          },
        }),
      ],
      peerDiscovery,
      connectionManager: { maxConnections: options.maxConnections ?? 300 },
      nodeInfo: { userAgent: options.agentVersion ?? 'shoal' },
      services: { identify: identify() },
    });
  } catch (err) {
    // libp2p's listen errors embed their causes' stack traces in the message: keep the words only.
    const message = (err as Error).message
      .split('\n')
      .filter((line) => line.trim() !== '' && !/^\s+at /.test(line))
      .join(' ');
    // The usual causes, in a user's words rather than libp2p's.
    const failed = /(\/\S+?): Error: listen (EADDRINUSE|EADDRNOTAVAIL|EACCES)/.exec(message);
    if (failed) {
      const why = {
        EADDRINUSE: 'the address is already in use (another program, or another shoal, listens there)',
        EADDRNOTAVAIL: 'that IP address is not one of this machine',
        EACCES: 'permission denied (ports below 1024 need privileges)',
      }[failed[2] as 'EADDRINUSE' | 'EADDRNOTAVAIL' | 'EACCES'];
      throw new ShoalError('PEER_ERROR', `cannot listen on ${failed[1]}: ${why}`, { cause: String(err) });
    }
    throw new ShoalError('PEER_ERROR', `could not start the network node: ${message}`, {
      cause: String(err),
    });
  }
}
