// The compiled .shoalignore patterns give the `ignore` package's verdict on every path, through
// the sets for plain names, paths and extensions as through the package for the rest.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import ignore from 'ignore';
import { compileIgnore } from '../../src/vcs/ignore-patterns.ts';

/** The package's own verdict on `rel` itself (as IgnoreRules asked it before). */
function reference(
  text: string,
  ignorecase: boolean,
): (rel: string) => { ignored: boolean; unignored: boolean } {
  const rules = (
    ignore({ ignorecase }).add(text) as unknown as {
      _rules: { test: (path: string, mode: string) => { ignored: boolean; unignored: boolean } };
    }
  )._rules;
  return (rel) => {
    const r = rules.test(rel, 'regex');
    return { ignored: r.ignored, unignored: r.unignored };
  };
}

const PATTERNS = [
  'model.ckpt',
  'cache/',
  'runs/7/out.bin',
  '/top.txt',
  'deep/dir/',
  '*.tmp',
  '*.tar.gz',
  '*.',
  'a',
  'Data',
  '*.LOG',
  'b/c',
  'x/',
  '/y/', // plain names, paths and extensions
  '*.d/',
  'build*',
  '**/gen',
  'doc/**/*.pdf',
  'a?c',
  '[ab].txt',
  'trail ',
  ' lead',
  '\\#hash',
  'a//b',
  '/',
  '# comment',
  '',
  'sp ace',
  'x\\ y', // left to the package
];
const PATHS = [
  'model.ckpt',
  'sub/model.ckpt',
  'model.ckpt/',
  'cache',
  'cache/',
  'sub/cache/',
  'runs/7/out.bin',
  'sub/runs/7/out.bin',
  'runs/7/out.bin/',
  'top.txt',
  'sub/top.txt',
  'deep/dir/',
  'deep/dir',
  'sub/deep/dir/',
  'a.tmp',
  'x/y.tmp',
  '.tmp',
  'tmp',
  'a.tar.gz',
  'a.gz',
  'name.',
  'a',
  'b/a',
  'a/',
  'data',
  'DATA',
  'Data',
  'x.log',
  'x.LOG',
  'b/c',
  'b/c/',
  'z/b/c',
  'x',
  'x/',
  'q/x/',
  'y/',
  'q/y/',
  'y',
  'v.d/',
  'v.d',
  'build1',
  'builds/',
  'gen',
  'p/gen/',
  'doc/a/b.pdf',
  'abc',
  'a/c',
  'b.txt',
  'trail',
  'trail ',
  ' lead',
  '#hash',
  'a/b',
  'sp ace',
  'x y',
  'other',
  'z/other.txt/',
  // below a match
  'b/c/d',
  'runs/7/out.bin/x',
  'cache/x',
  'model.ckpt/x',
  'deep/dir/x',
  'x/z',
];

for (const ignorecase of [false, true]) {
  test(`compiled patterns agree with the ignore package on every path (ignorecase ${ignorecase})`, () => {
    // Each pattern alone, all of them together, and all of them with a negation (ordered
    // matching for the whole file then).
    const files = [...PATTERNS.map((p) => p), PATTERNS.join('\n'), `${PATTERNS.join('\n')}\n!a.tmp\n`];
    for (const text of files) {
      const fast = compileIgnore(text, ignorecase);
      const slow = reference(text, ignorecase);
      for (const path of PATHS) {
        const { ignored, unignored } = fast(path);
        assert.deepEqual(
          { ignored, unignored },
          slow(path),
          `${JSON.stringify(text)} on ${JSON.stringify(path)}`,
        );
      }
    }
  });
}

test('thousands of plain patterns: the verdicts of the package', () => {
  const lines: string[] = [];
  for (let i = 0; i < 20_000; i++) lines.push(`out${i}.bin`, `gen${i}/`, `*.tmp${i}`, `runs/${i}/log`);
  const fast = compileIgnore(lines.join('\n'), false);
  const slow = reference(lines.join('\n'), false);
  for (const path of [
    'out7.bin',
    'a/out19999.bin',
    'gen5/',
    'gen5',
    'x.tmp42',
    'runs/3/log',
    'runs/3/log2',
    'none',
  ]) {
    assert.equal(fast(path).ignored, slow(path).ignored, path);
  }
});
