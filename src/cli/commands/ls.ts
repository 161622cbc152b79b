// shoal ls [<rev>] [<path>] [--json]: the files of a commit with size and content id.
import { isShoalError, ShoalError, toHex } from '../../core/index.ts';
import { commitTree, flatten, lookup, repoPath } from '../../vcs/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import { quotePath } from '../format.ts';
import type { Command } from '../main.ts';
import { revOf, withRepo } from '../repo.ts';

const USAGE = 'shoal ls [<rev>] [<path>] [--json]';

const OPTIONS = {} satisfies Options;

export const command: Command = {
  summary: 'list the files of a commit with size and id',
  usage: USAGE,
  options: OPTIONS,
  printsData: true,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, (repo) => {
      const { positionals } = parse(args, OPTIONS, USAGE);
      if (positionals.length > 2) usage(USAGE);
      // One argument is a revision, or else a path of HEAD's (`shoal ls data/`), as `ls [<rev>]
      // [<path>]` reads with the revision left out.
      let [rev, given] = [positionals[0] ?? 'HEAD', positionals[1]];
      let commit: Uint8Array;
      try {
        commit = revOf(ctx, repo, rev);
      } catch (err) {
        if (!isShoalError(err, 'UNKNOWN_REV') || positionals.length !== 1) throw err;
        const asPath = repoPath(repo.root, ctx.cwd, rev);
        const head = repo.refs.headCommit();
        if (!head || !lookup(repo.objects, commitTree(repo.objects, head), asPath)) throw err;
        [rev, given, commit] = ['HEAD', positionals[0], head];
      }
      // Relative to the directory the command runs in, as other commands' paths are; by default
      // that directory itself (the whole tree from the root). Paths are shown from the root.
      const path = repoPath(repo.root, ctx.cwd, given ?? '.');
      const tree = commitTree(repo.objects, commit);
      const entry = lookup(repo.objects, tree, path);
      // The current directory, when the commit does not have it, lists nothing (as git's ls-tree).
      if (!entry && given !== undefined)
        throw new ShoalError('PATH_NOT_FOUND', `path '${path}' does not exist in '${rev}'`);
      const files = !entry
        ? []
        : entry.kind === 'dir'
          ? [...flatten(repo.objects, entry.id, path)]
          : [
              {
                path,
                kind: entry.kind,
                executable: entry.executable,
                size: entry.size,
                id: entry.id,
                height: entry.height,
              },
            ];
      if (ctx.json) {
        ctx.emit(
          files.map((f) => ({
            path: f.path,
            kind: f.kind,
            executable: f.executable,
            size: f.size,
            id: toHex(f.id),
          })),
        );
        return 0;
      }
      const width = Math.max(1, ...files.map((f) => String(f.size).length));
      for (const f of files)
        ctx.out(`${toHex(f.id).slice(0, 12)} ${String(f.size).padStart(width)} ${quotePath(f.path)}`);
      return 0;
    }),
};
