// A clone's large files written while their chunks arrive, so that its checkout does not read
// them back from the packs: the fetch hands each chunk it stores to `stored`, and the file whose
// next chunk it is gets it at once. What is written this way lives in temporaries under the
// repository's own directory; the checkout that follows the fetch continues each from where it
// stopped (writeContent's `started`), after its usual checks, and renames it into place.
//
// One file is followed at a time, in the order the checkout writes them. Chunks come in about
// that order from one peer (the fetch asks for them in the order `wanted` gives); a copy of each
// chunk that comes out of turn (from several peers at once) is kept a while, up to KEPT_BYTES,
// for a file followed soon. A file's leaf that is neither coming nor kept (stored already, or a
// repeat of one the file had before) leaves the rest of that file to the checkout, which reads
// it from the packs. Anything that goes wrong here (a full disk, say) only stops the following:
// the checkout then writes those files whole, and reports what it finds itself.

import { ftruncateSync, mkdirSync, rmdirSync, statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { idEquals, type ObjectId, toHex } from '../core/index.ts';
import { FileAppender, type Repository } from '../store/index.ts';
import {
  closeStarted,
  contentLeaves,
  dropStarted,
  isHole,
  isLargeContent,
  type Leaf,
  type StartedContent,
  startContent,
  sweepLeftovers,
} from './content.ts';
import { commitTree, type FlatEntry, flatten } from './trees.ts';

/** At most this many bytes of chunks that came out of turn are kept for the files followed next. */
const KEPT_BYTES = 32 * 1024 * 1024;
/** Room left free besides the packs' and the file's (the index, the packs' record headers). */
const SPARE_BYTES = 64 * 1024 * 1024;

/** What CheckoutAhead asks of the fetch it follows (FollowedFetch in src/swarm/fetch.ts). */
interface Fetch {
  /** Whether the fetch is still to store the chunk. */
  coming(id: ObjectId): boolean;
  /** Whether the chunk is among those `wanted` gave. */
  wanted(id: ObjectId): boolean;
  /** The bytes of all the chunks the fetch is to store. */
  incoming: number;
}

const NO_FETCH: Fetch = { coming: () => false, wanted: () => false, incoming: 0 };

interface Followed {
  path: string;
  leaves: Iterator<Leaf>;
  next: Leaf; // the leaf it waits for
  started: StartedContent;
  out: FileAppender;
}

export class CheckoutAhead {
  readonly commit: ObjectId;
  private readonly repo: Repository;
  private readonly dir: string;
  private files: Iterator<FlatEntry> | null = null;
  private fetch: Fetch = NO_FETCH;
  private current: Followed | null = null;
  private readonly byPath = new Map<string, StartedContent>();
  private stopped = false;
  private readonly kept = new Map<string, Uint8Array>(); // by hex id, oldest first
  private keptBytes = 0;
  private incoming = 0; // bytes the fetch is still to store
  private running: Promise<void> = Promise.resolve(); // the step under way, if any

  constructor(repo: Repository, commit: ObjectId) {
    this.repo = repo;
    this.commit = commit;
    this.dir = aheadDir(repo);
  }

  /**
   * Remove what a clone killed (-9) left here, before its checkout took it: a clone run again
   * does, and so do `restore` and `gc`. Only before this process writes anything here: the
   * temporaries of its own pid are taken for a dead process's too (a pid is often reused where
   * a clone runs in a container of its own).
   */
  static removeLeftovers(repo: Repository): void {
    sweepLeftovers(aheadDir(repo), { ownToo: true });
  }

  /** Bytes of the checked-out files that were written while the fetch ran. */
  get bytesTaken(): number {
    let n = 0;
    for (const s of this.byPath.values()) if (dirname(s.tmp) !== this.dir) n += s.position;
    return n;
  }

  /** The chunks of the files it would follow, in the order the checkout writes them. */
  *wanted(): Generator<ObjectId> {
    for (const t of this.followable()) for (const leaf of contentLeaves(this.repo.objects, t)) yield leaf.id;
  }

  /** The files it may follow, in the order the checkout writes them: large regular files. */
  private *followable(): Generator<FlatEntry> {
    for (const t of flatten(this.repo.objects, commitTree(this.repo.objects, this.commit)))
      if (t.kind === 'file' && isLargeContent(t.size)) yield t;
  }

  /**
   * The commit's trees and index nodes are stored, no chunk asked for yet. True when some file's
   * content is coming and will be followed.
   */
  async start(fetch: Fetch): Promise<boolean> {
    this.fetch = fetch;
    this.incoming = fetch.incoming;
    await this.attempt(async () => {
      mkdirSync(this.dir, { recursive: true });
      this.files = this.followable();
      await this.proceed();
    });
    return this.current !== null;
  }

  /** A chunk the fetch has just stored (verified): its bytes are read before this resolves. */
  async stored(id: ObjectId, bytes: Uint8Array): Promise<void> {
    this.incoming -= bytes.length;
    const f = this.current;
    if (!f) return; // nothing (more) to follow
    if (!idEquals(f.next.id, id) || bytes.length !== f.next.size) {
      this.keep(id, bytes);
      return;
    }
    await this.attempt(async () => {
      await this.write(f, bytes);
      await this.proceed();
    });
  }

  /** What was written of the file at `path`, for writeContent to continue; undefined if nothing. */
  take(path: string): StartedContent | undefined {
    return this.byPath.get(path);
  }

  /** The fetch is over: the file being followed is left where it got to. */
  async finish(): Promise<void> {
    await this.attempt(() => this.park());
    this.letGoOfFetch();
  }

  /**
   * Remove every temporary not taken into the working tree (on success and failure alike). A
   * step under way (a fetch that failed may still be handing over its last chunk) ends first,
   * and nothing is started after this. Never throws.
   */
  async discard(): Promise<void> {
    this.stopped = true;
    await this.running;
    await this.dropAll();
  }

  private async dropAll(): Promise<void> {
    this.stopped = true;
    const f = this.current;
    this.current = null;
    try {
      await f?.out.release();
    } catch {} // its write failed: nothing more is written through it either way
    this.letGoOfFetch();
    for (const s of this.byPath.values()) if (dirname(s.tmp) === this.dir) dropStarted(s);
    this.byPath.clear();
    try {
      rmdirSync(this.dir);
    } catch {} // never made, or another clone's leftovers in it
  }

  /** The fetch's tables (one entry a chunk) are not kept alive from here through the checkout. */
  private letGoOfFetch(): void {
    this.fetch = NO_FETCH;
    this.files = null;
    this.kept.clear();
    this.keptBytes = 0;
  }

  /** Run a step; one that fails stops the following (the checkout then writes those files whole). */
  private async attempt(step: () => Promise<void> | void): Promise<void> {
    if (this.stopped) return;
    const run = (async () => {
      try {
        await step();
      } catch {
        await this.dropAll();
      }
    })();
    this.running = run;
    await run;
  }

  /**
   * Write what can be written now: the followed file's next leaf while it was kept, until one is
   * still coming; a file whose next leaf is not coming is left to the checkout from there.
   */
  private async proceed(): Promise<void> {
    while (this.current || this.followNext()) {
      const f = this.current!;
      const kept = this.takeKept(f.next);
      if (kept) await this.write(f, kept);
      else if (this.fetch.coming(f.next.id)) return;
      else await this.park(); // stored already (a repeat of a leaf before it, say)
    }
  }

  /** Append the followed file's next leaf, then find the one after (zeros left as holes on the way). */
  private async write(f: Followed, bytes: Uint8Array): Promise<void> {
    await f.out.appendBytes(bytes);
    f.started.leaves++;
    f.started.previous = f.next.id;
    for (;;) {
      const r = f.leaves.next();
      if (r.done) {
        await this.park(); // whole
        return;
      }
      if (!isHole(f.started.previous, r.value)) {
        f.next = r.value;
        return;
      }
      await f.out.appendZeros(r.value.size);
      f.started.holes = true;
      f.started.leaves++;
    }
  }

  /** Make the next file whose first chunk is kept or coming the one followed; false if none is left. */
  private followNext(): boolean {
    while (this.files && !this.stopped) {
      const r = this.files.next();
      if (r.done) {
        this.letGoOfFetch(); // nothing more to follow
        return false;
      }
      const t = r.value;
      if (!this.roomFor(t.size)) continue;
      const leaves = contentLeaves(this.repo.objects, t);
      const first = leaves.next();
      if (first.done || !(this.kept.has(toHex(first.value.id)) || this.fetch.coming(first.value.id)))
        continue;
      const started = startContent(this.dir, t.id);
      this.byPath.set(t.path, started);
      this.current = {
        path: t.path,
        leaves,
        next: first.value,
        started,
        out: new FileAppender(started.fd, started.tmp, 0, { direct: true }),
      };
      return true;
    }
    return false;
  }

  /**
   * Whether the file system has room for a file of `size` beside the rest of the fetch: a file
   * written ahead never takes the room the packs need, so that a clone short of space fetches
   * all the same, as it would without this, and only its checkout fails (restore finishes it).
   */
  private roomFor(size: number): boolean {
    const fs = statfsSync(this.dir);
    return fs.bavail * fs.bsize >= this.incoming + size + SPARE_BYTES;
  }

  /**
   * A copy of a chunk that came out of turn (several peers send at once), for a file followed
   * soon. The oldest go beyond KEPT_BYTES.
   */
  private keep(id: ObjectId, bytes: Uint8Array): void {
    if (bytes.length > KEPT_BYTES || !this.fetch.wanted(id)) return;
    this.kept.set(toHex(id), new Uint8Array(bytes));
    this.keptBytes += bytes.length;
    for (const [key, old] of this.kept) {
      if (this.keptBytes <= KEPT_BYTES) break;
      this.kept.delete(key);
      this.keptBytes -= old.length;
    }
  }

  private takeKept(leaf: Leaf): Uint8Array | undefined {
    if (this.kept.size === 0) return undefined;
    const key = toHex(leaf.id);
    const bytes = this.kept.get(key);
    if (!bytes) return undefined;
    this.kept.delete(key);
    this.keptBytes -= bytes.length;
    return bytes.length === leaf.size ? bytes : undefined;
  }

  /** The followed file's writes done and its buffers given back; it stays for the checkout. */
  private async park(): Promise<void> {
    const f = this.current;
    if (!f) return;
    this.current = null;
    try {
      await f.out.flush();
    } finally {
      await f.out.release();
    }
    f.started.position = f.out.position;
    // Zeros at the end were left as a hole: the file is given its length, so that the checkout
    // continuing it finds its last block where it expects it.
    if (f.started.holes) ftruncateSync(f.started.fd, f.started.position);
    closeStarted(f.started);
  }
}

function aheadDir(repo: Repository): string {
  return join(repo.dir, 'ahead');
}
