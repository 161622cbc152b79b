// Scenario clone-3-seeders: three users serve the same repository (512 MiB random file), each
// limited to 30 MB/s upload; a fourth clones shoal://<repo-id> naming all three. Rate and bytes
// per seeder, next to aria2c fetching the same file from three HTTP mirrors limited to 30 MB/s per
// connection. With root and `ip netns`, the same again with the limit moved into the network:
// each seeder in its own namespace behind a veth link shaped by tc to 240 Mbit/s (= 30 MB/s).

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Background } from '../lib/background.ts';
import { type Cmd, run, stepOut, syncAll } from '../lib/exec.ts';
import { removeTree, repoRoot, sha256File } from '../lib/fsutil.ts';
import { type Lab, makeLab, netnsUnavailable } from '../lib/netns.ts';
import {
  type CloneJson,
  fmtMBps,
  makeUser,
  mbps,
  parseJson,
  type Seeder,
  startSeeder,
  type User,
} from '../lib/p2p.ts';
import {
  attempt,
  type Context,
  fmtBytes,
  fmtRss,
  fmtS,
  inTurn,
  MiB,
  mergeReps,
  type Ratio,
  type Scenario,
  type ToolResult,
  wants,
} from '../lib/report.ts';
import { assertShoalPresent, requireTool, shoal } from '../lib/tools.ts';
import { cpu, processStep, seedRepo } from './clone-1g.ts';

/** Per-seeder upload limit: shoal's --max-upload 30M, the HTTP mirrors' rate, tc's 240 Mbit/s. */
const RATE = 30_000_000;
const SEEDERS = ['a', 'b', 'c'] as const;

interface Setup {
  size: number;
  sha256: string;
  repoId: string;
  /** The three seeders' repositories (a: the original, b and c: its clones). */
  repos: string[];
  users: User[];
  downloader: User;
}

/** Where processes run: loopback in this namespace, or the namespaces of a lab. */
interface Net {
  variant: string;
  seederHost(i: number): string;
  inSeeder(i: number, c: Cmd): Cmd;
  inClient(c: Cmd): Cmd;
  /** Application-level upload limit (bytes/s), 0 when the links are shaped instead. */
  appRate: number;
}

const loopback: Net = {
  variant: 'loopback',
  // one loopback address per seeder: aria2c counts connections per host, not per port
  seederHost: (i) => `127.0.0.${i + 1}`,
  inSeeder: (_i, c) => c,
  inClient: (c) => c,
  appRate: RATE,
};

function labNet(lab: Lab): Net {
  return {
    variant: 'netns',
    seederHost: (i) => lab.spokes[i]!.addr,
    inSeeder: (i, c) => lab.inNs(lab.spokes[i]!.ns, c),
    inClient: (c) => lab.inNs(lab.hub, c),
    appRate: 0,
  };
}

/** Environment for aria2c: no proxy from the caller's environment. */
function noProxy(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const k of Object.keys(out)) if (/_proxy$/i.test(k)) delete out[k];
  return out;
}

async function shoalRun(ctx: Context, setup: Setup, net: Net, r: ToolResult): Promise<void> {
  const seeders: Seeder[] = [];
  const dest = join(ctx.scratch, `clone-${net.variant}`);
  try {
    for (let i = 0; i < SEEDERS.length; i++) {
      const limit = net.appRate > 0 ? ['--max-upload', `${net.appRate / 1e6}M`] : [];
      seeders.push(
        await startSeeder(
          `seeder ${SEEDERS[i]}`,
          setup.repos[i]!,
          setup.users[i]!,
          `/ip4/${net.seederHost(i)}/tcp/0`,
          limit,
          (c) => net.inSeeder(i, c),
        ),
      );
    }
    const peers = seeders.flatMap((s) => ['--peer', s.addr]);
    const { measure, stdout } = await stepOut(
      net.inClient(
        shoal(
          ctx.scratch,
          setup.downloader.env,
          'clone',
          `shoal://${setup.repoId}`,
          dest,
          ...peers,
          '--json',
        ),
      ),
      ctx.scratch,
    );
    const json = parseJson<CloneJson>(stdout, 'shoal clone --json');
    r.steps.e2e = measure;
    r.steps.transfer = { wallS: json.seconds, userS: null, sysS: null, peakRssKiB: null };
    r.steps.downloader = measure;
    const perSeeder: Record<string, number> = {};
    seeders.forEach((s, i) => {
      perSeeder[SEEDERS[i]!] = json.perPeer[s.peerId] ?? 0;
    });
    r.extra.perSeeder = perSeeder;
    r.extra.clone = {
      bytes: json.bytes,
      duplicateBytes: json.duplicateBytes,
      seconds: json.seconds,
      chunks: json.chunks,
      banned: json.banned,
    };
  } finally {
    const stopped = await Promise.all(seeders.map((s) => s.bg.stop('SIGINT')));
    stopped.forEach((p, i) => {
      r.steps[`seeder${SEEDERS[i]!.toUpperCase()}`] = processStep(p);
    });
  }
  if (sha256File(join(dest, 'data.bin')) !== setup.sha256)
    throw new Error('cloned file differs from the source');
  removeTree(dest);
}

async function ariaRun(ctx: Context, setup: Setup, net: Net, r: ToolResult): Promise<void> {
  await requireTool('aria2c');
  const dir = join(ctx.scratch, `aria2c-${net.variant}`);
  mkdirSync(dir, { recursive: true });
  const servers: Background[] = [];
  try {
    const urls: string[] = [];
    for (let i = 0; i < SEEDERS.length; i++) {
      const bg = new Background(
        `http mirror ${SEEDERS[i]}`,
        net.inSeeder(i, {
          cmd: process.execPath,
          args: [
            join(repoRoot, 'bench', 'lib', 'http-serve.ts'),
            '--file',
            join(setup.repos[i]!, 'data.bin'),
            '--rate',
            String(net.appRate),
            '--host',
            net.seederHost(i),
          ],
          cwd: dir,
          env: ctx.env,
        }),
      );
      servers.push(bg);
      urls.push((await bg.waitForLine((l) => l.startsWith('http://'))).trim());
    }
    const aria: Cmd = {
      cmd: 'aria2c',
      args: [
        '--no-conf=true',
        '--split=3',
        '--max-connection-per-server=1',
        '--min-split-size=1M',
        '--file-allocation=none',
        '--allow-overwrite=true',
        '--auto-file-renaming=false',
        '--console-log-level=warn',
        '--summary-interval=0',
        '--download-result=hide',
        '-d',
        dir,
        '-o',
        'data.bin',
        ...urls,
      ],
      cwd: dir,
      env: noProxy(ctx.env),
    };
    const { measure } = await stepOut(net.inClient(aria), dir);
    r.steps.e2e = measure;
    r.steps.transfer = { wallS: measure.cmdS, userS: measure.userS, sysS: measure.sysS, peakRssKiB: null };
    r.steps.downloader = measure;
  } finally {
    const stopped = await Promise.all(servers.map((s) => s.stop('SIGINT')));
    const perSeeder: Record<string, number> = {};
    stopped.forEach((p, i) => {
      r.steps[`seeder${SEEDERS[i]!.toUpperCase()}`] = processStep(p);
      const line = p.stdout.split('\n').find((l) => l.startsWith('{"servedBytes"'));
      perSeeder[SEEDERS[i]!] = line ? (JSON.parse(line) as { servedBytes: number }).servedBytes : 0;
    });
    r.extra.perSeeder = perSeeder;
  }
  if (sha256File(join(dir, 'data.bin')) !== setup.sha256)
    throw new Error('aria2c download differs from the source');
  removeTree(dir);
}

/** Three copies of the repository, each with its own user: a creates it, b and c clone from a. */
async function prepare(ctx: Context, size: number): Promise<Setup> {
  assertShoalPresent();
  const users = SEEDERS.map((n) => makeUser(ctx.env, ctx.scratch, n));
  const downloader = makeUser(ctx.env, ctx.scratch, 'd');
  const repos = SEEDERS.map((n) => join(ctx.scratch, `seeder-${n}`));
  const src = await seedRepo(ctx, repos[0]!, size, 'clone-3-seeders', 'a');
  const info = parseJson<{ id: string }>(
    (await run(shoal(repos[0]!, users[0]!.env, 'info', '--json'))).stdout,
    'shoal info --json',
  );
  const origin = await startSeeder('seeder a (setup)', repos[0]!, users[0]!, '/ip4/127.0.0.1/tcp/0');
  try {
    for (const i of [1, 2]) {
      const t0 = performance.now();
      await run(shoal(ctx.scratch, users[i]!.env, 'clone', origin.addr, repos[i]!, '-q'));
      ctx.log(`seeder ${SEEDERS[i]} cloned from a in ${fmtS((performance.now() - t0) / 1000)}`);
    }
  } finally {
    await origin.bg.stop('SIGINT');
  }
  for (const i of [1, 2]) {
    if (sha256File(join(repos[i]!, 'data.bin')) !== src.sha256)
      throw new Error(`seeder ${SEEDERS[i]}'s clone differs from the source`);
  }
  await syncAll();
  return { size, sha256: src.sha256, repoId: info.id, repos, users, downloader };
}

export const clone3Seeders: Scenario = {
  name: 'clone-3-seeders',
  description: 'clone of a 512 MiB file from three seeders at 30 MB/s each vs aria2c from three HTTP mirrors',
  local: true,
  optIn: true,
  async run(ctx) {
    const size = Math.max(16 * MiB, Math.round((512 * MiB * ctx.scale) / MiB) * MiB);
    const setup = await prepare(ctx, size);
    const notes: string[] = [];

    const nets: Net[] = [loopback];
    let lab: Lab | null = null;
    if (wants(ctx, 'netns')) {
      const why = netnsUnavailable();
      if (why === null) {
        lab = makeLab(SEEDERS.length, (RATE * 8) / 1e6);
        nets.push(labNet(lab));
        notes.push(
          `netns variant: one namespace per seeder, links shaped with tc qdisc ${lab.shaping} both ways`,
        );
      } else {
        notes.push(`netns variant skipped: ${why}`);
        ctx.log(`netns variant skipped: ${why}`);
      }
    }

    const plans: Array<[string, string, (r: ToolResult) => Promise<void>]> = [];
    for (const net of nets) {
      const suffix = net.variant === 'loopback' ? '' : '-netns';
      if (wants(ctx, 'shoal'))
        plans.push([`shoal${suffix}`, net.variant, (r) => shoalRun(ctx, setup, net, r)]);
      if (wants(ctx, 'aria2c'))
        plans.push([`aria2c${suffix}`, net.variant, (r) => ariaRun(ctx, setup, net, r)]);
    }
    const reps = new Map<string, ToolResult[]>();
    try {
      for (let rep = 1; rep <= ctx.reps; rep++) {
        for (const [name, , fn] of inTurn(plans, rep)) {
          const label = ctx.reps > 1 ? `${name} (rep ${rep}/${ctx.reps})` : name;
          await syncAll();
          const result = await attempt(label, ctx.log, fn);
          result.tool = name;
          reps.set(name, [...(reps.get(name) ?? []), result]);
        }
      }
    } finally {
      lab?.destroy();
    }
    const tools: Record<string, ToolResult> = {};
    for (const [name, list] of reps) tools[name] = mergeReps(list);

    const cap = (SEEDERS.length * RATE) / 1e6;
    const rows = Object.values(tools).map((t) => {
      const tr = t.steps.transfer?.wallS;
      const e2e = t.steps.e2e?.wallS;
      const per = (t.extra.perSeeder ?? {}) as Record<string, number>;
      const seederSteps = SEEDERS.map((n) => t.steps[`seeder${n.toUpperCase()}`]);
      const seederRss = seederSteps.map((s) => s?.peakRssKiB ?? 0);
      const seederCpu = seederSteps.map((s) => cpu(s));
      return [
        t.error ? `${t.tool} (failed)` : t.tool,
        fmtS(tr),
        fmtMBps(tr === undefined ? null : mbps(size, tr)),
        fmtS(e2e),
        fmtMBps(e2e === undefined ? null : mbps(size, e2e)),
        SEEDERS.map((n) => (per[n] === undefined ? '-' : (per[n] / MiB).toFixed(0))).join(' / '),
        fmtRss(t.steps.downloader?.peakRssKiB),
        fmtRss(Math.max(...seederRss) || null),
        seederCpu.some((c) => c === null) ? '-' : fmtS(seederCpu.reduce((a, c) => a! + c!, 0)),
      ];
    });

    const rate = (t: ToolResult | undefined) =>
      t?.steps.transfer ? mbps(size, t.steps.transfer.wallS) : null;
    const div = (a: number | null | undefined, b: number | null | undefined) =>
      a === null || a === undefined || b === null || b === undefined || b <= 0 ? null : a / b;
    const ratios: Ratio[] = [];
    for (const net of nets) {
      const suffix = net.variant === 'loopback' ? '' : '-netns';
      const sh = tools[`shoal${suffix}`];
      const ar = tools[`aria2c${suffix}`];
      if (!sh && !ar) continue;
      ratios.push(
        {
          label: `${net.variant}: transfer rate / aria2c`,
          value: div(rate(sh), rate(ar)),
          detail: `shoal ${fmtMBps(rate(sh))} vs aria2c ${fmtMBps(rate(ar))}`,
        },
        {
          label: `${net.variant}: end-to-end speed / aria2c (both + sync -f)`,
          value: div(ar?.steps.e2e?.wallS, sh?.steps.e2e?.wallS),
          detail: `shoal ${fmtS(sh?.steps.e2e?.wallS)} vs aria2c ${fmtS(ar?.steps.e2e?.wallS)}`,
        },
        {
          label: `${net.variant}: transfer rate / the three limits together`,
          value: div(rate(sh), cap),
          detail: `shoal ${fmtMBps(rate(sh))} of ${fmtMBps(cap)}`,
        },
      );
    }

    return {
      params: { bytes: size, reps: ctx.reps, seeders: SEEDERS.length, perSeederLimitBps: RATE },
      tools,
      ratios,
      tables: [
        {
          title:
            `${ctx.reps > 1 ? `median of ${ctx.reps} reps; ` : ''}${fmtBytes(size)} from 3 seeders limited to 30 MB/s each ` +
            '(loopback: shoal --max-upload 30M / HTTP mirrors at 30 MB/s per connection; netns: tc tbf 240mbit per link). ' +
            'transfer: shoal = clone --json seconds, aria2c = its run; end-to-end adds checkout and sync -f. MB/s = 10^6 bytes/s',
          headers: [
            'tool',
            'transfer',
            'rate',
            'end-to-end',
            'rate',
            'MiB from a / b / c',
            'downl. RSS',
            'seeder RSS',
            'seeders CPU',
          ],
          rows,
        },
      ],
      notes: [
        'shoal: shoal clone shoal://<repo id> --peer <a> --peer <b> --peer <c> --json; a created the repository, b and c cloned it, each user has its own SHOAL_CONFIG_DIR',
        'aria2c: --split=3 --max-connection-per-server=1 --file-allocation=none with the three mirror URLs (node bench/lib/http-serve.ts)',
        'bytes per source: shoal from perPeer of clone --json, aria2c from the bytes each mirror sent',
        ...notes,
      ],
    };
  },
};
