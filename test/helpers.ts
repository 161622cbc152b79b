// Shared test helpers: temporary directories and running the real CLI as a child process with
// an isolated user config directory.

import { type SpawnSyncReturns, spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = join(ROOT, 'bin', 'shoal.js');

/** Whether the filesystem of `dir` takes O_DIRECT at all (tmpfs, for one, does not). */
export function directIoSupported(dir: string): boolean {
  const probe = join(dir, 'direct-probe');
  writeFileSync(probe, '');
  try {
    closeSync(openSync(probe, constants.O_WRONLY | constants.O_DIRECT));
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe);
  }
}

/** A fresh temporary directory, removed when the test ends. */
export function tempDir(t: { after: (fn: () => void) => void }, prefix = 'shoal-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  configDir: string;
  input?: string | Buffer;
}

export function shoalEnv(opts: RunOptions): NodeJS.ProcessEnv {
  // No mDNS multicast from tests: only loopback and test namespaces may see their traffic.
  return { ...process.env, SHOAL_CONFIG_DIR: opts.configDir, SHOAL_DEBUG: '', SHOAL_MDNS: '0', ...opts.env };
}

/** Run `shoal <args>` synchronously and capture its output. */
export function shoal(args: string[], opts: RunOptions): RunResult {
  const r: SpawnSyncReturns<Buffer> = spawnSync(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: shoalEnv(opts),
    input: opts.input,
    maxBuffer: 1024 * 1024 * 1024,
  });
  return {
    status: r.status ?? -1,
    stdout: r.stdout.toString('utf8'),
    stderr: r.stderr.toString('utf8'),
    stdoutBytes: r.stdout,
  };
}

/** Start `shoal <args>` without waiting (for kill tests and servers). */
export function shoalSpawn(args: string[], opts: RunOptions) {
  return spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: shoalEnv(opts),
    stdio: 'pipe',
  });
}

/** Parse --json output, failing the test with the captured output when it is not JSON. */
export function json<T = unknown>(r: RunResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (status ${r.status}): ${r.stdout}\n${r.stderr}`);
  }
}

/** Whether script(1) (util-linux) is here to give a command a pseudo-terminal. */
export function haveScript(): boolean {
  return spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
}

const shellQuote = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * Run `shoal <args>` with a terminal for stderr, through script(1); what shoal draws there, its
 * progress included, comes back in `output` (stdout and stderr together).
 */
export async function shoalOnTerminal(
  args: string[],
  opts: RunOptions,
): Promise<{ status: number; output: string }> {
  const child = spawn(
    'script',
    ['-qec', [process.execPath, BIN, ...args].map(shellQuote).join(' '), '/dev/null'],
    {
      cwd: opts.cwd ?? ROOT,
      env: shoalEnv(opts),
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let output = '';
  child.stdout.on('data', (d) => {
    output += String(d);
  });
  const status = await new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  return { status, output };
}

/** A process holding the writer lock of the repository at `dir` (said as `purpose`) until killed. */
export async function lockHolder(dir: string, purpose?: string) {
  const store = pathToFileURL(join(ROOT, 'src', 'store', 'index.ts')).href;
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { Repository } = await import(${JSON.stringify(store)});
       const repo = Repository.open(${JSON.stringify(dir)});
       repo.lockForWrite(${JSON.stringify(purpose ?? '')} || undefined);
       process.stdout.write('locked\\n');
       setInterval(() => {}, 1000);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: process.env },
  );
  let out = '';
  child.stdout.setEncoding('utf8');
  // Wait for the child to say it holds the lock (an event, not a sleep).
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: string) => {
      out += d;
      if (out.includes('locked')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
  });
  return child;
}
