// shoal show <rev> [--json]: a commit's metadata and the paths it changed.
import { decodeCommit, toHex, verifyCommit } from '../../core/index.ts';
import { commitTree, diffTrees, findRenames } from '../../vcs/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import { formatBytes, formatTime, quoteChangedPath } from '../format.ts';
import type { Command } from '../main.ts';
import { revOf, withRepo } from '../repo.ts';

const USAGE = 'shoal show [<rev>] [--json]';

const OPTIONS = {} satisfies Options;

export const command: Command = {
  summary: "show a commit's metadata and the paths it changed",
  usage: USAGE,
  options: OPTIONS,
  printsData: true,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, (repo) => {
      const { positionals } = parse(args, OPTIONS, USAGE);
      if (positionals.length > 1) usage(USAGE);
      const id = revOf(ctx, repo, positionals[0] ?? 'HEAD');
      const c = decodeCommit(repo.objects.read(id, 'commit'));
      const parentTree = c.parents[0] ? commitTree(repo.objects, c.parents[0]) : undefined;
      // Renames paired as diff pairs them: the same content deleted at one path, added at another.
      const changes = findRenames([...diffTrees(repo.objects, parentTree, c.tree)]).map((ch) => ({
        path: ch.path,
        change: ch.renamed ? 'renamed' : ch.change,
        ...(ch.renamed ? { oldPath: ch.oldPath } : {}),
        oldSize: ch.old?.size ?? null,
        newSize: ch.new?.size ?? null,
      }));
      const signatureValid = verifyCommit(c);
      if (ctx.json) {
        ctx.emit({
          id: toHex(id),
          tree: toHex(c.tree),
          parents: c.parents.map(toHex),
          author: { name: c.author.name, key: toHex(c.author.key) },
          time: c.time,
          message: c.message,
          signatureValid,
          changes,
        });
        return 0;
      }
      ctx.out(`commit ${toHex(id)}`);
      for (const p of c.parents) ctx.out(`parent ${toHex(p)}`);
      ctx.out(`author: ${c.author.name} <${toHex(c.author.key)}>`);
      ctx.out(`date:   ${formatTime(c.time)}`);
      ctx.out(`signature: ${signatureValid ? 'good' : 'BAD'}`);
      ctx.out('');
      for (const line of c.message.split('\n')) ctx.out(`    ${line}`);
      ctx.out('');
      for (const ch of changes) {
        const size =
          ch.change === 'modified'
            ? `${formatBytes(ch.oldSize!)} -> ${formatBytes(ch.newSize!)}`
            : formatBytes((ch.newSize ?? ch.oldSize)!);
        ctx.out(`${ch.change.padEnd(9)} ${quoteChangedPath(ch.path, ch.oldPath)} (${size})`);
      }
      return 0;
    }),
};
