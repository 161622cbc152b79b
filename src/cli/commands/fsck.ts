// shoal fsck [--json]: verify every stored object and everything reachable.
import { fsck } from '../../vcs/index.ts';
import { type Context, parse, usage } from '../context.ts';
import { formatBytes, plural } from '../format.ts';
import type { Command } from '../main.ts';
import { withRepo } from '../repo.ts';

const USAGE = 'shoal fsck [--json]';

export const command: Command = {
  summary: 'verify every object, hash and signature',
  usage: USAGE,
  options: {},
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, (repo) => {
      if (parse(args, {}, USAGE).positionals.length > 0) usage(USAGE);
      const progress = ctx.progress('fsck');
      let result: ReturnType<typeof fsck>;
      try {
        result = fsck(repo, progress.onProgress);
      } finally {
        progress.done();
      }
      if (ctx.json) ctx.emit({ ok: result.problems.length === 0, ...result });
      else {
        // A problem that names its object already is not prefixed with the id a second time.
        for (const p of result.problems)
          ctx.err(`error: ${p.problem.includes(p.id) ? '' : `${p.id}: `}${p.problem}`);
        ctx.out(
          `${result.objects - result.damaged} of ${plural(result.objects, 'object')} (${formatBytes(result.bytes)}) verified, ` +
            `${result.reachable} commits, trees and index nodes reachable, ` +
            plural(result.problems.length, 'problem'),
        );
        if (result.damaged > 0)
          ctx.err(
            "hint: an intact copy repairs a damaged object: put the file back (or touch it) and 'shoal add' it, or fetch from a peer that has it",
          );
      }
      return result.problems.length === 0 ? 0 : 1;
    }),
};
