// The repository identity document. Its id (BLAKE3 in the `repo` domain over its canonical
// encoding) is the repository's stable name, `shoal://<id>`, whoever serves it.

import { decodeCanonical, encodeCanonical } from './encoding.ts';
import { ShoalError } from './errors.ts';
import { hashObject, type ObjectId, toHex } from './id.ts';
import { FORMAT_VERSION } from './objects.ts';

export type Visibility = 'public' | 'private';

export interface RepoIdentity {
  name: string;
  created: number; // ms since the epoch
  delegates: Uint8Array[]; // Ed25519 public keys allowed to sign canonical refs
  threshold: number; // signatures needed; 1 in this version
  visibility: Visibility;
}

export function encodeRepoIdentity(doc: RepoIdentity): { id: ObjectId; bytes: Uint8Array } {
  const bytes = encodeCanonical({
    t: 'repo',
    v: FORMAT_VERSION,
    name: doc.name,
    created: doc.created,
    delegates: doc.delegates,
    threshold: doc.threshold,
    visibility: doc.visibility,
  });
  return { id: hashObject('repo', bytes), bytes };
}

export function decodeRepoIdentity(bytes: Uint8Array): RepoIdentity {
  const bad = (why: string): never => {
    throw new ShoalError('CORRUPT_OBJECT', `repository identity: ${why}`);
  };
  const m = decodeCanonical(bytes, 'repository identity') as Record<string, unknown>;
  if (typeof m !== 'object' || m === null || m.t !== 'repo') bad('not a repository identity');
  if (m.v !== FORMAT_VERSION) {
    throw new ShoalError('UNSUPPORTED_FORMAT', `repository identity version ${String(m.v)} is not supported`);
  }
  if (typeof m.name !== 'string') bad('bad name');
  if (typeof m.created !== 'number' || !Number.isSafeInteger(m.created)) bad('bad creation time');
  if (!Array.isArray(m.delegates) || m.delegates.length === 0) bad('no delegates');
  const delegates = (m.delegates as unknown[]).map((k) => {
    if (!(k instanceof Uint8Array) || k.length !== 32) bad('bad delegate key');
    return k as Uint8Array;
  });
  if (m.threshold !== 1) bad('unsupported threshold');
  if (m.visibility !== 'public' && m.visibility !== 'private') bad('bad visibility');
  return {
    name: m.name as string,
    created: m.created as number,
    delegates,
    threshold: 1,
    visibility: m.visibility as Visibility,
  };
}

export function repoUrl(id: ObjectId): string {
  return `shoal://${toHex(id)}`;
}

export function isDelegate(doc: RepoIdentity, key: Uint8Array): boolean {
  return doc.delegates.some((d) => Buffer.compare(d, key) === 0);
}
