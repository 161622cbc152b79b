// Helpers for the daemon and peers tests: users with an isolated config directory whose daemon
// listens on loopback, and daemons that are killed when the test ends.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { json, type RunResult, shoal, tempDir } from '../helpers.ts';
import { describe } from './repo-helpers.ts';

type T = Parameters<typeof tempDir>[0];

export interface State {
  running: boolean;
  alreadyRunning?: boolean;
  stalePid?: number;
  pid: number;
  peerId: string;
  addrs: string[];
  repos: { id: string; name: string; path: string }[];
  skipped: { path: string; reason: string }[];
  log: string;
}

/** A user whose daemon listens on loopback only, without mDNS. */
export function daemonUser(t: T, extra: Record<string, string> = {}): string {
  const dir = tempDir(t, 'shoal-config-');
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      'user.name': 'Test Author',
      'daemon.listen': '/ip4/127.0.0.1/tcp/0',
      'daemon.mdns': 'false',
      ...extra,
    }),
  );
  return dir;
}

export function isDaemon(pid: number): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.includes('daemon') && argv.includes('run');
  } catch {
    return false;
  }
}

export function run(configDir: string, args: string[], cwd?: string): RunResult {
  return shoal(args, { configDir, cwd });
}

export function ok(configDir: string, args: string[], cwd?: string): RunResult {
  const r = run(configDir, args, cwd);
  assert.equal(r.status, 0, `shoal ${args.join(' ')}: ${describe(r)}`);
  return r;
}

/** `shoal daemon start --json`; the daemon is killed when the test ends, whatever happened. */
export function startDaemon(t: T, configDir: string, args: string[] = []): State {
  const state = json<State>(ok(configDir, ['daemon', 'start', '--json', ...args]));
  t.after(() => {
    run(configDir, ['daemon', 'stop']);
    if (isDaemon(state.pid)) process.kill(state.pid, 'SIGKILL');
  });
  return state;
}

export function status(configDir: string): { status: number; state: State } {
  const r = run(configDir, ['daemon', 'status', '--json']);
  return { status: r.status, state: json<State>(r) };
}
