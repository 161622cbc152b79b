// shoal stats [--json]: objects, chunks, logical and stored bytes, dedup ratio.
import { stats } from '../../vcs/index.ts';
import { type Context, parse, usage } from '../context.ts';
import { formatBytes } from '../format.ts';
import type { Command } from '../main.ts';
import { withRepo } from '../repo.ts';

const USAGE = 'shoal stats [--json]';

export const command: Command = {
  summary: 'show storage figures and the deduplication ratio',
  usage: USAGE,
  options: {},
  printsData: true,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, (repo) => {
      if (parse(args, {}, USAGE).positionals.length > 0) usage(USAGE);
      const s = stats(repo);
      if (ctx.json) ctx.emit(s);
      else {
        ctx.out(`commits        ${s.commits}`);
        ctx.out(`objects        ${s.objects}`);
        ctx.out(`chunks         ${s.chunks}`);
        ctx.out(`logical bytes  ${formatBytes(s.logicalBytes)} (every version whole)`);
        ctx.out(`unique bytes   ${formatBytes(s.uniqueBytes)}`);
        ctx.out(`stored bytes   ${formatBytes(s.storedBytes)}`);
        ctx.out(`pack files     ${formatBytes(s.packBytes)}`);
        ctx.out(`dedup ratio    ${s.dedupRatio.toFixed(2)}x`);
      }
      return 0;
    }),
};
