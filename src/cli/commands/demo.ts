// shoal demo: a real run on loopback. In a temporary directory it creates two users, versions a
// generated 256 MiB file, serves it from one peer (a separate shoal process), clones it to the
// other, changes 1 MiB, pulls, prints what moved and how fast, then removes everything.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ShoalError } from '../../core/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import { formatBytes, plural } from '../format.ts';
import { exitInterrupted } from '../interrupt.ts';
import type { Command } from '../main.ts';

const USAGE = 'shoal demo [--size <MiB>] [--keep]';
const BIN = fileURLToPath(new URL('../../../bin/shoal.js', import.meta.url));

/** Fast deterministic incompressible bytes: AES-CTR over zeros. */
function writeRandomFile(path: string, bytes: number): void {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 0));
  const zero = Buffer.alloc(16 * 1024 * 1024);
  const fd = openSync(path, 'w');
  try {
    for (let done = 0; done < bytes; done += zero.length) {
      const block = cipher.update(zero.subarray(0, Math.min(zero.length, bytes - done)));
      writeSync(fd, block);
    }
  } finally {
    closeSync(fd);
  }
}

function overwrite(path: string, at: number, bytes: number): void {
  const fd = openSync(path, 'r+');
  try {
    const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 9), Buffer.alloc(16, 0));
    writeSync(fd, cipher.update(Buffer.alloc(bytes)), 0, bytes, at);
  } finally {
    closeSync(fd);
  }
}

/**
 * The environment of the demo's shoal processes: each user's own config, and no LAN discovery.
 * The two peers find each other by address on loopback, so the demo sends nothing to the LAN
 * and listens on no other interface.
 */
function demoEnv(configDir: string): NodeJS.ProcessEnv {
  return { ...process.env, SHOAL_CONFIG_DIR: configDir, SHOAL_MDNS: '0' };
}

interface Run {
  json: <T>(args: string[], cwd: string) => T;
}

function runner(configDir: (user: string) => string, user: string): Run {
  return {
    json<T>(args: string[], cwd: string): T {
      const r = spawnSync(process.execPath, [BIN, '--json', ...args], {
        cwd,
        env: demoEnv(configDir(user)),
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      });
      if (r.status !== 0) {
        throw new ShoalError(
          'PEER_ERROR',
          `demo step 'shoal ${args.join(' ')}' failed: ${r.stderr.trim() || r.stdout.trim()}`,
        );
      }
      return JSON.parse(r.stdout) as T;
    },
  };
}

/** Start `shoal serve` in its own process and wait for the address it prints. */
async function startServer(
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<{ child: ChildProcess; addr: string }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--listen', '/ip4/127.0.0.1/tcp/0'], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr += String(d);
  });
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    if (line.includes('/p2p/')) return { child, addr: line.trim() };
  }
  throw new ShoalError('PEER_ERROR', `the serving peer did not start: ${stderr.trim()}`);
}

const OPTIONS = { size: { type: 'string' }, keep: { type: 'boolean' } } satisfies Options;

export const command: Command = {
  summary: 'run a two-peer demo on loopback: version, clone, change, pull',
  usage: USAGE,
  options: OPTIONS,
  async run(ctx: Context, args: string[]) {
    const { values, positionals } = parse(args, OPTIONS, USAGE);
    if (positionals.length > 0) usage(USAGE);
    const mib = values.size === undefined ? 256 : Number(values.size);
    if (!Number.isInteger(mib) || mib < 1 || mib > 65536)
      throw new ShoalError('USAGE', `--size must be a whole number of MiB from 1 to 65536`);
    const size = mib * 1024 * 1024;
    const root = mkdtempSync(join(tmpdir(), 'shoal-demo-'));
    const configDir = (user: string): string => join(root, `${user}-config`);
    const say = (line: string): void => {
      if (!ctx.json) ctx.out(line);
    };
    const alice = runner(configDir, 'alice');
    const bob = runner(configDir, 'bob');
    const aliceRepo = join(root, 'alice');
    const bobRepo = join(root, 'bob');
    let server: ChildProcess | undefined;
    // The directory goes however the demo ends: Ctrl-C, SIGTERM, or a reader of its output that
    // stops early (which ends the process at once), not only by the end of this function.
    const cleanUp = (): void => {
      server?.kill('SIGTERM');
      if (!values.keep) rmSync(root, { recursive: true, force: true });
    };
    const interrupted = (): void => exitInterrupted(ctx);
    process.on('exit', cleanUp);
    process.on('SIGINT', interrupted);
    process.on('SIGTERM', interrupted);
    try {
      mkdirSync(aliceRepo);
      say(`demo directory ${root}`);
      say(`alice versions a ${formatBytes(size)} file`);
      writeRandomFile(join(aliceRepo, 'model.bin'), size);
      alice.json(['init'], aliceRepo);
      let t = performance.now();
      alice.json(['add', 'model.bin'], aliceRepo);
      alice.json(['commit', '-m', 'first version', '--author', 'alice'], aliceRepo);
      const addSeconds = (performance.now() - t) / 1000;
      const info = alice.json<{ url: string }>(['info'], aliceRepo);
      say(`  added and committed in ${addSeconds.toFixed(2)} s; repository ${info.url}`);

      const started = await startServer(aliceRepo, demoEnv(configDir('alice')));
      server = started.child;
      say(`alice serves it at ${started.addr}`);

      t = performance.now();
      const clone = bob.json<{ bytes: number; seconds: number; perPeer: Record<string, number> }>(
        ['clone', started.addr, bobRepo],
        root,
      );
      const cloneSeconds = (performance.now() - t) / 1000;
      say(
        `bob clones it: ${formatBytes(clone.bytes)} in ${clone.seconds.toFixed(2)} s ` +
          `(${formatBytes(clone.bytes / clone.seconds)}/s transfer, ${cloneSeconds.toFixed(2)} s with start-up and checkout)`,
      );

      overwrite(join(aliceRepo, 'model.bin'), Math.floor(size / 2), 1024 * 1024);
      alice.json(['add', 'model.bin'], aliceRepo);
      alice.json(['commit', '-m', 'second version: 1 MiB changed', '--author', 'alice'], aliceRepo);
      const stats = alice.json<{ storedBytes: number; logicalBytes: number }>(['stats'], aliceRepo);
      say(
        `alice changes 1 MiB in the middle and commits: the repository holds ${formatBytes(stats.storedBytes)} for ${formatBytes(stats.logicalBytes)} of versions`,
      );

      t = performance.now();
      const pull = bob.json<{
        fetch: { bytes: number; chunks: number; metadataObjects: number; seconds: number };
      }>(['pull'], bobRepo);
      say(
        `bob pulls: ${formatBytes(pull.fetch.bytes)} moved (${plural(pull.fetch.chunks, 'chunk')}, ${pull.fetch.metadataObjects} index and tree objects) in ${pull.fetch.seconds.toFixed(2)} s`,
      );
      const fsck = bob.json<{ ok: boolean }>(['fsck'], bobRepo);
      const verify = bob.json<{ ok: boolean }>(['verify'], bobRepo);
      say(`bob's copy: fsck ${fsck.ok ? 'ok' : 'FAILED'}, signatures ${verify.ok ? 'ok' : 'FAILED'}`);
      if (ctx.json) {
        ctx.emit({
          size,
          addSeconds,
          clone: { bytes: clone.bytes, seconds: clone.seconds, wallSeconds: cloneSeconds },
          pull: { ...pull.fetch, wallSeconds: (performance.now() - t) / 1000 },
          storedBytes: stats.storedBytes,
          ok: fsck.ok && verify.ok,
        });
      }
      return fsck.ok && verify.ok ? 0 : 1;
    } finally {
      process.off('SIGINT', interrupted);
      process.off('SIGTERM', interrupted);
      process.off('exit', cleanUp);
      server?.kill('SIGTERM');
      if (server && server.exitCode === null) await new Promise((resolve) => server!.once('exit', resolve));
      if (values.keep) say(`kept ${root}`);
      else rmSync(root, { recursive: true, force: true });
    }
  },
};
