// shoal fetch [<remote>|<source>] [--peer <multiaddr>]...: bring in what peers have.
import { fetchFromSwarm } from '../../swarm/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import { formatBytes, plural } from '../format.ts';
import type { Command } from '../main.ts';
import { withRepo } from '../repo.ts';
import {
  checkSourceArgument,
  DOWNLOAD_OPTIONS,
  downloadSettings,
  skippedForkLines,
  transferProgress,
  warnKeptTags,
} from '../transfer.ts';

const USAGE = 'shoal fetch [<remote>|<source>] [--prune] [--peer <multiaddr>]... [--max-download <rate>]';

const OPTIONS = { ...DOWNLOAD_OPTIONS, prune: { type: 'boolean', short: 'p' } } satisfies Options;

export const command: Command = {
  summary: 'download new commits from peers and update remote-tracking branches',
  usage: USAGE,
  options: OPTIONS,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, async (repo) => {
      const { values, positionals } = parse(args, OPTIONS, USAGE);
      if (positionals.length > 1) usage(USAGE);
      checkSourceArgument(repo, positionals[0]);
      const progress = transferProgress(ctx, 'fetch');
      try {
        const s = await fetchFromSwarm(
          repo,
          positionals[0],
          // As git's --prune: tracking branches of branches the remote (or a fork) deleted go.
          { ...downloadSettings(values, (k) => repo.config(k), progress), prune: values.prune === true },
        );
        progress.done();
        if (ctx.json) ctx.emit(s);
        else {
          for (const b of s.banned) ctx.err(`warning: dropped peer ${b.peer}: ${b.why}`);
          for (const r of s.refused) ctx.err(`warning: a fork was left out: ${r.why}`);
          ctx.out(
            `fetched ${formatBytes(s.bytes)} (${plural(s.chunks, 'chunk')}, ${plural(s.metadataObjects, 'other object')}) from ${plural(Object.keys(s.perPeer).length || s.peers.length, 'peer')} in ${s.seconds.toFixed(1)} s`,
          );
          for (const u of s.updated) ctx.out(`  updated ${u.replace(/^refs\/(remotes\/)?/, '')}`);
          for (const p of s.pruned) ctx.out(`  pruned ${p.slice('refs/remotes/'.length)}`);
          for (const line of skippedForkLines(s.skippedForks)) ctx.out(line);
          warnKeptTags(ctx, s.tagsKept);
        }
        return 0;
      } finally {
        progress.done();
      }
    }),
};
