// Three-way line merge of small text files (diff3): the changes each side made to the base are
// found by line diffs; changes that overlap or touch are one region, taken from the side that
// changed it, or from either when both made the same change, else written as a conflict between
// git-style markers. Pure: text in, text out.

import { diffLines, type LineChange, splitLines } from './line-diff.ts';

export interface TextMergeResult {
  text: string;
  conflicts: number;
}

export interface MergeLabels {
  ours: string;
  theirs: string;
}

interface SideChange extends LineChange {
  side: 0 | 1;
}

function withNewline(lines: string[]): string {
  const text = lines.join('');
  return text === '' || text.endsWith('\n') ? text : `${text}\n`;
}

export function mergeText(base: string, ours: string, theirs: string, labels: MergeLabels): TextMergeResult {
  const b = splitLines(base);
  const sides = [splitLines(ours), splitLines(theirs)] as const;
  const changes: SideChange[] = [
    ...diffLines(b, sides[0]).map((c) => ({ ...c, side: 0 as const })),
    ...diffLines(b, sides[1]).map((c) => ({ ...c, side: 1 as const })),
  ].sort((x, y) => x.a0 - y.a0 || x.a1 - y.a1);

  const out: string[] = [];
  let conflicts = 0;
  // Shift of each side's line numbers against the base, before the current position.
  const delta = [0, 0];
  let pos = 0; // next base line not yet written
  let i = 0;
  while (i < changes.length) {
    // Gather a region: changes whose base ranges overlap or touch.
    let lo = changes[i]!.a0;
    let hi = changes[i]!.a1;
    const region: SideChange[] = [];
    while (i < changes.length && changes[i]!.a0 <= hi) {
      const c = changes[i]!;
      if (c.a0 < lo) lo = c.a0;
      if (c.a1 > hi) hi = c.a1;
      region.push(c);
      i++;
    }
    for (let k = pos; k < lo; k++) out.push(b[k]!);
    const slice = (side: 0 | 1): string[] => {
      const own = region.filter((c) => c.side === side);
      const start = lo + delta[side]!;
      let shift = 0;
      for (const c of own) shift += c.b1 - c.b0 - (c.a1 - c.a0);
      const end = hi + delta[side]! + shift;
      delta[side]! += shift;
      return sides[side].slice(start, end);
    };
    const touched = [region.some((c) => c.side === 0), region.some((c) => c.side === 1)];
    const mine = slice(0);
    const yours = slice(1);
    if (!touched[1]) out.push(...mine);
    else if (!touched[0]) out.push(...yours);
    else if (mine.length === yours.length && mine.every((l, k) => l === yours[k])) out.push(...mine);
    else {
      conflicts++;
      out.push(
        `<<<<<<< ${labels.ours}\n`,
        withNewline(mine),
        '=======\n',
        withNewline(yours),
        `>>>>>>> ${labels.theirs}\n`,
      );
    }
    pos = hi;
  }
  for (let k = pos; k < b.length; k++) out.push(b[k]!);
  return { text: out.join(''), conflicts };
}

/** Whether a working file still holds the markers mergeText writes. */
export function hasConflictMarkers(text: string): boolean {
  return /^(<<<<<<<|>>>>>>>) /m.test(text);
}
