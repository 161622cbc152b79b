// writeTrees streams: it writes each directory's tree as soon as the sorted file list leaves
// it. The trees must be exactly those of building the whole directory structure first.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  decodeCommit,
  encodeCommit,
  encodeTree,
  hashChunk,
  idEquals,
  isShoalError,
  type ObjectId,
  signCommit,
  type TreeEntry,
  toHex,
} from '../../src/core/index.ts';
import { namesRepoDir, Repository } from '../../src/store/index.ts';
import { checkout, diffTrees, type FlatEntry, flatten, lookup, writeTrees } from '../../src/vcs/index.ts';
import { tempDir } from '../helpers.ts';
import { fixture, IDENTITY } from './fixture.ts';

/** The reference: the whole directory structure in memory, then every tree encoded. */
function referenceRoot(files: FlatEntry[]): string {
  interface Dir {
    files: TreeEntry[];
    dirs: Map<string, Dir>;
  }
  const root: Dir = { files: [], dirs: new Map() };
  for (const f of files) {
    const parts = f.path.split('/');
    let d = root;
    for (const p of parts.slice(0, -1)) {
      if (!d.dirs.has(p)) d.dirs.set(p, { files: [], dirs: new Map() });
      d = d.dirs.get(p)!;
    }
    d.files.push({ ...f, name: parts.at(-1)! });
  }
  const enc = (d: Dir): { id: ObjectId; size: number } => {
    const entries: TreeEntry[] = [...d.files];
    for (const [name, child] of d.dirs) {
      const sub = enc(child);
      entries.push({ name, kind: 'dir', executable: false, size: sub.size, id: sub.id, height: 0 });
    }
    return { id: encodeTree({ entries }).id, size: entries.reduce((n, e) => n + e.size, 0) };
  };
  return toHex(enc(root).id);
}

function file(path: string, n: number): FlatEntry {
  return {
    path,
    kind: 'file',
    executable: n % 3 === 0,
    size: n * 10,
    id: hashChunk(Buffer.from(path)),
    height: 0,
  };
}

/** Sorted as SQLite sorts the staging index: by the bytes of the path. */
const byBytes = (a: FlatEntry, b: FlatEntry): number =>
  Buffer.compare(Buffer.from(a.path), Buffer.from(b.path));

test('streamed trees equal the trees of the whole structure, and read back as the same files', async (t) => {
  const names = ['a', 'a-b', 'a.b', 'a0', 'b', 'é', 'z z'];
  const files: FlatEntry[] = [];
  let n = 1;
  for (const x of names) {
    files.push(file(`${x}.txt`, n++));
    for (const y of names.slice(0, 4)) {
      files.push(file(`${x}/${y}`, n++));
      for (const z of names.slice(2, 5)) files.push(file(`${x}/${y}.d/${z}/leaf`, n++));
    }
  }
  files.push(file('deep/er/and/deeper/still/file', n++));
  files.sort(byBytes);
  const repo = Repository.init(tempDir(t));
  t.after(() => repo.close());
  const root = await repo.withWriteLock(async () => {
    const session = await repo.objects.beginSession();
    const r = await writeTrees(session, files);
    await session.close();
    return r;
  });
  assert.equal(toHex(root.id), referenceRoot(files));
  assert.equal(
    root.size,
    files.reduce((s, f) => s + f.size, 0),
  );
  const back = [...flatten(repo.objects, root.id)].map((e) => e.path).sort();
  assert.deepEqual(back, files.map((f) => f.path).sort());
});

test('trees nested far deeper than any path (as a peer could make them) are read and compared', async (t) => {
  // 20,000 levels: recursion over trees ran out of call stack at a tenth of that.
  const deep = `${'d/'.repeat(20_000)}f`;
  const repo = Repository.init(tempDir(t));
  t.after(() => repo.close());
  const [a, b] = await repo.withWriteLock(async () => {
    const session = await repo.objects.beginSession();
    const one = await writeTrees(session, [file(deep, 1)]);
    const two = await writeTrees(session, [file(deep, 3), file('top', 4)]); // 3: executable
    await session.close();
    return [one.id, two.id];
  });
  assert.deepEqual(
    [...flatten(repo.objects, b!)].map((e) => e.path),
    [deep, 'top'],
  );
  assert.deepEqual(
    [...diffTrees(repo.objects, a, b)].map((c) => [c.path, c.change]),
    [
      [deep, 'modified'],
      ['top', 'added'],
    ],
  );
});

test('a list that leaves a directory and comes back to it is refused, not written wrong', async (t) => {
  const repo = Repository.init(tempDir(t));
  t.after(() => repo.close());
  await repo.withWriteLock(async () => {
    const session = await repo.objects.beginSession();
    await assert.rejects(writeTrees(session, [file('a/x', 1), file('b/y', 2), file('a/z', 3)]), (err) =>
      isShoalError(err, 'INVALID_NAME'),
    );
    await session.abort();
  });
});

test("a tree with '.shoal' at its root is refused when read back into files, never written into the repository", async (t) => {
  const repo = Repository.init(tempDir(t));
  t.after(() => repo.close());
  const session = await repo.objects.beginSession();
  const content = Buffer.from('planted\n');
  const id = hashChunk(content);
  await session.putChunk(id, content);
  const inner = encodeTree({
    entries: [{ name: 'config.json', kind: 'file', executable: false, size: content.length, id, height: 0 }],
  });
  await session.putObject(inner);
  const root = encodeTree({
    entries: [
      { name: '.shoal', kind: 'dir', executable: false, size: content.length, id: inner.id, height: 0 },
    ],
  });
  await session.putObject(root);
  await session.close();
  assert.throws(
    () => [...flatten(repo.objects, root.id)],
    (err) => isShoalError(err, 'CORRUPT_OBJECT') && /'\.shoal' at the root/.test(err.message),
  );
  // So is every name that is the same directory on a case-insensitive file system, on HFS+
  // (which ignores some code points) or on Windows (trailing dots and spaces, 8.3 short names).
  for (const name of ['.SHOAL', '.Shoal', '.shoal.', '.shoal ', '.sho\u200cal', '\ufeff.shoal', 'SHOAL~1']) {
    const s = await repo.objects.beginSession();
    const alias = encodeTree({
      entries: [{ name, kind: 'dir', executable: false, size: content.length, id: inner.id, height: 0 }],
    });
    await s.putObject(alias);
    await s.close();
    assert.throws(
      () => [...flatten(repo.objects, alias.id)],
      (err) => isShoalError(err, 'CORRUPT_OBJECT'),
      JSON.stringify(name),
    );
  }
  for (const name of ['.shoalx', 'shoal', '.shoal~1', 'x.shoal'])
    assert.equal(namesRepoDir(name), false, name);
  // Lower down, a directory named exactly '.shoal' is a nested repository's: refused too, by
  // flatten and by diffTrees (what checkout, merge and switch read). A file of that name, and
  // the names that alias it only on other file systems, are the user's.
  const s2 = await repo.objects.beginSession();
  const nested = encodeTree({
    entries: [{ name: 'sub', kind: 'dir', executable: false, size: content.length, id: root.id, height: 0 }],
  });
  await s2.putObject(nested);
  const userNames = encodeTree({
    entries: [
      { name: '.SHOAL', kind: 'dir', executable: false, size: content.length, id: inner.id, height: 0 },
      { name: '.shoal', kind: 'file', executable: false, size: content.length, id, height: 0 },
    ],
  });
  await s2.putObject(userNames);
  const allowed = encodeTree({
    entries: [
      { name: 'sub', kind: 'dir', executable: false, size: content.length * 2, id: userNames.id, height: 0 },
    ],
  });
  await s2.putObject(allowed);
  await s2.close();
  const nestedRepoDir = (err: unknown): boolean =>
    isShoalError(err, 'CORRUPT_OBJECT') && /'sub\/\.shoal', where a nested repository/.test(err.message);
  assert.throws(() => [...flatten(repo.objects, nested.id)], nestedRepoDir);
  assert.throws(() => [...diffTrees(repo.objects, allowed.id, nested.id)], nestedRepoDir);
  // Away from such a tree (the side not written), a diff or checkout goes ahead.
  assert.deepEqual(
    [...diffTrees(repo.objects, nested.id, allowed.id)].map((c) => [c.path, c.change]),
    [
      ['sub/.SHOAL/config.json', 'added'],
      ['sub/.shoal', 'added'],
      ['sub/.shoal/config.json', 'deleted'],
    ],
  );
  assert.deepEqual(
    [...flatten(repo.objects, allowed.id)].map((f) => f.path),
    ['sub/.SHOAL/config.json', 'sub/.shoal'],
  );
});

test("checkout of a commit whose tree holds a nested repository's '.shoal' directory writes nothing", async (t) => {
  const f = fixture(t);
  f.write('sub/a.txt', 'one\n');
  const tip = await f.commitAll('one');
  Repository.init(join(f.dir, 'sub')).close(); // a repository nested in the working tree
  const nestedIndex = readFileSync(join(f.dir, 'sub/.shoal/index.db'));
  const planted = Buffer.from('an old copy of the nested index\n');
  const two = Buffer.from('two\n');
  const session = await f.repo.objects.beginSession();
  for (const bytes of [planted, two]) await session.putChunk(hashChunk(bytes), bytes);
  const asFile = (path: string, bytes: Buffer): FlatEntry => ({
    path,
    kind: 'file',
    executable: false,
    size: bytes.length,
    id: hashChunk(bytes),
    height: 0,
  });
  const tree = await writeTrees(session, [asFile('sub/.shoal/index.db', planted), asFile('sub/a.txt', two)]);
  const c = decodeCommit(f.repo.objects.read(tip, 'commit'));
  const crafted = encodeCommit(signCommit(IDENTITY.seed, { ...c, tree: tree.id, parents: [tip] }));
  await session.putObject(crafted);
  await session.close();
  await assert.rejects(
    checkout(f.repo, crafted.id),
    (err) =>
      isShoalError(err, 'CORRUPT_OBJECT') && /sub\/\.shoal', where a nested repository/.test(err.message),
  );
  assert.deepEqual(readFileSync(join(f.dir, 'sub/.shoal/index.db')), nestedIndex);
  assert.equal(readFileSync(join(f.dir, 'sub/a.txt'), 'utf8'), 'one\n');
});

test('diffTrees yields changes in path order, a file replaced by a directory as two paths, and reads no shared subtree', async (t) => {
  const repo = Repository.init(tempDir(t));
  t.after(() => repo.close());
  const write = async (files: FlatEntry[]): Promise<ObjectId> => {
    const session = await repo.objects.beginSession();
    const { id } = await writeTrees(session, [...files].sort(byBytes));
    await session.close();
    return id;
  };
  const shared = Array.from({ length: 50 }, (_, i) => file(`same/f${i}`, i + 1));
  const before = await write([
    ...shared,
    file('a', 1), // a file that becomes a directory
    file('a.txt', 2),
    file('b/x', 3), // a directory that becomes a file
    file('b.txt', 4),
    file('c/d/e', 5),
  ]);
  const after = await write([
    ...shared,
    file('a/inner', 6),
    file('a.txt', 3), // now executable
    file('b', 8),
    file('b.txt', 4),
    file('c/d/e', 9),
  ]);
  const sharedTree = lookup(repo.objects, before, 'same')!.id;
  const objects = repo.objects;
  const read = objects.read.bind(objects);
  let sharedReads = 0;
  objects.read = (id, type) => {
    if (idEquals(id, sharedTree)) sharedReads++;
    return read(id, type);
  };
  const changes = [...diffTrees(objects, before, after)].map((c) => [c.path, c.change]);
  objects.read = read;
  assert.equal(sharedReads, 0, 'the subtree both sides share is not read');
  assert.deepEqual(changes, [
    ['a', 'deleted'],
    ['a.txt', 'modified'],
    ['a/inner', 'added'],
    ['b', 'added'],
    ['b/x', 'deleted'],
    ['c/d/e', 'modified'],
  ]);
  // The same order flatten() and the staging index use.
  const order = changes.map(([p]) => p!);
  assert.deepEqual(
    order,
    [...order].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))),
  );
});
