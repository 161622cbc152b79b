// Scenario status-10k: a committed tree of 10,000 small files; `status` on the unchanged tree,
// median of several runs, shoal vs git (plus bare Node startup, the floor for any shoal command).

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeTree } from '../lib/data.ts';
import { type Cmd, median, type RunResult, run, step } from '../lib/exec.ts';
import {
  attempt,
  type Context,
  fmtRss,
  fmtS,
  peakRss,
  type Ratio,
  type Scenario,
  type StepFigures,
  speedRatio,
  type ToolResult,
  wants,
} from '../lib/report.ts';
import { assertShoalPresent, cmdIn, requireTool, shoal } from '../lib/tools.ts';

/** Runs cmd twice to warm up, then ctx.runs times; the median wall time, worst RSS. */
async function repeated(ctx: Context, cmd: Cmd, r: ToolResult): Promise<StepFigures> {
  for (let i = 0; i < 2; i++) await run(cmd);
  const runs: RunResult[] = [];
  for (let i = 0; i < ctx.runs; i++) runs.push(await run(cmd));
  const wall = runs.map((x) => x.wallS);
  r.extra.runsS = wall;
  const pick = (f: (x: RunResult) => number | null) => {
    const v = runs.map(f);
    return v.some((x) => x === null) ? null : median(v as number[]);
  };
  return {
    wallS: median(wall),
    minS: Math.min(...wall),
    maxS: Math.max(...wall),
    userS: pick((x) => x.userS),
    sysS: pick((x) => x.sysS),
    peakRssKiB: runs.some((x) => x.peakRssKiB === null) ? null : Math.max(...runs.map((x) => x.peakRssKiB!)),
  };
}

export const status10k: Scenario = {
  name: 'status-10k',
  description: '`status` of an unchanged, committed tree of 10,000 files of 1-16 KiB',
  local: true,
  async run(ctx) {
    const files = Math.max(100, Math.round(10_000 * ctx.scale));
    const spec = { files, minSize: 1024, maxSize: 16 * 1024, seed: 'status' };
    const tools: Record<string, ToolResult> = {};
    let bytes = 0;

    if (wants(ctx, 'node')) {
      tools.node = await attempt('node', ctx.log, async (r) => {
        r.steps.status = await repeated(ctx, { cmd: process.execPath, args: ['-e', '0'], env: ctx.env }, r);
      });
    }
    if (wants(ctx, 'git')) {
      tools.git = await attempt('git', ctx.log, async (r) => {
        await requireTool('git');
        const repo = join(ctx.scratch, 'git');
        mkdirSync(repo);
        bytes = writeTree(repo, spec).bytes;
        const c = cmdIn(repo, ctx.env);
        await run(c('git', 'init', '-q'));
        r.steps.commit = await step([c('git', 'add', '.'), c('git', 'commit', '-q', '-m', 'tree')], repo);
        const porcelain = await run(c('git', 'status', '--porcelain'));
        if (porcelain.stdout.trim() !== '') throw new Error('tree not clean after commit');
        r.steps.status = await repeated(ctx, c('git', 'status'), r);
      });
    }
    if (wants(ctx, 'shoal')) {
      tools.shoal = await attempt('shoal', ctx.log, async (r) => {
        assertShoalPresent();
        const repo = join(ctx.scratch, 'shoal');
        mkdirSync(repo);
        bytes = writeTree(repo, spec).bytes;
        const s = (...args: string[]) => shoal(repo, ctx.env, ...args);
        await run(s('init', '-q'));
        r.steps.commit = await step([s('add', '-q', '.'), s('commit', '-q', '-m', 'tree')], repo);
        r.steps.status = await repeated(ctx, s('status'), r);
      });
    }

    const rows = Object.values(tools).map((t) => {
      const st = t.steps.status;
      return [
        t.tool === 'node' ? 'node -e 0 (startup floor)' : t.error ? `${t.tool} (failed)` : t.tool,
        fmtS(st?.wallS),
        fmtS(st?.minS),
        fmtS(st?.maxS),
        st && st.userS !== null && st.sysS !== null ? fmtS(st.userS + st.sysS) : '-',
        fmtS(t.steps.commit?.wallS),
        fmtRss(peakRss(t)),
      ];
    });
    const ratios: Ratio[] = [];
    const g = tools.git?.steps.status?.wallS;
    const s = tools.shoal?.steps.status?.wallS;
    ratios.push({
      label: 'status speed / git',
      value: speedRatio(s, g),
      detail: `shoal ${fmtS(s)} vs git ${fmtS(g)}`,
    });

    return {
      params: { files, bytes, runs: ctx.runs },
      tools,
      ratios,
      tables: [
        {
          title: `status: median of ${ctx.runs} runs after 2 warm-up runs; add+commit = initial commit incl. sync -f`,
          headers: ['tool', 'median', 'min', 'max', 'CPU', 'add+commit', 'peak RSS'],
          rows,
        },
      ],
      notes: ['git: default config, no fsmonitor or untracked cache; files hot in the page cache'],
    };
  },
};
