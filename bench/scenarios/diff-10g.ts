// Scenario diff-10g: a 10 GiB random file committed twice, the second time with one byte changed
// in the middle. `shoal diff --stat --json HEAD~1 HEAD` (median of --runs runs) and how many file
// index nodes it opened (nodesRead), next to `borg diff` of two archives of the same versions.

import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { writeRandomFile } from '../lib/data.ts';
import { repeatRuns, run, step, syncAll } from '../lib/exec.ts';
import { removeTree } from '../lib/fsutil.ts';
import { parseJson } from '../lib/p2p.ts';
import {
  attempt,
  type Context,
  fmtBytes,
  fmtRate,
  fmtRss,
  fmtS,
  GiB,
  MiB,
  type Ratio,
  type Scenario,
  speedRatio,
  type ToolResult,
  wants,
} from '../lib/report.ts';
import { assertShoalPresent, cmdIn, requireTool, shoal } from '../lib/tools.ts';

/** The data file and the one byte that differs between v1 and v2 (v2 = v1 with it inverted). */
class Data {
  readonly path: string;
  readonly size: number;
  readonly offset: number;
  private inverted = false;

  constructor(path: string, size: number) {
    this.path = path;
    this.size = size;
    // not on any power-of-two boundary
    this.offset = Math.floor(size / 2) + 12_345;
  }

  /** Makes the file v1 (false) or v2 (true): inverts the byte at offset in place, fsynced. */
  set(v2: boolean): void {
    if (v2 === this.inverted) return;
    const fd = openSync(this.path, 'r+');
    try {
      const b = Buffer.alloc(1);
      readSync(fd, b, 0, 1, this.offset);
      b[0] = b[0]! ^ 0xff;
      writeSync(fd, b, 0, 1, this.offset);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.inverted = v2;
  }
}

type ToolRun = (ctx: Context, data: Data, dir: string, r: ToolResult) => Promise<void>;

interface DiffJson {
  files: Array<{
    path: string;
    chunks: { addedBytes: number; removedBytes: number; nodesRead?: number } | null;
  }>;
  summary: { files: number; chunkBytesAdded: number; chunkBytesRemoved: number; nodesRead?: number };
}

const shoalDiff: ToolRun = async (ctx, data, dir, r) => {
  assertShoalPresent();
  const s = (...args: string[]) => shoal(dir, ctx.env, ...args);
  await run(s('init', '-q'));
  linkSync(data.path, join(dir, 'data.bin'));
  r.steps.addV1 = await step([s('add', '-q', 'data.bin'), s('commit', '-q', '-m', 'v1')], dir);
  data.set(true);
  r.steps.addV2 = await step([s('add', '-q', 'data.bin'), s('commit', '-q', '-m', 'v2')], dir);
  const { measure, stdout } = await repeatRuns(s('diff', '--stat', '--json', 'HEAD~1', 'HEAD'), ctx.runs, 1);
  r.steps.diff = measure;
  const json = parseJson<DiffJson>(stdout, 'shoal diff --json');
  const f = json.files.find((x) => x.path === 'data.bin');
  if (json.summary.files !== 1 || !f?.chunks) throw new Error('diff did not report data.bin as modified');
  const stats = parseJson<{ objects: number; chunks: number; commits: number }>(
    (await run(s('stats', '--json'))).stdout,
    'shoal stats --json',
  );
  r.extra.diff = {
    nodesRead: f.chunks.nodesRead ?? json.summary.nodesRead ?? null,
    chunkBytesAdded: f.chunks.addedBytes,
    chunkBytesRemoved: f.chunks.removedBytes,
  };
  // everything that is not a chunk: the file index nodes of both versions, 2 trees, 2 commits
  r.extra.metadataObjects = stats.objects - stats.chunks;
  r.extra.chunks = stats.chunks;
};

const borgDiff: ToolRun = async (ctx, data, dir, r) => {
  await requireTool('borg');
  const repo = join(dir, 'repo');
  const work = join(dir, 'work');
  mkdirSync(work);
  linkSync(data.path, join(work, 'data.bin'));
  const c = cmdIn(work, ctx.env);
  await run(c('borg', 'init', '-e', 'none', repo));
  r.steps.addV1 = await step([c('borg', 'create', '-C', 'none', `${repo}::v1`, '.')], repo);
  data.set(true);
  r.steps.addV2 = await step([c('borg', 'create', '-C', 'none', `${repo}::v2`, '.')], repo);
  const { measure, stdout } = await repeatRuns(c('borg', 'diff', `${repo}::v1`, 'v2'), ctx.runs, 1);
  r.steps.diff = measure;
  if (!stdout.includes('data.bin')) throw new Error('borg diff did not report data.bin');
  r.extra.diffOutput = stdout.trim();
};

const TOOLS: Array<[string, ToolRun]> = [
  ['shoal', shoalDiff],
  ['borg', borgDiff],
];

export const diff10g: Scenario = {
  name: 'diff-10g',
  description: '`diff --stat` between two commits of a 10 GiB file that differ in one byte, vs borg diff',
  local: true,
  optIn: true,
  async run(ctx) {
    const size = Math.max(64 * MiB, Math.round((10 * GiB * ctx.scale) / MiB) * MiB);
    const t0 = performance.now();
    const data = new Data(writeRandomFile(join(ctx.scratch, 'data.bin'), size, 'diff-10g', false).path, size);
    ctx.log(`generated ${fmtBytes(size)} in ${fmtS((performance.now() - t0) / 1000)}`);
    const tools: Record<string, ToolResult> = {};
    // One tool after the other, each from v1 and removing its repository before the next starts
    // (disk: the file plus one repository).
    for (const [name, fn] of TOOLS) {
      if (!wants(ctx, name)) continue;
      const dir = join(ctx.scratch, name);
      mkdirSync(dir);
      data.set(false);
      await syncAll();
      tools[name] = await attempt(name, ctx.log, (r) => fn(ctx, data, dir, r));
      const t1 = performance.now();
      removeTree(dir);
      ctx.log(`${name}: removed its repository in ${fmtS((performance.now() - t1) / 1000)}`);
    }

    const rows = Object.values(tools).map((t) => {
      const d = t.steps.diff;
      const x = t.extra.diff as { nodesRead: number | null; chunkBytesAdded: number } | undefined;
      return [
        t.error ? `${t.tool} (failed)` : t.tool,
        fmtS(t.steps.addV1?.wallS),
        fmtRate(size, t.steps.addV1?.wallS),
        fmtS(t.steps.addV2?.wallS),
        fmtS(d?.wallS),
        d?.minS !== undefined ? `${fmtS(d.minS)}-${fmtS(d.maxS)}` : '-',
        x?.nodesRead !== null && x?.nodesRead !== undefined
          ? `${x.nodesRead} of ${String(t.extra.metadataObjects ?? '?')}`
          : '-',
        x ? fmtBytes(x.chunkBytesAdded) : '-',
        fmtRss(d?.peakRssKiB),
        fmtRss(Math.max(t.steps.addV1?.peakRssKiB ?? 0, t.steps.addV2?.peakRssKiB ?? 0) || null),
      ];
    });
    const sh = tools.shoal?.steps.diff?.wallS;
    const bo = tools.borg?.steps.diff?.wallS;
    const ratios: Ratio[] = [
      {
        label: 'diff speed / borg diff',
        value: speedRatio(sh, bo),
        detail: `shoal ${fmtS(sh)} vs borg ${fmtS(bo)}`,
      },
    ];
    return {
      params: { bytes: size, changedOffset: data.offset, changedBytes: 1, runs: ctx.runs },
      tools,
      ratios,
      tables: [
        {
          title:
            `${fmtBytes(size)} random file, v2 = v1 with 1 byte inverted at offset ${data.offset}; ` +
            `add = add + commit (or borg create) + sync -f; diff: median of ${ctx.runs} runs after 1 warm-up`,
          headers: [
            'tool',
            'add v1',
            'rate',
            'add v2',
            'diff',
            'min-max',
            'nodes read of all metadata',
            'chunks new',
            'diff RSS',
            'add RSS',
          ],
          rows,
        },
      ],
      notes: [
        'shoal: diff --stat --json HEAD~1 HEAD; nodes read = chunks.nodesRead, metadata = objects - chunks from shoal stats (index nodes of both versions, trees, commits); index bytes read are not reported by shoal',
        'borg: borg diff repo::v1 v2 (compares the chunk id lists of the two archives)',
      ],
    };
  },
};
