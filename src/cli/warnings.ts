// Warnings several commands give on stderr, worded once.
import { toHex } from '../core/index.ts';
import type { Context } from './context.ts';
import { quotePath } from './format.ts';

/** Said on stderr, as git does, when HEAD leaves a detached commit that no ref holds. */
export function warnLeftBehind(ctx: Context, commit: Uint8Array | null | undefined): void {
  if (!commit || ctx.json) return;
  const short = toHex(commit).slice(0, 12);
  ctx.err(
    `warning: leaving commit ${short} behind: no branch or tag holds it (it stays in 'shoal reflog HEAD'); 'shoal branch <name> ${short}' keeps it`,
  );
}

/** Said on stderr: files the user changed while the move was writing others were left alone. */
export function warnKept(ctx: Context, kept: string[] | undefined): void {
  if (!kept || ctx.json) return;
  for (const p of kept)
    ctx.err(
      `warning: ${quotePath(p)} changed while the working tree was being updated: your version is kept, and differs from the new commit (see shoal status)`,
    );
}

/** Said by status and add, as git does: one line per directory passed over, the rest as usual. */
export function warnUnreadable(ctx: Context, dirs: readonly string[]): void {
  if (ctx.json) return;
  for (const d of dirs) ctx.err(`warning: could not read directory ${quotePath(`${d}/`)}: permission denied`);
}
