// The store: packs and the SQLite index (round trip, dedup, verification on read), crash
// recovery, the writer lock, refs and the staging index.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import {
  encodeTree,
  hashChunk,
  isShoalError,
  type ObjectId,
  toHex,
  xorshiftStream,
} from '../../src/core/index.ts';
import { Repository, readSnapshot } from '../../src/store/index.ts';
import { directIoSupported, lockHolder, tempDir } from '../helpers.ts';

const hexOf = (id: Uint8Array | undefined): string | undefined =>
  id ? Buffer.from(id).toString('hex') : undefined;

// Keep the user's real config out of these tests (Repository reads the global config).
process.env.SHOAL_CONFIG_DIR = mkdtempSync(join(tmpdir(), 'shoal-store-config-'));
process.on('exit', () => rmSync(process.env.SHOAL_CONFIG_DIR!, { recursive: true, force: true }));

type T = Parameters<typeof tempDir>[0];

function closeOnce(repo: Repository): void {
  if (repo.db.isOpen) repo.close();
}

function newRepo(t: T): { dir: string; repo: Repository } {
  const dir = tempDir(t);
  const repo = Repository.init(dir);
  t.after(() => closeOnce(repo));
  return { dir, repo };
}

function reopen(t: T, dir: string): Repository {
  const repo = Repository.open(dir);
  t.after(() => closeOnce(repo));
  return repo;
}

const packDir = (dir: string): string => join(dir, '.shoal', 'packs');
const packs = (dir: string): string[] => readdirSync(packDir(dir)).sort();
const packPath = (dir: string, n = 1): string =>
  join(packDir(dir), `pack-${String(n).padStart(6, '0')}.pack`);
const committedSize = (repo: Repository, n = 1): number =>
  (repo.db.prepare('SELECT size FROM packs WHERE id = ?').get(n) as { size: number }).size;

function flipByte(file: string, offset: number): void {
  const buf = readFileSync(file);
  buf[offset]! ^= 0x5a;
  writeFileSync(file, buf);
}

/** Store chunks (and commit them) holding the writer lock. */
async function put(repo: Repository, chunks: Uint8Array[]): Promise<{ ids: ObjectId[]; fresh: boolean[] }> {
  return repo.withWriteLock(async () => {
    const session = await repo.objects.beginSession();
    const ids: ObjectId[] = [];
    const fresh: boolean[] = [];
    for (const c of chunks) {
      const id = hashChunk(c);
      ids.push(id);
      fresh.push(await session.putChunk(id, c));
    }
    await session.close();
    return { ids, fresh };
  });
}

function assertCode(fn: () => unknown, code: string, pattern?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isShoalError(e), `not a ShoalError: ${e}`);
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

test('init creates the layout; open finds the root from below; errors are typed', (t) => {
  const { dir } = newRepo(t);
  assert.ok(existsSync(join(dir, '.shoal', 'index.db')));
  assert.ok(existsSync(join(dir, '.shoal', 'config.json')));
  assert.deepEqual(packs(dir), []);
  mkdirSync(join(dir, 'a', 'b'), { recursive: true });
  const repo = reopen(t, join(dir, 'a', 'b'));
  assert.equal(repo.root, dir);
  assert.deepEqual(repo.chunker, { min: 16384, avg: 65536, max: 262144 });
  assert.deepEqual(repo.refs.head(), { kind: 'branch', name: 'main' });
  assert.equal(repo.refs.headCommit(), undefined);
  assertCode(() => Repository.init(dir), 'ALREADY_A_REPOSITORY');
  assertCode(() => Repository.open(tempDir(t)), 'NOT_A_REPOSITORY');
  assertCode(() => Repository.open(join(dir, 'missing')), 'PATH_NOT_FOUND');
});

test('putChunk, checkpoint and read round trip; readers see only committed objects', async (t) => {
  const { dir, repo } = newRepo(t);
  const random = randomBytes(200_000);
  const zeros = new Uint8Array(100_000);
  const empty = new Uint8Array(0);
  const tree = encodeTree({ entries: [] });
  const ids = [hashChunk(random), hashChunk(zeros), hashChunk(empty)];
  await repo.withWriteLock(async () => {
    const session = await repo.objects.beginSession();
    assert.equal(await session.putChunk(ids[0]!, random), true);
    assert.equal(await session.putChunk(ids[1]!, zeros), true);
    assert.equal(await session.putChunk(ids[2]!, empty), true);
    assert.equal(await session.putObject(tree), true);
    // Written but not committed: the session knows, the index does not yet.
    assert.equal(session.has(ids[0]!), true);
    assert.equal(repo.objects.has(ids[0]!), false);
    assert.equal(repo.objects.info(ids[0]!), undefined);
    await session.flush();
    assert.equal(repo.objects.has(ids[0]!), true);
    await session.close();
  });
  const again = reopen(t, dir);
  assert.deepEqual(Buffer.from(again.objects.read(ids[0]!, 'chunk')), random);
  assert.deepEqual(Buffer.from(again.objects.read(ids[1]!)), Buffer.from(zeros));
  assert.equal(again.objects.read(ids[2]!).length, 0);
  assert.deepEqual(Buffer.from(again.objects.read(tree.id, 'tree')), Buffer.from(tree.bytes));
  // Compression only where it pays: random stays raw, zeros shrink.
  const rnd = again.objects.info(ids[0]!)!;
  const zer = again.objects.info(ids[1]!)!;
  assert.equal(rnd.type, 'chunk');
  assert.equal(rnd.codec, 0);
  assert.equal(rnd.stored, random.length);
  assert.equal(zer.codec, 1);
  assert.ok(zer.stored < 1000, `zeros stored in ${zer.stored} bytes`);
  assert.equal(zer.size, zeros.length);
  assert.equal(again.objects.info(tree.id)!.type, 'tree');
  const totals = again.objects.totals();
  assert.equal(totals.objects, 4);
  assert.equal(totals.chunks, 3);
  assert.equal(totals.logical, random.length + zeros.length + tree.bytes.length);
  assert.deepEqual(
    [...again.objects.list()].map((o) => toHex(o.id)).sort(),
    [...ids, tree.id].map(toHex).sort(),
  );
  // The pack holds exactly the committed bytes.
  assert.deepEqual(packs(dir), ['pack-000001.pack']);
  assert.equal(statSync(packPath(dir)).size, committedSize(again));
  // Reading asks for a type: a chunk is not a tree.
  assertCode(() => again.objects.read(ids[0]!, 'tree'), 'CORRUPT_OBJECT');
  assertCode(() => again.objects.read(hashChunk(Buffer.from('never stored'))), 'MISSING_OBJECT');
});

test('dedup: a second put of the same chunk returns false and stores nothing', async (t) => {
  const { dir, repo } = newRepo(t);
  const a = randomBytes(70_000);
  const b = randomBytes(70_000);
  const first = await put(repo, [a, b, a]);
  assert.deepEqual(first.fresh, [true, true, false], 'a duplicate within one session');
  const size = statSync(packPath(dir)).size;
  const second = await put(repo, [b, a]);
  assert.deepEqual(second.fresh, [false, false], 'duplicates across sessions');
  assert.equal(statSync(packPath(dir)).size, size);
  assert.equal(repo.objects.totals().chunks, 2);
  // putObject dedups the same way.
  const tree = encodeTree({ entries: [] });
  await repo.withWriteLock(async () => {
    const s = await repo.objects.beginSession();
    assert.equal(await s.putObject(tree), true);
    assert.equal(await s.putObject(tree), false);
    await s.close();
    const s2 = await repo.objects.beginSession();
    assert.equal(await s2.putObject(tree), false);
    await s2.close();
  });
});

test('sessions writing directly and through the page cache append to one pack, readable alike', async (t) => {
  const { dir, repo } = newRepo(t);
  const direct = directIoSupported(packDir(dir));
  // Odd sizes, so every session after the first starts in the middle of a block; chunks lent
  // (as add lends them) and copied, the lent ones overwritten as soon as they are written; a
  // checkpoint after every other chunk, as one comes every 128 MiB (its partial last block goes
  // through the page cache, and the next direct write rewrites that block whole).
  const sizes = [70_001, 4_095, 300_000, 1, 2_100_000, 65_537];
  const stored: Buffer[] = [];
  const session = async (asked: boolean, end: 'close' | 'abort'): Promise<Buffer[]> => {
    const chunks: Buffer[] = [];
    await repo.withWriteLock(async () => {
      const s = await repo.objects.beginSession({ direct: asked });
      assert.equal(s.direct, asked && direct, 'O_DIRECT where asked for and available');
      for (const [i, size] of sizes.entries()) {
        const bytes = randomBytes(size);
        chunks.push(Buffer.from(bytes));
        if (i % 2 === 0) {
          await s.putChunkLending(hashChunk(bytes), bytes);
          await s.lentWritten();
          bytes.fill(0x5a); // no longer the session's
        } else {
          await s.putChunk(hashChunk(bytes), bytes);
          await s.checkpoint();
        }
      }
      await (end === 'close' ? s.close() : s.abort());
    });
    return chunks;
  };
  for (const asked of [true, false, true, true, false]) stored.push(...(await session(asked, 'close')));
  // A direct session dropped at the end: its records go, the pack ends where the index says.
  const dropped = await session(true, 'abort');
  assert.equal(packs(dir).length, 1);
  const check = (r: Repository): void => {
    for (const bytes of stored) assert.ok(Buffer.from(r.objects.read(hashChunk(bytes))).equals(bytes));
    for (const bytes of dropped.slice(-1)) assert.equal(r.objects.has(hashChunk(bytes)), false);
  };
  check(repo);
  repo.close();
  const again = reopen(t, dir);
  check(again);
  assert.equal(statSync(packPath(dir)).size, committedSize(again));
});

test('a pack deleted by a gc elsewhere is let go: its space is not held by a reader', async (t) => {
  const { dir, repo } = newRepo(t);
  const a = randomBytes(70_000);
  await put(repo, [a]);
  repo.objects.read(hashChunk(a)); // the pack is open now
  const held = (): number =>
    readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === `${packPath(dir)} (deleted)`;
      } catch {
        return false;
      }
    }).length;
  rmSync(packPath(dir)); // what a gc does once it copied what it keeps
  if (!existsSync('/proc/self/fd')) return t.skip('no /proc to see open files in');
  assert.equal(held(), 1, 'the reader holds the deleted pack');
  repo.objects.releaseDeletedPacks();
  assert.equal(held(), 0);
});

test('a flipped byte in a pack is detected on read, naming the object', async (t) => {
  const { dir, repo } = newRepo(t);
  const raw = randomBytes(100_000);
  const packed = Buffer.from(xorshiftStream(3, 1000).toString().repeat(50)); // compressible
  const other = randomBytes(50_000);
  const { ids } = await put(repo, [raw, packed, other]);
  const [rawInfo, packedInfo] = [repo.objects.info(ids[0]!)!, repo.objects.info(ids[1]!)!];
  assert.equal(packedInfo.codec, 1);
  repo.close();

  flipByte(packPath(dir), rawInfo.offset + 44 + 5000); // inside the raw chunk's data
  let r = reopen(t, dir);
  assertCode(() => r.objects.read(ids[0]!), 'CORRUPT_OBJECT', new RegExp(toHex(ids[0]!)));
  assert.deepEqual(Buffer.from(r.objects.read(ids[2]!)), other, 'other objects still read');
  r.close();

  flipByte(packPath(dir), packedInfo.offset + 44 + 20); // inside compressed data
  r = reopen(t, dir);
  assertCode(() => r.objects.read(ids[1]!), 'CORRUPT_OBJECT', new RegExp(toHex(ids[1]!)));
  r.close();

  flipByte(packPath(dir), rawInfo.offset + 44 + 5000); // undo
  flipByte(packPath(dir), rawInfo.offset + 20); // inside the record header's id
  r = reopen(t, dir);
  assertCode(() => r.objects.read(ids[0]!), 'CORRUPT_OBJECT', /header/);
  r.close();

  truncateSync(packPath(dir), statSync(packPath(dir)).size - 10); // the last record is cut short
  r = reopen(t, dir);
  assertCode(() => r.objects.read(ids[2]!), 'CORRUPT_OBJECT');
  r.close();

  renameSync(packPath(dir), `${packPath(dir)}.moved`);
  r = reopen(t, dir);
  assertCode(() => r.objects.read(ids[2]!), 'CORRUPT_OBJECT', /missing/);
});

test('after a long run of incompressible chunks, compressible ones are found within 64 and stored compressed', async (t) => {
  const { repo } = newRepo(t);
  const random = Array.from({ length: 400 }, () => randomBytes(16 * 1024));
  const text = Array.from({ length: 100 }, (_, i) => Buffer.from(`chunk ${i} of a log file\n`.repeat(700)));
  const { ids } = await put(repo, [...random, ...text]);
  const codecs = ids.map((id) => repo.objects.info(id)!.codec);
  assert.ok(
    codecs.slice(0, 400).every((c) => c === 0),
    'random chunks stay raw',
  );
  const first = codecs.indexOf(1, 400) - 400;
  assert.ok(first >= 0 && first < 64, `the first compressed chunk is text chunk ${first}`);
  assert.ok(
    codecs.slice(400 + first).every((c) => c === 1),
    'from there every text chunk is probed and compressed',
  );
  closeOnce(repo);
});

test('readChunkInto places raw and compressed chunks and refuses a corrupt one', async (t) => {
  const { dir, repo } = newRepo(t);
  const raw = randomBytes(100_000);
  const packed = Buffer.from(xorshiftStream(3, 1000).toString().repeat(50)); // compressible
  const { ids } = await put(repo, [raw, packed]);
  assert.equal(repo.objects.info(ids[1]!)!.codec, 1, 'the second chunk is stored compressed');
  const target = Buffer.alloc(10 + raw.length + packed.length, 0xee);
  repo.objects.readChunkInto(ids[0]!, raw.length, target, 10);
  repo.objects.readChunkInto(ids[1]!, packed.length, target, 10 + raw.length);
  assert.deepEqual(target.subarray(0, 10), Buffer.alloc(10, 0xee), 'bytes before the chunk untouched');
  assert.deepEqual(target.subarray(10, 10 + raw.length), raw);
  assert.deepEqual(target.subarray(10 + raw.length), packed);
  assertCode(
    () => repo.objects.readChunkInto(ids[0]!, raw.length - 1, target, 0),
    'CORRUPT_OBJECT',
    /index says/,
  );

  const rawInfo = repo.objects.info(ids[0]!)!;
  repo.close();
  flipByte(packPath(dir), rawInfo.offset + 44 + 777);
  const r = reopen(t, dir);
  assertCode(
    () => r.objects.readChunkInto(ids[0]!, raw.length, Buffer.alloc(raw.length), 0),
    'CORRUPT_OBJECT',
    new RegExp(toHex(ids[0]!)),
  );
});

test('readPlaced reads a raw chunk into the memory given, anything else into its own', async (t) => {
  const { dir, repo } = newRepo(t);
  const raw = randomBytes(100_000);
  const packed = Buffer.from(xorshiftStream(3, 1000).toString().repeat(50)); // compressible
  const { ids } = await put(repo, [raw, packed]);
  const memory = Buffer.alloc(300_000);
  let given = 0;
  const place = (size: number) => {
    given += size;
    return memory.subarray(given - size, given);
  };
  const first = repo.objects.readPlaced(ids[0]!, place);
  assert.equal(first.buffer, memory.buffer, 'the raw chunk is read into the memory given');
  assert.deepEqual(Buffer.from(first), raw);
  const second = repo.objects.readPlaced(ids[1]!, place);
  assert.notEqual(second.buffer, memory.buffer, 'a compressed chunk is not');
  assert.deepEqual(Buffer.from(second), packed);
  const tree = encodeTree({ entries: [] });
  await repo.withWriteLock(async () => {
    const session = await repo.objects.beginSession();
    await session.putObject(tree);
    await session.close();
  });
  assert.equal(repo.objects.info(tree.id)!.codec, 0, 'the tree is stored raw');
  assert.deepEqual(Buffer.from(repo.objects.readPlaced(tree.id, place)), Buffer.from(tree.bytes));
  assert.equal(given, raw.length, 'only the raw chunk took memory given');

  const rawInfo = repo.objects.info(ids[0]!)!;
  repo.close();
  flipByte(packPath(dir), rawInfo.offset + 44 + 777);
  const r = reopen(t, dir);
  assertCode(() => r.objects.readPlaced(ids[0]!, place), 'CORRUPT_OBJECT', new RegExp(toHex(ids[0]!)));
});

test('recovery on open for writing truncates an uncommitted pack tail and removes stray packs', async (t) => {
  const { dir, repo } = newRepo(t);
  const a = randomBytes(300_000);
  const { ids } = await put(repo, [a]);
  const committed = committedSize(repo);
  repo.close();
  // What a crash between writing pack bytes and committing their rows leaves behind.
  appendFileSync(packPath(dir), randomBytes(123_457));
  writeFileSync(packPath(dir, 2), randomBytes(1000));
  const r = reopen(t, dir);
  assert.equal(statSync(packPath(dir)).size, committed + 123_457, 'readers do not repair');
  assert.deepEqual(Buffer.from(r.objects.read(ids[0]!)), a, 'the tail does not disturb readers');
  r.lockForWrite();
  r.unlock();
  assert.equal(statSync(packPath(dir)).size, committed);
  assert.deepEqual(packs(dir), ['pack-000001.pack']);
  // Writing resumes at the committed end.
  const b = randomBytes(100_000);
  const next = await put(r, [b]);
  assert.equal(r.objects.info(next.ids[0]!)!.offset, committed);
  assert.deepEqual(Buffer.from(r.objects.read(ids[0]!)), a);
  assert.deepEqual(Buffer.from(r.objects.read(next.ids[0]!)), b);
  // A pack the index knows but the disk lost is an error, not silently dropped.
  r.close();
  rmSync(packPath(dir));
  const broken = reopen(t, dir);
  assertCode(() => broken.lockForWrite(), 'CORRUPT_OBJECT', /missing/);
});

test('abort drops what was written since the last flush', async (t) => {
  const { dir, repo } = newRepo(t);
  const kept = randomBytes(50_000);
  const dropped = Array.from({ length: 5 }, () => randomBytes(3 << 20)); // past the write buffer
  await repo.withWriteLock(async () => {
    const s = await repo.objects.beginSession();
    await s.putChunk(hashChunk(kept), kept);
    await s.flush();
    for (const d of dropped) await s.putChunk(hashChunk(d), d);
    await s.abort();
  });
  assert.equal(repo.objects.has(hashChunk(kept)), true);
  for (const d of dropped) assert.equal(repo.objects.has(hashChunk(d)), false);
  assert.equal(statSync(packPath(dir)).size, committedSize(repo));
  assert.deepEqual(Buffer.from(repo.objects.read(hashChunk(kept))), kept);
});

/** A child process holding the writer lock of `dir` until it is killed. */
test('the writer lock keeps a second writer out and is taken over from a dead owner', async (t) => {
  const { dir, repo } = newRepo(t);
  const lockFile = join(dir, '.shoal', 'lock');
  const child = await lockHolder(dir);
  t.after(() => child.kill('SIGKILL'));
  assert.equal(Number.parseInt(readFileSync(lockFile, 'utf8'), 10), child.pid);
  assertCode(() => repo.lockForWrite(), 'LOCKED', new RegExp(String(child.pid)));
  await assert.rejects(put(repo, [randomBytes(10)]), (e) => isShoalError(e, 'LOCKED'));
  // The owner dies without releasing the lock (kill -9): the next writer takes it over.
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
  assert.equal(
    Number.parseInt(readFileSync(lockFile, 'utf8'), 10),
    child.pid,
    'the stale lock is still there',
  );
  repo.lockForWrite();
  assert.equal(Number.parseInt(readFileSync(lockFile, 'utf8'), 10), process.pid);
  repo.unlock();
  assert.equal(existsSync(lockFile), false, 'unlock removes the lock file');
});

test('a second writer in the same process is refused, not let in as if the lock were stale', async (t) => {
  const { dir, repo } = newRepo(t);
  // The daemon runs many operations in one process: the pid in the lock file is its own.
  repo.lockForWrite();
  const other = Repository.open(dir);
  t.after(() => other.close());
  assertCode(() => other.lockForWrite(), 'LOCKED', /another operation of this process/);
  await assert.rejects(
    repo.withWriteLock(async () => {}), // a separate async context of the same repository
    (e) => isShoalError(e, 'LOCKED'),
  );
  repo.unlock();
  other.lockForWrite();
  other.unlock();
  // A lock file with this process's pid that nothing here holds (a crashed process whose pid
  // was reused) is stale.
  writeFileSync(join(dir, '.shoal', 'lock'), String(process.pid));
  repo.lockForWrite();
  repo.unlock();
});

test('a lock file naming a dead process is stale', async (t) => {
  const { dir, repo } = newRepo(t);
  const dead = spawnSync(process.execPath, ['-e', '']);
  assert.equal(dead.status, 0);
  writeFileSync(join(dir, '.shoal', 'lock'), String(dead.pid));
  const { fresh } = await put(repo, [randomBytes(1000)]);
  assert.deepEqual(fresh, [true]);
  assert.equal(existsSync(join(dir, '.shoal', 'lock')), false);
});

test('refs: compare-and-swap updates, HEAD, reflog', (t) => {
  const { repo } = newRepo(t);
  const a = hashChunk(Buffer.from('a'));
  const b = hashChunk(Buffer.from('b'));
  assert.equal(repo.refs.update('refs/heads/main', a, 'first', null), true);
  assert.equal(repo.refs.update('refs/heads/main', b, 'lost race', null), false);
  assert.equal(toHex(repo.refs.get('refs/heads/main')!), toHex(a));
  assert.equal(repo.refs.update('refs/heads/main', b, 'second', a), true);
  assert.equal(toHex(repo.refs.headCommit()!), toHex(b));
  repo.refs.setHead({ kind: 'detached', id: a });
  assert.equal(toHex(repo.refs.headCommit()!), toHex(a));
  repo.refs.setHead({ kind: 'branch', name: 'main' });
  assert.deepEqual(
    repo.refs.reflog('refs/heads/main').map((e) => e.message),
    ['second', 'first'],
  );
  assert.equal(repo.refs.update('refs/heads/main', null, 'delete'), true);
  assert.equal(repo.refs.get('refs/heads/main'), undefined);
});

test('staging: apply and replace are atomic and keep stat stamps', (t) => {
  const { repo } = newRepo(t);
  const id = hashChunk(Buffer.from('x'));
  const stamp = {
    mtimeNs: 1_700_000_000_123_456_789n,
    ctimeNs: 1_700_000_000_987_654_321n,
    ino: 42n,
    size: 1,
  };
  repo.staging.apply([
    { path: 'a/b', kind: 'file', executable: true, size: 1, id, height: 0, stamp },
    { path: 'c', kind: 'symlink', executable: false, size: 1, id, height: 0, stamp: null },
  ]);
  const all = [...repo.staging.entries()];
  assert.deepEqual(
    all.map((e) => [e.path, e.kind, e.executable, e.stamp]),
    [
      ['a/b', 'file', true, stamp],
      ['c', 'symlink', false, null],
    ],
  );
  repo.staging.apply([], ['a/b']);
  assert.deepEqual(
    [...repo.staging.entries()].map((e) => e.path),
    ['c'],
  );
  repo.staging.replace([{ path: 'z', kind: 'file', executable: false, size: 1, id, height: 0, stamp: null }]);
  assert.deepEqual(
    [...repo.staging.entries()].map((e) => e.path),
    ['z'],
  );
  assert.equal(repo.staging.count(), 1);
});

test('staging: the generation moves with content, not stamps, and voids a recorded matching tree', (t) => {
  const { repo } = newRepo(t);
  const id = hashChunk(Buffer.from('x'));
  const other = hashChunk(Buffer.from('y'));
  const tree = hashChunk(Buffer.from('a tree'));
  const entry = { path: 'a', kind: 'file' as const, executable: false, size: 1, id, height: 0, stamp: null };
  repo.staging.apply([entry]);
  const g1 = repo.staging.generation();
  repo.staging.recordMatchingTree(tree, g1);
  assert.equal(hexOf(repo.staging.matchingTree()), hexOf(tree));

  // A fresh stat stamp is not a change of content.
  repo.staging.apply([{ ...entry, stamp: { mtimeNs: 5n, ctimeNs: 6n, ino: 7n, size: 1 } }]);
  assert.equal(repo.staging.generation(), g1);
  assert.equal(hexOf(repo.staging.matchingTree()), hexOf(tree));

  const changes: [string, () => void][] = [
    ['a new id', () => repo.staging.apply([{ ...entry, id: other }])],
    ['the executable bit', () => repo.staging.apply([{ ...entry, executable: true }])],
    ['a new path', () => repo.staging.apply([{ ...entry, path: 'b' }])],
    ['a removal', () => repo.staging.apply([], ['b'])],
    ['a replacement', () => repo.staging.replace([entry])],
    // A program that writes the table its own way (an older shoal) is caught by the triggers too.
    ['a raw write', () => repo.db.prepare("UPDATE staging SET kind = 'symlink' WHERE path = 'a'").run()],
    [
      'INSERT OR REPLACE',
      () => repo.db.prepare("INSERT OR REPLACE INTO staging SELECT * FROM staging WHERE path = 'a'").run(),
    ],
  ];
  for (const [what, change] of changes) {
    const before = repo.staging.generation();
    repo.staging.recordMatchingTree(tree, before);
    change();
    assert.notEqual(repo.staging.generation(), before, what);
    assert.equal(repo.staging.matchingTree(), undefined, what);
  }
  // A record taken at a generation that has since passed is void from the start.
  repo.staging.recordMatchingTree(tree, g1);
  assert.equal(repo.staging.matchingTree(), undefined);
});

test('a flush commits only records written before it: one appended while it waits is left for the next', async (t) => {
  const { dir, repo } = newRepo(t);
  const a = randomBytes(70_000);
  const d = randomBytes(70_000);
  await repo.withWriteLock(async () => {
    const s = await repo.objects.beginSession();
    await s.putChunk(hashChunk(a), a);
    await s.checkpoint(); // A's fsync runs on while the flush below waits for it
    const flushed = s.flush();
    // Appended while the flush waits (a late chunk of an interrupted fetch): not written yet.
    const late = s.putChunk(hashChunk(d), d);
    await flushed;
    await late;
    await s.abort(); // the interrupted fetch gives up the session: D's bytes were never written
  });
  repo.close();
  const again = reopen(t, dir);
  assert.deepEqual(again.objects.read(hashChunk(a)), a);
  // D is either stored whole or not known at all: never a row pointing at bytes not in the pack.
  if (again.objects.has(hashChunk(d))) assert.deepEqual(again.objects.read(hashChunk(d)), d);
  const size = again.db.prepare('SELECT size FROM packs').get() as { size: number };
  assert.ok(size.size <= statSync(packPath(dir)).size, `index says ${size.size} bytes`);
});

test('readSnapshot reads one snapshot, ends it even when fn throws, and runs inside a transaction already open', (t) => {
  const { dir, repo } = newRepo(t);
  repo.db.exec('CREATE TABLE scratch (x INTEGER)');
  const other = new DatabaseSync(join(dir, '.shoal', 'index.db'));
  t.after(() => other.close());
  const count = () => (repo.db.prepare('SELECT COUNT(*) AS n FROM scratch').get() as { n: number }).n;
  const seen = readSnapshot(repo.db, () => {
    const before = count();
    other.exec('INSERT INTO scratch VALUES (1)'); // another connection writes meanwhile
    return [before, count(), repo.db.isTransaction];
  });
  assert.deepEqual(seen, [0, 0, true]);
  assert.equal(repo.db.isTransaction, false);
  assert.equal(count(), 1);
  assert.throws(
    () =>
      readSnapshot(repo.db, () => {
        throw new Error('boom');
      }),
    /boom/,
  );
  assert.equal(repo.db.isTransaction, false);
  repo.db.exec('BEGIN');
  assert.equal(
    readSnapshot(repo.db, () => count()),
    1,
  );
  assert.equal(repo.db.isTransaction, true, "the caller's transaction is left open");
  repo.db.exec('COMMIT');
});
