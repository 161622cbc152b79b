// shoal init [<dir>] [--private]: create an empty repository.

import { resolve } from 'node:path';
import { pathError, ShoalError } from '../../core/index.ts';
import { makeDirs, Repository, refuseInsideRepoDir } from '../../store/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import type { Command } from '../main.ts';
import { identity } from '../repo.ts';

const USAGE = 'shoal init [<dir>] [--private]';

const OPTIONS = { private: { type: 'boolean' } } satisfies Options;

export const command: Command = {
  summary: 'create an empty repository',
  usage: USAGE,
  options: OPTIONS,
  async run(ctx: Context, args: string[]) {
    const { values, positionals } = parse(args, OPTIONS, USAGE);
    if (positionals.length > 1) usage(USAGE);
    // '' would resolve to the current directory (`init "$UNSET"`): no directory at all, as in git.
    if (positionals[0] === '') throw new ShoalError('USAGE', "an empty string is not a directory (use '.')");
    const dir = resolve(ctx.cwd, positionals[0] ?? '.');
    refuseInsideRepoDir(dir); // before any directory is made for it
    try {
      makeDirs(dir);
    } catch (err) {
      // a file at the path, or where one of its parent directories would be
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOTDIR') throw pathError(err, dir) ?? err;
      throw new ShoalError(
        'ALREADY_EXISTS',
        `cannot create a repository at '${dir}': a file stands in its path`,
      );
    }
    const repo = Repository.init(dir);
    try {
      // A private repository needs its identity now: visibility is part of it, and only the
      // keys it lists (delegates, access.readers, access.writers) may fetch it.
      // (Loaded only then: the swarm pulls in libp2p, which plain init does not need.)
      if (values.private === true) {
        const { ensureRepoIdentity } = await import('../../swarm/index.ts');
        await ensureRepoIdentity(repo, identity(), 'private');
      }
    } finally {
      repo.close();
    }
    if (ctx.json) ctx.emit({ root: dir, ...(values.private === true ? { visibility: 'private' } : {}) });
    else
      ctx.out(
        `initialized empty ${values.private === true ? 'private ' : ''}shoal repository in ${dir}/.shoal`,
      );
    return 0;
  },
};
