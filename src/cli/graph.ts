// The commit graph drawn beside `log --graph`, in git's style: a column per line of history
// ('|'), '*' for each commit, '\' where a merge's parents fork off and '/' where lines join.
// Commits must come in topological order (children before parents).

interface Lane {
  id: string;
  sources: number[]; // columns of the previous row that flow into this one
}

export class GraphRenderer {
  private lanes: string[] = [];

  /**
   * The graph for the next commit: `row` goes before its first line, `connectors` are the rows
   * that lead on to the next commit, `pad` prefixes any further lines of this commit.
   */
  next(id: string, parents: string[]): { row: string; connectors: string[]; pad: string } {
    let col = this.lanes.indexOf(id);
    if (col < 0) {
      col = this.lanes.length;
      this.lanes.push(id);
    }
    const row = this.lanes.map((_, i) => (i === col ? '*' : '|')).join(' ');

    const after: Lane[] = [];
    const at = (lid: string): Lane | undefined => after.find((l) => l.id === lid);
    const elsewhere = (lid: string): boolean => this.lanes.some((l, i) => i !== col && l === lid);
    for (let i = 0; i < this.lanes.length; i++) {
      if (i !== col) {
        const lane = at(this.lanes[i]!);
        if (lane) lane.sources.push(i);
        else after.push({ id: this.lanes[i]!, sources: [i] });
        continue;
      }
      for (const p of parents) {
        const existing = at(p);
        if (existing) existing.sources.push(col);
        else if (!elsewhere(p)) after.push({ id: p, sources: [col] });
      }
    }
    // Parents that already had a lane further right: this commit's line joins them there.
    for (const p of parents) {
      const lane = at(p);
      if (lane && !lane.sources.includes(col)) lane.sources.push(col);
    }
    this.lanes = after.map((l) => l.id);

    const edges: { pos: number; to: number }[] = [];
    after.forEach((lane, k) => {
      for (const s of lane.sources) edges.push({ pos: s, to: k });
    });
    const connectors: string[] = [];
    while (edges.some((e) => e.pos !== e.to)) {
      const width = 2 * Math.max(...edges.map((e) => Math.max(e.pos, e.to))) + 2;
      const chars = Array<string>(width).fill(' ');
      // Lines moving left go first. One moving right whose cell a line moving left takes in
      // this row (they cross there) waits a row, drawn straight down: drawn in the same cell,
      // one of them was lost.
      const movedLeft = new Set<(typeof edges)[number]>();
      for (const e of edges) {
        if (e.pos > e.to) {
          chars[2 * e.pos - 1] = '/';
          e.pos--;
          movedLeft.add(e);
        }
      }
      for (const e of edges) {
        if (movedLeft.has(e)) continue;
        if (e.pos < e.to && chars[2 * e.pos + 1] === ' ') {
          chars[2 * e.pos + 1] = '\\';
          e.pos++;
        } else if (e.pos <= e.to && chars[2 * e.pos] === ' ') chars[2 * e.pos] = '|';
      }
      connectors.push(chars.join('').trimEnd());
    }
    const pad = this.lanes.map(() => '|').join(' ');
    return { row, connectors, pad };
  }
}
