// Public surface of the swarm: peers, serving, fetching, cloning and pushing.
export { Daemon, type DaemonOptions, type DaemonStatus, isRepository, type LogLevel } from './daemon.ts';
export type { FetchProgress } from './fetch.ts';
export {
  type CloneSummary,
  cloneFromSwarm,
  type FetchSummary,
  fetchFromSwarm,
  remoteSource,
  type TransferOptions,
} from './fetch-remote.ts';
export { checkPeerAddress, connect, type Peer, parseSource, startPeer } from './peer.ts';
export { askRepos, findPeers, type ListedRepo, type PeerListing, type PeerSource } from './peers.ts';
export { type PushRefs, type PushSummary, pushHandler, pushToSwarm, shortRef } from './push.ts';
export { parseRate, RateLimiter } from './rate-limit.ts';
export {
  accessKey,
  ensureRepoIdentity,
  loadRepoIdentity,
  mayRead,
  mayWrite,
  ownSignedRefs,
  type RepoState,
} from './repo-state.ts';
export type { ServerEvent } from './server.ts';
export type { KeptTag, SkippedFork } from './sync-refs.ts';
