// Validation of sync protocol requests: a push's updates and deletions.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isShoalError } from '../../src/core/index.ts';
import { parseRequest } from '../../src/net/index.ts';

const ID = new Uint8Array(32).fill(7);
const REFS = new Uint8Array([1, 2, 3]);

test('push: updates, deletions or both; a push of nothing or a malformed deletion is refused', () => {
  const push = (fields: Record<string, unknown>) =>
    parseRequest({ type: 'push', req: 1, refs: REFS, force: false, ...fields });
  // A pusher from before deletions sends no `deletes`.
  const plain = push({ updates: [['refs/heads/main', ID]] });
  assert.deepEqual(plain.type === 'push' && [plain.updates.length, plain.deletes], [1, []]);
  const both = push({ updates: [['refs/heads/main', ID]], deletes: ['refs/heads/old'] });
  assert.deepEqual(both.type === 'push' && both.deletes, ['refs/heads/old']);
  const only = push({ updates: [], deletes: ['refs/tags/v1'] });
  assert.deepEqual(only.type === 'push' && [only.updates, only.deletes], [[], ['refs/tags/v1']]);
  for (const bad of [
    { updates: [] },
    { updates: [], deletes: [] },
    { updates: [], deletes: [7] },
    { updates: [], deletes: 'refs/heads/x' },
    { updates: [], deletes: Array.from({ length: 1025 }, (_, i) => `refs/heads/b${i}`) },
  ]) {
    assert.throws(
      () => push(bad),
      (e) => isShoalError(e, 'PEER_ERROR'),
      JSON.stringify(bad).slice(0, 80),
    );
  }
});
