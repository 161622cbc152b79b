// A misbehaving client against a real `shoal serve`: requests out of order or for an unknown
// repository get an error answer; oversized, malformed or unknown messages close that stream;
// and the server keeps serving everyone else.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Stream } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { keyPairFromSeed, toHex } from '../../src/core/index.ts';
import {
  createPeerNode,
  encodeFrameHeader,
  type Frame,
  FrameReader,
  FrameWriter,
  type PeerNode,
  SYNC_PROTOCOL,
  WIRE_ERRORS,
} from '../../src/net/index.ts';
import { newRepo, randomFile, sha256File, type TestRepo } from '../cli/repo-helpers.ts';
import { tempDir } from '../helpers.ts';
import { assertFsck, assertOk, type Server, serve, shoalAsync, suiteScope, userAt } from './swarm-helpers.ts';

const { scope, cleanup } = suiteScope();
let origin: TestRepo;
let server: Server;
let repoId: Uint8Array;
let node: PeerNode;
let sum: string;

before(async () => {
  origin = newRepo(scope);
  sum = randomFile(origin.path('data.bin'), 1024 * 1024);
  origin.commit('data');
  repoId = Buffer.from(origin.j<{ id: string }>(['info']).id, 'hex');
  server = await serve(scope, origin);
  node = await createPeerNode({ seed: randomBytes(32) });
});

after(async () => {
  await node?.stop();
  await cleanup();
});

async function open(): Promise<{ stream: Stream; reader: FrameReader; writer: FrameWriter }> {
  const stream = await node.dialProtocol(multiaddr(server.addr), SYNC_PROTOCOL);
  return { stream, reader: new FrameReader(stream), writer: new FrameWriter(stream) };
}

/** The stream ends (reset or closed) instead of answering. */
async function assertClosed(reader: FrameReader): Promise<void> {
  let frame: Frame | undefined;
  try {
    frame = await reader.read();
  } catch {
    return;
  }
  assert.equal(
    frame,
    undefined,
    `expected the server to close the stream, got ${JSON.stringify(frame?.header)}`,
  );
}

describe('a misbehaving client', () => {
  it('a request before hello, or for a repository not served here, gets an error answer', async () => {
    const { reader, writer } = await open();
    await writer.write({ type: 'get', req: 1, ids: [randomBytes(32)] });
    const early = await reader.read();
    assert.equal(early?.header.type, 'error');
    assert.equal(early?.header.code, WIRE_ERRORS.badRequest);
    await writer.write({ type: 'hello', req: 2, repo: randomBytes(32) });
    const unknown = await reader.read();
    assert.equal(unknown?.header.type, 'error');
    assert.equal(unknown?.header.code, WIRE_ERRORS.notFound);
    // The same stream still works for a proper request.
    await writer.write({ type: 'hello', req: 3, repo: repoId });
    const hello = await reader.read();
    assert.equal(hello?.header.type, 'repo');
    assert.equal(hello?.header.req, 3);
    await writer.write({ type: 'get', req: 4, ids: [randomBytes(32)] });
    assert.equal((await reader.read())?.header.type, 'missing');
    await writer.close();
  });

  it('a 2 GiB header length closes the stream', async () => {
    const { stream, reader } = await open();
    const prefix = new Uint8Array(4);
    new DataView(prefix.buffer).setUint32(0, 0x7fff_ffff);
    stream.send(prefix);
    stream.send(randomBytes(64 * 1024));
    await assertClosed(reader);
  });

  it('a request with a payload over the limit closes the stream', async () => {
    const { stream, reader } = await open();
    stream.send(
      encodeFrameHeader({ type: 'hello', req: 1, repo: repoId }, 100 << 20, { maxPayloadBytes: 256 << 20 }),
    );
    stream.send(randomBytes(256 * 1024));
    await assertClosed(reader);
  });

  it('too many ids, an unknown request and garbage CBOR each close the stream', async () => {
    for (const send of [
      (w: FrameWriter) =>
        w
          .write({ type: 'hello', req: 1, repo: repoId })
          .then(() =>
            w.write({ type: 'get', req: 2, ids: Array.from({ length: 5000 }, () => randomBytes(32)) }),
          ),
      (w: FrameWriter) => w.write({ type: 'launch-missiles', req: 1 }),
      (w: FrameWriter) => {
        const junk = randomBytes(100);
        const prefix = new Uint8Array(4);
        new DataView(prefix.buffer).setUint32(0, junk.length);
        w.stream.send(prefix);
        w.stream.send(junk);
        return Promise.resolve();
      },
    ]) {
      const { reader, writer } = await open();
      await send(writer).catch(() => {});
      // The hello of the first case is answered before the bad request closes the stream.
      let frame: Frame | undefined;
      do {
        try {
          frame = await reader.read();
        } catch {
          frame = undefined;
        }
      } while (frame?.header.type === 'repo');
      assert.equal(frame, undefined, `the stream should close, got ${JSON.stringify(frame?.header)}`);
    }
  });

  it('many streams opened and dropped mid-request do not stop the server', async () => {
    // More than the server takes per connection (32): those over it are refused, which must not
    // disturb it either.
    const streams = await Promise.all(Array.from({ length: 50 }, () => open()));
    const refused = await Promise.all(
      streams.map(async ({ stream, writer }) => {
        try {
          await writer.write({ type: 'hello', req: 1, repo: repoId });
          await writer.write({ type: 'get', req: 2, ids: [randomBytes(32)] });
          stream.abort(new Error('gone'));
          return 0;
        } catch {
          return 1;
        }
      }),
    );
    assert.ok(refused.reduce<number>((a, b) => a + b, 0) <= 50 - 32);
  });

  it('after all that, the server still serves a clone', async (t) => {
    assert.equal(server.finished(), false, `the server exited: ${server.stderr()}`);
    const parent = tempDir(t);
    const user = userAt(t, join(parent, 'clone'));
    assertOk(
      await shoalAsync(t, ['clone', server.addr, user.dir], { cwd: parent, configDir: user.configDir }),
      'clone',
    );
    assert.equal(sha256File(user.path('data.bin')), sum);
    assertFsck(user);
  });
  it('takes at most 32 request streams per connection, and a new one once one is closed', async () => {
    const crowd = await createPeerNode({ seed: randomBytes(32) });
    try {
      const dial = () =>
        crowd.dialProtocol(multiaddr(server.addr), SYNC_PROTOCOL, { maxOutboundStreams: 64 });
      const hello = async (stream: Stream, req: number): Promise<string | undefined> => {
        const reader = new FrameReader(stream);
        await new FrameWriter(stream).write({ type: 'hello', req, repo: repoId });
        return (await reader.read())?.header.type;
      };
      const open: Stream[] = [];
      for (let i = 0; i < 32; i++) {
        const stream = await dial();
        assert.equal(await hello(stream, i + 1), 'repo');
        open.push(stream);
      }
      // The 33rd is refused, whether at the dial or at its first answer.
      const extra = await dial().then(
        (stream) =>
          hello(stream, 99).then(
            (type) => type ?? 'closed',
            () => 'refused',
          ),
        () => 'refused',
      );
      assert.notEqual(extra, 'repo');
      // The server keeps serving the streams it took, and takes a new one once one is closed.
      assert.equal(await hello(open[0]!, 100), 'repo');
      await open.pop()!.close();
      // The server frees the slot when its end of the stream closes: retry until it has.
      let again: string | undefined;
      for (let i = 0; i < 500 && again !== 'repo'; i++) {
        again = await dial()
          .then(
            (s) => hello(s, 101),
            () => undefined,
          )
          .catch(() => undefined);
      }
      assert.equal(again, 'repo');
      for (const s of open) await s.close();
    } finally {
      await crowd.stop();
    }
  });
});

describe('a private repository served to a listed key', () => {
  it('a key taken off the readers list loses access on a stream it already has open', async (t) => {
    const owner = userAt(t, join(tempDir(t), 'secret'));
    owner.ok(['init', '--private', owner.dir], tmpdir());
    owner.write('secret.txt', 'top secret\n');
    const head = Buffer.from(owner.commit('secret'), 'hex');
    const id = Buffer.from(owner.j<{ id: string }>(['info']).id, 'hex');
    const seed = randomBytes(32);
    owner.ok(['config', 'access.readers', toHex(keyPairFromSeed(seed).publicKey)]);
    const served = await serve(t, owner);
    const reader = await createPeerNode({ seed });
    t.after(() => reader.stop());
    const stream = await reader.dialProtocol(multiaddr(served.addr), SYNC_PROTOCOL);
    const frames = new FrameReader(stream);
    const writer = new FrameWriter(stream);
    const ask = async (header: { type: string; [k: string]: unknown }) => {
      await writer.write(header);
      return (await frames.read())?.header;
    };
    assert.equal((await ask({ type: 'hello', req: 1, repo: id }))?.type, 'repo');
    assert.equal((await ask({ type: 'get', req: 2, ids: [head] }))?.type, 'object');
    owner.ok(['config', 'access.readers', 'ab'.repeat(32)]);
    const refused = await ask({ type: 'get', req: 3, ids: [head] });
    assert.equal(refused?.type, 'error');
    assert.equal(refused?.code, WIRE_ERRORS.forbidden);
    // And the stream is no longer bound to the repository.
    assert.equal(
      (await ask({ type: 'have', req: 4, root: head, height: 0, commit: true }))?.code,
      WIRE_ERRORS.badRequest,
    );
  });
});
