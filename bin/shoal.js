#!/usr/bin/env node
// Entry point: hands over to the TypeScript CLI, which Node runs with type stripping. The
// compile cache keeps start-up short after the first run.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath } from 'node:url';
import { runtimeFor } from './runtime.js';

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

function commandName(args) {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-C') i++;
    else if (args[i] === '--') return undefined;
    else if (!args[i].startsWith('-')) return args[i];
  }
  return undefined;
}

// Commands that stream large files run with V8 flags of their own (runtime.js). Setting them
// from inside the running process has no effect, so Node is re-executed in place: same process
// id, so signals and `kill -9` behave as before. Once: after the exec (or when a daemon's parent
// passed its own flags on) there is nothing left to add, as there is nothing for an option the
// user gave Node. And never twice: an exec may drop variables (glibc clears MALLOC_* for a
// program it runs in secure mode, such as a Node given file capabilities), which would then
// look unset again. The mark is not passed on to the processes this one starts.
const EXECUTED = 'SHOAL_RUNTIME_APPLIED';
const executed = process.env[EXECUTED] !== undefined;
delete process.env[EXECUTED];
const runtime = runtimeFor(commandName(process.argv.slice(2)), process.env, process.execArgv);
const changesEnv = Object.entries(runtime.env).some(([name, value]) => process.env[name] !== value);
if (!executed && typeof process.execve === 'function' && (runtime.flags.length > 0 || changesEnv)) {
  process.execve(
    process.execPath,
    [process.execPath, ...runtime.flags, ...process.execArgv, ...process.argv.slice(1)],
    { ...process.env, ...runtime.env, [EXECUTED]: '1' },
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
