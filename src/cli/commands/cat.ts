// shoal cat <rev>:<path>: one file's bytes on stdout, streamed and verified chunk by chunk.
import { once } from 'node:events';
import { ShoalError } from '../../core/index.ts';
import { commitTree, contentChunks, lookup, repoPath, splitRevPath } from '../../vcs/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import type { Command } from '../main.ts';
import { revOf, withRepo } from '../repo.ts';

const USAGE = 'shoal cat <rev>:<path>';

const OPTIONS = {} satisfies Options;

export const command: Command = {
  summary: "write one file's bytes to stdout",
  usage: USAGE,
  options: OPTIONS,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, async (repo) => {
      const { positionals } = parse(args, OPTIONS, USAGE);
      if (positionals.length !== 1) usage(USAGE);
      const spec = splitRevPath(positionals[0]!);
      const { rev } = spec;
      const path = spec.fromCwd ? repoPath(repo.root, ctx.cwd, spec.path) : spec.path;
      const entry = lookup(repo.objects, commitTree(repo.objects, revOf(ctx, repo, rev)), path);
      if (!entry || (spec.dirOnly && entry.kind !== 'dir'))
        throw new ShoalError(
          'PATH_NOT_FOUND',
          `path '${path}${spec.dirOnly ? '/' : ''}' does not exist in '${rev}'`,
        );
      if (entry.kind === 'dir')
        throw new ShoalError(
          'NOT_A_FILE',
          path === ''
            ? `'${rev}:' names the root directory, not a file`
            : `'${path}' is a directory in '${rev}'`,
        );
      const out = process.stdout;
      for (const chunk of contentChunks(repo.objects, entry)) {
        if (!out.write(chunk)) await once(out, 'drain');
      }
      return 0;
    }),
};
