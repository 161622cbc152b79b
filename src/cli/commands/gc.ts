// shoal gc [--dry-run] [--prune=<when>] [--json]: drop unreachable objects and compact packs.
import { ShoalError } from '../../core/index.ts';
import { DEFAULT_GRACE_MS, gc, parseGrace } from '../../vcs/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import { formatBytes, plural } from '../format.ts';
import type { Command } from '../main.ts';
import { withRepo } from '../repo.ts';

const USAGE = 'shoal gc [--dry-run] [--prune=<now|14d|12h...>] [--aggressive] [--json]';

const OPTIONS = {
  'dry-run': { type: 'boolean', short: 'n' },
  prune: { type: 'string' },
  aggressive: { type: 'boolean' },
} satisfies Options;

export const command: Command = {
  summary: 'drop unreachable objects, compact packs, report bytes reclaimed',
  usage: USAGE,
  options: OPTIONS,
  run: (ctx: Context, args: string[]) =>
    withRepo(ctx, async (repo) => {
      const { values, positionals } = parse(args, OPTIONS, USAGE);
      if (positionals.length > 0) usage(USAGE);
      const configured = repo.config('gc.grace');
      const prune = values.prune as string | undefined;
      let graceMs = DEFAULT_GRACE_MS;
      if (prune === undefined) {
        if (configured) {
          try {
            graceMs = parseGrace(configured);
          } catch (err) {
            throw new ShoalError(
              'INVALID_ARGUMENT',
              `config gc.grace: ${(err as Error).message} (fix it with: shoal config gc.grace <duration>)`,
            );
          }
        }
      } else {
        try {
          graceMs = parseGrace(prune);
        } catch (err) {
          // A bad --prune is misuse (exit 2); a bad gc.grace in the config is a failure (exit 1).
          throw new ShoalError('USAGE', `--prune: ${(err as Error).message}\nusage: ${USAGE}`);
        }
      }
      const progress = ctx.progress('gc');
      const controller = new AbortController();
      const onSignal = (): void => controller.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      let r: Awaited<ReturnType<typeof gc>>;
      try {
        r = await gc(repo, {
          dryRun: values['dry-run'] === true,
          aggressive: values.aggressive === true,
          graceMs,
          onProgress: progress.onProgress,
          signal: controller.signal,
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        progress.done();
      }
      if (ctx.json) ctx.emit(r);
      else {
        const would = r.dryRun ? 'would be ' : '';
        ctx.out(
          `${plural(r.objectsRemoved, 'unreachable object')} (${formatBytes(r.bytesRemoved)}) ${would}removed, ` +
            `${plural(r.packsRewritten, 'pack')} ${would}rewritten, ${formatBytes(r.bytesReclaimed)} ${would}reclaimed`,
        );
        if (r.reflogExpired > 0)
          ctx.out(`${r.reflogExpired} reflog ${r.reflogExpired === 1 ? 'entry' : 'entries'} ${would}expired`);
        if (r.refsDocsDropped > 0)
          ctx.out(
            `${r.refsDocsDropped} damaged signed refs ${r.refsDocsDropped === 1 ? 'document' : 'documents'} ${would}dropped`,
          );
      }
      return 0;
    }),
};
