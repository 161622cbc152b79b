// shoal verify [<rev>] [--json]: check every commit signature in the history.
import { toHex, verifyCommit } from '../../core/index.ts';
import { peerIdFromPublicKeyBytes } from '../../net/index.ts';
import { log } from '../../vcs/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import { plural } from '../format.ts';
import type { Command } from '../main.ts';
import { revOf, withRepo } from '../repo.ts';

const USAGE = 'shoal verify [<rev>] [--json]';

const OPTIONS = {} satisfies Options;

export const command: Command = {
  summary: 'check the signature of every commit in the history',
  usage: USAGE,
  options: OPTIONS,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, (repo) => {
      const { positionals } = parse(args, OPTIONS, USAGE);
      if (positionals.length > 1) usage(USAGE);
      const start = revOf(ctx, repo, positionals[0] ?? 'HEAD');
      const commits = [...log(repo, [start])].map(({ id, commit }) => ({
        id: toHex(id),
        author: commit.author.name,
        signer: peerIdFromPublicKeyBytes(commit.author.key),
        valid: verifyCommit(commit),
      }));
      const bad = commits.filter((c) => !c.valid);
      if (ctx.json) ctx.emit({ ok: bad.length === 0, commits });
      else {
        for (const c of bad) ctx.err(`error: commit ${c.id} has a bad signature`);
        ctx.out(`${plural(commits.length, 'commit')} checked, ${plural(bad.length, 'bad signature')}`);
      }
      return bad.length === 0 ? 0 : 1;
    }),
};
