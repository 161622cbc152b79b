import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertRefName, refNameProblem } from '../../src/vcs/names.ts';

test('names git accepts are accepted', () => {
  for (const ok of ['main', 'feature/x', 'v1.0', 'release-2026', 'a_b', 'user@host', 'ünïcode']) {
    assert.equal(refNameProblem(ok), null, ok);
  }
});

test('names git rejects are rejected with INVALID_NAME', () => {
  const bad = [
    '',
    'has space',
    'tab\there',
    'a..b',
    '-leading',
    '/leading',
    'trailing/',
    'double//slash',
    'ends.',
    'x.lock',
    'dir/.hidden',
    'a~1',
    'a^',
    'a:b',
    'a?',
    'a*',
    'a[b',
    'a\\b',
    'a@{1}',
    '@',
    'HEAD',
    'nul\0',
  ];
  for (const name of bad) {
    assert.notEqual(refNameProblem(name), null, JSON.stringify(name));
    assert.throws(() => assertRefName(name, 'branch'), { code: 'INVALID_NAME' });
  }
});
