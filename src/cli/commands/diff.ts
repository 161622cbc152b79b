// shoal diff [--cached] [--stat] [<rev> [<rev>]] [-- <path>...]: changes between the index and
// the working tree, a commit and the working tree (or the index, with --cached), or two commits.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { isShoalError, ShoalError, toHex } from '../../core/index.ts';
import type { Repository } from '../../store/index.ts';
import { type DiffEnd, diff, type FileDiff, repoPath, resolveRev } from '../../vcs/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import { formatBytes, plural, quoteChangedPath, quotePath } from '../format.ts';
import type { Command } from '../main.ts';
import { revOf, withRepo } from '../repo.ts';

const USAGE = 'shoal diff [--cached] [--stat] [--json] [<rev> [<rev>]] [-- <path>...]';

function sizes(f: FileDiff): string {
  if (f.change === 'added') return formatBytes(f.newSize!);
  if (f.change === 'deleted') return formatBytes(f.oldSize!);
  return f.oldSize === f.newSize
    ? formatBytes(f.newSize!)
    : `${formatBytes(f.oldSize!)} -> ${formatBytes(f.newSize!)}`;
}

function delta(f: FileDiff): string {
  // Each that applies: a mode change is said beside a change of content too.
  const parts: string[] = [];
  if (f.lines) parts.push(`+${f.lines.added} -${f.lines.removed}`);
  else if (f.chunks)
    parts.push(
      `${formatBytes(f.chunks.addedBytes)} of chunks new, ${formatBytes(f.chunks.removedBytes)} gone`,
    );
  if (f.oldExecutable !== null && f.newExecutable !== null && f.oldExecutable !== f.newExecutable)
    parts.push(`mode ${f.newExecutable ? '+x' : '-x'}`);
  return parts.join(', ');
}

/** Whether `arg` resolves as a revision (quietly: a probe, not the use of it). */
function namesRev(repo: Repository, arg: string): boolean {
  try {
    resolveRev(repo, arg);
    return true;
  } catch (err) {
    if (isShoalError(err, 'UNKNOWN_REV')) return false;
    throw err;
  }
}

function endName(e: DiffEnd): string | null {
  return 'commit' in e ? (e.commit ? toHex(e.commit) : null) : 'index' in e ? 'index' : 'worktree';
}

const OPTIONS = {
  cached: { type: 'boolean' },
  staged: { type: 'boolean' },
  stat: { type: 'boolean' },
} satisfies Options;

export const command: Command = {
  summary: 'show changes between commits, the index and the working tree',
  usage: USAGE,
  options: OPTIONS,
  printsData: true,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, async (repo) => {
      const dash = args.indexOf('--');
      let pathArgs = dash >= 0 ? args.slice(dash + 1) : [];
      const parsed = parse(dash >= 0 ? args.slice(0, dash) : args, OPTIONS, USAGE);
      const { values } = parsed;
      let positionals = parsed.positionals;
      if (dash < 0) {
        // As git: without `--`, the arguments from the first one that names no revision but a
        // path on disk on are paths; one that names both is ambiguous.
        const first = positionals.findIndex((a) => !namesRev(repo, a));
        for (const a of positionals.slice(0, first < 0 ? positionals.length : first)) {
          if (existsSync(resolve(ctx.cwd, a)))
            throw new ShoalError(
              'USAGE',
              `'${a}' is both a revision and a path: put '--' before the paths (diff <rev> -- <path>)`,
            );
        }
        if (first >= 0 && existsSync(resolve(ctx.cwd, positionals[first]!))) {
          pathArgs = positionals.slice(first);
          positionals = positionals.slice(0, first);
        }
      }
      const cached = values.cached === true || values.staged === true;
      if (positionals.length > 2 || (cached && positionals.length > 1)) usage(USAGE);
      const rev = (r: string): DiffEnd => ({ commit: revOf(ctx, repo, r) });
      let from: DiffEnd;
      let to: DiffEnd;
      if (positionals.length === 2) {
        from = rev(positionals[0]!);
        to = rev(positionals[1]!);
      } else if (positionals.length === 1) {
        from = rev(positionals[0]!);
        to = cached ? { index: true } : { worktree: true };
      } else if (cached) {
        from = { commit: repo.refs.headCommit() ?? null };
        to = { index: true };
      } else {
        from = { index: true };
        to = { worktree: true };
      }
      const paths = pathArgs.map((p) => repoPath(repo.root, ctx.cwd, p));
      const stat = values.stat === true;
      const r = await diff(repo, { from, to, paths, patches: !stat });
      if (ctx.json) {
        ctx.emit({
          from: endName(from),
          to: endName(to),
          files: r.files.map((f) => ({
            ...f,
            oldId: f.oldId ? toHex(f.oldId) : null,
            newId: f.newId ? toHex(f.newId) : null,
          })),
          summary: r.summary,
        });
        return 0;
      }
      if (stat) {
        const width = Math.max(0, ...r.files.map((f) => quoteChangedPath(f.path, f.oldPath).length));
        for (const f of r.files) {
          const d = delta(f);
          ctx.out(
            ` ${quoteChangedPath(f.path, f.oldPath).padEnd(width)} | ${f.change.padEnd(8)} ${sizes(f)}${d ? `, ${d}` : ''}`,
          );
        }
        const s = r.summary;
        const parts = [`${plural(s.files, 'file')} changed`];
        if (s.linesAdded + s.linesRemoved > 0)
          parts.push(`${plural(s.linesAdded, 'line')} added, ${s.linesRemoved} removed`);
        if (s.chunkBytesAdded + s.chunkBytesRemoved > 0)
          parts.push(
            `${formatBytes(s.chunkBytesAdded)} of chunks new, ${formatBytes(s.chunkBytesRemoved)} gone`,
          );
        ctx.out(` ${parts.join(', ')}`);
        return 0;
      }
      for (const f of r.files) {
        const d = delta(f);
        ctx.out(`${f.change} ${quoteChangedPath(f.path, f.oldPath)} (${sizes(f)}${d ? `; ${d}` : ''})`);
        if (f.patch) {
          ctx.out(`--- ${f.change === 'added' ? '/dev/null' : quotePath(`a/${f.oldPath ?? f.path}`)}`);
          ctx.out(`+++ ${f.change === 'deleted' ? '/dev/null' : quotePath(`b/${f.path}`)}`);
          ctx.out(f.patch.replace(/\n$/, ''));
        }
      }
      return 0;
    }),
};
