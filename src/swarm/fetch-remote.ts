// `fetch` and `clone` from the swarm: connect to the peers a source names, verify their
// claims, fetch the canonical (and fork) commits from all of them at once, then move the
// remote-tracking refs. Both resume after an interruption without fetching stored data again.

import { existsSync, lstatSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  decodeRepoIdentity,
  encodeRepoIdentity,
  fromHex,
  idEquals,
  isShoalError,
  type KeyPair,
  type ObjectId,
  ShoalError,
  toHex,
} from '../core/index.ts';
import { makeUserDirs, REPO_DIR, Repository, unfinishedInit } from '../store/index.ts';
import { CheckoutAhead, checkFreshCheckout, commitTree, flatten, writeFreshCheckout } from '../vcs/index.ts';
import { type ChunkFollower, type FetchProgress, type FetchResult, fetchCommits } from './fetch.ts';
import { type Connected, connect, type Peer, parseSource, startPeer } from './peer.ts';
import { adoptRepoIdentity, loadRepoIdentity, type RepoState } from './repo-state.ts';
import { describeDropped } from './scheduler.ts';
import {
  checkPeers,
  fetchTargets,
  type KeptTag,
  pruneTrackingRefs,
  type SkippedFork,
  skippedForks,
  updateTrackingRefs,
} from './sync-refs.ts';

export interface TransferOptions {
  user: KeyPair;
  peers?: string[]; // extra multiaddrs (--peer)
  maxDownload?: number;
  maxUpload?: number;
  listen?: string[];
  /** Look for peers on the LAN (mDNS) for `shoal://` and peer-id sources. */
  mdns?: boolean;
  /** Drop a peer that owes data and sends none for this long (default 30 s). */
  stallMs?: number;
  /** Bytes the forks' commits may bring in all (default DEFAULT_FORK_LIMIT); 0 fetches none. */
  forkLimit?: number;
  /** Drop the remote-tracking branches of branches that are gone (see pruneTrackingRefs). */
  prune?: boolean;
  onProgress?: (p: FetchProgress) => void;
  signal?: AbortSignal;
}

export interface FetchSummary {
  repo: string;
  peers: string[];
  banned: { peer: string; why: string }[];
  /** Peers dropped during the fetch without a ban (gone, stalled), and why. */
  lost: { peer: string; why: string }[];
  /** Forks' commits refused (a signature that does not verify): those forks were left out. */
  refused: { commit: string; why: string }[];
  bytes: number;
  duplicateBytes: number;
  perPeer: Record<string, number>;
  chunks: number;
  metadataObjects: number;
  updated: string[];
  /** Remote-tracking branches dropped (with `prune`) for branches that are gone. */
  pruned: string[];
  /** Tags held here at another commit than the remote's: kept as they are. */
  tagsKept: KeptTag[];
  canonical: Record<string, string>;
  /** Forks left unfetched for the fork limit. */
  skippedForks: SkippedFork[];
  seconds: number;
}

/**
 * What the forks of one fetch (other signers' branches: each connected peer's own, the listed
 * writers') may bring in all: 1 GB. Any peer of the repository can point its
 * own branch at any amount of data, and another user's branch with a large file should not come
 * down unasked; a fork over the limit is listed instead (`fetch.fork-limit` changes it).
 */
export const DEFAULT_FORK_LIMIT = 1_000_000_000;

/**
 * Fetch from the peers `source` and the extra addresses name, or from `early`: sessions already
 * open on this repository, and when they were opened (a clone connects before it knows which
 * repository it clones, and uses those sessions).
 */
async function runFetch(
  peer: Peer,
  repo: Repository,
  state: RepoState,
  remote: string,
  source: string,
  opts: TransferOptions,
  early?: { connected: Connected[]; started: number },
  follow?: (canonical: ReadonlyMap<string, ObjectId>) => ChunkFollower | undefined,
): Promise<FetchSummary> {
  const started = early?.started ?? performance.now();
  const connected =
    early?.connected ??
    (await connect(peer, parseSource(source), opts.peers ?? [], {
      repo: state.id,
      // without LAN discovery there is nothing to wait for (connect would wait 1.5 s for it)
      lanWaitMs: opts.mdns ? undefined : 0,
      signal: opts.signal,
      stallMs: opts.stallMs,
    }));
  const view = checkPeers(repo, state, opts.user, connected);
  if (view.accepted.length === 0) {
    throw new ShoalError(
      'PEER_ERROR',
      `no peer passed verification: ${view.banned.map((b) => b.why).join('; ')}`,
    );
  }
  // Peers lost between rounds (their connection closed while no request of ours was out, or
  // their stream could not be renewed): reported as those lost during a round are.
  const between: FetchSummary['lost'] = [];
  const reported = (peer: string): boolean =>
    [...between, ...result.lost, ...result.banned].some((l) => l.peer === peer);
  let result: FetchResult & { refused: FetchSummary['refused'] };
  const fetchSome = async (
    targets: ObjectId[],
    maxBytes?: number,
    spent?: { bytes: number },
    follower?: ChunkFollower,
  ) => {
    // A peer still sending what an earlier round no longer needs (a slow peer's last window,
    // chunks another peer sent first) would answer this round only after all of it: its stream
    // is replaced by a new one, which also tells it to stop sending.
    await Promise.all(
      view.accepted.map(async (c) => {
        if (c.session.failed !== null || !c.session.busy) return;
        try {
          c.session = await c.session.renew(state.id, opts.signal);
        } catch (err) {
          if (isShoalError(err, 'ABORTED')) throw err;
        } // otherwise it stays as it was: slow, not gone
      }),
    );
    if (result) {
      for (const c of view.accepted) {
        const failed = c.session.failed;
        if (failed !== null && !reported(c.session.peer))
          between.push({ peer: c.session.peer, why: failed.message });
      }
    }
    return fetchCommits({
      maxBytes,
      spent,
      follower,
      repo,
      // peers banned or gone in an earlier round are not asked again
      peers: view.accepted.map((c) => c.session).filter((s) => s.failed === null),
      targets,
      download: peer.download,
      stallMs: opts.stallMs,
      onProgress: opts.onProgress,
      signal: opts.signal,
    });
  };
  // The canonical refs must be fetched whole; then each fork (another signer's refs) as far as
  // peers can provide it and its new data fits what is left of the fork limit: a fork naming a
  // commit that no peer has costs only its own ref, one over the limit its metadata at most.
  const canonical = fetchTargets(view, false);
  const follower = follow?.(view.canonical?.refs ?? new Map());
  result = { ...(await fetchSome(canonical, undefined, undefined, follower)), refused: [] };
  const fetched = new Set(canonical.map(toHex));
  const forks = fetchTargets(view, true).filter((id) => !fetched.has(toHex(id)));
  const forkLimit = opts.forkLimit ?? DEFAULT_FORK_LIMIT;
  // What the forks' fetches stored, counted as it is stored: an attempt that fails (a fork over
  // the limit, a commit no peer has) keeps what it stored, and that counts too.
  const spent = { bytes: 0 };
  const left = new Map<string, Omit<SkippedFork, 'ref'>>(); // fork commit -> why it was left out
  const addForks = async (targets: ObjectId[]): Promise<boolean> => {
    // Tried even with nothing left: a fork whose commits are all stored already costs nothing.
    const room = Math.max(0, forkLimit - spent.bytes);
    try {
      const more = await fetchSome(targets, room, spent);
      result.bytes += more.bytes;
      result.duplicateBytes += more.duplicateBytes;
      result.chunks += more.chunks;
      result.metadataObjects += more.metadataObjects;
      result.banned.push(...more.banned);
      result.lost.push(...more.lost);
      for (const [p, n] of Object.entries(more.perPeer)) result.perPeer[p] = (result.perPeer[p] ?? 0) + n;
      for (const id of targets) fetched.add(toHex(id));
      return true;
    } catch (err) {
      if (isShoalError(err, 'TOO_LARGE')) {
        // What it stored before it stopped (commits, trees, index nodes) counts as fetched.
        result.metadataObjects += Number(err.detail?.metadataObjects ?? 0);
        const size = forkLimit === 0 ? null : { bytes: Number(err.detail?.bytes ?? 0), left: room };
        if (targets.length === 1) left.set(toHex(targets[0]!), { reason: 'fork-limit', size });
        return false;
      }
      // A fork is another signer's: a commit of it refused, or no peer able to deliver it (each
      // gone or banned while sending it), leaves it unfetched, and never fails what the
      // canonical refs brought. The peers given up on, and why, are reported all the same.
      if (isShoalError(err, 'BAD_SIGNATURE')) {
        result.refused.push({ commit: String(err.detail?.commit ?? ''), why: err.message });
        return false;
      }
      if (!isShoalError(err, 'PEER_ERROR') && !isShoalError(err, 'MISSING_OBJECT')) throw err;
      const lost = (err.detail?.lost ?? []) as FetchSummary['lost'];
      const banned = (err.detail?.banned ?? []) as FetchSummary['banned'];
      result.lost.push(...lost);
      result.banned.push(...banned);
      // why, in the words of the peers given up on, where there were any
      const dropped = [...lost, ...banned, ...between];
      const why = describeDropped(dropped) || err.message;
      // Listed when a peer was given up on: a fork that no peer reached ever held (a writer's
      // refs naming a branch it never pushed) is left out without a word, every fetch.
      if (targets.length === 1 && (err.code === 'PEER_ERROR' || dropped.length > 0))
        left.set(toHex(targets[0]!), { reason: 'unavailable', size: null, why });
      return false;
    }
  };
  if (forks.length > 0 && !(await addForks(forks)) && forks.length > 1) {
    for (const id of forks) await addForks([id]);
  }
  const { updated, tagsKept } = updateTrackingRefs(repo, remote, view, fetched);
  const pruned = opts.prune ? pruneTrackingRefs(repo, remote, view) : [];
  for (const c of view.accepted) await c.session.close();
  return {
    repo: toHex(state.id),
    peers: view.accepted.map((c) => c.session.peer),
    banned: [...view.banned, ...result.banned],
    lost: [...result.lost, ...between],
    refused: result.refused,
    bytes: result.bytes,
    duplicateBytes: result.duplicateBytes,
    perPeer: result.perPeer,
    chunks: result.chunks,
    metadataObjects: result.metadataObjects,
    updated,
    pruned,
    tagsKept,
    canonical: Object.fromEntries([...(view.canonical?.refs ?? [])].map(([k, v]) => [k, toHex(v)])),
    skippedForks: skippedForks(view, left),
    seconds: (performance.now() - started) / 1000,
  };
}

/** Where a remote name or source points; a source is used as given. */
export function remoteSource(
  repo: Repository,
  nameOrSource: string | undefined,
): { remote: string; source: string; peers: string[]; named: boolean } {
  const name = nameOrSource ?? 'origin';
  const url = repo.config(`remote.${name}.url`);
  if (url) {
    const peers = (repo.config(`remote.${name}.peers`) ?? '').split(/\s+/).filter(Boolean);
    return { remote: name, source: url, peers, named: true };
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
  return { remote: 'origin', source: nameOrSource, peers: [], named: false };
}

export async function fetchFromSwarm(
  repo: Repository,
  nameOrSource: string | undefined,
  opts: TransferOptions,
): Promise<FetchSummary> {
  // Which remote first: with none, that is what to fix (a new repository has no identity yet).
  const { remote, source, peers } = remoteSource(repo, nameOrSource);
  const hex = repo.meta('repo-id');
  if (!hex)
    throw new ShoalError('NOT_FOUND', 'this repository has no identity yet (it was never shared or cloned)');
  const peer = await startPeer({
    user: opts.user,
    listen: opts.listen,
    maxDownload: opts.maxDownload,
    maxUpload: opts.maxUpload,
    mdns: opts.mdns,
  });
  try {
    // An identity document an earlier gc dropped comes back from the peers: each sends it in
    // its hello, and the one whose id is ours is ours.
    const id = fromHex(hex);
    if (!repo.objects.has(id)) {
      const connected = await connect(peer, parseSource(source), [...peers, ...(opts.peers ?? [])], {
        repo: id,
        lanWaitMs: opts.mdns ? undefined : 0,
        signal: opts.signal,
        stallMs: opts.stallMs,
      });
      const found = connected.find((c) => {
        try {
          return idEquals(encodeRepoIdentity(decodeRepoIdentity(c.identity)).id, id);
        } catch {
          return false;
        }
      });
      for (const c of connected) await c.session.close();
      if (!found)
        throw new ShoalError('MISSING_OBJECT', `no peer sent the repository identity document ${hex}`);
      await adoptRepoIdentity(repo, found.identity);
    }
    const state = loadRepoIdentity(repo)!;
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
  /** Bytes of the checked-out files written while their chunks arrived (not read back from packs). */
  writtenWhileFetching: number;
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
    mdns: opts.mdns,
  });
  let repo: Repository | undefined;
  let ahead: CheckoutAhead | undefined;
  let writtenWhileFetching = 0;
  try {
    const started = performance.now();
    // Every session opened here is on one repository: a shoal:// URL's, else the one the source
    // peer serves (connect asks the other peers for that one). The fetch goes on with them.
    const first = await connect(peer, parsed, opts.peers ?? [], {
      signal: opts.signal,
      lanWaitMs: opts.mdns ? undefined : 0,
      stallMs: opts.stallMs,
    });
    // The repository is the one the URL names (any peer may lie about it: those are banned by
    // the fetch below), else the one the source peer serves.
    const served = first.map((c) => {
      try {
        const identity = decodeRepoIdentity(c.identity);
        return { bytes: c.identity, identity, id: encodeRepoIdentity(identity).id as ObjectId };
      } catch {
        return undefined;
      }
    });
    const chosen = parsed.kind === 'repo' ? served.find((s) => s && idEquals(s.id, parsed.repo)) : served[0];
    if (!chosen) {
      throw new ShoalError(
        'PEER_ERROR',
        parsed.kind === 'repo'
          ? 'no peer served the repository asked for (they served a different one)'
          : 'the peer served an invalid repository identity',
      );
    }
    const { bytes: identityBytes, identity, id: repoId } = chosen;
    const root = resolve(opts.cwd, dir ?? cloneDirName(identity.name));
    repo = openOrCreate(root, toHex(repoId));
    const state = await adoptRepoIdentity(repo, identityBytes);
    repo.changeLocalConfig((config) => {
      config['remote.origin.url'] = source;
      if (opts.peers?.length) config['remote.origin.peers'] = opts.peers.join(' ');
    });
    peer.server.add({ repo, state });
    const r = repo;
    // A clone writes its large files while their chunks come (CheckoutAhead); run again after an
    // interruption, what it holds already is not coming, and the checkout reads it from the packs.
    CheckoutAhead.removeLeftovers(r);
    const follow = (canonical: ReadonlyMap<string, ObjectId>): ChunkFollower | undefined => {
      const branch = branchToCheckOut(canonical.keys());
      if (branch === undefined || r.refs.headCommit()) return undefined;
      ahead = new CheckoutAhead(r, canonical.get(branch)!);
      return ahead;
    };
    const summary = await runFetch(
      peer,
      repo,
      state,
      'origin',
      source,
      opts,
      { connected: first, started },
      follow,
    );
    await ahead?.finish();
    // Local branches start where the canonical ones are; HEAD goes to main, else the first.
    const heads = Object.entries(summary.canonical).filter(([k]) => k.startsWith('refs/heads/'));
    const result = await r.withWriteLock(async () => {
      const fresh = !r.refs.headCommit();
      const branch = branchToCheckOut(Object.keys(summary.canonical));
      const commit = branch ? Buffer.from(summary.canonical[branch]!, 'hex') : undefined;
      // Before any ref or file is written: a file of the user's where the commit has another one
      // stops the clone here, with nothing changed (DIRTY_WORKTREE), so it can be run again.
      const bytesTotal = fresh && commit ? await checkFreshCheckout(r, commit) : 0;
      const name = branch?.slice('refs/heads/'.length);
      if (fresh && name !== undefined && commit) {
        r.refs.setHead({ kind: 'branch', name });
        // The index names the commit's files before any is written, so a clone stopped while it
        // writes them (a full disk, Ctrl-C, kill -9) shows them as missing from the working tree,
        // never as deletions a commit would record; `shoal restore .` then writes them. It does
        // so before the branches exist, too: stopped in between, HEAD has no commit yet and
        // running the clone again starts here again. (The other way round, a clone of many
        // files stopped while their list was written left the branch at the commit and the
        // index empty: every file staged as deleted, which a commit then recorded.)
        r.staging.replace(
          (function* () {
            for (const f of flatten(r.objects, commitTree(r.objects, commit))) yield { ...f, stamp: null };
          })(),
        );
      }
      for (const [ref, hex] of heads)
        if (!r.refs.get(ref)) r.refs.update(ref, Buffer.from(hex, 'hex'), `clone: from ${source}`);
      if (name === undefined || !commit) return { branch: null, commit: null };
      if (fresh) {
        try {
          await writeFreshCheckout(r, commit, { bytesTotal, ahead });
          writtenWhileFetching = ahead?.bytesTaken ?? 0;
        } catch (err) {
          if (!isShoalError(err)) throw err;
          throw new ShoalError(
            err.code,
            `${err.message}; the repository is cloned into '${root}', but not all of its files ` +
              `could be written: once the cause is fixed, run 'shoal restore .' there`,
            err.detail,
          );
        }
      }
      return { branch: name, commit: toHex(commit) };
    });
    return { ...summary, root, ...result, writtenWhileFetching };
  } finally {
    await ahead?.discard();
    repo?.close();
    await peer.stop();
  }
}

/** The branch a clone checks out: main, else the first of the canonical ones. */
function branchToCheckOut(refs: Iterable<string>): string | undefined {
  let first: string | undefined;
  for (const ref of refs) {
    if (ref === 'refs/heads/main') return ref;
    if (ref.startsWith('refs/heads/')) first ??= ref;
  }
  return first;
}

/**
 * The directory a clone makes when none is given: the repository's name. That name comes from the
 * peer, so it is taken only when it is one plain path component: '../x' or '/home/me/.ssh' would
 * put the clone wherever the peer likes.
 */
function cloneDirName(name: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
  const unsafe = /[/\\\x00-\x1f\x7f]/.test(name);
  if (unsafe || name === '' || name === '.' || name === '..' || Buffer.byteLength(name) > 255) {
    throw new ShoalError(
      'INVALID_ARGUMENT',
      `the repository's name ${JSON.stringify(name)} is not a directory name; ` +
        'name the directory: shoal clone <source> <dir>',
    );
  }
  return name;
}

/**
 * A destination holding nothing but the `.shoal` of an init killed before its index appeared
 * (no index.db, no pack data): the clone starts again there, and init clears what it left.
 */
function unfinishedInitAt(root: string): boolean {
  return readdirSync(root).join('/') === REPO_DIR && unfinishedInit(join(root, REPO_DIR));
}

/** A repository with no identity, ref, staged file or remote, alone in its directory. */
function unstarted(root: string, repo: Repository): boolean {
  return (
    readdirSync(root).join('/') === REPO_DIR &&
    repo.refs.list().length === 0 &&
    repo.staging.count() === 0 &&
    repo.config('remote.origin.url') === undefined
  );
}

function danglingSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink() && !existsSync(path);
  } catch {
    return false; // nothing there, or a file in its path (mkdir below says so)
  }
}

function openOrCreate(root: string, repoId: string): Repository {
  if (existsSync(join(root, REPO_DIR, 'index.db'))) {
    const repo = Repository.open(root);
    const current = repo.meta('repo-id');
    // A clone stopped after it made the repository, before it recorded which one (nothing in it
    // yet, and nothing beside it), is resumed as one that did.
    if (current === undefined && unstarted(root, repo)) return repo;
    if (current !== repoId || repo.refs.headCommit()) {
      repo.close();
      throw new ShoalError(
        'ALREADY_EXISTS',
        current === repoId
          ? `'${root}' is a clone of this repository already: 'shoal restore .' there writes the ` +
              `files an interrupted clone left out, and 'shoal pull' brings it up to date`
          : `'${root}' already holds a repository; clone into a new directory`,
      );
    }
    return repo; // an interrupted clone of the same repository: resume it
  }
  if (danglingSymlink(root)) {
    throw new ShoalError('ALREADY_EXISTS', `destination '${root}' is a symlink to nothing`);
  }
  if (existsSync(root) && !statSync(root).isDirectory()) {
    throw new ShoalError('ALREADY_EXISTS', `destination '${root}' exists and is not a directory`);
  }
  if (existsSync(root) && readdirSync(root).length > 0 && !unfinishedInitAt(root)) {
    throw new ShoalError('ALREADY_EXISTS', `destination '${root}' exists and is not empty`);
  }
  try {
    makeUserDirs(root);
  } catch (err) {
    // a file where one of its parent directories would be
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTDIR' && code !== 'EEXIST') throw err;
    throw new ShoalError('ALREADY_EXISTS', `cannot create '${root}': a file stands in its path`);
  }
  return Repository.init(root);
}
