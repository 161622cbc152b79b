// The daemon as a background process, one per user: its pid file, state file, log and control
// socket live in the user's config directory. `start` spawns `shoal daemon run` detached and
// waits for the ready line it writes on an inherited pipe; `stop` sends SIGTERM and waits for
// the control socket to close; `share`/`unshare` ask it to reload over the control socket and
// get the answer once the reload is done.

import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  fstatSync,
  linkSync,
  openSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { isShoalError, ShoalError } from '../core/index.ts';
import { configDir, configDirFor, makeUserDirs, writeFileAtomic } from '../store/index.ts';
import type { DaemonStatus } from '../swarm/index.ts';

/** What `daemon.json` holds and what the control socket answers. */
export interface DaemonState extends DaemonStatus {
  pid: number;
  started: number;
  log: string;
}

export interface DaemonFiles {
  pid: string;
  state: string;
  log: string;
  socket: string;
}

export function daemonFiles(): DaemonFiles {
  const dir = resolve(configDir());
  const hash = createHash('sha256').update(dir).digest('hex').slice(0, 16);
  let socket = join(dir, 'daemon.sock');
  // Unix socket paths are limited to about 104 bytes.
  if (process.platform === 'win32') socket = `\\\\.\\pipe\\shoal-${hash}`;
  else if (Buffer.byteLength(socket) > 100) socket = join(tmpdir(), `shoal-${hash}.sock`);
  return {
    pid: join(dir, 'daemon.pid'),
    state: join(dir, 'daemon.json'),
    log: join(dir, 'daemon.log'),
    socket,
  };
}

/** Whether a process exists and has not exited (a zombie waiting to be reaped counts as gone). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true; // no /proc: trust kill
  }
}

/**
 * A pid file can outlive its daemon and its pid be reused, by any process or by the daemon of
 * another config directory: check it is still a shoal daemon, and this directory's.
 */
function isDaemonProcess(pid: number): boolean {
  if (!processAlive(pid)) return false;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (!argv.includes('daemon') || !argv.includes('run')) return false;
  } catch {
    return true; // no /proc: trust the pid file
  }
  const theirs = processConfigDir(pid);
  return theirs === undefined || sameDir(theirs, configDir());
}

/** The config directory a process's environment names, as configDir() finds it; undefined if unknown. */
function processConfigDir(pid: number): string | undefined {
  const env: Record<string, string> = {};
  let cwd: string;
  try {
    for (const entry of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
      const eq = entry.indexOf('=');
      if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
    }
    cwd = readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return undefined;
  }
  if (!env.SHOAL_CONFIG_DIR && !env.XDG_CONFIG_HOME && !env.HOME) return undefined;
  return resolve(cwd, configDirFor(env, env.HOME ?? ''));
}

function sameDir(a: string, b: string): boolean {
  const real = (p: string): string => {
    try {
      return realpathSync(p);
    } catch {
      return resolve(p);
    }
  };
  return real(a) === real(b);
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export type FoundDaemon =
  | { kind: 'running'; pid: number }
  | { kind: 'stale'; pid: number }
  | { kind: 'none' };

export function findDaemon(): FoundDaemon {
  const pid = readPid(daemonFiles().pid);
  if (pid === undefined) return { kind: 'none' };
  return isDaemonProcess(pid) ? { kind: 'running', pid } : { kind: 'stale', pid };
}

/** Remove the pid, state and socket files (of `pid`, when given and the pid file is still its). */
export function removeDaemonFiles(pid?: number): void {
  const files = daemonFiles();
  if (pid !== undefined && readPid(files.pid) !== pid) return;
  for (const f of [files.state, files.socket, files.pid]) {
    if (f.startsWith('\\\\.\\pipe\\')) continue;
    try {
      unlinkSync(f);
    } catch {}
  }
}

export function readState(): DaemonState | undefined {
  try {
    return JSON.parse(readFileSync(daemonFiles().state, 'utf8')) as DaemonState;
  } catch {
    return undefined;
  }
}

export function writeState(state: DaemonState): void {
  writeFileAtomic(daemonFiles().state, `${JSON.stringify(state, null, 2)}\n`);
}

/**
 * In the daemon: take the pid file, or fail when another daemon holds it. The files are removed
 * when the process exits, however it exits.
 */
export function claimPidFile(): void {
  const files = daemonFiles();
  // The pid file appears with its pid in it: written aside, then linked into place (which fails
  // if it exists). Created empty and written after, it was read as empty in between, and taken
  // for a stale file by a second daemon starting then.
  const aside = `${files.pid}.${process.pid}`;
  const contents = `${process.pid}\n`;
  writeFileSync(aside, contents, { mode: 0o644 });
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        takeFile(aside, files.pid, contents);
        process.on('exit', () => removeDaemonFiles(process.pid));
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const found = findDaemon();
      if (found.kind === 'running' && found.pid !== process.pid)
        throw new ShoalError('LOCKED', `a shoal daemon is already running (pid ${found.pid})`);
      removeDaemonFiles();
    }
  } finally {
    rmSync(aside, { force: true });
  }
  throw new ShoalError('LOCKED', `could not take the daemon's pid file ${files.pid}`);
}

/** Create `to` as a link to `from`, which holds `contents`; fails with EEXIST if `to` exists. */
function takeFile(from: string, to: string, contents: string): void {
  try {
    linkSync(from, to);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw err;
    // A file system without hard links: created, then written.
    const fd = openSync(to, 'wx', 0o644);
    try {
      writeSync(fd, contents);
    } finally {
      closeSync(fd);
    }
  }
}

const LOG_MAX_BYTES = 8 * 1024 * 1024;

/** Keep the log from growing without bound: one old generation is kept. */
export function rotateLog(file: string, maxBytes = LOG_MAX_BYTES): void {
  try {
    if (statSync(file).size > maxBytes) rotate(file);
  } catch {}
}

/**
 * Move the log's lines to `<file>.1` by copying, then empty it: never by renaming. A running
 * daemon's stdout and stderr are this file (opened for appending), whichever process rotates
 * it, and must keep writing to the file of that name. The file is emptied even when the copy
 * fails (a full disk), so that it stops growing.
 */
function rotate(file: string): void {
  try {
    copyFileSync(file, `${file}.1`);
  } finally {
    truncateSync(file, 0);
  }
}

export type Logger = (level: string, message: string) => void;

/**
 * Log lines to `file`. A daemon runs for months and logs what peers do (refused requests,
 * pushes), so the file is rotated as it passes `maxBytes`, not only when the daemon starts.
 */
export function fileLogger(file: string, mirror?: (line: string) => void, maxBytes = LOG_MAX_BYTES): Logger {
  return (level, message) => {
    const line = `${new Date().toISOString()} ${level} ${message}\n`;
    try {
      if (appendLine(file, line) > maxBytes) rotate(file);
    } catch {} // a full disk must not take the daemon down
    mirror?.(line);
  };
}

/** Append a line; returns the file's size after it. */
function appendLine(file: string, line: string): number {
  const fd = openSync(file, 'a', 0o600);
  try {
    writeSync(fd, line);
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

export interface ControlHandlers {
  reload: () => Promise<DaemonState>;
  status: () => Promise<DaemonState>;
}

/** In the daemon: answer `reload` and `status` requests, one JSON line each way. */
export async function serveControl(handlers: ControlHandlers, log: Logger): Promise<Server> {
  const { socket } = daemonFiles();
  if (process.platform !== 'win32') {
    try {
      unlinkSync(socket); // left by a daemon that died: we hold the pid file, so it is stale
    } catch {}
  }
  const server = createServer((conn) => {
    let buffered = '';
    conn.setEncoding('utf8');
    conn.on('error', () => {});
    conn.on('data', (data: string) => {
      buffered += data;
      if (buffered.length > 4096) {
        conn.destroy();
        return;
      }
      const nl = buffered.indexOf('\n');
      if (nl < 0) return;
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      void answer(line).then((reply) => conn.write(`${JSON.stringify(reply)}\n`));
    });
  });
  const answer = async (line: string): Promise<unknown> => {
    try {
      const { cmd } = JSON.parse(line) as { cmd?: unknown };
      if (cmd === 'reload') return { ok: true, state: await handlers.reload() };
      if (cmd === 'status') return { ok: true, state: await handlers.status() };
      return { ok: false, error: { code: 'USAGE', message: `unknown control command ${String(cmd)}` } };
    } catch (err) {
      log('error', `control request failed: ${(err as Error).message}`);
      const code = isShoalError(err) ? err.code : 'INTERNAL';
      return { ok: false, error: { code, message: (err as Error).message } };
    }
  };
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(socket, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  if (process.platform !== 'win32') chmodSync(socket, 0o600);
  return server;
}

function connectControl(): Promise<Socket | undefined> {
  return new Promise((resolveConnect) => {
    const sock = createConnection(daemonFiles().socket);
    sock.once('connect', () => {
      sock.off('error', onError);
      sock.on('error', () => {});
      resolveConnect(sock);
    });
    const onError = (): void => resolveConnect(undefined);
    sock.once('error', onError);
  });
}

/**
 * Ask the running daemon to `reload` (resolves after the reload) or for its `status`.
 * Undefined when no daemon listens on the control socket.
 */
export async function controlRequest(
  cmd: 'reload' | 'status',
  timeoutMs = 30_000,
): Promise<DaemonState | undefined> {
  const sock = await connectControl();
  if (!sock) return undefined;
  try {
    const line = await firstLine(sock, timeoutMs, () => sock.write(`${JSON.stringify({ cmd })}\n`));
    if (line === undefined) return undefined; // it closed on us: it is stopping
    const reply = JSON.parse(line) as {
      ok: boolean;
      state?: DaemonState;
      error?: { code: string; message: string };
    };
    if (!reply.ok) throw new ShoalError('PEER_ERROR', `the daemon refused '${cmd}': ${reply.error?.message}`);
    return reply.state;
  } finally {
    sock.destroy();
  }
}

/** The first line from a stream; undefined if it ends first; TIMEOUT after `timeoutMs`. */
function firstLine(stream: Readable, timeoutMs: number, start?: () => void): Promise<string | undefined> {
  return new Promise((resolveLine, reject) => {
    let buffered = '';
    const finish = (fn: () => void): void => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      stream.off('error', onEnd);
      fn();
    };
    const onData = (data: Buffer | string): void => {
      buffered += data.toString();
      const nl = buffered.indexOf('\n');
      if (nl >= 0) finish(() => resolveLine(buffered.slice(0, nl)));
    };
    const onEnd = (): void => finish(() => resolveLine(undefined));
    const timer = setTimeout(
      () => finish(() => reject(new ShoalError('TIMEOUT', `no answer within ${timeoutMs / 1000} s`))),
      timeoutMs,
    );
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('close', onEnd);
    stream.once('error', onEnd);
    start?.();
  });
}

const ENTRY = fileURLToPath(new URL('../../bin/shoal.js', import.meta.url));

function exited(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolveExit) => {
    const timer = setTimeout(() => resolveExit(null), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolveExit(code);
    });
  });
}

/**
 * Send `signal` to a child that has not exited, then wait for it (5 s, then SIGKILL). Says
 * whether it had to be signalled ('killed') or had exited already ('exited').
 */
async function ended(child: ChildProcess, signal: NodeJS.Signals): Promise<'killed' | 'exited'> {
  if (child.exitCode !== null || child.signalCode !== null) return 'exited';
  child.kill(signal);
  if ((await exited(child, 5000)) === null && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await exited(child, 5000);
  }
  // A SIGKILL leaves its files: removed once it is gone, and only when the pid file is still its.
  if (child.exitCode !== null || child.signalCode !== null) removeDaemonFiles(child.pid);
  return 'killed';
}

function logTail(file: string, lines = 5): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Start `shoal daemon run <args>` detached, its output going to the log, and wait (at most
 * `timeoutMs`) for the ready line it writes on fd 3: its state, or the error that stopped it.
 */
export async function spawnDaemon(args: string[], timeoutMs = 30_000): Promise<DaemonState> {
  const files = daemonFiles();
  // A user's first shoal command may be `daemon start`: the config directory may not exist yet.
  makeUserDirs(dirname(files.log), 0o700);
  rotateLog(files.log);
  const logFd = openSync(files.log, 'a', 0o600);
  let child: ChildProcess;
  try {
    const execArgv = process.execArgv.filter((a) => !a.startsWith('--inspect'));
    child = spawn(process.execPath, [...execArgv, ENTRY, 'daemon', 'run', '--ready-fd', '3', ...args], {
      cwd: resolve(configDir()), // never inside a repository that may be deleted
      detached: true,
      env: { ...process.env, SHOAL_CONFIG_DIR: resolve(configDir()) },
      stdio: ['ignore', logFd, logFd, 'pipe'],
    });
  } finally {
    closeSync(logFd);
  }
  const pipe = child.stdio[3] as Readable;
  try {
    const line = await firstLine(pipe, timeoutMs).catch(async (err) => {
      await ended(child, 'SIGTERM');
      throw new ShoalError('TIMEOUT', `the daemon did not report ready: ${(err as Error).message}`);
    });
    if (line === undefined) {
      const code = await exited(child, 5000);
      // Its end of the pipe closed but it runs on: it is not serving as `start` says, so it goes.
      if (code === null && (await ended(child, 'SIGKILL')) === 'killed')
        throw new ShoalError(
          'PEER_ERROR',
          `the daemon stopped talking before it was ready and was killed; see ${files.log}`,
        );
      const tail = logTail(files.log);
      throw new ShoalError(
        'PEER_ERROR',
        `the daemon exited${code === null ? '' : ` with status ${code}`} before it was ready; see ${files.log}${tail ? `:\n${tail}` : ''}`,
      );
    }
    let ready: DaemonState & { error?: { code: string; message: string } };
    try {
      ready = JSON.parse(line);
    } catch {
      await ended(child, 'SIGTERM');
      throw new ShoalError(
        'PEER_ERROR',
        `the daemon reported something other than its state; see ${files.log}`,
      );
    }
    if (ready.error) {
      // It stops on its own after reporting why; one that does not is stopped.
      if ((await exited(child, 5000)) === null) await ended(child, 'SIGKILL');
      throw new ShoalError(ready.error.code as ShoalError['code'], ready.error.message);
    }
    return ready;
  } finally {
    pipe.destroy();
    child.unref();
  }
}

/** In the daemon: report readiness (or the error that stopped it) to `daemon start`. */
export function reportReady(fd: number | undefined, message: unknown): void {
  if (fd === undefined) return;
  try {
    writeSync(fd, `${JSON.stringify(message)}\n`);
    closeSync(fd);
  } catch {} // `start` gave up waiting
}

/** Send SIGTERM and wait (bounded) until the daemon has exited. */
export async function stopDaemon(pid: number, timeoutMs = 15_000): Promise<void> {
  // Connected before the signal, the control socket closes when the daemon's process ends.
  const sock = await connectControl();
  const deadline = Date.now() + timeoutMs;
  try {
    process.kill(pid, 'SIGTERM');
  } catch (err) {
    sock?.destroy();
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return;
    throw err;
  }
  if (sock) {
    await firstLine(sock, timeoutMs).catch(() => {});
    sock.destroy();
  }
  // The socket closes as the process ends; the pid may linger a moment longer.
  while (processAlive(pid)) {
    if (Date.now() > deadline)
      throw new ShoalError(
        'TIMEOUT',
        `the daemon (pid ${pid}) did not stop within ${timeoutMs / 1000} s; see ${daemonFiles().log}`,
      );
    await new Promise((r) => setTimeout(r, 20));
  }
}

export type DaemonNotice = DaemonState | 'not running' | 'signalled';

/** After the shares changed: have a running daemon reload, and return what it now serves. */
export async function notifyDaemon(): Promise<DaemonNotice> {
  const found = findDaemon();
  if (found.kind !== 'running') return 'not running';
  try {
    const state = await controlRequest('reload');
    if (state) return state;
  } catch {} // no control socket answering: fall back to the signal
  try {
    process.kill(found.pid, 'SIGHUP');
  } catch {}
  return 'signalled';
}
