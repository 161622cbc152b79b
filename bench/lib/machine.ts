// How busy the rest of the machine was during a scenario: user CPU time of every process that is
// not the harness or one of its (reaped) descendants, from /proc/stat and /proc/self/stat. Other
// work (a test suite, a build) on a 2-core machine moves the figures; this says how much of it
// there was. Linux only; null elsewhere.

import { readFileSync } from 'node:fs';

export interface CpuSnapshot {
  /** user + nice time of the whole machine, in clock ticks */
  machineTicks: number;
  /** user time of this process and of the children it has reaped, in clock ticks */
  ownTicks: number;
  at: number;
}

/** Clock ticks per second of /proc (USER_HZ: 100 on every mainstream Linux). */
const HZ = 100;

export function cpuSnapshot(): CpuSnapshot | null {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    const machineTicks = Number(cpu[1]) + Number(cpu[2]);
    // /proc/self/stat: the command name may contain spaces; fields after its ')' start at field 3
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ownTicks = Number(f[11]) + Number(f[13]); // utime (14), cutime (16)
    if (![machineTicks, ownTicks].every(Number.isFinite)) return null;
    return { machineTicks, ownTicks, at: performance.now() };
  } catch {
    return null;
  }
}

/** Average number of cores other processes kept busy (user time) between two snapshots. */
export function othersCores(a: CpuSnapshot | null, b: CpuSnapshot | null): number | null {
  if (a === null || b === null || b.at <= a.at) return null;
  const others = b.machineTicks - a.machineTicks - (b.ownTicks - a.ownTicks);
  return Math.max(0, others / HZ / ((b.at - a.at) / 1000));
}
