// Human formatting helpers for command output.

import { escapeControls, escapePath } from '../core/index.ts';

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  // A rate (bytes over seconds) is rarely a whole number: no '318.1763995413165 B/s'.
  return i === 0 ? `${Math.round(n)} B` : `${v.toFixed(1)} ${units[i]}`;
}

export function formatTime(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC');
}

export function shortId(hex: string): string {
  return hex.slice(0, 12);
}

/** `1 peer`, `3 peers`. */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** A changed path as human output shows it: `<old> -> <new>` for a rename. */
export function quoteChangedPath(path: string, oldPath?: string | null): string {
  return oldPath ? `${quotePath(oldPath)} -> ${quotePath(path)}` : quotePath(path);
}

/**
 * A path as human-readable output shows it: as it is, or, when it holds a control character, a
 * double quote or a backslash, in double quotes with C-style escapes (as git does). One path is
 * then one line, and a name from someone else's repository cannot drive the terminal. JSON
 * output carries paths unchanged.
 */
export function quotePath(path: string): string {
  const escaped = escapePath(path);
  return escaped === path ? path : `"${escaped}"`;
}

/** A path in single quotes, as git's messages put it, or quotePath's form when it needs that. */
export function quotedName(path: string): string {
  const q = quotePath(path);
  return q === path ? `'${path}'` : q;
}

/**
 * Text for a terminal: control characters other than tab and newline, written as escapes.
 * Commit messages, author names and repository names come from other people; an escape sequence
 * among them must not reach the terminal as one.
 */
export function terminalSafe(text: string): string {
  return escapeControls(text);
}
