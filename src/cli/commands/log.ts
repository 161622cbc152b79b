// shoal log [--oneline] [--graph] [-n <N>] [--json] [<rev>]: history, newest first.
import { ShoalError, toHex } from '../../core/index.ts';
import { log, topoLog } from '../../vcs/index.ts';
import { type Context, type Options, parse } from '../context.ts';
import { formatTime } from '../format.ts';
import { GraphRenderer } from '../graph.ts';
import type { Command } from '../main.ts';
import { revOf, withRepo } from '../repo.ts';

const USAGE = 'shoal log [--oneline] [--graph] [-n <N>] [--json] [--all | <rev>...]';

const OPTIONS = {
  oneline: { type: 'boolean' },
  graph: { type: 'boolean' },
  'max-count': { type: 'string', short: 'n' },
  all: { type: 'boolean' },
} satisfies Options;

export const command: Command = {
  summary: 'show the history, newest first',
  usage: USAGE,
  options: OPTIONS,
  printsData: true,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, (repo) => {
      const { values, positionals } = parse(args, OPTIONS, USAGE);
      // git reads paths after `--`: taken for a revision, a path gave 'unknown revision'.
      if (args.includes('--') && args.indexOf('--') < args.length - 1)
        throw new ShoalError('USAGE', `log does not filter by path (after '--')\nusage: ${USAGE}`);
      if (values.all === true && positionals.length > 0)
        throw new ShoalError('USAGE', `--all walks every ref: name no revision with it\nusage: ${USAGE}`);
      const count = values['max-count'] as string | undefined;
      if (count !== undefined && !/^\d+$/.test(count))
        throw new ShoalError('USAGE', `-n: '${count}' is not a number of commits\nusage: ${USAGE}`);
      const limit = count === undefined ? Number.POSITIVE_INFINITY : Number(count);
      // As git: several revisions, or --all (every branch, tag and remote-tracking branch, and
      // HEAD), walk the history of all of them together.
      const everything =
        values.all === true
          ? repo.refs
              .list('refs/')
              .map((r) => r.id)
              .filter((id) => repo.objects.has(id))
          : [];
      if (!positionals[0] && everything.length === 0 && !repo.refs.headCommit()) {
        repo.refs.assertUnbornIsReal();
        if (ctx.json) ctx.emit([]);
        else ctx.out('no commits yet');
        return 0;
      }
      const head = repo.refs.headCommit();
      const starts =
        values.all === true
          ? [...(head ? [head] : []), ...everything]
          : (positionals.length > 0 ? positionals : ['HEAD']).map((r) => revOf(ctx, repo, r));
      const entries = [...(values.graph ? topoLog : log)(repo, starts, limit)];
      if (ctx.json) {
        ctx.emit(
          entries.map(({ id, commit: c }) => ({
            id: toHex(id),
            tree: toHex(c.tree),
            parents: c.parents.map(toHex),
            author: { name: c.author.name, key: toHex(c.author.key) },
            time: c.time,
            message: c.message,
          })),
        );
        return 0;
      }
      if (values.graph) {
        const graph = new GraphRenderer();
        for (const { id, commit: c } of entries) {
          const g = graph.next(toHex(id), c.parents.map(toHex));
          if (values.oneline) ctx.out(`${g.row} ${toHex(id).slice(0, 12)} ${c.message.split('\n')[0]}`);
          else {
            ctx.out(`${g.row} commit ${toHex(id)}`);
            const more = [
              ...(c.parents.length > 1
                ? [`merge: ${c.parents.map((p) => toHex(p).slice(0, 12)).join(' ')}`]
                : []),
              `author: ${c.author.name} <${toHex(c.author.key).slice(0, 16)}>`,
              `date:   ${formatTime(c.time)}`,
              '',
              ...c.message.split('\n').map((l) => `    ${l}`),
              '',
            ];
            // As wide as the row, so the text lines up under 'commit' when no column goes on.
            const pad = (g.connectors.length > 0 ? g.row.replace('*', '|') : g.pad).padEnd(g.row.length);
            for (const line of more) ctx.out(`${pad} ${line}`.trimEnd());
          }
          for (const line of g.connectors) ctx.out(line);
        }
        return 0;
      }
      for (const { id, commit: c } of entries) {
        if (values.oneline) {
          ctx.out(`${toHex(id).slice(0, 12)} ${c.message.split('\n')[0]}`);
          continue;
        }
        ctx.out(`commit ${toHex(id)}`);
        if (c.parents.length > 1) ctx.out(`merge: ${c.parents.map((p) => toHex(p).slice(0, 12)).join(' ')}`);
        ctx.out(`author: ${c.author.name} <${toHex(c.author.key).slice(0, 16)}>`);
        ctx.out(`date:   ${formatTime(c.time)}`);
        ctx.out('');
        for (const line of c.message.split('\n')) ctx.out(`    ${line}`);
        ctx.out('');
      }
      return 0;
    }),
};
