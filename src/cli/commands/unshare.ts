// shoal unshare [<path>|<repo-id>]: stop serving a repository from the daemon. Without an
// argument, the repository we are in; a path also works for a repository that no longer exists.
import { resolve } from 'node:path';
import { ShoalError } from '../../core/index.ts';
import { Repository, removeShare } from '../../store/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import { notifyDaemon } from '../daemon-process.ts';
import type { Command } from '../main.ts';
import { daemonSummary } from './share.ts';

const USAGE = 'shoal unshare [<path> | <repo-id> | shoal://<repo-id>]';

const OPTIONS = {} satisfies Options;

export const command: Command = {
  summary: 'stop serving this repository from the daemon',
  usage: USAGE,
  options: OPTIONS,
  async run(ctx: Context, args: string[]) {
    const { positionals } = parse(args, OPTIONS, USAGE);
    if (positionals.length > 1) usage(USAGE);
    const target = positionals[0] ?? Repository.find(ctx.cwd);
    if (target === undefined)
      throw new ShoalError('NOT_A_REPOSITORY', 'not in a shoal repository: name the path or id to unshare');
    // An id as `share` prints it (shoal://<id>), or bare, in either case.
    const id = /^(shoal:\/\/)?([0-9a-f]{64})$/i.exec(target)?.[2]?.toLowerCase();
    const removed = removeShare(id ?? resolve(ctx.cwd, target));
    if (removed.length === 0) throw new ShoalError('NOT_FOUND', `'${target}' is not shared`);
    const daemon = await notifyDaemon();
    if (ctx.json) ctx.emit({ removed, daemon: daemonSummary(daemon) });
    else {
      for (const r of removed) ctx.out(`no longer sharing ${r.path}`);
      if (daemon === 'signalled' && !ctx.quiet) ctx.err('asked the daemon to reload (it did not confirm)');
    }
    return 0;
  },
};
