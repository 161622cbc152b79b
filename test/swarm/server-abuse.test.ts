// A misbehaving client against a real `shoal serve`: requests out of order or for an unknown
// repository get an error answer; oversized, malformed or unknown messages close that stream;
// and the server keeps serving everyone else.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Stream } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
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
    const streams = await Promise.all(Array.from({ length: 50 }, () => open()));
    await Promise.all(
      streams.map(async ({ stream, writer }) => {
        await writer.write({ type: 'hello', req: 1, repo: repoId });
        await writer.write({ type: 'get', req: 2, ids: [randomBytes(32)] });
        stream.abort(new Error('gone'));
      }),
    );
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
});
