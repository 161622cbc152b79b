// The signed refs documents this repository knows: its own and other peers', the newest per
// signer, and the last one before it that this peer held whole. A document with a lower or equal
// sequence than the stored one is never accepted, so refs are never rolled back.

import type { DatabaseSync } from 'node:sqlite';

export interface StoredRefsDoc {
  signer: Uint8Array;
  seq: number;
  doc: Uint8Array;
}

export class SignedRefsStore {
  private readonly db: DatabaseSync;

  constructor(db: DatabaseSync) {
    this.db = db;
  }

  get(signer: Uint8Array): StoredRefsDoc | undefined {
    return this.db.prepare('SELECT signer, seq, doc FROM signed_refs WHERE signer = ?').get(signer) as
      | StoredRefsDoc
      | undefined;
  }

  all(): StoredRefsDoc[] {
    return this.db
      .prepare('SELECT signer, seq, doc FROM signed_refs ORDER BY signer')
      .all() as unknown as StoredRefsDoc[];
  }

  /**
   * The last document a newer one replaced while this peer held all it names, to serve while it
   * fetches what the newer one names: interrupted there, it still offers the version it holds.
   */
  previous(signer: Uint8Array): StoredRefsDoc | undefined {
    return this.db
      .prepare('SELECT signer, seq, doc FROM signed_refs_previous WHERE signer = ?')
      .get(signer) as StoredRefsDoc | undefined;
  }

  /** Drop the signer's document (one found damaged: the next one received replaces it). */
  forget(signer: Uint8Array): void {
    this.db.prepare('DELETE FROM signed_refs WHERE signer = ?').run(signer);
  }

  /** Drop the signer's previous document (one found damaged). */
  forgetPrevious(signer: Uint8Array): void {
    this.db.prepare('DELETE FROM signed_refs_previous WHERE signer = ?').run(signer);
  }

  /**
   * Store a (verified) document if it is newer than the one held; returns whether it was. The
   * one it replaces becomes the previous document if `heldWhole` says this peer holds all it
   * names: a previous document is only worth serving when it is held whole.
   */
  put(signer: Uint8Array, seq: number, doc: Uint8Array, heldWhole?: (doc: Uint8Array) => boolean): boolean {
    const current = this.get(signer);
    if (current && current.seq >= seq) return false;
    if (current && heldWhole?.(current.doc)) {
      this.db
        .prepare('INSERT OR REPLACE INTO signed_refs_previous (signer, seq, doc) VALUES (?, ?, ?)')
        .run(signer, current.seq, current.doc);
    }
    const r = this.db
      .prepare(
        'INSERT INTO signed_refs (signer, seq, doc) VALUES (?, ?, ?) ON CONFLICT (signer) DO UPDATE SET seq = excluded.seq, doc = excluded.doc WHERE excluded.seq > signed_refs.seq',
      )
      .run(signer, seq, doc);
    return Number(r.changes) > 0;
  }
}
