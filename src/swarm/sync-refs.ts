// After peers answered `hello`: check what they claim (identity document, signed refs), drop and
// ban peers whose claims do not verify, keep the newest refs per signer (never rolling back), and
// decide which commits to fetch: the canonical refs and each peer's own.

import {
  compareNames,
  decodeRepoIdentity,
  decodeSignedRefs,
  encodeRepoIdentity,
  idEquals,
  isDelegate,
  type KeyPair,
  type ObjectId,
  type SignedRefs,
  toHex,
} from '../core/index.ts';
import { peerIdFromPublicKeyBytes } from '../net/index.ts';
import type { Repository } from '../store/index.ts';
import type { Connected } from './peer.ts';
import { canonicalRefs, decodesOrNull, heldWhole, type RepoState, writeAccess } from './repo-state.ts';

export interface RefsView {
  canonical: SignedRefs | undefined;
  /** Other signers' documents (forks), keyed by their peer id. */
  forks: Map<string, SignedRefs>;
  banned: { peer: string; why: string }[];
  accepted: Connected[];
}

/**
 * Verify every peer's identity and refs; store the newest documents of the signers this
 * repository follows. Those are the delegates, the listed writers, the peers connected now (each
 * peer's own document) and signers already followed. Any key can sign a fork, and a peer may
 * relay up to 256 of them: storing every relayed document would let a stranger fill this
 * repository, and every repository that fetches from it, with forks and their content.
 */
export function checkPeers(repo: Repository, state: RepoState, user: KeyPair, peers: Connected[]): RefsView {
  const banned: { peer: string; why: string }[] = [];
  const accepted: Connected[] = [];
  const connected = new Set(peers.map((c) => c.session.peer));
  const followed = new Set(repo.signedRefs.all().map((d) => toHex(d.signer)));
  const mayWrite = writeAccess(repo, state); // the config read once, not per document
  const whole = heldWhole(repo); // the refs read once: what the documents replaced was held whole?
  const follows = (signer: Uint8Array): boolean =>
    followed.has(toHex(signer)) ||
    Buffer.compare(signer, user.publicKey) === 0 ||
    mayWrite(signer) ||
    connected.has(peerIdFromPublicKeyBytes(signer));
  for (const c of peers) {
    try {
      const identity = decodeRepoIdentity(c.identity);
      if (!idEquals(encodeRepoIdentity(identity).id, state.id))
        throw new Error('served another repository identity');
      const docs = c.refs.map((bytes) => ({ bytes, doc: decodeSignedRefs(bytes) }));
      for (const { doc } of docs) {
        if (!idEquals(doc.repo, state.id)) throw new Error('sent refs of another repository');
      }
      for (const { bytes, doc } of docs) {
        if (!follows(doc.signer)) continue;
        // A held document damaged on disk would keep out the same one received whole.
        const held = repo.signedRefs.get(doc.signer);
        if (held && !decodesOrNull(held.doc)) repo.signedRefs.forget(doc.signer);
        repo.signedRefs.put(doc.signer, doc.seq, bytes, whole);
      }
      accepted.push(c);
    } catch (err) {
      banned.push({ peer: c.session.peer, why: (err as Error).message });
      void c.session.close(`banned: ${(err as Error).message}`);
    }
  }
  const all = repo.signedRefs
    .all()
    .map((d) => decodesOrNull(d.doc))
    .filter((d) => d !== null);
  const forks = new Map<string, SignedRefs>();
  for (const d of all) {
    if (Buffer.compare(d.signer, user.publicKey) === 0 || isDelegate(state.identity, d.signer)) continue;
    forks.set(peerIdFromPublicKeyBytes(d.signer), d);
  }
  return { canonical: canonicalRefs(state, all), forks, banned, accepted };
}

/** The commits a fetch makes complete locally. */
export function fetchTargets(view: RefsView, withForks: boolean): ObjectId[] {
  const out = new Map<string, ObjectId>();
  for (const id of view.canonical?.refs.values() ?? []) out.set(toHex(id), id);
  if (withForks)
    for (const f of view.forks.values()) for (const id of f.refs.values()) out.set(toHex(id), id);
  return [...out.values()];
}

/**
 * A fork's branch whose commits a fetch left out, as `<peer-id>/<branch>`. For the fork limit
 * (`reason: 'fork-limit'`): what they would have brought (at least) against what was left of the
 * limit, or null when the limit is 0. Because no connected peer could send them (`unavailable`:
 * the peers holding them went away, stalled or were banned meanwhile): `size` is null and `why`
 * says what happened.
 */
export interface SkippedFork {
  ref: string;
  reason: 'fork-limit' | 'unavailable';
  size: { bytes: number; left: number } | null;
  why?: string;
}

/** The forks' branches whose commits were left out (`left`: commit -> why). */
export function skippedForks(view: RefsView, left: Map<string, Omit<SkippedFork, 'ref'>>): SkippedFork[] {
  const out: SkippedFork[] = [];
  for (const [peer, doc] of view.forks) {
    for (const [name, id] of doc.refs) {
      const why = left.get(toHex(id));
      if (!name.startsWith('refs/heads/') || why === undefined) continue;
      out.push({ ref: `${peer}/${name.slice('refs/heads/'.length)}`, ...why });
    }
  }
  return out.sort((a, b) => compareNames(a.ref, b.ref));
}

/**
 * `fetch --prune`: drop the remote-tracking branches whose branch is gone from the refs just
 * fetched: `<remote>/<branch>` against the repository's refs (with none found at all, nothing is
 * taken as deleted), and `<peer-id>/<branch>` against the newest refs of that peer held here
 * (received by this fetch or an earlier one). Returns the refs removed.
 */
export function pruneTrackingRefs(repo: Repository, remote: string, view: RefsView): string[] {
  const pruned: string[] = [];
  const prune = (name: string, doc: SignedRefs): void => {
    const prefix = `refs/remotes/${name}/`;
    for (const r of repo.refs.list(prefix)) {
      if (doc.refs.has(`refs/heads/${r.name.slice(prefix.length)}`)) continue;
      if (repo.refs.update(r.name, null, 'fetch: pruned', r.id)) pruned.push(r.name);
    }
  };
  if (view.canonical && view.canonical.refs.size > 0) prune(remote, view.canonical);
  for (const [peer, doc] of view.forks) prune(peer, doc);
  return pruned;
}

/** A tag this repository has at another commit than the repository's signed refs: kept. */
export interface KeptTag {
  name: string;
  ours: string;
  theirs: string;
}

/**
 * Point remote-tracking refs at what was fetched: `<remote>/<branch>` and `<peer-id>/<branch>`.
 * Returns the refs that moved, and the tags kept where the remote's differ.
 */
export function updateTrackingRefs(
  repo: Repository,
  remote: string,
  view: RefsView,
  fetched: Set<string>,
): { updated: string[]; tagsKept: KeptTag[] } {
  const updated: string[] = [];
  const tagsKept: KeptTag[] = [];
  const set = (prefix: string, doc: SignedRefs): void => {
    for (const [name, id] of doc.refs) {
      if (!name.startsWith('refs/heads/') || !fetched.has(toHex(id))) continue;
      const ref = `refs/remotes/${prefix}/${name.slice('refs/heads/'.length)}`;
      const old = repo.refs.get(ref);
      if (old && idEquals(old, id)) continue;
      repo.refs.update(ref, id, `fetch: ${prefix}`);
      updated.push(ref);
    }
  };
  if (view.canonical) {
    set(remote, view.canonical);
    // Tags are global, as in git: the canonical ones are taken when not present yet. One held
    // here at another commit is kept, and said (git refuses to clobber it, and says so too).
    for (const [name, id] of view.canonical.refs) {
      if (!name.startsWith('refs/tags/')) continue;
      const ours = repo.refs.get(name);
      if (ours) {
        if (!idEquals(ours, id))
          tagsKept.push({ name: name.slice('refs/tags/'.length), ours: toHex(ours), theirs: toHex(id) });
      } else if (fetched.has(toHex(id))) {
        repo.refs.update(name, id, 'fetch: tag');
        updated.push(name);
      }
    }
  }
  for (const [peer, doc] of view.forks) set(peer, doc);
  return { updated, tagsKept };
}
