// Helpers shared by the CLI tests: a fresh repository in a temp dir driven through the real CLI.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chownSync,
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { BIN, json, type RunResult, shoal, shoalEnv, tempDir } from '../helpers.ts';

type T = Parameters<typeof tempDir>[0];

export interface TestRepo {
  dir: string;
  configDir: string;
  /** Run shoal in the repository (or `cwd`), whatever its exit status. */
  run: (args: string[], cwd?: string) => RunResult;
  /** Run shoal and require exit status 0. */
  ok: (args: string[], cwd?: string) => RunResult;
  /** Run shoal with --json, require exit status 0 and parse stdout. */
  j: <T = unknown>(args: string[], cwd?: string) => T;
  /** Run shoal with --json, require the given exit status and error code. */
  fails: (args: string[], code: string, status?: number, cwd?: string) => RunResult;
  write: (path: string, data: string | Uint8Array) => void;
  read: (path: string) => Buffer;
  path: (path: string) => string;
  /** add, commit and return the new commit's id. */
  commit: (message: string, paths?: string[]) => string;
}

/** A configuration directory with a fixed author name (so git's config is never consulted). */
export function configFor(t: T): string {
  const configDir = tempDir(t, 'shoal-config-');
  writeFileSync(join(configDir, 'config.json'), JSON.stringify({ 'user.name': 'Test Author' }));
  return configDir;
}

export function describe(r: RunResult): string {
  return `exit ${r.status}\nstdout: ${r.stdout.slice(0, 2000)}\nstderr: ${r.stderr.slice(0, 2000)}`;
}

/** Create a repository (shoal init) in a fresh temp dir. */
export function newRepo(t: T, opts: { dir?: string; configDir?: string; init?: boolean } = {}): TestRepo {
  const dir = opts.dir ?? tempDir(t);
  const configDir = opts.configDir ?? configFor(t);
  const run = (args: string[], cwd = dir): RunResult => shoal(args, { cwd, configDir });
  const ok = (args: string[], cwd = dir): RunResult => {
    const r = run(args, cwd);
    assert.equal(r.status, 0, `shoal ${args.join(' ')}: ${describe(r)}`);
    return r;
  };
  const repo: TestRepo = {
    dir,
    configDir,
    run,
    ok,
    j: <T>(args: string[], cwd = dir) => json<T>(ok([...args, '--json'], cwd)),
    fails: (args, code, status = 1, cwd = dir) => {
      const r = run([...args, '--json'], cwd);
      assert.equal(r.status, status, `shoal ${args.join(' ')}: ${describe(r)}`);
      const out = json<{ error: { code: string; message: string } }>(r);
      assert.equal(out.error?.code, code, `shoal ${args.join(' ')}: ${describe(r)}`);
      assert.ok(out.error.message.length > 0);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      return r;
    },
    write: (path, data) => {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), data);
    },
    read: (path) => readFileSync(join(dir, path)),
    path: (path) => join(dir, path),
    commit: (message, paths = ['.']) => {
      ok(['add', ...paths]);
      return json<{ id: string }>(ok(['commit', '-m', message, '--json'])).id;
    },
  };
  if (opts.init !== false) ok(['init']);
  return repo;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256File(file: string): string {
  return sha256(readFileSync(file));
}

/** Write `size` random bytes to `file` in 16 MiB blocks; returns the file's sha256. */
export function randomFile(file: string, size: number): string {
  mkdirSync(dirname(file), { recursive: true });
  const hash = createHash('sha256');
  const fd = openSync(file, 'w');
  try {
    for (let done = 0; done < size; ) {
      const block = randomBytes(Math.min(16 << 20, size - done));
      writeSync(fd, block);
      hash.update(block);
      done += block.length;
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/**
 * Run `fn` with a tmpfs of `size` (like '64m') mounted on a fresh directory, for full-disk tests.
 * It needs root; elsewhere the test is skipped with a visible message. The file system is
 * unmounted before the test's temporary directories are removed (a mount point cannot be).
 */
export async function withTmpfs(
  t: T & { skip: (message?: string) => void },
  size: string,
  fn: (mnt: string) => Promise<void> | void,
): Promise<void> {
  if (process.getuid?.() !== 0) {
    t.skip('needs root to mount a small tmpfs');
    return;
  }
  const mnt = tempDir(t);
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt], { encoding: 'utf8' });
  if (mount.status !== 0) {
    t.skip(`cannot mount a tmpfs here: ${mount.stderr.trim()}`);
    return;
  }
  try {
    await fn(mnt);
  } finally {
    const umount = spawnSync('umount', [mnt], { encoding: 'utf8' });
    assert.equal(umount.status, 0, umount.stderr);
  }
}

/** A user other than root, for what root's access to every file would hide. */
const NOBODY = 65534;

/**
 * Run shoal as another user (nobody), who is made owner of `repo`'s directory and config
 * directory, all but the paths in `except` (relative to the repository). Null, with the test
 * skipped and the reason given, when the tests do not run as root or that user cannot run Node
 * and this project from where they are (a checkout in a private directory).
 */
export function asAnotherUser(
  t: { skip: (why: string) => void },
  repo: TestRepo,
  except: string[] = [],
): ((args: string[]) => { status: number | null; stdout: string; stderr: string }) | null {
  if (process.getuid?.() !== 0) {
    t.skip('needs root, to run shoal as another user');
    return null;
  }
  const probe = spawnSync(process.execPath, [BIN, '--help'], { uid: NOBODY, gid: NOBODY, encoding: 'utf8' });
  if (probe.status !== 0) {
    t.skip('Node or this project is not readable by another user here');
    return null;
  }
  for (const dir of [repo.dir, repo.configDir]) {
    chownSync(dir, NOBODY, NOBODY);
    for (const p of readdirSync(dir, { recursive: true, encoding: 'utf8' }))
      if (dir !== repo.dir || !except.includes(p)) chownSync(join(dir, p), NOBODY, NOBODY);
  }
  return (args) =>
    spawnSync(process.execPath, [BIN, ...args], {
      cwd: repo.dir,
      env: shoalEnv({ configDir: repo.configDir }),
      encoding: 'utf8',
      uid: NOBODY,
      gid: NOBODY,
    });
}
