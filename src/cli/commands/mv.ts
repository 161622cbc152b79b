// shoal mv <source> <destination>: rename a tracked file or directory.
import { mv } from '../../vcs/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import { plural, quotedName } from '../format.ts';
import type { Command } from '../main.ts';
import { withRepo } from '../repo.ts';

const USAGE = 'shoal mv <source> <destination>';

const OPTIONS = {} satisfies Options;

export const command: Command = {
  summary: 'move or rename a tracked file or directory',
  usage: USAGE,
  options: OPTIONS,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, async (repo) => {
      const { positionals } = parse(args, OPTIONS, USAGE);
      if (positionals.length !== 2) usage(USAGE);
      const r = await mv(repo, { cwd: ctx.cwd, source: positionals[0]!, destination: positionals[1]! });
      if (ctx.json) ctx.emit(r);
      else if (r.moved.length === 1)
        ctx.out(`renamed ${quotedName(r.moved[0]!.from)} -> ${quotedName(r.moved[0]!.to)}`);
      else ctx.out(`moved ${plural(r.moved.length, 'file')}`);
      return 0;
    }),
};
