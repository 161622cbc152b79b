// shoal id [--json]: this user's peer id, the Ed25519 key that also signs commits.
import { toHex } from '../../core/index.ts';
import { peerIdFromPublicKeyBytes } from '../../net/index.ts';
import { configDir } from '../../store/index.ts';
import { type Context, parse, usage } from '../context.ts';
import type { Command } from '../main.ts';
import { identity } from '../repo.ts';

const USAGE = 'shoal id [--json]';

export const command: Command = {
  summary: "show this user's peer id and public key",
  usage: USAGE,
  options: {},
  printsData: true,
  run(ctx: Context, args: string[]) {
    if (parse(args, {}, USAGE).positionals.length > 0) usage(USAGE);
    const user = identity();
    const peerId = peerIdFromPublicKeyBytes(user.publicKey);
    if (ctx.json) ctx.emit({ peerId, publicKey: toHex(user.publicKey), configDir: configDir() });
    else {
      ctx.out(peerId);
      if (!ctx.quiet) ctx.err(`public key ${toHex(user.publicKey)}`);
    }
    return 0;
  },
};
