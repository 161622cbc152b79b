// Progress and Ctrl-C handling shared by clone, fetch, pull and push.
import type { FetchProgress } from '../swarm/index.ts';
import type { Context } from './context.ts';

export function transferProgress(ctx: Context, label: string) {
  const p = ctx.progress(label);
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once('SIGINT', onSignal);
  let finished = false;
  return {
    signal: controller.signal,
    onProgress: (f: FetchProgress) =>
      p.onProgress({
        phase: f.phase,
        bytesDone: f.bytesDone,
        bytesTotal: f.phase === 'chunks' ? f.bytesTotal : undefined,
        peers: f.peers,
      }),
    done: () => {
      if (finished) return;
      finished = true;
      process.off('SIGINT', onSignal);
      p.done();
    },
  };
}
