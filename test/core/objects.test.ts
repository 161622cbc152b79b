// Objects: canonical encodings round trip, strict decoding, ids domain-separated by kind, and
// commit signatures.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  type Commit,
  compareNames,
  comparePathKeys,
  decodeCanonical,
  decodeCommit,
  decodeIndexNode,
  decodeRepoIdentity,
  decodeSignedRefs,
  decodeTree,
  EMPTY_CHUNK_ID,
  encodeCanonical,
  encodeCommit,
  encodeCommitForSigning,
  encodeIndexNode,
  encodeRepoIdentity,
  encodeSignedRefs,
  encodeTree,
  FORMAT_VERSION,
  fromHex,
  hashChunk,
  hashObject,
  isHexPrefix,
  isShoalError,
  keyPairFromSeed,
  MAX_NODE_ENTRIES,
  type ObjectKind,
  signCommit,
  signRefs,
  type TreeEntry,
  toHex,
  verifyCommit,
  verifyCommitBytes,
} from '../../src/core/index.ts';
import { ROOT } from '../helpers.ts';

const vectors = JSON.parse(readFileSync(join(ROOT, 'docs', 'format-vectors.json'), 'utf8')) as {
  ids: {
    emptyChunk: string;
    emptyTree: { cbor: string; id: string };
    helloTree: { cbor: string; id: string };
    indexNode: { cbor: string; id: string };
    commit: {
      authorSeed: string;
      authorKey: string;
      name: string;
      time: number;
      message: string;
      tree: string;
      cbor: string;
      id: string;
    };
    repoIdentity: {
      name: string;
      created: number;
      delegates: string[];
      threshold: number;
      visibility: 'public' | 'private';
      cbor: string;
      id: string;
    };
    signedRefs: {
      repo: string;
      signer: string;
      seq: number;
      time: number;
      refs: [string, string][];
      cbor: string;
      id: string;
    };
  };
};

const id = (n: number): Uint8Array => hashChunk(Buffer.from(`object ${n}`));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const key = keyPairFromSeed(new Uint8Array(32).fill(7));

function entry(name: string, over: Partial<TreeEntry> = {}): TreeEntry {
  return { name, kind: 'file', executable: false, size: 5, id: id(name.length), height: 0, ...over };
}

function corrupt(fn: () => unknown, code: 'CORRUPT_OBJECT' | 'UNSUPPORTED_FORMAT' = 'CORRUPT_OBJECT'): void {
  assert.throws(fn, (e) => isShoalError(e, code), `expected ${code}`);
}

/** A canonical encoding of an arbitrary map, to craft objects the encoders would refuse to make. */
const raw = (value: Record<string, unknown>): Uint8Array => encodeCanonical(value);

function sampleCommit(over: Partial<Omit<Commit, 'signature'>> = {}): Commit {
  return signCommit(key.seed, {
    tree: id(1),
    parents: [id(2), id(3)],
    author: { key: key.publicKey, name: 'Ada Lovelace' },
    time: 1_767_225_600_123,
    message: 'a message\n\nwith a body, ünïcode and 🙂',
    ...over,
  });
}

test('ids: hex round trip, prefixes, the empty chunk', () => {
  const x = id(1);
  assert.equal(hex(fromHex(toHex(x))), hex(x));
  assert.equal(toHex(x).length, 64);
  for (const bad of ['', 'ab', toHex(x).toUpperCase(), `${toHex(x)}00`, 'g'.repeat(64)]) {
    assert.throws(
      () => fromHex(bad),
      (e) => isShoalError(e, 'INVALID_ARGUMENT'),
    );
  }
  assert.equal(isHexPrefix('abcdef0'), true);
  assert.equal(isHexPrefix('abcdef'), false, 'six characters are too short');
  assert.equal(isHexPrefix('ABCDEF0'), false);
  assert.equal(isHexPrefix('abcdefg'), false);
  assert.equal(isHexPrefix('a'.repeat(64)), true);
  assert.equal(isHexPrefix('a'.repeat(65)), false);
  // BLAKE3 of the empty input, the well-known value.
  assert.equal(toHex(EMPTY_CHUNK_ID), 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262');
  assert.equal(toHex(EMPTY_CHUNK_ID), vectors.ids.emptyChunk);
});

test('object ids of different kinds never collide for the same bytes', () => {
  const kinds: ObjectKind[] = ['node', 'tree', 'commit', 'repo', 'refs'];
  for (const bytes of [
    new Uint8Array(0),
    Buffer.from('hello'),
    encodeTree({ entries: [] }).bytes,
    encodeIndexNode({ height: 1, entries: [{ id: id(1), size: 1 }] }).bytes,
    encodeCommit(sampleCommit()).bytes,
  ]) {
    const ids = [toHex(hashChunk(bytes)), ...kinds.map((k) => toHex(hashObject(k, bytes)))];
    assert.equal(new Set(ids).size, ids.length, `ids collide for ${hex(bytes).slice(0, 20)}`);
  }
  // An object's id is the hash of its encoding under its own kind.
  const tree = encodeTree({ entries: [entry('a')] });
  assert.equal(toHex(tree.id), toHex(hashObject('tree', tree.bytes)));
  assert.notEqual(toHex(tree.id), toHex(hashChunk(tree.bytes)));
});

test('encoding vectors match docs/format-vectors.json', () => {
  const v = vectors.ids;
  const empty = encodeTree({ entries: [] });
  assert.deepEqual({ cbor: hex(empty.bytes), id: toHex(empty.id) }, v.emptyTree);
  const hello = encodeTree({
    entries: [
      {
        name: 'hello.txt',
        kind: 'file',
        executable: false,
        size: 6,
        id: hashChunk(Buffer.from('hello\n')),
        height: 0,
      },
    ],
  });
  assert.deepEqual({ cbor: hex(hello.bytes), id: toHex(hello.id) }, v.helloTree);
  const node = encodeIndexNode({
    height: 1,
    entries: [
      { id: EMPTY_CHUNK_ID, size: 0 },
      { id: hashChunk(Buffer.from('hello\n')), size: 6 },
    ],
  });
  assert.deepEqual({ cbor: hex(node.bytes), id: toHex(node.id) }, v.indexNode);
  // Ed25519 signatures are deterministic, so a signed commit is a vector too.
  const author = keyPairFromSeed(Buffer.from(v.commit.authorSeed, 'hex'));
  assert.equal(toHex(author.publicKey), v.commit.authorKey);
  const c = encodeCommit(
    signCommit(author.seed, {
      tree: fromHex(v.commit.tree),
      parents: [],
      author: { key: author.publicKey, name: v.commit.name },
      time: v.commit.time,
      message: v.commit.message,
    }),
  );
  assert.deepEqual({ cbor: hex(c.bytes), id: toHex(c.id) }, { cbor: v.commit.cbor, id: v.commit.id });
  // The repository identity, and refs its delegate signed.
  const r = v.repoIdentity;
  const identity = encodeRepoIdentity({ ...r, delegates: r.delegates.map(fromHex) });
  assert.deepEqual({ cbor: hex(identity.bytes), id: toHex(identity.id) }, { cbor: r.cbor, id: r.id });
  assert.deepEqual(decodeRepoIdentity(identity.bytes).delegates.map(toHex), r.delegates);
  const d = v.signedRefs;
  assert.equal(d.repo, r.id);
  const refs = encodeSignedRefs(
    signRefs(author.seed, {
      repo: fromHex(d.repo),
      signer: fromHex(d.signer),
      seq: d.seq,
      time: d.time,
      refs: new Map(d.refs.map(([name, id]) => [name, fromHex(id)])),
    }),
  );
  assert.deepEqual({ cbor: hex(refs.bytes), id: toHex(refs.id) }, { cbor: d.cbor, id: d.id });
  assert.deepEqual(
    [...decodeSignedRefs(refs.bytes).refs].map(([name, id]) => [name, toHex(id)]),
    d.refs,
  );
  assert.equal(verifyCommitBytes(Buffer.from(v.commit.cbor, 'hex')), true);
  // Pinned here as well.
  assert.equal(v.emptyTree.cbor, 'a361658061746474726565617601');
});

test('index nodes round trip and reject malformed input', () => {
  const node = { height: 2, entries: [0, 1, 2].map((n) => ({ id: id(n), size: n * 1000 + 1 })) };
  const enc = encodeIndexNode(node);
  const dec = decodeIndexNode(enc.bytes);
  assert.equal(dec.height, 2);
  assert.deepEqual(
    dec.entries.map((e) => [hex(e.id), e.size]),
    node.entries.map((e) => [hex(e.id), e.size]),
  );
  assert.equal(toHex(encodeIndexNode(dec).id), toHex(enc.id), 're-encoding gives the same id');

  const good = { t: 'node', v: FORMAT_VERSION, h: 1, e: [[id(1), 5]] };
  decodeIndexNode(raw(good)); // the crafted baseline decodes
  corrupt(() => decodeIndexNode(raw({ ...good, t: 'tree' })));
  corrupt(() => decodeIndexNode(raw({ ...good, v: 2 })), 'UNSUPPORTED_FORMAT');
  corrupt(() => decodeIndexNode(raw({ ...good, h: 0 })));
  corrupt(() => decodeIndexNode(raw({ ...good, h: 33 })));
  corrupt(() => decodeIndexNode(raw({ ...good, h: -1 })));
  corrupt(() => decodeIndexNode(raw({ ...good, e: [] })));
  corrupt(() => decodeIndexNode(raw({ ...good, e: [[id(1)]] })));
  corrupt(() => decodeIndexNode(raw({ ...good, e: [[id(1), -5]] })));
  corrupt(() => decodeIndexNode(raw({ ...good, e: [[id(1), 1.5]] })));
  corrupt(() => decodeIndexNode(raw({ ...good, e: [[id(1).subarray(0, 31), 5]] })));
  corrupt(() => decodeIndexNode(raw({ ...good, e: [['x'.repeat(32), 5]] })));
  corrupt(() =>
    decodeIndexNode(raw({ ...good, e: Array.from({ length: MAX_NODE_ENTRIES + 1 }, () => [id(1), 1]) })),
  );
  corrupt(() => decodeIndexNode(raw({ t: 'node', v: FORMAT_VERSION, e: [[id(1), 5]] })));
  corrupt(() => decodeIndexNode(encodeCanonical([1, 2, 3])));
  corrupt(() => decodeIndexNode(new Uint8Array(0)));
  corrupt(() => decodeIndexNode(enc.bytes.subarray(0, enc.bytes.length - 1))); // truncated
  corrupt(() => decodeIndexNode(Buffer.concat([enc.bytes, Buffer.of(0)]))); // trailing byte
});

test('trees round trip, sort entries byte-wise and reject bad names', () => {
  const entries = [
    entry('zeta', { executable: true, size: 123456789 }),
    entry('Alpha'),
    entry('dir', { kind: 'dir', id: encodeTree({ entries: [] }).id }),
    entry('link', { kind: 'symlink', size: 7 }),
    entry('big', { height: 3, size: 2 ** 40 }),
    entry('é'),
    entry('\u{10000}'),
    entry('\uffff'),
  ];
  const enc = encodeTree({ entries });
  const dec = decodeTree(enc.bytes);
  // Sorted by UTF-8 bytes: U+FFFF (ef bf bf) before U+10000 (f0 90 80 80), unlike UTF-16 order.
  assert.deepEqual(
    dec.entries.map((e) => e.name),
    ['Alpha', 'big', 'dir', 'link', 'zeta', 'é', '\uffff', '\u{10000}'],
  );
  assert.ok(compareNames('\uffff', '\u{10000}') < 0);
  assert.ok(compareNames('B', 'a') < 0);
  const byName = new Map(dec.entries.map((e) => [e.name, e]));
  for (const e of entries) {
    const d = byName.get(e.name)!;
    assert.deepEqual({ ...d, id: hex(d.id) }, { ...e, id: hex(e.id) }, e.name);
  }
  // The encoding does not depend on the input order.
  assert.equal(toHex(encodeTree({ entries: [...entries].reverse() }).id), toHex(enc.id));

  // A lone surrogate has no UTF-8 form: it could be neither encoded nor sorted.
  for (const name of ['', '.', '..', 'a/b', 'nul\0byte', '\ud800a', 'b\udc00']) {
    assert.throws(
      () => encodeTree({ entries: [entry(name)] }),
      (e) => isShoalError(e, 'INVALID_NAME'),
      JSON.stringify(name),
    );
  }
  assert.throws(
    () => encodeTree({ entries: [entry('same'), entry('same', { size: 1 })] }),
    (e) => isShoalError(e, 'INVALID_NAME'),
  );
});

test('compareNames is the UTF-8 byte order; comparePathKeys puts a directory after its name + "/"', () => {
  // Code units from every range where UTF-16 and UTF-8 orders could part: ASCII, '/', two- and
  // three-byte characters, U+E000-U+FFFF and surrogate pairs (four bytes).
  const alphabet = [
    'a',
    'b',
    '.',
    '/',
    '0',
    '-',
    'é',
    'ß',
    '中',
    '\ue000',
    '\uffff',
    '\u{10000}',
    '😀',
    '\u{10ffff}',
  ];
  let seed = 7;
  const pick = (): string => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return alphabet[seed % alphabet.length]!;
  };
  const words: string[] = [];
  for (let i = 0; i < 400; i++) {
    let w = '';
    for (let n = 1 + (i % 5); n > 0; n--) w += pick();
    words.push(w);
  }
  for (let i = 0; i < words.length; i++) {
    for (let j = 0; j < 40; j++) {
      const a = words[i]!;
      const b = words[(i * 31 + j) % words.length]!;
      const bytes = Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b)));
      assert.equal(Math.sign(compareNames(a, b)), bytes, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    }
  }
  // Sorted as path keys, a directory's entries follow every name that sorts before its '/'.
  const keys = [
    { name: 'a', dir: true },
    { name: 'a.txt', dir: false },
    { name: 'a-b', dir: false },
    { name: 'a0', dir: false },
  ].sort(comparePathKeys);
  assert.deepEqual(
    keys.map((k) => k.name),
    ['a-b', 'a.txt', 'a', 'a0'],
  );
});

test('tree decoding rejects wrong type, version, shape and out-of-order entries', () => {
  const row = (name: string, over: unknown[] = []): unknown[] => {
    const r: unknown[] = [name, 'f', 0, 5, id(1), 0];
    over.forEach((v, i) => {
      if (v !== undefined) r[i] = v;
    });
    return r;
  };
  const tree = (e: unknown[]): Uint8Array => raw({ t: 'tree', v: FORMAT_VERSION, e });
  decodeTree(tree([row('a'), row('b')])); // baseline
  corrupt(() => decodeTree(tree([row('b'), row('a')])), 'CORRUPT_OBJECT'); // out of order
  corrupt(() => decodeTree(tree([row('a'), row('a')])), 'CORRUPT_OBJECT'); // duplicate
  corrupt(() => decodeTree(tree([row('a'), row('B')]))); // 'B' < 'a' byte-wise
  corrupt(() => decodeTree(tree([row('\u{10000}'), row('\uffff')]))); // UTF-16 order is wrong here
  corrupt(() => decodeTree(tree([row('..')])));
  corrupt(() => decodeTree(tree([row('a/b')])));
  corrupt(() => decodeTree(tree([row('a', [undefined, 'x'])]))); // unknown kind
  corrupt(() => decodeTree(tree([row('a', [undefined, undefined, 2])]))); // executable flag
  corrupt(() => decodeTree(tree([row('a', [undefined, undefined, undefined, -1])]))); // size
  corrupt(() =>
    decodeTree(tree([row('a', [undefined, undefined, undefined, undefined, id(1).subarray(1)])])),
  );
  corrupt(() => decodeTree(tree([row('a').slice(0, 5)])));
  corrupt(() => decodeTree(tree([[1, 'f', 0, 5, id(1), 0]])));
  corrupt(() => decodeTree(raw({ t: 'tree', v: FORMAT_VERSION })));
  corrupt(() => decodeTree(raw({ t: 'node', v: FORMAT_VERSION, e: [] })));
  corrupt(() => decodeTree(raw({ t: 'tree', v: 99, e: [] })), 'UNSUPPORTED_FORMAT');
  corrupt(() => decodeTree(raw({ t: 'tree', e: [] })), 'UNSUPPORTED_FORMAT');
  // Other kinds of object are not trees.
  corrupt(() => decodeTree(encodeIndexNode({ height: 1, entries: [{ id: id(1), size: 1 }] }).bytes));
  corrupt(() => decodeTree(encodeCommit(sampleCommit()).bytes));
  corrupt(() => decodeCommit(encodeTree({ entries: [] }).bytes));
  corrupt(() => decodeIndexNode(encodeTree({ entries: [] }).bytes));
});

test('strict CBOR: non-canonical input is rejected', () => {
  // Baseline: {"t": "tree", "v": 1, "e": []} canonically encoded decodes.
  const good = Buffer.from(vectors.ids.emptyTree.cbor, 'hex');
  decodeTree(good);
  // Duplicate map keys.
  corrupt(() => decodeCanonical(Buffer.from('a2617601617601', 'hex'), 'x'));
  // Indefinite-length array.
  corrupt(() => decodeCanonical(Buffer.from('9f01ff', 'hex'), 'x'));
  // undefined.
  corrupt(() => decodeCanonical(Buffer.from('f7', 'hex'), 'x'));
  // A non-minimal integer (1 encoded in two bytes).
  corrupt(() => decodeCanonical(Buffer.from('1801', 'hex'), 'x'));
  // Garbage.
  corrupt(() => decodeCanonical(Buffer.from('ff', 'hex'), 'x'));
});

test('commits round trip and their signatures verify', () => {
  const c = sampleCommit();
  assert.equal(verifyCommit(c), true);
  const enc = encodeCommit(c);
  const dec = decodeCommit(enc.bytes);
  assert.equal(verifyCommit(dec), true);
  assert.deepEqual(
    {
      tree: hex(dec.tree),
      parents: dec.parents.map(hex),
      key: hex(dec.author.key),
      name: dec.author.name,
      time: dec.time,
      message: dec.message,
      signature: hex(dec.signature),
    },
    {
      tree: hex(c.tree),
      parents: c.parents.map(hex),
      key: hex(c.author.key),
      name: c.author.name,
      time: c.time,
      message: c.message,
      signature: hex(c.signature),
    },
  );
  assert.equal(toHex(encodeCommit(dec).id), toHex(enc.id));
  // A root commit (no parents) works too.
  assert.equal(verifyCommitBytes(encodeCommit(sampleCommit({ parents: [] })).bytes), true);
});

test('a changed field or a forged signer fails verification', () => {
  const c = sampleCommit();
  assert.equal(verifyCommit({ ...c, message: `${c.message}.` }), false);
  assert.equal(verifyCommit({ ...c, time: c.time + 1 }), false);
  assert.equal(verifyCommit({ ...c, tree: id(99) }), false);
  assert.equal(verifyCommit({ ...c, parents: [c.parents[1]!, c.parents[0]!] }), false);
  assert.equal(verifyCommit({ ...c, author: { ...c.author, name: 'Mallory' } }), false);
  const other = keyPairFromSeed(new Uint8Array(32).fill(8));
  assert.equal(verifyCommit({ ...c, author: { ...c.author, key: other.publicKey } }), false);
  // Signed by someone else but claiming this author.
  const forged = signCommit(other.seed, { ...c, author: c.author });
  assert.equal(verifyCommit(forged), false);
  assert.equal(verifyCommit({ ...c, signature: new Uint8Array(64) }), false);
  assert.equal(verifyCommit({ ...c, signature: c.signature.subarray(0, 63) }), false);
  // The signed bytes are the commit without its signature.
  const signed = decodeCanonical(encodeCommitForSigning(c), 'commit') as Record<string, unknown>;
  assert.equal('sig' in signed, false);
  assert.equal(signed.message, c.message);
});

test('flipping any single byte of a stored commit never yields a valid signed commit', () => {
  const bytes = encodeCommit(sampleCommit()).bytes;
  let rejected = 0;
  let badSignature = 0;
  for (let i = 0; i < bytes.length; i++) {
    for (const mask of [0x01, 0x80]) {
      const flipped = new Uint8Array(bytes);
      flipped[i]! ^= mask;
      let commit: Commit;
      try {
        commit = decodeCommit(flipped);
      } catch (err) {
        assert.ok(isShoalError(err), `byte ${i}: ${err}`);
        rejected++;
        continue;
      }
      assert.equal(verifyCommit(commit), false, `byte ${i} ^ ${mask} still verifies`);
      badSignature++;
    }
  }
  assert.equal(rejected + badSignature, bytes.length * 2);
  assert.ok(badSignature > bytes.length / 2, 'most flips decode and then fail the signature');
});

test('commit decoding rejects malformed commits', () => {
  const c = sampleCommit();
  const body = {
    t: 'commit',
    v: FORMAT_VERSION,
    tree: c.tree,
    parents: c.parents,
    author: { key: c.author.key, name: c.author.name },
    time: c.time,
    message: c.message,
    sig: c.signature,
  };
  decodeCommit(raw(body)); // baseline
  corrupt(() => decodeCommit(raw({ ...body, v: 2 })), 'UNSUPPORTED_FORMAT');
  corrupt(() => decodeCommit(raw({ ...body, t: 'tree' })));
  corrupt(() => decodeCommit(raw({ ...body, sig: c.signature.subarray(0, 10) })));
  const { sig: _sig, ...unsigned } = body;
  corrupt(() => decodeCommit(raw(unsigned)));
  corrupt(() => decodeCommit(raw({ ...body, author: { key: c.author.key.subarray(1), name: 'x' } })));
  corrupt(() => decodeCommit(raw({ ...body, author: { key: c.author.key, name: 5 } })));
  corrupt(() => decodeCommit(raw({ ...body, author: 'someone' })));
  corrupt(() => decodeCommit(raw({ ...body, author: null })));
  corrupt(() => decodeCommit(raw({ ...body, parents: [c.tree.subarray(1)] })));
  corrupt(() => decodeCommit(raw({ ...body, parents: 'none' })));
  corrupt(() => decodeCommit(raw({ ...body, time: -1 })));
  corrupt(() => decodeCommit(raw({ ...body, message: new Uint8Array(2) })));
  corrupt(() => decodeCommit(raw({ ...body, tree: 'abc' })));
});
