// A working file edited while a move (checkout, switch, merge, pull, a push arriving) is writing
// the files before it: each path is checked again just before it is replaced, so the edit is
// kept, the move goes on, and the file shows as changed against the new commit.

import assert from 'node:assert/strict';
import { linkSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkout, createBranch, merge, status, switchBranch } from '../../src/vcs/index.ts';
import { fixture, IDENTITY, noise } from './fixture.ts';

/** A progress callback that saves `path` once, the first time the move reports writing. */
function editOnce(write: () => void): { onProgress: () => void; done: () => boolean } {
  let edited = false;
  return {
    onProgress: () => {
      if (edited) return;
      edited = true;
      write();
    },
    done: () => edited,
  };
}

type Files = Record<string, string | Uint8Array>;

/**
 * A merge of branch `feature` into main, each side changing `files` from `base`, run with the
 * user saving `path` as `edit` the first time the merge reports writing (aaa.bin, which sorts
 * first, is what it writes then).
 */
async function mergeWithEdit(
  f: ReturnType<typeof fixture>,
  sides: { base: Files; theirs: Files; ours: Files },
  path: string,
  edit: string,
) {
  const write = (files: Files) => {
    for (const [p, c] of Object.entries(files)) f.write(p, c);
  };
  write(sides.base);
  await f.commitAll('base');
  await createBranch(f.repo, 'feature', f.repo.refs.headCommit()!);
  await switchBranch(f.repo, 'feature');
  write(sides.theirs);
  const theirs = await f.commitAll('theirs');
  await switchBranch(f.repo, 'main');
  write(sides.ours);
  await f.commitAll('ours');
  const saved = editOnce(() => f.write(path, edit));
  const r = await merge(f.repo, theirs, {
    name: 'feature',
    identity: IDENTITY,
    authorName: 'tester',
    onProgress: saved.onProgress,
  });
  assert.ok(saved.done(), 'the edit was made during the merge');
  return r;
}

test('checkout: an edit saved while earlier files are written is kept, and the checkout completes', async (t) => {
  const f = fixture(t);
  f.write('aaa.bin', noise(3 * 1024 * 1024, 1));
  f.write('other.txt', 'base\n');
  const base = await f.commitAll('base');
  f.write('aaa.bin', noise(3 * 1024 * 1024, 2));
  f.write('other.txt', 'theirs\n');
  const next = await f.commitAll('next');
  await checkout(f.repo, base);

  // Progress comes while aaa.bin, which sorts first, is written: after every path was checked,
  // before other.txt is written.
  const edit = editOnce(() => f.write('other.txt', 'my unsaved work\n'));
  const r = await checkout(f.repo, next, { onProgress: edit.onProgress });
  assert.ok(edit.done(), 'the edit was made during the checkout');
  assert.deepEqual(r.kept, ['other.txt']);
  assert.equal(readFileSync(join(f.dir, 'other.txt'), 'utf8'), 'my unsaved work\n');
  assert.deepEqual(readFileSync(join(f.dir, 'aaa.bin')), Buffer.from(noise(3 * 1024 * 1024, 2)));
  assert.equal(Buffer.compare(f.repo.refs.headCommit()!, next), 0);
  // Against the new commit, the kept file is a local change (and nothing else is).
  const st = await status(f.repo);
  assert.deepEqual(st.unstaged, [{ path: 'other.txt', change: 'modified' }]);
  assert.deepEqual(st.staged, []);
});

/** aaa.bin (3 MiB) committed twice, the first version checked out; returns the second commit. */
async function twoVersionsOfOneFile(f: ReturnType<typeof fixture>): Promise<Uint8Array> {
  f.write('aaa.bin', noise(3 * 1024 * 1024, 1));
  const base = await f.commitAll('base');
  f.write('aaa.bin', noise(3 * 1024 * 1024, 2));
  const next = await f.commitAll('next');
  await checkout(f.repo, base);
  return next;
}

test('checkout: a file saved while its own new content is written is kept, and no temporary is left', async (t) => {
  const f = fixture(t);
  const next = await twoVersionsOfOneFile(f);
  // The first progress report comes after the first chunks of aaa.bin went to its temporary.
  const edit = editOnce(() => f.write('aaa.bin', 'my unsaved work\n'));
  const r = await checkout(f.repo, next, { onProgress: edit.onProgress });
  assert.ok(edit.done(), 'the edit was made while aaa.bin was written');
  assert.deepEqual(r.kept, ['aaa.bin']);
  assert.equal(readFileSync(join(f.dir, 'aaa.bin'), 'utf8'), 'my unsaved work\n');
  assert.deepEqual(
    readdirSync(f.dir).filter((n) => n !== '.shoal'),
    ['aaa.bin'],
  );
  assert.equal(Buffer.compare(f.repo.refs.headCommit()!, next), 0);
  const st = await status(f.repo);
  assert.deepEqual(st.unstaged, [{ path: 'aaa.bin', change: 'modified' }]);
});

test('checkout: a file only linked to, or deleted, while its new content is written gets the new content', async (t) => {
  for (const meanwhile of ['link', 'delete'] as const) {
    const f = fixture(t);
    const next = await twoVersionsOfOneFile(f);
    // A hard link changes the file's ctime and nothing of its content: no edit to keep.
    const abs = join(f.dir, 'aaa.bin');
    const edit = editOnce(() =>
      meanwhile === 'link' ? linkSync(abs, join(f.dir, 'aaa.link')) : rmSync(abs),
    );
    const r = await checkout(f.repo, next, { onProgress: edit.onProgress });
    assert.ok(edit.done());
    assert.deepEqual([r.kept, r.written], [[], ['aaa.bin']], meanwhile);
    assert.deepEqual(readFileSync(abs), Buffer.from(noise(3 * 1024 * 1024, 2)), meanwhile);
  }
});

test('checkout: a file created where a new one is being written is kept', async (t) => {
  const f = fixture(t);
  f.write('base.txt', 'base\n');
  const base = await f.commitAll('base');
  f.write('new.bin', noise(3 * 1024 * 1024, 3));
  const next = await f.commitAll('next');
  await checkout(f.repo, base);
  const edit = editOnce(() => f.write('new.bin', 'mine\n'));
  const r = await checkout(f.repo, next, { onProgress: edit.onProgress });
  assert.ok(edit.done());
  assert.deepEqual(r.kept, ['new.bin']);
  assert.equal(readFileSync(join(f.dir, 'new.bin'), 'utf8'), 'mine\n');
});

test('checkout run again after an interruption leaves the files it had already written as they are', async (t) => {
  const f = fixture(t);
  f.write('a.bin', noise(3 * 1024 * 1024, 1));
  f.write('b.bin', noise(3 * 1024 * 1024, 2));
  const base = await f.commitAll('base');
  f.write('a.bin', noise(3 * 1024 * 1024, 3));
  f.write('b.bin', noise(3 * 1024 * 1024, 4));
  const next = await f.commitAll('next');
  await checkout(f.repo, base);
  // What a checkout killed after writing a.bin leaves: a.bin new, b.bin old, index and HEAD old.
  f.write('a.bin', noise(3 * 1024 * 1024, 3));
  const before = statSync(join(f.dir, 'a.bin'));
  const r = await checkout(f.repo, next);
  assert.deepEqual(r.written, ['b.bin']);
  assert.equal(statSync(join(f.dir, 'a.bin')).ino, before.ino, 'a.bin was not written again');
  assert.deepEqual(readFileSync(join(f.dir, 'b.bin')), Buffer.from(noise(3 * 1024 * 1024, 4)));
  const st = await status(f.repo);
  assert.deepEqual([st.staged, st.unstaged], [[], []]);
});

test('merge: an edit saved while the merge writes is kept; the merge commit has the merged content', async (t) => {
  const f = fixture(t);
  const r = await mergeWithEdit(
    f,
    {
      base: { 'aaa.bin': noise(3 * 1024 * 1024, 1), 'other.txt': 'base\n', 'mine.txt': 'base\n' },
      theirs: { 'aaa.bin': noise(3 * 1024 * 1024, 2), 'other.txt': 'theirs\n' },
      ours: { 'mine.txt': 'ours\n' },
    },
    'other.txt',
    'my unsaved work\n',
  );
  assert.equal(r.outcome, 'merged');
  assert.deepEqual(r.kept, ['other.txt']);
  assert.equal(readFileSync(join(f.dir, 'other.txt'), 'utf8'), 'my unsaved work\n');
  // The commit holds theirs (what the merge decided), the working file the user's edit.
  const st = await status(f.repo);
  assert.deepEqual(st.unstaged, [{ path: 'other.txt', change: 'modified' }]);
  assert.deepEqual(st.staged, []);
  assert.equal(f.repo.refs.head().kind, 'branch');
});

/** Make the user's edit at `path` the moment the move asks the index about it the `nth` time. */
function editOnLookup(
  f: ReturnType<typeof fixture>,
  path: string,
  nth: number,
  edit: () => void,
): () => boolean {
  const get = f.repo.staging.get.bind(f.repo.staging);
  let calls = 0;
  let done = false;
  f.repo.staging.get = (p: string) => {
    if (p === path && ++calls === nth && !done) {
      done = true;
      edit();
    }
    return get(p);
  };
  return () => done;
}

test('a file that becomes a directory, edited during the move: kept, and nothing written through it', async (t) => {
  const f = fixture(t);
  f.write('a', 'base\n');
  const base = await f.commitAll('base');
  rmSync(join(f.dir, 'a'));
  f.write('a/x', 'theirs\n');
  const next = await f.commitAll('next');
  await checkout(f.repo, base);
  // The check asks about `a` first; the move asks again just before removing it.
  const edited = editOnLookup(f, 'a', 2, () => f.write('a', 'my unsaved work\n'));
  const r = await checkout(f.repo, next);
  assert.ok(edited());
  assert.deepEqual(r.kept, ['a']);
  assert.equal(readFileSync(join(f.dir, 'a'), 'utf8'), 'my unsaved work\n');
});

test('a directory that becomes a file, a file in it edited during the move: kept, the directory too', async (t) => {
  const f = fixture(t);
  f.write('d/x', 'base\n');
  const base = await f.commitAll('base');
  rmSync(join(f.dir, 'd'), { recursive: true });
  f.write('d', 'theirs\n');
  const next = await f.commitAll('next');
  await checkout(f.repo, base);
  const edited = editOnLookup(f, 'd/x', 2, () => f.write('d/x', 'my unsaved work\n'));
  const r = await checkout(f.repo, next);
  assert.ok(edited());
  assert.deepEqual(r.kept, ['d/x']);
  assert.equal(readFileSync(join(f.dir, 'd/x'), 'utf8'), 'my unsaved work\n');
});

test('merge: a conflicted file saved while the merge writes others keeps the edit, not the markers', async (t) => {
  const f = fixture(t);
  const r = await mergeWithEdit(
    f,
    {
      base: { 'aaa.bin': noise(3 * 1024 * 1024, 1), 'c.txt': 'a\nb\nc\n' },
      theirs: { 'aaa.bin': noise(3 * 1024 * 1024, 2), 'c.txt': 'a\ntheirs\nc\n' },
      ours: { 'c.txt': 'a\nours\nc\n' },
    },
    'c.txt',
    'my unsaved work\n',
  );
  assert.equal(r.outcome, 'conflicts');
  assert.deepEqual(r.kept, ['c.txt']);
  assert.deepEqual(
    r.conflicts.map((c) => c.path),
    ['c.txt'],
  );
  assert.equal(readFileSync(join(f.dir, 'c.txt'), 'utf8'), 'my unsaved work\n');
});
