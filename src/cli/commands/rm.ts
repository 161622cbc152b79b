// shoal rm [--cached] [-r] [-f] <path>...: stop tracking paths and delete them.
import { rm } from '../../vcs/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import { quotedName } from '../format.ts';
import type { Command } from '../main.ts';
import { withRepo } from '../repo.ts';

const USAGE = 'shoal rm [--cached] [-r] [-f] <path>...';

const OPTIONS = {
  cached: { type: 'boolean' },
  recursive: { type: 'boolean', short: 'r' },
  force: { type: 'boolean', short: 'f' },
} satisfies Options;

export const command: Command = {
  summary: 'remove files from the working tree and the staging index',
  usage: USAGE,
  options: OPTIONS,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, async (repo) => {
      const { values, positionals } = parse(args, OPTIONS, USAGE);
      if (positionals.length === 0) usage(USAGE);
      const r = await rm(repo, {
        cwd: ctx.cwd,
        paths: positionals,
        cached: values.cached === true,
        recursive: values.recursive === true,
        force: values.force === true,
      });
      if (ctx.json) ctx.emit(r);
      else for (const p of r.removed) ctx.out(`rm ${quotedName(p)}`);
      return 0;
    }),
};
