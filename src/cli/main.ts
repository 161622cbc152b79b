// The shoal command line: global options, lazy dispatch to one module per command, and the
// single place where errors become messages and exit statuses (0 ok, 1 failure, 2 misuse).

import { accessSync, constants, readFileSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { ShoalError, systemError } from '../core/index.ts';
import { setLockPurpose } from '../store/lock.ts';
import { type Context, createContext, goneDir, type Options } from './context.ts';
import { terminalSafe } from './format.ts';

export interface Command {
  summary: string;
  usage: string;
  /** What the command passes to parse(); the global-option scan must know which take a value. */
  options: Options;
  /**
   * Its output is the data asked for (a value, a listing, a log): -q does not silence it, only
   * the command's other messages. Errors are never silenced.
   */
  printsData?: boolean;
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

/** The directory the command started in, or null if it was deleted. */
function startDir(): string | null {
  try {
    return process.cwd();
  } catch {
    return null; // ENOENT: a shell left in a directory removed since
  }
}

/**
 * Where `-C <dir>` leads from `base`: as chdir would, through symlinks (`link/..` is the parent
 * of what `link` points at), so that the repository found is the one `cd <dir>` would find and
 * a symlink to a working tree is never a path of its own inside it. One that cannot be entered
 * is refused, as git refuses it (init and clone would otherwise make it).
 */
function changeDir(base: string | null, dir: string): string {
  const from = isAbsolute(dir) ? '' : (base ?? goneDir());
  const target = from === '' ? dir : `${from}/${dir}`;
  const refuse = (why: string): never => {
    throw new ShoalError('PATH_NOT_FOUND', `cannot change to '${dir}': ${why}`);
  };
  let real = '';
  try {
    real = realpathSync.native(target);
    if (!statSync(real).isDirectory()) refuse('not a directory');
    accessSync(real, constants.X_OK); // what chdir needs
  } catch (err) {
    if (err instanceof ShoalError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    refuse(
      code === 'ENOENT'
        ? 'no such directory'
        : code === 'ENOTDIR'
          ? 'not a directory'
          : code === 'EACCES' || code === 'EPERM'
            ? 'permission denied'
            : code === 'ELOOP'
              ? 'too many levels of symbolic links'
              : (err as Error).message,
    );
  }
  return real;
}

function version(): string {
  const pkg = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(pkg) as { version: string }).version;
}

async function helpText(): Promise<string> {
  const lines = ['usage: shoal [--version] [-C <dir>] [--json] [-q] <command> [<args>]', '', 'commands:'];
  for (const [name, load] of Object.entries(commands)) {
    const { command } = await load();
    lines.push(`  ${name.padEnd(10)} ${command.summary}`);
  }
  lines.push('', "run 'shoal <command> --help' for a command's options");
  return lines.join('\n');
}

interface Globals {
  /** Null when the directory the command started in no longer exists (and no -C says where). */
  cwd: string | null;
  json: boolean;
  quiet: boolean;
  help: boolean;
  version: boolean;
}

/**
 * A command's options that take a value, by long name and by short letter (to its long name),
 * and the short letters of its options that take none.
 */
interface ValueOptions {
  long: Set<string>;
  short: Map<string, string>;
  flags: Set<string>;
}

function valueOptions(options: Options): ValueOptions {
  const v: ValueOptions = { long: new Set(), short: new Map(), flags: new Set() };
  for (const [name, o] of Object.entries(options)) {
    if (o.type !== 'string') {
      if (o.short) v.flags.add(o.short);
      continue;
    }
    v.long.add(name);
    if (o.short) v.short.set(o.short, name);
  }
  return v;
}

const NO_VALUES: ValueOptions = { long: new Set(), short: new Map(), flags: new Set() };

/**
 * Take the options every command accepts (-C <dir>, --json, -q, -h) out of `args`, and return
 * the rest for the command. The command's own options that take a value keep it, whatever it
 * looks like: `commit -m -h` is a commit with the message "-h", as in git. A value taken from the
 * next argument is passed on as `--name=value`, so that one starting with '-' reaches the
 * command's parser as a value. Before the command's name, `stopAtCommand` ends the scan at the
 * first argument that is not a global option, and the rest is returned unscanned.
 */
function takeGlobals(args: string[], g: Globals, values: ValueOptions, stopAtCommand: boolean): string[] {
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = (what: string, value = 'a value'): string => {
      const v = args[++i];
      if (v === undefined) throw new ShoalError('USAGE', `option ${what} needs ${value}`);
      return v;
    };
    if (a === '--') {
      rest.push(...args.slice(i));
      break;
    }
    if (a === '--json') g.json = true;
    else if (a === '--quiet') g.quiet = true;
    else if (a === '--help') g.help = true;
    else if (a === '--version' && stopAtCommand) g.version = true;
    else if (a.startsWith('--') && values.long.has(a.slice(2)) && i + 1 < args.length)
      rest.push(`${a}=${next(a)}`);
    else if (/^-[^-]/.test(a)) {
      // One short option or a bundle (-qm <msg>, -qn1, -qC <dir>): a letter that takes a value
      // takes the rest of the bundle, or else the next argument.
      const kept: string[] = [];
      // Letters are read in order, as git does: after one the command does not know, an `h`
      // is no request for help (`rm -dash` is a mistake, not `rm --help`).
      let unknown = false;
      for (let k = 1; k < a.length; k++) {
        const c = a[k]!;
        const inline = a.slice(k + 1);
        if (c === 'C') {
          const dir = inline || next('-C', 'a directory');
          g.cwd = changeDir(g.cwd, dir);
          break;
        }
        const long = values.short.get(c);
        if (long !== undefined) {
          if (inline === '' && i + 1 >= args.length)
            kept.push(c); // the parser reports it missing
          else rest.push(`--${long}=${inline || next(`-${c}`)}`);
          break;
        }
        if (c === 'q') g.quiet = true;
        else if (c === 'h' && !unknown) g.help = true;
        else {
          if (!values.flags.has(c)) unknown = true;
          kept.push(c);
        }
      }
      if (kept.length > 0) rest.push(`-${kept.join('')}`);
    } else if (stopAtCommand) {
      rest.push(...args.slice(i));
      break;
    } else rest.push(a);
  }
  return rest;
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
    const g: Globals = { cwd: startDir(), json: false, quiet: false, help: false, version: false };
    const [name, ...rest] = takeGlobals(argv, g, NO_VALUES, true);
    json = g.json;
    if (g.version) {
      process.stdout.write(`shoal ${version()}\n`);
      return 0;
    }
    // `shoal help <command>` is `shoal <command> --help`, as in git.
    const words = name === 'help' ? takeGlobals(rest, g, NO_VALUES, false) : [];
    json = g.json;
    if (words.length > 0) {
      const asked = words[0]!;
      const loadAsked = Object.hasOwn(commands, asked) ? commands[asked] : undefined;
      if (!loadAsked || words.length > 1)
        throw new ShoalError('USAGE', `'${words.join(' ')}' is not a shoal command; see 'shoal --help'`);
      const { command } = await loadAsked();
      process.stdout.write(`usage: ${command.usage}\n\n${command.summary}\n`);
      return 0;
    }
    if (!name || name === 'help') {
      process.stdout.write(`${await helpText()}\n`);
      return name || g.help ? 0 : 2;
    }
    // Own names only: `toString` is no command.
    const load = Object.hasOwn(commands, name) ? commands[name] : undefined;
    if (!load) {
      takeGlobals(rest, g, NO_VALUES, false); // --json after it still asks for JSON
      json = g.json;
      // An option of a command's, put before its name (`shoal -n1 log`): named as an option.
      if (name.startsWith('-'))
        throw new ShoalError(
          'USAGE',
          `unknown option '${name}' (a command's options go after its name: shoal <command> [<options>])`,
        );
      throw new ShoalError('USAGE', `'${name}' is not a shoal command; see 'shoal --help'`);
    }
    const { command } = await load();
    const args = takeGlobals(rest, g, valueOptions(command.options), false);
    json = g.json;
    if (g.help) {
      process.stdout.write(`usage: ${command.usage}\n\n${command.summary}\n`);
      return 0;
    }
    const ctx = createContext(g.cwd, g.json, g.quiet, command.printsData);
    setLockPurpose(`shoal ${name}`); // said to a command that finds this one holding the lock
    return (await command.run(ctx, args)) ?? 0;
  } catch (err) {
    // The store's failures it can name for the user (loaded only then: most commands never fail).
    const named =
      (err as { code?: unknown } | null)?.code === 'ERR_SQLITE_ERROR'
        ? (await import('../store/index.ts')).indexFailure(err)
        : undefined;
    return report(named ?? err, json);
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
  const known = systemError(err);
  if (known) return report(known, json);
  const e = err as NodeJS.ErrnoException;
  const message = `internal error: ${e?.message ?? String(err)}`;
  if (json) process.stdout.write(`${JSON.stringify({ error: { code: e?.code ?? 'INTERNAL', message } })}\n`);
  printError(`error: ${message}`);
  if (process.env.SHOAL_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
  return 1;
}
