// A repository as the swarm sees it: its identity document (created on first use), the signed
// refs documents it serves (its own, re-signed whenever its refs change, and those it learnt
// from peers), the canonical refs, and who may read and write it.

import { basename } from 'node:path';
import {
  decodeRepoIdentity,
  decodeSignedRefs,
  encodeRepoIdentity,
  encodeSignedRefs,
  fromHex,
  idEquals,
  isDelegate,
  type KeyPair,
  type ObjectId,
  type RepoIdentity,
  ShoalError,
  type SignedRefs,
  signRefs,
  toHex,
  type Visibility,
} from '../core/index.ts';
import { MAX_REFS_DOC_BYTES, MAX_REFS_DOCS, publicKeyBytesOfPeer } from '../net/index.ts';
import type { Repository } from '../store/index.ts';

export interface RepoState {
  id: ObjectId;
  identity: RepoIdentity;
  identityBytes: Uint8Array;
}

/** The repository's identity, creating it (with this user as the only delegate) if it has none. */
export async function ensureRepoIdentity(
  repo: Repository,
  user: KeyPair,
  visibility: Visibility = 'public',
): Promise<RepoState> {
  const hex = repo.meta('repo-id');
  if (hex && !repo.objects.has(fromHex(hex))) {
    return adoptRepoIdentity(repo, rebuiltIdentity(repo, user, hex));
  }
  const existing = loadRepoIdentity(repo);
  if (existing) return existing;
  return adoptRepoIdentity(repo, encodeRepoIdentity(ownIdentity(repo, user, visibility)).bytes);
}

function ownIdentity(repo: Repository, user: KeyPair, visibility: Visibility): RepoIdentity {
  return {
    name: basename(repo.root),
    created: Number(repo.meta('created') ?? Date.now()),
    delegates: [user.publicKey],
    threshold: 1,
    visibility,
  };
}

/**
 * The identity document `hex` names, when its object is gone (gc before it kept identities
 * dropped them): made again, byte for byte, when it is this user's own, from the same name,
 * creation time and key. A cloned repository's comes back with a fetch (fetchFromSwarm).
 */
function rebuiltIdentity(repo: Repository, user: KeyPair, hex: string): Uint8Array {
  for (const visibility of ['public', 'private'] as const) {
    const { id, bytes } = encodeRepoIdentity(ownIdentity(repo, user, visibility));
    if (toHex(id) === hex) return bytes;
  }
  throw new ShoalError(
    'MISSING_OBJECT',
    `the repository identity document ${hex} is missing (an earlier gc dropped it); a fetch from a peer of this repository brings it back`,
  );
}

export function loadRepoIdentity(repo: Repository): RepoState | undefined {
  const hex = repo.meta('repo-id');
  if (!hex) return undefined;
  const id = fromHex(hex);
  const bytes = repo.objects.read(id, 'repo');
  return { id, identity: decodeRepoIdentity(bytes), identityBytes: bytes };
}

/** Record an identity document (ours, or one received when cloning) as this repository's. */
export async function adoptRepoIdentity(repo: Repository, bytes: Uint8Array): Promise<RepoState> {
  const identity = decodeRepoIdentity(bytes);
  const { id } = encodeRepoIdentity(identity);
  const current = repo.meta('repo-id');
  if (current && current !== toHex(id)) {
    throw new ShoalError('CONFLICT', `this repository already has the identity ${current}`);
  }
  await repo.withWriteLock(async () => {
    const session = await repo.objects.beginSession();
    try {
      await session.putObject({ kind: 'repo', id, bytes });
      await session.close();
    } catch (err) {
      await session.abort();
      throw err;
    }
    repo.setMeta('repo-id', toHex(id));
  });
  return { id, identity, identityBytes: bytes };
}

function localRefMap(repo: Repository): Map<string, ObjectId> {
  const refs = new Map<string, ObjectId>();
  for (const r of repo.refs.list('refs/heads/')) refs.set(r.name, r.id);
  for (const r of repo.refs.list('refs/tags/')) refs.set(r.name, r.id);
  return refs;
}

function sameRefs(a: Map<string, ObjectId>, b: Map<string, ObjectId>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (!w || !idEquals(v, w)) return false;
  }
  return true;
}

/** This user's signed refs for the repository, signed anew (seq + 1) if the refs changed. */
export function ownSignedRefs(repo: Repository, state: RepoState, user: KeyPair): Uint8Array {
  const refs = localRefMap(repo);
  const stored = repo.signedRefs.get(user.publicKey);
  // A stored document that no longer verifies (damaged on disk) is signed afresh.
  const held = stored && decodesOrNull(stored.doc);
  if (stored && held && sameRefs(held.refs, refs)) return stored.doc;
  const doc = signRefs(user.seed, {
    repo: state.id,
    signer: user.publicKey,
    // At least the time in milliseconds: a signer that lost its document (a fresh clone, a copy
    // restored from before) still signs a newer one than those its peers hold, which keep only a
    // higher sequence.
    seq: Math.max((stored?.seq ?? 0) + 1, Date.now()),
    time: Date.now(),
    refs,
  });
  const { bytes } = encodeSignedRefs(doc);
  repo.signedRefs.put(user.publicKey, doc.seq, bytes);
  return bytes;
}

/** A stored refs document, decoded and verified; null when it is damaged (fsck names it). */
export function decodesOrNull(bytes: Uint8Array): SignedRefs | null {
  try {
    return decodeSignedRefs(bytes);
  } catch {
    return null;
  }
}

/**
 * Whether this peer holds every commit a refs document names whole: a ref of its own at each,
 * as `have` with `commit: true` answers.
 */
export function heldWhole(repo: Repository): (doc: Uint8Array) => boolean {
  const held = new Set(repo.refs.list('refs/').map((r) => toHex(r.id)));
  return (doc) => {
    const d = decodesOrNull(doc);
    return d !== null && [...d.refs.values()].every((id) => held.has(toHex(id)));
  };
}

/**
 * The refs documents to serve, within what one `repo` answer may carry (`maxBytes` of
 * documents, MAX_REFS_DOCS of them): ours (refreshed) first, then the delegates', the listed
 * writers' and other signers' newest. Any peer can sign a fork, so other signers' documents are
 * only relayed while there is room: a flood of them must not crowd out the delegates' or make
 * the answer too large to send.
 */
export function servedRefs(
  repo: Repository,
  state: RepoState,
  user: KeyPair,
  maxBytes = Number.POSITIVE_INFINITY,
): Uint8Array[] {
  const own = ownSignedRefs(repo, state, user);
  const writers = new Set(keyList(repo.config('access.writers')));
  const rank = (signer: Uint8Array): number =>
    isDelegate(state.identity, signer) ? 0 : writers.has(toHex(signer)) ? 1 : 2;
  // A delegate's document is relayed only once this peer holds every commit it names whole (a
  // ref of its own at each, as `have` answers): one that stored the newest document and was then
  // interrupted in the middle of the fetch would otherwise hand it to everyone, and a clone that
  // could come complete from the peers holding the version before would fail for want of chunks
  // nobody has yet.
  const holdsAll = heldWhole(repo);
  // In its place goes the one before, when this peer holds that one whole (the version a fetch
  // interrupted here started from): without it, a clone from this peer alone found no branch.
  // Only documents that verify: a peer bans one that relays a document it cannot verify.
  const others = repo.signedRefs
    .all()
    .filter((d) => Buffer.compare(d.signer, user.publicKey) !== 0 && decodesOrNull(d.doc))
    .map((d) => {
      const r = rank(d.signer);
      if (r !== 0 || holdsAll(d.doc)) return { doc: d.doc, rank: r };
      const before = repo.signedRefs.previous(d.signer);
      return before && holdsAll(before.doc) ? { doc: before.doc, rank: 0 } : null;
    })
    .filter((d) => d !== null)
    .sort((a, b) => a.rank - b.rank);
  const out = [own];
  let bytes = own.length;
  for (const { doc } of others) {
    if (out.length === MAX_REFS_DOCS) break;
    if (doc.length > MAX_REFS_DOC_BYTES || bytes + doc.length > maxBytes) continue;
    out.push(doc);
    bytes += doc.length;
  }
  return out;
}

export interface AcceptedRefs {
  docs: SignedRefs[];
  rejected: { signer: string; why: string }[];
}

/**
 * Verify refs documents from a peer for this repository: each must be well signed and name this
 * repository. Returns the verified ones; the caller decides what a rejection costs the peer.
 */
export function verifyRefsDocs(state: RepoState, docs: Uint8Array[]): AcceptedRefs {
  const out: AcceptedRefs = { docs: [], rejected: [] };
  for (const bytes of docs) {
    try {
      const doc = decodeSignedRefs(bytes);
      if (!idEquals(doc.repo, state.id)) throw new ShoalError('PEER_ERROR', 'refs for another repository');
      out.docs.push(doc);
    } catch (err) {
      out.rejected.push({ signer: '?', why: (err as Error).message });
    }
  }
  return out;
}

/** The canonical refs: the newest document signed by a delegate. */
export function canonicalRefs(state: RepoState, docs: SignedRefs[]): SignedRefs | undefined {
  let best: SignedRefs | undefined;
  for (const d of docs) {
    if (!isDelegate(state.identity, d.signer)) continue;
    if (!best || d.time > best.time || (d.time === best.time && d.seq > best.seq)) best = d;
  }
  return best;
}

function keyList(value: string | undefined): string[] {
  return (value ?? '')
    .split(/[\s,]+/)
    .map((s) => accessKey(s.trim()))
    .filter((k): k is string => k !== null);
}

/**
 * The public key (hex) an entry of access.readers or access.writers names: the key in hex, as
 * `shoal id --json` prints it, or the peer id (`12D3KooW...`) that `shoal id`, `peers` and error
 * messages show. Null for anything else.
 */
export function accessKey(entry: string): string | null {
  if (/^[0-9a-f]{64}$/i.test(entry)) return entry.toLowerCase();
  if (!/^12D3KooW[1-9A-HJ-NP-Za-km-z]+$/.test(entry)) return null;
  try {
    return Buffer.from(publicKeyBytesOfPeer(entry)).toString('hex');
  } catch {
    return null;
  }
}

/** Whether `key` may read: anyone for a public repository, else delegates and listed readers. */
export function mayRead(repo: Repository, state: RepoState, key: Uint8Array): boolean {
  if (state.identity.visibility === 'public') return true;
  if (isDelegate(state.identity, key)) return true;
  const hex = toHex(key);
  return (
    keyList(repo.config('access.readers')).includes(hex) ||
    keyList(repo.config('access.writers')).includes(hex)
  );
}

/** Whether `key` may update branches here by pushing: delegates and listed writers. */
export function mayWrite(repo: Repository, state: RepoState, key: Uint8Array): boolean {
  return writeAccess(repo, state)(key);
}

/** mayWrite for many keys, with the list of writers read once. */
export function writeAccess(repo: Repository, state: RepoState): (key: Uint8Array) => boolean {
  const writers = new Set(keyList(repo.config('access.writers')));
  return (key) => isDelegate(state.identity, key) || writers.has(toHex(key));
}
