// Line diffs of small text files: Myers' O(ND) algorithm after trimming the common prefix and
// suffix, with a cap on the edit distance (past it the middle is one replaced block, so a
// pathological pair of 1 MiB files costs milliseconds, not minutes). Used by diff and merge.

/** Lines of `a[a0, a1)` replaced by lines `b[b0, b1)`. */
export interface LineChange {
  a0: number;
  a1: number;
  b0: number;
  b1: number;
}

const DEFAULT_MAX_EDITS = 4000;

/** Split text into lines, each keeping its '\n' (the last one may have none). */
export function splitLines(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    if (nl < 0) break;
    lines.push(text.slice(start, nl + 1));
    start = nl + 1;
  }
  if (start < text.length) lines.push(text.slice(start));
  return lines;
}

/** Whether bytes are text we diff and merge line by line: valid UTF-8 without NUL bytes. */
export function decodeText(bytes: Uint8Array): string | null {
  if (bytes.includes(0)) return null;
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return null;
  }
}

/** The blocks that differ between two line lists, in order. */
export function diffLines(a: string[], b: string[], maxEdits = DEFAULT_MAX_EDITS): LineChange[] {
  const ids = new Map<string, number>();
  const intern = (l: string): number => {
    let id = ids.get(l);
    if (id === undefined) {
      id = ids.size;
      ids.set(l, id);
    }
    return id;
  };
  return diffSequences(Int32Array.from(a, intern), Int32Array.from(b, intern), maxEdits);
}

export function diffSequences(a: Int32Array, b: Int32Array, maxEdits = DEFAULT_MAX_EDITS): LineChange[] {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf])
    suf++;
  const n = a.length - pre - suf;
  const m = b.length - pre - suf;
  if (n === 0 && m === 0) return [];
  if (n === 0 || m === 0) return [{ a0: pre, a1: pre + n, b0: pre, b1: pre + m }];
  const matches = myers(a.subarray(pre, pre + n), b.subarray(pre, pre + m), maxEdits);
  if (!matches) return [{ a0: pre, a1: pre + n, b0: pre, b1: pre + m }];
  const out: LineChange[] = [];
  let ai = 0;
  let bi = 0;
  for (let i = 0; i < matches.length; i += 2) {
    const x = matches[i]!;
    const y = matches[i + 1]!;
    if (x > ai || y > bi) out.push({ a0: pre + ai, a1: pre + x, b0: pre + bi, b1: pre + y });
    ai = x + 1;
    bi = y + 1;
  }
  if (ai < n || bi < m) out.push({ a0: pre + ai, a1: pre + n, b0: pre + bi, b1: pre + m });
  return out;
}

/** Matched index pairs (x0, y0, x1, y1, ...) in increasing order, or null past `maxEdits`. */
function myers(a: Int32Array, b: Int32Array, maxEdits: number): number[] | null {
  const n = a.length;
  const m = b.length;
  const max = Math.min(n + m, maxEdits);
  const offset = max + 1;
  const v = new Int32Array(2 * max + 3);
  // trace[d] holds v[-d-1 .. d+1] as it was before round d.
  const trace: Int32Array[] = [];
  let found = -1;
  for (let d = 0; d <= max && found < 0; d++) {
    trace.push(v.slice(offset - d - 1, offset + d + 2));
    for (let k = -d; k <= d; k += 2) {
      let x =
        k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!)
          ? v[offset + k + 1]!
          : v[offset + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) {
        found = d;
        break;
      }
    }
  }
  if (found < 0) return null;
  const rev: number[] = [];
  let x = n;
  let y = m;
  for (let d = found; d > 0; d--) {
    const t = trace[d]!;
    const at = (k: number): number => t[k + d + 1]!;
    const k = x - y;
    const prevK = k === -d || (k !== d && at(k - 1) < at(k + 1)) ? k + 1 : k - 1;
    const prevX = at(prevK);
    const prevY = prevX - prevK;
    // The snake after the edit of round d: diagonal moves back to where the edit ended.
    const startX = prevK === k + 1 ? prevX : prevX + 1;
    const startY = startX - k;
    while (x > startX && y > startY) {
      x--;
      y--;
      rev.push(y, x);
    }
    x = prevX;
    y = prevY;
  }
  while (x > 0 && y > 0) {
    x--;
    y--;
    rev.push(y, x);
  }
  rev.reverse();
  return rev;
}

function hunkRange(start: number, end: number): string {
  const len = end - start;
  const first = len === 0 ? start : start + 1;
  return len === 1 ? `${first}` : `${first},${len}`;
}

function patchLine(prefix: string, line: string): string {
  return line.endsWith('\n') ? prefix + line.slice(0, -1) : `${prefix}${line}\n\\ No newline at end of file`;
}

/** The hunks of a unified diff (from the first `@@` on), `context` lines around each change. */
export function unifiedHunks(a: string[], b: string[], changes: LineChange[], context = 3): string {
  const out: string[] = [];
  let i = 0;
  while (i < changes.length) {
    let j = i;
    while (j + 1 < changes.length && changes[j + 1]!.a0 - changes[j]!.a1 <= 2 * context) j++;
    const first = changes[i]!;
    const last = changes[j]!;
    const a0 = Math.max(0, first.a0 - context);
    const a1 = Math.min(a.length, last.a1 + context);
    const b0 = first.b0 - (first.a0 - a0);
    const b1 = last.b1 + (a1 - last.a1);
    out.push(`@@ -${hunkRange(a0, a1)} +${hunkRange(b0, b1)} @@`);
    let pos = a0;
    for (let k = i; k <= j; k++) {
      const c = changes[k]!;
      for (; pos < c.a0; pos++) out.push(patchLine(' ', a[pos]!));
      for (let x = c.a0; x < c.a1; x++) out.push(patchLine('-', a[x]!));
      for (let y = c.b0; y < c.b1; y++) out.push(patchLine('+', b[y]!));
      pos = c.a1;
    }
    for (; pos < a1; pos++) out.push(patchLine(' ', a[pos]!));
    i = j + 1;
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}
