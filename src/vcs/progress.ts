// Progress reporting shared by long operations: they call back with counters, never print.

export interface Progress {
  phase: string;
  bytesDone: number;
  bytesTotal?: number;
  itemsDone?: number;
  itemsTotal?: number;
  peers?: number; // peers contributing, for network transfers
}

export type OnProgress = (p: Progress) => void;
