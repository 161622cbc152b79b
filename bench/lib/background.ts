// Long-running processes for the peer-to-peer scenarios (seeders, daemons, HTTP mirrors): started
// under GNU time in their own process group, ready when they print a given line (no sleeps),
// stopped with a signal to the whole group, and measured like any other command (wall time, CPU,
// peak RSS of the process tree).

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type Cmd, haveGnuTime, type Measure } from './exec.ts';
import { sanitize } from './fsutil.ts';

const TIME_BIN = '/usr/bin/time';

export interface StoppedProcess extends Measure {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Process groups still running, killed (SIGKILL) if the harness exits without stopping them. */
const live = new Set<number>();
let exitHook = false;
let timeDir: string | null = null;
let timeSeq = 0;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function timeFile(): string {
  if (timeDir === null) {
    timeDir = mkdtempSync(join(tmpdir(), 'shoal-bench-bg-'));
  }
  timeSeq += 1;
  return join(timeDir, `b${timeSeq}`);
}

function registerExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const pid of live) killGroup(pid, 'SIGKILL');
    if (timeDir !== null) rmSync(timeDir, { recursive: true, force: true });
  });
}

export class Background {
  readonly name: string;
  private readonly child: ChildProcess;
  private readonly timeOut: string | null;
  private readonly started = process.hrtime.bigint();
  private stdoutText = '';
  private stderrText = '';
  private readonly waiters: Array<{ test: (line: string) => boolean; resolve: (line: string) => void }> = [];
  private readonly seen: string[] = [];
  private readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null; wallS: number }>;
  private exited = false;
  private stopped: Promise<StoppedProcess> | null = null;

  constructor(name: string, cmd: Cmd) {
    registerExitHook();
    this.name = name;
    this.timeOut = haveGnuTime ? timeFile() : null;
    const file = this.timeOut !== null ? TIME_BIN : cmd.cmd;
    const args =
      this.timeOut !== null
        ? ['-f', '%e %U %S %M', '-o', this.timeOut, '--', cmd.cmd, ...cmd.args]
        : cmd.args;
    // detached: its own process group, so one signal reaches GNU time and the command under it
    // (GNU time itself ignores SIGINT while it waits).
    this.child = spawn(file, args, {
      cwd: cmd.cwd,
      env: cmd.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const pid = this.child.pid;
    if (pid !== undefined) live.add(pid);
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (d: string) => {
      this.stderrText = (this.stderrText + d).slice(-65536);
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      if (this.stdoutText.length < 65536) this.stdoutText += `${line}\n`;
      this.seen.push(line);
      for (let i = this.waiters.length - 1; i >= 0; i--) {
        const w = this.waiters[i]!;
        if (w.test(line)) {
          this.waiters.splice(i, 1);
          w.resolve(line);
        }
      }
    });
    this.closed = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        this.exited = true;
        if (pid !== undefined) live.delete(pid);
        resolve({ code, signal, wallS: Number(process.hrtime.bigint() - this.started) / 1e9 });
      };
      this.child.on('error', () => done(null, null));
      this.child.on('close', done);
    });
  }

  /** True until the process exits. */
  get running(): boolean {
    return !this.exited;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Resolves with the first output line (past or future) that passes test; rejects if the process exits first. */
  async waitForLine(test: (line: string) => boolean, timeoutMs = 60_000): Promise<string> {
    const already = this.seen.find(test);
    if (already !== undefined) return already;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        new Promise<string>((resolve) => this.waiters.push({ test, resolve })),
        this.closed.then(() => {
          throw new Error(`${this.name} exited before it was ready: ${this.lastError()}`);
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(new Error(`${this.name} not ready after ${timeoutMs / 1000} s: ${this.lastError()}`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private lastError(): string {
    const lines = (this.stderrText || this.stdoutText).trim().split('\n');
    return sanitize(lines[lines.length - 1] ?? '(no output)');
  }

  /**
   * Sends signal to the process group, waits for the exit (SIGKILL after graceMs) and returns its
   * figures. Peak RSS is the command's whole tree as GNU time sees it.
   */
  stop(signal: NodeJS.Signals = 'SIGINT', graceMs = 20_000): Promise<StoppedProcess> {
    this.stopped ??= this.doStop(signal, graceMs);
    return this.stopped;
  }

  private async doStop(signal: NodeJS.Signals, graceMs: number): Promise<StoppedProcess> {
    const pid = this.child.pid;
    if (!this.exited && pid !== undefined) {
      killGroup(pid, signal);
      const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
      await this.closed;
      clearTimeout(timer);
    }
    const { code, signal: sig, wallS } = await this.closed;
    let userS: number | null = null;
    let sysS: number | null = null;
    let peakRssKiB: number | null = null;
    if (this.timeOut !== null && existsSync(this.timeOut)) {
      // GNU time prefixes "Command exited with non-zero status" or "Command terminated by signal".
      const lines = readFileSync(this.timeOut, 'utf8').trim().split('\n');
      const fields = (lines[lines.length - 1] ?? '').trim().split(/\s+/).map(Number);
      if (fields.length === 4 && fields.every((f) => Number.isFinite(f))) {
        userS = fields[1]!;
        sysS = fields[2]!;
        peakRssKiB = fields[3]!;
      }
      rmSync(this.timeOut, { force: true });
    }
    return {
      code,
      signal: sig,
      wallS,
      userS,
      sysS,
      peakRssKiB,
      stdout: this.stdoutText,
      stderr: this.stderrText,
    };
  }
}

/** Stops every process in list (in parallel), ignoring the ones already stopped. */
export async function stopAll(list: Array<Background | null | undefined>): Promise<void> {
  await Promise.all(list.map((b) => b?.stop().catch(() => undefined)));
}

/** Kills (SIGKILL) every background process group still running: for an interrupted harness. */
export function killAllBackground(): void {
  for (const pid of live) killGroup(pid, 'SIGKILL');
  live.clear();
}
