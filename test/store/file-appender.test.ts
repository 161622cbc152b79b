// FileAppender: whatever the mix of append sizes, flushes and starting offsets, the file ends up
// holding exactly the bytes appended, with O_DIRECT where the filesystem takes it and without.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  ftruncateSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FileAppender } from '../../src/store/file-appender.ts';
import { directIoSupported } from '../helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'shoal-appender-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// Sizes chosen to cross block and buffer boundaries in every way: tiny records, chunk-sized
// ones, one exactly a block, and one larger than a whole 2 MiB buffer.
const SIZES = [
  44,
  4096,
  65_536 + 44,
  1,
  262_144,
  3 * 1024 * 1024 + 7,
  4095,
  100_000,
  2 * 1024 * 1024,
  12_345,
];

async function appendMany(out: FileAppender, flushEvery: number): Promise<Buffer[]> {
  const parts: Buffer[] = [];
  let n = 0;
  for (let round = 0; round < 6; round++) {
    for (const size of SIZES) {
      const bytes = randomBytes(size);
      parts.push(bytes);
      await out.appendBytes(bytes);
      if (++n % flushEvery === 0) await out.flush();
    }
  }
  await out.flush();
  return parts;
}

for (const direct of [true, false]) {
  for (const flushEvery of [1, 7, 1000]) {
    test(`appends land exactly (direct ${direct}, flush every ${flushEvery})`, async () => {
      const path = join(dir, `a-${direct}-${flushEvery}`);
      const fd = openSync(path, 'w+');
      const out = new FileAppender(fd, path, 0, { direct });
      if (!direct) assert.equal(out.direct, false);
      else if (directIoSupported(dir)) assert.equal(out.direct, true, 'O_DIRECT is available but unused');
      const parts = await appendMany(out, flushEvery);
      const expected = Buffer.concat(parts);
      assert.equal(out.position, expected.length);
      await out.release();
      closeSync(fd);
      assert.ok(readFileSync(path).equals(expected));
    });
  }
}

for (const direct of [true, false]) {
  test(`lent bytes land in order among copied ones and zeros, and are theirs again once written (direct ${direct})`, async () => {
    const path = join(dir, `lend-${direct}`);
    const fd = openSync(path, 'w+');
    const out = new FileAppender(fd, path, 0, { direct });
    const expected: Buffer[] = [];
    const lentNow: Buffer[] = [];
    let n = 0;
    for (let round = 0; round < 4; round++) {
      for (const size of SIZES) {
        const header = randomBytes(1 + (n % 60));
        const body = randomBytes(size);
        expected.push(header, Buffer.from(body));
        await out.appendLending(header.length, (buf, at) => buf.set(header, at), body);
        lentNow.push(body);
        if (++n % 5 === 0) {
          await out.appendBytes(randomBytes(0)); // copied records between lent ones
          const plain = randomBytes(300);
          expected.push(plain);
          await out.appendBytes(plain);
        }
        if (n % 7 === 0) {
          const run = n % 2 === 0 ? 300_000 : 3000; // with a hole, and too short for one
          expected.push(Buffer.alloc(run));
          await out.appendZeros(run);
        }
        if (n % 9 === 0) {
          await out.lentWritten();
          for (const b of lentNow.splice(0)) b.fill(0xee); // the lender reuses its memory
        }
      }
    }
    await out.flush();
    const all = Buffer.concat(expected);
    assert.equal(out.position, all.length);
    await out.release();
    closeSync(fd);
    assert.ok(readFileSync(path).equals(all));
  });
}

for (const direct of [true, false]) {
  test(`zeros land as zeros, whole blocks of long runs as holes, also at the end (direct ${direct})`, async () => {
    const path = join(dir, `zeros-${direct}`);
    const fd = openSync(path, 'w+');
    const out = new FileAppender(fd, path, 0, { direct });
    const expected: Buffer[] = [];
    const data = async (n: number): Promise<void> => {
      const b = randomBytes(n);
      expected.push(b);
      await out.appendBytes(b);
    };
    const zeros = async (n: number): Promise<void> => {
      expected.push(Buffer.alloc(n));
      await out.appendZeros(n);
    };
    await data(1000); // an unaligned start for the first run
    for (let i = 0; i < 40; i++) await zeros(262_144); // one run of 10 MiB, placed as one hole
    await data(77);
    await zeros(5000); // too short for a hole
    await data(4096);
    await zeros(3 * 1024 * 1024 + 3);
    await out.flush();
    ftruncateSync(fd, out.position); // the file ends in a hole
    const size = Buffer.concat(expected).length;
    assert.equal(out.position, size);
    await out.release();
    closeSync(fd);
    assert.ok(readFileSync(path).equals(Buffer.concat(expected)));
    // Allocated: the data and the blocks at the edges of each run, far less than 13 MiB.
    const allocated = statSync(path).blocks * 512;
    assert.ok(allocated < 1024 * 1024, `${allocated} bytes allocated for a file of ${size}`);
  });
}

test('appending from an unaligned offset keeps the bytes already there', async () => {
  const path = join(dir, 'resume');
  const head = randomBytes(8 + 5000);
  writeFileSync(path, head);
  const fd = openSync(path, 'r+');
  const out = new FileAppender(fd, path, head.length);
  assert.equal(out.position, head.length);
  const parts = await appendMany(out, 5);
  await out.release();
  closeSync(fd);
  assert.ok(readFileSync(path).equals(Buffer.concat([head, ...parts])));
});

test('an appender reused from the pool starts clean', async () => {
  for (let i = 0; i < 3; i++) {
    const path = join(dir, `pool-${i}`);
    const fd = openSync(path, 'w+');
    const out = new FileAppender(fd, path, 0);
    const bytes = randomBytes(1000 + i);
    await out.appendBytes(bytes);
    await out.flush();
    await out.release();
    closeSync(fd);
    assert.ok(readFileSync(path).equals(bytes));
    await assert.rejects(out.appendBytes(bytes), /after release/);
  }
});

test('a write error is reported, not dropped', async () => {
  const path = join(dir, 'readonly');
  writeFileSync(path, '');
  const fd = openSync(path, 'r'); // appends through a read-only descriptor fail with EBADF
  const out = new FileAppender(fd, path, 0, { direct: false });
  await assert.rejects(
    (async () => {
      await out.appendBytes(randomBytes(3 * 1024 * 1024));
      await out.flush();
    })(),
    { code: 'EBADF' },
  );
  await out.release();
  closeSync(fd);
});

test('operations started without waiting run one at a time, in call order', async () => {
  const path = join(dir, 'overlap');
  const fd = openSync(path, 'w+');
  const out = new FileAppender(fd, path, 0);
  const parts = SIZES.map((n) => randomBytes(n));
  // Not awaited one by one, as when an aborted fetch closes its pack while a chunk is stored.
  const ops: Promise<void>[] = [];
  for (const [i, p] of parts.entries()) {
    ops.push(out.appendBytes(p));
    if (i % 3 === 2) ops.push(out.flush());
  }
  ops.push(out.flush(), out.release());
  await Promise.all(ops);
  closeSync(fd);
  assert.ok(readFileSync(path).equals(Buffer.concat(parts)));
});

test('without WebAssembly memory (as under node --jitless) it writes through the page cache', () => {
  const path = join(dir, 'jitless');
  const script = `
    import { openSync, closeSync, readFileSync } from 'node:fs';
    const { FileAppender } = await import(${JSON.stringify(new URL('../../src/store/file-appender.ts', import.meta.url).href)});
    delete globalThis.WebAssembly; // loading TypeScript needs it; what is tested does not
    const path = ${JSON.stringify(path)};
    const fd = openSync(path, 'w+');
    const out = new FileAppender(fd, path, 0);
    const bytes = Buffer.alloc(5 * 1024 * 1024 + 3, 7);
    await out.appendBytes(bytes);
    await out.flush();
    await out.release();
    closeSync(fd);
    console.log(JSON.stringify({ direct: out.direct, same: readFileSync(path).equals(bytes) }));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { direct: false, same: true });
});
