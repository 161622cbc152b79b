// shoal reflog [<ref>] [-n <N>] [--json]: past values of branches and tags, newest first; the
// way back to a deleted branch or to where a branch was before a merge.
import { ShoalError, toHex } from '../../core/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import { formatTime } from '../format.ts';
import type { Command } from '../main.ts';
import { withRepo } from '../repo.ts';

const USAGE = 'shoal reflog [<branch or ref>] [-n <N>] [--json]';

const OPTIONS = { 'max-count': { type: 'string', short: 'n' } } satisfies Options;

export const command: Command = {
  summary: 'show past values of branches and tags (to recover deleted work)',
  usage: USAGE,
  options: OPTIONS,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, (repo) => {
      const { values, positionals } = parse(args, OPTIONS, USAGE);
      if (positionals.length > 1) usage(USAGE);
      const count = values['max-count'] as string | undefined;
      if (count !== undefined && !/^\d+$/.test(count))
        throw new ShoalError('USAGE', `-n: '${count}' is not a number of entries\nusage: ${USAGE}`);
      const limit = count === undefined ? 100 : Math.min(Number(count), Number.MAX_SAFE_INTEGER);
      let name = positionals[0];
      if (name && !name.startsWith('refs/')) {
        name =
          repo.refs.get(`refs/tags/${name}`) && !repo.refs.get(`refs/heads/${name}`)
            ? `refs/tags/${name}`
            : `refs/heads/${name}`;
      }
      const entries = repo.refs.reflog(name, limit);
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
