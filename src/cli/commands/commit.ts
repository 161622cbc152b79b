// shoal commit -m <msg> [--author <name>]: record the staged tree as a signed commit.
import { decodeCommit, ShoalError, toHex } from '../../core/index.ts';
import { commit, continueMerge, readMergeState } from '../../vcs/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import type { Command } from '../main.ts';
import { authorName, identity, withRepo } from '../repo.ts';

const USAGE = 'shoal commit -m <message> [--author <name>] [--allow-empty]';

const OPTIONS = {
  message: { type: 'string', short: 'm', multiple: true },
  author: { type: 'string' },
  'allow-empty': { type: 'boolean' },
} satisfies Options;

export const command: Command = {
  summary: 'record the staged changes as a signed commit',
  usage: USAGE,
  options: OPTIONS,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, async (repo) => {
      const { values, positionals } = parse(args, OPTIONS, USAGE);
      const messages = values.message as string[] | undefined;
      if (!messages || positionals.length > 0) usage(USAGE);
      // As git: a commit says what it is for. A message of only blank space says nothing.
      if (messages.every((m) => m.trim() === ''))
        throw new ShoalError('INVALID_ARGUMENT', 'aborting commit: the message is empty');
      if (readMergeState(repo)) {
        // As in git, committing during a merge concludes it (with two parents).
        const r = await continueMerge(repo, {
          identity: identity(),
          authorName: authorName(repo, values.author as string | undefined),
          message: messages.join('\n\n'),
        });
        const made = decodeCommit(repo.objects.read(r.head!, 'commit'));
        const head = repo.refs.head();
        const branch = head.kind === 'branch' ? head.name : null;
        if (ctx.json)
          ctx.emit({ id: toHex(r.head!), tree: toHex(made.tree), parents: made.parents.map(toHex), branch });
        else
          ctx.out(
            `[${branch ?? 'detached HEAD'} ${toHex(r.head!).slice(0, 12)}] ${messages[0]!.split('\n')[0]}`,
          );
        return 0;
      }
      const result = await commit(repo, {
        message: messages.join('\n\n'),
        authorName: authorName(repo, values.author as string | undefined),
        identity: identity(),
        allowEmpty: values['allow-empty'] === true,
      });
      if (ctx.json)
        ctx.emit({
          id: toHex(result.id),
          tree: toHex(result.tree),
          parents: result.parents.map(toHex),
          branch: result.branch,
        });
      else
        ctx.out(
          `[${result.branch ?? 'detached HEAD'} ${toHex(result.id).slice(0, 12)}] ${messages[0]!.split('\n')[0]}`,
        );
      return 0;
    }),
};
