// shoal restore [--source <rev>] <path>...: overwrite working files with staged or committed content.
import { restore, unstage } from '../../vcs/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import { plural } from '../format.ts';
import { removeTemporariesOnInterrupt } from '../interrupt.ts';
import type { Command } from '../main.ts';
import { revOf, withRepo } from '../repo.ts';

const USAGE = 'shoal restore [--source <rev>] [--staged] <path>...';

const OPTIONS = {
  source: { type: 'string', short: 's' },
  staged: { type: 'boolean', short: 'S' },
} satisfies Options;

export const command: Command = {
  summary: 'restore working files from the staging index or a commit',
  usage: USAGE,
  options: OPTIONS,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, async (repo) => {
      removeTemporariesOnInterrupt(ctx);
      const { values, positionals } = parse(args, OPTIONS, USAGE);
      if (positionals.length === 0) usage(USAGE);
      const source = values.source === undefined ? undefined : revOf(ctx, repo, values.source as string);
      if (values.staged) {
        // The index from HEAD (or --source); the working tree is left as it is.
        const r = await unstage(repo, { cwd: ctx.cwd, paths: positionals, source });
        if (ctx.json) ctx.emit(r);
        else ctx.out(`${plural(r.unstaged.length, 'path')} unstaged`);
        return 0;
      }
      const result = await restore(repo, { cwd: ctx.cwd, paths: positionals, source });
      if (ctx.json) ctx.emit(result);
      else
        ctx.out(
          `${plural(result.restored.length, 'file')} restored` +
            (result.removed.length > 0 ? `, ${result.removed.length} removed (not in ${values.source})` : ''),
        );
      return 0;
    }),
};
