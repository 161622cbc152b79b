// Scenario clone-1g: one seeder (`shoal serve` on loopback) and one downloader (`shoal clone
// --json`) for a repository holding a 1 GiB random file. Transfer rate (from the clone's own
// figures) and end-to-end time with checkout, next to raw js-libp2p throughput between two
// processes (bench/net-raw.ts, the ceiling) and an rsync daemon on loopback; peak RSS of both sides.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Background } from '../lib/background.ts';
import { writeRandomFile } from '../lib/data.ts';
import { run, stepOut, syncAll } from '../lib/exec.ts';
import { removeTree, repoRoot, sha256File } from '../lib/fsutil.ts';
import {
  type CloneJson,
  fmtMBps,
  freePort,
  makeUser,
  mbps,
  parseJson,
  startSeeder,
  waitForPort,
} from '../lib/p2p.ts';
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
  type Ratio,
  type Scenario,
  type StepFigures,
  type ToolResult,
  wants,
} from '../lib/report.ts';
import { assertShoalPresent, cmdIn, requireTool, shoal } from '../lib/tools.ts';

export interface Source {
  repo: string;
  file: string;
  size: number;
  sha256: string;
}

type ToolRun = (ctx: Context, src: Source, r: ToolResult) => Promise<void>;

/** Figures of a process stopped at the end (seeder, daemon) as a step: lifetime, CPU, peak RSS. */
export function processStep(p: {
  wallS: number;
  userS: number | null;
  sysS: number | null;
  peakRssKiB: number | null;
}): StepFigures {
  return { wallS: p.wallS, userS: p.userS, sysS: p.sysS, peakRssKiB: p.peakRssKiB };
}

export function cpu(s: StepFigures | undefined): number | null {
  return s && s.userS !== null && s.sysS !== null ? s.userS + s.sysS : null;
}

const netRaw: ToolRun = async (ctx, src, r) => {
  const mib = Math.round(src.size / MiB);
  const out = await run({
    cmd: process.execPath,
    args: [join(repoRoot, 'bench', 'net-raw.ts'), '--mode', 'frames', '--mib', String(mib), '--json'],
    cwd: repoRoot,
    env: ctx.env,
  });
  const res = parseJson<Array<Record<string, number>>>(out.stdout, 'net-raw')[0]!;
  const rate = res.receiverMBps!;
  const seconds = (mib * MiB) / 1e6 / rate;
  r.steps.transfer = { wallS: seconds, userS: null, sysS: null, peakRssKiB: null };
  r.steps.seeder = { wallS: seconds, userS: null, sysS: null, peakRssKiB: res.senderMaxRssMiB! * 1024 };
  r.steps.downloader = { wallS: seconds, userS: null, sysS: null, peakRssKiB: res.receiverMaxRssMiB! * 1024 };
  r.extra.netRaw = res;
};

const rsync: ToolRun = async (ctx, src, r) => {
  await requireTool('rsync');
  const dir = join(ctx.scratch, 'rsync');
  const dest = join(dir, 'dest');
  mkdirSync(dest, { recursive: true });
  const port = await freePort();
  const conf = join(dir, 'rsyncd.conf');
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  writeFileSync(
    conf,
    [
      `pid file = ${join(dir, 'rsyncd.pid')}`,
      `log file = ${join(dir, 'rsyncd.log')}`,
      'use chroot = no',
      `uid = ${uid}`,
      `gid = ${gid}`,
      '[mod]',
      `\tpath = ${src.repo}`,
      '\tread only = yes',
      '',
    ].join('\n'),
  );
  const daemon = new Background('rsync daemon', {
    cmd: 'rsync',
    args: ['--daemon', '--no-detach', `--config=${conf}`, `--port=${port}`, '--address=127.0.0.1'],
    cwd: dir,
    env: ctx.env,
  });
  try {
    await waitForPort('127.0.0.1', port, () => daemon.running);
    const name = src.file.slice(src.repo.length + 1);
    const { measure } = await stepOut(
      cmdIn(dir, ctx.env)('rsync', '-a', `rsync://127.0.0.1:${port}/mod/${name}`, `${dest}/`),
      dest,
    );
    r.steps.e2e = measure;
    r.steps.transfer = { wallS: measure.cmdS, userS: measure.userS, sysS: measure.sysS, peakRssKiB: null };
    r.steps.downloader = measure;
  } finally {
    r.steps.seeder = processStep(await daemon.stop('SIGINT'));
  }
  if (sha256File(join(dest, src.file.slice(src.repo.length + 1))) !== src.sha256)
    throw new Error('rsync copy differs from the source');
  removeTree(dir);
};

const shoalClone: ToolRun = async (ctx, src, r) => {
  assertShoalPresent();
  const seederUser = makeUser(ctx.env, ctx.scratch, 'seeder');
  const downloader = makeUser(ctx.env, ctx.scratch, 'downloader');
  const dest = join(ctx.scratch, 'clone');
  const seeder = await startSeeder('shoal serve', src.repo, seederUser, '/ip4/127.0.0.1/tcp/0');
  try {
    const { measure, stdout } = await stepOut(
      shoal(ctx.scratch, downloader.env, 'clone', seeder.addr, dest, '--json'),
      ctx.scratch,
    );
    const json = parseJson<CloneJson>(stdout, 'shoal clone --json');
    r.steps.e2e = measure;
    r.steps.transfer = { wallS: json.seconds, userS: null, sysS: null, peakRssKiB: null };
    r.steps.downloader = measure;
    r.extra.clone = { bytes: json.bytes, seconds: json.seconds, chunks: json.chunks, perPeer: json.perPeer };
    if (json.bytes < src.size) throw new Error(`clone moved ${json.bytes} bytes, less than the file`);
  } finally {
    r.steps.seeder = processStep(await seeder.bg.stop('SIGINT'));
  }
  const name = src.file.slice(src.repo.length + 1);
  if (sha256File(join(dest, name)) !== src.sha256) throw new Error('cloned file differs from the source');
  removeTree(dest);
};

/** A repository with one random file, committed by its own user (untimed; the add time is logged). */
export async function seedRepo(
  ctx: Context,
  dir: string,
  size: number,
  seed: string,
  userName = 'seeder',
): Promise<Source> {
  assertShoalPresent();
  const user = makeUser(ctx.env, ctx.scratch, userName);
  mkdirSync(dir, { recursive: true });
  const s = (...args: string[]) => shoal(dir, user.env, ...args);
  await run(s('init', '-q'));
  const t0 = performance.now();
  const file = writeRandomFile(join(dir, 'data.bin'), size, seed);
  ctx.log(`generated ${fmtBytes(size)} in ${fmtS((performance.now() - t0) / 1000)}`);
  const t1 = performance.now();
  await run(s('add', '-q', 'data.bin'));
  await run(s('commit', '-q', '-m', 'data'));
  ctx.log(`shoal add + commit in ${fmtS((performance.now() - t1) / 1000)}`);
  await syncAll();
  return { repo: dir, file: file.path, size, sha256: file.sha256 };
}

const TOOLS: Array<[string, ToolRun]> = [
  ['net-raw', netRaw],
  ['rsync', rsync],
  ['shoal', shoalClone],
];

export const clone1g: Scenario = {
  name: 'clone-1g',
  description: 'clone of a 1 GiB file from one seeder on loopback vs raw js-libp2p and an rsync daemon',
  local: true,
  optIn: true,
  async run(ctx) {
    const size = Math.max(16 * MiB, Math.round((GiB * ctx.scale) / MiB) * MiB);
    const src = await seedRepo(ctx, join(ctx.scratch, 'seed'), size, 'clone-1g');

    const reps = new Map<string, ToolResult[]>();
    for (let rep = 1; rep <= ctx.reps; rep++) {
      for (const [name, fn] of inTurn(
        TOOLS.filter(([n]) => wants(ctx, n)),
        rep,
      )) {
        const label = ctx.reps > 1 ? `${name} (rep ${rep}/${ctx.reps})` : name;
        await syncAll();
        const result = await attempt(label, ctx.log, (r) => fn(ctx, src, r));
        result.tool = name;
        reps.set(name, [...(reps.get(name) ?? []), result]);
      }
    }
    const tools: Record<string, ToolResult> = {};
    for (const [name, list] of reps) tools[name] = mergeReps(list);

    const label = (t: ToolResult) =>
      t.error
        ? `${t.tool} (failed)`
        : t.tool === 'net-raw'
          ? 'js-libp2p raw frames (ceiling)'
          : t.tool === 'rsync'
            ? 'rsync daemon'
            : 'shoal clone';
    const rawCpu = (t: ToolResult, key: string) =>
      fmtS((t.extra.netRaw as Record<string, number> | undefined)?.[key]);
    const rows = Object.values(tools).map((t) => {
      const tr = t.steps.transfer?.wallS;
      const e2e = t.steps.e2e?.wallS;
      return [
        label(t),
        fmtS(tr),
        fmtMBps(tr === undefined ? null : mbps(size, tr)),
        fmtS(e2e),
        fmtMBps(e2e === undefined ? null : mbps(size, e2e)),
        t.tool === 'net-raw' ? rawCpu(t, 'senderCpuSeconds') : fmtS(cpu(t.steps.seeder)),
        t.tool === 'net-raw' ? rawCpu(t, 'receiverCpuSeconds') : fmtS(cpu(t.steps.downloader)),
        fmtRss(t.steps.seeder?.peakRssKiB),
        fmtRss(t.steps.downloader?.peakRssKiB),
      ];
    });

    const sh = tools.shoal;
    const raw = tools['net-raw'];
    const rs = tools.rsync;
    const shRate = sh?.steps.transfer ? mbps(size, sh.steps.transfer.wallS) : null;
    const rawRate = raw?.steps.transfer ? mbps(size, raw.steps.transfer.wallS) : null;
    const rsRate = rs?.steps.transfer ? mbps(size, rs.steps.transfer.wallS) : null;
    const ratio = (a: number | null | undefined, b: number | null | undefined) =>
      a === null || a === undefined || b === null || b === undefined || b <= 0 ? null : a / b;
    const ratios: Ratio[] = [
      {
        label: 'transfer rate / raw js-libp2p frames (ceiling)',
        value: ratio(shRate, rawRate),
        detail: `shoal ${fmtMBps(shRate)} vs net-raw ${fmtMBps(rawRate)}`,
      },
      {
        label: 'transfer rate / rsync daemon',
        value: ratio(shRate, rsRate),
        detail: `shoal ${fmtMBps(shRate)} vs rsync ${fmtMBps(rsRate)} (rsync: whole client run, no sync)`,
      },
      {
        label: 'end-to-end speed / rsync daemon (both + sync -f)',
        value: ratio(rs?.steps.e2e?.wallS, sh?.steps.e2e?.wallS),
        detail: `shoal ${fmtS(sh?.steps.e2e?.wallS)} vs rsync ${fmtS(rs?.steps.e2e?.wallS)}`,
      },
    ];

    return {
      params: { bytes: size, reps: ctx.reps },
      tools,
      ratios,
      tables: [
        {
          title:
            `${ctx.reps > 1 ? `median of ${ctx.reps} reps; ` : ''}${fmtBytes(size)} random file over 127.0.0.1. ` +
            'transfer: shoal = bytes/seconds of clone --json, rsync = the client run, net-raw = receiver rate; ' +
            'end-to-end: process start to file checked out, + sync -f. MB/s = 10^6 bytes/s',
          headers: [
            'tool',
            'transfer',
            'rate',
            'end-to-end',
            'rate',
            'seeder CPU',
            'downl. CPU',
            'seeder RSS',
            'downl. RSS',
          ],
          rows,
        },
      ],
      notes: [
        'seeder: shoal serve --listen /ip4/127.0.0.1/tcp/0 (ready at its printed multiaddr), stopped with SIGINT; its RSS and CPU cover its whole life',
        'rsync: rsync --daemon --no-detach on 127.0.0.1, client rsync -a rsync://127.0.0.1:<port>/mod/data.bin; daemon RSS includes its per-connection child',
        'net-raw: node bench/net-raw.ts --mode frames (256 KiB messages, no disk on either side); RSS/CPU from the processes themselves',
      ],
    };
  },
};
