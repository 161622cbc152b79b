// Reading and writing trees: flatten a commit's tree into paths, build nested trees from the
// staging index, find one path, and diff two trees walking only the subtrees that differ.

import {
  decodeCommit,
  decodeTree,
  type EntryKind,
  encodeTree,
  idEquals,
  type ObjectId,
  type Tree,
  type TreeEntry,
} from '../core/index.ts';
import type { ObjectStore, PackSession } from '../store/index.ts';

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

/** Every file and symlink below a tree, in path order. */
export function* flatten(objects: ObjectStore, tree: ObjectId, prefix = ''): Generator<FlatEntry> {
  for (const e of readTree(objects, tree).entries) {
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

interface DirNode {
  files: TreeEntry[];
  dirs: Map<string, DirNode>;
}

/** Write the nested trees for a sorted list of files; returns the root tree id and size. */
export async function writeTrees(
  session: PackSession,
  files: Iterable<FlatEntry>,
): Promise<{ id: ObjectId; size: number }> {
  const root: DirNode = { files: [], dirs: new Map() };
  for (const f of files) {
    const parts = f.path.split('/');
    let node = root;
    for (const part of parts.slice(0, -1)) {
      let child = node.dirs.get(part);
      if (!child) {
        child = { files: [], dirs: new Map() };
        node.dirs.set(part, child);
      }
      node = child;
    }
    node.files.push({
      name: parts[parts.length - 1]!,
      kind: f.kind,
      executable: f.executable,
      size: f.size,
      id: f.id,
      height: f.height,
    });
  }
  const write = async (node: DirNode): Promise<{ id: ObjectId; size: number }> => {
    const entries = [...node.files];
    for (const [name, child] of node.dirs) {
      const sub = await write(child);
      entries.push({ name, kind: 'dir', executable: false, size: sub.size, id: sub.id, height: 0 });
    }
    const encoded = encodeTree({ entries });
    await session.putObject(encoded);
    return { id: encoded.id, size: entries.reduce((n, e) => n + e.size, 0) };
  };
  return write(root);
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
