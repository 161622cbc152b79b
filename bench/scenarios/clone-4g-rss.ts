// Scenario clone-4g-rss: peak resident memory of every shoal process that handles a 4 GiB file
// (add, checkout, cat, the seeder and the downloader of a clone), against a target of 300 MB
// each: memory must not grow with the size of the file.

import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeRandomFile } from '../lib/data.ts';
import { run, step, stepOut, syncAll } from '../lib/exec.ts';
import { removeTree, sha256File } from '../lib/fsutil.ts';
import { type CloneJson, fmtMBps, makeUser, mbps, parseJson, startSeeder } from '../lib/p2p.ts';
import {
  attempt,
  type Context,
  fmtBytes,
  fmtRate,
  fmtRatio,
  fmtRss,
  fmtS,
  GiB,
  MiB,
  type Ratio,
  type Scenario,
  type StepFigures,
  type ToolResult,
} from '../lib/report.ts';
import { assertShoalPresent, shoal, shoalBin } from '../lib/tools.ts';
import { cpu, processStep } from './clone-1g.ts';

/** 300 MB (10^6 bytes), in KiB as GNU time reports RSS. */
const TARGET_KIB = 300e6 / 1024;

const OPS: Array<[string, string]> = [
  ['add', 'shoal add (file already written)'],
  ['commit', 'shoal commit'],
  ['checkout', 'shoal checkout --force (file deleted first)'],
  ['cat', 'shoal cat HEAD:data.bin > /dev/null'],
  ['seeder', 'shoal serve (seeder, whole life)'],
  ['clone', 'shoal clone (downloader, with checkout)'],
];

async function measure(ctx: Context, size: number, r: ToolResult): Promise<void> {
  assertShoalPresent();
  const a = makeUser(ctx.env, ctx.scratch, 'a');
  const b = makeUser(ctx.env, ctx.scratch, 'b');
  const repo = join(ctx.scratch, 'a');
  const s = (...args: string[]) => shoal(repo, a.env, ...args);
  mkdirSync(repo, { recursive: true });
  await run(s('init', '-q'));
  const t0 = performance.now();
  const file = writeRandomFile(join(repo, 'data.bin'), size, 'clone-4g-rss');
  ctx.log(`generated ${fmtBytes(size)} in ${fmtS((performance.now() - t0) / 1000)}`);
  await syncAll();

  r.steps.add = await step([s('add', '-q', 'data.bin')], repo);
  r.steps.commit = await step([s('commit', '-q', '-m', 'data')], repo);
  rmSync(file.path);
  r.steps.checkout = await step([s('checkout', '-q', '--force', 'HEAD')], repo);
  if (sha256File(file.path) !== file.sha256) throw new Error('checked-out file differs from the source');
  // exec: GNU time measures shoal itself, its stdout going straight to /dev/null
  r.steps.cat = await step(
    [
      {
        cmd: 'sh',
        args: ['-c', 'exec "$@" > /dev/null', 'sh', process.execPath, shoalBin, 'cat', 'HEAD:data.bin'],
        cwd: repo,
        env: a.env,
      },
    ],
    repo,
  );

  const dest = join(ctx.scratch, 'b');
  const seeder = await startSeeder('shoal serve', repo, a, '/ip4/127.0.0.1/tcp/0');
  try {
    const { measure, stdout } = await stepOut(
      shoal(ctx.scratch, b.env, 'clone', seeder.addr, dest, '--json'),
      ctx.scratch,
    );
    r.steps.clone = measure;
    const json = parseJson<CloneJson>(stdout, 'shoal clone --json');
    r.extra.clone = { bytes: json.bytes, seconds: json.seconds, chunks: json.chunks };
  } finally {
    r.steps.seeder = processStep(await seeder.bg.stop('SIGINT'));
  }
  if (sha256File(join(dest, 'data.bin')) !== file.sha256)
    throw new Error('cloned file differs from the source');
  removeTree(dest);
}

export const clone4gRss: Scenario = {
  name: 'clone-4g-rss',
  description:
    'peak RSS of add, checkout, cat, seeder and downloader for a 4 GiB file (target: < 300 MB each)',
  local: true,
  optIn: true,
  async run(ctx) {
    const size = Math.max(16 * MiB, Math.round((4 * GiB * ctx.scale) / MiB) * MiB);
    const tools: Record<string, ToolResult> = {};
    tools.node = await attempt('node', ctx.log, async (r) => {
      const x = await run({ cmd: process.execPath, args: ['-e', '0'], env: ctx.env });
      r.steps.startup = processStep(x);
    });
    tools.shoal = await attempt('shoal', ctx.log, (r) => measure(ctx, size, r));

    const sh = tools.shoal;
    const floor = tools.node?.steps.startup?.peakRssKiB;
    const clone = sh.extra.clone as { bytes: number; seconds: number } | undefined;
    const rows: string[][] = OPS.map(([key, what]) => {
      const st: StepFigures | undefined = sh.steps[key];
      const rss = st?.peakRssKiB;
      const rate =
        key === 'clone' && clone
          ? `${fmtMBps(mbps(clone.bytes, clone.seconds))} transfer`
          : key === 'commit' || key === 'seeder'
            ? '-'
            : fmtRate(size, st?.wallS);
      return [
        what,
        fmtS(st?.wallS),
        rate,
        fmtS(cpu(st)),
        fmtRss(rss),
        rss === null || rss === undefined ? '-' : rss < TARGET_KIB ? 'yes' : 'NO',
      ];
    });
    rows.push(['node -e 0 (floor of any Node process)', '-', '-', '-', fmtRss(floor), '-']);
    const ratios: Ratio[] = OPS.map(([key]) => {
      const rss = sh.steps[key]?.peakRssKiB;
      return {
        label: `300 MB target / peak RSS: ${key}`,
        value: rss ? TARGET_KIB / rss : null,
        detail: `${fmtRss(rss)} (above 1 = under the target)`,
      };
    });
    const worst = Math.max(...OPS.map(([k]) => sh.steps[k]?.peakRssKiB ?? 0));
    return {
      params: { bytes: size, targetKiB: TARGET_KIB },
      tools,
      ratios,
      tables: [
        {
          title: `${fmtBytes(size)} random file; times include sync -f; RSS from /usr/bin/time -f %M; target 300 MB = 286 MiB`,
          headers: ['process', 'time', 'rate', 'CPU', 'peak RSS', '< 300 MB'],
          rows,
        },
      ],
      notes: [
        `largest shoal RSS: ${fmtRss(worst || null)} (300 MB / peak = ${fmtRatio(worst ? TARGET_KIB / worst : null)})`,
        'seeder: shoal serve --listen /ip4/127.0.0.1/tcp/0, stopped with SIGINT after the clone; clone: shoal clone <multiaddr> --json by another user',
      ],
    };
  },
};
