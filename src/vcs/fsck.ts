// `fsck`: verify every stored object against its id, then walk everything reachable (refs,
// HEAD, staging index) and check that each object exists, decodes, and that every commit's
// signature holds; last, every signed refs document held (this peer serves them to others).

import {
  decodeCommit,
  decodeIndexNode,
  decodeSignedRefs,
  decodeTree,
  fromHex,
  idEquals,
  isShoalError,
  type ObjectId,
  type TreeEntry,
  toHex,
  verifyCommit,
} from '../core/index.ts';
import { indexProblems, type Repository, type StoredRefsDoc } from '../store/index.ts';
import type { OnProgress } from './progress.ts';
import { depthFirst } from './trees.ts';

export interface FsckProblem {
  id: string;
  problem: string;
}

export interface FsckResult {
  /** Objects stored, each read and checked against its id. */
  objects: number;
  /** Those that failed: unreadable (a pack gone or cut short) or not matching their id. */
  damaged: number;
  /** The bytes of the objects that passed. */
  bytes: number;
  reachable: number;
  problems: FsckProblem[];
}

export function fsck(repo: Repository, onProgress?: OnProgress): FsckResult {
  const problems: FsckProblem[] = [];
  // The index first: where it is damaged, what it lists cannot be trusted (rows can be lost or
  // garbled), and the checks below would report nonsense, or fail on it.
  const damagedIndex = indexProblems(repo.db);
  if (damagedIndex.length > 0) {
    return {
      objects: 0,
      damaged: 0,
      bytes: 0,
      reachable: 0,
      problems: damagedIndex.map((problem) => ({ id: 'index', problem })),
    };
  }
  for (const { pack, problem } of repo.objects.packHeaderProblems()) problems.push({ id: pack, problem });
  const bad = new Set<string>();
  let objects = 0;
  let bytes = 0;
  const totals = repo.objects.totals();
  let done = 0;
  for (const { id, info } of repo.objects.list()) {
    objects++;
    done += info.size;
    try {
      repo.objects.read(id); // (a row gc moved meanwhile is looked up afresh by the store itself)
      bytes += info.size;
    } catch (err) {
      if (!isShoalError(err)) throw err;
      // A gc running meanwhile (it takes no lock from fsck) removed it as unreachable: no damage.
      if (repo.objects.info(id) === undefined) {
        objects--;
        continue;
      }
      problems.push({ id: toHex(id), problem: err.message });
      bad.add(toHex(id));
    }
    onProgress?.({ phase: 'verify', bytesDone: done, bytesTotal: totals.logical, itemsDone: objects });
  }
  // Remembered, so that an add of an intact copy of a file that needs one (or a fetch that
  // brings it) stores it again instead of taking it as already stored.
  repo.objects.recordDamaged([...bad].map(fromHex));

  const visited = new Set<string>();
  const check = (id: ObjectId, what: string, fn: (bytes: Uint8Array) => void): void => {
    const key = toHex(id);
    if (bad.has(key)) affects(key, what);
    if (visited.has(key) || bad.has(key)) return;
    visited.add(key);
    try {
      fn(repo.objects.read(id));
    } catch (err) {
      if (!isShoalError(err)) throw err;
      problems.push({ id: key, problem: `${what}: ${err.message}` });
    }
  };
  // What a damaged object takes with it: each file (or tree) that needs it is named once.
  const named = new Set<string>();
  const affects = (key: string, what: string): void => {
    if (named.has(`${key} ${what}`)) return;
    named.add(`${key} ${what}`);
    problems.push({ id: key, problem: `${what}: needs object ${key}, which is damaged` });
  };
  const content = (id: ObjectId, height: number, what: string): void => {
    if (height === 0) {
      const key = toHex(id);
      if (bad.has(key)) affects(key, what);
      else if (!repo.objects.has(id)) problems.push({ id: key, problem: `${what}: missing chunk` });
      return;
    }
    check(id, what, (b) => {
      for (const e of decodeIndexNode(b).entries) content(e.id, height - 1, what);
    });
  };
  const tree = (root: ObjectId, rootPath: string): void => {
    // Each tree checked once (a damaged or already visited one is not listed again).
    const list = (id: ObjectId, path: string): TreeEntry[] | null => {
      let entries: TreeEntry[] | null = null;
      check(id, `tree ${path || '/'}`, (b) => {
        entries = decodeTree(b).entries;
      });
      return entries;
    };
    for (const { path, entry } of depthFirst(root, rootPath, list))
      content(entry.id, entry.height, `file ${path}`);
  };
  // The identity document the repository serves and clones by (shoal info, shoal://<id>).
  const identity = repo.meta('repo-id');
  if (identity) {
    const id = fromHex(identity);
    if (!repo.objects.has(id))
      problems.push({ id: identity, problem: 'the repository identity document is missing' });
    else check(id, 'repository identity', () => {});
  }
  const pending: ObjectId[] = repo.db
    .prepare('SELECT id FROM refs')
    .all()
    .map((r) => (r as { id: Uint8Array }).id);
  let head: ObjectId | undefined;
  try {
    head = repo.refs.headCommit();
  } catch (err) {
    if (!isShoalError(err, 'CORRUPT_OBJECT')) throw err;
    problems.push({ id: 'HEAD', problem: err.message });
  }
  if (head) pending.push(head);
  while (pending.length > 0) {
    const id = pending.pop()!;
    check(id, 'commit', (b) => {
      const c = decodeCommit(b);
      if (!verifyCommit(c)) problems.push({ id: toHex(id), problem: 'commit signature does not verify' });
      tree(c.tree, '');
      pending.push(...c.parents);
    });
  }
  for (const e of repo.staging.entries()) content(e.id, e.height, `staged file ${e.path}`);
  problems.push(...checkSignedRefs(repo, identity ? fromHex(identity) : null));
  return { objects, damaged: bad.size, bytes, reachable: visited.size, problems };
}

/**
 * The refs documents this repository holds, its own and its peers': each must decode, verify,
 * be the signer's and the sequence number it is filed under, and name this repository. One that
 * does not would be served to peers, who refuse it.
 */
function checkSignedRefs(repo: Repository, repoId: ObjectId | null): FsckProblem[] {
  const problems: FsckProblem[] = [];
  for (const current of repo.signedRefs.all()) {
    const previous = repo.signedRefs.previous(current.signer);
    for (const [stored, which] of [
      [current, 'signed refs'],
      [previous, 'previous signed refs'],
    ] as const) {
      const problem = stored && refsDocProblem(stored, repoId);
      if (problem) problems.push({ id: `refs:${toHex(stored.signer)}`, problem: `${which}: ${problem}` });
    }
  }
  return problems;
}

/**
 * What is wrong with a stored refs document, or null: it must decode and verify, be the signer's
 * and the sequence it is filed under, and name this repository. A document in a format newer
 * than this shoal knows is not damage (a newer shoal reads it). fsck reports these; gc drops them.
 */
export function refsDocProblem(stored: StoredRefsDoc, repoId: ObjectId | null): string | null {
  try {
    const doc = decodeSignedRefs(stored.doc);
    if (!idEquals(doc.signer, stored.signer) || doc.seq !== stored.seq)
      return 'filed under another signer or sequence number';
    if (repoId && !idEquals(doc.repo, repoId)) return 'for another repository';
    return null;
  } catch (err) {
    if (!isShoalError(err)) throw err;
    if (err.code === 'UNSUPPORTED_FORMAT') return null;
    return err.message.replace(/^signed refs: /, '');
  }
}
