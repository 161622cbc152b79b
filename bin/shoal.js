#!/usr/bin/env node
// Entry point: hands over to the TypeScript CLI, which Node runs with type stripping. The
// compile cache keeps start-up short after the first run.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath } from 'node:url';

// A Node too old to run the TypeScript sources (`npm link`, then `shoal` on a system whose Node
// is older) hands over to the Node the project brings, when it is there.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  const bundled = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
  if (!existsSync(bundled)) {
    process.stderr.write(
      `error: shoal needs Node.js 22.18 or newer, and this is ${process.version}; run 'npm ci' in shoal's directory, which brings its own\n`,
    );
    process.exit(1);
  }
  // Ctrl-C reaches the child too (same process group): this process waits for it to end.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => {});
  const child = spawnSync(bundled, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  process.exit(child.status ?? 1);
}

// Commands that stream large files allocate buffers that die young; with V8's default young
// generation their garbage piles up as resident memory. These commands re-execute Node in
// place (same process id, so signals and `kill -9` behave as before) with a small young
// generation: measured on a 4 GiB clone, peak RSS 394 MB -> 311 MB at the same speed.
// Setting the flag from inside the running process has no effect, hence the exec.
const LOCAL = ['add', 'checkout', 'switch', 'restore', 'merge', 'cat', 'fsck', 'gc'];
const LOCAL_YOUNG_GENERATION = '--max-semi-space-size=1';
// Transfers size it by role. Their major GCs come from the chunk buffers' memory outside the
// heap: V8 starts one whenever that grows by 64 MB. Too small a young generation promotes the
// buffers still in flight, and only a major GC frees them; too large a one scavenges so rarely
// that dead buffers pass the 64 MB first. A seeder's major GCs in a 1 GiB clone: 47 at 1 MiB,
// 4 at 4 MiB, 32 at 8 MiB. By hand, alternating, the same clone from a seeder at 4 MiB:
// 323-350 MB/s against 292-311 at 1 MiB, seeder CPU 2.0-2.2 s against 2.7-2.8 s, its peak RSS
// 173-216 MiB against 204-217. A downloader does best at 2 MiB: at 4 its peak RSS in a 4 GiB
// clone reached 289-299 MiB, near the 300 MB it must stay under; at 2, 264-268 MiB (260-283 at
// 1), and 18-19 major GCs in a 1 GiB clone fell to 4-9. A daemon serves, and fetches only what
// is pushed to it.
const SERVING = ['serve', 'daemon', 'push'];
const SERVING_YOUNG_GENERATION = '--max-semi-space-size=4';
const FETCHING = ['clone', 'fetch', 'pull', 'demo'];
const FETCHING_YOUNG_GENERATION = '--max-semi-space-size=2';
// Transfers also start with room in the old generation. With the small young generation, the
// chunk buffers a transfer holds in flight are promoted, and V8 starts a major GC whenever they
// approach the old generation's limit, which it first sets just above the live heap (about
// 20 MB): a seeder ran one every 75 ms. A 1 GiB clone by hand: 46 -> 20 major GCs in the
// seeder, transfer 4.98-5.35 s -> 4.14-4.54 s, peak RSS of a 4 GiB clone unchanged (270 MiB).
// Local commands do without it: it raised their peak RSS by up to 24 MB (add of 4 GiB: 254 ->
// 277 MiB, near the 286 MiB bound) for little speed (add of 1 GiB: 1.61-1.78 s -> 1.55-1.75 s).
const OLD_GENERATION = '--initial-old-space-size=64';
// And with at most two malloc arenas (glibc makes up to eight per core, and the thread pool's
// threads each take one for what they allocate): peak RSS of a 4 GiB clone, seven runs each
// alternating by hand, 251-269 MiB with two against 255-290 MiB without, at the same speed. A
// value the user set is kept; other C libraries ignore the variable.
const MALLOC_ARENAS = { MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' };

function commandName(args) {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-C') i++;
    else if (args[i] === '--') return undefined;
    else if (!args[i].startsWith('-')) return args[i];
  }
  return undefined;
}

const name = commandName(process.argv.slice(2));
const network = SERVING.includes(name) || FETCHING.includes(name);
const flags = SERVING.includes(name)
  ? [SERVING_YOUNG_GENERATION, OLD_GENERATION]
  : FETCHING.includes(name)
    ? [FETCHING_YOUNG_GENERATION, OLD_GENERATION]
    : LOCAL.includes(name)
      ? [LOCAL_YOUNG_GENERATION]
      : [];
// Run once: after the exec, or when a daemon's parent already chose (it passes its own flags on).
if (typeof process.execve === 'function' && flags.length > 0 && !process.execArgv.includes(flags[0])) {
  process.execve(
    process.execPath,
    [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)],
    network ? { ...process.env, ...MALLOC_ARENAS } : process.env,
  );
}

// Worker threads do not share the cache this call enables, but they do read the variable: set,
// an add's chunk workers start without stripping TypeScript again (70-110 ms of CPU each).
const cache = module.enableCompileCache?.();
const usable = [
  module.constants?.compileCacheStatus?.ENABLED,
  module.constants?.compileCacheStatus?.ALREADY_ENABLED,
];
if (cache?.directory && usable.includes(cache.status) && !process.env.NODE_COMPILE_CACHE)
  process.env.NODE_COMPILE_CACHE = cache.directory;
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
