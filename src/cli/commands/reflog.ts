// shoal reflog [<ref>] [-n <N>] [--json]: past values of branches and tags, newest first; the
// way back to a deleted branch or to where a branch was before a merge.
import { ShoalError, toHex } from '../../core/index.ts';
import type { Repository } from '../../store/index.ts';
import { refNamesFor } from '../../vcs/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import { formatTime } from '../format.ts';
import type { Command } from '../main.ts';
import { withRepo } from '../repo.ts';

const USAGE = 'shoal reflog [<branch or ref>] [-n <N>] [--json]';

const OPTIONS = { 'max-count': { type: 'string', short: 'n' } } satisfies Options;

/**
 * The refs whose log a reflog argument names: `refs/...` as it is, HEAD as its own log and the
 * current branch's, and a name as the first ref it stands for that exists now (as revisions
 * read it), else the first the reflog remembers (a deleted branch or tag is what one looks for
 * here).
 */
function refNames(repo: Repository, arg: string): string[] {
  if (arg.startsWith('refs/')) return [arg];
  // HEAD's log: its moves to and from detached commits (and commits made there), with the
  // current branch's own entries.
  if (arg === 'HEAD') {
    const head = repo.refs.head();
    return head.kind === 'branch' ? ['HEAD', `refs/heads/${head.name}`] : ['HEAD'];
  }
  const candidates = refNamesFor(arg);
  // The branch first, existing or deleted (recovering a deleted branch is what the reflog is
  // for: a tag of the same name must not stand in for it), then the tag.
  const found = candidates.find((ref) => repo.refs.get(ref) || repo.refs.reflog(ref, 1).length > 0);
  if (!found) throw new ShoalError('NOT_FOUND', `no branch or tag '${arg}', now or in the reflog`);
  return [found];
}

/** Entries shown when -n does not say. */
const DEFAULT_LIMIT = 100;

export const command: Command = {
  summary: 'show past values of branches and tags (to recover deleted work)',
  usage: USAGE,
  options: OPTIONS,
  printsData: true,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, (repo) => {
      const { values, positionals } = parse(args, OPTIONS, USAGE);
      if (positionals.length > 1) usage(USAGE);
      const count = values['max-count'] as string | undefined;
      if (count !== undefined && !/^\d+$/.test(count))
        throw new ShoalError('USAGE', `-n: '${count}' is not a number of entries\nusage: ${USAGE}`);
      const limit = count === undefined ? DEFAULT_LIMIT : Math.min(Number(count), Number.MAX_SAFE_INTEGER);
      const name = positionals[0] === undefined ? undefined : refNames(repo, positionals[0]);
      const entries = repo.refs.reflog(name, limit);
      // The default limit is said when it cut the list: a deleted branch's entry may be past it.
      if (count === undefined && entries.length === limit && repo.refs.reflog(name, limit + 1).length > limit)
        ctx.err(`(the newest ${limit} entries; -n <N> shows more, or name the branch: shoal reflog <name>)`);
      if (ctx.json) {
        ctx.emit(
          entries.map((e) => ({
            ...e,
            old: e.old ? toHex(e.old) : null,
            new: e.new ? toHex(e.new) : null,
          })),
        );
        return 0;
      }
      for (const e of entries) {
        const from = e.old ? toHex(e.old).slice(0, 12) : '(none)';
        const to = e.new ? toHex(e.new).slice(0, 12) : '(deleted)';
        ctx.out(`${formatTime(e.time)}  ${e.name}  ${from} -> ${to}  ${e.message}`);
      }
      return 0;
    }),
};
