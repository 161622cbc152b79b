// Ctrl-C (or SIGTERM) in a command that writes working files: the files being written under a
// temporary name are removed, then the command ends as an interrupted add does. Without this the
// default exit left a partly written temporary beside the file for good. What was already done
// stays consistent as after a crash: the next checkout or switch completes the work.

import { removeTempFiles } from '../vcs/index.ts';
import type { Context } from './context.ts';

/**
 * Remove the temporaries being written and end the command as interrupted; `next` says what
 * finishes the work, where the command itself run again would not.
 */
export function exitInterrupted(ctx: Context, next?: string): never {
  removeTempFiles();
  const message = next ? `interrupted; ${next}` : 'interrupted';
  if (ctx.json) process.stdout.write(`${JSON.stringify({ error: { code: 'ABORTED', message } })}\n`);
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
}

/** Returns what takes the handlers off again, for work that hands the signals on to other handling. */
export function removeTemporariesOnInterrupt(ctx: Context): () => void {
  const stop = (): void => exitInterrupted(ctx);
  // (`on`, not `once`: a second Ctrl-C while the first is handled must not kill the process
  // before the temporaries are gone.)
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return () => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  };
}
