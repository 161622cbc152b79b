// Builds the index tree of one file from its chunk list, streaming: nodes are emitted as soon
// as they close, so memory is bounded by the tree height, never by file size. A node closes
// after an entry whose id ends in NODE_BOUNDARY_BITS zero bits, so boundaries are content-
// defined and an edit anywhere changes only O(log n) nodes.

import { EMPTY_CHUNK_ID, type ObjectId } from './id.ts';
import { type EncodedObject, encodeIndexNode, type IndexEntry, MAX_NODE_ENTRIES } from './objects.ts';

export const NODE_BOUNDARY_BITS = 6; // 64 entries per node on average
const BOUNDARY_MASK = (1 << NODE_BOUNDARY_BITS) - 1;

export interface FileRoot {
  id: ObjectId;
  height: number; // 0: id is the single chunk; h > 0: id is an index node of height h
  size: number;
}

export function isNodeBoundary(id: ObjectId): boolean {
  return (id[id.length - 1]! & BOUNDARY_MASK) === 0;
}

export class FileIndexBuilder {
  // levels[k] holds the open entries of the node of height k + 1
  private readonly levels: IndexEntry[][] = [];
  private readonly emit: (node: EncodedObject) => void;
  private size = 0;
  private count = 0;
  // The first chunk waits until a second arrives, so a file of one chunk gets no index node.
  private first: IndexEntry | null = null;

  constructor(emit: (node: EncodedObject) => void) {
    this.emit = emit;
  }

  addChunk(id: ObjectId, length: number): void {
    this.size += length;
    this.count++;
    const entry = { id, size: length };
    if (this.count === 1) {
      this.first = entry;
      return;
    }
    if (this.count === 2) this.push(0, this.first!);
    this.push(0, entry);
  }

  private push(level: number, entry: IndexEntry): void {
    let open = this.levels[level];
    if (!open) {
      open = [];
      this.levels[level] = open;
    }
    open.push(entry);
    if (isNodeBoundary(entry.id) || open.length >= MAX_NODE_ENTRIES) this.close(level);
  }

  private close(level: number): void {
    const entries = this.levels[level]!;
    this.levels[level] = [];
    const node = encodeIndexNode({ height: level + 1, entries });
    this.emit(node);
    let size = 0;
    for (const e of entries) size += e.size;
    this.push(level + 1, { id: node.id, size });
  }

  finish(): FileRoot {
    if (this.count === 0) return { id: EMPTY_CHUNK_ID, height: 0, size: 0 };
    if (this.count === 1) return { id: this.first!.id, height: 0, size: this.size };
    for (let level = 0; ; level++) {
      const open = this.levels[level] ?? [];
      const higher = this.levels.slice(level + 1).some((l) => l.length > 0);
      if (!higher) {
        if (open.length === 0) return { id: EMPTY_CHUNK_ID, height: 0, size: 0 };
        if (open.length === 1) return { id: open[0]!.id, height: level, size: this.size };
      }
      if (open.length > 0) this.close(level);
    }
  }
}
