// `shoal demo`, the README's first command: two peers on loopback, a clone and a pull, checked,
// and nothing left behind.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { shoal, shoalSpawn, tempDir } from '../helpers.ts';

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
  assert.equal(shoal(['demo', 'extra'], { configDir: tempDir(t), env: { TMPDIR: tmp } }).status, 2);
});

test('demo removes its directory when interrupted, and when its reader stops early', async (t) => {
  for (const how of ['SIGINT', 'closed output'] as const) {
    const tmp = tempDir(t);
    const demo = shoalSpawn(['demo', '--size', '64'], { configDir: tempDir(t), env: { TMPDIR: tmp } });
    const exited = once(demo, 'exit');
    // The first line names the directory, made by then.
    const [line] = (await once(createInterface({ input: demo.stdout }), 'line')) as [string];
    assert.match(line, /^demo directory /);
    if (how === 'SIGINT') demo.kill('SIGINT');
    else demo.stdout.destroy(); // as `shoal demo | head -1` does
    const [code] = (await exited) as [number | null];
    assert.equal(code, how === 'SIGINT' ? 1 : 0, how);
    assert.deepEqual(
      readdirSync(tmp).filter((n) => n.startsWith('shoal-demo-')),
      [],
      `${how}: the demo directory is gone`,
    );
  }
});
