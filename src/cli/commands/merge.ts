import { ShoalError } from '../../core/index.ts';
import {
  abortMerge,
  clearMergeState,
  continueMerge,
  type MergeResult,
  merge,
  readMergeState,
} from '../../vcs/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import { plural } from '../format.ts';
import { removeTemporariesOnInterrupt } from '../interrupt.ts';
import type { Command } from '../main.ts';
import { describeMerge, mergeJson } from '../merge-report.ts';
import { authorName, identity, revOf, withRepo } from '../repo.ts';

const USAGE =
  'shoal merge <branch> [-m <message>] [--allow-unrelated-histories] | shoal merge (--continue | --abort | --quit)';

const OPTIONS = {
  message: { type: 'string', short: 'm' },
  continue: { type: 'boolean' },
  abort: { type: 'boolean' },
  quit: { type: 'boolean' },
  'allow-unrelated-histories': { type: 'boolean' },
} satisfies Options;

export const command: Command = {
  summary: 'merge another branch into the current one',
  usage: USAGE,
  options: OPTIONS,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, async (repo) => {
      removeTemporariesOnInterrupt(ctx);
      const { values, positionals } = parse(args, OPTIONS, USAGE);
      const message = values.message as string | undefined;
      const modes = [values.continue, values.abort, values.quit].filter(Boolean).length;
      if (modes > 1 || (modes === 1 && positionals.length > 0)) usage(USAGE);
      // As commit (and git's merge): a message given says something, or there is none.
      if (message !== undefined && message.trim() === '')
        throw new ShoalError('INVALID_ARGUMENT', 'aborting merge: the message is empty');
      if (values.abort) {
        const r = await abortMerge(repo);
        if (ctx.json) ctx.emit(r);
        else
          ctx.out(
            `merge aborted; ${plural(r.restored.length, 'file')} restored, ${r.removed.length} removed`,
          );
        return 0;
      }
      if (values.quit) {
        // Forget the merge, leave the working tree and index as they are.
        await repo.withWriteLock(() => clearMergeState(repo));
        if (ctx.json) ctx.emit({ quit: true });
        return 0;
      }
      if (values.continue) {
        const name = readMergeState(repo)?.name ?? '';
        const r = await continueMerge(repo, { identity: identity(), authorName: authorName(repo), message });
        if (ctx.json) ctx.emit(mergeJson(r));
        else describeMerge(ctx, r, name);
        return 0;
      }
      if (positionals.length !== 1) usage(USAGE);
      const name = positionals[0]!;
      const theirs = revOf(ctx, repo, name);
      const progress = ctx.progress('merge');
      let r: MergeResult;
      try {
        r = await merge(repo, theirs, {
          name,
          message,
          allowUnrelated: values['allow-unrelated-histories'] === true,
          identity: identity(),
          authorName: authorName(repo),
          onProgress: progress.onProgress,
        });
      } finally {
        progress.done();
      }
      if (ctx.json) ctx.emit(mergeJson(r));
      else describeMerge(ctx, r, name);
      return r.outcome === 'conflicts' ? 1 : 0;
    }),
};
