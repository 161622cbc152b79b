// The tools under comparison: an isolated environment for each run (no user config, caches in the
// scratch dir), command builders for shoal and its competitors, and their versions for the report.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Cmd, version } from './exec.ts';
import { repoRoot } from './fsutil.ts';

export const shoalBin = join(repoRoot, 'bin', 'shoal.js');

/**
 * Environment shared by all tools in one scenario: git without system or user config (auto gc
 * off so no background work skews later steps), restic and borg caches and shoal's identity in
 * the scratch dir, shoal without mDNS.
 */
export function benchEnv(scratch: string): NodeJS.ProcessEnv {
  const home = join(scratch, 'home');
  mkdirSync(home, { recursive: true });
  const gitconfig = join(home, 'gitconfig');
  writeFileSync(
    gitconfig,
    [
      '[user]',
      '\tname = shoal bench',
      '\temail = bench@shoal.invalid',
      '[init]',
      '\tdefaultBranch = main',
      '[gc]',
      '\tauto = 0',
      '[maintenance]',
      '\tauto = false',
      '[advice]',
      '\tdetachedHead = false',
      '',
    ].join('\n'),
  );
  return {
    ...process.env,
    LC_ALL: 'C',
    GIT_CONFIG_GLOBAL: gitconfig,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    XDG_CACHE_HOME: join(home, 'cache'),
    XDG_CONFIG_HOME: join(home, 'config'),
    RESTIC_PASSWORD: 'shoal-bench',
    RESTIC_CACHE_DIR: join(home, 'restic-cache'),
    BORG_BASE_DIR: join(home, 'borg'),
    BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes',
    BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
    SHOAL_CONFIG_DIR: join(home, 'shoal-config'),
    // no LAN discovery (multicast) from any benchmark's shoal process
    SHOAL_MDNS: '0',
  };
}

/** Builds commands that run in one directory with the scenario's environment. */
export function cmdIn(cwd: string, env: NodeJS.ProcessEnv) {
  return (cmd: string, ...args: string[]): Cmd => ({ cmd, args, cwd, env });
}

/** A shoal CLI invocation: `node bin/shoal.js <args>` with the current Node binary. */
export function shoal(cwd: string, env: NodeJS.ProcessEnv, ...args: string[]): Cmd {
  return { cmd: process.execPath, args: [shoalBin, ...args], cwd, env };
}

/** Throws a short reason when shoal's CLI is obviously not there yet. */
export function assertShoalPresent(): void {
  if (!existsSync(shoalBin)) throw new Error('bin/shoal.js not found');
  if (!existsSync(join(repoRoot, 'src', 'cli', 'main.ts')))
    throw new Error('CLI not ready (src/cli/main.ts missing)');
}

const probes: Record<string, [string, string[]]> = {
  git: ['git', ['--version']],
  'git-lfs': ['git', ['lfs', 'version']],
  restic: ['restic', ['version']],
  borg: ['borg', ['--version']],
  casync: ['casync', ['--version']],
  dd: ['dd', ['--version']],
  rsync: ['rsync', ['--version']],
  aria2c: ['aria2c', ['--version']],
  node: [process.execPath, ['--version']],
};

/** Versions of every tool, null for the ones that are not installed. */
export async function toolVersions(): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  for (const [name, [cmd, args]] of Object.entries(probes)) out[name] = await version(cmd, args);
  return out;
}

export async function requireTool(name: string): Promise<void> {
  const probe = probes[name];
  if (probe && (await version(probe[0], probe[1])) === null) {
    throw new Error(`${name} not installed (run bash bench/install-tools.sh)`);
  }
}
