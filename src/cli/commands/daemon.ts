// shoal daemon start|stop|status: `serve` in the background, one per user, serving every
// repository registered with `shoal share`. `daemon run` (not listed) is the daemon itself,
// in the foreground; `start` spawns it detached.
import { once } from 'node:events';
import { statSync } from 'node:fs';
import { isShoalError, ShoalError, systemError } from '../../core/index.ts';
import { globalConfigFile, readConfigValue, readShares, type Share, sharesFile } from '../../store/index.ts';
import type { Daemon } from '../../swarm/index.ts';
import { type Context, parse, usage } from '../context.ts';
import {
  claimPidFile,
  controlRequest,
  type DaemonState,
  daemonFiles,
  fileLogger,
  findDaemon,
  readState,
  removeDaemonFiles,
  reportReady,
  rotateLog,
  serveControl,
  spawnDaemon,
  stopDaemon,
  writeState,
} from '../daemon-process.ts';
import type { Command } from '../main.ts';
import { identity, lanDiscovery } from '../repo.ts';

const USAGE = 'shoal daemon start [--listen <multiaddr>]... [--mdns | --no-mdns] | stop | status [--json]';
const DEFAULT_LISTEN = '/ip4/0.0.0.0/tcp/0';

const OPTIONS = {
  listen: { type: 'string', multiple: true },
  mdns: { type: 'boolean' },
  'no-mdns': { type: 'boolean' },
  'ready-fd': { type: 'string' },
} as const;

type Values = ReturnType<typeof parse>['values'];

export const command: Command = {
  summary: 'serve every shared repository in the background (start, stop, status)',
  usage: USAGE,
  options: OPTIONS,
  async run(ctx: Context, args: string[]) {
    const { values, positionals } = parse(args, OPTIONS, USAGE);
    if (positionals.length !== 1) usage(USAGE);
    // The options say how to start a daemon: `stop` and `status` take none.
    const verb = positionals[0];
    if ((verb === 'stop' || verb === 'status') && Object.values(values).some((v) => v !== undefined))
      usage(USAGE);
    switch (verb) {
      case 'start':
        return start(ctx, values);
      case 'stop':
        return stop(ctx);
      case 'status':
        return status(ctx);
      case 'run':
        return run(ctx, values);
      default:
        return usage(USAGE);
    }
  },
};

/** What `status` reports (data: -q keeps it). */
function describe(ctx: Context, s: DaemonState): void {
  ctx.data(`peer id    ${s.peerId}`);
  for (const a of s.addrs) ctx.data(`address    ${a}`);
  for (const r of s.repos) ctx.data(`serving    shoal://${r.id}  ${r.name}  ${r.path}`);
  for (const r of s.skipped) ctx.data(`skipped    ${r.path}: ${r.reason}`);
  ctx.data(`mdns       ${s.mdns ? 'on' : 'off'}`);
  ctx.data(`log        ${s.log}`);
}

async function liveState(): Promise<DaemonState | undefined> {
  try {
    return (await controlRequest('status', 5000)) ?? readState();
  } catch {
    return readState();
  }
}

async function start(ctx: Context, values: Values): Promise<number> {
  if (values.listen) {
    // Checked here, where a bad one is misuse, rather than by the daemon as it starts.
    const { checkListenAddress } = await import('../../net/index.ts');
    const { onCommandLine } = await import('../transfer.ts');
    onCommandLine(() => {
      for (const l of values.listen as string[]) checkListenAddress(l);
    });
  }
  const found = findDaemon();
  if (found.kind === 'running') {
    // Starting what runs is not an error (like `systemctl start`): scripts may just call it.
    const state = await liveState();
    if (ctx.json) ctx.emit({ running: true, alreadyRunning: true, pid: found.pid, ...state });
    else {
      ctx.out(`shoal daemon is already running (pid ${found.pid})`);
      for (const a of state?.addrs ?? []) ctx.out(a);
    }
    return 0;
  }
  if (found.kind === 'stale') removeDaemonFiles();
  const forward: string[] = [];
  for (const l of (values.listen as string[] | undefined) ?? []) forward.push('--listen', l);
  if (values.mdns) forward.push('--mdns');
  if (values['no-mdns']) forward.push('--no-mdns');
  let state: DaemonState;
  try {
    state = await spawnDaemon(forward);
  } catch (err) {
    // Another `start` won the race: that daemon is the one we wanted.
    if (!isShoalError(err, 'LOCKED')) throw err;
    const again = findDaemon();
    if (again.kind !== 'running') throw err;
    if (ctx.json) ctx.emit({ running: true, alreadyRunning: true, pid: again.pid, ...(await liveState()) });
    else ctx.out(`shoal daemon is already running (pid ${again.pid})`);
    return 0;
  }
  if (ctx.json) ctx.emit({ running: true, alreadyRunning: false, ...state });
  else {
    const n = state.repos.length;
    ctx.out(
      `shoal daemon started (pid ${state.pid}), serving ${n} ${n === 1 ? 'repository' : 'repositories'}`,
    );
    for (const a of state.addrs) ctx.out(a);
    for (const r of state.skipped) ctx.err(`warning: skipped ${r.path}: ${r.reason}`);
  }
  return 0;
}

async function stop(ctx: Context): Promise<number> {
  const found = findDaemon();
  if (found.kind !== 'running') {
    if (found.kind === 'stale') removeDaemonFiles();
    if (ctx.json)
      ctx.emit({
        running: false,
        stopped: false,
        ...(found.kind === 'stale' ? { stalePid: found.pid } : {}),
      });
    else
      ctx.out(
        found.kind === 'stale'
          ? `shoal daemon is not running (removed the stale pid file of process ${found.pid})`
          : 'shoal daemon is not running',
      );
    return 0;
  }
  await stopDaemon(found.pid);
  removeDaemonFiles(found.pid); // normally the daemon did, unless it was killed
  if (ctx.json) ctx.emit({ running: false, stopped: true, pid: found.pid });
  else ctx.out(`shoal daemon stopped (pid ${found.pid})`);
  return 0;
}

/** Exit status 0 when the daemon runs, 1 when it does not (as `config get` of a missing key). */
async function status(ctx: Context): Promise<number> {
  const found = findDaemon();
  if (found.kind !== 'running') {
    if (ctx.json)
      ctx.emit({
        running: false,
        ...(found.kind === 'stale' ? { stalePid: found.pid } : {}),
        log: daemonFiles().log,
      });
    else if (found.kind === 'stale')
      ctx.data(
        `shoal daemon is not running (stale pid file of process ${found.pid}; 'shoal daemon start' replaces it)`,
      );
    else ctx.data('shoal daemon is not running');
    return 1;
  }
  const state = await liveState();
  if (ctx.json) ctx.emit({ running: true, pid: found.pid, ...state });
  else {
    ctx.data(`shoal daemon is running (pid ${found.pid})`);
    if (state) describe(ctx, state);
  }
  return 0;
}

/** What tells one version of shares.json from the next (each is written anew and renamed). */
function sharesStamp(): string {
  try {
    const st = statSync(sharesFile());
    return `${st.ino} ${st.mtimeMs} ${st.size}`;
  } catch {
    return 'none';
  }
}

/** The daemon itself: serve until SIGTERM or SIGINT; SIGHUP or a control request reloads. */
async function run(ctx: Context, values: Values): Promise<number> {
  const readyFd = values['ready-fd'] === undefined ? undefined : Number(values['ready-fd']);
  if (readyFd !== undefined && !Number.isInteger(readyFd)) usage(USAGE);
  const files = daemonFiles();
  // Started by `daemon start`, stdout and stderr already go to the log; in the foreground, mirror it.
  if (readyFd === undefined) rotateLog(files.log);
  const log = fileLogger(files.log, readyFd === undefined ? (line) => process.stderr.write(line) : undefined);
  // Once the pid file is ours, `share` and `unshare` may signal a reload before the control
  // socket listens, and SIGHUP's default action would kill the daemon. Until it can reload it
  // ignores SIGHUP, and looks at shares.json once more before it reports ready.
  const hupWhileStarting = (): void => {};
  process.on('SIGHUP', hupWhileStarting);
  let sharesRead: string | undefined;
  const shares = (): Share[] => {
    sharesRead = sharesStamp();
    return readShares();
  };
  let daemon: Daemon | undefined;
  try {
    claimPidFile();
    const setting = (key: string): string | undefined => readConfigValue(globalConfigFile(), key);
    const configured = setting('daemon.listen')?.split(/\s+/).filter(Boolean);
    const listen = (values.listen as string[] | undefined) ?? configured ?? DEFAULT_LISTEN.split(/\s+/);
    const mdns = lanDiscovery(
      values['no-mdns'] ? false : values.mdns ? true : setting('daemon.mdns') !== 'false',
    );
    const started = Date.now();
    // Loaded here only: start, stop and status do without libp2p.
    const { Daemon } = await import('../../swarm/index.ts');
    if (!values.listen && configured) {
      const { checkListenAddress } = await import('../../net/index.ts');
      for (const addr of configured) {
        try {
          checkListenAddress(addr);
        } catch (err) {
          // A setting made before it was checked when set: name it, so it can be fixed.
          throw new ShoalError(
            'INVALID_ARGUMENT',
            `daemon.listen (shoal config --global): ${(err as Error).message}`,
          );
        }
      }
    }
    const { rateSetting } = await import('../transfer.ts');
    daemon = await Daemon.start({
      user: identity(),
      listen,
      mdns,
      maxUpload: rateSetting(setting('transfer.max-upload'), 'transfer.max-upload'),
      maxDownload: rateSetting(setting('transfer.max-download'), 'transfer.max-download'),
      shares,
      log,
    });
    const d = daemon;
    const state = (): DaemonState => ({ pid: process.pid, started, log: files.log, ...d.status() });
    const reload = async (): Promise<DaemonState> => {
      await d.reload();
      const s = state();
      writeState(s);
      return s;
    };
    writeState(state());
    // Status reloads first when a repository served is gone or was replaced, or shares.json
    // changed, since the last reload: it is then reported (and served) as it is, not as it was.
    // Otherwise it only reports (a status now and then must not fill the log with warnings).
    const status = async (): Promise<DaemonState> =>
      d.servesStale() || sharesStamp() !== sharesRead ? reload() : state();
    const control = await serveControl({ reload, status }, log);
    process.on('SIGHUP', () => {
      log('info', 'SIGHUP: reloading the shares');
      reload().catch((err) => log('error', `reload failed: ${(err as Error).message}`));
    });
    process.off('SIGHUP', hupWhileStarting);
    if (sharesStamp() !== sharesRead) {
      log('info', 'the shares changed while starting: reloading them');
      await reload().catch((err) => log('error', `reload failed: ${(err as Error).message}`));
    }
    const stopping = new AbortController();
    process.once('SIGTERM', () => stopping.abort('SIGTERM'));
    process.once('SIGINT', () => stopping.abort('SIGINT'));
    const s = state();
    log('info', `started (pid ${process.pid}), peer id ${s.peerId}, listening on ${s.addrs.join(' ')}`);
    reportReady(readyFd, s);
    if (readyFd === undefined && !ctx.quiet) for (const a of s.addrs) ctx.out(a);
    await once(stopping.signal, 'abort');
    log('info', `${String(stopping.signal.reason)}: stopping`);
    control.close();
    await d.stop();
    removeDaemonFiles(process.pid);
    log('info', 'stopped');
    // Whatever libp2p may still hold must not keep a stopped daemon alive.
    setTimeout(() => process.exit(0), 2000).unref();
    return 0;
  } catch (err) {
    log('error', `daemon failed: ${(err as Error).message}`);
    const e = isShoalError(err)
      ? err
      : (systemError(err) ?? new ShoalError('PEER_ERROR', (err as Error).message));
    reportReady(readyFd, { error: { code: e.code, message: e.message } });
    await daemon?.stop().catch(() => {});
    throw err;
  }
}
