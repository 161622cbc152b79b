// shoal checkout <rev>: materialise a commit into the working tree.
import { ShoalError, toHex } from '../../core/index.ts';
import { checkout } from '../../vcs/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import { plural } from '../format.ts';
import { removeTemporariesOnInterrupt } from '../interrupt.ts';
import type { Command } from '../main.ts';
import { revOf, withRepo } from '../repo.ts';
import { warnKept, warnLeftBehind } from '../warnings.ts';

const USAGE = 'shoal checkout [--force] <rev>';

const OPTIONS = { force: { type: 'boolean', short: 'f' } } satisfies Options;

export const command: Command = {
  summary: 'materialise a commit (or branch) into the working tree',
  usage: USAGE,
  options: OPTIONS,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, async (repo) => {
      removeTemporariesOnInterrupt(ctx);
      const { values, positionals } = parse(args, OPTIONS, USAGE);
      // git's `checkout [<rev>] -- <path>` restores files; here that is restore, said so rather
      // than taking the path for a revision.
      if (args.includes('--') && args.indexOf('--') < args.length - 1)
        throw new ShoalError(
          'USAGE',
          'checkout takes a revision, not paths: to restore files, shoal restore [--source <rev>] <path>...',
        );
      if (positionals.length !== 1) usage(USAGE);
      const rev = positionals[0]!;
      const id = revOf(ctx, repo, rev);
      // `checkout HEAD` (with --force: throw local changes away) stays on the branch, as in git.
      const head = rev === 'HEAD' ? repo.refs.head() : undefined;
      const branch =
        head?.kind === 'branch'
          ? head.name
          : repo.refs.get(`refs/heads/${rev}`) !== undefined
            ? rev
            : undefined;
      const progress = ctx.progress('checkout');
      let result: Awaited<ReturnType<typeof checkout>>;
      try {
        result = await checkout(repo, id, {
          force: values.force === true,
          attach: branch,
          onProgress: progress.onProgress,
        });
      } finally {
        progress.done();
      }
      warnLeftBehind(ctx, result.leftBehind);
      warnKept(ctx, result.kept);
      if (ctx.json)
        ctx.emit({
          commit: toHex(id),
          branch: branch ?? null,
          written: result.written,
          removed: result.removed,
          kept: result.kept,
          leftBehind: result.leftBehind && toHex(result.leftBehind),
        });
      else {
        if (branch === undefined) ctx.out(`HEAD is now at ${toHex(id).slice(0, 12)}`);
        else ctx.out(rev === 'HEAD' ? `on branch '${branch}'` : `switched to branch '${branch}'`);
        ctx.out(`${plural(result.written.length, 'file')} written, ${result.removed.length} removed`);
      }
      return 0;
    }),
};
