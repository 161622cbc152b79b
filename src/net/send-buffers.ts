// Memory that a sender reads what it sends into, and reuses once Noise has encrypted it.
//
// A seeder reads every chunk it sends into a fresh buffer, and Noise's cipher gives it a fresh
// buffer of ciphertext: 2 GiB of memory outside V8's heap for a 1 GiB clone. V8 starts a major
// GC each time such memory grows by 64 MB, and those GCs took a third of a seeder's CPU. The
// buffers cannot simply be freed: libp2p's streams keep views of what they send in their own
// bookkeeping lists, and a view of freed memory reports a length of 0. They can be written
// again, though, once nothing will read their bytes: after the cipher has read them. Noise's
// cipher here is shoal's own (noise-crypto.ts), which reports every plaintext part it encrypts.
//
// The counting is by bytes: a slab is released when as many of its bytes were encrypted as were
// given out of it. Bytes given out but never encrypted (a stream reset, a read that failed its
// check) keep their slab out of use for good; it is then left to the GC like any buffer.

interface Slab {
  readonly bytes: Uint8Array;
  readonly pool: SendBuffers;
  /** Bytes given out since the slab was last released. */
  given: number;
  /** Of those, how many the cipher has read. */
  encrypted: number;
  /** Gives out nothing more until released. */
  sealed: boolean;
}

const slabs = new WeakMap<ArrayBufferLike, Slab>();

/** Called by the cipher for each plaintext part it has read (and will not read again). */
export function noteEncrypted(part: Uint8Array): void {
  const slab = slabs.get(part.buffer);
  if (slab === undefined) return;
  slab.encrypted += part.byteLength;
  if (slab.sealed && slab.encrypted >= slab.given) slab.pool.release(slab);
}

/**
 * Memory for what one sender sends, in slabs of `slabBytes`, at most `keepFree` of them kept
 * for reuse. A view it gives out must be sent whole, once, over a connection Noise encrypts,
 * and not written after it was sent.
 */
export class SendBuffers {
  readonly slabBytes: number;
  readonly keepFree: number;
  #current: Slab | undefined;
  readonly #free: Slab[] = [];
  /** Slabs made so far (for tests and measurements). */
  made = 0;
  #takenSinceTrim = false;

  constructor(options: { slabBytes?: number; keepFree?: number } = {}) {
    this.slabBytes = options.slabBytes ?? 1024 * 1024;
    this.keepFree = options.keepFree ?? 8;
  }

  /** `size` bytes to read into, sent afterwards. Larger than a slab: a buffer of its own. */
  take(size: number): Uint8Array {
    this.#takenSinceTrim = true;
    if (size > this.slabBytes) return new Uint8Array(size);
    let slab = this.#current;
    if (slab === undefined || slab.bytes.byteLength - slab.given < size) {
      this.#seal();
      slab = this.#free.pop() ?? this.#newSlab();
      this.#current = slab;
    }
    const view = slab.bytes.subarray(slab.given, slab.given + size);
    slab.given += size;
    return view;
  }

  /** Slabs waiting to be reused. */
  get freeSlabs(): number {
    return this.#free.length;
  }

  /**
   * Lets go of the free slabs if nothing was taken since the last call: a server calls it now and
   * then, so that one that has stopped sending holds no memory for it.
   */
  trim(): void {
    if (!this.#takenSinceTrim) {
      for (const slab of this.#free.splice(0)) slabs.delete(slab.bytes.buffer);
    }
    this.#takenSinceTrim = false;
  }

  /** @internal by noteEncrypted */
  release(slab: Slab): void {
    slab.given = 0;
    slab.encrypted = 0;
    slab.sealed = false;
    if (this.#free.length < this.keepFree) this.#free.push(slab);
    else slabs.delete(slab.bytes.buffer);
  }

  #seal(): void {
    const slab = this.#current;
    if (slab === undefined) return;
    this.#current = undefined;
    slab.sealed = true;
    if (slab.encrypted >= slab.given) this.release(slab);
  }

  #newSlab(): Slab {
    const slab: Slab = {
      bytes: new Uint8Array(this.slabBytes),
      pool: this,
      given: 0,
      encrypted: 0,
      sealed: false,
    };
    slabs.set(slab.bytes.buffer, slab);
    this.made++;
    return slab;
  }
}
