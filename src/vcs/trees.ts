// Reading and writing trees: flatten a commit's tree into paths, build nested trees from the
// staging index, find one path, and diff two trees walking only the subtrees that differ.

import {
  comparePathKeys,
  decodeCommit,
  decodeTree,
  type EntryKind,
  encodeTree,
  idEquals,
  type ObjectId,
  ShoalError,
  type Tree,
  type TreeEntry,
  toHex,
} from '../core/index.ts';
import {
  namesRepoDir,
  type ObjectStore,
  type PackSession,
  REPO_DIR,
  type StagedEntry,
} from '../store/index.ts';

export interface FlatEntry {
  path: string;
  kind: Exclude<EntryKind, 'dir'>;
  executable: boolean;
  size: number;
  id: ObjectId;
  height: number;
}

export function readTree(objects: ObjectStore, id: ObjectId): Tree {
  return decodeTree(objects.read(id, 'tree'));
}

export function commitTree(objects: ObjectStore, commit: ObjectId): ObjectId {
  return decodeCommit(objects.read(commit, 'commit')).tree;
}

/**
 * Every file and symlink below a tree, in path order: the byte order of the full paths, which is
 * the staging index's order (a subdirectory's entries sort as if its name ended with '/').
 */
export function* flatten(objects: ObjectStore, tree: ObjectId, prefix = ''): Generator<FlatEntry> {
  // shoal never records its own directory; a tree that does was made to write into it.
  const list = (id: ObjectId, at: string) =>
    checkedEntries(id, inPathOrder(readTree(objects, id).entries), at);
  for (const { path, entry } of depthFirst(tree, prefix, list)) yield toFlat(path, entry);
}

/**
 * The files and symlinks below tree `root` (at `rootPath`), depth first in the order `list`
 * gives each tree's entries (null: a tree to pass over), a subtree where it stands. With a stack
 * of its own, not recursion: a tree nested a few thousand levels deep (one a peer made, or a
 * working tree near PATH_MAX) would exhaust the call stack.
 */
export function* depthFirst(
  root: ObjectId,
  rootPath: string,
  list: (id: ObjectId, path: string) => TreeEntry[] | null,
): Generator<{ path: string; entry: TreeEntry }> {
  const stack: { path: string; entries: TreeEntry[]; next: number }[] = [];
  const open = (id: ObjectId, path: string): void => {
    const entries = list(id, path);
    if (entries) stack.push({ path, entries, next: 0 });
  };
  open(root, rootPath);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const entry = top.entries[top.next++];
    if (entry === undefined) {
      stack.pop();
      continue;
    }
    const path = top.path ? `${top.path}/${entry.name}` : entry.name;
    if (entry.kind === 'dir') open(entry.id, path);
    else yield { path, entry };
  }
}

/** The entry at `path` in a tree ('' gives a synthetic entry for the root directory). */
export function lookup(objects: ObjectStore, tree: ObjectId, path: string): TreeEntry | undefined {
  return new TreeReader(objects, tree).entry(path);
}

/** The directory of a repository path ('' for the root). */
export function parentDir(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

/** Whether two entries (of a tree, a flattened tree or the index) have the same content and mode. */
export function sameEntry(
  a: Pick<TreeEntry, 'kind' | 'executable' | 'id'> | undefined,
  b: Pick<TreeEntry, 'kind' | 'executable' | 'id'> | undefined,
): boolean {
  if (!a || !b) return a === b;
  return a.kind === b.kind && a.executable === b.executable && idEquals(a.id, b.id);
}

/** A staging index entry as a file of a tree. */
export function stagedFile(e: StagedEntry): FlatEntry {
  const kind = e.kind === 'symlink' ? 'symlink' : 'file';
  return { path: e.path, kind, executable: e.executable, size: e.size, id: e.id, height: e.height };
}

interface OpenDir {
  name: string;
  entries: TreeEntry[];
}

/** A whole directory that is already stored, given to writeTrees in place of its files. */
export interface StoredSubtree {
  path: string;
  kind: 'dir';
  id: ObjectId;
  size: number;
}

/**
 * Write the nested trees for files listed so that each directory's paths are together (as
 * sorting the paths by their bytes does); returns the root tree id and size. A directory's tree
 * is written as soon as the list leaves it, so memory holds only the directories still open,
 * however many files there are. Files listed out of that order make a directory appear twice,
 * which encodeTree refuses (INVALID_NAME) rather than write a wrong tree. A StoredSubtree stands
 * for all the files below its path, at the place they would have in the list.
 */
export async function writeTrees(
  session: PackSession,
  files: Iterable<FlatEntry | StoredSubtree>,
): Promise<{ id: ObjectId; size: number }> {
  const open: OpenDir[] = [{ name: '', entries: [] }]; // the root, then the current directory's ancestors
  const write = async (dir: OpenDir): Promise<{ id: ObjectId; size: number }> => {
    const encoded = encodeTree({ entries: dir.entries });
    await session.putObject(encoded);
    return { id: encoded.id, size: dir.entries.reduce((n, e) => n + e.size, 0) };
  };
  const closeTop = async (): Promise<void> => {
    const dir = open.pop()!;
    const { id, size } = await write(dir);
    open[open.length - 1]!.entries.push({
      name: dir.name,
      kind: 'dir',
      executable: false,
      size,
      id,
      height: 0,
    });
  };
  for (const f of files) {
    const parts = f.path.split('/');
    const depth = parts.length - 1; // directories above the file
    let common = 0;
    while (common < depth && common + 1 < open.length && open[common + 1]!.name === parts[common]) common++;
    while (open.length > common + 1) await closeTop();
    for (let i = common; i < depth; i++) open.push({ name: parts[i]!, entries: [] });
    open[open.length - 1]!.entries.push(
      f.kind === 'dir'
        ? { name: parts[depth]!, kind: 'dir', executable: false, size: f.size, id: f.id, height: 0 }
        : {
            name: parts[depth]!,
            kind: f.kind,
            executable: f.executable,
            size: f.size,
            id: f.id,
            height: f.height,
          },
    );
  }
  while (open.length > 1) await closeTop();
  return write(open[0]!);
}

export type ChangeKind = 'added' | 'deleted' | 'modified';

export interface TreeChange {
  path: string;
  change: ChangeKind;
  old?: FlatEntry;
  new?: FlatEntry;
}

/** A change whose sides are named by kind, content id and size: enough to pair renames. */
interface SidedChange {
  path: string;
  change: ChangeKind;
  old?: { kind: string; id: ObjectId; size: number };
  new?: { kind: string; id: ObjectId; size: number };
}

/** A change, or a rename: a deletion and an addition of the same content, paired. */
export type RenameChange<C extends SidedChange = TreeChange> = C & { oldPath?: string; renamed?: boolean };

/**
 * Pair deletions with additions of the same content (kind and id): those are renames, as diff,
 * show and status report them. The rest are returned as they are, all in path order.
 */
export function findRenames<C extends SidedChange>(changes: C[]): RenameChange<C>[] {
  const key = (e: { kind: string; id: ObjectId }): string => `${e.kind}:${Buffer.from(e.id).toString('hex')}`;
  // The added files of each content, in order, and how many of them are paired already: the
  // next deleted file of that content takes the next one. (Copying the list for each addition
  // and scanning it for an unpaired one was quadratic: 40,000 moved files of one content took
  // 23 s to pair.)
  const added = new Map<string, { files: C[]; taken: number }>();
  for (const c of changes) {
    // Every empty file is the same content: no sign of a move (git leaves them out too).
    if (c.change !== 'added' || c.new!.size === 0) continue;
    const k = key(c.new!);
    const same = added.get(k);
    if (same) same.files.push(c);
    else added.set(k, { files: [c], taken: 0 });
  }
  const paired = new Set<C>();
  const out: RenameChange<C>[] = [];
  for (const c of changes) {
    if (c.change !== 'deleted') continue;
    const same = added.get(key(c.old!));
    const match = same?.files[same.taken];
    if (!match) continue;
    same!.taken++;
    paired.add(match);
    paired.add(c);
    out.push({ ...match, old: c.old, oldPath: c.path, renamed: true });
  }
  for (const c of changes) if (!paired.has(c)) out.push(c);
  return out.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
}

/**
 * Looks paths up in one tree. Lookups that come in path order (a merge's) touch the same few
 * trees again and again, so the most recently used decoded trees are kept, a bounded number.
 */
export class TreeReader {
  private static readonly KEEP = 64;
  private readonly objects: ObjectStore;
  private readonly root: ObjectId;
  private readonly recent = new Map<string, TreeEntry[]>();

  constructor(objects: ObjectStore, root: ObjectId) {
    this.objects = objects;
    this.root = root;
  }

  private entries(id: ObjectId): TreeEntry[] {
    const key = toHex(id);
    let entries = this.recent.get(key);
    if (entries) this.recent.delete(key);
    else entries = readTree(this.objects, id).entries;
    this.recent.set(key, entries); // most recent last
    if (this.recent.size > TreeReader.KEEP) this.recent.delete(this.recent.keys().next().value!);
    return entries;
  }

  /** The entry at `path` (a file, symlink or directory), if any; '' is the root directory. */
  entry(path: string): TreeEntry | undefined {
    if (path === '') return { name: '', kind: 'dir', executable: false, size: 0, id: this.root, height: 0 };
    let current = this.root;
    const parts = path.split('/');
    for (let i = 0; i < parts.length; i++) {
      const e = this.entries(current).find((x) => x.name === parts[i]);
      if (!e || i === parts.length - 1) return e;
      if (e.kind !== 'dir') return undefined;
      current = e.id;
    }
    return undefined;
  }

  /** The files and symlinks directly in the directory `path` (none if it is not one). */
  filesIn(path: string): FlatEntry[] {
    const e = this.entry(path);
    if (e?.kind !== 'dir') return [];
    return this.entries(e.id)
      .filter((x) => x.kind !== 'dir')
      .map((x) => toFlat(path === '' ? x.name : `${path}/${x.name}`, x));
  }

  /** The file or symlink at `path`, if that is what is there. */
  file(path: string): FlatEntry | undefined {
    const e = this.entry(path);
    return e && e.kind !== 'dir' ? toFlat(path, e) : undefined;
  }

  /** Every file and symlink below the directory `path`, in path order (none if it is not one). */
  *filesUnder(path: string): Generator<FlatEntry> {
    const e = this.entry(path);
    if (e?.kind === 'dir') yield* flatten(this.objects, e.id, path);
  }
}

/** A tree's entries in path order: a subdirectory sorts as its name followed by '/'. */
function inPathOrder(entries: TreeEntry[]): TreeEntry[] {
  if (!entries.some((e) => e.kind === 'dir')) return entries; // already in name order
  return entries
    .map((e) => ({ name: e.name, dir: e.kind === 'dir', e }))
    .sort(comparePathKeys)
    .map((k) => k.e);
}

/**
 * Refuse a tree that would write into a repository's own directory (see flatten): at the root,
 * any entry whose name is `.shoal` on some file system; below it, a directory named exactly
 * `.shoal`, where a nested repository keeps its index and packs. The working-tree walk never
 * records either, so such a tree was made by hand, or by a version that still recorded a nested
 * repository's directory; checking it out would overwrite that repository with an old copy.
 */
function checkedEntries(tree: ObjectId, entries: TreeEntry[], prefix: string, nested = true): TreeEntry[] {
  const bad = entries.find((e) =>
    prefix === '' ? namesRepoDir(e.name) : nested && e.kind === 'dir' && e.name === REPO_DIR,
  );
  if (bad && prefix === '') {
    throw new ShoalError(
      'CORRUPT_OBJECT',
      `tree ${toHex(tree)} has an entry named '${bad.name}' at the root, which names the repository's own directory`,
    );
  }
  if (bad) {
    throw new ShoalError(
      'CORRUPT_OBJECT',
      `tree ${toHex(tree)} has a directory '${prefix}/${bad.name}', where a nested repository keeps its data; shoal does not record one`,
    );
  }
  return entries;
}

/**
 * Paths that differ between two trees, in path order (that of flatten and of the staging index);
 * subtrees the two share are never read. A name that is a file on one side and a directory on
 * the other is two paths: the file at the name, the directory's files below it.
 */
export function* diffTrees(
  objects: ObjectStore,
  a: ObjectId | undefined,
  b: ObjectId | undefined,
  prefix = '',
): Generator<TreeChange> {
  if (a && b && idEquals(a, b)) return;
  // The nested-repository check is made on `b`, the side a checkout or merge writes: a commit
  // recorded by a version that still took in a nested repository's directory can be left.
  const read = (t: ObjectId | undefined, at: string, nested: boolean): TreeEntry[] => {
    if (!t) return [];
    return checkedEntries(t, inPathOrder(readTree(objects, t).entries), at, nested);
  };
  const pair = (l: ObjectId | undefined, r: ObjectId | undefined, at: string) => ({
    prefix: at,
    left: read(l, at, false),
    right: read(r, at, true),
    i: 0,
    j: 0,
  });
  const key = (e: TreeEntry): { name: string; dir: boolean } => ({ name: e.name, dir: e.kind === 'dir' });
  // A stack of the directory pairs being compared, not recursion (see flatten).
  const stack = [pair(a, b, prefix)];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const { left, right } = top;
    if (top.i >= left.length && top.j >= right.length) {
      stack.pop();
      continue;
    }
    const order =
      top.i >= left.length
        ? 1
        : top.j >= right.length
          ? -1
          : comparePathKeys(key(left[top.i]!), key(right[top.j]!));
    const l = order <= 0 ? left[top.i++] : undefined;
    const r = order >= 0 ? right[top.j++] : undefined;
    if (l && r && sameEntry(l, r)) continue;
    const name = (l ?? r)!.name;
    const path = top.prefix ? `${top.prefix}/${name}` : name;
    if ((l ?? r)!.kind === 'dir') {
      stack.push(pair(l?.id, r?.id, path));
      continue;
    }
    const lFile = l && toFlat(path, l);
    const rFile = r && toFlat(path, r);
    if (lFile && rFile) yield { path, change: 'modified', old: lFile, new: rFile };
    else if (lFile) yield { path, change: 'deleted', old: lFile };
    else if (rFile) yield { path, change: 'added', new: rFile };
  }
}

function toFlat(path: string, e: TreeEntry): FlatEntry {
  return {
    path,
    kind: e.kind as FlatEntry['kind'],
    executable: e.executable,
    size: e.size,
    id: e.id,
    height: e.height,
  };
}
