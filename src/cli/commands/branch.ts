// shoal branch [--json] | branch <name> [<rev>] | branch -d|-D <name>: list, create, delete.
import { toHex } from '../../core/index.ts';
import { assertRefName, createBranch, deleteBranch, listBranches } from '../../vcs/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import type { Command } from '../main.ts';
import { revOf, withRepo } from '../repo.ts';

const USAGE = 'shoal branch [-r | -a] [--json] | shoal branch <name> [<rev>] | shoal branch (-d | -D) <name>';

const OPTIONS = {
  delete: { type: 'boolean', short: 'd' },
  'force-delete': { type: 'boolean', short: 'D' },
  remotes: { type: 'boolean', short: 'r' },
  all: { type: 'boolean', short: 'a' },
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
      const remotes = values.remotes === true || values.all === true;
      if (positionals.length === 0) {
        // -r: the remote-tracking branches (`origin/main`, and each peer's own as
        // `<peer-id>/main`); -a: the local ones, then those.
        const local = values.remotes === true ? [] : listBranches(repo);
        const tracking = remotes
          ? repo.refs
              .list('refs/remotes/')
              .map((r) => ({ name: r.name.slice('refs/remotes/'.length), id: r.id }))
          : [];
        if (ctx.json)
          ctx.emit([
            ...local.map((b) => ({ name: b.name, id: toHex(b.id), current: b.current })),
            ...tracking.map((b) => ({ name: b.name, id: toHex(b.id), current: false, remote: true })),
          ]);
        else {
          // As git: a detached HEAD is said first, since no branch is marked then.
          const head = repo.refs.head();
          if (head.kind === 'detached' && values.remotes !== true)
            ctx.data(`* (HEAD detached at ${toHex(head.id).slice(0, 12)})`);
          for (const b of local) ctx.data(`${b.current ? '*' : ' '} ${b.name}  ${toHex(b.id).slice(0, 12)}`);
          const prefix = values.all === true ? 'remotes/' : '';
          for (const b of tracking) ctx.data(`  ${prefix}${b.name}  ${toHex(b.id).slice(0, 12)}`);
        }
        return 0;
      }
      if (remotes) usage(USAGE);
      if (positionals.length > 2) usage(USAGE);
      assertRefName(positionals[0]!, 'branch');
      const at = revOf(ctx, repo, positionals[1] ?? 'HEAD');
      const b = await createBranch(repo, positionals[0]!, at);
      if (ctx.json) ctx.emit({ name: b.name, id: toHex(b.id), current: b.current });
      else ctx.out(`created branch '${b.name}' at ${toHex(b.id).slice(0, 12)}`);
      return 0;
    }),
};
