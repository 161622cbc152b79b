// shoal init [<dir>]: create an empty repository.

import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { Repository } from '../../store/index.ts';
import { type Context, parse, usage } from '../context.ts';
import type { Command } from '../main.ts';

const USAGE = 'shoal init [<dir>]';

export const command: Command = {
  summary: 'create an empty repository',
  usage: USAGE,
  run(ctx: Context, args: string[]) {
    const { positionals } = parse(args, {}, USAGE);
    if (positionals.length > 1) usage(USAGE);
    const dir = resolve(ctx.cwd, positionals[0] ?? '.');
    mkdirSync(dir, { recursive: true });
    const repo = Repository.init(dir);
    repo.close();
    if (ctx.json) ctx.emit({ root: dir });
    else ctx.out(`initialized empty shoal repository in ${dir}/.shoal`);
    return 0;
  },
};
