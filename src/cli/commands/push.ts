// shoal push [<remote>|<source>] [<branch>|<tag>] [--tags] [--force]: ask a peer to take our
// branch or tags. shoal push <remote> --delete <branch>...: ask it to delete branches or tags.
import { pushToSwarm, shortRef } from '../../swarm/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import { removeTemporariesOnInterrupt } from '../interrupt.ts';
import type { Command } from '../main.ts';
import { identity, withRepo } from '../repo.ts';
import { checkAddressOptions, checkSourceArgument, rateFrom, stallSetting } from '../transfer.ts';

const USAGE =
  'shoal push [<remote>|<source>] [<branch>|<tag>] [--tags] [--force] [--peer <multiaddr>]... [--max-upload <rate>] | shoal push (<remote>|<source>) --delete <branch>...';

const OPTIONS = {
  force: { type: 'boolean', short: 'f' },
  delete: { type: 'boolean', short: 'd' },
  tags: { type: 'boolean' },
  peer: { type: 'string', multiple: true },
  'max-upload': { type: 'string' },
  listen: { type: 'string', multiple: true },
} satisfies Options;

export const command: Command = {
  summary: 'send a branch or tags to a peer, which fetches what it lacks',
  usage: USAGE,
  options: OPTIONS,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, async (repo) => {
      const { values, positionals } = parse(args, OPTIONS, USAGE);
      const deleting = values.delete === true;
      // no remote: origin, as fetch and pull; a deletion names its remote, as in git
      if (deleting ? positionals.length < 2 || values.tags : positionals.length > 2) usage(USAGE);
      checkSourceArgument(repo, positionals[0]);
      checkAddressOptions(values);
      // Ctrl-C or SIGTERM ends a push at once, saying so (exit 1, ABORTED with --json): nothing
      // is written here until the peer has taken it, and the peer drops a push cut short.
      removeTemporariesOnInterrupt(ctx);
      const progress = ctx.progress('push');
      let s: Awaited<ReturnType<typeof pushToSwarm>>;
      try {
        s = await pushToSwarm(
          repo,
          positionals[0],
          deleting ? { delete: positionals.slice(1) } : { name: positionals[1], tags: values.tags === true },
          {
            user: identity(),
            force: values.force === true,
            peers: values.peer as string[] | undefined,
            maxUpload: rateFrom(values['max-upload'], 'max-upload', (k) => repo.config(k)),
            listen: values.listen as string[] | undefined,
            stallMs: stallSetting((k) => repo.config(k)),
            onProgress: progress.onProgress,
          },
        );
      } finally {
        progress.done();
      }
      if (ctx.json) ctx.emit(s);
      else if (deleting) {
        // Named as typed when it said which (`heads/x`, `tags/x`), and so wherever a branch and
        // a tag of one name are both in the answer.
        const all = [...s.deleted, ...s.notThere];
        const typed = new Set(positionals.slice(1).map((n) => n.replace(/^refs\//, '')));
        const said = (ref: string): string =>
          typed.has(ref.slice('refs/'.length)) || all.some((r) => r !== ref && shortRef(r) === shortRef(ref))
            ? ref.slice('refs/'.length)
            : shortRef(ref);
        for (const ref of s.deleted) ctx.out(`deleted ${said(ref)} on ${s.remote}`);
        for (const ref of s.notThere) ctx.out(`${said(ref)}: not on ${s.remote}, nothing to delete`);
      } else if (s.updated.length === 0) ctx.out('everything up to date');
      else {
        for (const ref of s.updated) {
          const commit = s.pushed.find((p) => p.ref === ref)?.commit ?? '';
          const kind = ref.startsWith('refs/tags/') ? 'tag ' : '';
          ctx.out(`${kind}${shortRef(ref)} -> ${s.remote} (${commit.slice(0, 12)})`);
        }
      }
      return 0;
    }),
};
