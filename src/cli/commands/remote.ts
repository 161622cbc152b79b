// shoal remote add <name> <source> | set-url <name> <source> | remove <name> | list [--json]
import { ShoalError } from '../../core/index.ts';
import { checkPeerAddress, parseSource } from '../../swarm/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import type { Command } from '../main.ts';
import { withRepo } from '../repo.ts';
import { onCommandLine } from '../transfer.ts';

const USAGE =
  'shoal remote add <name> <source> [--peer <multiaddr>]... | set-url <name> <source> [--peer <multiaddr>]... | remove <name> | list [--json]';

const OPTIONS = { peer: { type: 'string', multiple: true } } satisfies Options;

export const command: Command = {
  summary: 'manage named sources of a repository',
  usage: USAGE,
  options: OPTIONS,
  printsData: true,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, (repo) => {
      const { values, positionals } = parse(args, OPTIONS, USAGE);
      const [verb, name, source] = positionals;
      const namesIn = (config: Record<string, unknown>): string[] => [
        ...new Set(
          Object.keys(config)
            .filter((k) => /^remote\.[^.]+\.url$/.test(k))
            .map((k) => k.split('.')[1]!),
        ),
      ];
      const names = namesIn(repo.localConfig());
      switch (verb ?? 'list') {
        case 'add': {
          if (!name || !source || positionals.length !== 3) usage(USAGE);
          if (!/^[A-Za-z0-9_-]+$/.test(name))
            throw new ShoalError('INVALID_NAME', `'${name}' is not a valid remote name`);
          const peers = values.peer as string[] | undefined;
          onCommandLine(() => {
            parseSource(source);
            for (const p of peers ?? []) checkPeerAddress(p);
          });
          // Changed under the config file's lock: remotes added at once are all kept.
          repo.changeLocalConfig((config) => {
            if (namesIn(config).includes(name))
              throw new ShoalError('ALREADY_EXISTS', `remote '${name}' already exists`);
            config[`remote.${name}.url`] = source;
            if (peers?.length) config[`remote.${name}.peers`] = peers.join(' ');
          });
          if (ctx.json) ctx.emit({ name, url: source, peers: peers ?? [] });
          return 0;
        }
        case 'remove': {
          if (!name || positionals.length !== 2) usage(USAGE);
          repo.changeLocalConfig((config) => {
            if (!namesIn(config).includes(name))
              throw new ShoalError('NOT_FOUND', `no remote named '${name}'`);
            for (const k of Object.keys(config)) if (k.startsWith(`remote.${name}.`)) delete config[k];
          });
          const tracking = [...repo.refs.list(`refs/remotes/${name}/`)];
          for (const r of tracking) repo.refs.update(r.name, null, `remote remove ${name}`);
          if (ctx.json)
            ctx.emit({ name, removedBranches: tracking.map((r) => r.name.slice('refs/remotes/'.length)) });
          return 0;
        }
        case 'set-url': {
          // As git's: the remote keeps its name and its remote-tracking branches.
          if (!name || !source || positionals.length !== 3) usage(USAGE);
          const peers = values.peer as string[] | undefined;
          onCommandLine(() => {
            parseSource(source);
            for (const p of peers ?? []) checkPeerAddress(p);
          });
          repo.changeLocalConfig((config) => {
            if (!namesIn(config).includes(name))
              throw new ShoalError('NOT_FOUND', `no remote named '${name}'`);
            config[`remote.${name}.url`] = source;
            if (peers !== undefined) {
              if (peers.length > 0) config[`remote.${name}.peers`] = peers.join(' ');
              else delete config[`remote.${name}.peers`];
            }
          });
          if (ctx.json) {
            const after = repo.config(`remote.${name}.peers`);
            ctx.emit({ name, url: source, peers: after ? after.split(' ') : [] });
          }
          return 0;
        }
        case 'list': {
          if (positionals.length > 1) usage(USAGE);
          const list = names.map((n) => ({
            name: n,
            url: repo.config(`remote.${n}.url`)!,
            peers: (repo.config(`remote.${n}.peers`) ?? '').split(' ').filter(Boolean),
          }));
          if (ctx.json) ctx.emit(list);
          else for (const r of list) ctx.out(`${r.name}\t${r.url}`);
          return 0;
        }
        default:
          return usage(USAGE);
      }
    }),
};
