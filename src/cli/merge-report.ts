// How merge and pull report a merge.
import { toHex } from '../core/index.ts';
import type { MergeResult } from '../vcs/index.ts';
import type { Context } from './context.ts';
import { plural, quotePath } from './format.ts';
import { warnKept } from './warnings.ts';

/** What a merge (or the merge of a pull) did, or the conflicts it stopped on. */
export function describeMerge(ctx: Context, r: MergeResult, name: string): void {
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

export function mergeJson(r: MergeResult): unknown {
  return {
    ...r,
    head: r.head ? toHex(r.head) : null,
    base: r.base ? toHex(r.base) : null,
    theirs: toHex(r.theirs),
  };
}
