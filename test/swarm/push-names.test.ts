// The receiving side of a push takes only branch and tag names its own commands could use, each
// named once, before it asks the pusher for anything.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeSignedRefs, isShoalError, keyPairFromSeed, signRefs } from '../../src/core/index.ts';
import { Repository } from '../../src/store/index.ts';
import { pushHandler } from '../../src/swarm/push.ts';
import { RateLimiter } from '../../src/swarm/rate-limit.ts';
import { ensureRepoIdentity } from '../../src/swarm/repo-state.ts';
import type { PushHandler } from '../../src/swarm/server.ts';
import { tempDir } from '../helpers.ts';

process.env.SHOAL_CONFIG_DIR = mkdtempSync(join(tmpdir(), 'shoal-push-names-config-'));
process.on('exit', () => rmSync(process.env.SHOAL_CONFIG_DIR!, { recursive: true, force: true }));

test('a push naming HEAD, a name with .., a full ref outside heads and tags, or one ref twice is refused whole', async (t) => {
  const repo = Repository.init(tempDir(t));
  t.after(() => repo.close());
  const owner = keyPairFromSeed(randomBytes(32));
  const state = await ensureRepoIdentity(repo, owner);
  let dialed = 0;
  const handle = pushHandler(() => {
    dialed++;
    throw new Error('the handler asked the pusher for objects');
  }, new RateLimiter(0));
  const commit = randomBytes(32);
  // Signed by the owner (a delegate, so allowed to write) for main: the names checked below are
  // refused for what they are, before the document is looked at for them.
  const refs = encodeSignedRefs(
    signRefs(owner.seed, {
      repo: state.id,
      signer: owner.publicKey,
      seq: 1,
      time: 1,
      refs: new Map([['refs/heads/main', commit]]),
    }),
  ).bytes;
  const from = { key: owner.publicKey, connection: {} } as Parameters<PushHandler>[2];
  const push = (updates: [string, Uint8Array][], deletes: string[] = []): ReturnType<PushHandler> =>
    handle({ repo, state }, { type: 'push', req: 1, refs, updates, deletes, force: false }, from);
  for (const name of ['HEAD', 'refs/heads/a..b', 'refs/remotes/origin/main', 'main', 'refs/tags/v1.lock']) {
    await assert.rejects(
      push([[name, commit]]),
      (e) =>
        isShoalError(e, 'PERMISSION_DENIED') &&
        /is not a branch or tag name this peer takes/.test((e as Error).message),
      name,
    );
  }
  await assert.rejects(
    push([
      ['refs/heads/main', commit],
      ['refs/heads/main', commit],
    ]),
    (e) => isShoalError(e, 'PERMISSION_DENIED'),
  );
  // Deletions are held to the same names, and may not name a ref twice either.
  for (const name of ['HEAD', 'refs/heads/a..b', 'refs/remotes/origin/main', 'main']) {
    await assert.rejects(
      push([], [name]),
      (e) =>
        isShoalError(e, 'PERMISSION_DENIED') &&
        /is not a branch or tag name this peer deletes/.test((e as Error).message),
      name,
    );
  }
  await assert.rejects(push([['refs/heads/main', commit]], ['refs/heads/main']), (e) =>
    isShoalError(e, 'PERMISSION_DENIED'),
  );
  assert.equal(dialed, 0, 'refused before anything was asked of the pusher');
  assert.equal(repo.refs.get('refs/heads/main'), undefined);
});
