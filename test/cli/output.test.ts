// Output edge cases: a reader that stops early must not turn into an error or a stack trace.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { createContext } from '../../src/cli/context.ts';
import { haveScript, shoal, shoalOnTerminal, shoalSpawn, tempDir } from '../helpers.ts';

test('a closed stdout pipe (shoal cat | head) ends quietly with status 0', async (t) => {
  const dir = tempDir(t);
  const configDir = join(dir, 'config');
  const repo = join(dir, 'repo');
  assert.equal(shoal(['init', repo], { configDir }).status, 0);
  writeFileSync(join(repo, 'big.bin'), Buffer.alloc(8 * 1024 * 1024, 7));
  assert.equal(shoal(['-C', repo, 'add', 'big.bin'], { configDir }).status, 0);
  assert.equal(shoal(['-C', repo, 'commit', '-m', 'one'], { configDir }).status, 0);

  const child = shoalSpawn(['-C', repo, 'cat', 'HEAD:big.bin'], { configDir });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += String(d);
  });
  const [first] = (await once(child.stdout, 'data')) as [Buffer];
  assert.ok(first.length > 0);
  child.stdout.destroy(); // the reader goes away, as `head` does
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /Error|at /);
});

/** A new repository for a progress test, or null (the test skipped) without script(1). */
function terminalRepo(t: TestContext): { configDir: string; repo: string } | null {
  if (!haveScript()) {
    t.skip('script(1) from util-linux is needed for a pseudo-terminal');
    return null;
  }
  const dir = tempDir(t);
  const configDir = join(dir, 'config');
  const repo = join(dir, 'repo');
  assert.equal(shoal(['init', repo], { configDir }).status, 0);
  return { configDir, repo };
}

test('progress on a terminal: add shows bytes, totals and files, and nothing with -q', async (t) => {
  const made = terminalRepo(t);
  if (!made) return;
  const { configDir, repo } = made;
  for (let i = 0; i < 3; i++) writeFileSync(join(repo, `f${i}`), Buffer.alloc(3 * 1024 * 1024, i));
  const r = await shoalOnTerminal(['add', '.'], { cwd: repo, configDir });
  assert.equal(r.status, 0, r.output);
  const lines = r.output.split(/[\r\n]+/).filter((l) => l.includes('add:'));
  assert.ok(lines.length > 0, r.output);
  assert.match(lines.at(-1)!, /add: 9\.0 MiB \/ 9\.0 MiB \(100%\), .*\/s, 3\/3 files/);
  writeFileSync(join(repo, 'f0'), Buffer.alloc(1024, 9));
  const quiet = await shoalOnTerminal(['add', '-q', '.'], { cwd: repo, configDir });
  assert.equal(quiet.status, 0, quiet.output);
  assert.doesNotMatch(quiet.output, /add:/);
});

test('progress on a terminal: checkout and switch count every byte they will write, up front', async (t) => {
  const made = terminalRepo(t);
  if (!made) return;
  const { configDir, repo } = made;
  const run = (args: string[]): void => assert.equal(shoal(args, { cwd: repo, configDir }).status, 0);
  for (let i = 0; i < 3; i++) writeFileSync(join(repo, `f${i}`), Buffer.alloc(3 * 1024 * 1024, i));
  run(['add', '.']);
  run(['commit', '-m', 'one']);
  const lastLine = (output: string, label: string): string => {
    const lines = output.split(/[\r\n]+/).filter((l) => l.includes(`${label}:`));
    assert.ok(lines.length > 0, output);
    return lines.at(-1)!;
  };
  // --force: two files deleted and one modified, all three written back.
  rmSync(join(repo, 'f0'));
  rmSync(join(repo, 'f1'));
  writeFileSync(join(repo, 'f2'), 'local edit');
  const forced = await shoalOnTerminal(['checkout', '--force', 'HEAD'], { cwd: repo, configDir });
  assert.equal(forced.status, 0, forced.output);
  assert.match(lastLine(forced.output, 'checkout'), /checkout: 9\.0 MiB \/ 9\.0 MiB \(100%\)/);
  // A switch writes only what differs between the branches.
  run(['switch', '-c', 'other']);
  writeFileSync(join(repo, 'f0'), Buffer.alloc(1024 * 1024, 7));
  run(['add', '.']);
  run(['commit', '-m', 'two']);
  const switched = await shoalOnTerminal(['switch', 'main'], { cwd: repo, configDir });
  assert.equal(switched.status, 0, switched.output);
  assert.match(lastLine(switched.output, 'switch'), /switch: 3\.0 MiB \/ 3\.0 MiB \(100%\)/);
});

test('without a terminal a command gets no progress callback, so work done only for the display is skipped', (t) => {
  if (process.stderr.isTTY) {
    t.skip('stderr is a terminal here');
    return;
  }
  assert.equal(createContext(process.cwd(), false, false).progress('add').onProgress, undefined);
  assert.equal(createContext(process.cwd(), true, false).progress('add').onProgress, undefined);
});
