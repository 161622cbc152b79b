// shoal pull [<remote>|<source>] [<branch>]: fetch, then merge the remote's branch into HEAD.
import { fromHex, ShoalError, toHex } from '../../core/index.ts';
import { fetchFromSwarm, remoteSource } from '../../swarm/index.ts';
import { assertNoInterruptedMove, merge, readMoveState } from '../../vcs/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import { formatBytes, plural } from '../format.ts';
import { removeTemporariesOnInterrupt } from '../interrupt.ts';
import type { Command } from '../main.ts';
import { describeMerge, mergeJson } from '../merge-report.ts';
import { authorName, identity, withRepo } from '../repo.ts';
import {
  checkSourceArgument,
  DOWNLOAD_OPTIONS,
  downloadSettings,
  skippedForkLines,
  transferProgress,
  warnKeptTags,
} from '../transfer.ts';

const USAGE =
  'shoal pull [<remote>|<source>] [<branch>] [--allow-unrelated-histories] [--peer <multiaddr>]... [--max-download <rate>]';

const OPTIONS = { ...DOWNLOAD_OPTIONS, 'allow-unrelated-histories': { type: 'boolean' } } satisfies Options;

export const command: Command = {
  summary: "fetch from peers and merge the remote's branch into the current one",
  usage: USAGE,
  options: OPTIONS,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, async (repo) => {
      const { values, positionals } = parse(args, OPTIONS, USAGE);
      if (positionals.length > 2) usage(USAGE);
      const head = repo.refs.head();
      const branch = positionals[1] ?? (head.kind === 'branch' ? head.name : undefined);
      if (!branch) throw new ShoalError('USAGE', 'HEAD is detached: name the branch to pull');
      checkSourceArgument(repo, positionals[0]);
      const user = identity();
      const mergeOptions = {
        identity: user,
        authorName: authorName(repo),
        allowUnrelated: values['allow-unrelated-histories'] === true,
      };
      // A pull whose merge stopped halfway (Ctrl-C, a full disk) moved the working tree toward
      // what its fetch found: pulling again finishes that merge first, as the merge would.
      const { remote } = remoteSource(repo, positionals[0]);
      const unfinished = readMoveState(repo)?.target;
      const tracking = repo.refs.get(`refs/remotes/${remote}/${branch}`);
      let finished: Awaited<ReturnType<typeof merge>> | undefined;
      if (unfinished && tracking && unfinished === toHex(tracking)) {
        // (its signal handlers go once it is done: the fetch below stops on Ctrl-C its own way)
        const handled = removeTemporariesOnInterrupt(ctx);
        finished = await merge(repo, tracking, { ...mergeOptions, name: `${remote}/${branch}` });
        handled();
      }
      // Before fetching: a fetch would move origin/<branch> past the commit an unfinished move
      // was going to, and the merge after it could then neither finish that move nor start.
      assertNoInterruptedMove(repo);
      const progress = transferProgress(ctx, 'pull');
      let fetched: Awaited<ReturnType<typeof fetchFromSwarm>>;
      try {
        fetched = await fetchFromSwarm(repo, positionals[0], {
          ...downloadSettings(values, (k) => repo.config(k), progress),
          user,
        });
      } finally {
        progress.done();
      }
      // Interrupted as the fetch completed: nothing is merged (the next pull does it).
      if (progress.signal.aborted) throw new ShoalError('ABORTED', 'interrupted');
      removeTemporariesOnInterrupt(ctx); // from here on as merge: it writes working files
      // What this fetch found, not the remote-tracking branch: that one may be left from an
      // earlier fetch of a branch the remote has deleted since.
      const theirs = fetched.canonical[`refs/heads/${branch}`];
      if (!theirs) {
        const stale = repo.refs.get(`refs/remotes/${remote}/${branch}`)
          ? ` (${remote}/${branch} is what an earlier fetch saw)`
          : '';
        throw new ShoalError('NOT_FOUND', `the remote has no branch '${branch}'${stale}`);
      }
      const merged = await merge(repo, fromHex(theirs), { ...mergeOptions, name: `${remote}/${branch}` });
      // What this pull did is the merge it finished, when the fetch brought nothing newer.
      const result = finished && merged.outcome === 'up-to-date' ? finished : merged;
      if (ctx.json) ctx.emit({ fetch: fetched, merge: mergeJson(result) });
      else {
        ctx.out(
          `fetched ${formatBytes(fetched.bytes)} from ${plural(fetched.peers.length, 'peer')} in ${fetched.seconds.toFixed(1)} s`,
        );
        for (const line of skippedForkLines(fetched.skippedForks)) ctx.out(line);
        warnKeptTags(ctx, fetched.tagsKept);
        describeMerge(ctx, result, `${remote}/${branch}`);
      }
      return result.outcome === 'conflicts' ? 1 : 0;
    }),
};
