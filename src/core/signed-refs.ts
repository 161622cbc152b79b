// Signed refs: one signer's view of a repository's branches and tags, with a sequence number
// that only grows. Canonical refs are those a delegate signed; a peer never accepts a lower
// sequence than one it has seen from the same signer.

import { decodeCanonical, encodeCanonical } from './encoding.ts';
import { ShoalError } from './errors.ts';
import { hashObject, ID_LENGTH, type ObjectId } from './id.ts';
import { FORMAT_VERSION } from './objects.ts';
import { signBytes, verifyBytes } from './signing.ts';

export interface SignedRefs {
  repo: ObjectId;
  signer: Uint8Array;
  seq: number;
  time: number;
  refs: Map<string, ObjectId>; // 'refs/heads/main' -> commit id
  signature: Uint8Array;
}

function body(doc: Omit<SignedRefs, 'signature'>): Record<string, unknown> {
  const refs = [...doc.refs.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    t: 'refs',
    v: FORMAT_VERSION,
    repo: doc.repo,
    signer: doc.signer,
    seq: doc.seq,
    time: doc.time,
    refs,
  };
}

export function signRefs(seed: Uint8Array, doc: Omit<SignedRefs, 'signature'>): SignedRefs {
  return { ...doc, signature: signBytes(seed, encodeCanonical(body(doc))) };
}

export function encodeSignedRefs(doc: SignedRefs): { id: ObjectId; bytes: Uint8Array } {
  const bytes = encodeCanonical({ ...body(doc), sig: doc.signature });
  return { id: hashObject('refs', bytes), bytes };
}

/** Decode and check the signature; throws BAD_SIGNATURE when it does not verify. */
export function decodeSignedRefs(bytes: Uint8Array): SignedRefs {
  const bad = (why: string): never => {
    throw new ShoalError('CORRUPT_OBJECT', `signed refs: ${why}`);
  };
  const m = decodeCanonical(bytes, 'signed refs') as Record<string, unknown>;
  if (typeof m !== 'object' || m === null || m.t !== 'refs') bad('not a signed refs document');
  if (m.v !== FORMAT_VERSION)
    throw new ShoalError('UNSUPPORTED_FORMAT', `signed refs version ${String(m.v)}`);
  const isId = (x: unknown): x is Uint8Array => x instanceof Uint8Array && x.length === ID_LENGTH;
  if (!isId(m.repo)) bad('bad repository id');
  if (!(m.signer instanceof Uint8Array) || m.signer.length !== 32) bad('bad signer');
  if (typeof m.seq !== 'number' || !Number.isSafeInteger(m.seq) || m.seq < 0) bad('bad sequence');
  if (typeof m.time !== 'number' || !Number.isSafeInteger(m.time)) bad('bad time');
  if (!Array.isArray(m.refs)) bad('bad refs');
  const refs = new Map<string, ObjectId>();
  for (const pair of m.refs as unknown[]) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || !isId(pair[1]))
      bad('bad ref');
    const [name, id] = pair as [string, Uint8Array];
    if (!/^refs\/(heads|tags)\/[^\0]+$/.test(name) || refs.has(name)) bad(`bad ref name '${name}'`);
    refs.set(name, id);
  }
  if (!(m.sig instanceof Uint8Array) || m.sig.length !== 64) bad('bad signature');
  const doc: SignedRefs = {
    repo: m.repo as Uint8Array,
    signer: m.signer as Uint8Array,
    seq: m.seq as number,
    time: m.time as number,
    refs,
    signature: m.sig as Uint8Array,
  };
  if (!verifyBytes(doc.signer, encodeCanonical(body(doc)), doc.signature)) {
    throw new ShoalError('BAD_SIGNATURE', 'signed refs: the signature does not verify');
  }
  return doc;
}
