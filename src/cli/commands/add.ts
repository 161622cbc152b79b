// shoal add <path>...: stage files and directories.
import { add } from '../../vcs/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import { formatBytes } from '../format.ts';
import type { Command } from '../main.ts';
import { withRepo } from '../repo.ts';
import { warnUnreadable } from '../warnings.ts';

const USAGE = 'shoal add [-f] <path>...';

const OPTIONS = { force: { type: 'boolean', short: 'f' } } satisfies Options;

export const command: Command = {
  summary: 'stage files and directories (recursive, honours .shoalignore)',
  usage: USAGE,
  options: OPTIONS,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, async (repo) => {
      const { values, positionals } = parse(args, OPTIONS, USAGE);
      if (positionals.length === 0) usage(USAGE);
      const progress = ctx.progress('add');
      const controller = new AbortController();
      const onSignal = (): void => controller.abort();
      // Ctrl-C or SIGTERM: add stops between chunks, with what it stored kept for the next add.
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      let result: Awaited<ReturnType<typeof add>>;
      try {
        result = await add(repo, {
          cwd: ctx.cwd,
          paths: positionals,
          onProgress: progress.onProgress,
          signal: controller.signal,
          force: values.force === true,
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        progress.done();
      }
      if (ctx.json) ctx.emit(result);
      else {
        warnUnreadable(ctx, result.unreadable);
        for (const f of result.failed) ctx.err(`error: ${f.message}`);
        ctx.out(
          `${result.added.length} added, ${result.modified.length} modified, ${result.removed.length} removed, ` +
            `${result.unchanged} unchanged; ${formatBytes(result.bytesRead)} read, ${formatBytes(result.newBytes)} new`,
        );
      }
      return result.failed.length > 0 ? 1 : 0;
    }),
};
