// Store an in-memory byte string as file content (chunks and index nodes), as add does for a
// working file: used for the result of a clean line merge, which exists only in memory.

import type { EncodedObject } from '../core/index.ts';
import {
  type ChunkerParams,
  cutRule,
  FileIndexBuilder,
  type FileRoot,
  findCut,
  hashChunk,
} from '../core/index.ts';
import type { PackSession } from '../store/index.ts';

export async function storeBytes(
  session: PackSession,
  bytes: Uint8Array,
  chunker: ChunkerParams,
): Promise<FileRoot> {
  const nodes: EncodedObject[] = [];
  const builder = new FileIndexBuilder((node) => nodes.push(node));
  const rule = cutRule(chunker);
  let pos = 0;
  while (pos < bytes.length) {
    const len = findCut(bytes, pos, bytes.length, rule);
    const chunk = bytes.subarray(pos, pos + len);
    const id = hashChunk(chunk);
    builder.addChunk(id, len);
    await session.putChunk(id, chunk);
    pos += len;
  }
  const root = builder.finish();
  if (bytes.length === 0) await session.putChunk(root.id, bytes);
  for (const n of nodes) await session.putObject(n);
  return root;
}
