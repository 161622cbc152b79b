// shoal serve [--listen <multiaddr>...] [--max-upload <rate>]: serve this repository in the
// foreground until Ctrl-C.
import { once } from 'node:events';
import { ensureRepoIdentity, pushHandler, startPeer } from '../../swarm/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import type { Command } from '../main.ts';
import { identity, lanDiscovery, withRepo } from '../repo.ts';
import { checkAddressOptions, rateOption, rateSetting } from '../transfer.ts';
import { warnKept } from '../warnings.ts';

const USAGE = 'shoal serve [--listen <multiaddr>]... [--max-upload <rate>] [--mdns]';

const OPTIONS = {
  listen: { type: 'string', multiple: true },
  'max-upload': { type: 'string' },
  mdns: { type: 'boolean' },
} satisfies Options;

export const command: Command = {
  summary: 'serve this repository to peers until interrupted',
  usage: USAGE,
  options: OPTIONS,
  async run(ctx: Context, args: string[]) {
    // Misuse is told apart before anything else (and before the repository gets an identity).
    const { values, positionals } = parse(args, OPTIONS, USAGE);
    if (positionals.length > 0) usage(USAGE);
    const maxUpload = rateOption(values['max-upload'], 'max-upload');
    checkAddressOptions(values);
    return withRepo(ctx, async (repo) => {
      const user = identity();
      const state = await ensureRepoIdentity(repo, user);
      const reported = new Set<string>();
      const listen =
        (values.listen as string[] | undefined) ??
        (repo.config('serve.listen') ?? '/ip4/0.0.0.0/tcp/0').split(/\s+/);
      const peer = await startPeer({
        user,
        listen,
        mdns: lanDiscovery(values.mdns === true || repo.config('serve.mdns') === 'true'),
        maxUpload: maxUpload ?? rateSetting(repo.config('transfer.max-upload'), 'transfer.max-upload'),
        // Once per object: a peer asking again for a damaged chunk is told again that it is missing.
        onEvent: (e) => {
          if ((e.type !== 'damaged' && e.type !== 'failed') || ctx.quiet || reported.has(e.message ?? ''))
            return;
          reported.add(e.message ?? '');
          if (e.type === 'damaged') ctx.err(`warning: ${e.message}: answered as missing; run 'shoal fsck'`);
          else ctx.err(`warning: could not answer peer ${e.peer}: ${e.message}`);
        },
      });
      peer.server.add({ repo, state });
      peer.server.setPushHandler(
        pushHandler(
          () => peer.node,
          peer.download,
          (_root, paths) => warnKept(ctx, paths),
        ),
      );
      const addrs = peer.addrs();
      if (ctx.json)
        ctx.emit({ peerId: peer.node.peerId.toString(), repo: Buffer.from(state.id).toString('hex'), addrs });
      else for (const a of addrs) ctx.out(a);
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      await once(stop.signal, 'abort');
      await peer.stop();
      if (!ctx.json && !ctx.quiet) ctx.err('stopped');
      return 0;
    });
  },
};
