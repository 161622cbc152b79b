// A checkout that stops halfway (a full disk, Ctrl-C) leaves the working tree and the index part
// old, part new: status says so, commit and merge refuse (a commit would record the mix on the
// old branch), and the same checkout run again, or `checkout --force HEAD`, ends it.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, lstatSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isShoalError, toHex } from '../../src/core/index.ts';
import { checkout, commit, createBranch, gc, merge, readMoveState, status } from '../../src/vcs/index.ts';
import { lockHolder } from '../helpers.ts';
import { fixture, IDENTITY, noise } from './fixture.ts';

/** Two commits: `one` has big.bin, `two` drops it and adds a.txt and z.txt. HEAD is at two. */
async function setup(t: { after: (fn: () => void) => void }) {
  const f = fixture(t);
  f.write('big.bin', noise(3 * 1024 * 1024, 1));
  const one = await f.commitAll('one');
  await import('node:fs').then((fs) => fs.rmSync(join(f.dir, 'big.bin')));
  f.write('a.txt', 'keep\n');
  f.write('z.txt', 'keep\n');
  const two = await f.commitAll('two');
  return { f, one, two };
}

/** Check out `to`, failing the way a full disk does once the first file is being written. */
async function interruptedCheckout(f: ReturnType<typeof fixture>, to: Uint8Array): Promise<void> {
  await assert.rejects(
    checkout(f.repo, to, {
      onProgress: () => {
        throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      },
    }),
    /no space left/,
  );
}

test('a checkout that stopped halfway: status says so, commit and merge refuse, running it again ends it', async (t) => {
  const { f, one, two } = await setup(t);
  await interruptedCheckout(f, one);
  // Its removals happened; HEAD did not move.
  assert.equal(existsSync(join(f.dir, 'a.txt')), false);
  assert.equal(toHex(f.repo.refs.headCommit()!), toHex(two));
  const st = await status(f.repo);
  assert.deepEqual(st.unfinishedMove, {
    target: toHex(one),
    from: toHex(two),
    finish: `shoal checkout ${toHex(one).slice(0, 12)}`,
    runningIn: null,
  });

  const refused = (e: unknown) =>
    isShoalError(e, 'MOVE_INTERRUPTED') &&
    new RegExp(
      `'shoal checkout ${toHex(one).slice(0, 12)}' finishes it, or 'shoal checkout --force HEAD' goes back`,
    ).test((e as Error).message);
  await assert.rejects(
    commit(f.repo, { message: 'oops', authorName: 'tester', identity: IDENTITY, allowEmpty: true }),
    refused,
  );
  await createBranch(f.repo, 'other', two);
  await assert.rejects(
    merge(f.repo, two, { name: 'other', identity: IDENTITY, authorName: 'tester' }),
    refused,
  );
  // Another checkout without --force would take the half-moved paths for local changes.
  await assert.rejects(checkout(f.repo, two), refused);

  const r = await checkout(f.repo, one);
  assert.deepEqual(r.written, ['big.bin']);
  assert.equal(readMoveState(f.repo), undefined);
  const after = await status(f.repo);
  assert.equal(after.unfinishedMove, null);
  assert.deepEqual([after.staged, after.unstaged, after.untracked], [[], [], []]);
});

test('after a checkout that stopped halfway, checkout --force HEAD goes back to HEAD', async (t) => {
  const { f, one, two } = await setup(t);
  await interruptedCheckout(f, one);
  await checkout(f.repo, two, { force: true });
  assert.equal(readMoveState(f.repo), undefined);
  const st = await status(f.repo);
  assert.deepEqual([st.staged, st.unstaged, st.untracked, st.unfinishedMove], [[], [], [], null]);
  assert.ok(existsSync(join(f.dir, 'a.txt')) && !existsSync(join(f.dir, 'big.bin')));
  await commit(f.repo, { message: 'fine again', authorName: 'tester', identity: IDENTITY, allowEmpty: true });
});

test('gc keeps the commit a checkout that stopped halfway was going to, though no ref holds it', async (t) => {
  const { f, two } = await setup(t);
  f.write('big.bin', noise(3 * 1024 * 1024, 9));
  const side = await f.commitAll('side'); // on main for now
  await checkout(f.repo, two, { force: true, attach: 'main' });
  f.repo.refs.update('refs/heads/main', two, 'test: main back', side);
  await interruptedCheckout(f, side);
  await gc(f.repo, { graceMs: 0 });
  const r = await checkout(f.repo, side);
  assert.deepEqual(r.written, ['big.bin']);
  assert.equal((await status(f.repo)).unfinishedMove, null);
});

test('a fast-forward merge that stopped halfway is finished by merging again; the message says how', async (t) => {
  const { f, one, two } = await setup(t);
  // main back at one, a branch at two: merging it is a fast-forward.
  await checkout(f.repo, one, { force: true, attach: 'main' });
  f.repo.refs.update('refs/heads/main', one, 'test: main back', two);
  await createBranch(f.repo, 'feature', two);
  const failing = () => {
    throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
  };
  await assert.rejects(
    merge(f.repo, two, { name: 'feature', identity: IDENTITY, authorName: 'tester', onProgress: failing }),
    /no space left/,
  );
  await assert.rejects(
    commit(f.repo, { message: 'oops', authorName: 'tester', identity: IDENTITY, allowEmpty: true }),
    (e) =>
      isShoalError(e, 'MOVE_INTERRUPTED') &&
      (e as Error).message.includes(`'shoal merge ${toHex(two).slice(0, 12)}' finishes it`), // by id: names move
  );
  const r = await merge(f.repo, two, { name: 'feature', identity: IDENTITY, authorName: 'tester' });
  assert.equal(r.outcome, 'fast-forward');
  assert.equal((await status(f.repo)).unfinishedMove, null);
  assert.equal(toHex(f.repo.refs.headCommit()!), toHex(two));
});

test('a move another process is making now is said to be under way, not unfinished', async (t) => {
  const { f, one } = await setup(t);
  await interruptedCheckout(f, one);
  const holder = await lockHolder(f.dir, 'shoal switch side');
  t.after(() => holder.kill('SIGKILL'));
  const st = await status(f.repo);
  assert.deepEqual(st.unfinishedMove?.runningIn, { pid: holder.pid, purpose: 'shoal switch side' });
  holder.kill('SIGKILL');
  await once(holder, 'exit');
  assert.equal((await status(f.repo)).unfinishedMove?.runningIn, null);
});

test('a checkout from a file to a directory of that name, stopped halfway, is finished by running it again', async (t) => {
  const f = fixture(t);
  f.write('x', 'a file\n');
  const fileX = await f.commitAll('x is a file');
  rmSync(join(f.dir, 'x'));
  for (let i = 0; i < 4; i++) f.write(`x/f${i}`, noise(64 * 1024, i + 1));
  const dirX = await f.commitAll('x is a directory');
  await checkout(f.repo, fileX);
  // Stopped once the first file below x/ is written: x is a directory holding some of them.
  let calls = 0;
  await assert.rejects(
    checkout(f.repo, dirX, {
      onProgress: () => {
        if (++calls > 1) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      },
    }),
    /no space left/,
  );
  assert.ok(lstatSync(join(f.dir, 'x')).isDirectory());
  // The directory the move made for the target's files is no local change at 'x'.
  await checkout(f.repo, dirX);
  assert.equal((await status(f.repo)).unfinishedMove, null);
  for (let i = 0; i < 4; i++)
    assert.deepEqual(readFileSync(join(f.dir, `x/f${i}`)), Buffer.from(noise(64 * 1024, i + 1)));
});

test('a tracked file replaced by a directory of untracked files: a checkout without that file leaves the directory, --force too', async (t) => {
  const f = fixture(t);
  f.write('x', 'a file\n');
  f.write('keep', 'k\n');
  const withX = await f.commitAll('x');
  rmSync(join(f.dir, 'x'));
  const withoutX = await f.commitAll('no x');
  await checkout(f.repo, withX);
  rmSync(join(f.dir, 'x'));
  f.write('x/mine', 'mine\n');
  await checkout(f.repo, withoutX);
  assert.equal(readFileSync(join(f.dir, 'x/mine'), 'utf8'), 'mine\n');
  await checkout(f.repo, withX, { force: true }); // the directory in the way goes, as with git -f
  await checkout(f.repo, withoutX);
  // With --force where the directory stands in place of the file the move deletes: it stays.
  await checkout(f.repo, withX);
  rmSync(join(f.dir, 'x'));
  f.write('x/mine', 'mine again\n');
  await checkout(f.repo, withoutX, { force: true });
  assert.equal(readFileSync(join(f.dir, 'x/mine'), 'utf8'), 'mine again\n');
});
