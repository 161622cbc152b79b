// shoal info [--json]: this repository's id, its shoal:// URL, delegates and visibility.
import { repoUrl, toHex } from '../../core/index.ts';
import { peerIdFromPublicKeyBytes } from '../../net/index.ts';
import { ensureRepoIdentity } from '../../swarm/index.ts';
import { type Context, parse, usage } from '../context.ts';
import type { Command } from '../main.ts';
import { identity, withRepo } from '../repo.ts';

const USAGE = 'shoal info [--json]';

export const command: Command = {
  summary: "show this repository's id, URL, delegates and visibility",
  usage: USAGE,
  options: {},
  printsData: true,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, async (repo) => {
      if (parse(args, {}, USAGE).positionals.length > 0) usage(USAGE);
      const state = await ensureRepoIdentity(repo, identity());
      const doc = state.identity;
      const info = {
        id: toHex(state.id),
        url: repoUrl(state.id),
        name: doc.name,
        created: doc.created,
        visibility: doc.visibility,
        delegates: doc.delegates.map((k) => ({ peerId: peerIdFromPublicKeyBytes(k), publicKey: toHex(k) })),
        readers: repo.config('access.readers') ?? '',
        writers: repo.config('access.writers') ?? '',
      };
      if (ctx.json) ctx.emit(info);
      else {
        ctx.out(`id          ${info.id}`);
        ctx.out(`url         ${info.url}`);
        ctx.out(`name        ${info.name}`);
        ctx.out(`visibility  ${info.visibility}`);
        for (const d of info.delegates) ctx.out(`delegate    ${d.peerId}`);
        // Who else may read or write, as configured (this repository's setting, else the global).
        for (const [label, list] of [
          ['reader', info.readers],
          ['writer', info.writers],
        ] as const)
          for (const entry of list.split(/[\s,]+/).filter(Boolean)) ctx.out(`${label.padEnd(12)}${entry}`);
      }
      return 0;
    }),
};
