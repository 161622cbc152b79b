// The shoal command line: global options, lazy dispatch to one module per command, and the
// single place where errors become messages and exit statuses (0 ok, 1 failure, 2 misuse).

import { resolve } from 'node:path';
import { ShoalError } from '../core/index.ts';
import { type Context, createContext } from './context.ts';
import { terminalSafe } from './format.ts';

export interface Command {
  summary: string;
  usage: string;
  run: (ctx: Context, args: string[]) => Promise<number | undefined> | number | undefined;
}

export const commands: Record<string, () => Promise<{ command: Command }>> = {
  init: () => import('./commands/init.ts'),
  add: () => import('./commands/add.ts'),
  status: () => import('./commands/status.ts'),
  commit: () => import('./commands/commit.ts'),
  log: () => import('./commands/log.ts'),
  show: () => import('./commands/show.ts'),
  ls: () => import('./commands/ls.ts'),
  cat: () => import('./commands/cat.ts'),
  checkout: () => import('./commands/checkout.ts'),
  restore: () => import('./commands/restore.ts'),
  fsck: () => import('./commands/fsck.ts'),
  stats: () => import('./commands/stats.ts'),
  config: () => import('./commands/config.ts'),
  branch: () => import('./commands/branch.ts'),
  switch: () => import('./commands/switch.ts'),
  tag: () => import('./commands/tag.ts'),
  merge: () => import('./commands/merge.ts'),
  diff: () => import('./commands/diff.ts'),
  rm: () => import('./commands/rm.ts'),
  mv: () => import('./commands/mv.ts'),
  gc: () => import('./commands/gc.ts'),
  reflog: () => import('./commands/reflog.ts'),
  completion: () => import('./commands/completion.ts'),
  id: () => import('./commands/id.ts'),
  info: () => import('./commands/info.ts'),
  serve: () => import('./commands/serve.ts'),
  clone: () => import('./commands/clone.ts'),
  remote: () => import('./commands/remote.ts'),
  fetch: () => import('./commands/fetch.ts'),
  pull: () => import('./commands/pull.ts'),
  push: () => import('./commands/push.ts'),
  demo: () => import('./commands/demo.ts'),
  verify: () => import('./commands/verify.ts'),
  daemon: () => import('./commands/daemon.ts'),
  share: () => import('./commands/share.ts'),
  unshare: () => import('./commands/unshare.ts'),
  peers: () => import('./commands/peers.ts'),
};

async function helpText(): Promise<string> {
  const lines = ['usage: shoal [-C <dir>] [--json] [-q] <command> [<args>]', '', 'commands:'];
  for (const [name, load] of Object.entries(commands)) {
    const { command } = await load();
    lines.push(`  ${name.padEnd(10)} ${command.summary}`);
  }
  lines.push('', "run 'shoal <command> --help' for a command's options");
  return lines.join('\n');
}

interface Globals {
  cwd: string;
  json: boolean;
  quiet: boolean;
  help: boolean;
  rest: string[];
}

/** Pull the options every command takes out of argv, wherever they stand before `--`. */
function globals(argv: string[]): Globals {
  const g: Globals = { cwd: process.cwd(), json: false, quiet: false, help: false, rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      g.rest.push(...argv.slice(i));
      break;
    }
    if (a === '-C') {
      const dir = argv[++i];
      if (dir === undefined) throw new ShoalError('USAGE', 'option -C needs a directory');
      g.cwd = resolve(g.cwd, dir);
    } else if (a.startsWith('-C') && a.length > 2) g.cwd = resolve(g.cwd, a.slice(2));
    else if (a === '--json') g.json = true;
    else if (a === '-q' || a === '--quiet') g.quiet = true;
    else if (/^-[a-zA-Z]{2,}$/.test(a) && a.includes('q')) {
      // A bundle of short flags such as -qm: take the -q, leave the rest to the command.
      g.quiet = true;
      g.rest.push(`-${a.slice(1).replace('q', '')}`);
    } else if (a === '-h' || a === '--help') g.help = true;
    else g.rest.push(a);
  }
  return g;
}

export async function main(argv: string[]): Promise<number> {
  // A reader that stops early (`shoal log | head`) is not an error: stop quietly, as git does.
  // Any other failure to write the output (`shoal cat x > file` on a full disk) is one line.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    const why = err.code === 'ENOSPC' ? 'no space left on device' : err.message;
    printError(`error: cannot write the output: ${why}`);
    process.exit(1);
  });
  let json = argv.includes('--json');
  try {
    const g = globals(argv);
    json = g.json;
    const [name, ...args] = g.rest;
    if (!name || name === 'help') {
      process.stdout.write(`${await helpText()}\n`);
      return name || g.help ? 0 : 2;
    }
    const load = commands[name];
    if (!load) throw new ShoalError('USAGE', `'${name}' is not a shoal command; see 'shoal --help'`);
    const { command } = await load();
    if (g.help) {
      process.stdout.write(`usage: ${command.usage}\n\n${command.summary}\n`);
      return 0;
    }
    const ctx = createContext(g.cwd, g.json, g.quiet);
    return (await command.run(ctx, args)) ?? 0;
  } catch (err) {
    return report(err, json);
  }
}

export function exitStatus(err: unknown): number {
  return err instanceof ShoalError && err.code === 'USAGE' ? 2 : 1;
}

/** An error message names paths and refs that may come from someone else's repository. */
function printError(text: string): void {
  process.stderr.write(`${process.stderr.isTTY ? terminalSafe(text) : text}\n`);
}

function report(err: unknown, json: boolean): number {
  if (err instanceof ShoalError) {
    if (json) {
      process.stdout.write(
        `${JSON.stringify({ error: { code: err.code, message: err.message, ...err.detail } })}\n`,
      );
    }
    printError(`${err.code === 'USAGE' ? '' : 'error: '}${err.message}`);
    return exitStatus(err);
  }
  const e = err as NodeJS.ErrnoException;
  const message =
    e?.code === 'ENOSPC'
      ? 'no space left on device'
      : e?.code === 'EACCES'
        ? `permission denied${e.path ? `: ${e.path}` : ''}`
        : `internal error: ${e?.message ?? String(err)}`;
  if (json) process.stdout.write(`${JSON.stringify({ error: { code: e?.code ?? 'INTERNAL', message } })}\n`);
  printError(`error: ${message}`);
  if (process.env.SHOAL_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
  return 1;
}
