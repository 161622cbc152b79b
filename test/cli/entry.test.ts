// bin/shoal.js: run by a Node too old for the sources (a system Node, after `npm link`), it
// hands over to the Node the project brings; a command that streams large data runs on the
// Node flags and allocator setting chosen for its memory.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { runtimeFor } from '../../bin/runtime.js';
import { BIN, shoal, shoalEnv, tempDir } from '../helpers.ts';

/** A Node on the PATH older than 22.18, if this machine has one (as a stock Debian does). */
function oldNode(): string | undefined {
  for (const candidate of ['/usr/bin/node', '/usr/local/bin/node', '/bin/node']) {
    const r = spawnSync(candidate, ['-p', 'process.versions.node'], { encoding: 'utf8' });
    if (r.status !== 0) continue;
    const [major, minor] = r.stdout.trim().split('.').map(Number) as [number, number];
    if (major < 22 || (major === 22 && minor < 18)) return candidate;
  }
  return undefined;
}

const old = oldNode();

test('run by an older Node, shoal runs on its own Node: output, exit status and errors as ever', {
  skip: old ? false : 'no Node older than 22.18 on this machine',
}, (t) => {
  const dir = tempDir(t);
  const env = shoalEnv({ configDir: tempDir(t) });
  const init = spawnSync(old!, [BIN, 'init', '--json'], { cwd: dir, env, encoding: 'utf8' });
  assert.equal(init.status, 0, init.stderr);
  assert.equal((JSON.parse(init.stdout) as { root: string }).root, dir);
  const bad = spawnSync(old!, [BIN, 'log', '-n', 'x'], { cwd: dir, env, encoding: 'utf8' });
  assert.equal(bad.status, 2, bad.stderr);
  assert.doesNotMatch(bad.stderr, /ERR_UNKNOWN_FILE_EXTENSION|\n\s+at /);
});

test('a seeder runs on its own young generation size, room in the old one and two malloc arenas', {
  skip: existsSync('/proc/self/environ') ? false : 'no /proc here',
}, async (t) => {
  const dir = tempDir(t);
  const configDir = tempDir(t);
  assert.equal(shoal(['init', '-q'], { cwd: dir, configDir }).status, 0);
  /**
   * A running `shoal serve`'s arguments and environment, given MALLOC_ARENA_MAX=`arenas`,
   * NODE_OPTIONS, Node arguments before the entry point, and other variables.
   */
  const started = async (
    arenas: string | undefined,
    nodeOptions = '',
    nodeArgs: string[] = [],
    vars: Record<string, string> = {},
  ): Promise<{ args: string[]; env: string[] }> => {
    const env = { ...shoalEnv({ configDir }), ...vars };
    delete env.MALLOC_ARENA_MAX;
    if (arenas !== undefined) env.MALLOC_ARENA_MAX = arenas;
    env.NODE_OPTIONS = nodeOptions;
    const server = spawn(process.execPath, [...nodeArgs, BIN, 'serve', '--listen', '/ip4/127.0.0.1/tcp/0'], {
      cwd: dir,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.after(() => server.kill('SIGKILL'));
    await once(server.stdout, 'data'); // its address: running, after the exec
    const strings = (file: string): string[] =>
      readFileSync(`/proc/${server.pid}/${file}`, 'latin1').split('\0');
    return { args: strings('cmdline'), env: strings('environ') };
  };
  const plain = await started(undefined);
  assert.ok(plain.args.includes('--max-semi-space-size=2'), plain.args.join(' '));
  assert.ok(plain.args.includes('--initial-old-space-size=64'), plain.args.join(' '));
  assert.ok(plain.env.includes('MALLOC_ARENA_MAX=2'));
  // A value the user set is theirs.
  assert.ok((await started('4')).env.includes('MALLOC_ARENA_MAX=4'));
  // So is a young generation size given in NODE_OPTIONS: the rest still applies.
  const optioned = await started(undefined, '--max-semi-space-size=8');
  assert.ok(!optioned.args.some((a) => a.startsWith('--max-semi-space-size')), optioned.args.join(' '));
  assert.ok(optioned.args.includes('--initial-old-space-size=64'), optioned.args.join(' '));
  assert.ok(optioned.env.includes('MALLOC_ARENA_MAX=2'));
  // Or given to Node directly, even when it is exactly shoal's own.
  const given = await started(undefined, '', ['--max-semi-space-size=2']);
  assert.equal(
    given.args.filter((a) => a.startsWith('--max-semi-space-size')).length,
    1,
    given.args.join(' '),
  );
  assert.ok(given.args.includes('--initial-old-space-size=64'), given.args.join(' '));
  assert.ok(given.env.includes('MALLOC_ARENA_MAX=2'));
  // Never a second exec: one whose MALLOC_ARENA_MAX an exec dropped (as glibc's secure mode
  // does) runs as it is rather than executing itself again, and again.
  const again = await started(undefined, '', [], { SHOAL_RUNTIME_APPLIED: '1' });
  assert.ok(!again.args.includes('--max-semi-space-size=2'), again.args.join(' '));
});

test('each command runs on the runtime chosen for its role', () => {
  const young = (flags: string[]) => flags.find((f) => f.startsWith('--max-semi-space-size='));
  const serve = runtimeFor('serve', {});
  const clone = runtimeFor('clone', {});
  assert.equal(young(serve.flags), '--max-semi-space-size=2');
  assert.equal(young(runtimeFor('daemon', {}).flags), '--max-semi-space-size=2');
  assert.equal(young(clone.flags), '--max-semi-space-size=2');
  assert.equal(young(runtimeFor('pull', {}).flags), '--max-semi-space-size=2');
  assert.equal(young(runtimeFor('add', {}).flags), '--max-semi-space-size=1');
  assert.deepEqual(runtimeFor('status', {}), { flags: [], env: {} });
  // demo's peers are processes of their own, on their commands' runtimes.
  assert.deepEqual(runtimeFor('demo', {}), { flags: [], env: {} });
  assert.deepEqual(runtimeFor(undefined, {}), { flags: [], env: {} });
  assert.ok(clone.flags.includes('--initial-old-space-size=64'));
  assert.deepEqual(serve.env, { MALLOC_ARENA_MAX: '2' });
  assert.deepEqual(clone.env, { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' });
  // What the user's environment already says is kept.
  const theirs = runtimeFor('fetch', { MALLOC_ARENA_MAX: '8', MALLOC_MMAP_THRESHOLD_: '65536' });
  assert.deepEqual(theirs.env, { MALLOC_ARENA_MAX: '8', MALLOC_MMAP_THRESHOLD_: '65536' });
  // And an option the user gave Node, however spelled; a process on its runtime has none to add.
  const optioned = runtimeFor('clone', { NODE_OPTIONS: '--no-warnings  --max_semi_space_size=16' });
  assert.deepEqual(optioned.flags, ['--initial-old-space-size=64']);
  assert.deepEqual(runtimeFor('pull', {}, ['--initial-old-space-size=32']).flags, [
    '--max-semi-space-size=2',
  ]);
  assert.deepEqual(runtimeFor('serve', {}, runtimeFor('serve', {}).flags).flags, []);
});
