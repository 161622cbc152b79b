// shoal switch <branch> | switch -c <new-branch> [<start>]: move HEAD (and the working tree).
import { toHex } from '../../core/index.ts';
import { assertRefName, switchBranch } from '../../vcs/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import { plural } from '../format.ts';
import { removeTemporariesOnInterrupt } from '../interrupt.ts';
import type { Command } from '../main.ts';
import { revOf, withRepo } from '../repo.ts';
import { warnKept, warnLeftBehind } from '../warnings.ts';

const USAGE = 'shoal switch [--force] <branch> | shoal switch -c <new-branch> [<start>]';

const OPTIONS = {
  create: { type: 'boolean', short: 'c' },
  force: { type: 'boolean', short: 'f' },
} satisfies Options;

export const command: Command = {
  summary: 'switch to a branch (or create one with -c)',
  usage: USAGE,
  options: OPTIONS,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, async (repo) => {
      removeTemporariesOnInterrupt(ctx);
      const { values, positionals } = parse(args, OPTIONS, USAGE);
      const create = values.create === true;
      if (positionals.length === 0 || positionals.length > (create ? 2 : 1)) usage(USAGE);
      if (create) assertRefName(positionals[0]!, 'branch');
      const startPoint = positionals[1] === undefined ? undefined : revOf(ctx, repo, positionals[1]);
      const progress = ctx.progress('switch');
      let r: Awaited<ReturnType<typeof switchBranch>>;
      try {
        r = await switchBranch(repo, positionals[0]!, {
          create,
          startPoint,
          force: values.force === true,
          onProgress: progress.onProgress,
        });
      } finally {
        progress.done();
      }
      warnLeftBehind(ctx, r.leftBehind);
      warnKept(ctx, r.kept);
      if (ctx.json)
        ctx.emit({
          ...r,
          commit: r.commit ? toHex(r.commit) : null,
          leftBehind: r.leftBehind ? toHex(r.leftBehind) : null,
        });
      else {
        ctx.out(
          r.created
            ? `switched to a new branch '${r.branch}'${r.from ? ` (from '${r.from}')` : ''}`
            : r.already
              ? `already on '${r.branch}'`
              : `switched to branch '${r.branch}'`,
        );
        if (r.written.length + r.removed.length > 0)
          ctx.out(`${plural(r.written.length, 'file')} written, ${r.removed.length} removed`);
      }
      return 0;
    }),
};
