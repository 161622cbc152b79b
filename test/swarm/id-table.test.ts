// The fetch's table of wanted chunks: lookups by id must agree with a plain Map through growth,
// whatever the ids look like.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { IdTable } from '../../src/swarm/id-table.ts';

const idOf = (n: number): Uint8Array => new Uint8Array(createHash('sha256').update(String(n)).digest());

describe('IdTable', () => {
  it('keeps ids and sizes in the order added, and finds each by id through growth', () => {
    const table = new IdTable();
    const reference = new Map<string, number>();
    for (let n = 0; n < 5000; n++) {
      const id = idOf(n % 4000); // the last thousand repeat earlier ids
      const added = table.add(id, n * 1000 + 1);
      const key = Buffer.from(id).toString('hex');
      assert.equal(added, !reference.has(key));
      if (added) reference.set(key, reference.size);
    }
    assert.equal(table.length, 4000);
    let total = 0;
    for (const [key, i] of reference) {
      const id = Buffer.from(key, 'hex');
      assert.equal(table.indexOf(id), i);
      assert.deepEqual(Buffer.from(table.id(i)), id);
      assert.equal(table.size(i), i * 1000 + 1);
      total += i * 1000 + 1;
    }
    assert.equal(table.totalSize(), total);
    assert.equal(table.indexOf(idOf(4001)), -1);
    assert.equal(table.has(idOf(4001)), false);
  });

  it('tells apart ids that differ in one byte only, and keeps sizes above 32 bits', () => {
    const table = new IdTable();
    const base = new Uint8Array(32); // all zero: what a crafted index might name
    for (let k = 0; k < 32; k++) {
      for (const value of [1, 0x80, 0xff]) {
        const id = base.slice();
        id[k] = value;
        assert.equal(table.add(id, 2 ** 40 + k), true);
      }
    }
    assert.equal(table.add(base, 7), true);
    assert.equal(table.length, 32 * 3 + 1);
    for (let k = 0; k < 32; k++) {
      const id = base.slice();
      id[k] = 0x80;
      const i = table.indexOf(id);
      assert.equal(i, k * 3 + 1);
      assert.equal(table.size(i), 2 ** 40 + k);
    }
    assert.equal(table.indexOf(base), 32 * 3);
  });

  it('finds an id given as a view into a larger buffer, and refuses ids of the wrong length', () => {
    const table = new IdTable();
    const id = idOf(1);
    table.add(id, 5);
    const carrier = new Uint8Array(100);
    carrier.set(id, 37);
    assert.equal(table.indexOf(carrier.subarray(37, 69)), 0);
    assert.equal(table.indexOf(id.subarray(0, 31)), -1);
    assert.throws(() => table.add(id.subarray(0, 31), 1), RangeError);
    assert.throws(() => table.id(1), RangeError);
    assert.throws(() => table.size(-1), RangeError);
  });

  it('is empty after clear, and usable again', () => {
    const table = new IdTable();
    for (let n = 0; n < 300; n++) table.add(idOf(n), n);
    table.clear();
    assert.equal(table.length, 0);
    assert.equal(table.indexOf(idOf(5)), -1);
    assert.equal(table.totalSize(), 0);
    assert.equal(table.add(idOf(5), 9), true);
    assert.equal(table.indexOf(idOf(5)), 0);
  });
});
