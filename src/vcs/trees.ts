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
import { namesRepoDir, type ObjectStore, type PackSession } from '../store/index.ts';

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
  let entries = readTree(objects, tree).entries;
  if (entries.some((e) => e.kind === 'dir')) {
    entries = entries
      .map((e) => ({ name: e.name, dir: e.kind === 'dir', e }))
      .sort(comparePathKeys)
      .map((k) => k.e);
  }
  for (const e of entries) {
    // shoal never records its own directory; a tree that does was made to write into it.
    if (prefix === '' && namesRepoDir(e.name)) {
      throw new ShoalError(
        'CORRUPT_OBJECT',
        `tree ${toHex(tree)} has an entry named '${e.name}' at the root, which names the repository's own directory`,
      );
    }
    const path = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.kind === 'dir') yield* flatten(objects, e.id, path);
    else yield { path, kind: e.kind, executable: e.executable, size: e.size, id: e.id, height: e.height };
  }
}

export function flattenToMap(objects: ObjectStore, tree: ObjectId | undefined): Map<string, FlatEntry> {
  const map = new Map<string, FlatEntry>();
  if (tree) for (const e of flatten(objects, tree)) map.set(e.path, e);
  return map;
}

/** The entry at `path` in a tree ('' gives a synthetic entry for the root directory). */
export function lookup(objects: ObjectStore, tree: ObjectId, path: string): TreeEntry | undefined {
  if (path === '') return { name: '', kind: 'dir', executable: false, size: 0, id: tree, height: 0 };
  let current = tree;
  const parts = path.split('/');
  for (let i = 0; i < parts.length; i++) {
    const entry = readTree(objects, current).entries.find((e) => e.name === parts[i]);
    if (!entry) return undefined;
    if (i === parts.length - 1) return entry;
    if (entry.kind !== 'dir') return undefined;
    current = entry.id;
  }
  return undefined;
}

interface OpenDir {
  name: string;
  entries: TreeEntry[];
}

/**
 * Write the nested trees for files listed so that each directory's paths are together (as
 * sorting the paths by their bytes does); returns the root tree id and size. A directory's tree
 * is written as soon as the list leaves it, so memory holds only the directories still open,
 * however many files there are. Files listed out of that order make a directory appear twice,
 * which encodeTree refuses (INVALID_NAME) rather than write a wrong tree.
 */
export async function writeTrees(
  session: PackSession,
  files: Iterable<FlatEntry>,
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
    open[open.length - 1]!.entries.push({
      name: parts[depth]!,
      kind: f.kind,
      executable: f.executable,
      size: f.size,
      id: f.id,
      height: f.height,
    });
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

function sameContent(a: TreeEntry, b: TreeEntry): boolean {
  return a.kind === b.kind && a.executable === b.executable && idEquals(a.id, b.id);
}

/** Paths that differ between two trees, in path order; identical subtrees are never read. */
export function* diffTrees(
  objects: ObjectStore,
  a: ObjectId | undefined,
  b: ObjectId | undefined,
  prefix = '',
): Generator<TreeChange> {
  if (a && b && idEquals(a, b)) return;
  const left = a ? readTree(objects, a).entries : [];
  const right = b ? readTree(objects, b).entries : [];
  const names = [...new Set([...left.map((e) => e.name), ...right.map((e) => e.name)])].sort((x, y) =>
    Buffer.compare(Buffer.from(x), Buffer.from(y)),
  );
  const lmap = new Map(left.map((e) => [e.name, e]));
  const rmap = new Map(right.map((e) => [e.name, e]));
  for (const name of names) {
    const path = prefix ? `${prefix}/${name}` : name;
    const l = lmap.get(name);
    const r = rmap.get(name);
    if (l && r && sameContent(l, r)) continue;
    const lDir = l?.kind === 'dir' ? l : undefined;
    const rDir = r?.kind === 'dir' ? r : undefined;
    if (lDir || rDir) yield* diffTrees(objects, lDir?.id, rDir?.id, path);
    const lFile = l && l.kind !== 'dir' ? toFlat(path, l) : undefined;
    const rFile = r && r.kind !== 'dir' ? toFlat(path, r) : undefined;
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
