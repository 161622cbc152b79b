import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeText, diffLines, splitLines, unifiedHunks } from '../../src/vcs/line-diff.ts';
import { hasConflictMarkers, mergeText } from '../../src/vcs/text-merge.ts';

const labels = { ours: 'HEAD', theirs: 'feature' };
const lines = (...l: string[]): string => l.map((x) => `${x}\n`).join('');

/** Apply a line diff to a and check it yields b. */
function check(a: string[], b: string[]): void {
  const out: string[] = [];
  let pos = 0;
  for (const c of diffLines(a, b)) {
    assert.ok(c.a0 >= pos && c.a1 >= c.a0 && c.b1 >= c.b0);
    out.push(...a.slice(pos, c.a0), ...b.slice(c.b0, c.b1));
    pos = c.a1;
  }
  out.push(...a.slice(pos));
  assert.deepEqual(out, b);
  // Minimal: as many lines differ as the longest common subsequence leaves.
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => Array(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--)
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const edits = diffLines(a, b).reduce((n, c) => n + (c.a1 - c.a0) + (c.b1 - c.b0), 0);
  assert.equal(edits, a.length + b.length - 2 * lcs[0]![0]!);
}

test('line diffs reproduce the new text and stay minimal on simple edits', () => {
  check([], []);
  check(['a'], []);
  check([], ['a']);
  check(['a', 'b', 'c'], ['a', 'x', 'c']);
  check(['a', 'b', 'c', 'd'], ['b', 'c', 'e', 'd', 'f']);
  let seed = 7;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  for (let round = 0; round < 200; round++) {
    const a = Array.from({ length: rnd() % 30 }, () => String(rnd() % 5));
    const b = Array.from({ length: rnd() % 30 }, () => String(rnd() % 5));
    check(a, b);
  }
  assert.deepEqual(diffLines(['a', 'b', 'c'], ['a', 'x', 'c']), [{ a0: 1, a1: 2, b0: 1, b1: 2 }]);
});

test('past the edit cap the differing middle becomes one block', () => {
  const a = Array.from({ length: 500 }, (_, i) => `a${i}`);
  const b = Array.from({ length: 500 }, (_, i) => `b${i}`);
  const blocks = diffLines(['same', ...a, 'end'], ['same', ...b, 'end'], 10);
  assert.deepEqual(blocks, [{ a0: 1, a1: 501, b0: 1, b1: 501 }]);
});

test('unified hunks: context, ranges, missing final newline', () => {
  const a = splitLines(lines('1', '2', '3', '4', '5', '6', '7', '8', '9'));
  const b = splitLines(lines('1', '2', '3', '4', 'five', '6', '7', '8', '9'));
  assert.equal(unifiedHunks(a, b, diffLines(a, b)), '@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n');
  const c = splitLines('x\ny');
  const d = splitLines('x\nz\n');
  assert.equal(
    unifiedHunks(c, d, diffLines(c, d)),
    '@@ -1,2 +1,2 @@\n x\n-y\n\\ No newline at end of file\n+z\n',
  );
  assert.equal(unifiedHunks([], splitLines('new\n'), diffLines([], ['new\n'])), '@@ -0,0 +1 @@\n+new\n');
});

test('text detection: UTF-8 without NUL bytes', () => {
  assert.equal(decodeText(Buffer.from('héllo\n')), 'héllo\n');
  assert.equal(decodeText(Buffer.from([0x68, 0, 0x69])), null);
  assert.equal(decodeText(Buffer.from([0xff, 0xfe, 0x41])), null);
});

test('three-way merge: one-sided changes merge cleanly, both sides far apart too', () => {
  const base = lines('a', 'b', 'c', 'd', 'e', 'f', 'g');
  const ours = lines('a', 'B', 'c', 'd', 'e', 'f', 'g');
  const theirs = lines('a', 'b', 'c', 'd', 'e', 'F', 'g', 'h');
  const r = mergeText(base, ours, theirs, labels);
  assert.equal(r.conflicts, 0);
  assert.equal(r.text, lines('a', 'B', 'c', 'd', 'e', 'F', 'g', 'h'));
  assert.equal(mergeText(base, base, theirs, labels).text, theirs);
  assert.equal(mergeText(base, ours, base, labels).text, ours);
});

test('three-way merge: the same change on both sides is taken once', () => {
  const base = lines('a', 'b', 'c');
  const both = lines('a', 'x', 'c', 'd');
  const r = mergeText(base, both, both, labels);
  assert.deepEqual(r, { text: both, conflicts: 0 });
});

test('three-way merge: different changes to one region conflict, with markers', () => {
  const base = lines('a', 'b', 'c');
  const r = mergeText(base, lines('a', 'ours', 'c'), lines('a', 'theirs', 'c'), labels);
  assert.equal(r.conflicts, 1);
  assert.equal(r.text, lines('a', '<<<<<<< HEAD', 'ours', '=======', 'theirs', '>>>>>>> feature', 'c'));
  assert.ok(hasConflictMarkers(r.text));
  assert.ok(!hasConflictMarkers(lines('a', '=======', 'b')));
});

test('three-way merge: adjacent edits conflict, both-added files conflict as wholes', () => {
  const base = lines('a', 'b', 'c', 'd');
  assert.equal(mergeText(base, lines('a', 'B', 'c', 'd'), lines('a', 'b', 'C', 'd'), labels).conflicts, 1);
  const added = mergeText('', 'one\n', 'two', labels);
  assert.equal(added.conflicts, 1);
  assert.equal(added.text, lines('<<<<<<< HEAD', 'one', '=======', 'two', '>>>>>>> feature'));
});

test('three-way merge: random one-sided edits always merge to the edited side', () => {
  let seed = 3;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  for (let round = 0; round < 100; round++) {
    const base = Array.from({ length: 20 }, (_, i) => `l${i}\n`);
    const edited = base.filter(() => rnd() % 4 !== 0).map((l) => (rnd() % 5 === 0 ? `x${l}` : l));
    const b = base.join('');
    const e = edited.join('');
    assert.equal(mergeText(b, e, b, labels).text, e);
    assert.equal(mergeText(b, b, e, labels).text, e);
  }
});
