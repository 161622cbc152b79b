// A FIFO of received byte chunks: O(1) append, and take(n) that returns a view when the bytes
// lie in one chunk and a single copy otherwise. The framing reader bounds its size.

/** Copies this long and longer get a buffer of their own, which releaseCopy may free. */
const OWN_BUFFER_MIN = 4096;
/** The buffers take() copied into: nothing else holds them, so their owner may free them. */
const copies = new WeakSet<ArrayBufferLike>();

/**
 * Free now the memory of bytes take() returned, once the caller is done with them and holds them
 * nowhere else; bytes that are a view of what was received are left to the garbage collector.
 * A downloader stores most chunks within milliseconds, but with a small young generation many
 * have already been promoted by then, and promoted buffers are freed only by a major GC, which
 * V8 starts when such memory grows by 64 MB: until then they pile up in the malloc heap, which
 * does not shrink again.
 */
export function releaseCopy(bytes: Uint8Array): void {
  const buffer = bytes.buffer;
  if (!copies.has(buffer)) return;
  copies.delete(buffer);
  (buffer as ArrayBuffer).transfer(0); // detaches it: its memory goes back at once
}

export class ByteQueue {
  #chunks: Array<Uint8Array | undefined> = [];
  #head = 0; // index of the first live chunk
  #offset = 0; // bytes already consumed from the first live chunk
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.byteLength;
  }

  /** Reads a big-endian u32 at the front without consuming it; requires length >= 4. */
  peekU32(): number {
    const first = this.#chunks[this.#head]!;
    if (first.byteLength - this.#offset >= 4) {
      const o = first.byteOffset + this.#offset;
      return new DataView(first.buffer, o, 4).getUint32(0, false);
    }
    const b = this.#copy(4, false);
    return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  }

  /** Removes and returns the first n bytes; requires length >= n. */
  take(n: number): Uint8Array {
    if (n === 0) return new Uint8Array(0);
    const first = this.#chunks[this.#head]!;
    if (first.byteLength - this.#offset >= n) {
      const view = first.subarray(this.#offset, this.#offset + n);
      this.#skip(n);
      return view;
    }
    return this.#copy(n, true);
  }

  /** Drops the first n bytes; requires length >= n. */
  skip(n: number): void {
    this.#skip(n);
  }

  clear(): void {
    this.#chunks = [];
    this.#head = 0;
    this.#offset = 0;
    this.#length = 0;
  }

  #copy(n: number, consume: boolean): Uint8Array {
    // Not zero-filled first: the loop below writes every byte (a 64 KiB chunk that arrived in two
    // Noise messages is copied here, so this is a write pass per received byte saved). A plain
    // Uint8Array over it, as take() returns otherwise: a Buffer's slice() would be a view. A
    // buffer of its own from OWN_BUFFER_MIN on, which releaseCopy can free: allocUnsafe would
    // take up to 32 KiB from a shared 64 KiB pool (a 16 KiB chunk, say), which it cannot.
    const bytes = n >= OWN_BUFFER_MIN ? Buffer.allocUnsafeSlow(n) : Buffer.allocUnsafe(n);
    const out = new Uint8Array(bytes.buffer, bytes.byteOffset, n);
    let filled = 0;
    let i = this.#head;
    let offset = this.#offset;
    while (filled < n) {
      const chunk = this.#chunks[i]!;
      const count = Math.min(chunk.byteLength - offset, n - filled);
      out.set(chunk.subarray(offset, offset + count), filled);
      filled += count;
      offset = 0;
      i++;
    }
    if (consume) {
      this.#skip(n);
      if (n >= OWN_BUFFER_MIN) copies.add(bytes.buffer);
    }
    return out;
  }

  #skip(n: number): void {
    this.#length -= n;
    while (n > 0) {
      const chunk = this.#chunks[this.#head]!;
      const available = chunk.byteLength - this.#offset;
      if (n < available) {
        this.#offset += n;
        return;
      }
      n -= available;
      this.#chunks[this.#head] = undefined;
      this.#head++;
      this.#offset = 0;
    }
    // compact the array once the consumed prefix dominates
    if (this.#head > 64 && this.#head * 2 > this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
  }
}
