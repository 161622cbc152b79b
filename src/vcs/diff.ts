// `diff`: what changed between two states (two commits, a commit and the staging index, or
// either and the working tree), per path: added, deleted, modified, or renamed (the same content
// id under a new path); sizes before and after; for text files under 1 MiB a unified diff; for
// the others how many bytes of chunks differ, found by opening only the index nodes that differ.

import { join } from 'node:path';
import {
  compareNames,
  decodeIndexNode,
  type EncodedObject,
  idEquals,
  type ObjectId,
  toHex,
} from '../core/index.ts';
import type { PackSession, Repository } from '../store/index.ts';
import { stageSymlink, stampMatches, underAny } from './add.ts';
import { type ChunkDiff, diffChunks, type NodeReader } from './chunk-diff.ts';
import { contentChunks } from './content.ts';
import { ingestFile } from './ingest.ts';
import { decodeText, diffLines, splitLines, unifiedHunks } from './line-diff.ts';
import {
  commitTree,
  diffTrees,
  type FlatEntry,
  findRenames,
  flatten,
  type RenameChange,
  sameEntry,
  stagedFile,
  type TreeChange,
} from './trees.ts';
import { isExecutable, lstatOrNull, readRegularFile } from './worktree.ts';

/** Text files smaller than this get a line diff; larger ones are compared by chunks. */
export const TEXT_LIMIT = 1024 * 1024;

/** A commit (null: the empty tree of an unborn branch), the staging index, or the working tree. */
export type DiffEnd = { commit: ObjectId | null } | { index: true } | { worktree: true };

export interface DiffOptions {
  from: DiffEnd;
  to: DiffEnd;
  /** Repository-relative paths to limit the diff to ('' or none: everything). */
  paths?: string[];
  /** Compute unified diffs of text files (default true). */
  patches?: boolean;
}

export type FileChange = 'added' | 'deleted' | 'modified' | 'renamed';

export interface FileDiff {
  path: string;
  oldPath: string | null; // for a rename
  change: FileChange;
  kind: FlatEntry['kind'];
  oldSize: number | null;
  newSize: number | null;
  oldId: ObjectId | null;
  newId: ObjectId | null;
  oldExecutable: boolean | null;
  newExecutable: boolean | null;
  /** False for small UTF-8 text files, which get `lines` and `patch`; true for the rest. */
  binary: boolean;
  lines: { added: number; removed: number } | null;
  patch: string | null;
  chunks: ChunkDiff | null;
}

export interface DiffSummary {
  files: number;
  added: number;
  deleted: number;
  modified: number;
  renamed: number;
  bytesBefore: number;
  bytesAfter: number;
  linesAdded: number;
  linesRemoved: number;
  chunkBytesAdded: number;
  chunkBytesRemoved: number;
  nodesRead: number;
}

export interface DiffResult {
  files: FileDiff[];
  summary: DiffSummary;
}

/** A file of one side of the diff; `onDisk`: its bytes are to be read from the working tree. */
type SideEntry = FlatEntry & { onDisk?: true };

// ingestFile stores what it chunks through a PackSession; this stand-in keeps only the index
// nodes, in memory, so a working file can be compared chunk-wise without storing anything.
function nodeCapture(nodes: Map<string, Uint8Array>): PackSession {
  const capture = {
    putChunk: async (): Promise<boolean> => false,
    putObject: async (o: EncodedObject): Promise<boolean> => {
      nodes.set(toHex(o.id), o.bytes);
      return true;
    },
  };
  return capture as unknown as PackSession;
}

/**
 * The files of one end of the diff below `filter`, in path order, read as they are needed: a
 * tree, the staging index, or the working tree (the index's files, each read only when its stat
 * stamp does not vouch for it; files gone from the working tree are left out).
 */
async function* sideFiles(
  repo: Repository,
  end: DiffEnd,
  filter: string[],
  nodes: Map<string, Uint8Array>,
): AsyncGenerator<SideEntry> {
  if ('commit' in end) {
    if (!end.commit) return;
    for (const e of flatten(repo.objects, commitTree(repo.objects, end.commit))) {
      if (underAny(e.path, filter)) yield e;
    }
    return;
  }
  for (const s of repo.staging.entries()) {
    if (!underAny(s.path, filter)) continue;
    const flat = stagedFile(s);
    if ('index' in end) {
      yield flat;
      continue;
    }
    const abs = join(repo.root, s.path);
    const stat = lstatOrNull(abs);
    if (!stat || !(stat.isFile() || stat.isSymbolicLink())) continue; // deleted in the working tree
    const work = { path: s.path, abs, stat, kind: stat.isFile() ? ('file' as const) : ('symlink' as const) };
    if (stampMatches(s, work)) yield flat;
    else if (work.kind === 'symlink') {
      const link = await stageSymlink(work, null);
      yield { ...flat, kind: 'symlink', executable: false, ...link, height: 0, onDisk: true };
    } else {
      const ing = await ingestFile(abs, { chunker: repo.chunker, session: nodeCapture(nodes) });
      yield {
        path: s.path,
        kind: 'file',
        executable: isExecutable(ing.stat),
        size: ing.size,
        id: ing.id,
        height: ing.height,
        onDisk: true,
      };
    }
  }
}

/** Two path-ordered streams side by side, each path once (alongside() for async streams). */
async function* alongsideAsync<A extends { path: string }, B extends { path: string }>(
  as: AsyncIterable<A>,
  bs: AsyncIterable<B>,
): AsyncGenerator<[A | undefined, B | undefined]> {
  const ai = as[Symbol.asyncIterator]();
  const bi = bs[Symbol.asyncIterator]();
  let a = await ai.next();
  let b = await bi.next();
  while (!a.done || !b.done) {
    const order = a.done ? 1 : b.done ? -1 : compareNames(a.value.path, b.value.path);
    if (order < 0) {
      yield [a.value as A, undefined];
      a = await ai.next();
    } else if (order > 0) {
      yield [undefined, b.value as B];
      b = await bi.next();
    } else {
      yield [a.value as A, b.value as B];
      a = await ai.next();
      b = await bi.next();
    }
  }
}

export async function diff(repo: Repository, opts: DiffOptions): Promise<DiffResult> {
  const filter = opts.paths && opts.paths.length > 0 ? opts.paths : [''];
  const nodes = new Map<string, Uint8Array>();
  let changes: TreeChange[] = [];
  if ('commit' in opts.from && 'commit' in opts.to) {
    const a = opts.from.commit ? commitTree(repo.objects, opts.from.commit) : undefined;
    const b = opts.to.commit ? commitTree(repo.objects, opts.to.commit) : undefined;
    for (const c of diffTrees(repo.objects, a, b)) if (underAny(c.path, filter)) changes.push(c);
  } else {
    // Both ends streamed side by side: memory holds the changes, not every path.
    const a = sideFiles(repo, opts.from, filter, nodes);
    const b = sideFiles(repo, opts.to, filter, nodes);
    for await (const [o, n] of alongsideAsync(a, b)) {
      if (o && n && sameEntry(o, n)) continue;
      const path = (o ?? n)!.path;
      changes.push(
        o && n
          ? { path, change: 'modified', old: o, new: n }
          : o
            ? { path, change: 'deleted', old: o }
            : { path, change: 'added', new: n },
      );
    }
  }
  changes = findRenames(changes);

  const readNode: NodeReader = (id) => {
    const held = nodes.get(toHex(id));
    return decodeIndexNode(held ?? repo.objects.read(id, 'node'));
  };
  const textOf = (e: SideEntry | undefined): string | null => {
    if (!e) return '';
    if (e.kind !== 'file' || e.size >= TEXT_LIMIT) return null;
    // A working file read without blocking: a FIFO put in its place since is not text.
    const bytes = e.onDisk
      ? readRegularFile(join(repo.root, e.path))
      : Buffer.concat([...contentChunks(repo.objects, e)]);
    return bytes === null ? null : decodeText(bytes);
  };

  const files: FileDiff[] = [];
  for (const c of changes as RenameChange[]) {
    const o = c.old;
    const n = c.new;
    const f: FileDiff = {
      path: c.path,
      oldPath: c.oldPath ?? null,
      change: c.renamed ? 'renamed' : c.change,
      kind: (n ?? o)!.kind,
      oldSize: o?.size ?? null,
      newSize: n?.size ?? null,
      oldId: o?.id ?? null,
      newId: n?.id ?? null,
      oldExecutable: o?.executable ?? null,
      newExecutable: n?.executable ?? null,
      binary: false,
      lines: null,
      patch: null,
      chunks: null,
    };
    files.push(f);
    if (o && n && idEquals(o.id, n.id)) continue; // a rename or a mode change: no content diff
    const before = textOf(o);
    const after = textOf(n);
    if (before !== null && after !== null) {
      const a = splitLines(before);
      const b = splitLines(after);
      const blocks = diffLines(a, b);
      let added = 0;
      let removed = 0;
      for (const k of blocks) {
        added += k.b1 - k.b0;
        removed += k.a1 - k.a0;
      }
      f.lines = { added, removed };
      if (opts.patches !== false) f.patch = unifiedHunks(a, b, blocks);
    } else {
      f.binary = true;
      if ((!o || o.kind === 'file') && (!n || n.kind === 'file'))
        f.chunks = diffChunks(readNode, o ?? null, n ?? null);
    }
  }

  const summary: DiffSummary = {
    files: files.length,
    added: 0,
    deleted: 0,
    modified: 0,
    renamed: 0,
    bytesBefore: 0,
    bytesAfter: 0,
    linesAdded: 0,
    linesRemoved: 0,
    chunkBytesAdded: 0,
    chunkBytesRemoved: 0,
    nodesRead: 0,
  };
  for (const f of files) {
    summary[f.change]++;
    summary.bytesBefore += f.oldSize ?? 0;
    summary.bytesAfter += f.newSize ?? 0;
    summary.linesAdded += f.lines?.added ?? 0;
    summary.linesRemoved += f.lines?.removed ?? 0;
    summary.chunkBytesAdded += f.chunks?.addedBytes ?? 0;
    summary.chunkBytesRemoved += f.chunks?.removedBytes ?? 0;
    summary.nodesRead += f.chunks?.nodesRead ?? 0;
  }
  return { files, summary };
}
