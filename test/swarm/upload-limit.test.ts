// Under a low upload limit a seeder sends each response in small groups, so the first bytes
// leave soon after a request and a downloader with a short stall timeout keeps it as a source.
// It also checks that transfer.stall-timeout reaches the chunk scheduler of a clone, and that a
// slow seeder's leftover answers do not hold up what a clone asks of it next.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { newRepo, randomFile, sha256File } from '../cli/repo-helpers.ts';
import { shoal, tempDir } from '../helpers.ts';
import {
  assertFsck,
  type CloneSummary,
  cloneWithStallTimeout,
  parseJson,
  serve,
  userAt,
} from './swarm-helpers.ts';

test('a seeder at 200 kB/s never leaves a 2 s stall timeout without data', {
  timeout: 120_000,
}, async (t) => {
  const origin = newRepo(t);
  // About ten chunks asked for in one request: sent as one group at this rate, the first byte
  // would leave only after some 3 s, and the downloader would drop the seeder as stalled.
  const sum = randomFile(origin.path('weights.bin'), 700 * 1024);
  origin.commit('v1');
  const server = await serve(t, origin, { args: ['--max-upload', '200k'] });
  const { clone, r } = await cloneWithStallTimeout(t, server.addr, 2);
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.deepEqual(parseJson<CloneSummary>(r).banned, []);
  assert.equal(sha256File(clone.path('weights.bin')), sum);
  assertFsck(clone);
});

test('a clone under a low --max-download never takes its own wait for a stalled peer', {
  timeout: 120_000,
}, async (t) => {
  const origin = newRepo(t);
  // Asked for in one request, which waits some 7 s on the 64 kB/s limit before it is sent:
  // counted against the seeder, that wait dropped it at the 3 s stall timeout.
  const sum = randomFile(origin.path('weights.bin'), 512 * 1024);
  origin.commit('v1');
  const server = await serve(t, origin);
  const { clone, r } = await cloneWithStallTimeout(t, server.addr, 3, { args: ['--max-download', '64k'] });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const s = parseJson<CloneSummary & { lost: unknown[] }>(r);
  assert.deepEqual([s.banned, s.lost], [[], []]);
  assert.equal(sha256File(clone.path('weights.bin')), sum);
});

test('transfer.stall-timeout reaches a clone: a seeder silent for longer is dropped', {
  timeout: 120_000,
}, async (t) => {
  const origin = newRepo(t);
  randomFile(origin.path('weights.bin'), 400 * 1024);
  origin.commit('v1');
  // At 10 kB/s each 64 KiB group waits some 6.5 s for the limit (only the first may leave at
  // once, on the 64 KiB burst an idle limiter saves up): far longer than the 2 s set here, far
  // shorter than the 30 s default that applied before the setting reached the scheduler.
  const server = await serve(t, origin, { args: ['--max-upload', '10k'] });
  const { r } = await cloneWithStallTimeout(t, server.addr, 2);
  assert.equal(r.status, 1, r.stdout);
  const e = parseJson<{ error: { code: string; message: string } }>(r).error;
  assert.equal(e.code, 'PEER_ERROR');
  assert.match(e.message, /no peer left to fetch from .*run the command again to resume/);
});

test("a slow seeder's own branch comes after the canonical ones, not behind the chunks a fast seeder sent first", {
  timeout: 120_000,
}, async (t) => {
  const origin = newRepo(t);
  const sum = randomFile(origin.path('weights.bin'), 16 * 1024 * 1024);
  origin.commit('v1');
  const fast = await serve(t, origin);
  // Bob holds the same commit and a small one of his own: a fork. At 50 kB/s he still owes most
  // of the window he was asked for when the fast seeder has sent everything; his fork's objects,
  // asked for next on the same stream, came only after all of that (a minute and more), and the
  // 3 s stall timeout dropped him and left his fork out without a word.
  const bob = userAt(t, join(tempDir(t), 'bob'));
  assert.equal(shoal(['clone', fast.addr, bob.dir], { configDir: bob.configDir }).status, 0);
  bob.write('bob.txt', "bob's notes\n");
  const bobHead = bob.commit('bob');
  const slow = await serve(t, bob, { args: ['--max-upload', '50k'] });
  const url = origin.j<{ url: string }>(['info']).url;
  const { clone, r } = await cloneWithStallTimeout(t, url, 3, { peers: [fast.addr, slow.addr] });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const s = parseJson<CloneSummary>(r);
  assert.deepEqual([s.banned, s.lost, s.skippedForks], [[], [], []], JSON.stringify(s));
  assert.ok(s.updated.includes(`refs/remotes/${slow.peerId}/main`), JSON.stringify(s.updated));
  assert.equal(clone.j<{ id: string }[]>(['log', '-n', '1', `${slow.peerId}/main`])[0]!.id, bobHead);
  assert.equal(sha256File(clone.path('weights.bin')), sum);
  assertFsck(clone);
});
