// What every command is handed: where it runs, how it prints, and its parsed global options.
// Only this folder writes to the terminal.

import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ShoalError } from '../core/index.ts';
import type { OnProgress } from '../vcs/index.ts';
import { terminalSafe } from './format.ts';
import { progressPrinter } from './progress.ts';

export interface Context {
  cwd: string;
  json: boolean;
  quiet: boolean;
  out: (line: string) => void;
  /** A line of the data asked for (a listing): printed under -q too. */
  data: (line: string) => void;
  err: (line: string) => void;
  /** Print a JSON document (for --json). */
  emit: (value: unknown) => void;
  /**
   * A progress callback that draws on stderr when it is a terminal; undefined otherwise, so that
   * work done only for the display (add's counting pass) is skipped.
   */
  progress: (label: string) => { onProgress: OnProgress | undefined; done: () => void };
}

function writeLine(line: string): void {
  process.stdout.write(`${process.stdout.isTTY ? terminalSafe(line) : line}\n`);
}

/** `printsData`: the command's output is what was asked for (a value, a listing), so -q keeps it. */
export function createContext(
  cwd: string | null,
  json: boolean,
  quiet: boolean,
  printsData = false,
): Context {
  const show = process.stderr.isTTY && !json && !quiet;
  return {
    // A command that never looks at its directory (id, daemon status) runs from a deleted one.
    get cwd(): string {
      return cwd ?? goneDir();
    },
    json,
    quiet,
    out: (line) => {
      if (!quiet || json || printsData) writeLine(line);
    },
    data: writeLine,
    err: (line) => process.stderr.write(`${process.stderr.isTTY ? terminalSafe(line) : line}\n`),
    emit: (value) => process.stdout.write(`${JSON.stringify(value, jsonReplacer, 2)}\n`),
    progress: (label) => (show ? progressPrinter(label) : { onProgress: undefined, done: () => {} }),
  };
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** The error for a command started in a directory that was deleted, with no -C to go by. */
export function goneDir(): never {
  throw new ShoalError(
    'PATH_NOT_FOUND',
    'the current directory no longer exists; change to another one, or name one with -C <dir>',
  );
}

export type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs that turns its errors into usage errors (exit status 2). */
export function parse<T extends Options>(
  args: string[],
  options: T,
  usage: string,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: values as Record<string, string | boolean | string[] | undefined>, positionals };
  } catch (err) {
    // Node's own wording, but for an unknown option, where it runs on into advice about '--'.
    const message = (err as Error).message.split('\n')[0]!;
    const unknown = /^Unknown option '([^']+)'/.exec(message);
    throw new ShoalError('USAGE', `${unknown ? `unknown option '${unknown[1]}'` : message}\nusage: ${usage}`);
  }
}

export function usage(text: string): never {
  throw new ShoalError('USAGE', `usage: ${text}`);
}
