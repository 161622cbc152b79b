// The worker pipeline (two workers cutting halves of a large file, re-synchronised at a common
// cut) must give exactly the chunks of a serial pass, whatever the data looks like.

import assert from 'node:assert/strict';
import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chunkLengths, DEFAULT_CHUNKER, hashChunk, toHex } from '../../src/core/index.ts';
import { Repository } from '../../src/store/index.ts';
import { ChunkPipeline } from '../../src/vcs/chunk-pipeline.ts';
import { contentChunks, ingestFile } from '../../src/vcs/index.ts';
import { tempDir } from '../helpers.ts';

const MiB = 1024 * 1024;

// Keep the user's real config out of these tests (Repository reads the global config).
process.env.SHOAL_CONFIG_DIR = mkdtempSync(join(tmpdir(), 'shoal-pipeline-config-'));
process.on('exit', () => rmSync(process.env.SHOAL_CONFIG_DIR!, { recursive: true, force: true }));

function randomBlock(bytes: number, seed: number): Buffer {
  return createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16)).update(Buffer.alloc(bytes));
}

async function bothWays(path: string): Promise<void> {
  const serial = await ingestFile(path, { chunker: DEFAULT_CHUNKER, session: null });
  const pipeline = new ChunkPipeline();
  try {
    const parallel = await ingestFile(path, { chunker: DEFAULT_CHUNKER, session: null, pipeline });
    assert.equal(toHex(parallel.id), toHex(serial.id));
    assert.equal(parallel.height, serial.height);
    assert.equal(parallel.size, serial.size);
  } finally {
    await pipeline.close();
  }
}

test('random data: the parallel pipeline cuts exactly as a serial pass', async (t) => {
  const path = join(tempDir(t), 'random.bin');
  writeFileSync(path, randomBlock(80 * MiB + 12345, 1));
  await bothWays(path);
});

test('data without cut points (zeros): chunks of maximum size, still identical', async (t) => {
  const path = join(tempDir(t), 'zeros.bin');
  writeFileSync(path, Buffer.alloc(72 * MiB + 7));
  await bothWays(path);
});

test('mixed data: random, zeros and a repeating pattern across the middle', async (t) => {
  const path = join(tempDir(t), 'mixed.bin');
  const fd = openSync(path, 'w');
  writeSync(fd, randomBlock(30 * MiB, 2));
  writeSync(fd, Buffer.alloc(10 * MiB));
  const pattern = randomBlock(4096, 3);
  for (let i = 0; i < 8 * 256; i++) writeSync(fd, pattern); // 8 MiB of a 4 KiB period
  writeSync(fd, randomBlock(30 * MiB + 999, 4));
  closeSync(fd);
  await bothWays(path);
});

test('one pipeline serves several files in turn', async (t) => {
  const dir = tempDir(t);
  const pipeline = new ChunkPipeline();
  try {
    for (const [i, size] of [70 * MiB, 40 * MiB, 66 * MiB].entries()) {
      const path = join(dir, `f${i}`);
      writeFileSync(path, randomBlock(size, 10 + i));
      const serial = await ingestFile(path, { chunker: DEFAULT_CHUNKER, session: null });
      const parallel = await ingestFile(path, { chunker: DEFAULT_CHUNKER, session: null, pipeline });
      assert.equal(toHex(parallel.id), toHex(serial.id));
    }
  } finally {
    await pipeline.close();
  }
});

test('stored through the pipeline: the bytes read back are the file, and no stray chunk is kept', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'mixed.bin');
  const fd = openSync(path, 'w');
  writeSync(fd, randomBlock(36 * MiB, 5));
  writeSync(fd, Buffer.alloc(3 * MiB)); // zeros across the middle, where the second worker starts
  writeSync(fd, randomBlock(36 * MiB + 4321, 6));
  closeSync(fd);
  const repo = Repository.init(join(dir, 'repo'));
  t.after(() => repo.close());
  const pipeline = new ChunkPipeline();
  const ingested = await repo.withWriteLock(async () => {
    const session = await repo.objects.beginSession();
    try {
      return await ingestFile(path, { chunker: DEFAULT_CHUNKER, session, pipeline });
    } finally {
      await session.close();
      await pipeline.close();
    }
  });
  const file = readFileSync(path);
  const readBack = createHash('sha256');
  for (const chunk of contentChunks(repo.objects, ingested)) readBack.update(chunk);
  assert.equal(readBack.digest('hex'), createHash('sha256').update(file).digest('hex'));
  // Exactly the distinct chunks of a serial pass are stored: none of the second worker's
  // chunks from before the workers' cuts met.
  const distinct = new Set<string>();
  let at = 0;
  for (const len of chunkLengths(file)) {
    distinct.add(toHex(hashChunk(file.subarray(at, at + len))));
    at += len;
  }
  assert.equal(repo.objects.totals().chunks, distinct.size);
  assert.equal(ingested.newBytes > 0, true);
});

test('a write that fails while the workers wait for their slots fails the pipeline, never hangs it', {
  timeout: 60_000,
}, async (t) => {
  const path = join(tempDir(t), 'failing.bin');
  writeFileSync(path, randomBlock(80 * MiB, 5));
  const fd = openSync(path, 'r');
  t.after(() => closeSync(fd));
  const pipeline = new ChunkPipeline();
  t.after(() => pipeline.close());
  // A target whose writes never finish until every slot of both workers is waiting for one; then
  // they all fail, as a disk that fills up behind a slow write would make them.
  const pending: ((err: Error) => void)[] = [];
  const failed = pipeline.run(fd, 80 * MiB, DEFAULT_CHUNKER, {
    store: async () => {},
    written: () =>
      new Promise<void>((_, reject) => {
        pending.push(reject);
        if (pending.length === 8) for (const r of pending) r(new Error('no space left on device'));
      }),
    emit: async () => {},
  });
  await assert.rejects(failed, /no space left on device/);
});
