// Message framing over a libp2p stream: each message is a u32 big-endian length, a canonical
// CBOR header (a map with a `type`), then the raw payload the header declares. Reader and writer
// apply backpressure and size limits; any violation aborts the stream with PEER_ERROR.

import type { AbortOptions, Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface';
import { decode, encode } from 'cborg';
import { Uint8ArrayList } from 'uint8arraylist';
import { STRICT_DECODE_OPTIONS } from '../core/encoding.ts';
import { ShoalError } from '../core/errors.ts';
import { decodeFlatMap, encodeFlatMap } from '../core/flat-cbor.ts';
import { ByteQueue } from './byte-queue.ts';

/** A decoded message header: protocol fields plus the message `type`. */
export interface FrameHeader {
  type: string;
  [field: string]: unknown;
}

/** One message: its header and, when the header declared one, its raw payload. */
export interface Frame {
  header: FrameHeader;
  payload: Uint8Array | undefined;
}

export interface FrameLimits {
  /** Largest encoded CBOR header accepted or sent, in bytes. */
  maxHeaderBytes: number;
  /** Largest raw payload accepted or sent, in bytes. */
  maxPayloadBytes: number;
}

export const DEFAULT_FRAME_LIMITS: Readonly<FrameLimits> = Object.freeze({
  maxHeaderBytes: 1024 * 1024,
  maxPayloadBytes: 16 * 1024 * 1024,
});

/** Hard ceilings for configured limits: a u32 prefix, and what one process should hold. */
export const MAX_HEADER_LIMIT = 16 * 1024 * 1024;
export const MAX_PAYLOAD_LIMIT = 256 * 1024 * 1024;

export const LENGTH_PREFIX_BYTES = 4;
/** The header key, reserved by the framing, that declares the payload's length. */
export const PAYLOAD_KEY = 'payload';
const TYPE_PATTERN = /^[a-z][a-z0-9-]{0,63}$/;

/** Deepest nesting of arrays and maps accepted in a header. */
export const MAX_HEADER_DEPTH = 16;

// cborg would encode undefined, floats, bigints and Maps, which every peer rejects: refuse them
const ENCODE_OPTIONS = {
  typeEncoders: {
    undefined: () => {
      throw new Error('undefined values are not allowed');
    },
    number: (n: unknown) => {
      if (!Number.isSafeInteger(n)) throw new Error('only safe integers are allowed, not floats');
      return null;
    },
    bigint: () => {
      throw new Error('bigints are not allowed');
    },
    Map: () => {
      throw new Error('Maps are not allowed, use plain objects');
    },
  },
};

// Headers carry no floats (as in objects, docs/format.md) and nest at most MAX_HEADER_DEPTH.
function checkHeaderValue(value: unknown, depth: number): string | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? undefined : 'a float or unsafe integer';
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return undefined;
  if (depth >= MAX_HEADER_DEPTH) return `nesting deeper than ${MAX_HEADER_DEPTH}`;
  for (const item of Array.isArray(value) ? value : Object.values(value)) {
    const problem = checkHeaderValue(item, depth + 1);
    if (problem) return problem;
  }
  return undefined;
}

function resolveLimits(limits: Partial<FrameLimits> | undefined): FrameLimits {
  const out = { ...DEFAULT_FRAME_LIMITS, ...limits };
  const ok = (n: number, max: number) => Number.isSafeInteger(n) && n >= 1 && n <= max;
  if (!ok(out.maxHeaderBytes, MAX_HEADER_LIMIT) || !ok(out.maxPayloadBytes, MAX_PAYLOAD_LIMIT)) {
    throw new ShoalError('INVALID_ARGUMENT', 'invalid frame limits', { ...out });
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Encodes one message's prefix and header (not the payload, which follows unencoded). Throws
 * INVALID_ARGUMENT for a header the peer would reject: no valid `type`, a reserved `payload`
 * key, a value CBOR cannot carry (undefined, functions), or over the limits.
 */
export function encodeFrameHeader(
  header: FrameHeader,
  payloadLength: number | undefined,
  limits?: Partial<FrameLimits>,
): Uint8Array {
  return encodeHeader(header, payloadLength, resolveLimits(limits));
}

function encodeHeader(
  header: FrameHeader,
  payloadLength: number | undefined,
  limits: FrameLimits,
): Uint8Array {
  const { maxHeaderBytes, maxPayloadBytes } = limits;
  if (!isPlainObject(header) || typeof header.type !== 'string' || !TYPE_PATTERN.test(header.type)) {
    throw new ShoalError('INVALID_ARGUMENT', 'frame header needs a kebab-case `type`');
  }
  if (Object.hasOwn(header, PAYLOAD_KEY)) {
    throw new ShoalError('INVALID_ARGUMENT', `frame header key \`${PAYLOAD_KEY}\` is reserved`);
  }
  if (payloadLength !== undefined && (!Number.isSafeInteger(payloadLength) || payloadLength < 0)) {
    throw new ShoalError('INVALID_ARGUMENT', 'invalid payload length');
  }
  if (payloadLength !== undefined && payloadLength > maxPayloadBytes) {
    throw new ShoalError('INVALID_ARGUMENT', `payload of ${payloadLength} bytes exceeds ${maxPayloadBytes}`);
  }
  const fields = payloadLength === undefined ? header : { ...header, [PAYLOAD_KEY]: payloadLength };
  // A flat header is encoded in place after its length prefix (its values are all fit to send);
  // anything else is checked, then goes through cborg.
  let out = encodeFlatMap(fields, LENGTH_PREFIX_BYTES);
  if (out === undefined) {
    const problem = checkHeaderValue(header, 0);
    if (problem) throw new ShoalError('INVALID_ARGUMENT', `frame header holds ${problem}`);
    let cbor: Uint8Array;
    try {
      cbor = encode(fields, ENCODE_OPTIONS);
    } catch (err) {
      throw new ShoalError('INVALID_ARGUMENT', `frame header cannot be encoded: ${(err as Error).message}`);
    }
    out = new Uint8Array(LENGTH_PREFIX_BYTES + cbor.byteLength);
    out.set(cbor, LENGTH_PREFIX_BYTES);
  }
  const headerBytes = out.byteLength - LENGTH_PREFIX_BYTES;
  if (headerBytes > maxHeaderBytes) {
    throw new ShoalError(
      'INVALID_ARGUMENT',
      `frame header of ${headerBytes} bytes exceeds ${maxHeaderBytes}`,
    );
  }
  new DataView(out.buffer).setUint32(0, headerBytes, false);
  return out;
}

/**
 * Decodes and validates a received header (the bytes after the length prefix). Returns the
 * header without the reserved `payload` key, and the declared payload length. Throws
 * PEER_ERROR unless the bytes are exactly the canonical CBOR encoding of a valid header.
 */
export function decodeFrameHeader(bytes: Uint8Array, limits?: Partial<FrameLimits>): DecodedHeader {
  return decodeHeader(bytes, resolveLimits(limits));
}

export interface DecodedHeader {
  header: FrameHeader;
  payloadLength: number | undefined;
}

function decodeGeneralHeader(bytes: Uint8Array): Record<string, unknown> {
  let value: unknown;
  try {
    value = decode(bytes, STRICT_DECODE_OPTIONS);
  } catch (err) {
    throw new ShoalError('PEER_ERROR', `malformed frame header: ${(err as Error).message}`);
  }
  if (!isPlainObject(value)) throw new ShoalError('PEER_ERROR', 'frame header is not a CBOR map');
  const problem = checkHeaderValue(value, 0);
  if (problem) throw new ShoalError('PEER_ERROR', `frame header holds ${problem}`);
  // strict decoding does not check map key order or float widths: re-encode and compare
  if (!equalBytes(encode(value), bytes)) {
    throw new ShoalError('PEER_ERROR', 'frame header is not canonical CBOR');
  }
  return value;
}

function decodeHeader(bytes: Uint8Array, limits: FrameLimits): DecodedHeader {
  const { maxHeaderBytes, maxPayloadBytes } = limits;
  if (bytes.byteLength === 0 || bytes.byteLength > maxHeaderBytes) {
    throw new ShoalError(
      'PEER_ERROR',
      `frame header of ${bytes.byteLength} bytes is outside 1..${maxHeaderBytes}`,
    );
  }
  // A flat header in canonical form decodes directly; anything else (or anything wrong) goes
  // through cborg, which decides and says what is wrong.
  const value = decodeFlatMap(bytes) ?? decodeGeneralHeader(bytes);
  const type = value.type;
  if (typeof type !== 'string' || !TYPE_PATTERN.test(type)) {
    throw new ShoalError('PEER_ERROR', 'frame header has no valid `type`');
  }
  let payloadLength: number | undefined;
  if (Object.hasOwn(value, PAYLOAD_KEY)) {
    const n = value[PAYLOAD_KEY];
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
      throw new ShoalError('PEER_ERROR', 'frame header declares an invalid payload length', { type });
    }
    if (n > maxPayloadBytes) {
      throw new ShoalError('PEER_ERROR', `payload of ${n} bytes exceeds ${maxPayloadBytes}`, { type });
    }
    payloadLength = n;
    delete value[PAYLOAD_KEY];
  }
  return { header: value as FrameHeader, payloadLength };
}

function closedError(evt: StreamCloseEvent | undefined, what: string): ShoalError {
  const cause = evt?.error;
  return new ShoalError('PEER_ERROR', cause ? `${what}: ${cause.message}` : `${what}: stream closed`, {
    cause: cause?.name,
  });
}

export interface FrameWriterOptions {
  limits?: Partial<FrameLimits>;
  /** Called whenever the transport takes more of a write (progress on a slow link). */
  onDrain?: () => void;
}

/**
 * Writes messages to a stream. Each write() or writeBatch() resolves once the stream can take
 * more bytes, so a sender that awaits every call holds at most one message (or one batch) in
 * flight beyond the transport's window. Writes are serialized: concurrent calls go out whole
 * and in call order. Payloads are sent without a copy: do not modify one after passing it.
 */
export class FrameWriter {
  readonly stream: Stream;
  readonly limits: FrameLimits;
  #tail: Promise<void> = Promise.resolve();
  #error: ShoalError | undefined;
  readonly #onDrain: (() => void) | undefined;

  constructor(stream: Stream, options: FrameWriterOptions = {}) {
    this.stream = stream;
    this.limits = resolveLimits(options.limits);
    this.#onDrain = options.onDrain;
  }

  /**
   * Sends one message. Rejects with INVALID_ARGUMENT (nothing sent) for a header or payload
   * the peer would reject, PEER_ERROR when the stream failed, and ABORTED when the signal
   * fires while waiting for the transport (which aborts the stream).
   */
  write(header: FrameHeader, payload?: Uint8Array, options?: AbortOptions): Promise<void> {
    return this.writeBatch([{ header, payload }], options);
  }

  /**
   * Sends several messages in one stream write, so that they travel in one yamux frame: the
   * receiver's muxer answers every data frame with a window update (an encrypted message and a
   * socket write of its own), and 64 KiB chunks sent one by one cost one update each. Nothing is
   * sent if any header is invalid.
   */
  writeBatch(
    messages: readonly { header: FrameHeader; payload?: Uint8Array }[],
    options?: AbortOptions,
  ): Promise<void> {
    const data = new Uint8ArrayList();
    try {
      for (const { header, payload } of messages) {
        data.append(encodeHeader(header, payload?.byteLength, this.limits));
        if (payload !== undefined && payload.byteLength > 0) data.append(payload);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const next = this.#tail.then(() => this.#send(data, options));
    this.#tail = next.catch(() => {});
    return next;
  }

  /** Waits for queued writes, then closes the writable end (the peer reads a clean end). */
  async close(options?: AbortOptions): Promise<void> {
    await this.#tail;
    if (this.#error) throw this.#error;
    try {
      await this.stream.close(options);
    } catch (err) {
      throw this.#fail(err, 'could not close the stream');
    }
  }

  async #send(data: Uint8ArrayList, options?: AbortOptions): Promise<void> {
    if (this.#error) throw this.#error;
    if (options?.signal?.aborted) throw new ShoalError('ABORTED', 'write aborted before sending');
    try {
      // one send per call: one yamux frame (and window update) for all its messages, no copy
      this.stream.send(data);
    } catch (err) {
      throw this.#fail(err, 'could not write to the stream');
    }
    while (this.stream.writableNeedsDrain) {
      await this.#drained(options);
      this.#onDrain?.();
    }
  }

  // Not stream.onDrain(): in libp2p 3.x it caches a resolved promise after the first drain and
  // then never waits again, which lets the write buffer grow without bound.
  #drained(options?: AbortOptions): Promise<void> {
    const stream = this.stream;
    if (stream.status !== 'open' && stream.status !== 'closing') {
      return Promise.reject(this.#fail(undefined, `stream is ${stream.status}`));
    }
    return new Promise<void>((resolve, reject) => {
      const signal = options?.signal;
      const cleanup = () => {
        stream.removeEventListener('drain', onDrain);
        stream.removeEventListener('close', onClose);
        signal?.removeEventListener('abort', onAbort);
      };
      const onDrain = () => {
        cleanup();
        resolve();
      };
      const onClose = (evt: StreamCloseEvent) => {
        cleanup();
        reject((this.#error ??= closedError(evt, 'stream closed while writing')));
      };
      const onAbort = () => {
        cleanup();
        const err = new ShoalError('ABORTED', 'write aborted');
        this.#error ??= err;
        stream.abort(err);
        reject(err);
      };
      stream.addEventListener('drain', onDrain);
      stream.addEventListener('close', onClose);
      signal?.addEventListener('abort', onAbort);
    });
  }

  #fail(err: unknown, what: string): ShoalError {
    if (this.#error) return this.#error;
    const message = err instanceof Error ? `${what}: ${err.message}` : what;
    this.#error = new ShoalError('PEER_ERROR', message, { cause: (err as Error | undefined)?.name });
    return this.#error;
  }
}

export interface FrameReaderOptions {
  limits?: Partial<FrameLimits>;
  /**
   * Pause the stream (stop granting the peer window) when this many bytes are queued and no
   * read is waiting for them; default 4 MiB. Memory per reader stays below roughly this plus
   * the largest message plus the transport's receive window.
   */
  highWaterMark?: number;
}

export const DEFAULT_READ_HIGH_WATER_MARK = 4 * 1024 * 1024;

// Marks a read error as the peer breaking the protocol (a header that is malformed or over the
// limits), as opposed to the stream ending or being reset, which is the peer going away.
const VIOLATION = Object.freeze({ violation: true });

/**
 * Reads messages from a stream. read() returns the next message, or undefined when the peer
 * closed its writable end at a message boundary. A truncated message, a header or payload
 * over the limits, or a header that is not canonical CBOR throws PEER_ERROR and aborts the
 * stream; after that every read() throws the same error. When the peer broke the protocol
 * (rather than went away) the error's detail has `violation: true`.
 */
export class FrameReader implements AsyncIterable<Frame> {
  readonly stream: Stream;
  readonly limits: FrameLimits;
  readonly highWaterMark: number;
  #queue = new ByteQueue();
  #want = 0; // bytes the pending read needs queued, 0 when no read is pending
  #paused = false;
  #error: ShoalError | undefined;
  #wake: (() => void) | undefined;
  #reading = false;

  constructor(stream: Stream, options: FrameReaderOptions = {}) {
    this.stream = stream;
    this.limits = resolveLimits(options.limits);
    this.highWaterMark = options.highWaterMark ?? DEFAULT_READ_HIGH_WATER_MARK;
    if (!Number.isSafeInteger(this.highWaterMark) || this.highWaterMark < 1) {
      throw new ShoalError('INVALID_ARGUMENT', 'invalid highWaterMark');
    }
    stream.addEventListener('message', this.#onMessage);
    stream.addEventListener('remoteCloseWrite', this.#onWake);
    stream.addEventListener('end', this.#onWake);
    stream.addEventListener('close', this.#onClose);
  }

  /**
   * The next message, or undefined at a clean end of stream. The payload may be a view into a
   * received buffer. Aborting the signal mid-read loses the message boundary, so it aborts the
   * stream and the reader (ABORTED).
   */
  async read(options?: AbortOptions): Promise<Frame | undefined> {
    if (this.#reading) throw new ShoalError('INVALID_ARGUMENT', 'concurrent read() on one FrameReader');
    this.#reading = true;
    try {
      if (!(await this.#fill(LENGTH_PREFIX_BYTES, true, options))) return undefined;
      const headerLength = this.#queue.peekU32();
      if (headerLength === 0 || headerLength > this.limits.maxHeaderBytes) {
        throw this.#fail(
          `frame header of ${headerLength} bytes is outside 1..${this.limits.maxHeaderBytes}`,
          'PEER_ERROR',
          VIOLATION,
        );
      }
      await this.#fill(LENGTH_PREFIX_BYTES + headerLength, false, options);
      this.#queue.skip(LENGTH_PREFIX_BYTES);
      let decoded: DecodedHeader;
      try {
        decoded = decodeHeader(this.#queue.take(headerLength), this.limits);
      } catch (err) {
        throw this.#fail((err as Error).message, 'PEER_ERROR', VIOLATION);
      }
      let payload: Uint8Array | undefined;
      if (decoded.payloadLength !== undefined) {
        await this.#fill(decoded.payloadLength, false, options);
        payload = this.#queue.take(decoded.payloadLength);
      }
      this.#flow();
      return { header: decoded.header, payload };
    } finally {
      this.#reading = false;
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Frame> {
    for (;;) {
      const frame = await this.read();
      if (frame === undefined) return;
      yield frame;
    }
  }

  /** Bytes received and not yet returned as messages. */
  get bufferedBytes(): number {
    return this.#queue.length;
  }

  // Waits until n bytes are queued. At a clean end returns false when eofOk and nothing is
  // queued; any other shortfall at the end is a truncated message.
  async #fill(n: number, eofOk: boolean, options?: AbortOptions): Promise<boolean> {
    if (this.#queue.length >= n) return true;
    try {
      return await this.#waitFor(n, eofOk, options?.signal);
    } finally {
      this.#want = 0;
    }
  }

  async #waitFor(n: number, eofOk: boolean, signal: AbortSignal | undefined): Promise<boolean> {
    while (this.#queue.length < n) {
      if (this.#error) throw this.#error;
      if (signal?.aborted) throw this.#fail('read aborted', 'ABORTED');
      this.#want = n;
      this.#flow();
      if (this.#queue.length >= n) break;
      if (this.#ended()) {
        if (eofOk && this.#queue.length === 0) return false;
        throw this.#fail(`stream ended inside a message (${this.#queue.length} of ${n} bytes)`);
      }
      await new Promise<void>((resolve) => {
        const onAbort = () => {
          this.#fail('read aborted', 'ABORTED');
          resolve();
        };
        this.#wake = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        signal?.addEventListener('abort', onAbort, { once: true });
      });
      this.#wake = undefined;
    }
    if (this.#error) throw this.#error;
    return true;
  }

  // True when no more bytes can arrive: the peer closed its writable end (or the stream closed)
  // and libp2p holds nothing unread for us.
  #ended(): boolean {
    const s = this.stream;
    const done = s.remoteWriteStatus === 'closed' || s.readStatus === 'closed' || s.status === 'closed';
    return done && this.stream.readBufferLength === 0;
  }

  // Pauses the stream when enough is queued and nobody waits for more; resumes otherwise.
  #flow(): void {
    const stream = this.stream;
    const queued = this.#queue.length;
    const limit = Math.max(this.highWaterMark, this.#want);
    try {
      if (!this.#paused && queued >= limit) {
        if (stream.readStatus === 'readable') {
          stream.pause();
          this.#paused = true;
        }
      } else if (this.#paused && (queued < this.#want || queued <= this.highWaterMark >>> 1)) {
        this.#paused = false;
        // resume() redelivers what libp2p buffered while paused, synchronously
        if (stream.readStatus === 'paused') stream.resume();
      }
    } catch {
      // pause/resume throw once the readable end is closing; the end is handled by #ended()
    }
  }

  #onMessage = (evt: StreamMessageEvent): void => {
    if (this.#error) return;
    const data = evt.data;
    if (data instanceof Uint8Array) this.#queue.push(data);
    else for (const chunk of data) this.#queue.push(chunk);
    if (this.#want === 0 || this.#queue.length >= this.#want) {
      this.#flow();
      this.#wake?.();
    }
  };

  #onWake = (): void => {
    this.#wake?.();
  };

  #onClose = (evt: StreamCloseEvent): void => {
    if (evt.error && !this.#error) {
      this.#error = closedError(evt, 'stream reset');
      this.#queue.clear();
    }
    this.#wake?.();
  };

  #fail(
    message: string,
    code: 'PEER_ERROR' | 'ABORTED' = 'PEER_ERROR',
    detail?: Record<string, unknown>,
  ): ShoalError {
    if (this.#error) return this.#error;
    const err = new ShoalError(code, message, detail);
    this.#error = err;
    this.#queue.clear();
    this.#detach();
    this.stream.abort(err);
    return err;
  }

  #detach(): void {
    this.stream.removeEventListener('message', this.#onMessage);
    this.stream.removeEventListener('remoteCloseWrite', this.#onWake);
    this.stream.removeEventListener('end', this.#onWake);
    this.stream.removeEventListener('close', this.#onClose);
  }
}
