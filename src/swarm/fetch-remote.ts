// `fetch` and `clone` from the swarm: connect to the peers a source names, verify their
// claims, fetch the canonical (and fork) commits from all of them at once, then move the
// remote-tracking refs. Both resume after an interruption without fetching stored data again.

import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  decodeRepoIdentity,
  encodeRepoIdentity,
  idEquals,
  type KeyPair,
  type ObjectId,
  ShoalError,
  toHex,
} from '../core/index.ts';
import { REPO_DIR, Repository } from '../store/index.ts';
import { moveWorktree } from '../vcs/index.ts';
import { type FetchProgress, fetchCommits } from './fetch.ts';
import { connect, type Peer, parseSource, startPeer } from './peer.ts';
import { adoptRepoIdentity, loadRepoIdentity, type RepoState } from './repo-state.ts';
import { checkPeers, fetchTargets, updateTrackingRefs } from './sync-refs.ts';

export interface TransferOptions {
  user: KeyPair;
  peers?: string[]; // extra multiaddrs (--peer)
  maxDownload?: number;
  maxUpload?: number;
  listen?: string[];
  onProgress?: (p: FetchProgress) => void;
  signal?: AbortSignal;
}

export interface FetchSummary {
  repo: string;
  peers: string[];
  banned: { peer: string; why: string }[];
  bytes: number;
  duplicateBytes: number;
  perPeer: Record<string, number>;
  chunks: number;
  metadataObjects: number;
  updated: string[];
  canonical: Record<string, string>;
  seconds: number;
}

async function runFetch(
  peer: Peer,
  repo: Repository,
  state: RepoState,
  remote: string,
  source: string,
  opts: TransferOptions,
): Promise<FetchSummary> {
  const started = performance.now();
  const connected = await connect(peer, parseSource(source), opts.peers ?? [], {
    repo: state.id,
    signal: opts.signal,
  });
  const view = checkPeers(repo, state, opts.user, connected);
  if (view.accepted.length === 0) {
    throw new ShoalError(
      'PEER_ERROR',
      `no peer passed verification: ${view.banned.map((b) => b.why).join('; ')}`,
    );
  }
  const targets = fetchTargets(view, true);
  const result = await fetchCommits({
    repo,
    peers: view.accepted.map((c) => c.session),
    targets,
    download: peer.download,
    onProgress: opts.onProgress,
    signal: opts.signal,
  });
  const fetched = new Set(targets.map(toHex));
  const updated = updateTrackingRefs(repo, remote, view, fetched);
  for (const c of view.accepted) await c.session.close();
  return {
    repo: toHex(state.id),
    peers: view.accepted.map((c) => c.session.peer),
    banned: [...view.banned, ...result.banned],
    bytes: result.bytes,
    duplicateBytes: result.duplicateBytes,
    perPeer: result.perPeer,
    chunks: result.chunks,
    metadataObjects: result.metadataObjects,
    updated,
    canonical: Object.fromEntries([...(view.canonical?.refs ?? [])].map(([k, v]) => [k, toHex(v)])),
    seconds: (performance.now() - started) / 1000,
  };
}

/** Where a remote name or source points; a source is used as given. */
export function remoteSource(
  repo: Repository,
  nameOrSource: string | undefined,
): { remote: string; source: string; peers: string[] } {
  const name = nameOrSource ?? 'origin';
  const url = repo.config(`remote.${name}.url`);
  if (url) {
    const peers = (repo.config(`remote.${name}.peers`) ?? '').split(/\s+/).filter(Boolean);
    return { remote: name, source: url, peers };
  }
  if (!nameOrSource)
    throw new ShoalError('NOT_FOUND', "no remote 'origin'; name a source or add one with 'shoal remote add'");
  if (
    /^[A-Za-z0-9_.-]+$/.test(nameOrSource) &&
    !nameOrSource.startsWith('12D3') &&
    !nameOrSource.startsWith('Qm')
  ) {
    throw new ShoalError('NOT_FOUND', `no remote named '${nameOrSource}'`);
  }
  return { remote: 'origin', source: nameOrSource, peers: [] };
}

export async function fetchFromSwarm(
  repo: Repository,
  nameOrSource: string | undefined,
  opts: TransferOptions,
): Promise<FetchSummary> {
  const state = loadRepoIdentity(repo);
  if (!state)
    throw new ShoalError('NOT_FOUND', 'this repository has no identity yet (it was never shared or cloned)');
  const { remote, source, peers } = remoteSource(repo, nameOrSource);
  const peer = await startPeer({
    user: opts.user,
    listen: opts.listen,
    maxDownload: opts.maxDownload,
    maxUpload: opts.maxUpload,
  });
  try {
    peer.server.add({ repo, state });
    return await runFetch(peer, repo, state, remote, source, {
      ...opts,
      peers: [...peers, ...(opts.peers ?? [])],
    });
  } finally {
    await peer.stop();
  }
}

export interface CloneSummary extends FetchSummary {
  root: string;
  branch: string | null;
  commit: string | null;
}

export async function cloneFromSwarm(
  source: string,
  dir: string | undefined,
  opts: TransferOptions & { cwd: string },
): Promise<CloneSummary> {
  const parsed = parseSource(source);
  const peer = await startPeer({
    user: opts.user,
    listen: opts.listen,
    maxDownload: opts.maxDownload,
    maxUpload: opts.maxUpload,
  });
  let repo: Repository | undefined;
  try {
    const first = await connect(peer, parsed, opts.peers ?? [], { signal: opts.signal });
    const identityBytes = first[0]!.identity;
    const identity = decodeRepoIdentity(identityBytes);
    const repoId: ObjectId = encodeRepoIdentity(identity).id;
    if (parsed.kind === 'repo' && !idEquals(parsed.repo, repoId)) {
      throw new ShoalError('PEER_ERROR', 'the peer served a different repository than the one asked for');
    }
    for (const c of first) await c.session.close();
    const root = resolve(opts.cwd, dir ?? identity.name);
    repo = openOrCreate(root, toHex(repoId));
    const state = await adoptRepoIdentity(repo, identityBytes);
    repo.setLocalConfig({
      ...repo.localConfig(),
      'remote.origin.url': source,
      ...(opts.peers?.length ? { 'remote.origin.peers': opts.peers.join(' ') } : {}),
    });
    peer.server.add({ repo, state });
    const summary = await runFetch(peer, repo, state, 'origin', source, opts);
    const r = repo;
    // Local branches start where the canonical ones are; HEAD goes to main, else the first.
    const heads = Object.entries(summary.canonical).filter(([k]) => k.startsWith('refs/heads/'));
    const result = await r.withWriteLock(async () => {
      const fresh = !r.refs.headCommit();
      for (const [name, hex] of heads)
        if (!r.refs.get(name)) r.refs.update(name, Buffer.from(hex, 'hex'), `clone: from ${source}`);
      const branch = heads.find(([k]) => k === 'refs/heads/main')?.[0] ?? heads[0]?.[0];
      if (!branch) return { branch: null, commit: null };
      const name = branch.slice('refs/heads/'.length);
      const commit = r.refs.get(branch)!;
      if (fresh) {
        r.refs.setHead({ kind: 'branch', name });
        await moveWorktree(r, undefined, commit, { onProgress: undefined });
      }
      return { branch: name, commit: toHex(commit) };
    });
    return { ...summary, root, ...result };
  } finally {
    repo?.close();
    await peer.stop();
  }
}

function openOrCreate(root: string, repoId: string): Repository {
  if (existsSync(join(root, REPO_DIR, 'index.db'))) {
    const repo = Repository.open(root);
    const current = repo.meta('repo-id');
    if (current !== repoId || repo.refs.headCommit()) {
      repo.close();
      throw new ShoalError(
        'ALREADY_EXISTS',
        `'${root}' already holds a repository; clone into a new directory`,
      );
    }
    return repo; // an interrupted clone of the same repository: resume it
  }
  if (existsSync(root) && readdirSync(root).length > 0) {
    throw new ShoalError('ALREADY_EXISTS', `destination '${root}' exists and is not empty`);
  }
  mkdirSync(root, { recursive: true });
  return Repository.init(root);
}
