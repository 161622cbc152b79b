// `push`: ask a peer to take our branch. The peer checks that our key may write there, fetches
// the commits from us over the same connection (so only what it lacks crosses the wire), checks
// for a fast-forward, and moves its branch. Both sides verify everything as in any fetch.

import { decodeSignedRefs, idEquals, isShoalError, type ObjectId, ShoalError, toHex } from '../core/index.ts';
import { type PeerNode, SYNC_PROTOCOL } from '../net/index.ts';
import type { Repository } from '../store/index.ts';
import {
  DIRTY_NAMED,
  isAncestor,
  moveWorktree,
  newChunkBytes,
  type OnProgress,
  readMergeState,
} from '../vcs/index.ts';
import { fetchCommits } from './fetch.ts';
import { remoteSource, type TransferOptions } from './fetch-remote.ts';
import { type Connected, connect, parseSource, startPeer } from './peer.ts';
import { PeerSession } from './peer-session.ts';
import type { RateLimiter } from './rate-limit.ts';
import { loadRepoIdentity, mayWrite, ownSignedRefs } from './repo-state.ts';
import type { PushHandler } from './server.ts';

export interface PushSummary {
  remote: string;
  peer: string;
  updated: string[];
  branch: string;
  commit: string;
}

export async function pushToSwarm(
  repo: Repository,
  nameOrSource: string | undefined,
  branch: string | undefined,
  opts: Omit<TransferOptions, 'onProgress'> & { force?: boolean; onProgress?: OnProgress },
): Promise<PushSummary> {
  const state = loadRepoIdentity(repo);
  if (!state)
    throw new ShoalError('NOT_FOUND', 'this repository has no identity yet (it was never shared or cloned)');
  const head = repo.refs.head();
  const name = branch ?? (head.kind === 'branch' ? head.name : undefined);
  if (!name) throw new ShoalError('USAGE', 'HEAD is detached: name the branch to push');
  const commit = repo.refs.get(`refs/heads/${name}`);
  if (!commit) throw new ShoalError('NOT_FOUND', `no branch '${name}'`);
  const { remote: remoteName, source, peers, named } = remoteSource(repo, nameOrSource);
  // A push to an address, not a remote, moves no remote-tracking branch (as git's `push <url>`):
  // the remote's peers never saw that commit.
  const remote = named ? remoteName : source;
  const peer = await startPeer({ user: opts.user, listen: opts.listen, maxUpload: opts.maxUpload });
  try {
    peer.server.add({ repo, state });
    const [target] = await connect(peer, parseSource(source), [...peers, ...(opts.peers ?? [])], {
      repo: state.id,
      stallMs: opts.stallMs,
    });
    const refs = ownSignedRefs(repo, state, opts.user);
    // Progress: what our server sends the peer while it fetches from us, against an estimate of
    // what it lacks (the chunks new since the commits it names, where we have them).
    const report = opts.onProgress;
    let timer: NodeJS.Timeout | undefined;
    const sentBefore = peer.server.bytesServed;
    let total: number | undefined;
    const progress = (): void => {
      const bytesDone = peer.server.bytesServed - sentBefore;
      report?.({ phase: 'push', bytesDone, bytesTotal: total && Math.max(total, bytesDone), peers: 1 });
    };
    if (report) {
      const bases = [
        ...peerCommits(target!),
        ...(named ? repo.refs.list(`refs/remotes/${remote}/`).map((r) => r.id) : []),
      ].filter((id) => repo.objects.has(id));
      try {
        total = newChunkBytes(repo.objects, bases, commit);
      } catch {} // an incomplete history here (an interrupted fetch): progress without a total
      timer = setInterval(progress, 100);
    }
    let updated: string[];
    try {
      updated = await target!.session.push(
        refs,
        [[`refs/heads/${name}`, commit]],
        opts.force === true,
        () => peer.server.lastActivity,
      );
    } finally {
      clearInterval(timer);
    }
    progress();
    await target!.session.close();
    // Taken, or already there (the peer leaves out a branch it has at that commit): either way
    // the remote's branch is at our commit now.
    if (named && !idEquals(repo.refs.get(`refs/remotes/${remote}/${name}`) ?? new Uint8Array(0), commit))
      repo.refs.update(`refs/remotes/${remote}/${name}`, commit, `push: to ${remote}`);
    return { remote, peer: target!.session.peer, updated, branch: name, commit: toHex(commit) };
  } finally {
    await peer.stop();
  }
}

/** The commits the refs documents a peer sent in its hello name (it holds them, or claims to). */
function peerCommits(c: Connected): ObjectId[] {
  const out: ObjectId[] = [];
  for (const bytes of c.refs) {
    try {
      out.push(...decodeSignedRefs(bytes).refs.values());
    } catch {} // checked properly by the peer's own fetch; here only an estimate is at stake
  }
  return out;
}

/** A push must not move the checked-out branch of a repository in the middle of a merge. */
function refuseDuringMerge(repo: Repository, ref: string): void {
  const head = repo.refs.head();
  const merging = head.kind === 'branch' && `refs/heads/${head.name}` === ref && readMergeState(repo);
  if (merging) {
    throw new ShoalError(
      'MERGE_IN_PROGRESS',
      `the peer is in the middle of a merge of '${merging.name}' on its checked-out branch '${head.name}'; it must conclude or abort it before this push`,
    );
  }
}

/** How often the receiving side of a push shows the pusher it is still at work. */
const KEEPALIVE_MS = 250;

/** The receiving side of a push, for a peer that serves `repo`. */
export function pushHandler(node: () => PeerNode, download: RateLimiter): PushHandler {
  return async (served, request, from) => {
    const { repo, state } = served;
    if (!mayWrite(repo, state, from.key)) {
      throw new ShoalError('PERMISSION_DENIED', 'your key may not push to this repository');
    }
    const doc = decodeSignedRefs(request.refs);
    if (!idEquals(doc.signer, from.key) || !idEquals(doc.repo, state.id)) {
      throw new ShoalError(
        'PERMISSION_DENIED',
        'the refs document is not signed by the pushing key for this repository',
      );
    }
    for (const [name, id] of request.updates) {
      const claimed = doc.refs.get(name);
      if (!name.startsWith('refs/heads/') || !claimed || !idEquals(claimed, id)) {
        throw new ShoalError('PERMISSION_DENIED', `update of '${name}' is not in the signed refs`);
      }
    }
    for (const [name] of request.updates) refuseDuringMerge(repo, name); // before any transfer
    const targets: ObjectId[] = request.updates.map(([, id]) => id);
    const stream = await node().dialProtocol(from.connection.remotePeer, SYNC_PROTOCOL);
    const session = PeerSession.fromStream(stream, from.connection.remotePeer.toString());
    // The pusher waits for our answer and takes our requests to it as our sign of life. Between
    // them (storing what arrived, a long checkout of the new commit below) it would hear nothing
    // and give up after its stall timeout: a small request now and then tells it we are at work.
    const keepAlive = setInterval(() => {
      session.have(targets[0]!, 0, true).catch(() => {}); // a failing session fails the fetch too
    }, KEEPALIVE_MS);
    const updated: string[] = [];
    try {
      await session.hello(state.id);
      try {
        await fetchCommits({ repo, peers: [session], targets, download });
      } catch (err) {
        // The pusher sent something refused (a commit not signed by its author, bytes that do
        // not match their id): it is told why, not that no peer had the objects.
        if (isShoalError(err, 'BAD_SIGNATURE'))
          throw new ShoalError('PERMISSION_DENIED', `push refused: ${err.message}`);
        const why = isShoalError(err)
          ? (err.detail?.banned as { why: string }[] | undefined)?.[0]?.why
          : undefined;
        if (why) throw new ShoalError('PERMISSION_DENIED', `push refused: your peer ${why}`);
        throw err;
      }
      await repo.withWriteLock(async () => {
        for (const [name, id] of request.updates) {
          const old = repo.refs.get(name);
          if (old && idEquals(old, id)) continue;
          if (old && !isAncestor(repo.objects, old, id)) {
            if (!request.force)
              throw new ShoalError(
                'NOT_FAST_FORWARD',
                `'${name}' is not a fast-forward; pull first, or push --force`,
              );
            if (repo.config('access.allow-force') !== 'true') {
              throw new ShoalError(
                'PERMISSION_DENIED',
                `this peer does not allow forced updates of '${name}'`,
              );
            }
          }
          const head = repo.refs.head();
          if (head.kind === 'branch' && `refs/heads/${head.name}` === name) {
            // The branch is checked out here: bring the working tree along, unless it has local
            // changes, or a merge is under way in it (moving the branch would strand the merge).
            refuseDuringMerge(repo, name);
            try {
              await moveWorktree(repo, old, id, {});
            } catch (err) {
              if (!isShoalError(err, 'DIRTY_WORKTREE')) throw err;
              // Said from the pusher's side: the local changes are the peer's, not the pusher's.
              const paths = (err.detail?.paths as string[] | undefined) ?? [];
              throw new ShoalError(
                'DIRTY_WORKTREE',
                `the peer has local changes that the push would overwrite in its checked-out branch '${head.name}':\n  ${paths.slice(0, DIRTY_NAMED).join('\n  ')}${paths.length > DIRTY_NAMED ? `\n  and ${paths.length - DIRTY_NAMED} more` : ''}\nthey must be committed or restored there first`,
                { paths },
              );
            }
          }
          if (
            !repo.refs.update(name, id, `push: from ${from.connection.remotePeer.toString()}`, old ?? null)
          ) {
            throw new ShoalError('CONFLICT', `'${name}' moved during the push`);
          }
          updated.push(name);
        }
        repo.signedRefs.put(doc.signer, doc.seq, request.refs);
      });
    } finally {
      clearInterval(keepAlive);
      await session.close();
    }
    return updated;
  };
}
