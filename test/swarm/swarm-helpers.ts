// Helpers for the peer-to-peer tests: real shoal processes (serve, clone, fetch, an evil peer)
// talking over loopback or across network namespaces. Every child is killed when its test ends;
// waiting is always on an observable event (a printed multiaddr, a file that grows, an exit),
// bounded by a deadline that only turns a hang into a failure.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as delay } from 'node:timers/promises';
import type { CloneSummary } from '../../src/swarm/index.ts';
import { configFor, describe, newRepo, type TestRepo } from '../cli/repo-helpers.ts';
import { BIN, ROOT, type RunResult, shoalEnv, tempDir } from '../helpers.ts';

/** What the helpers need of a test: somewhere to register cleanups (a TestContext, or a suite's). */
export interface Scope {
  after(fn: () => unknown): void;
  diagnostic?(message: string): void;
}
type T = Scope;

/** A Scope for a whole file or suite: run `cleanup` in its `after` hook. */
export function suiteScope(): { scope: Scope; cleanup: () => Promise<void> } {
  const fns: (() => unknown)[] = [];
  return {
    scope: { after: (fn) => fns.push(fn) },
    cleanup: async () => {
      for (const fn of fns.reverse()) await fn();
    },
  };
}

export const EVIL_PEER = join(ROOT, 'test', 'fixtures', 'evil-peer.ts');

/** How long a test may wait for one event before it fails (never a synchronization sleep). */
export const DEADLINE_MS = 60_000;

export interface Child {
  proc: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit status (or -1 when killed by a signal, or when it could not start). */
  exited: Promise<number>;
  /** True once it exited (or failed to start). */
  finished: () => boolean;
  /** kill -9 and wait until it is gone. */
  kill: () => Promise<void>;
}

/** Track a spawned process: collect its output, and kill it (-9) when the test ends. */
export function track(t: T, proc: ChildProcess): Child {
  let out = '';
  let err = '';
  proc.stdout?.setEncoding('utf8');
  proc.stderr?.setEncoding('utf8');
  proc.stdout?.on('data', (d: string) => {
    out += d;
  });
  proc.stderr?.on('data', (d: string) => {
    err += d;
  });
  let finished = false;
  const exited = new Promise<number>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve(proc.exitCode ?? -1);
    else {
      proc.once('exit', (code) => resolve(code ?? -1));
      // a process that could not start (no such cwd or program) never exits
      proc.once('error', (e) => {
        err += `\nspawn failed: ${e.message}`;
        resolve(-1);
      });
    }
  });
  void exited.then(() => {
    finished = true;
  });
  const kill = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null && proc.pid !== undefined) {
      try {
        proc.kill('SIGKILL');
      } catch {}
    }
    await exited;
  };
  t.after(kill);
  return { proc, stdout: () => out, stderr: () => err, exited, finished: () => finished, kill };
}

export interface SpawnOptions {
  cwd: string;
  configDir: string;
  /** Run inside this network namespace (`ip netns exec`, which execs: the pid is node's). */
  netns?: string;
  env?: Record<string, string>;
}

function spawnNode(script: string, args: string[], opts: SpawnOptions): ChildProcess {
  const env = shoalEnv({ configDir: opts.configDir, env: opts.env });
  const argv = [script, ...args];
  return opts.netns
    ? spawn('ip', ['netns', 'exec', opts.netns, process.execPath, ...argv], { cwd: opts.cwd, env })
    : spawn(process.execPath, argv, { cwd: opts.cwd, env });
}

/** Start `shoal <args>` in the background. */
export function shoalBg(t: T, args: string[], opts: SpawnOptions): Child {
  return track(t, spawnNode(BIN, args, opts));
}

/** Run `shoal <args>` to completion without blocking the event loop (other children keep running). */
export async function shoalAsync(t: T, args: string[], opts: SpawnOptions): Promise<RunResult> {
  const c = shoalBg(t, args, opts);
  const status = await c.exited;
  return { status, stdout: c.stdout(), stderr: c.stderr(), stdoutBytes: Buffer.from(c.stdout()) };
}

/** Wait until a child printed a multiaddr ending in /p2p/<peer-id> on stdout. */
export async function waitForAddr(c: Child, what: string): Promise<string> {
  const find = () => c.stdout().match(/^(\/\S+\/p2p\/\S+)$/m)?.[1];
  const deadline = Date.now() + DEADLINE_MS;
  while (!find()) {
    if (c.finished()) {
      throw new Error(`${what} exited before listening: ${c.stdout()}\n${c.stderr()}`);
    }
    if (Date.now() > deadline) throw new Error(`${what} did not print its address in time: ${c.stderr()}`);
    await Promise.race([once(c.proc.stdout!, 'data'), c.exited, delay(1000)]);
  }
  return find()!;
}

export interface Server extends Child {
  addr: string;
  peerId: string;
}

/** `shoal serve` in a repository; resolves once it prints its multiaddr. */
export async function serve(
  t: T,
  repo: { dir: string; configDir: string },
  opts: { listen?: string; args?: string[]; netns?: string; env?: Record<string, string> } = {},
): Promise<Server> {
  const c = shoalBg(t, ['serve', '--listen', opts.listen ?? '/ip4/127.0.0.1/tcp/0', ...(opts.args ?? [])], {
    cwd: repo.dir,
    configDir: repo.configDir,
    netns: opts.netns,
    env: opts.env,
  });
  const addr = await waitForAddr(c, 'shoal serve');
  return { ...c, addr, peerId: addr.slice(addr.lastIndexOf('/') + 1) };
}

export type EvilMode =
  | 'honest'
  | 'corrupt-chunk'
  | 'wrong-chunk'
  | 'unrequested-chunk'
  | 'oversized'
  | 'huge-header'
  | 'corrupt-metadata'
  | 'forged-refs'
  | 'tampered-refs'
  | 'non-delegate-refs'
  | 'dangling-refs'
  | 'foreign-identity'
  | 'silent-chunks'
  | 'silent-hello'
  | 'silent-have'
  | 'silent-push'
  | 'many-forks'
  | 'index-bomb'
  | 'vanishing-fork'
  | 'forged-commit';

/** The evil peer fixture serving `repo` (its own user identity is `configDir`'s). */
export async function evilPeer(
  t: T,
  repo: { dir: string },
  configDir: string,
  mode: EvilMode,
  opts: { listen?: string; netns?: string; extra?: string[] } = {},
): Promise<Server> {
  const c = track(
    t,
    spawnNode(
      EVIL_PEER,
      [
        '--repo',
        repo.dir,
        '--mode',
        mode,
        '--listen',
        opts.listen ?? '/ip4/127.0.0.1/tcp/0',
        ...(opts.extra ?? []),
      ],
      { cwd: repo.dir, configDir, netns: opts.netns },
    ),
  );
  const addr = await waitForAddr(c, `evil peer (${mode})`);
  return { ...c, addr, peerId: addr.slice(addr.lastIndexOf('/') + 1) };
}

/** Poll `check` (every 20 ms) until it returns true; fail after the deadline. */
export async function until(what: string, check: () => boolean, deadlineMs = DEADLINE_MS): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}

/** Bytes in a repository's pack files (0 before the repository exists). */
export function packBytes(root: string): number {
  const dir = join(root, '.shoal', 'packs');
  if (!existsSync(dir)) return 0;
  let n = 0;
  for (const f of readdirSync(dir)) {
    try {
      if (f.endsWith('.pack')) n += statSync(join(dir, f)).size;
    } catch {}
  }
  return n;
}

/** One figure from a repository's index, read as another process would (0 before it exists). */
function indexFigure(root: string, sql: string): number {
  const file = join(root, '.shoal', 'index.db');
  if (!existsSync(file)) return 0;
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(file, { readOnly: true });
    db.exec('PRAGMA busy_timeout = 1000');
    return Number((db.prepare(sql).get() as { n: number }).n);
  } catch {
    return 0;
  } finally {
    db?.close();
  }
}

/** Chunk bytes a repository has committed to its index (what a resumed transfer keeps). */
export function committedChunkBytes(root: string): number {
  return indexFigure(root, 'SELECT COALESCE(SUM(size), 0) AS n FROM objects WHERE type = 0');
}

/** Local branches in a repository's index (a clone makes them once it has the commits). */
export function localBranches(root: string): number {
  return indexFigure(root, "SELECT COUNT(*) AS n FROM refs WHERE name LIKE 'refs/heads/%'");
}

/** Commits a repository has committed to its index (a transfer stores them before chunks). */
export function committedCommits(root: string): number {
  return indexFigure(root, 'SELECT COUNT(*) AS n FROM objects WHERE type = 3');
}

export interface Fsck {
  ok: boolean;
  problems: unknown[];
}

export function assertFsck(repo: TestRepo): void {
  const fsck = repo.j<Fsck>(['fsck']);
  assert.deepEqual([fsck.ok, fsck.problems], [true, []], 'fsck');
}

/**
 * Start `shoal clone <args>` as `user` (its directory in `parent`), wait until it has stored the
 * commit (metadata comes before chunks), then Ctrl-C it: it must end at once, as interrupted.
 */
export async function interruptCloneAfterCommit(
  t: T,
  user: TestRepo,
  parent: string,
  args: string[],
): Promise<void> {
  const run = shoalBg(t, ['clone', ...args, user.dir, '--json'], { cwd: parent, configDir: user.configDir });
  await until('the clone to store the commit', () => committedCommits(user.dir) > 0 || run.finished());
  assert.equal(run.finished(), false, run.stdout());
  run.proc.kill('SIGINT');
  assert.equal(await run.exited, 1, run.stderr());
  assert.match(run.stdout(), /"code":"ABORTED"/);
}

/** A user with a repository opened at `dir` (which need not exist yet). */
export function userAt(t: T, dir: string): TestRepo {
  return newRepo(t, { dir, configDir: configFor(t), init: false });
}

/**
 * A new user clones `addr` into a fresh directory with a stall timeout of `stallSeconds` (user
 * config, as `shoal config --global` sets it), with `--peer` for each of `opts.peers`. Returns
 * the user and the clone's result.
 */
export async function cloneWithStallTimeout(
  t: T,
  addr: string,
  stallSeconds: number,
  opts: { peers?: string[]; env?: Record<string, string>; args?: string[] } = {},
): Promise<{ clone: TestRepo; r: RunResult }> {
  const parent = tempDir(t);
  const clone = userAt(t, join(parent, 'clone'));
  const set = await shoalAsync(t, ['config', '--global', 'transfer.stall-timeout', String(stallSeconds)], {
    cwd: parent,
    configDir: clone.configDir,
  });
  assert.equal(set.status, 0, set.stderr);
  const peers = (opts.peers ?? []).flatMap((p) => ['--peer', p]);
  const r = await shoalAsync(t, ['clone', addr, clone.dir, ...peers, ...(opts.args ?? []), '--json'], {
    cwd: parent,
    configDir: clone.configDir,
    env: opts.env,
  });
  return { clone, r };
}

/** The hex public key of the user whose config directory a repo handle uses. */
export function publicKey(repo: TestRepo): string {
  return repo.j<{ publicKey: string }>(['id'], tmpdir()).publicKey;
}

/** `clone --json` output is the CLI's own summary type. */
export type { CloneSummary } from '../../src/swarm/index.ts';

/**
 * Clone from two seeders and kill (-9) the second once data is arriving (the destination's
 * packs grow past 4 MiB); returns the clone's exit status and parsed summary.
 */
export async function cloneKillingOneSeeder(
  t: T,
  opts: {
    url: string;
    keep: Server;
    victim: Server;
    dest: string;
    configDir: string;
    cwd: string;
    netns?: string;
  },
): Promise<{ status: number; summary: CloneSummary; output: string }> {
  const c = shoalBg(
    t,
    ['clone', opts.url, opts.dest, '--peer', opts.keep.addr, '--peer', opts.victim.addr, '--json'],
    { cwd: opts.cwd, configDir: opts.configDir, netns: opts.netns },
  );
  await until('the clone to receive data', () => packBytes(opts.dest) > 4 * 1024 * 1024 || c.finished());
  if (c.finished()) throw new Error(`the clone finished before the kill: ${c.stdout()}`);
  await opts.victim.kill();
  const status = await c.exited;
  const output = `${c.stdout()}\n${c.stderr()}`;
  return { status, summary: (status === 0 ? JSON.parse(c.stdout()) : {}) as CloneSummary, output };
}

export function parseJson<T>(r: RunResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON: ${describe(r)}`);
  }
}

export function assertOk(r: RunResult, what: string): void {
  assert.equal(r.status, 0, `${what}: ${describe(r)}`);
}

// --- network namespaces ---------------------------------------------------------------------

/** Why namespaces cannot be used here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const probe = `shoal-probe-${process.pid}-${randomBytes(3).toString('hex')}`;
  const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (add.status !== 0) return `'ip netns add' does not work here: ${add.stderr?.trim() || add.error}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return undefined;
}

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr?.trim() || r.error}`);
}

export interface Lan {
  /** Namespace of the hub (the cloner). */
  hub: string;
  /** One namespace per spoke, each linked to the hub by its own veth pair. */
  spokes: { ns: string; addr: string; hubAddr: string }[];
}

/**
 * A star of namespaces: a hub and `n` spokes, each spoke on its own veth link and /30 subnet in
 * 10.<a>.<b>.0/24 (private, and only inside namespaces created here). `netem` optionally shapes
 * each spoke's link (for example `delay 2ms`); `multicast` routes multicast over the links (the
 * hub's over the first spoke's) for mDNS. Removed when the test ends.
 */
export function makeLan(t: T, n: number, netem?: string, multicast = false): Lan {
  const tag = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
  const hub = `shoal-${tag}-hub`;
  const made: string[] = [];
  t.after(() => {
    for (const ns of made) spawnSync('ip', ['netns', 'del', ns]);
  });
  ip(['netns', 'add', hub]);
  made.push(hub);
  ip(['-n', hub, 'link', 'set', 'lo', 'up']);
  const a = 64 + (randomBytes(1)[0]! % 64);
  const b = randomBytes(1)[0]!;
  const spokes: Lan['spokes'] = [];
  for (let i = 0; i < n; i++) {
    const ns = `shoal-${tag}-s${i}`;
    ip(['netns', 'add', ns]);
    made.push(ns);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    // Create the pair inside the hub namespace, then move one end: nothing touches the host's
    // own interfaces.
    const h = `h${i}`;
    const s = `s${i}`;
    ip(['-n', hub, 'link', 'add', h, 'type', 'veth', 'peer', 'name', s]);
    ip(['-n', hub, 'link', 'set', s, 'netns', ns]);
    const base = i * 4;
    const hubAddr = `10.${a}.${b}.${base + 1}`;
    const addr = `10.${a}.${b}.${base + 2}`;
    ip(['-n', hub, 'addr', 'add', `${hubAddr}/30`, 'dev', h]);
    ip(['-n', ns, 'addr', 'add', `${addr}/30`, 'dev', s]);
    ip(['-n', hub, 'link', 'set', h, 'up']);
    ip(['-n', ns, 'link', 'set', s, 'up']);
    if (multicast) {
      // A fresh namespace has no route for multicast (mDNS): send it over this link.
      ip(['-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', s]);
      if (i === 0) ip(['-n', hub, 'route', 'add', '224.0.0.0/4', 'dev', h]);
    }
    if (netem) {
      const tc = spawnSync(
        'ip',
        ['netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', s, 'root', 'netem', ...netem.split(' ')],
        {
          encoding: 'utf8',
        },
      );
      if (tc.status !== 0) t.diagnostic?.(`netem not applied: ${tc.stderr?.trim() || tc.error}`);
    }
    spokes.push({ ns, addr, hubAddr });
  }
  return { hub, spokes };
}

/** A TCP server on loopback, closed (with its connections) when the test ends: its port. */
export async function listenOnLoopback(t: T, onConnection: (c: Socket) => void): Promise<number> {
  const sockets: Socket[] = [];
  const srv = createServer((c) => {
    sockets.push(c);
    c.on('error', () => {});
    onConnection(c);
  });
  t.after(() => {
    for (const s of sockets) s.destroy();
    srv.close();
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return (srv.address() as { port: number }).port;
}

/**
 * A port that accepts connections and never answers (a port taken over by another program; a
 * network the peer has left, which swallows packets, looks the same to the dialler).
 */
export function silentPort(t: T, events: string[] = []): Promise<number> {
  return listenOnLoopback(t, (c) => {
    events.push('silent: connected');
    c.resume(); // read what comes, so that the other side closing is seen
    c.on('close', () => events.push('silent: closed'));
  });
}

/** The TCP port of a multiaddr. */
export function portOf(addr: string): number {
  return Number(/\/tcp\/(\d+)(\/|$)/.exec(addr)![1]);
}
