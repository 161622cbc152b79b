// Helpers for the peer-to-peer scenarios: one shoal user per SHOAL_CONFIG_DIR, seeders started
// with `shoal serve` and ready at their printed multiaddr, clone summaries (--json), free ports,
// readiness of TCP servers, and MB/s formatting (network rates are in 10^6 bytes per second).

import { mkdirSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { Background } from './background.ts';
import type { Cmd } from './exec.ts';
import { shoal } from './tools.ts';

export interface User {
  name: string;
  env: NodeJS.ProcessEnv;
}

/** A shoal user of its own (identity key in its own SHOAL_CONFIG_DIR), without mDNS. */
export function makeUser(base: NodeJS.ProcessEnv, scratch: string, name: string): User {
  const dir = join(scratch, 'users', name);
  mkdirSync(dir, { recursive: true });
  return { name, env: { ...base, SHOAL_CONFIG_DIR: dir, SHOAL_MDNS: '0' } };
}

export interface Seeder {
  bg: Background;
  /** The multiaddr it printed (with /p2p/<peer id>). */
  addr: string;
  peerId: string;
}

/**
 * Starts `shoal serve --listen <listen> [extra...]` in repo as user (optionally wrapped, e.g. to
 * run in a network namespace) and waits for the multiaddr line it prints once it listens.
 */
export async function startSeeder(
  name: string,
  repo: string,
  user: User,
  listen: string,
  extra: string[] = [],
  wrap: (c: Cmd) => Cmd = (c) => c,
): Promise<Seeder> {
  const bg = new Background(name, wrap(shoal(repo, user.env, 'serve', '--listen', listen, ...extra)));
  try {
    const addr = await bg.waitForLine((l) => /^\/ip[46]\/.*\/p2p\//.test(l.trim()));
    const peerId = addr.trim().split('/p2p/')[1]!;
    return { bg, addr: addr.trim(), peerId };
  } catch (e) {
    await bg.stop('SIGKILL');
    throw e;
  }
}

/** The part of `shoal clone --json` the scenarios read. */
export interface CloneJson {
  bytes: number;
  duplicateBytes: number;
  seconds: number;
  perPeer: Record<string, number>;
  peers: string[];
  banned: Array<{ peer: string; why: string }>;
  chunks: number;
  root: string;
}

export function parseJson<T>(stdout: string, what: string): T {
  try {
    return JSON.parse(stdout) as T;
  } catch {
    throw new Error(`${what}: output is not JSON: ${stdout.slice(0, 200)}`);
  }
}

/** A TCP port that was free a moment ago on host. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const a = srv.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Resolves once host:port accepts a TCP connection (for servers that print nothing when ready,
 * like rsync --daemon --no-detach); rejects after timeoutMs or when alive() turns false.
 */
export async function waitForPort(
  host: string,
  port: number,
  alive: () => boolean,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect({ host, port }, () => {
        sock.destroy();
        resolve(true);
      });
      sock.on('error', () => resolve(false));
    });
    if (ok) return;
    if (!alive()) throw new Error(`the server for port ${port} exited`);
    if (performance.now() > deadline) throw new Error(`nothing listens on ${host}:${port}`);
    // connection refused comes back at once: poll again on the next timer tick
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Network rate in MB/s (10^6 bytes per second). */
export function mbps(bytes: number, s: number | null | undefined): number | null {
  return s === null || s === undefined || s <= 0 ? null : bytes / 1e6 / s;
}

export function fmtMBps(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '-';
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} MB/s`;
}
