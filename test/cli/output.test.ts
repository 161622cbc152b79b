// Output edge cases: a reader that stops early must not turn into an error or a stack trace.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { createContext } from '../../src/cli/context.ts';
import { formatBytes, quotedName, quotePath, terminalSafe } from '../../src/cli/format.ts';
import { RecentRate } from '../../src/cli/progress.ts';
import { BIN, haveScript, shoal, shoalEnv, shoalOnTerminal, shoalSpawn, tempDir } from '../helpers.ts';
import { newRepo } from './repo-helpers.ts';

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

test('output that cannot be written (a full disk) is a one-line error and status 1, never a stack trace', (t) => {
  const dir = tempDir(t);
  const configDir = join(dir, 'config');
  const repo = join(dir, 'repo');
  assert.equal(shoal(['init', repo], { configDir }).status, 0);
  writeFileSync(join(repo, 'big.bin'), Buffer.alloc(3 * 1024 * 1024, 7));
  writeFileSync(join(repo, 'small.txt'), 'small\n');
  assert.equal(shoal(['-C', repo, 'add', '.'], { configDir }).status, 0);
  assert.equal(shoal(['-C', repo, 'commit', '-m', 'one'], { configDir }).status, 0);
  const full = openSync('/dev/full', 'w');
  t.after(() => closeSync(full));
  for (const args of [
    ['cat', 'HEAD:big.bin'],
    ['cat', 'HEAD:small.txt'],
    ['ls'],
    ['status', '--json'],
    ['log'],
  ]) {
    const r = spawnSync(process.execPath, [BIN, '-C', repo, ...args], {
      env: shoalEnv({ configDir }),
      stdio: ['ignore', full, 'pipe'],
      encoding: 'utf8',
    });
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^error: .*no space left on device\n$/, args.join(' '));
  }
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

test('the rate shown during work is that of the last five seconds, not the average since the start', () => {
  const rate = new RecentRate(0);
  assert.equal(rate.at(0, 0), 0);
  assert.equal(rate.at(1000, 1000), 1000);
  // A slow start (dialling, say), then 10 kB/s from 5 s on.
  for (let s = 2; s <= 5; s++) rate.at(s * 1000, 1000);
  for (let s = 6; s <= 10; s++) rate.at(s * 1000, 1000 + (s - 5) * 10_000);
  assert.equal(rate.at(11_000, 61_000), 10_000, 'seconds 6 to 11 alone');
  // The network stops: the rate falls to what the last five seconds moved.
  assert.equal(rate.at(13_000, 61_000), 6_000);
  assert.equal(rate.at(16_000, 61_000), 0);
});

test('formatBytes: whole bytes below 1 KiB, one decimal above, for sizes and rates alike', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(7), '7 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1024), '1.0 KiB');
  assert.equal(formatBytes(3.5 * 1024 * 1024), '3.5 MiB');
  // a rate: 7 bytes cloned in 0.022 s
  assert.equal(formatBytes(7 / 0.022), '318 B');
  assert.equal(formatBytes(0.4), '0 B');
});

test('quotePath and terminalSafe: control characters, quotes and bidi overrides come out as escapes', () => {
  assert.equal(quotePath('plain/name.bin'), 'plain/name.bin');
  assert.equal(quotePath('héllo wörld.txt'), 'héllo wörld.txt');
  assert.equal(quotePath('new\nline'), '"new\\nline"');
  assert.equal(quotePath('\x1b[31mred'), '"\\x1b[31mred"');
  assert.equal(quotePath('say "hi"\\'), '"say \\"hi\\"\\\\"');
  assert.equal(quotePath('evil\u202etxt.exe'), '"evil\\u202etxt.exe"');
  assert.equal(quotePath('c1\x9bz'), '"c1\\x9bz"');
  assert.equal(quotedName('a.txt'), "'a.txt'");
  assert.equal(quotedName('a\tb'), '"a\\tb"');
  // Tabs and newlines stay (output is made of lines); every other control character is escaped.
  assert.equal(terminalSafe('a\tb\nc'), 'a\tb\nc');
  assert.equal(terminalSafe('x\x1b]0;title\x07\ry'), 'x\\x1b]0;title\\x07\\ry');
});

test('human output quotes paths with control characters; JSON carries them as they are', (t) => {
  const dir = tempDir(t);
  const configDir = join(dir, 'config');
  const repo = join(dir, 'repo');
  assert.equal(shoal(['init', repo], { configDir }).status, 0);
  const names = ['new\nline.txt', '\x1b[2Jclear.txt', 'plain.txt'];
  for (const n of names) writeFileSync(join(repo, n), n);
  const untracked = shoal(['status'], { cwd: repo, configDir });
  assert.equal(untracked.status, 0, untracked.stderr);
  assert.match(untracked.stdout, /^ {2}"new\\nline\.txt"$/m);
  assert.match(untracked.stdout, /^ {2}"\\x1b\[2Jclear\.txt"$/m);
  assert.match(untracked.stdout, /^ {2}plain\.txt$/m);
  assert.equal(shoal(['add', '.'], { cwd: repo, configDir }).status, 0);
  assert.equal(shoal(['commit', '-m', 'names'], { cwd: repo, configDir }).status, 0);
  const ls = shoal(['ls'], { cwd: repo, configDir });
  assert.ok(!ls.stdout.includes('\x1b'), ls.stdout);
  assert.equal(ls.stdout.trim().split('\n').length, 3, ls.stdout);
  assert.match(ls.stdout, / "new\\nline\.txt"$/m);
  const json = JSON.parse(shoal(['ls', '--json'], { cwd: repo, configDir }).stdout) as { path: string }[];
  assert.deepEqual(json.map((f) => f.path).sort(), [...names].sort());
  const rm = shoal(['rm', '--cached', 'plain.txt'], { cwd: repo, configDir });
  assert.equal(rm.stdout, "rm 'plain.txt'\n");
});

test('on a terminal, an escape sequence in a commit message is shown as an escape, not obeyed', async (t) => {
  const made = terminalRepo(t);
  if (!made) return;
  const { configDir, repo } = made;
  writeFileSync(join(repo, 'a.txt'), 'a');
  assert.equal(shoal(['add', '.'], { cwd: repo, configDir }).status, 0);
  const message = 'title \x1b]0;owned\x07 \x1b[31mred';
  assert.equal(shoal(['commit', '-m', message], { cwd: repo, configDir }).status, 0);
  const tty = await shoalOnTerminal(['log', '--oneline'], { cwd: repo, configDir });
  assert.equal(tty.status, 0, tty.output);
  assert.ok(!tty.output.includes('\x1b'), tty.output);
  assert.match(tty.output, /title \\x1b\]0;owned\\x07 \\x1b\[31mred/);
  // Through a pipe the message comes out as it was written, for scripts.
  const piped = shoal(['log', '--oneline'], { cwd: repo, configDir });
  assert.ok(piped.stdout.includes(message));
});

test('with --json, commands that change settings say what they did: stdout is never empty', (t) => {
  const repo = newRepo(t);
  const emitted = <T>(args: string[]): T => {
    const r = repo.ok([...args, '--json']);
    assert.notEqual(r.stdout, '', `${args.join(' ')} printed nothing`);
    return JSON.parse(r.stdout) as T;
  };
  assert.deepEqual(emitted<{ key: string; value: string }>(['config', 'set', 'user.name', 'X']).value, 'X');
  assert.equal(emitted<{ removed: boolean }>(['config', 'unset', 'user.name']).removed, true);
  assert.equal(emitted<{ removed: boolean }>(['config', 'unset', 'user.name']).removed, false);
  const peer = '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWBWaSNnbFR3sjDDQUR5BNZwCUvLDFRo986wSKahBcTtEv';
  assert.equal(emitted<{ url: string }>(['remote', 'add', 'lab', peer]).url, peer);
  assert.deepEqual(emitted<{ peers: string[] }>(['remote', 'set-url', 'lab', peer, '--peer', peer]).peers, [
    peer,
  ]);
  assert.deepEqual(emitted<{ removedBranches: string[] }>(['remote', 'remove', 'lab']).removedBranches, []);
});
