// Metadata object types (file index nodes, trees, commits) with their canonical encodings.
// Every encoded object is a CBOR map carrying its type `t` and format version `v`; decoders
// validate the shape fully, so a well-hashed but malformed object is still rejected.

import { decodeCanonical, encodeCanonical } from './encoding.ts';
import { ShoalError } from './errors.ts';
import { hashObject, ID_LENGTH, type ObjectId, type ObjectKind } from './id.ts';

export const FORMAT_VERSION = 1;

/** One entry of a file index node: a chunk (height 1 node) or a child node, and its byte size. */
export interface IndexEntry {
  id: ObjectId;
  size: number;
}

/** A node of a file's index tree; height 1 lists chunks, height h > 1 lists nodes of h - 1. */
export interface IndexNode {
  height: number;
  entries: IndexEntry[];
}

export type EntryKind = 'file' | 'dir' | 'symlink';

/**
 * A directory entry. For a file, `id` is its content root: the chunk itself when `height` is 0
 * (a file of at most one chunk), else an index node of that height. For a directory, a tree id.
 * For a symlink, the chunk holding the link target.
 */
export interface TreeEntry {
  name: string;
  kind: EntryKind;
  executable: boolean;
  size: number;
  id: ObjectId;
  height: number;
}

export interface Tree {
  entries: TreeEntry[];
}

export interface Author {
  key: Uint8Array; // Ed25519 public key, 32 bytes
  name: string;
}

export interface Commit {
  tree: ObjectId;
  parents: ObjectId[];
  author: Author;
  time: number; // milliseconds since the epoch, UTC
  message: string;
  signature: Uint8Array; // Ed25519 over encodeCommitForSigning()
}

type Raw = Record<string, unknown>;

function fail(what: string, why: string): never {
  throw new ShoalError('CORRUPT_OBJECT', `${what}: ${why}`);
}

function asMap(value: unknown, what: string, type: string): Raw {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    fail(what, 'not a map');
  }
  const m = value as Raw;
  if (m.t !== type) fail(what, `expected a ${type}, found '${String(m.t)}'`);
  if (m.v !== FORMAT_VERSION) {
    throw new ShoalError(
      'UNSUPPORTED_FORMAT',
      `${what}: format version ${String(m.v)} is not supported (this shoal reads version ${FORMAT_VERSION})`,
    );
  }
  return m;
}

function asId(value: unknown, what: string): ObjectId {
  if (!(value instanceof Uint8Array) || value.length !== ID_LENGTH) fail(what, 'bad object id');
  return value;
}

function asUint(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) fail(what, 'bad integer');
  return value;
}

function asString(value: unknown, what: string): string {
  if (typeof value !== 'string') fail(what, 'bad string');
  return value;
}

function asArray(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) fail(what, 'bad list');
  return value;
}

export interface EncodedObject {
  kind: ObjectKind;
  id: ObjectId;
  bytes: Uint8Array;
}

function seal(kind: ObjectKind, value: Raw): EncodedObject {
  const bytes = encodeCanonical(value);
  return { kind, id: hashObject(kind, bytes), bytes };
}

// --- index nodes ---

export const MAX_NODE_ENTRIES = 4096;

export function encodeIndexNode(node: IndexNode): EncodedObject {
  return seal('node', {
    t: 'node',
    v: FORMAT_VERSION,
    h: node.height,
    e: node.entries.map((e) => [e.id, e.size]),
  });
}

export function decodeIndexNode(bytes: Uint8Array): IndexNode {
  const what = 'index node';
  const m = asMap(decodeCanonical(bytes, what), what, 'node');
  const height = asUint(m.h, what);
  if (height < 1 || height > 32) fail(what, 'bad height');
  const list = asArray(m.e, what);
  if (list.length === 0 || list.length > MAX_NODE_ENTRIES) fail(what, 'bad entry count');
  const entries = list.map((item) => {
    const pair = asArray(item, what);
    if (pair.length !== 2) fail(what, 'bad entry');
    return { id: asId(pair[0], what), size: asUint(pair[1], what) };
  });
  return { height, entries };
}

// --- trees ---

const KIND_CODES: Record<EntryKind, string> = { file: 'f', dir: 'd', symlink: 'l' };
const CODE_KINDS: Record<string, EntryKind> = { f: 'file', d: 'dir', l: 'symlink' };

/**
 * Order two strings by their UTF-8 bytes, as trees sort names and SQLite sorts paths, without
 * encoding them. UTF-16 code units already sort that way except that a surrogate (half of a
 * code point above U+FFFF, four bytes in UTF-8) must come after U+E000-U+FFFF (three bytes).
 */
export function compareNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800) x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
    if (y >= 0xd800) y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    return x - y;
  }
  return a.length - b.length;
}

/**
 * The order of full paths ('a/b' against 'a.txt') when walking a directory: a subdirectory's
 * entries sort as if its name ended with '/'. Walking trees and working directories in this
 * order yields paths in byte order, the staging index's order, so they can be merged in step.
 */
export function comparePathKeys(
  a: { name: string; dir: boolean },
  b: { name: string; dir: boolean },
): number {
  return compareNames(a.dir ? `${a.name}/` : a.name, b.dir ? `${b.name}/` : b.name);
}

export function validName(name: string): boolean {
  return (
    name.length > 0 &&
    name !== '.' &&
    name !== '..' &&
    !name.includes('/') &&
    !name.includes('\0') &&
    name.isWellFormed() // a lone surrogate has no UTF-8 form, so no byte order to sort by
  );
}

export function encodeTree(tree: Tree): EncodedObject {
  const entries = [...tree.entries].sort((a, b) => compareNames(a.name, b.name));
  for (let i = 0; i < entries.length; i++) {
    if (!validName(entries[i]!.name))
      throw new ShoalError('INVALID_NAME', `invalid entry name '${entries[i]!.name}'`);
    if (i > 0 && entries[i - 1]!.name === entries[i]!.name) {
      throw new ShoalError('INVALID_NAME', `duplicate entry name '${entries[i]!.name}'`);
    }
  }
  return seal('tree', {
    t: 'tree',
    v: FORMAT_VERSION,
    e: entries.map((e) => [e.name, KIND_CODES[e.kind], e.executable ? 1 : 0, e.size, e.id, e.height]),
  });
}

export function decodeTree(bytes: Uint8Array): Tree {
  const what = 'tree';
  const m = asMap(decodeCanonical(bytes, what), what, 'tree');
  let previous: string | undefined;
  const entries = asArray(m.e, what).map((item): TreeEntry => {
    const row = asArray(item, what);
    if (row.length !== 6) fail(what, 'bad entry');
    const name = asString(row[0], what);
    if (!validName(name)) fail(what, `bad entry name '${name}'`);
    if (previous !== undefined && compareNames(previous, name) >= 0) fail(what, 'entries out of order');
    previous = name;
    const kind = CODE_KINDS[asString(row[1], what)];
    if (!kind) fail(what, 'bad entry kind');
    const exec = asUint(row[2], what);
    if (exec > 1) fail(what, 'bad executable flag');
    return {
      name,
      kind,
      executable: exec === 1,
      size: asUint(row[3], what),
      id: asId(row[4], what),
      height: asUint(row[5], what),
    };
  });
  return { entries };
}

// --- commits ---

function commitBody(c: Omit<Commit, 'signature'>): Raw {
  return {
    t: 'commit',
    v: FORMAT_VERSION,
    tree: c.tree,
    parents: c.parents,
    author: { key: c.author.key, name: c.author.name },
    time: c.time,
    message: c.message,
  };
}

/** The bytes an author signs: the canonical commit without its signature field. */
export function encodeCommitForSigning(c: Omit<Commit, 'signature'>): Uint8Array {
  return encodeCanonical(commitBody(c));
}

export function encodeCommit(c: Commit): EncodedObject {
  return seal('commit', { ...commitBody(c), sig: c.signature });
}

export function decodeCommit(bytes: Uint8Array): Commit {
  const what = 'commit';
  const m = asMap(decodeCanonical(bytes, what), what, 'commit');
  const author = m.author as Raw;
  if (typeof author !== 'object' || author === null) fail(what, 'bad author');
  const key = author.key;
  if (!(key instanceof Uint8Array) || key.length !== 32) fail(what, 'bad author key');
  const sig = m.sig;
  if (!(sig instanceof Uint8Array) || sig.length !== 64) fail(what, 'bad signature');
  return {
    tree: asId(m.tree, what),
    parents: asArray(m.parents, what).map((p) => asId(p, what)),
    author: { key, name: asString(author.name, what) },
    time: asUint(m.time, what),
    message: asString(m.message, what),
    signature: sig,
  };
}
