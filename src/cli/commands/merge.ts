// shoal merge <rev> [-m <msg>] | merge --continue | merge --abort | merge --quit
import { toHex } from '../../core/index.ts';
import {
  abortMerge,
  clearMergeState,
  continueMerge,
  type MergeResult,
  merge,
  readMergeState,
} from '../../vcs/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import { plural, quotePath } from '../format.ts';
import { removeTemporariesOnInterrupt } from '../interrupt.ts';
import type { Command } from '../main.ts';
import { authorName, identity, revOf, withRepo } from '../repo.ts';
import { warnKept } from '../warnings.ts';

const USAGE = 'shoal merge <branch> [-m <message>] | shoal merge (--continue | --abort | --quit)';

function describe(ctx: Context, r: MergeResult, name: string): void {
  warnKept(ctx, r.kept);
  switch (r.outcome) {
    case 'up-to-date':
      ctx.out('already up to date');
      return;
    case 'fast-forward':
      ctx.out(`fast-forward to ${toHex(r.head!).slice(0, 12)}`);
      break;
    case 'merged':
      ctx.out(`merged '${name}' as ${toHex(r.head!).slice(0, 12)}`);
      break;
    case 'conflicts':
      // Said even with -q (as git does): the command fails, and this is why.
      ctx.data(`merge of '${name}' stopped with ${plural(r.conflicts.length, 'conflict')}:`);
      for (const c of r.conflicts) {
        ctx.data(
          `  ${c.reason.padEnd(16)} ${quotePath(c.path)}${c.side ? `  (theirs: ${quotePath(c.side)})` : ''}`,
        );
      }
      ctx.data('resolve them, shoal add the results, then run shoal merge --continue (or --abort)');
      return;
  }
  for (const p of r.textMerged) ctx.out(`  merged lines of ${quotePath(p)}`);
  if (r.written.length + r.removed.length > 0)
    ctx.out(`${plural(r.written.length, 'file')} written, ${r.removed.length} removed`);
}

function asJson(r: MergeResult): unknown {
  return {
    ...r,
    head: r.head ? toHex(r.head) : null,
    base: r.base ? toHex(r.base) : null,
    theirs: toHex(r.theirs),
  };
}

const OPTIONS = {
  message: { type: 'string', short: 'm' },
  continue: { type: 'boolean' },
  abort: { type: 'boolean' },
  quit: { type: 'boolean' },
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
        if (ctx.json) ctx.emit(asJson(r));
        else describe(ctx, r, name);
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
          identity: identity(),
          authorName: authorName(repo),
          onProgress: progress.onProgress,
        });
      } finally {
        progress.done();
      }
      if (ctx.json) ctx.emit(asJson(r));
      else describe(ctx, r, name);
      return r.outcome === 'conflicts' ? 1 : 0;
    }),
};
