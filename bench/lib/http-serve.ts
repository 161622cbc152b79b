// A tiny HTTP mirror for the multi-source download scenario: serves one file (GET and HEAD, with
// single Range requests) and limits every connection to a byte rate with a token bucket, like a
// rate-limited mirror. Prints its URL on stdout once it listens.
//   node bench/lib/http-serve.ts --file <path> [--rate 30000000] [--host 127.0.0.1] [--port 0]
// --rate is in bytes per second (0 = unlimited). SIGINT or SIGTERM stops it; it then prints
// {"servedBytes":<n>}, the body bytes it sent.

import { createReadStream, statSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    file: { type: 'string' },
    rate: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
  },
});
if (!values.file) {
  console.error('usage: node bench/lib/http-serve.ts --file <path> [--rate <bytes/s>] [--host h] [--port p]');
  process.exit(2);
}
const file = values.file;
const name = basename(file);
const size = statSync(file).size;
const rate = Number(values.rate);
const BURST = 256 * 1024;
const BLOCK = 64 * 1024;

/** One token bucket per connection: a keep-alive connection keeps its budget across requests. */
class Bucket {
  private tokens = BURST;
  private last = performance.now();

  /** Waits until n bytes may be sent, then takes them. */
  async take(n: number): Promise<void> {
    for (;;) {
      const now = performance.now();
      this.tokens = Math.min(BURST, this.tokens + ((now - this.last) / 1000) * rate);
      this.last = now;
      if (this.tokens >= n) {
        this.tokens -= n;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.ceil(((n - this.tokens) / rate) * 1000)));
    }
  }
}

const buckets = new WeakMap<Socket, Bucket>();
let servedBytes = 0;

/** Parses a single `bytes=a-b`, `bytes=a-` or `bytes=-n` range; null if absent, 'bad' if unsatisfiable. */
function parseRange(header: string | undefined): { start: number; end: number } | null | 'bad' {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'bad';
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start > end || start >= size) return 'bad';
  return { start, end };
}

async function send(res: ServerResponse, socket: Socket, start: number, end: number): Promise<void> {
  let bucket = buckets.get(socket);
  if (!bucket) {
    bucket = new Bucket();
    buckets.set(socket, bucket);
  }
  const stream = createReadStream(file, { start, end, highWaterMark: BLOCK });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (rate > 0) await bucket.take(chunk.length);
      if (res.destroyed) return;
      servedBytes += chunk.length;
      if (!res.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
    }
    res.end();
  } finally {
    stream.destroy();
  }
}

const server = createServer((req, res) => {
  if (req.url !== `/${name}` || (req.method !== 'GET' && req.method !== 'HEAD')) {
    res.writeHead(req.url === `/${name}` ? 405 : 404).end();
    return;
  }
  const range = parseRange(req.headers.range);
  if (range === 'bad') {
    res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
    return;
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? size - 1;
  const headers: Record<string, string | number> = {
    'Accept-Ranges': 'bytes',
    'Content-Length': end - start + 1,
    'Content-Type': 'application/octet-stream',
  };
  if (range) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  res.writeHead(range ? 206 : 200, headers);
  if (req.method === 'HEAD' || size === 0) {
    res.end();
    return;
  }
  send(res, req.socket, start, end).catch(() => res.destroy());
});

server.listen(Number(values.port), values.host, () => {
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no address');
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  process.stdout.write(`http://${host}:${addr.port}/${name}\n`);
});

const stop = () => {
  process.stdout.write(`${JSON.stringify({ servedBytes })}\n`);
  server.close();
  server.closeAllConnections();
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
