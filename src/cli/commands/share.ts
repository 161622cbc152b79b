// shoal share [--private] | --list: register this repository with the user's daemon (shares.json
// in the config directory) and have a running daemon serve it at once.
import { repoUrl, ShoalError, toHex } from '../../core/index.ts';
import { addShare, readShares } from '../../store/index.ts';
import { ensureRepoIdentity, isRepository } from '../../swarm/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import { type DaemonNotice, notifyDaemon } from '../daemon-process.ts';
import type { Command } from '../main.ts';
import { identity, withRepo } from '../repo.ts';

const USAGE = 'shoal share [--private] | shoal share --list [--json]';

const OPTIONS = { private: { type: 'boolean' }, list: { type: 'boolean' } } satisfies Options;

export const command: Command = {
  summary: 'serve this repository from the daemon (see shoal daemon)',
  usage: USAGE,
  options: OPTIONS,
  async run(ctx: Context, args: string[]) {
    const { values, positionals } = parse(args, OPTIONS, USAGE);
    if (positionals.length > 0) usage(USAGE);
    if (values.list) {
      const shares = readShares().map((s) => ({ ...s, exists: isRepository(s.path) }));
      if (values.private) usage(USAGE);
      if (ctx.json) ctx.emit(shares);
      else for (const s of shares) ctx.data(`${s.path}${s.exists ? '' : '  (missing)'}`);
      return 0;
    }
    return withRepo(ctx, async (repo) => {
      const visibility = values.private ? 'private' : 'public';
      const state = await ensureRepoIdentity(repo, identity(), visibility);
      if (values.private && state.identity.visibility !== 'private') {
        throw new ShoalError(
          'CONFLICT',
          'this repository is already public: visibility is part of its identity and cannot change',
        );
      }
      const id = toHex(state.id);
      const change = addShare(repo.root, id);
      // The daemon serves a repository from one path: the first listed that holds it.
      const first = readShares().find((s) => s.id === id && isRepository(s.path));
      const servedFrom = first && first.path !== repo.root ? first.path : undefined;
      const daemon = await notifyDaemon();
      if (ctx.json)
        ctx.emit({
          path: repo.root,
          id,
          url: repoUrl(state.id),
          name: state.identity.name,
          visibility: state.identity.visibility,
          added: change !== 'unchanged',
          ...(change === 'changed' ? { replaced: true } : {}),
          ...(servedFrom ? { servedFrom } : {}),
          daemon: daemonSummary(daemon, id),
        });
      else
        ctx.out(
          `${change === 'unchanged' ? 'already sharing' : 'sharing'} ${repo.root} as ${repoUrl(state.id)} (${state.identity.visibility})${change === 'changed' ? ', in place of the repository shared from there before' : ''}`,
        );
      if (servedFrom && !ctx.json)
        ctx.err(
          `warning: ${servedFrom} holds the same repository and is shared first: the daemon serves it from there`,
        );
      report(ctx, daemon, id);
      return 0;
    });
  },
};

/** What the daemon said to a reload, for --json: `serving` tells whether it serves `id` now. */
export function daemonSummary(daemon: DaemonNotice, id?: string) {
  if (typeof daemon === 'string') return { state: daemon };
  return {
    state: 'reloaded',
    ...(id === undefined ? {} : { serving: daemon.repos.some((r) => r.id === id) }),
    repos: daemon.repos.length,
    skipped: daemon.skipped,
  };
}

function report(ctx: Context, daemon: DaemonNotice, id: string): void {
  if (ctx.json || ctx.quiet) return;
  if (daemon === 'not running') ctx.err("the daemon is not running: 'shoal daemon start' serves it");
  else if (daemon === 'signalled') ctx.err('asked the daemon to reload (it did not confirm)');
  else if (!daemon.repos.some((r) => r.id === id)) {
    for (const s of daemon.skipped) ctx.err(`warning: the daemon skips ${s.path}: ${s.reason}`);
  }
}
