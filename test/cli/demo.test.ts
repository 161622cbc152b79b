// `shoal demo`, the README's first command: two peers on loopback, a clone and a pull, checked,
// and nothing left behind.

import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { shoal, tempDir } from '../helpers.ts';

interface DemoSummary {
  size: number;
  clone: { bytes: number; seconds: number };
  pull: { bytes: number };
  storedBytes: number;
  ok: boolean;
}

test('demo clones, changes 1 MiB, pulls only about that, checks the copy and cleans up', (t) => {
  const tmp = tempDir(t);
  const r = shoal(['demo', '--size', '8', '--json'], { configDir: tempDir(t), env: { TMPDIR: tmp } });
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout) as DemoSummary;
  assert.equal(s.size, 8 * 1024 * 1024);
  assert.equal(s.clone.bytes, 8 * 1024 * 1024, 'the whole file crossed once');
  assert.ok(
    s.pull.bytes >= 1024 * 1024 && s.pull.bytes < 2 * 1024 * 1024,
    `pull moved ${s.pull.bytes} bytes`,
  );
  assert.ok(s.storedBytes < 8 * 1024 * 1024 + 2 * 1024 * 1024, 'the second version cost about what changed');
  assert.equal(s.ok, true);
  const left = readdirSync(tmp).filter((n) => n.startsWith('shoal-demo-'));
  assert.deepEqual(left, [], 'the demo directory is gone');

  // Human output names each step; a bad size is a usage error.
  const human = shoal(['demo', '--size', '4'], { configDir: tempDir(t), env: { TMPDIR: tmp } });
  assert.equal(human.status, 0, human.stderr);
  assert.match(human.stdout, /alice serves it at \/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//);
  assert.match(human.stdout, /bob pulls: .* moved/);
  assert.match(human.stdout, /fsck ok, signatures ok/);
  const bad = shoal(['demo', '--size', 'lots'], { configDir: tempDir(t), env: { TMPDIR: tmp } });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--size/);
});
