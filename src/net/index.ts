// The public surface of src/net: the libp2p node factory, peer identity helpers, versioned
// protocol ids and the message framing that every shoal wire protocol uses.

export { releaseCopy } from './byte-queue.ts';
export {
  DEFAULT_FRAME_LIMITS,
  DEFAULT_READ_HIGH_WATER_MARK,
  type DecodedHeader,
  decodeFrameHeader,
  encodeFrameHeader,
  type Frame,
  type FrameHeader,
  type FrameLimits,
  FrameReader,
  type FrameReaderOptions,
  FrameWriter,
  type FrameWriterOptions,
  LENGTH_PREFIX_BYTES,
  MAX_HEADER_DEPTH,
  MAX_HEADER_LIMIT,
  MAX_PAYLOAD_LIMIT,
  PAYLOAD_KEY,
} from './framing.ts';
export {
  PUBLIC_KEY_LENGTH,
  peerIdFromPublicKeyBytes,
  peerIdFromSeed,
  privateKeyFromSeed,
  publicKeyBytesOfPeer,
  SEED_LENGTH,
} from './identity.ts';
export {
  bareAddress,
  checkListenAddress,
  createPeerNode,
  DEFAULT_MAX_STREAM_WINDOW,
  DEFAULT_MAX_STREAMS_PER_CONNECTION,
  limitRequestWindow,
  OpenStreamError,
  openStream,
  type PeerNode,
  type PeerNodeOptions,
  type PeerNodeServices,
  REQUEST_STREAM_BUFFER,
  REQUEST_STREAM_LIMITS,
  STREAM_LIMITS,
} from './node.ts';
export { type ProtocolIdParts, parseProtocolId, protocolId } from './protocol-id.ts';
export { SendBuffers } from './send-buffers.ts';
export * from './sync-protocol.ts';
