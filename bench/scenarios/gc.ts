// Scenario gc: 5 GiB of data in five 1 GiB random files; four are committed on main, the fifth
// on a branch that is then deleted (-D), so 1 GiB becomes unreachable. `shoal gc --prune=now`
// time and bytes reclaimed, next to borg: archive a1 (four files), a2 (all five), `borg delete`
// a2, `borg compact`.

import { linkSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { GcResult } from '../../src/vcs/gc.ts';
import { writeRandomFile } from '../lib/data.ts';
import { run, step, stepOut, syncAll } from '../lib/exec.ts';
import { dirBytes, removeTree } from '../lib/fsutil.ts';
import { parseJson } from '../lib/p2p.ts';
import {
  attempt,
  type Context,
  fmtBytes,
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

const FILES = 5;

interface Data {
  files: string[];
  fileBytes: number;
}

type ToolRun = (ctx: Context, data: Data, dir: string, r: ToolResult) => Promise<void>;

function link(src: string, dir: string): void {
  linkSync(src, join(dir, src.slice(src.lastIndexOf('/') + 1)));
}

const shoalGc: ToolRun = async (ctx, data, dir, r) => {
  assertShoalPresent();
  const repo = join(dir, 'repo');
  mkdirSync(repo);
  const s = (...args: string[]) => shoal(repo, ctx.env, ...args);
  await run(s('init', '-q'));
  for (const f of data.files.slice(0, FILES - 1)) link(f, repo);
  r.steps.addKept = await step([s('add', '-q', '.'), s('commit', '-q', '-m', 'four files')], repo);
  await run(s('switch', '-c', 'extra'));
  link(data.files[FILES - 1]!, repo);
  r.steps.addDropped = await step(
    [s('add', '-q', `f${FILES}.bin`), s('commit', '-q', '-m', 'fifth file')],
    repo,
  );
  await run(s('switch', 'main'));
  await run(s('branch', '-D', 'extra'));
  const meta = join(repo, '.shoal');
  const before = dirBytes(meta);
  const { measure, stdout } = await stepOut(s('gc', '--prune=now', '--json'), repo);
  r.steps.reclaim = measure;
  const after = dirBytes(meta);
  const json = parseJson<GcResult>(stdout, 'shoal gc --json');
  r.storage = { before, after, reclaimed: before - after, reported: json.bytesReclaimed };
  r.extra.gc = json;
  const t0 = performance.now();
  await run(s('fsck', '-q'));
  r.extra.fsckAfterS = (performance.now() - t0) / 1000;
};

const borg: ToolRun = async (ctx, data, dir, r) => {
  await requireTool('borg');
  const repo = join(dir, 'repo');
  const work = join(dir, 'work');
  mkdirSync(work);
  const c = cmdIn(work, ctx.env);
  await run(c('borg', 'init', '-e', 'none', repo));
  for (const f of data.files.slice(0, FILES - 1)) link(f, work);
  r.steps.addKept = await step([c('borg', 'create', '-C', 'none', `${repo}::a1`, '.')], repo);
  link(data.files[FILES - 1]!, work);
  r.steps.addDropped = await step([c('borg', 'create', '-C', 'none', `${repo}::a2`, '.')], repo);
  const before = dirBytes(repo);
  r.steps.reclaim = await step([c('borg', 'delete', `${repo}::a2`), c('borg', 'compact', repo)], repo);
  const after = dirBytes(repo);
  r.storage = { before, after, reclaimed: before - after };
};

const TOOLS: Array<[string, ToolRun]> = [
  ['borg', borg],
  ['shoal', shoalGc],
];

export const gc: Scenario = {
  name: 'gc',
  description:
    '5 GiB committed, 1 GiB made unreachable (branch -D): shoal gc --prune=now vs borg delete + compact',
  local: true,
  optIn: true,
  async run(ctx) {
    const fileBytes = Math.max(16 * MiB, Math.round((GiB * ctx.scale) / MiB) * MiB);
    const dataDir = join(ctx.scratch, 'data');
    mkdirSync(dataDir);
    const t0 = performance.now();
    const files: string[] = [];
    for (let i = 1; i <= FILES; i++)
      files.push(writeRandomFile(join(dataDir, `f${i}.bin`), fileBytes, `gc-${i}`, false).path);
    ctx.log(`generated ${FILES} x ${fmtBytes(fileBytes)} in ${fmtS((performance.now() - t0) / 1000)}`);
    await syncAll();
    const data = { files, fileBytes };

    const reps = new Map<string, ToolResult[]>();
    for (let rep = 1; rep <= ctx.reps; rep++) {
      for (const [name, fn] of inTurn(
        TOOLS.filter(([n]) => wants(ctx, n)),
        rep,
      )) {
        const dir = join(ctx.scratch, name);
        mkdirSync(dir);
        const label = ctx.reps > 1 ? `${name} (rep ${rep}/${ctx.reps})` : name;
        const result = await attempt(label, ctx.log, (r) => fn(ctx, data, dir, r));
        result.tool = name;
        reps.set(name, [...(reps.get(name) ?? []), result]);
        const t1 = performance.now();
        removeTree(dir);
        ctx.log(`${label}: removed its repository in ${fmtS((performance.now() - t1) / 1000)}`);
      }
    }
    const tools: Record<string, ToolResult> = {};
    for (const [name, list] of reps) tools[name] = mergeReps(list);

    const rows = Object.values(tools).map((t) => {
      const g = t.extra.gc as GcResult | undefined;
      const rc = t.steps.reclaim;
      return [
        t.error ? `${t.tool} (failed)` : t.tool === 'borg' ? 'borg delete + compact' : 'shoal gc --prune=now',
        fmtS(t.steps.addKept?.wallS),
        fmtS(t.steps.addDropped?.wallS),
        fmtS(rc?.wallS),
        rc && rc.userS !== null && rc.sysS !== null ? fmtS(rc.userS + rc.sysS) : '-',
        fmtBytes(t.storage.before),
        fmtBytes(t.storage.after),
        fmtBytes(t.storage.reclaimed),
        g ? fmtBytes(g.bytesReclaimed) : '-',
        g ? fmtBytes(g.bytesCopied) : '-',
        fmtRss(rc?.peakRssKiB),
        fmtRss(peakRss(t)),
      ];
    });
    const sh = tools.shoal;
    const bo = tools.borg;
    const ratios: Ratio[] = [
      {
        label: 'reclaim speed / borg delete + compact',
        value: speedRatio(sh?.steps.reclaim?.wallS, bo?.steps.reclaim?.wallS),
        detail: `shoal ${fmtS(sh?.steps.reclaim?.wallS)} vs borg ${fmtS(bo?.steps.reclaim?.wallS)}`,
      },
      {
        label: 'bytes reclaimed / borg',
        value:
          sh?.storage.reclaimed !== undefined && bo?.storage.reclaimed
            ? sh.storage.reclaimed / bo.storage.reclaimed
            : null,
        detail: `shoal ${fmtBytes(sh?.storage.reclaimed)} vs borg ${fmtBytes(bo?.storage.reclaimed)}`,
      },
      {
        label: 'repository size after / borg (smaller is better)',
        value:
          sh?.storage.after && bo?.storage.after !== undefined ? bo.storage.after / sh.storage.after : null,
        detail: `shoal ${fmtBytes(sh?.storage.after)} vs borg ${fmtBytes(bo?.storage.after)}`,
      },
    ];
    return {
      params: {
        files: FILES,
        fileBytes,
        totalBytes: FILES * fileBytes,
        unreachableBytes: fileBytes,
        reps: ctx.reps,
      },
      tools,
      ratios,
      tables: [
        {
          title:
            `${ctx.reps > 1 ? `median of ${ctx.reps} reps; ` : ''}${FILES} random files of ${fmtBytes(fileBytes)}; ` +
            `the last one (${fmtBytes(fileBytes)}) becomes unreachable. Times include sync -f; sizes are sums of file sizes`,
          headers: [
            'tool',
            'add 4 files',
            'add 5th',
            'reclaim',
            'CPU',
            'repo before',
            'after',
            'reclaimed',
            'reported',
            'copied',
            'reclaim RSS',
            'peak RSS',
          ],
          rows,
        },
      ],
      notes: [
        'shoal: 4 files added and committed on main; switch -c extra, 5th file added and committed; switch main; branch -D extra; gc --prune=now --json (reported/copied: its bytesReclaimed/bytesCopied); fsck afterwards, untimed',
        'borg: init -e none; create -C none ::a1 (4 files), ::a2 (5 files); the timed step is borg delete ::a2 then borg compact',
      ],
    };
  },
};
