// Benchmark harness: runs shoal and the tools users would otherwise pick on the same data in the
// same run, prints tables and ratios, and writes every figure to bench/out/<time>.json.
// Usage: npm run bench -- [scenario...] [--scale 0.1] [--reps 3] [--tools git,shoal] [--keep] [--list]

import { mkdirSync, statfsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { killAllBackground } from './lib/background.ts';
import { haveGnuTime } from './lib/exec.ts';
import { makeScratch, removeTree, repoRoot, sanitize } from './lib/fsutil.ts';
import { cpuSnapshot, othersCores } from './lib/machine.ts';
import { destroyAllLabs } from './lib/netns.ts';
import {
  type Context,
  fmtBytes,
  fmtRatio,
  fmtRss,
  fmtS,
  peakRss,
  renderScenario,
  type Scenario,
  type ScenarioResult,
} from './lib/report.ts';
import { benchEnv, toolVersions } from './lib/tools.ts';
import { clone1g } from './scenarios/clone-1g.ts';
import { clone3Seeders } from './scenarios/clone-3-seeders.ts';
import { clone4gRss } from './scenarios/clone-4g-rss.ts';
import { dedup1g } from './scenarios/dedup.ts';
import { diff10g } from './scenarios/diff-10g.ts';
import { gc } from './scenarios/gc.ts';
import { smallFiles100k } from './scenarios/small-files.ts';
import { status10k } from './scenarios/status.ts';

const SCENARIOS: Scenario[] = [
  dedup1g,
  status10k,
  smallFiles100k,
  clone1g,
  clone3Seeders,
  clone4gRss,
  gc,
  diff10g,
];

const USAGE = `usage: npm run bench -- [scenario...] [options]

Runs the named scenarios (default: the local ones not marked "by name"; \`all\` for every one)
and writes bench/out/<time>.json.

options:
  --scale <x>      multiply data sizes and file counts (default 1; 0.05 for a smoke test)
  --runs <n>       runs of quick commands (status, diff) for median-of-n figures (default 9)
  --reps <n>       repeat each tool's whole sequence in dedup-1g, small-files-100k, clone-1g,
                   clone-3-seeders and gc n times, interleaved across tools, and report medians
                   (default 1; 3 for published figures)
  --tools <list>   comma-separated subset of: dd,git,git-lfs,restic,borg,casync,node,shoal,
                   net-raw,rsync,aria2c,netns (netns: the namespace variant of clone-3-seeders)
  --keep           keep the scratch directories (under the OS temp dir)
  --list           list the scenarios and exit
  -h, --help       show this help

Set TMPDIR to put the scratch data on another disk (it needs ~8 GiB free at scale 1; diff-10g
needs ~21 GiB, clone-4g-rss ~17 GiB, gc ~15 GiB).`;

function find(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name || s.aliases?.includes(name));
}

const OPTIONS = {
  scale: { type: 'string' },
  runs: { type: 'string' },
  reps: { type: 'string' },
  tools: { type: 'string' },
  keep: { type: 'boolean' },
  list: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parseCommandLine() {
  try {
    return parseArgs({ options: OPTIONS, allowPositionals: true });
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${USAGE}`);
    return null;
  }
}

async function main(): Promise<number> {
  const parsed = parseCommandLine();
  if (parsed === null) return 2;
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.list) {
    for (const s of SCENARIOS) {
      const alias = s.aliases?.length ? ` (alias ${s.aliases.join(', ')})` : '';
      const where = s.local ? 'local  ' : 'network';
      const when = s.optIn ? 'by name ' : 'default ';
      console.log(`${s.name.padEnd(18)} ${where} ${when}${s.description}${alias}`);
    }
    return 0;
  }
  const scale = values.scale === undefined ? 1 : Number(values.scale);
  const runs = values.runs === undefined ? 9 : Number(values.runs);
  const reps = values.reps === undefined ? 1 : Number(values.reps);
  if (!(scale > 0) || !(Number.isInteger(runs) && runs > 0) || !(Number.isInteger(reps) && reps > 0)) {
    console.error(`--scale must be > 0, --runs and --reps positive integers\n\n${USAGE}`);
    return 2;
  }
  const selected: Scenario[] = [];
  for (const name of positionals) {
    if (name === 'all') {
      for (const s of SCENARIOS) if (!selected.includes(s)) selected.push(s);
      continue;
    }
    const s = find(name);
    if (!s) {
      console.error(`unknown scenario: ${name} (try --list)`);
      return 2;
    }
    if (!selected.includes(s)) selected.push(s);
  }
  if (selected.length === 0) selected.push(...SCENARIOS.filter((s) => s.local && !s.optIn));
  const tools = values.tools ? new Set(values.tools.split(',').map((t) => t.trim())) : null;

  const started = new Date();
  const log = (msg: string) =>
    console.error(`[${((Date.now() - started.getTime()) / 1000).toFixed(1)}s] ${msg}`);
  const versions = await toolVersions();
  const cpuList = cpus();
  const fsStat = statfsSync(tmpdir());
  const machine = {
    cpus: cpuList.length,
    cpuModel: cpuList[0]?.model ?? 'unknown',
    memoryBytes: totalmem(),
    kernel: release(),
    platform: process.platform,
    tmpFreeBytes: fsStat.bavail * fsStat.bsize,
    gnuTime: haveGnuTime,
    loadAtStart: loadavg(),
    versions,
  };
  console.log(
    `shoal bench, ${started.toISOString()}: ${machine.cpus} x ${machine.cpuModel}, ` +
      `${fmtBytes(machine.memoryBytes)} RAM, ${fmtBytes(machine.tmpFreeBytes)} free in the temp dir`,
  );
  console.log(
    Object.entries(versions)
      .map(([k, v]) => `${k}: ${v ?? 'missing'}`)
      .join(' | '),
  );
  const load = machine.loadAtStart[0]!;
  if (load > 0.7) {
    console.log(
      `warning: load average ${load.toFixed(2)} at start: other work is running, figures will be noisy`,
    );
  }
  if (!haveGnuTime) console.log('note: /usr/bin/time missing (install package "time"): no peak RSS figures');
  if (scale !== 1) console.log(`note: --scale ${scale}: sizes differ from the scenario names`);

  // Interrupted: stop seeders and servers, delete namespaces and the scratch data, then exit.
  let current: string | null = null;
  const interrupted = (signal: NodeJS.Signals) => {
    killAllBackground();
    destroyAllLabs();
    if (current !== null && !values.keep) removeTree(current);
    console.error(`interrupted (${signal})`);
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);

  const results: ScenarioResult[] = [];
  for (const s of selected) {
    const scratch = makeScratch(s.name);
    current = scratch;
    const ctx: Context = {
      scratch,
      env: benchEnv(scratch),
      scale,
      runs,
      reps,
      tools,
      log: (m) => log(`${s.name}: ${m}`),
    };
    const t0 = performance.now();
    const cpu0 = cpuSnapshot();
    try {
      const r = await s.run(ctx);
      const others = othersCores(cpu0, cpuSnapshot());
      results.push({
        name: s.name,
        description: s.description,
        durationS: (performance.now() - t0) / 1000,
        othersCpuCores: others,
        ...r,
        notes: [
          ...r.notes,
          `load average at the end: ${loadavg()[0]!.toFixed(2)}`,
          others === null
            ? 'CPU used by other processes: unknown'
            : `other processes kept ${others.toFixed(2)} of ${machine.cpus} cores busy on average (user time)${others > 0.2 ? ': figures are noisy' : ''}`,
        ],
      });
    } catch (e) {
      const msg = sanitize(e instanceof Error ? e.message : String(e));
      results.push({
        name: s.name,
        description: s.description,
        durationS: (performance.now() - t0) / 1000,
        params: {},
        tools: {},
        ratios: [],
        tables: [],
        notes: [`scenario failed: ${msg}`],
      });
    } finally {
      if (values.keep) log(`${s.name}: kept ${scratch}`);
      else removeTree(scratch);
      current = null;
    }
    console.log(`\n${renderScenario(results[results.length - 1]!)}`);
  }

  // Summary: every ratio, and the largest RSS any shoal process reached.
  console.log('\n== summary (ratios > 1 mean shoal is better)');
  let rss: { kib: number; where: string } | null = null;
  for (const r of results) {
    for (const ratio of r.ratios) console.log(`  ${r.name}: ${ratio.label}: ${fmtRatio(ratio.value)}`);
    const sh = r.tools.shoal;
    if (sh) {
      if (sh.error) console.log(`  ${r.name}: shoal ${sh.error}`);
      const k = peakRss(sh);
      if (k !== null && (rss === null || k > rss.kib)) rss = { kib: k, where: r.name };
    }
  }
  console.log(`  shoal peak RSS: ${rss ? `${fmtRss(rss.kib)} (${rss.where})` : 'n/a'}`);

  const outDir = join(repoRoot, 'bench', 'out');
  mkdirSync(outDir, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const report = {
    startedAt: started.toISOString(),
    durationS: (Date.now() - started.getTime()) / 1000,
    options: { scale, runs, reps, tools: tools ? [...tools] : null, scenarios: selected.map((s) => s.name) },
    machine,
    shoalPeakRssKiB: rss?.kib ?? null,
    scenarios: results,
  };
  const json = `${JSON.stringify(report, null, 2)}\n`;
  const file = join(outDir, `bench-${stamp}.json`);
  writeFileSync(file, json);
  writeFileSync(join(outDir, 'latest.json'), json);
  console.log(`\nwrote ${relative(process.cwd(), file) || file} (${fmtS(report.durationS)} total)`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    console.error(sanitize(e instanceof Error ? (e.stack ?? e.message) : String(e)));
    process.exitCode = 1;
  },
);
