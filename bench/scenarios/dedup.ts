// Scenario dedup-1g: a 1 GiB random file, then a second version (1 MiB overwritten in the middle,
// 100 bytes inserted at the start): durable add time of each version, storage growth, restore time.

import { existsSync, linkSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type VersionPair, writeVersionPair } from '../lib/data.ts';
import { run, type StepMeasure, step, syncAll } from '../lib/exec.ts';
import { dirBytes, findFile, removeTree, sha256File } from '../lib/fsutil.ts';
import {
  attempt,
  best,
  type Context,
  fmtBytes,
  fmtRate,
  fmtRss,
  fmtS,
  GiB,
  inTurn,
  MiB,
  mergeReps,
  peakRss,
  type Ratio,
  type Scenario,
  speedRatio,
  type ToolResult,
  wants,
} from '../lib/report.ts';
import { assertShoalPresent, cmdIn, requireTool, shoal } from '../lib/tools.ts';

type ToolRun = (ctx: Context, pair: VersionPair, dir: string, r: ToolResult) => Promise<void>;

/** Puts a hard link to src at dst (replacing dst): every tool sees the same bytes without copies. */
function link(src: string, dst: string): void {
  rmSync(dst, { force: true });
  linkSync(src, dst);
}

function verify(path: string | null, pair: VersionPair): void {
  if (path === null || !existsSync(path)) throw new Error('restore did not produce data.bin');
  if (sha256File(path) !== pair.v2.sha256) throw new Error('restored data.bin differs from v2');
}

/** Records storage after v1 and v2 relative to the empty repository. */
function storage(r: ToolResult, empty: number, afterV1: number, afterV2: number): void {
  r.storage = { empty, afterV1, afterV2, v1: afterV1 - empty, growthV2: afterV2 - afterV1 };
}

/** The durable-write reference: median of DD_RUNS copies (this disk's speed varies a lot). */
const DD_RUNS = 3;

const dd: ToolRun = async (ctx, pair, dir, r) => {
  // Each copy writes a file of its own, all deleted only after the last copy: a copy into pages
  // just freed by deleting an earlier output ran up to 4x faster on the benchmark VM than one
  // that needs fresh page-cache memory, which is what every tool's add and restore needs.
  const outs: string[] = [];
  const copy = async (src: string, key: string) => {
    const runs: StepMeasure[] = [];
    for (let i = 0; i < DD_RUNS; i++) {
      const out = join(dir, `dd-${key}-${i}.out`);
      outs.push(out);
      runs.push(
        await step(
          [
            {
              cmd: 'dd',
              args: [`if=${src}`, `of=${out}`, 'bs=1M', 'conv=fdatasync', 'status=none'],
              env: ctx.env,
            },
          ],
          dir,
        ),
      );
    }
    runs.sort((a, b) => a.wallS - b.wallS);
    r.steps[key] = {
      ...runs[Math.floor(DD_RUNS / 2)]!,
      minS: runs[0]!.wallS,
      maxS: runs[DD_RUNS - 1]!.wallS,
    };
    r.extra[`${key}RunsS`] = runs.map((x) => x.wallS);
  };
  await copy(pair.v1.path, 'addV1');
  await copy(pair.v2.path, 'restore');
  for (const out of outs) rmSync(out);
};

const gitLfs: ToolRun = async (ctx, pair, dir, r) => {
  await requireTool('git-lfs');
  const repo = join(dir, 'repo');
  mkdirSync(repo);
  const c = cmdIn(repo, ctx.env);
  await run(c('git', 'init', '-q'));
  await run(c('git', 'lfs', 'install', '--local'));
  await run(c('git', 'lfs', 'track', '*.bin'));
  await run(c('git', 'add', '.gitattributes'));
  await run(c('git', 'commit', '-q', '-m', 'init'));
  const git = join(repo, '.git');
  const empty = dirBytes(git);
  link(pair.v1.path, join(repo, 'data.bin'));
  r.steps.addV1 = await step([c('git', 'add', 'data.bin'), c('git', 'commit', '-q', '-m', 'v1')], repo);
  const afterV1 = dirBytes(git);
  link(pair.v2.path, join(repo, 'data.bin'));
  r.steps.addV2 = await step([c('git', 'add', 'data.bin'), c('git', 'commit', '-q', '-m', 'v2')], repo);
  storage(r, empty, afterV1, dirBytes(git));
  rmSync(join(repo, 'data.bin'));
  r.steps.restore = await step([c('git', 'checkout', '--', 'data.bin')], repo);
  verify(join(repo, 'data.bin'), pair);
};

const restic: ToolRun = async (ctx, pair, dir, r) => {
  await requireTool('restic');
  const repo = join(dir, 'repo');
  const out = join(dir, 'out');
  mkdirSync(join(dir, 'work'));
  mkdirSync(out);
  const c = cmdIn(dir, ctx.env);
  await run(c('restic', '-q', '-r', repo, 'init'));
  const empty = dirBytes(repo);
  link(pair.v1.path, join(dir, 'work', 'data.bin'));
  r.steps.addV1 = await step([c('restic', '-q', '-r', repo, 'backup', 'work/data.bin')], repo);
  const afterV1 = dirBytes(repo);
  link(pair.v2.path, join(dir, 'work', 'data.bin'));
  r.steps.addV2 = await step([c('restic', '-q', '-r', repo, 'backup', 'work/data.bin')], repo);
  storage(r, empty, afterV1, dirBytes(repo));
  r.steps.restore = await step([c('restic', '-q', '-r', repo, 'restore', 'latest', '--target', out)], out);
  verify(findFile(out, 'data.bin'), pair);
};

const borg: ToolRun = async (ctx, pair, dir, r) => {
  await requireTool('borg');
  const repo = join(dir, 'repo');
  const out = join(dir, 'out');
  mkdirSync(join(dir, 'work'));
  mkdirSync(out);
  const c = cmdIn(dir, ctx.env);
  await run(c('borg', 'init', '-e', 'none', repo));
  const empty = dirBytes(repo);
  link(pair.v1.path, join(dir, 'work', 'data.bin'));
  r.steps.addV1 = await step([c('borg', 'create', '-C', 'none', `${repo}::v1`, 'work/data.bin')], repo);
  const afterV1 = dirBytes(repo);
  link(pair.v2.path, join(dir, 'work', 'data.bin'));
  r.steps.addV2 = await step([c('borg', 'create', '-C', 'none', `${repo}::v2`, 'work/data.bin')], repo);
  storage(r, empty, afterV1, dirBytes(repo));
  r.steps.restore = await step([cmdIn(out, ctx.env)('borg', 'extract', `${repo}::v2`)], out);
  verify(findFile(out, 'data.bin'), pair);
};

const casync: ToolRun = async (ctx, pair, dir, r) => {
  await requireTool('casync');
  const store = join(dir, 'store');
  const idx = join(dir, 'idx');
  const out = join(dir, 'out');
  for (const d of ['work', 'idx', 'out']) mkdirSync(join(dir, d));
  const c = cmdIn(dir, ctx.env);
  const size = () => dirBytes(store) + dirBytes(idx);
  const make = (name: string) =>
    c('casync', 'make', `--store=${store}`, `idx/${name}.caibx`, 'work/data.bin');
  link(pair.v1.path, join(dir, 'work', 'data.bin'));
  r.steps.addV1 = await step([make('v1')], dir);
  const afterV1 = size();
  link(pair.v2.path, join(dir, 'work', 'data.bin'));
  r.steps.addV2 = await step([make('v2')], dir);
  storage(r, 0, afterV1, size());
  r.steps.restore = await step(
    [c('casync', 'extract', `--store=${store}`, 'idx/v2.caibx', 'out/data.bin')],
    out,
  );
  verify(join(out, 'data.bin'), pair);
};

async function shoalStats(repo: string, ctx: Context): Promise<unknown> {
  try {
    return JSON.parse((await run(shoal(repo, ctx.env, 'stats', '--json'))).stdout);
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

const shoalRun: ToolRun = async (ctx, pair, dir, r) => {
  assertShoalPresent();
  const repo = join(dir, 'repo');
  mkdirSync(repo);
  const s = (...args: string[]) => shoal(repo, ctx.env, ...args);
  await run(s('init', '-q'));
  const meta = join(repo, '.shoal');
  const empty = dirBytes(meta);
  link(pair.v1.path, join(repo, 'data.bin'));
  r.steps.addV1 = await step([s('add', '-q', 'data.bin'), s('commit', '-q', '-m', 'v1')], repo);
  const afterV1 = dirBytes(meta);
  r.extra.statsV1 = await shoalStats(repo, ctx);
  link(pair.v2.path, join(repo, 'data.bin'));
  r.steps.addV2 = await step([s('add', '-q', 'data.bin'), s('commit', '-q', '-m', 'v2')], repo);
  storage(r, empty, afterV1, dirBytes(meta));
  r.extra.statsV2 = await shoalStats(repo, ctx);
  // Checkout into an empty working tree: the file is gone, --force makes checkout write it again.
  rmSync(join(repo, 'data.bin'));
  r.steps.restore = await step([s('checkout', '-q', '--force', 'HEAD')], repo);
  verify(join(repo, 'data.bin'), pair);
};

const TOOLS: Array<[string, ToolRun]> = [
  ['dd', dd],
  ['git-lfs', gitLfs],
  ['restic', restic],
  ['borg', borg],
  ['casync', casync],
  ['shoal', shoalRun],
];

export const dedup1g: Scenario = {
  name: 'dedup-1g',
  aliases: ['add-1g'],
  description: '1 GiB random file, v2 = 1 MiB overwritten in the middle + 100 bytes inserted at the start',
  local: true,
  async run(ctx) {
    const size = Math.max(16 * MiB, Math.round((GiB * ctx.scale) / MiB) * MiB);
    const dataDir = join(ctx.scratch, 'data');
    mkdirSync(dataDir);
    ctx.log(`generating v1 and v2 (${fmtBytes(size)} each)`);
    const t0 = performance.now();
    const pair = writeVersionPair(dataDir, size, Math.min(MiB, size / 16), 100);
    ctx.log(`generated in ${fmtS((performance.now() - t0) / 1000)}`);
    await syncAll();

    // Repetitions go round the tools, each from the next place in the list (inTurn), so that a
    // slow spell of the disk, or what one tool leaves behind, hits every tool alike.
    const reps = new Map<string, ToolResult[]>();
    for (let rep = 1; rep <= ctx.reps; rep++) {
      for (const [name, fn] of inTurn(
        TOOLS.filter(([n]) => wants(ctx, n)),
        rep,
      )) {
        const dir = join(ctx.scratch, name);
        mkdirSync(dir);
        const label = ctx.reps > 1 ? `${name} (rep ${rep}/${ctx.reps})` : name;
        const result = await attempt(label, ctx.log, (r) => fn(ctx, pair, dir, r));
        result.tool = name;
        reps.set(name, [...(reps.get(name) ?? []), result]);
        removeTree(dir);
      }
    }
    const tools: Record<string, ToolResult> = {};
    for (const [name, list] of reps) tools[name] = mergeReps(list);

    const all = Object.values(tools);
    const competitors = all.filter((t) => t.tool !== 'dd' && t.tool !== 'shoal');
    const sh = tools.shoal;
    const ref = tools.dd;
    const rows = all.map((t) => {
      const a1 = t.steps.addV1;
      const cpu = a1 && a1.userS !== null && a1.sysS !== null ? fmtS(a1.userS + a1.sysS) : '-';
      const name = t.tool === 'dd' ? 'dd conv=fdatasync (ref)' : t.error ? `${t.tool} (failed)` : t.tool;
      return [
        name,
        fmtS(a1?.wallS),
        fmtRate(pair.v1.size, a1?.wallS),
        cpu,
        fmtS(t.steps.addV2?.wallS),
        t.tool === 'dd' ? '-' : fmtBytes(t.storage.afterV1),
        t.tool === 'dd' ? '-' : fmtBytes(t.storage.growthV2, true),
        fmtS(t.steps.restore?.wallS),
        fmtRate(pair.v2.size, t.steps.restore?.wallS),
        fmtRss(peakRss(t)),
      ];
    });

    const ratios: Ratio[] = [];
    const fastest = (key: string) => best(competitors, (t) => t.steps[key]?.wallS);
    const add = (
      label: string,
      shoalV: number | null | undefined,
      other: { tool: string; value: number } | null,
    ) => {
      ratios.push({
        label,
        value: speedRatio(shoalV, other?.value),
        detail: other
          ? `shoal ${fmtS(shoalV)} vs ${other.tool} ${fmtS(other.value)}`
          : 'no competitor figure',
      });
    };
    add('add v1 speed / fastest competitor', sh?.steps.addV1?.wallS, fastest('addV1'));
    add(
      'add v1 speed / dd durable write',
      sh?.steps.addV1?.wallS,
      ref ? { tool: 'dd', value: ref.steps.addV1?.wallS ?? NaN } : null,
    );
    add('add v2 speed / fastest competitor', sh?.steps.addV2?.wallS, fastest('addV2'));
    const smallest = best(competitors, (t) => t.storage.growthV2);
    const g = sh?.storage.growthV2;
    ratios.push({
      label: 'v2 storage growth: smallest competitor / shoal',
      value: g !== undefined && g > 0 && smallest ? smallest.value / g : null,
      detail: smallest
        ? `shoal ${fmtBytes(g, true)} vs ${smallest.tool} ${fmtBytes(smallest.value, true)}`
        : '',
    });
    add(
      'checkout speed / dd durable write',
      sh?.steps.restore?.wallS,
      ref ? { tool: 'dd', value: ref.steps.restore?.wallS ?? NaN } : null,
    );
    add('checkout speed / fastest competitor restore', sh?.steps.restore?.wallS, fastest('restore'));

    return {
      params: {
        reps: ctx.reps,
        v1Bytes: pair.v1.size,
        v2Bytes: pair.v2.size,
        insertedAtStart: pair.insertedAtStart,
        overwriteOffset: pair.overwriteOffset,
        overwriteLength: pair.overwriteLength,
      },
      tools,
      ratios,
      tables: [
        {
          title: `${ctx.reps > 1 ? `median of ${ctx.reps} reps; ` : ''}add = add/backup + commit + sync -f; restore = checkout/restore/extract of v2 into an empty dir + sync -f`,
          headers: [
            'tool',
            'add v1',
            'v1 rate',
            'v1 CPU',
            'add v2',
            'store v1',
            'v2 growth',
            'restore',
            'rate',
            'peak RSS',
          ],
          rows,
        },
      ],
      notes: [
        'data is hot in the page cache (caches cannot be dropped here); dd ref: add v1 column = dd of v1, restore column = dd of v2, each the median of 3',
        'storage = sum of file sizes of the repository (.git, restic/borg repo, casync store + indexes, .shoal)',
      ],
    };
  },
};
