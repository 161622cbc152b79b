// Network namespaces for the rate-limited multi-source scenario: a hub namespace (the downloader)
// and one namespace per seeder, each on its own veth link shaped by tc (tbf) in both directions.
// Only namespaces created here carry traffic; the host's interfaces are never touched (the veth
// pairs are created inside the hub and one end is moved), and destroy() deletes them all.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Cmd } from './exec.ts';

/** Why namespaces cannot be used here, or null when they can (root, Linux, `ip netns`, `tc`). */
export function netnsUnavailable(): string | null {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const tc = spawnSync('tc', ['-V'], { encoding: 'utf8' });
  if (tc.error || tc.status !== 0) return 'tc (iproute2) is not installed';
  const probe = `sbench-probe-${process.pid.toString(36)}`;
  const add = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (add.error || add.status !== 0)
    return `'ip netns add' does not work here: ${add.stderr?.trim() || add.error}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return null;
}

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr?.trim() || r.error}`);
}

export interface Lab {
  /** Namespace of the downloader. */
  hub: string;
  /** One namespace per seeder: its address, and the hub's address on the same link. */
  spokes: Array<{ ns: string; addr: string; hubAddr: string }>;
  /** The shaping applied to every link, as given to tc. */
  shaping: string;
  /** The command, run inside namespace ns (`ip netns exec` execs it: the pid is the command's). */
  inNs(ns: string, cmd: Cmd): Cmd;
  /** Deletes every namespace (and with them the veth links and qdiscs). Idempotent. */
  destroy(): void;
}

const made = new Set<string>();
let hooked = false;

/** Deletes every namespace made here that still exists: for an interrupted harness. */
export function destroyAllLabs(): void {
  for (const ns of made) spawnSync('ip', ['netns', 'del', ns]);
  made.clear();
}

/**
 * Builds a star: hub plus n spokes, each link limited to rateMbit in each direction with a token
 * bucket filter. Addresses are 10.a.b.x/30 per link, private to these namespaces.
 */
export function makeLab(n: number, rateMbit: number): Lab {
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const ns of made) spawnSync('ip', ['netns', 'del', ns]);
    });
  }
  const tag = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
  const mine: string[] = [];
  const destroy = () => {
    for (const ns of mine.splice(0)) {
      spawnSync('ip', ['netns', 'del', ns]);
      made.delete(ns);
    }
  };
  const add = (ns: string) => {
    sh('ip', ['netns', 'add', ns]);
    mine.push(ns);
    made.add(ns);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  };
  // burst: a few GSO packets (64 KiB each) and at least one timer tick's worth at the rate
  const shaping = `tbf rate ${rateMbit}mbit burst 512kb latency 50ms`;
  try {
    const hub = `sbench-${tag}-hub`;
    add(hub);
    const a = 128 + (randomBytes(1)[0]! % 64);
    const b = randomBytes(1)[0]!;
    const spokes: Lab['spokes'] = [];
    for (let i = 0; i < n; i++) {
      const ns = `sbench-${tag}-s${i}`;
      add(ns);
      const h = `h${i}`;
      const s = `s${i}`;
      sh('ip', ['-n', hub, 'link', 'add', h, 'type', 'veth', 'peer', 'name', s]);
      sh('ip', ['-n', hub, 'link', 'set', s, 'netns', ns]);
      const hubAddr = `10.${a}.${b}.${i * 4 + 1}`;
      const addr = `10.${a}.${b}.${i * 4 + 2}`;
      sh('ip', ['-n', hub, 'addr', 'add', `${hubAddr}/30`, 'dev', h]);
      sh('ip', ['-n', ns, 'addr', 'add', `${addr}/30`, 'dev', s]);
      sh('ip', ['-n', hub, 'link', 'set', h, 'up']);
      sh('ip', ['-n', ns, 'link', 'set', s, 'up']);
      sh('tc', ['-n', ns, 'qdisc', 'add', 'dev', s, 'root', ...shaping.split(' ')]);
      sh('tc', ['-n', hub, 'qdisc', 'add', 'dev', h, 'root', ...shaping.split(' ')]);
      spokes.push({ ns, addr, hubAddr });
    }
    return {
      hub,
      spokes,
      shaping,
      inNs: (ns, cmd) => ({ ...cmd, cmd: 'ip', args: ['netns', 'exec', ns, cmd.cmd, ...cmd.args] }),
      destroy,
    };
  } catch (e) {
    destroy();
    throw e;
  }
}
