// The commit graph of log --graph: every edge drawn, also where two lines cross.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GraphRenderer } from '../../src/cli/graph.ts';

function draw(commits: [string, string[]][]): string[] {
  const g = new GraphRenderer();
  const out: string[] = [];
  for (const [id, parents] of commits) {
    const { row, connectors } = g.next(id, parents);
    out.push(`${row} ${id}`, ...connectors);
  }
  return out;
}

test('two merges of each other: the lines that cross both drawn, one row after the other', () => {
  // b merged a (parents b1, a1), a merged b1 (parents a1, b1), and top merged both.
  const lines = draw([
    ['top', ['bma', 'amb']],
    ['amb', ['a1', 'b1']],
    ['bma', ['b1', 'a1']],
    ['b1', ['base']],
    ['a1', ['base']],
    ['base', []],
  ]);
  assert.deepEqual(lines, [
    '* top',
    '|\\',
    '| * amb',
    '| |\\',
    '* | | bma',
    '|/ /', // bma's first line, to b1, waits while a1's and b1's lines move left ...
    '|\\|', // ... then joins b1's
    '| * b1',
    '* | a1',
    '|/',
    '* base',
  ]);
});

test('a plain fork and join', () => {
  assert.deepEqual(
    draw([
      ['m', ['x', 'y']],
      ['y', ['base']],
      ['x', ['base']],
      ['base', []],
    ]),
    ['* m', '|\\', '| * y', '* | x', '|/', '* base'],
  );
});
