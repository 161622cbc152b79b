// The shoal sync protocol (`/shoal/sync/1`): message shapes and their validation. One stream
// is bound to one repository by `hello`; requests carry a number (`req`) so several can be in
// flight, and every response names the request it answers. Raw object bytes travel as frame
// payloads, never inside CBOR. Anything malformed is a PEER_ERROR.

import { ShoalError } from '../core/errors.ts';
import { ID_LENGTH } from '../core/id.ts';
import type { FrameHeader } from './framing.ts';

export const SYNC_PROTOCOL = '/shoal/sync/1';

/** Numeric error codes carried by `error` messages. */
export const WIRE_ERRORS = {
  notFound: 1,
  forbidden: 2,
  badRequest: 3,
  internal: 4,
  notFastForward: 5,
  busy: 6,
  /** A push would overwrite local changes in the receiving peer's checked-out branch. */
  dirtyWorktree: 7,
  /** A merge is under way in the receiving peer's checked-out branch. */
  mergeInProgress: 8,
  /** A checkout in the receiving peer's working tree did not finish. */
  moveInterrupted: 9,
  /** A push would delete the receiving peer's checked-out branch. */
  currentBranch: 10,
} as const;
export type WireError = (typeof WIRE_ERRORS)[keyof typeof WIRE_ERRORS];

/** Most ids one `get` or `have` request may name. */
export const MAX_IDS_PER_REQUEST = 4096;

/** Most signed refs documents one `repo` answer may carry, and the largest one. */
export const MAX_REFS_DOCS = 256;
export const MAX_REFS_DOC_BYTES = 512 * 1024;

/** Most repositories one `repos` answer may list. */
export const MAX_LISTED_REPOS = 256;

export type Request =
  | { type: 'hello'; req: number; repo: Uint8Array | null } // null: the peer's default repository
  | { type: 'get'; req: number; ids: Uint8Array[] }
  | { type: 'have'; req: number; root: Uint8Array; height: number; commit: boolean }
  | {
      type: 'push';
      req: number;
      refs: Uint8Array;
      updates: [string, Uint8Array][];
      /** Refs to delete (a field only pushes that delete send: `[]` when absent). */
      deletes: string[];
      force: boolean;
    }
  | { type: 'list'; req: number }; // which repositories do you serve (to me)? needs no hello

export type Response =
  | { type: 'repo'; req: number; identity: Uint8Array; refs: Uint8Array[] }
  | { type: 'object'; req: number; id: Uint8Array }
  | { type: 'missing'; req: number; id: Uint8Array }
  | { type: 'have-map'; req: number; all: boolean; count: number; bits: Uint8Array }
  | { type: 'pushed'; req: number; updated: string[] }
  | { type: 'repos'; req: number; repos: Uint8Array[] } // identity documents
  | { type: 'error'; req: number; code: number; message: string };

function bad(why: string): never {
  throw new ShoalError('PEER_ERROR', `malformed message: ${why}`);
}

function req(h: FrameHeader): number {
  const r = h.req;
  if (typeof r !== 'number' || !Number.isSafeInteger(r) || r < 0 || r > 0xffffffff) bad('bad request number');
  return r;
}

function id(x: unknown, what: string): Uint8Array {
  if (!(x instanceof Uint8Array) || x.length !== ID_LENGTH) bad(`bad ${what}`);
  return x;
}

function bytes(x: unknown, what: string, max = 1024 * 1024): Uint8Array {
  if (!(x instanceof Uint8Array) || x.length > max) bad(`bad ${what}`);
  return x;
}

function ids(x: unknown): Uint8Array[] {
  if (!Array.isArray(x) || x.length === 0 || x.length > MAX_IDS_PER_REQUEST) bad('bad id list');
  return x.map((i) => id(i, 'object id'));
}

export function parseRequest(h: FrameHeader): Request {
  switch (h.type) {
    case 'hello':
      return { type: 'hello', req: req(h), repo: h.repo === null ? null : id(h.repo, 'repository id') };
    case 'get':
      return { type: 'get', req: req(h), ids: ids(h.ids) };
    case 'have': {
      const height = h.height;
      if (typeof height !== 'number' || !Number.isInteger(height) || height < 0 || height > 32)
        bad('bad height');
      if (typeof h.commit !== 'boolean') bad('bad commit flag');
      return { type: 'have', req: req(h), root: id(h.root, 'root'), height, commit: h.commit };
    }
    case 'push': {
      if (!Array.isArray(h.updates) || h.updates.length > 1024) bad('bad updates');
      const updates = (h.updates as unknown[]).map((u): [string, Uint8Array] => {
        if (!Array.isArray(u) || u.length !== 2 || typeof u[0] !== 'string') bad('bad update');
        return [u[0] as string, id(u[1], 'commit id')];
      });
      const deletes = h.deletes ?? [];
      if (!Array.isArray(deletes) || deletes.length > 1024 || !deletes.every((d) => typeof d === 'string'))
        bad('bad deletes');
      if (updates.length + deletes.length === 0) bad('a push of nothing');
      if (typeof h.force !== 'boolean') bad('bad force flag');
      return {
        type: 'push',
        req: req(h),
        refs: bytes(h.refs, 'refs document'),
        updates,
        deletes: deletes as string[],
        force: h.force,
      };
    }
    case 'list':
      return { type: 'list', req: req(h) };
    default:
      return bad(`unknown request '${h.type}'`);
  }
}

export function parseResponse(h: FrameHeader): Response {
  switch (h.type) {
    case 'repo': {
      if (!Array.isArray(h.refs) || h.refs.length > MAX_REFS_DOCS) bad('bad refs list');
      return {
        type: 'repo',
        req: req(h),
        identity: bytes(h.identity, 'identity document', 64 * 1024),
        refs: (h.refs as unknown[]).map((r) => bytes(r, 'refs document', MAX_REFS_DOC_BYTES)),
      };
    }
    case 'object':
      return { type: 'object', req: req(h), id: id(h.id, 'object id') };
    case 'missing':
      return { type: 'missing', req: req(h), id: id(h.id, 'object id') };
    case 'have-map': {
      const count = h.count;
      if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) bad('bad count');
      if (typeof h.all !== 'boolean') bad('bad all flag');
      const bits = bytes(h.bits, 'have bits', 512 * 1024);
      if (!h.all && bits.length !== Math.ceil(count / 8)) bad('have bits do not match the count');
      return { type: 'have-map', req: req(h), all: h.all, count, bits };
    }
    case 'pushed': {
      if (!Array.isArray(h.updated) || !h.updated.every((u) => typeof u === 'string'))
        bad('bad updated list');
      return { type: 'pushed', req: req(h), updated: h.updated as string[] };
    }
    case 'repos': {
      if (!Array.isArray(h.repos) || h.repos.length > MAX_LISTED_REPOS) bad('bad repository list');
      return {
        type: 'repos',
        req: req(h),
        repos: (h.repos as unknown[]).map((r) => bytes(r, 'identity document', 64 * 1024)),
      };
    }
    case 'error': {
      if (typeof h.code !== 'number' || typeof h.message !== 'string') bad('bad error');
      return { type: 'error', req: req(h), code: h.code, message: h.message.slice(0, 500) };
    }
    default:
      return bad(`unknown response '${h.type}'`);
  }
}
