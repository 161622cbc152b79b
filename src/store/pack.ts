// Pack file format: an 8-byte magic, then records appended one after another. A record is a
// 44-byte header (magic, type, codec, stored length, raw size, id) and the stored bytes. Packs
// are append-only; the SQLite index says how many bytes of each pack are committed.

import { ShoalError } from '../core/index.ts';

export const PACK_MAGIC = Buffer.from('SHOALPK1', 'ascii');
export const RECORD_MAGIC = 0xc5;
export const RECORD_HEADER = 44;

export const OBJECT_TYPES = ['chunk', 'node', 'tree', 'commit', 'repo', 'refs'] as const;
export type StoredType = (typeof OBJECT_TYPES)[number];

export function typeCode(type: StoredType): number {
  return OBJECT_TYPES.indexOf(type);
}

export function typeName(code: number): StoredType {
  const t = OBJECT_TYPES[code];
  if (!t) throw new ShoalError('CORRUPT_OBJECT', `unknown object type code ${code}`);
  return t;
}

export const CODEC_RAW = 0;
export const CODEC_ZSTD = 1;

export interface RecordHeader {
  type: number;
  codec: number;
  stored: number;
  size: number;
  id: Uint8Array;
}

export function writeRecordHeader(out: Buffer, at: number, h: RecordHeader): void {
  out[at] = RECORD_MAGIC;
  out[at + 1] = h.type;
  out[at + 2] = h.codec;
  out[at + 3] = 0;
  out.writeUInt32LE(h.stored, at + 4);
  out.writeUInt32LE(h.size, at + 8);
  out.set(h.id, at + 12);
}

export function readRecordHeader(buf: Buffer, at: number): RecordHeader | null {
  if (buf[at] !== RECORD_MAGIC || buf[at + 3] !== 0) return null;
  return {
    type: buf[at + 1]!,
    codec: buf[at + 2]!,
    stored: buf.readUInt32LE(at + 4),
    size: buf.readUInt32LE(at + 8),
    id: buf.subarray(at + 12, at + 44),
  };
}

export function packFileName(n: number): string {
  return `pack-${String(n).padStart(6, '0')}.pack`;
}
