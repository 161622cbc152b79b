// `push`: ask a peer to take our branch. The peer checks that our key may write there, fetches
// the commits from us over the same connection (so only what it lacks crosses the wire), checks
// for a fast-forward, and moves its branch. Both sides verify everything as in any fetch.

import {
  decodeSignedRefs,
  idEquals,
  isShoalError,
  type ObjectId,
  refNameProblem,
  ShoalError,
  toHex,
} from '../core/index.ts';
import { type PeerNode, peerIdFromPublicKeyBytes, SYNC_PROTOCOL } from '../net/index.ts';
import type { Repository } from '../store/index.ts';
import {
  assertNoInterruptedMove,
  DIRTY_NAMED,
  dropTagNote,
  endMove,
  isAncestor,
  moveWorktree,
  newChunkBytes,
  type OnProgress,
  PUSH_AGAIN,
  readMergeState,
} from '../vcs/index.ts';
import { fetchCommits } from './fetch.ts';
import { remoteSource, type TransferOptions } from './fetch-remote.ts';
import { type Connected, connect, parseSource, startPeer } from './peer.ts';
import { PeerSession } from './peer-session.ts';
import type { RateLimiter } from './rate-limit.ts';
import { loadRepoIdentity, mayWrite, ownSignedRefs } from './repo-state.ts';
import type { PushHandler } from './server.ts';
import { checkPeers } from './sync-refs.ts';

/**
 * What a peer answers a key that may not write there: the one refusal a push to several peers
 * takes to another peer (a forced update refused, a bad signature, would be refused anywhere).
 */
const KEY_REFUSED = 'your key may not push to this repository';

export interface PushSummary {
  remote: string;
  peer: string;
  /** The refs the peer moved (those already at their commit there are left out). */
  updated: string[];
  /** The refs the peer deleted, and those asked for that it did not have. */
  deleted: string[];
  notThere: string[];
  /** Every ref offered, with its commit. */
  pushed: { ref: string; commit: string }[];
  /** The branch offered, when one was (a push of tags alone offers none). */
  branch?: string;
  commit?: string;
}

/** What a push offers: a branch or a tag (`<name>`, `heads/<name>`, `tags/<name>`), every tag. */
export interface PushRefs {
  /** A branch or tag name; without it (and without `tags`), the current branch. */
  name?: string;
  /** Every tag as well (alone, without `name`: only the tags, as git's `push --tags`). */
  tags?: boolean;
  /**
   * Branches or tags to delete on the peer, instead of offering any: `<name>` (a branch, or the
   * peer's tag of that name when it has no such branch), `heads/<name>`, `tags/<name>`.
   */
  delete?: string[];
}

/** The refs a push offers, as [full ref name, commit]. */
export function refsToPush(repo: Repository, which: PushRefs): [string, ObjectId][] {
  const out: [string, ObjectId][] = [];
  const name = which.name;
  if (name === undefined && !which.tags) {
    // The current branch itself, as git pushes it: its name is not looked up as a branch or a
    // tag (a tag of the same name, or a branch called `tags/x`, must not stand in for it).
    const head = repo.refs.head();
    if (head.kind !== 'branch') throw new ShoalError('USAGE', 'HEAD is detached: name the branch to push');
    const ref = `refs/heads/${head.name}`;
    const id = repo.refs.get(ref);
    if (!id) throw new ShoalError('NOT_FOUND', `branch '${head.name}' has no commits yet`);
    out.push([ref, id]);
  }
  if (name !== undefined) {
    const head = repo.refs.head();
    const full = name === 'HEAD' && head.kind === 'branch' ? `refs/heads/${head.name}` : name;
    const explicit = /^(refs\/)?(heads|tags)\//.test(full);
    const candidates = explicit
      ? [full.startsWith('refs/') ? full : `refs/${full}`]
      : [`refs/heads/${full}`, `refs/tags/${full}`];
    const found = candidates.filter((ref) => repo.refs.get(ref));
    if (found.length === 0) throw new ShoalError('NOT_FOUND', `no branch or tag '${name}'`);
    if (found.length > 1)
      throw new ShoalError(
        'USAGE',
        `'${name}' is both a branch and a tag: push heads/${name} or tags/${name}`,
      );
    out.push([found[0]!, repo.refs.get(found[0]!)!]);
  }
  if (which.tags) {
    for (const r of repo.refs.list('refs/tags/'))
      if (!out.some(([ref]) => ref === r.name)) out.push([r.name, r.id]);
    if (out.length === 0) throw new ShoalError('NOT_FOUND', 'there are no tags to push');
  }
  return out;
}

/** A ref's name as users write it: `main`, `v1.0` (tags keep no prefix either, as git prints). */
export function shortRef(ref: string): string {
  return ref.replace(/^refs\/(heads|tags)\//, '');
}

export async function pushToSwarm(
  repo: Repository,
  nameOrSource: string | undefined,
  which: PushRefs,
  opts: Omit<TransferOptions, 'onProgress'> & { force?: boolean; onProgress?: OnProgress },
): Promise<PushSummary> {
  // Which remote first: with none, that is what to fix (a new repository has no identity yet).
  const { remote: remoteName, source, peers, named } = remoteSource(repo, nameOrSource);
  const state = loadRepoIdentity(repo);
  if (!state)
    throw new ShoalError('NOT_FOUND', 'this repository has no identity yet (it was never shared or cloned)');
  const deleting = which.delete ?? [];
  const offered = deleting.length > 0 ? [] : refsToPush(repo, which);
  // A push to an address, not a remote, moves no remote-tracking branch (as git's `push <url>`):
  // the remote's peers never saw that commit.
  const remote = named ? remoteName : source;
  const peer = await startPeer({ user: opts.user, listen: opts.listen, maxUpload: opts.maxUpload });
  // The peer pushed to fetches the commits back from us: its key may read this repository,
  // listed here or not (a copy of a private repository kept by another writer lists its own
  // readers), for the time of the push. (What it may read is the repository, not only the
  // commits offered: it is a writer of the same repository.)
  const pushingTo = new Set<string>();
  try {
    peer.server.add({ repo, state, alsoReadBy: (key) => pushingTo.has(peerIdFromPublicKeyBytes(key)) });
    const reached = await connect(peer, parseSource(source), [...peers, ...(opts.peers ?? [])], {
      repo: state.id,
      stallMs: opts.stallMs,
    });
    // A source that names several peers (shoal://) reaches them in the order they answer: the
    // push goes to a delegate first (its refs are the repository's branches), then to the others
    // in turn while each refuses this key.
    const delegateKeys = new Set(state.identity.delegates.map((k) => peerIdFromPublicKeyBytes(k)));
    const candidates = [
      ...reached.filter((c) => delegateKeys.has(c.session.peer)),
      ...reached.filter((c) => !delegateKeys.has(c.session.peer)),
    ];
    let target = candidates[0];
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
        // Each ref's new chunks against the peer's commits; shared ones are counted once per
        // ref, which only a push of several refs at once can overstate.
        total = 0;
        for (const [, id] of offered) total += newChunkBytes(repo.objects, bases, id);
      } catch {} // an incomplete history here (an interrupted fetch): progress without a total
      timer = setInterval(progress, 100);
    }
    let updated: string[] | undefined;
    const refusals: string[] = [];
    let toDelete: string[] = [];
    try {
      for (let i = 0; updated === undefined; i++) {
        target = candidates[i];
        // Only the peer being pushed to, and only while it is: one that refused reads nothing.
        pushingTo.clear();
        pushingTo.add(target!.session.peer);
        try {
          toDelete = refsToDelete(target!, deleting);
          updated = await target!.session.push(
            refs,
            offered,
            toDelete,
            opts.force === true,
            () => peer.server.lastActivity,
          );
        } catch (err) {
          // A peer from before push --delete takes a push of no updates for a malformed one.
          if (offered.length === 0 && isShoalError(err, 'PEER_ERROR') && !target!.session.misbehaved)
            throw new ShoalError(
              'PEER_ERROR',
              `${err.message} (a peer running a shoal from before 'push --delete' cannot take one)`,
            );
          if (!isShoalError(err, 'PERMISSION_DENIED') || err.message !== KEY_REFUSED) throw err;
          refusals.push(`peer ${target!.session.peer}: ${err.message}`);
          if (i + 1 >= candidates.length) throw new ShoalError('PERMISSION_DENIED', refusals.join('; '));
          await target!.session.close();
        }
      }
    } finally {
      clearInterval(timer);
    }
    progress();
    // Taken, or already there (the peer leaves out a ref it has at that commit): either way the
    // remote's branches are at our commits now, if it is a delegate. A remote-tracking branch
    // follows the repository's branches (a delegate's); another writer's copy took the push into
    // its own, so `origin/main` stays, as the next fetch would set it again.
    // (A delegate's own push carries the repository's refs wherever it lands.)
    const toDelegate =
      delegateKeys.has(target!.session.peer) ||
      delegateKeys.has(peerIdFromPublicKeyBytes(opts.user.publicKey));
    const trackingOf = (ref: string): string | null =>
      named && ref.startsWith('refs/heads/') ? `refs/remotes/${remote}/${shortRef(ref)}` : null;
    for (const [ref, id] of offered) {
      const tracking = trackingOf(ref);
      if (tracking && toDelegate && !idEquals(repo.refs.get(tracking) ?? new Uint8Array(0), id))
        repo.refs.update(tracking, id, `push: to ${remote}`);
    }
    // A branch deleted on a delegate has left the repository's branches (unless another delegate
    // still signs it, yourself included: the next fetch brings its tracking branch back then).
    const deleted = deleting.length > 0 ? updated : [];
    for (const ref of deleted) {
      const tracking = trackingOf(ref);
      const was = tracking && delegateKeys.has(target!.session.peer) ? repo.refs.get(tracking) : undefined;
      if (was) repo.refs.update(tracking!, null, `push: deleted on ${remote}`, was);
    }
    // The peer now signs refs naming what it took (a delegate's are the repository's branches):
    // take them, as a fetch would. Without them this peer, serving its copy, went on relaying
    // the delegate's refs from before the push, which name commits it no longer has a ref at,
    // and so left them out: a clone from it found no branches.
    try {
      const after = await target!.session.hello(state.id);
      checkPeers(repo, state, opts.user, [
        { session: target!.session, identity: after.identity, refs: after.refs },
      ]);
    } catch {} // the push is done; the next fetch takes them all the same
    await target!.session.close();
    const branch = offered.find(([ref]) => ref.startsWith('refs/heads/'));
    return {
      remote,
      peer: target!.session.peer,
      updated: deleting.length > 0 ? [] : updated,
      deleted,
      notThere: toDelete.filter((ref) => !deleted.includes(ref)),
      pushed: offered.map(([ref, id]) => ({ ref, commit: toHex(id) })),
      ...(branch ? { branch: shortRef(branch[0]), commit: toHex(branch[1]) } : {}),
    };
  } finally {
    await peer.stop();
  }
}

/**
 * The full ref names of the branches and tags a push deletes. A bare name is a branch, unless the
 * peer's own refs (the first document of its hello) have no such branch but a tag of that name.
 */
function refsToDelete(c: Connected, names: string[]): string[] {
  let theirs: Map<string, unknown> | undefined;
  try {
    theirs = c.refs[0] ? decodeSignedRefs(c.refs[0]).refs : undefined;
  } catch {} // the peer checks the names; a bare name is then a branch
  const full = names.map((name) => {
    if (/^refs\/(heads|tags)\//.test(name)) return name;
    if (/^(heads|tags)\//.test(name)) return `refs/${name}`;
    const tag = `refs/tags/${name}`;
    return theirs?.has(tag) && !theirs.has(`refs/heads/${name}`) ? tag : `refs/heads/${name}`;
  });
  for (const ref of full) {
    const problem = refNameProblem(shortRef(ref));
    if (problem !== null)
      throw new ShoalError('INVALID_NAME', `'${ref}' is no branch or tag name: ${problem}`);
  }
  return [...new Set(full)]; // a ref named twice (`x heads/x`) is asked for once
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

/**
 * A push deletes a ref only where the peer allows forced updates: a deletion drops what the
 * ref held as a forced update does, and a tag deleted could be pushed again at another commit.
 * Never the branch checked out in the peer's working tree (as git).
 */
function refuseDeletion(repo: Repository, ref: string): void {
  if (!repo.refs.get(ref)) return; // nothing to delete: no right needed
  const head = repo.refs.head();
  if (head.kind === 'branch' && `refs/heads/${head.name}` === ref) {
    throw new ShoalError(
      'CURRENT_BRANCH',
      `'${head.name}' is the branch checked out on the peer; it cannot be deleted by a push`,
    );
  }
  if (repo.config('access.allow-force') !== 'true')
    throw new ShoalError(
      'PERMISSION_DENIED',
      `this peer does not allow deleting '${ref}' (it allows neither deletions nor forced updates)`,
    );
}

/** An update that is no fast-forward (a tag moved at all): refused unless forced, where allowed. */
function refuseForcedUnlessAllowed(repo: Repository, forced: boolean, name: string): void {
  if (!forced) {
    throw new ShoalError(
      'NOT_FAST_FORWARD',
      name.startsWith('refs/tags/')
        ? `tag '${name.slice('refs/tags/'.length)}' already exists on the peer, at another commit; push --force to move it`
        : `'${name}' is not a fast-forward; pull first, or push --force`,
    );
  }
  if (repo.config('access.allow-force') !== 'true')
    throw new ShoalError('PERMISSION_DENIED', `this peer does not allow forced updates of '${name}'`);
}

/**
 * A checkout of the peer's own that did not finish must be finished (or undone) there before a
 * push into its checked-out branch; the same push again (to where a push's move stopped) is
 * what finishes one that a push started.
 */
function refuseAfterUnfinishedMove(repo: Repository, ref: string, id: Uint8Array): void {
  const head = repo.refs.head();
  if (head.kind !== 'branch' || `refs/heads/${head.name}` !== ref) return;
  try {
    assertNoInterruptedMove(repo, { target: id });
  } catch (err) {
    if (!isShoalError(err, 'MOVE_INTERRUPTED')) throw err;
    // Said from the pusher's side: the move, and what finishes it, are the peer's.
    throw new ShoalError(
      'MOVE_INTERRUPTED',
      "a checkout in the peer's working tree did not finish; it must be run again or undone there before this push",
    );
  }
}

const pushing = new WeakMap<Repository, Promise<unknown>>();

/** Run `work` after the pushes into `repo` that this process started before it. */
function oneAtATime<T>(repo: Repository, work: () => Promise<T>): Promise<T> {
  const run = (pushing.get(repo) ?? Promise.resolve()).catch(() => {}).then(work);
  pushing.set(repo, run);
  return run;
}

/** How often the receiving side of a push shows the pusher it is still at work. */
const KEEPALIVE_MS = 250;

/** The receiving side of a push, for a peer that serves `repo`. */
export function pushHandler(
  node: () => PeerNode,
  download: RateLimiter,
  /** Told of working files the owner changed while the push was writing others, kept as they are. */
  onKept?: (root: string, paths: string[]) => void,
): PushHandler {
  return async (served, request, from) => {
    const { repo, state } = served;
    if (!mayWrite(repo, state, from.key)) {
      throw new ShoalError('PERMISSION_DENIED', KEY_REFUSED);
    }
    const doc = decodeSignedRefs(request.refs);
    if (!idEquals(doc.signer, from.key) || !idEquals(doc.repo, state.id)) {
      throw new ShoalError(
        'PERMISSION_DENIED',
        'the refs document is not signed by the pushing key for this repository',
      );
    }
    // A name local commands could not use (`HEAD`, `a..b`), or one named twice (its second
    // update would fail after the first moved, and a push is taken whole).
    const named = new Set<string>();
    const takeName = (name: string, verb: string): void => {
      const short = shortRef(name);
      if (short === name || refNameProblem(short) !== null || named.has(name))
        throw new ShoalError('PERMISSION_DENIED', `'${name}' is not a branch or tag name this peer ${verb}`);
      named.add(name);
    };
    for (const [name, id] of request.updates) {
      takeName(name, 'takes');
      const claimed = doc.refs.get(name);
      if (!claimed || !idEquals(claimed, id)) {
        throw new ShoalError('PERMISSION_DENIED', `update of '${name}' is not in the signed refs`);
      }
    }
    for (const name of request.deletes) takeName(name, 'deletes');
    // Before any transfer:
    for (const [name, id] of request.updates) {
      refuseDuringMerge(repo, name);
      refuseAfterUnfinishedMove(repo, name, id);
    }
    for (const name of request.deletes) refuseDeletion(repo, name);
    const targets: ObjectId[] = request.updates.map(([, id]) => id);
    // The stream back to the pusher: to fetch the commits from, and to show it we are at work.
    const session = PeerSession.fromStream(
      await node().dialProtocol(from.connection.remotePeer, SYNC_PROTOCOL),
      from.connection.remotePeer.toString(),
    );
    // The pusher waits for our answer and takes our requests to it as our sign of life. Between
    // them (waiting for another push, storing what arrived, a long checkout of the new commit
    // below) it would hear nothing and give up after its stall timeout: a small request now and
    // then tells it we are at work. (A push that only deletes asks after the identity document.)
    const keepAlive = setInterval(() => {
      const asked = targets.length > 0 ? session.have(targets[0]!, 0, true) : session.have(state.id, 0);
      asked.catch(() => {}); // a failing session fails the fetch too
    }, KEEPALIVE_MS);
    const updated: string[] = [];
    try {
      await session.hello(state.id);
      // What can be refused before any transfer: a tag here at another commit, and a branch here
      // at a commit the pusher does not even have (so cannot descend from). A multi-GB push was
      // taken whole, and only then refused as no fast-forward.
      for (const [name, id] of request.updates) {
        const old = repo.refs.get(name);
        if (!old || idEquals(old, id)) continue;
        if (name.startsWith('refs/tags/') || !(await session.have(old, 0)).all)
          refuseForcedUnlessAllowed(repo, request.force, name);
      }
      // One push at a time per repository in this process (the next waits, its pusher kept
      // informed by the keep-alive above); the lock, with what holds it, for the whole of it:
      // the objects are stored under it too, and a local command finding it says why.
      try {
        await oneAtATime(repo, () =>
          repo.withWriteLock(async () => {
            try {
              if (targets.length > 0) await fetchCommits({ repo, peers: [session], targets, download });
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
              // Asked again now that the commits are here: a key taken off the list while they
              // came (the lists apply to every request, and a large push is a long one) moves
              // nothing.
              if (!mayWrite(repo, state, from.key)) throw new ShoalError('PERMISSION_DENIED', KEY_REFUSED);
              // Every update is checked before any moves, so a refused one leaves the others alone
              // (a push is taken whole or not at all).
              const moves: { name: string; id: ObjectId; old: ObjectId | undefined }[] = [];
              for (const [name, id] of request.updates) {
                const old = repo.refs.get(name);
                if (old && idEquals(old, id)) continue;
                const tag = name.startsWith('refs/tags/');
                // A tag names one commit for good: moving it at all needs --force, as in git.
                if (old && (tag || !isAncestor(repo.objects, old, id)))
                  refuseForcedUnlessAllowed(repo, request.force, name);
                moves.push({ name, id, old });
              }
              // Checked again under the lock: the peer's own user may have switched branch.
              for (const name of request.deletes) refuseDeletion(repo, name);
              const head = repo.refs.head();
              const checkedOut = head.kind === 'branch' ? `refs/heads/${head.name}` : null;
              // The checked-out branch first: its working tree is what can still refuse.
              moves.sort((x, y) => Number(y.name === checkedOut) - Number(x.name === checkedOut));
              for (const { name, id, old } of moves) {
                if (head.kind === 'branch' && name === checkedOut) {
                  // The branch is checked out here: bring the working tree along, unless it has local
                  // changes, or a merge is under way in it (moving the branch would strand the merge).
                  refuseDuringMerge(repo, name);
                  refuseAfterUnfinishedMove(repo, name, id);
                  try {
                    const moved = await moveWorktree(repo, old, id, { finish: PUSH_AGAIN });
                    if (moved.kept.length > 0) onKept?.(repo.root, moved.kept);
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
                  !repo.refs.update(
                    name,
                    id,
                    `push: from ${from.connection.remotePeer.toString()}`,
                    old ?? null,
                  )
                ) {
                  throw new ShoalError('CONFLICT', `'${name}' moved during the push`);
                }
                if (name === checkedOut) endMove(repo);
                if (old && name.startsWith('refs/tags/')) dropTagNote(repo, name.slice('refs/tags/'.length));
                updated.push(name);
              }
              // A ref that is not here is no error: what the pusher asked for is so already.
              const by = from.connection.remotePeer.toString();
              for (const name of request.deletes) {
                const old = repo.refs.get(name);
                if (!old) continue;
                if (!repo.refs.update(name, null, `push: deleted by ${by} (was ${toHex(old)})`, old))
                  throw new ShoalError('CONFLICT', `'${name}' moved during the push`);
                if (name.startsWith('refs/tags/')) dropTagNote(repo, name.slice('refs/tags/'.length));
                updated.push(name);
              }
              repo.signedRefs.put(doc.signer, doc.seq, request.refs);
            });
          }, `taking a push from ${from.connection.remotePeer.toString()}`),
        );
      } catch (err) {
        // A command of the peer's own user holds the lock: said as the pusher sees it.
        if (isShoalError(err, 'LOCKED'))
          throw new ShoalError(
            'LOCKED',
            `the peer's repository is in use there (${err.detail?.held ?? err.message}); push again once it is done`,
          );
        throw err;
      }
    } finally {
      clearInterval(keepAlive);
      await session.close();
    }
    return updated;
  };
}
