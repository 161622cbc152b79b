// The worker pipeline (two workers cutting halves of a large file, re-synchronised at a common
// cut) must give exactly the chunks of a serial pass, whatever the data looks like.

import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_CHUNKER, toHex } from '../../src/core/index.ts';
import { ChunkPipeline } from '../../src/vcs/chunk-pipeline.ts';
import { ingestFile } from '../../src/vcs/index.ts';
import { tempDir } from '../helpers.ts';

const MiB = 1024 * 1024;

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
