// Tags: `refs/tags/<name>`, fixed names for commits. A tag's message (-m) is kept beside it in
// the index's meta table under `tag-message:<name>`, with its time and author.

import { type ObjectId, ShoalError, toHex } from '../core/index.ts';
import type { Repository } from '../store/index.ts';
import { assertRefName } from './names.ts';

export const TAG_PREFIX = 'refs/tags/';
const MESSAGE_KEY = 'tag-message:';

export interface TagInfo {
  name: string;
  id: ObjectId;
  message: string | null;
  time: number | null;
  author: string | null;
}

interface TagNote {
  message: string;
  time: number;
  author: string;
}

function note(repo: Repository, name: string): TagNote | null {
  const raw = repo.meta(`${MESSAGE_KEY}${name}`);
  if (!raw) return null;
  try {
    return JSON.parse(raw) as TagNote;
  } catch {
    return null;
  }
}

export function listTags(repo: Repository): TagInfo[] {
  return repo.refs.list(TAG_PREFIX).map((r) => {
    const name = r.name.slice(TAG_PREFIX.length);
    const n = note(repo, name);
    return { name, id: r.id, message: n?.message ?? null, time: n?.time ?? null, author: n?.author ?? null };
  });
}

export async function createTag(
  repo: Repository,
  name: string,
  at: ObjectId,
  opts: { message?: string; author?: string; force?: boolean; time?: number } = {},
): Promise<TagInfo & { previous: ObjectId | null }> {
  assertRefName(name, 'tag');
  return repo.withWriteLock(() => {
    const ref = `${TAG_PREFIX}${name}`;
    const previous = repo.refs.get(ref) ?? null; // what --force replaces
    const ok = repo.refs.update(ref, at, `tag: ${toHex(at)}`, opts.force ? undefined : null);
    if (!ok) throw new ShoalError('ALREADY_EXISTS', `tag '${name}' already exists`, { name });
    const key = `${MESSAGE_KEY}${name}`;
    if (opts.message !== undefined) {
      const n: TagNote = { message: opts.message, time: opts.time ?? Date.now(), author: opts.author ?? '' };
      repo.setMeta(key, JSON.stringify(n));
      return { name, id: at, ...n, previous };
    }
    repo.db.prepare('DELETE FROM meta WHERE key = ?').run(key);
    return { name, id: at, message: null, time: null, author: null, previous };
  });
}

/** A tag moved by other means (a push): its note was about the commit it named before. */
export function dropTagNote(repo: Repository, name: string): void {
  repo.db.prepare('DELETE FROM meta WHERE key = ?').run(`${MESSAGE_KEY}${name}`);
}

export async function deleteTag(repo: Repository, name: string): Promise<{ name: string; id: ObjectId }> {
  return repo.withWriteLock(() => {
    const ref = `${TAG_PREFIX}${name}`;
    const id = repo.refs.get(ref);
    if (!id) throw new ShoalError('NOT_FOUND', `tag '${name}' not found`, { name });
    repo.refs.update(ref, null, `tag: deleted (was ${toHex(id)})`, id);
    repo.db.prepare('DELETE FROM meta WHERE key = ?').run(`${MESSAGE_KEY}${name}`);
    return { name, id };
  });
}
