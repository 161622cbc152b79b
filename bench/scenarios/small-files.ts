// Scenario small-files-100k: 100,000 random files of 1-16 KiB added and committed in one go;
// durable add rate in files/s for shoal, git and git-lfs (tracking every file). Then, for shoal
// and git, a branch that changes 60 % of the files (half rewritten, a tenth deleted), and the
// time to switch back: 60,000 files written or restored.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { changeTree, writeTree } from '../lib/data.ts';
import { type Cmd, run, step, syncAll } from '../lib/exec.ts';
import { dirBytes, removeTree } from '../lib/fsutil.ts';
import {
  attempt,
  best,
  type Context,
  fmtBytes,
  fmtRate,
  fmtRss,
  fmtS,
  inTurn,
  mergeReps,
  type Ratio,
  type Scenario,
  speedRatio,
  type ToolResult,
  wants,
} from '../lib/report.ts';
import { assertShoalPresent, cmdIn, requireTool, shoal } from '../lib/tools.ts';

interface Plan {
  /** Fails fast when the tool is missing (before any data is written). */
  check(): Promise<void>;
  /** Creates the empty repository in repo (untimed). */
  init(ctx: Context, repo: string): Promise<void>;
  /** The timed commands: add everything, commit. */
  add(ctx: Context, repo: string): Cmd[];
  /** Where the repository's own data lives. */
  meta: string;
  /** Untimed: make branch `other` at HEAD and move to it; later, commit everything there. */
  branch?: (ctx: Context, repo: string) => Cmd[];
  commitAll?: (ctx: Context, repo: string) => Cmd[];
  /** The timed switch back to the first branch. */
  switchBack?: (ctx: Context, repo: string) => Cmd[];
}

const PLANS: Record<string, Plan> = {
  git: {
    meta: '.git',
    check: () => requireTool('git'),
    async init(ctx, repo) {
      await run(cmdIn(repo, ctx.env)('git', 'init', '-q'));
    },
    add: (ctx, repo) => [
      cmdIn(repo, ctx.env)('git', 'add', '.'),
      cmdIn(repo, ctx.env)('git', 'commit', '-q', '-m', 'files'),
    ],
    branch: (ctx, repo) => [cmdIn(repo, ctx.env)('git', 'switch', '-q', '-c', 'other')],
    commitAll: (ctx, repo) => [
      cmdIn(repo, ctx.env)('git', 'add', '-A', '.'),
      cmdIn(repo, ctx.env)('git', 'commit', '-q', '-m', 'changed'),
    ],
    switchBack: (ctx, repo) => [cmdIn(repo, ctx.env)('git', 'switch', '-q', 'main')],
  },
  'git-lfs': {
    meta: '.git',
    check: () => requireTool('git-lfs'),
    async init(ctx, repo) {
      const c = cmdIn(repo, ctx.env);
      await run(c('git', 'init', '-q'));
      await run(c('git', 'lfs', 'install', '--local'));
      await run(c('git', 'lfs', 'track', '*.dat'));
      await run(c('git', 'add', '.gitattributes'));
      await run(c('git', 'commit', '-q', '-m', 'init'));
    },
    add: (ctx, repo) => [
      cmdIn(repo, ctx.env)('git', 'add', '.'),
      cmdIn(repo, ctx.env)('git', 'commit', '-q', '-m', 'files'),
    ],
  },
  shoal: {
    meta: '.shoal',
    check: async () => assertShoalPresent(),
    async init(ctx, repo) {
      await run(shoal(repo, ctx.env, 'init', '-q'));
    },
    add: (ctx, repo) => [
      shoal(repo, ctx.env, 'add', '-q', '.'),
      shoal(repo, ctx.env, 'commit', '-q', '-m', 'files'),
    ],
    branch: (ctx, repo) => [shoal(repo, ctx.env, 'switch', '-q', '-c', 'other')],
    commitAll: (ctx, repo) => [
      shoal(repo, ctx.env, 'add', '-q', '.'),
      shoal(repo, ctx.env, 'commit', '-q', '-m', 'changed'),
    ],
    switchBack: (ctx, repo) => [shoal(repo, ctx.env, 'switch', '-q', 'main')],
  },
};

export const smallFiles100k: Scenario = {
  name: 'small-files-100k',
  description: 'add + commit of 100,000 random files of 1-16 KiB (1,000 directories)',
  local: true,
  async run(ctx) {
    const files = Math.max(100, Math.round(100_000 * ctx.scale));
    const spec = { files, minSize: 1024, maxSize: 16 * 1024, seed: 'small-files' };
    // The tree is written once; each tool gets a hard-linked copy (cp -al), so no tool pays for
    // the others' data in the page cache or the disk's write-back, and nothing is written twice.
    const source = join(ctx.scratch, 'source');
    mkdirSync(source);
    let t0 = performance.now();
    const { bytes } = writeTree(source, spec);
    await syncAll();
    ctx.log(`wrote ${files} files (${fmtBytes(bytes)}) in ${fmtS((performance.now() - t0) / 1000)}`);
    const reps = new Map<string, ToolResult[]>();
    let changed = { modified: 0, deleted: 0 };
    for (let rep = 1; rep <= ctx.reps; rep++) {
      for (const [name, plan] of inTurn(
        Object.entries(PLANS).filter(([n]) => wants(ctx, n)),
        rep,
      )) {
        const repo = join(ctx.scratch, name);
        const label = ctx.reps > 1 ? `${name} (rep ${rep}/${ctx.reps})` : name;
        const result = await attempt(label, ctx.log, async (r) => {
          await plan.check();
          await run({ cmd: 'cp', args: ['-al', source, repo] });
          await plan.init(ctx, repo);
          const empty = dirBytes(join(repo, plan.meta));
          await syncAll();
          const add = await step(plan.add(ctx, repo), repo);
          r.steps.add = add;
          const after = dirBytes(join(repo, plan.meta));
          r.storage = { empty, after, growth: after - empty };
          r.extra.filesPerS = files / add.wallS;
          if (plan.branch && plan.commitAll && plan.switchBack) {
            for (const c of plan.branch(ctx, repo)) await run(c);
            changed = changeTree(repo, spec, 'small-files-other');
            for (const c of plan.commitAll(ctx, repo)) await run(c);
            r.steps.switch = await step(plan.switchBack(ctx, repo), repo);
          }
        });
        result.tool = name;
        reps.set(name, [...(reps.get(name) ?? []), result]);
        t0 = performance.now();
        removeTree(repo);
        ctx.log(`${label}: removed its copy in ${fmtS((performance.now() - t0) / 1000)}`);
      }
    }
    const tools: Record<string, ToolResult> = {};
    for (const [name, list] of reps) tools[name] = mergeReps(list);

    const rows = Object.values(tools).map((t) => {
      const a = t.steps.add;
      return [
        t.error ? `${t.tool} (failed)` : t.tool,
        fmtS(a?.wallS),
        a ? `${Math.round(files / a.wallS)}` : '-',
        fmtRate(bytes, a?.wallS),
        a && a.userS !== null && a.sysS !== null ? fmtS(a.userS + a.sysS) : '-',
        fmtS(a?.syncS),
        fmtBytes(t.storage.growth),
        fmtRss(a?.peakRssKiB),
        fmtS(t.steps.switch?.wallS),
        fmtRss(t.steps.switch?.peakRssKiB),
      ];
    });
    const competitors = Object.values(tools).filter((t) => t.tool !== 'shoal');
    const fastest = best(competitors, (t) => t.steps.add?.wallS);
    const s = tools.shoal?.steps.add?.wallS;
    const gitSwitch = tools.git?.steps.switch?.wallS;
    const shoalSwitch = tools.shoal?.steps.switch?.wallS;
    const ratios: Ratio[] = [
      {
        label: 'add rate / fastest competitor',
        value: speedRatio(s, fastest?.value),
        detail: fastest
          ? `shoal ${fmtS(s)} vs ${fastest.tool} ${fmtS(fastest.value)}`
          : 'no competitor figure',
      },
      {
        label: 'switch back / git',
        value: speedRatio(shoalSwitch, gitSwitch),
        detail: `shoal ${fmtS(shoalSwitch)} vs git ${fmtS(gitSwitch)}`,
      },
    ];
    return {
      params: {
        files,
        bytes,
        reps: ctx.reps,
        switchModified: changed.modified,
        switchDeleted: changed.deleted,
      },
      tools,
      ratios,
      tables: [
        {
          title: `${ctx.reps > 1 ? `median of ${ctx.reps} reps; ` : ''}add = add . + commit + sync -f (sync column: the part of it spent in sync -f); switch = back from a branch where ${changed.modified} files were rewritten and ${changed.deleted} deleted, + sync -f`,
          headers: [
            'tool',
            'add',
            'files/s',
            'rate',
            'CPU',
            'sync',
            'repo growth',
            'peak RSS',
            'switch',
            'switch RSS',
          ],
          rows,
        },
      ],
      notes: ['git: auto gc off (loose objects stay loose); file contents random, so incompressible'],
    };
  },
};
