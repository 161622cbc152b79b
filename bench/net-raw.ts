// Raw network throughput between two processes on loopback: one libp2p stream over
// TCP + Noise + Yamux. `raw` sends bytes with stream.send + drain; `frames` sends 256 KiB
// payload messages with a small CBOR header through src/net/framing. Usage:
//   node bench/net-raw.ts [--mode raw|frames|all] [--mib 1024] [--payload-kib 256] [--json]

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { multiaddr } from '@multiformats/multiaddr';
import { runtimeFor } from '../bin/runtime.js';
import { FrameReader, FrameWriter } from '../src/net/framing.ts';
import { createPeerNode, STREAM_LIMITS } from '../src/net/node.ts';

const PROTOCOL = '/shoal/bench-raw/1';
const MiB = 1024 * 1024;

interface Result {
  role: 'sender' | 'receiver';
  mode: string;
  bytes: number;
  messages: number;
  seconds: number;
  cpuSeconds: number;
  maxRssMiB: number;
}

const { values } = parseArgs({
  options: {
    role: { type: 'string', default: 'parent' },
    mode: { type: 'string', default: 'all' },
    mib: { type: 'string', default: '1024' },
    'payload-kib': { type: 'string', default: '256' },
    addr: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const totalBytes = Number(values.mib) * MiB;
const payloadBytes = Number(values['payload-kib']) * 1024;

function maxRssMiB(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

async function receiver(mode: string): Promise<void> {
  const node = await createPeerNode({ seed: randomBytes(32) });
  let finish: (result: Result) => void = () => {};
  const done = new Promise<Result>((resolve) => (finish = resolve));
  await node.handle(
    PROTOCOL,
    async (stream) => {
      let bytes = 0;
      let messages = 0;
      let start = 0;
      let cpu = process.cpuUsage();
      const first = () => {
        start = performance.now();
        cpu = process.cpuUsage();
      };
      if (mode === 'raw') {
        stream.addEventListener('message', (evt) => {
          if (start === 0) first();
          bytes += evt.data.byteLength;
        });
        await new Promise((resolve) => stream.addEventListener('remoteCloseWrite', resolve, { once: true }));
      } else {
        const reader = new FrameReader(stream);
        for await (const frame of reader) {
          if (start === 0) first();
          if (frame.header.seq !== messages)
            throw new Error(`out of order: ${frame.header.seq} at ${messages}`);
          bytes += frame.payload?.byteLength ?? 0;
          messages++;
        }
      }
      const seconds = (performance.now() - start) / 1000;
      const cpuSeconds = cpuSecondsSince(cpu);
      await stream.close();
      finish({ role: 'receiver', mode, bytes, messages, seconds, cpuSeconds, maxRssMiB: 0 });
    },
    STREAM_LIMITS,
  );
  process.stdout.write(`${JSON.stringify({ addr: node.getMultiaddrs()[0]!.toString() })}\n`);
  const result = await done;
  result.maxRssMiB = maxRssMiB();
  process.stdout.write(`${JSON.stringify(result)}\n`);
  await node.stop();
}

async function sender(mode: string, addr: string): Promise<void> {
  const node = await createPeerNode({ seed: randomBytes(32) });
  const stream = await node.dialProtocol(multiaddr(addr), PROTOCOL);
  const block = randomBytes(payloadBytes);
  let messages = 0;
  const start = performance.now();
  const cpu = process.cpuUsage();
  if (mode === 'raw') {
    for (let sent = 0; sent < totalBytes; sent += block.byteLength) {
      stream.send(block);
      messages++;
      while (stream.writableNeedsDrain) {
        await new Promise((resolve) => stream.addEventListener('drain', resolve, { once: true }));
      }
    }
    await stream.close();
  } else {
    const writer = new FrameWriter(stream);
    for (let sent = 0; sent < totalBytes; sent += block.byteLength) {
      await writer.write({ type: 'chunk', seq: messages }, block);
      messages++;
    }
    await writer.close();
  }
  // wait for the receiver's close: everything was read
  if (stream.status === 'open') await new Promise((resolve) => stream.addEventListener('close', resolve));
  const seconds = (performance.now() - start) / 1000;
  const cpuSeconds = cpuSecondsSince(cpu);
  const result: Result = {
    role: 'sender',
    mode,
    bytes: totalBytes,
    messages,
    cpuSeconds,
    seconds,
    maxRssMiB: maxRssMiB(),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  await node.stop();
}

/**
 * A sender or receiver, on the runtime shoal gives a seeder (`serve`) or a downloader (`clone`):
 * the ceiling is then the network stack's, not a default heap's.
 */
function child(
  role: 'sender' | 'receiver',
  args: string[],
): { proc: ChildProcess; lines: AsyncIterator<string> } {
  const runtime = runtimeFor(role === 'sender' ? 'serve' : 'clone');
  const proc = spawn(process.execPath, [...runtime.flags, process.argv[1]!, '--role', role, ...args], {
    env: { ...process.env, ...runtime.env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), 300_000);
  proc.on('exit', () => clearTimeout(timer));
  return { proc, lines: createInterface({ input: proc.stdout! })[Symbol.asyncIterator]() };
}

async function nextJson(lines: AsyncIterator<string>): Promise<Record<string, unknown>> {
  const line = await lines.next();
  if (line.done) throw new Error('child exited without output');
  return JSON.parse(line.value) as Record<string, unknown>;
}

async function run(mode: string): Promise<Record<string, unknown>> {
  const common = [
    '--mode',
    mode,
    '--mib',
    String(values.mib),
    '--payload-kib',
    String(values['payload-kib']),
  ];
  const recv = child('receiver', common);
  const { addr } = (await nextJson(recv.lines)) as { addr: string };
  const send = child('sender', ['--addr', addr, ...common]);
  const s = (await nextJson(send.lines)) as unknown as Result;
  const r = (await nextJson(recv.lines)) as unknown as Result;
  if (r.bytes !== totalBytes) throw new Error(`receiver got ${r.bytes} of ${totalBytes} bytes`);
  return {
    mode,
    payloadKiB: payloadBytes / 1024,
    MiB: totalBytes / MiB,
    messages: r.messages || s.messages,
    receiverMBps: Math.round(r.bytes / 1e6 / r.seconds),
    senderMBps: Math.round(totalBytes / 1e6 / s.seconds),
    senderCpuSeconds: Number(s.cpuSeconds.toFixed(2)),
    receiverCpuSeconds: Number(r.cpuSeconds.toFixed(2)),
    senderMaxRssMiB: s.maxRssMiB,
    receiverMaxRssMiB: r.maxRssMiB,
  };
}

if (values.role === 'receiver') await receiver(values.mode);
else if (values.role === 'sender') await sender(values.mode, values.addr!);
else {
  const modes = values.mode === 'all' ? ['raw', 'frames'] : [values.mode];
  const results = [];
  for (const mode of modes) results.push(await run(mode));
  if (values.json) process.stdout.write(`${JSON.stringify(results)}\n`);
  else
    for (const r of results) {
      process.stdout.write(
        `${String(r.mode).padEnd(7)} ${r.MiB} MiB in ${r.payloadKiB} KiB sends: ${r.receiverMBps} MB/s received ` +
          `(${r.senderMBps} MB/s sender); CPU s sender ${r.senderCpuSeconds}, receiver ${r.receiverCpuSeconds}; ` +
          `max RSS sender ${r.senderMaxRssMiB} MiB, receiver ${r.receiverMaxRssMiB} MiB\n`,
      );
    }
}
