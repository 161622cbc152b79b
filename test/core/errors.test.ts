// The errors a system call's failure becomes: a user sees a code shoal documents, naming the path.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathError, systemError } from '../../src/core/index.ts';

test('systemError: permission, read-only and full disk get shoal codes naming the path; others none', () => {
  const failed = (code: string, path?: string) => Object.assign(new Error(`${code}: x`), { code, path });
  const cases: [string, string, string][] = [
    ['EACCES', 'PERMISSION_DENIED', 'permission denied: /cfg/shares.json'],
    ['EPERM', 'PERMISSION_DENIED', 'permission denied: /cfg/shares.json'],
    ['EROFS', 'PERMISSION_DENIED', 'read-only file system: /cfg/shares.json'],
    ['ENOSPC', 'DISK_FULL', 'no space left on device: /cfg/shares.json'],
  ];
  for (const [errno, code, message] of cases) {
    // The path given (the file the user knows) wins over the one the call failed on.
    const e = systemError(failed(errno, '/cfg/shares.json.tmp-42'), '/cfg/shares.json');
    assert.deepEqual([e?.code, e?.message], [code, message], errno);
  }
  assert.equal(systemError(failed('EACCES', '/x'))?.message, 'permission denied: /x');
  assert.equal(systemError(failed('EACCES'))?.message, 'permission denied');
  assert.equal(systemError(failed('ENOENT', '/x')), null);
  assert.equal(systemError(new Error('plain')), null);
  assert.equal(systemError(undefined), null);
});

test("pathError: also what a path of the user's can meet, for the places that touch only such paths", () => {
  const failed = (code: string, path?: string) => Object.assign(new Error(`${code}: x`), { code, path });
  const cases: [string, string, string][] = [
    ['ENOENT', 'NOT_FOUND', 'no such file or directory: /cfg'],
    ['ENOTDIR', 'NOT_FOUND', 'not a directory (a file stands where one is needed): /cfg'],
    ['EISDIR', 'NOT_A_FILE', 'is a directory: /cfg'],
    ['ENAMETOOLONG', 'INVALID_NAME', 'file name too long: /cfg'],
    ['ELOOP', 'NOT_FOUND', 'too many levels of symbolic links: /cfg'],
    ['EACCES', 'PERMISSION_DENIED', 'permission denied: /cfg'],
  ];
  for (const [errno, code, message] of cases) {
    const e = pathError(failed(errno, '/other'), '/cfg');
    assert.deepEqual([e?.code, e?.message], [code, message], errno);
  }
  assert.equal(pathError(failed('EIO', '/x')), null);
});

test('docs/errors.md describes every error code, and no code that does not exist', () => {
  const root = join(import.meta.dirname, '..', '..');
  const source = readFileSync(join(root, 'src', 'core', 'errors.ts'), 'utf8');
  const union = source.slice(
    source.indexOf('export type ErrorCode'),
    source.indexOf(';', source.indexOf('export type ErrorCode')),
  );
  const codes = [...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]!);
  assert.ok(codes.length > 30, 'the ErrorCode union was read');
  const doc = readFileSync(join(root, 'docs', 'errors.md'), 'utf8');
  const documented = new Set([...doc.matchAll(/^\| `([A-Z_]+)` /gm)].map((m) => m[1]!));
  assert.deepEqual(
    codes.filter((c) => !documented.has(c)),
    [],
    'codes docs/errors.md does not describe',
  );
  assert.deepEqual(
    [...documented].filter((c) => !codes.includes(c)),
    [],
    'codes docs/errors.md describes that do not exist',
  );
});
