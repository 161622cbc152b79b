// Revision syntax: a full or abbreviated (7+ hex) commit id, HEAD, a branch or tag name, each
// optionally followed by ~N (N first parents back) and ^N (the Nth parent), as git spells them.

import { decodeCommit, isHexPrefix, type ObjectId, ShoalError } from '../core/index.ts';
import type { Repository } from '../store/index.ts';

/**
 * The commit `rev` names. `warn` hears when a name stands for more than one ref (a branch and a
 * tag both called `v1`): the first in refNamesFor's order is used (git takes the tag first; it
 * warns too).
 */
export function resolveRev(repo: Repository, rev: string, warn?: (message: string) => void): ObjectId {
  const m = /^(.*?)((?:~\d*|\^\d*)*)$/.exec(rev);
  const base = m?.[1] ?? rev;
  const suffix = m?.[2] ?? '';
  if (base === '') throw new ShoalError('UNKNOWN_REV', `unknown revision '${rev}'`);
  let id = resolveBase(repo, base, rev, warn);
  const parent = (nth: number): ObjectId => {
    const p = decodeCommit(repo.objects.read(id, 'commit')).parents[nth - 1];
    if (p) return p;
    throw new ShoalError(
      'UNKNOWN_REV',
      nth === 1
        ? `unknown revision '${rev}': history is not that deep`
        : `unknown revision '${rev}': the commit has no parent ${nth}`,
    );
  };
  for (const step of suffix.match(/~\d*|\^\d*/g) ?? []) {
    const digits = step.slice(1);
    if (step[0] === '^') {
      // ^N: the Nth parent (a merge's second is ^2); ^0 the commit itself.
      const nth = digits === '' ? 1 : Number(digits);
      if (nth > 0) id = parent(nth);
    } else for (let i = 0, n = digits === '' ? 1 : Number(digits); i < n; i++) id = parent(1);
  }
  return id;
}

/**
 * The refs a name may stand for, in the order a revision takes the first that exists: the
 * branch, the tag, the remote-tracking branch (`origin/main`), then, spelt out as in git,
 * `heads/<n>`, `tags/<n>` or `remotes/<n>` (`tags/v1` when a branch `v1` hides the tag,
 * `remotes/origin/main` when a tag named `origin/main` hides the remote-tracking branch).
 */
export function refNamesFor(name: string): string[] {
  const spelt = /^(?:refs\/)?(heads|tags|remotes)\/(.+)$/.exec(name);
  return [
    `refs/heads/${name}`,
    `refs/tags/${name}`,
    `refs/remotes/${name}`,
    ...(spelt ? [`refs/${spelt[1]}/${spelt[2]}`] : []),
  ];
}

const REF_KIND: Record<string, string> = {
  heads: 'a branch',
  tags: 'a tag',
  remotes: 'a remote-tracking branch',
};

function resolveBase(
  repo: Repository,
  base: string,
  rev: string,
  warn?: (message: string) => void,
): ObjectId {
  if (base === 'HEAD' || base === '@') {
    const id = repo.refs.headCommit();
    if (!id)
      throw new ShoalError('UNKNOWN_REV', `unknown revision '${rev}': the current branch has no commits yet`);
    return id;
  }
  const names = refNamesFor(base);
  for (let i = 0; i < names.length; i++) {
    const id = repo.refs.get(names[i]!);
    if (!id) continue;
    if (warn) {
      // Which others the name also stands for: said by their full names, which no other ref can
      // shadow. A damaged one among them is no reason to fail what resolved.
      const others = names.slice(i + 1).filter((ref, j, rest) => {
        if (ref === names[i] || rest.indexOf(ref) !== j) return false;
        try {
          return repo.refs.get(ref) !== undefined;
        } catch {
          return false;
        }
      });
      if (others.length > 0) {
        const kinds = [names[i]!, ...others].map((ref) => REF_KIND[ref.split('/')[1]!]!);
        warn(
          `'${base}' names ${kinds.join(' and ')}: ${kinds[0]!.replace(/^a /, 'the ')} is used (${others.join(', ')} for the other${others.length > 1 ? 's' : ''})`,
        );
      }
    }
    return id;
  }
  const hex = base.toLowerCase(); // ids are printed in lower case; upper case names them too, as in git
  if (isHexPrefix(hex)) {
    const lower = Buffer.from(hex.padEnd(64, '0'), 'hex');
    const upper = Buffer.from(hex.padEnd(64, 'f'), 'hex');
    const rows = repo.db
      .prepare('SELECT id FROM objects WHERE id BETWEEN ? AND ? AND type = 3 LIMIT 2')
      .all(lower, upper) as { id: Uint8Array }[];
    if (rows.length > 1)
      throw new ShoalError('AMBIGUOUS_REV', `ambiguous revision '${rev}': more than one commit matches`);
    if (rows.length === 1) return rows[0]!.id;
  }
  throw new ShoalError('UNKNOWN_REV', `unknown revision '${rev}'`);
}

/**
 * Split `<rev>:<path>` as git reads it. The path is from the repository's root, unless it starts
 * with ./ or ../ (`fromCwd`); a bare path (no colon) means HEAD and is also taken from the current
 * directory, as other commands' path arguments are. `dirOnly`: it ended with a slash.
 */
export function splitRevPath(spec: string): {
  rev: string;
  path: string;
  fromCwd: boolean;
  dirOnly: boolean;
} {
  const i = spec.indexOf(':');
  const path = i < 0 ? spec : spec.slice(i + 1);
  return {
    rev: i < 0 ? 'HEAD' : spec.slice(0, i) || 'HEAD',
    // A bare path is a path like any other argument: an absolute one is resolved as such.
    path: i < 0 && path.startsWith('/') ? path.replace(/(.)\/+$/, '$1') : path.replace(/^\/+|\/+$/g, ''),
    fromCwd: i < 0 || /^\.\.?(\/|$)/.test(path),
    dirOnly: path.length > 1 && path.endsWith('/'),
  };
}
