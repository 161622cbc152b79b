// Protocol ids are `/shoal/<name>/<major>`: built from valid parts only, parsed back exactly.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isShoalError } from '../../src/core/errors.ts';
import { parseProtocolId, protocolId } from '../../src/net/protocol-id.ts';

describe('protocol ids', () => {
  it('builds and parses versioned ids', () => {
    assert.equal(protocolId('chunk-fetch', 1), '/shoal/chunk-fetch/1');
    assert.deepEqual(parseProtocolId('/shoal/refs/0'), { name: 'refs', major: 0 });
    assert.deepEqual(parseProtocolId(protocolId('have-map', 12)), { name: 'have-map', major: 12 });
  });

  it('rejects invalid names and versions', () => {
    for (const [name, major] of [
      ['Refs', 1],
      ['', 1],
      ['a/b', 1],
      ['refs', -1],
      ['refs', 1.5],
      ['x'.repeat(33), 1],
    ] as const) {
      assert.throws(
        () => protocolId(name, major),
        (e) => isShoalError(e, 'INVALID_ARGUMENT'),
      );
    }
    for (const id of [
      '/shoal/refs',
      '/shoal/refs/01',
      '/shoal/refs/1.0.0',
      '/ipfs/ping/1.0.0',
      '/shoal/Refs/1',
    ]) {
      assert.equal(parseProtocolId(id), undefined, id);
    }
  });
});
