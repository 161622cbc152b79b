// shoal tag [--json] | tag <name> [<rev>] [-m <msg>] [-f] | tag -d <name>: list, create, delete.
import { idEquals, toHex } from '../../core/index.ts';
import { assertRefName, createTag, deleteTag, listTags } from '../../vcs/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import type { Command } from '../main.ts';
import { authorName, revOf, withRepo } from '../repo.ts';

const USAGE = 'shoal tag [--json] | shoal tag <name> [<rev>] [-m <message>] [-f] | shoal tag -d <name>';

const OPTIONS = {
  delete: { type: 'boolean', short: 'd' },
  message: { type: 'string', short: 'm' },
  force: { type: 'boolean', short: 'f' },
} satisfies Options;

export const command: Command = {
  summary: 'list, create or delete tags',
  usage: USAGE,
  options: OPTIONS,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, async (repo) => {
      const { values, positionals } = parse(args, OPTIONS, USAGE);
      if (values.delete) {
        if (positionals.length !== 1) usage(USAGE);
        const r = await deleteTag(repo, positionals[0]!);
        if (ctx.json) ctx.emit({ deleted: r.name, id: toHex(r.id) });
        else ctx.out(`deleted tag '${r.name}' (was ${toHex(r.id).slice(0, 12)})`);
        return 0;
      }
      if (positionals.length === 0) {
        if (values.message !== undefined) usage(USAGE);
        const list = listTags(repo);
        if (ctx.json) ctx.emit(list.map((t) => ({ ...t, id: toHex(t.id) })));
        else
          for (const t of list)
            ctx.data(t.message === null ? t.name : `${t.name.padEnd(16)} ${t.message.split('\n')[0]}`);
        return 0;
      }
      if (positionals.length > 2) usage(USAGE);
      assertRefName(positionals[0]!, 'tag');
      const at = revOf(ctx, repo, positionals[1] ?? 'HEAD');
      const message = values.message as string | undefined;
      const t = await createTag(repo, positionals[0]!, at, {
        message,
        author: message === undefined ? undefined : authorName(repo),
        force: values.force === true,
      });
      if (ctx.json) ctx.emit({ ...t, id: toHex(t.id), previous: t.previous && toHex(t.previous) });
      else if (t.previous && !idEquals(t.previous, t.id))
        ctx.out(
          `updated tag '${t.name}' to ${toHex(t.id).slice(0, 12)} (was ${toHex(t.previous).slice(0, 12)})`,
        );
      else ctx.out(`tagged ${toHex(t.id).slice(0, 12)} as '${t.name}'`);
      return 0;
    }),
};
