// shoal branch [--json] | branch <name> [<rev>] | branch -d|-D <name>: list, create, delete.
import { toHex } from '../../core/index.ts';
import { assertRefName, createBranch, deleteBranch, listBranches } from '../../vcs/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import type { Command } from '../main.ts';
import { revOf, withRepo } from '../repo.ts';

const USAGE = 'shoal branch [--json] | shoal branch <name> [<rev>] | shoal branch (-d | -D) <name>';

const OPTIONS = {
  delete: { type: 'boolean', short: 'd' },
  'force-delete': { type: 'boolean', short: 'D' },
} satisfies Options;

export const command: Command = {
  summary: 'list, create or delete branches',
  usage: USAGE,
  options: OPTIONS,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, async (repo) => {
      const { values, positionals } = parse(args, OPTIONS, USAGE);
      if (values.delete || values['force-delete']) {
        if (positionals.length !== 1) usage(USAGE);
        const r = await deleteBranch(repo, positionals[0]!, { force: values['force-delete'] === true });
        if (ctx.json) ctx.emit({ deleted: r.name, id: toHex(r.id) });
        else ctx.out(`deleted branch '${r.name}' (was ${toHex(r.id).slice(0, 12)})`);
        return 0;
      }
      if (positionals.length === 0) {
        const list = listBranches(repo);
        if (ctx.json) ctx.emit(list.map((b) => ({ name: b.name, id: toHex(b.id), current: b.current })));
        else {
          // As git: a detached HEAD is said first, since no branch is marked then.
          const head = repo.refs.head();
          if (head.kind === 'detached') ctx.data(`* (HEAD detached at ${toHex(head.id).slice(0, 12)})`);
          for (const b of list) ctx.data(`${b.current ? '*' : ' '} ${b.name}  ${toHex(b.id).slice(0, 12)}`);
        }
        return 0;
      }
      if (positionals.length > 2) usage(USAGE);
      assertRefName(positionals[0]!, 'branch');
      const at = revOf(ctx, repo, positionals[1] ?? 'HEAD');
      const b = await createBranch(repo, positionals[0]!, at);
      if (ctx.json) ctx.emit({ name: b.name, id: toHex(b.id), current: b.current });
      else ctx.out(`created branch '${b.name}' at ${toHex(b.id).slice(0, 12)}`);
      return 0;
    }),
};
