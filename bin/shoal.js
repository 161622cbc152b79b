#!/usr/bin/env node
// Entry point: hands over to the TypeScript CLI, which Node runs with type stripping. The
// compile cache keeps start-up short after the first run.
import module from 'node:module';

// Commands that stream large files allocate buffers that die young; with V8's default young
// generation their garbage piles up as resident memory. These commands re-execute Node in
// place (same process id, so signals and `kill -9` behave as before) with a small young
// generation: measured on a 4 GiB clone, peak RSS 394 MB -> 311 MB at the same speed.
// Setting the flag from inside the running process has no effect, hence the exec.
const STREAMING = new Set(['add', 'checkout', 'switch', 'restore', 'merge', 'cat', 'fsck', 'gc']);
for (const name of ['clone', 'fetch', 'pull', 'push', 'serve', 'daemon', 'demo']) STREAMING.add(name);
const YOUNG_GENERATION = '--max-semi-space-size=1';

function commandName(args) {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-C') i++;
    else if (args[i] === '--') return undefined;
    else if (!args[i].startsWith('-')) return args[i];
  }
  return undefined;
}

if (
  typeof process.execve === 'function' &&
  !process.execArgv.includes(YOUNG_GENERATION) &&
  STREAMING.has(commandName(process.argv.slice(2)))
) {
  process.execve(process.execPath, [
    process.execPath,
    YOUNG_GENERATION,
    ...process.execArgv,
    ...process.argv.slice(1),
  ]);
}

module.enableCompileCache?.();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
