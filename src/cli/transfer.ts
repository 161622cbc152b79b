// Progress and Ctrl-C handling shared by clone, fetch, pull and push.
import { isShoalError, ShoalError } from '../core/index.ts';
import { checkListenAddress } from '../net/index.ts';
import { globalConfigFile, type Repository, readConfigValue } from '../store/index.ts';
import {
  checkPeerAddress,
  type FetchProgress,
  type KeptTag,
  parseRate,
  parseSource,
  remoteSource,
  type SkippedFork,
  type TransferOptions,
} from '../swarm/index.ts';
import { stopWritingFiles } from '../vcs/index.ts';
import type { Context, Options } from './context.ts';
import { formatBytes } from './format.ts';
import { exitInterrupted } from './interrupt.ts';
import { identity, lanDiscoveryConfigured } from './repo.ts';

/** The options of every command that downloads: clone, fetch, pull. */
export const DOWNLOAD_OPTIONS = {
  peer: { type: 'string', multiple: true },
  'max-download': { type: 'string' },
  listen: { type: 'string', multiple: true },
} satisfies Options;

const MAX_STALL_SECONDS = 86_400;

/**
 * Run a check of something given on the command line (a source, a peer address, a listen
 * address): a value of the wrong form there is misuse, exit status 2, as a bad rate or count
 * is; the same value read from a config file stays a failure naming the setting.
 */
export function onCommandLine<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (isShoalError(err, 'INVALID_ARGUMENT')) throw new ShoalError('USAGE', err.message, err.detail);
    throw err;
  }
}

/**
 * The `[<remote>|<source>]` argument of fetch, pull and push: a remote's name, or a source
 * checked as a command-line argument.
 */
export function checkSourceArgument(repo: Repository, nameOrSource: string | undefined): void {
  if (nameOrSource === undefined) return;
  let given: ReturnType<typeof remoteSource>;
  try {
    given = remoteSource(repo, nameOrSource);
  } catch {
    return; // no remote of that name: said by the command itself, after its settings
  }
  if (!given.named) onCommandLine(() => parseSource(given.source));
}

/** The --peer and --listen values of a transfer command, checked as command-line arguments. */
export function checkAddressOptions(values: Record<string, unknown>): void {
  onCommandLine(() => {
    for (const p of (values.peer as string[] | undefined) ?? []) checkPeerAddress(p);
    for (const l of (values.listen as string[] | undefined) ?? []) checkListenAddress(l);
  });
}

/** transfer.stall-timeout in milliseconds (undefined: the default). */
export function stallSetting(setting: (key: string) => string | undefined): number | undefined {
  const stall = setting('transfer.stall-timeout');
  const stallSeconds = stall === undefined ? undefined : Number(stall);
  // Up to a day: timers hold at most about 24.8 days, and a longer one fires at once, over and
  // over (Infinity passed `> 0`).
  if (stallSeconds !== undefined && !(stallSeconds > 0 && stallSeconds <= MAX_STALL_SECONDS)) {
    throw new ShoalError(
      'INVALID_ARGUMENT',
      `transfer.stall-timeout must be a number of seconds above 0 and at most ${MAX_STALL_SECONDS}, not '${stall}'`,
    );
  }
  return stallSeconds === undefined ? undefined : stallSeconds * 1000;
}

/** Transfer settings from those options; `configuredRate` is the transfer.max-download setting. */
export function downloadSettings(
  values: Record<string, string | boolean | string[] | undefined>,
  setting: (key: string) => string | undefined,
  progress: { onProgress: ((p: FetchProgress) => void) | undefined; signal: AbortSignal },
): TransferOptions {
  const forkLimit = setting('fetch.fork-limit');
  const forkBytes = forkLimit === undefined ? undefined : parseRate(forkLimit);
  if (forkLimit !== undefined && forkBytes === undefined) {
    throw new ShoalError(
      'INVALID_ARGUMENT',
      `fetch.fork-limit must be a size in bytes with an optional k, M or G suffix (like 500M, or 0), not '${forkLimit}'`,
    );
  }
  checkAddressOptions(values);
  return {
    stallMs: stallSetting(setting),
    forkLimit: forkBytes,
    user: identity(),
    mdns: lanDiscoveryConfigured(),
    peers: values.peer as string[] | undefined,
    maxDownload: rateFrom(values['max-download'], 'max-download', setting),
    listen: values.listen as string[] | undefined,
    onProgress: progress.onProgress,
    signal: progress.signal,
  };
}

/**
 * Progress and Ctrl-C for clone, fetch and pull. `whileWriting` is what finishes the work when
 * Ctrl-C stops the command while it writes working files (a clone's checkout).
 */
export function transferProgress(ctx: Context, label: string, whileWriting?: string) {
  const p = ctx.progress(label);
  const show = p.onProgress; // undefined when nothing is drawn: no work for the display then
  const controller = new AbortController();
  // Ctrl-C or SIGTERM: a transfer stops cleanly, keeping what it verified and stored. Once the
  // working files are being written (a clone's checkout), no further file is started, and one
  // being written is removed as local commands do (interrupt.ts).
  // A second signal ends the command at once, wherever it is.
  const onSignal = (): void => {
    const again = controller.signal.aborted;
    controller.abort();
    if (stopWritingFiles()) exitInterrupted(ctx, whileWriting);
    if (again) exitInterrupted(ctx);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let finished = false;
  return {
    signal: controller.signal,
    onProgress: show
      ? (f: FetchProgress) =>
          show({
            phase: f.phase,
            bytesDone: f.bytesDone,
            bytesTotal: f.phase === 'chunks' ? f.bytesTotal : undefined,
            peers: f.peers,
          })
      : undefined,
    done: () => {
      if (finished) return;
      finished = true;
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      p.done();
    },
  };
}

/** One line per fork a fetch left out (fetch, pull, clone). */
export function skippedForkLines(skipped: readonly SkippedFork[]): string[] {
  return skipped.map(
    (f) =>
      `  skipped ${f.ref}: ${
        f.reason === 'unavailable'
          ? `no peer could send it (${f.why}); fetch again to retry`
          : f.size === null
            ? 'fetch.fork-limit is 0'
            : `at least ${formatBytes(f.size.bytes)} to fetch, over the ${formatBytes(f.size.left)} left of fetch.fork-limit`
      }`,
  );
}

/** Said by fetch and pull for each tag kept here where the remote's is at another commit. */
export function warnKeptTags(ctx: Context, kept: readonly KeptTag[]): void {
  if (ctx.json) return;
  for (const k of kept)
    ctx.err(
      `warning: tag '${k.name}' is at ${k.ours.slice(0, 12)} here and at ${k.theirs.slice(0, 12)} on the remote: yours is kept ('shoal tag -f ${k.name} ${k.theirs.slice(0, 12)}' takes theirs)`,
    );
}

/** A user-level setting, for commands that run outside a repository (clone). */
export function userSetting(key: string): string | undefined {
  return readConfigValue(globalConfigFile(), key);
}

/** A rate: bytes per second with an optional k, M or G suffix; 0 is no limit. */
function checkedRate(text: string): number | undefined {
  const rate = parseRate(text);
  // Between 0 and 1 byte per second rounds to 0, which would mean no limit at all.
  if (rate === 0 && Number.parseFloat(text) !== 0) return undefined;
  return rate;
}

/** A rate given as the option `--<name>` (--max-upload, --max-download): misuse if not one. */
export function rateOption(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  const rate = checkedRate(String(value));
  if (rate === undefined)
    throw new ShoalError(
      'USAGE',
      `--${name}: '${String(value)}' is not a rate (like 30M, or 0 for no limit)`,
    );
  return rate;
}

/** A rate from the setting `key` (config): a failure, naming the key, when it is not one. */
export function rateSetting(value: string | undefined, key: string): number | undefined {
  if (value === undefined) return undefined;
  const rate = checkedRate(value);
  if (rate === undefined)
    throw new ShoalError(
      'INVALID_ARGUMENT',
      `${key} must be a rate in bytes per second with an optional k, M or G suffix (like 30M, or 0 for no limit), not '${value}'`,
    );
  return rate;
}

/** The option `--<name>` when given, else the setting `transfer.<name>` that `setting` reads. */
export function rateFrom(
  option: unknown,
  name: 'max-upload' | 'max-download',
  setting: (key: string) => string | undefined,
): number | undefined {
  const key = `transfer.${name}`;
  return option !== undefined ? rateOption(option, name) : rateSetting(setting(key), key);
}
