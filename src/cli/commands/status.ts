// shoal status: staged, modified, deleted and untracked paths.
import { toHex } from '../../core/index.ts';
import { interruptedMoveMessage } from '../../vcs/move-state.ts';
import { status } from '../../vcs/status.ts';
import { type Context, parse, usage } from '../context.ts';
import { quoteChangedPath, quotePath } from '../format.ts';
import type { Command } from '../main.ts';
import { withRepo } from '../repo.ts';
import { warnUnreadable } from '../warnings.ts';

const USAGE = 'shoal status [--json]';

export const command: Command = {
  summary: 'show staged, modified, deleted and untracked paths',
  usage: USAGE,
  options: {},
  printsData: true,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, async (repo) => {
      if (parse(args, {}, USAGE).positionals.length > 0) usage(USAGE);
      const s = await status(repo);
      warnUnreadable(ctx, s.unreadable);
      if (ctx.json) {
        ctx.emit({ ...s, head: s.head ? toHex(s.head) : null });
        return 0;
      }
      ctx.out(s.branch ? `on branch ${s.branch}` : `HEAD detached at ${toHex(s.head!).slice(0, 12)}`);
      // A clone stopped before it had a commit (it knows its repository and origin): pull
      // finishes it. A repository with no identity yet cannot pull.
      if (!s.head) {
        const pullable = repo.meta('repo-id') !== undefined && repo.config('remote.origin.url') !== undefined;
        ctx.out(pullable ? "no commits yet: 'shoal pull' brings origin's" : 'no commits yet');
      }
      const up = s.upstream;
      if (up) {
        const n = (k: number): string => `${k}${up.exact ? '' : '+'} commit${k === 1 && up.exact ? '' : 's'}`;
        ctx.out(
          up.ahead === 0 && up.behind === 0
            ? `up to date with '${up.name}'`
            : up.behind === 0
              ? `ahead of '${up.name}' by ${n(up.ahead)} (shoal push sends them)`
              : up.ahead === 0
                ? `behind '${up.name}' by ${n(up.behind)} (shoal pull brings them)`
                : `'${up.name}' and this branch have diverged: ${n(up.ahead)} here, ${n(up.behind)} there (shoal pull merges them)`,
        );
      }
      const move = s.unfinishedMove;
      if (move?.runningIn) {
        ctx.out('');
        ctx.out(
          `a move of the working tree to ${move.target?.slice(0, 12) ?? 'another commit'} is under way (process ${move.runningIn.pid}${move.runningIn.purpose ? `: ${move.runningIn.purpose}` : ''}): what follows changes as it goes`,
        );
      } else if (move) {
        ctx.out('');
        ctx.out(
          `warning: ${interruptedMoveMessage({ target: move.target ?? '', from: move.from, ...(move.finish ? { finish: move.finish } : {}) })}`,
        );
      }
      const section = (title: string, lines: string[]): void => {
        if (lines.length === 0) return;
        ctx.out('');
        ctx.out(`${title}:`);
        for (const l of lines) ctx.out(`  ${l}`);
      };
      section(
        'changes to be committed',
        s.staged.map((c) => `${c.change.padEnd(9)} ${quoteChangedPath(c.path, c.oldPath)}`),
      );
      section(
        'changes not staged for commit',
        s.unstaged.map((c) => `${c.change.padEnd(9)} ${quotePath(c.path)}`),
      );
      if (s.merging !== null) {
        ctx.out('');
        ctx.out(`merging '${s.merging}' (finish with shoal merge --continue, undo with shoal merge --abort)`);
      }
      section(
        'unmerged paths',
        s.conflicts.map(
          (c) =>
            `${(c.resolved ? 'resolved' : c.reason).padEnd(16)} ${quotePath(c.path)}${c.side && !c.resolved ? `  (theirs: ${quotePath(c.side)})` : ''}`,
        ),
      );
      section('untracked files', s.untracked.map(quotePath));
      // Already written as \xNN: quoting would escape the backslashes again.
      section(
        'names that are not UTF-8 (rename them, or list them in .shoalignore)',
        s.notUtf8.map((p) => `"${p}"`), // already escaped; quoted as quotePath quotes
      );
      if (
        s.staged.length + s.unstaged.length + s.untracked.length + s.conflicts.length + s.notUtf8.length ===
        0
      ) {
        ctx.out('nothing to commit, working tree clean');
      }
      return 0;
    }),
};
