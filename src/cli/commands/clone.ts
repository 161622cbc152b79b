// shoal clone <source> [<dir>] [--peer <multiaddr>]... [--max-download <rate>]
import { ShoalError } from '../../core/index.ts';
import { cloneFromSwarm, parseSource } from '../../swarm/index.ts';
import { type Context, parse, usage } from '../context.ts';
import { formatBytes, plural } from '../format.ts';
import type { Command } from '../main.ts';
import {
  DOWNLOAD_OPTIONS,
  downloadSettings,
  onCommandLine,
  skippedForkLines,
  transferProgress,
  userSetting,
} from '../transfer.ts';

const USAGE =
  'shoal clone <source> [<dir>] [--peer <multiaddr>]... [--max-download <rate>] [--listen <multiaddr>]';

export const command: Command = {
  summary: 'copy a repository from its peers (from many at once)',
  usage: USAGE,
  options: DOWNLOAD_OPTIONS,
  async run(ctx: Context, args: string[]) {
    const { values, positionals } = parse(args, DOWNLOAD_OPTIONS, USAGE);
    if (positionals.length < 1 || positionals.length > 2) usage(USAGE);
    if (positionals[1] === '') throw new ShoalError('USAGE', "an empty string is not a directory (use '.')");
    onCommandLine(() => parseSource(positionals[0]!));
    const progress = transferProgress(
      ctx,
      'clone',
      "the files not written yet show as deleted in the clone: 'shoal restore .' there writes them",
    );
    try {
      const s = await cloneFromSwarm(positionals[0]!, positionals[1], {
        ...downloadSettings(values, userSetting, progress),
        cwd: ctx.cwd,
      });
      progress.done();
      if (ctx.json) ctx.emit(s);
      else {
        const forks = s.updated.filter((r) => r.startsWith('refs/remotes/'));
        if (!s.branch && Object.keys(s.canonical).length === 0 && forks.length > 0) {
          // Commits came, but only on peers' own branches: none signed by a delegate (a copy
          // served by someone who is not one, while no delegate was reached).
          ctx.out(
            `cloned into ${s.root}: no branch of the repository's delegates was found, only peers' own branches (nothing checked out):`,
          );
          for (const r of forks) ctx.out(`  ${r.slice('refs/remotes/'.length)}`);
          ctx.out("check one out with 'shoal switch -c <branch> <peer>/<branch>'");
        } else if (!s.branch && Object.keys(s.canonical).length === 0) {
          ctx.out(
            // A peer whose own clone is unfinished serves no refs either: it is not said to be empty.
            `cloned into ${s.root}: no commits yet (no peer reached holds one: the repository is empty, or their copies are unfinished); 'shoal pull' fetches them once one does`,
          );
        } else {
          ctx.out(
            `cloned into ${s.root}: ${formatBytes(s.bytes)} from ${plural(Object.keys(s.perPeer).length, 'peer')} in ${s.seconds.toFixed(1)} s (${formatBytes(s.bytes / Math.max(s.seconds, 0.001))}/s)`,
          );
        }
        for (const b of s.banned) ctx.err(`warning: dropped peer ${b.peer}: ${b.why}`);
        for (const r of s.refused) ctx.err(`warning: a fork was left out: ${r.why}`);
        if (s.branch) ctx.out(`on branch ${s.branch} at ${s.commit!.slice(0, 12)}`);
        for (const line of skippedForkLines(s.skippedForks)) ctx.out(line);
      }
      return 0;
    } finally {
      progress.done();
    }
  },
};
