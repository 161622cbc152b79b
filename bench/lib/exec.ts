// Runs external commands for the benchmarks: wall time, CPU time and peak RSS (through GNU time),
// captured output, and the file system sync that makes every timed step durable.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sanitize } from './fsutil.ts';

/** One command or one group of commands: times in seconds, peak RSS in KiB (null when unknown). */
export interface Measure {
  wallS: number;
  userS: number | null;
  sysS: number | null;
  peakRssKiB: number | null;
}

export interface RunResult extends Measure {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Cmd {
  cmd: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** A timed step: its commands, then `sync -f` of the repository's file system (included in wallS). */
export interface StepMeasure extends Measure {
  cmdS: number;
  syncS: number;
  commands: Array<{ command: string } & Measure>;
}

const TIME_BIN = '/usr/bin/time';
export const haveGnuTime = existsSync(TIME_BIN);
const OUTPUT_LIMIT = 1 << 20;

let timeDir: string | null = null;
let timeSeq = 0;

function timeFile(): string {
  if (timeDir === null) {
    timeDir = mkdtempSync(join(tmpdir(), 'shoal-bench-time-'));
    process.on('exit', () => {
      if (timeDir !== null) rmSync(timeDir, { recursive: true, force: true });
    });
  }
  timeSeq += 1;
  return join(timeDir, `t${timeSeq}`);
}

export class CommandError extends Error {
  readonly result: RunResult;
  constructor(message: string, result: RunResult) {
    super(message);
    this.result = result;
  }
}

function describe(cmd: Cmd): string {
  const name = cmd.cmd === process.execPath ? 'node' : cmd.cmd;
  return sanitize([name, ...cmd.args].join(' '));
}

function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  // Prefer a line that names an error over trailing stack frames.
  const errorLine = lines.find((l) => /error|fatal|cannot|not found|unknown|invalid/i.test(l));
  return sanitize(errorLine ?? lines[lines.length - 1] ?? '');
}

/** Runs one command to completion; throws CommandError on a non-zero exit unless allowFail. */
export async function run(cmd: Cmd, allowFail = false): Promise<RunResult> {
  const out = haveGnuTime ? timeFile() : null;
  const file = out !== null ? TIME_BIN : cmd.cmd;
  const args = out !== null ? ['-f', '%e %U %S %M', '-o', out, '--', cmd.cmd, ...cmd.args] : cmd.args;
  const start = process.hrtime.bigint();
  const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: cmd.cwd,
      env: cmd.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      if (stdout.length < OUTPUT_LIMIT) stdout += d;
    });
    child.stderr.on('data', (d: string) => {
      stderr = (stderr + d).slice(-OUTPUT_LIMIT);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
  const wallS = Number(process.hrtime.bigint() - start) / 1e9;
  let userS: number | null = null;
  let sysS: number | null = null;
  let peakRssKiB: number | null = null;
  if (out !== null && existsSync(out)) {
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    const fields = (lines[lines.length - 1] ?? '').trim().split(/\s+/).map(Number);
    if (fields.length === 4 && fields.every((f) => Number.isFinite(f))) {
      userS = fields[1]!;
      sysS = fields[2]!;
      peakRssKiB = fields[3]!;
    }
    rmSync(out, { force: true });
  }
  const res: RunResult = { ...result, wallS, userS, sysS, peakRssKiB };
  if (res.code !== 0 && !allowFail) {
    const why = lastLine(res.stderr) || lastLine(res.stdout) || '(no output)';
    throw new CommandError(`${describe(cmd)} exited with ${res.code}: ${why}`, res);
  }
  return res;
}

/** Flushes all dirty data on the machine (untimed), so a step's sync covers only its own writes. */
export async function syncAll(): Promise<void> {
  await run({ cmd: 'sync', args: [] });
}

function sumOrNull(values: Array<number | null>): number | null {
  return values.some((v) => v === null) ? null : values.reduce<number>((a, v) => a + (v ?? 0), 0);
}

/**
 * Times a step: `sync` first (untimed), then each command in order, then `sync -f syncPath`
 * (timed), so that every tool's figure means "written durably", whether or not it fsyncs itself.
 */
export async function step(cmds: Cmd[], syncPath: string): Promise<StepMeasure> {
  await syncAll();
  const commands: StepMeasure['commands'] = [];
  for (const c of cmds) {
    const r = await run(c);
    commands.push({
      command: describe(c),
      wallS: r.wallS,
      userS: r.userS,
      sysS: r.sysS,
      peakRssKiB: r.peakRssKiB,
    });
  }
  const s = await run({ cmd: 'sync', args: ['-f', syncPath] });
  const cmdS = commands.reduce((a, c) => a + c.wallS, 0);
  const rss = commands.map((c) => c.peakRssKiB);
  return {
    wallS: cmdS + s.wallS,
    cmdS,
    syncS: s.wallS,
    userS: sumOrNull(commands.map((c) => c.userS)),
    sysS: sumOrNull(commands.map((c) => c.sysS)),
    peakRssKiB: rss.some((v) => v === null) ? null : Math.max(...(rss as number[])),
    commands,
  };
}

/** Runs a command quietly and returns its first output line, or null if it is missing or fails. */
export async function version(cmd: string, args: string[]): Promise<string | null> {
  try {
    const r = await run({ cmd, args }, true);
    const line = (r.stdout + r.stderr).trim().split('\n')[0] ?? '';
    return r.code === 0 && line !== '' ? line.trim() : null;
  } catch {
    return null;
  }
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Like step() for one command, also returning what it printed (for --json output). */
export async function stepOut(cmd: Cmd, syncPath: string): Promise<{ measure: StepMeasure; stdout: string }> {
  await syncAll();
  const r = await run(cmd);
  const s = await run({ cmd: 'sync', args: ['-f', syncPath] });
  const measure: StepMeasure = {
    wallS: r.wallS + s.wallS,
    cmdS: r.wallS,
    syncS: s.wallS,
    userS: r.userS,
    sysS: r.sysS,
    peakRssKiB: r.peakRssKiB,
    commands: [
      { command: describe(cmd), wallS: r.wallS, userS: r.userS, sysS: r.sysS, peakRssKiB: r.peakRssKiB },
    ],
  };
  return { measure, stdout: r.stdout };
}

/**
 * Runs a quick read-only command `warmup` times untimed, then n times: the median wall time
 * (with min, max and every run), median CPU, worst RSS, and the output of the last run.
 */
export async function repeatRuns(
  cmd: Cmd,
  n: number,
  warmup = 1,
): Promise<{ measure: Measure & { minS: number; maxS: number; repsS: number[] }; stdout: string }> {
  for (let i = 0; i < warmup; i++) await run(cmd);
  const runs: RunResult[] = [];
  for (let i = 0; i < n; i++) runs.push(await run(cmd));
  const wall = runs.map((x) => x.wallS);
  const pick = (f: (x: RunResult) => number | null) => {
    const v = runs.map(f);
    return v.some((x) => x === null) ? null : median(v as number[]);
  };
  const rss = runs.map((x) => x.peakRssKiB);
  return {
    measure: {
      wallS: median(wall),
      minS: Math.min(...wall),
      maxS: Math.max(...wall),
      repsS: wall,
      userS: pick((x) => x.userS),
      sysS: pick((x) => x.sysS),
      peakRssKiB: rss.some((x) => x === null) ? null : Math.max(...(rss as number[])),
    },
    stdout: runs[runs.length - 1]!.stdout,
  };
}
