// shoal peers [--wait <seconds>] [--no-mdns] [--json]: peers on the LAN (found with mDNS during
// the wait) and known peers (from earlier transfers), each with the repositories it serves us.
import { ShoalError } from '../../core/index.ts';
import { readKnownPeers } from '../../store/index.ts';
import { findPeers } from '../../swarm/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import type { Command } from '../main.ts';
import { identity, lanDiscovery } from '../repo.ts';

const USAGE = 'shoal peers [--wait <seconds>] [--no-mdns] [--json]';

const OPTIONS = { wait: { type: 'string' }, 'no-mdns': { type: 'boolean' } } satisfies Options;

export const command: Command = {
  summary: 'list peers on the LAN and known peers, with the repositories they serve',
  usage: USAGE,
  options: OPTIONS,
  printsData: true,
  async run(ctx: Context, args: string[]) {
    const { values, positionals } = parse(args, OPTIONS, USAGE);
    if (positionals.length > 0) usage(USAGE);
    const wait = values.wait === undefined ? 2 : Number(values.wait);
    if (!Number.isFinite(wait) || wait < 0 || wait > 600)
      throw new ShoalError('USAGE', `--wait: '${String(values.wait)}' is not a number of seconds (0 to 600)`);
    const peers = await findPeers({
      user: identity(),
      lanWaitMs: values['no-mdns'] || !lanDiscovery(true) ? 0 : Math.round(wait * 1000),
      known: readKnownPeers(),
    });
    if (ctx.json) {
      ctx.emit(peers);
      return 0;
    }
    if (peers.length === 0 && !ctx.quiet) ctx.err('no peers found');
    for (const p of peers) {
      const state = p.reachable ? '' : `, unreachable: ${p.error ?? 'no answer'}`;
      ctx.out(`${p.peerId}  (${p.sources.join(', ')}${state})`);
      for (const a of p.addrs) ctx.out(`  address  ${a}`);
      for (const r of p.repos)
        ctx.out(`  repo     shoal://${r.id}  ${r.name}${r.visibility === 'private' ? '  (private)' : ''}`);
    }
    return 0;
  },
};
