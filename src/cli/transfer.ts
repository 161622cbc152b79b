// Progress and Ctrl-C handling shared by clone, fetch, pull and push.
import type { FetchProgress, TransferOptions } from '../swarm/index.ts';
import { rateOption } from './commands/serve.ts';
import type { Context, Options } from './context.ts';
import { identity, lanDiscoveryConfigured } from './repo.ts';

/** The options of every command that downloads: clone, fetch, pull. */
export const DOWNLOAD_OPTIONS = {
  peer: { type: 'string', multiple: true },
  'max-download': { type: 'string' },
  listen: { type: 'string', multiple: true },
} satisfies Options;

/** Transfer settings from those options; `configuredRate` is the transfer.max-download setting. */
export function downloadSettings(
  values: Record<string, string | boolean | string[] | undefined>,
  configuredRate: string | undefined,
  progress: { onProgress: (p: FetchProgress) => void; signal: AbortSignal },
): TransferOptions {
  return {
    user: identity(),
    mdns: lanDiscoveryConfigured(),
    peers: values.peer as string[] | undefined,
    maxDownload: rateOption(values['max-download'] ?? configuredRate, 'max-download'),
    listen: values.listen as string[] | undefined,
    onProgress: progress.onProgress,
    signal: progress.signal,
  };
}

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
