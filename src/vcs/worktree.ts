// The working tree: repository-relative paths, .shoalignore rules (gitignore syntax, in any
// directory) and a sorted, recursive walk that never enters `.shoal/`.

import { isUtf8 } from 'node:buffer';
import {
  type BigIntStats,
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmdirSync,
} from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { compareNames, comparePathKeys, escapeNameBytes, escapePath, ShoalError } from '../core/index.ts';
import { namesRepoDir, REPO_DIR, type Staging } from '../store/index.ts';
import { isTempName } from './content.ts';
import { compileIgnore, type Verdict } from './ignore-patterns.ts';

export const IGNORE_FILE = '.shoalignore';

/** The parts of a file's stat that stamps and the executable bit are made of. */
export type StatFields = Pick<BigIntStats, 'mode' | 'size' | 'ino' | 'mtimeNs' | 'ctimeNs'>;

export interface WorkEntry {
  path: string; // repository-relative, '/'-separated
  abs: string;
  stat: StatFields;
  kind: 'file' | 'symlink';
}

/** Turn a command-line path into a repository-relative one ('' is the root). */
export function repoPath(root: string, cwd: string, arg: string): string {
  // resolve() takes '' for the current directory: `restore "$UNSET"` restored the whole tree
  // and `rm -r "$UNSET"` removed it. As in git, it is no path at all.
  if (arg === '') throw new ShoalError('USAGE', "an empty string is not a path (use '.' for every path)");
  const abs = isAbsolute(arg) ? resolve(arg) : resolve(cwd, arg);
  // '..' as the first component, not as the start of a name: '..foo' is a file in the root.
  const outside = (r: string): boolean => r === '..' || r.startsWith(`..${sep}`) || isAbsolute(r);
  let rel = relative(root, abs);
  // The same directory reached through a symbolic link (`$PWD/file` in a shell that kept the
  // link's name): compare the real directories. The last component is left as it is: a tracked
  // symlink there is the repository's, wherever it points.
  if (outside(rel)) {
    const realRoot = realDir(root);
    rel = relative(realRoot, join(realDir(dirname(abs)), basename(abs)));
    if (outside(rel) && realDir(abs) === realRoot) rel = ''; // the root itself, through a link
  }
  if (rel === '') return '';
  if (outside(rel)) {
    throw new ShoalError('PATH_OUTSIDE_REPOSITORY', `'${arg}' is outside the repository at '${root}'`, {
      path: arg,
    });
  }
  const posix = rel.split(sep).join('/');
  if (namesRepoDir(posix.split('/', 1)[0]!)) {
    throw new ShoalError(
      'PATH_OUTSIDE_REPOSITORY',
      `'${arg}' is inside the repository's own ${REPO_DIR} directory (or names it on some file systems)`,
    );
  }
  // A nested repository's directory, or inside one (a file of that name is the user's).
  const parts = posix.split('/');
  if (
    parts.slice(0, -1).includes(REPO_DIR) ||
    (parts.at(-1) === REPO_DIR && lstatOrNull(abs)?.isDirectory() === true)
  ) {
    throw new ShoalError(
      'PATH_OUTSIDE_REPOSITORY',
      `'${arg}' is inside the ${REPO_DIR} directory of a repository nested in this one`,
      { path: arg },
    );
  }
  return posix;
}

export function lstatOrNull(abs: string): BigIntStats | null {
  try {
    return lstatSync(abs, { bigint: true, throwIfNoEntry: false }) ?? null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw err;
  }
}

/**
 * The bytes of the regular file (or symlink to one, unless `followSymlink` is false) at `abs`,
 * or null when there is none. The
 * open does not block and the file is checked through the descriptor it opened: a FIFO put in a
 * file's place would otherwise hold the open, and the read, until a writer came, and a device
 * such as /dev/zero never ends.
 */
export function readRegularFile(abs: string, opts: { followSymlink?: boolean } = {}): Buffer | null {
  let fd: number;
  const noFollow = opts.followSymlink === false ? constants.O_NOFOLLOW : 0;
  try {
    fd = openSync(abs, constants.O_RDONLY | constants.O_NONBLOCK | noFollow);
  } catch {
    return null;
  }
  try {
    if (!fstatSync(fd).isFile()) return null;
    return readFileSync(fd);
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

// Patterns match names as the file system tells them apart, as git's core.ignorecase does by
// default: exactly on Linux, in any case on macOS and Windows (whose file systems usually ignore
// case, so `Data/` there is the directory `data/` names).
const IGNORE_CASE = process.platform === 'darwin' || process.platform === 'win32';

interface Rules {
  base: string; // directory the rules are relative to ('' is the root)
  verdict: (rel: string) => Verdict;
}

export class IgnoreRules {
  private readonly root: string;
  private readonly disabled: boolean;
  private readonly cache = new Map<string, Rules | null>();
  /** For each directory, the rules of it and its ancestors that exist, nearest first. */
  private readonly chains = new Map<string, Rules[]>();

  /** `disabled`: no path is ignored (`add -f`). */
  constructor(root: string, opts: { disabled?: boolean } = {}) {
    this.root = root;
    this.disabled = opts.disabled === true;
  }

  private rulesFor(dir: string): Rules | null {
    let rules = this.cache.get(dir);
    if (rules === undefined) {
      // Anything but a regular file holds no rules: a symlink neither, as in git, for what it
      // points at may be outside the working tree or change under it.
      const bytes = readRegularFile(join(this.root, dir, IGNORE_FILE), { followSymlink: false });
      rules =
        bytes === null ? null : { base: dir, verdict: compileIgnore(bytes.toString('utf8'), IGNORE_CASE) };
      this.cache.set(dir, rules);
    }
    return rules;
  }

  /**
   * Whether a path (a directory when isDir) is ignored by the .shoalignore files above it. As in
   * git, the file nearest to the path decides first, so a nested `!pattern` re-includes what a
   * higher file excludes.
   */
  ignored(path: string, isDir: boolean): boolean {
    if (this.disabled) return false;
    const slash = path.lastIndexOf('/');
    for (const rules of this.chainFor(slash < 0 ? '' : path.slice(0, slash))) {
      const rel = (rules.base === '' ? path : path.slice(rules.base.length + 1)) + (isDir ? '/' : '');
      const r = rules.verdict(rel);
      if (r.ignored) return true;
      if (r.unignored) return false;
    }
    return false;
  }

  /**
   * Whether a path named on its own is hidden: ignored itself, or below an ignored directory (a
   * walk never enters those, so a negation further down cannot bring it back, as in git).
   */
  hides(path: string, isDir: boolean): boolean {
    for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
      if (this.ignored(path.slice(0, i), true)) return true;
    }
    return this.ignored(path, isDir);
  }

  private chainFor(dir: string): Rules[] {
    let chain = this.chains.get(dir);
    if (chain === undefined) {
      const above = dir === '' ? [] : this.chainFor(dir.slice(0, Math.max(0, dir.lastIndexOf('/'))));
      const own = this.rulesFor(dir);
      chain = own ? [own, ...above] : above;
      this.chains.set(dir, chain);
    }
    return chain;
  }
}

/**
 * The entries of two path-ordered streams side by side: each path once, with what each stream
 * has at it. It holds one entry of each stream at a time.
 */
export function* alongside<A extends { path: string }, B extends { path: string }>(
  as: Iterable<A>,
  bs: Iterable<B>,
): Generator<[A | undefined, B | undefined]> {
  const ai = as[Symbol.iterator]();
  const bi = bs[Symbol.iterator]();
  let a = ai.next();
  let b = bi.next();
  while (!a.done || !b.done) {
    const order = a.done ? 1 : b.done ? -1 : compareNames(a.value.path, b.value.path);
    if (order < 0) {
      yield [a.value as A, undefined];
      a = ai.next();
    } else if (order > 0) {
      yield [undefined, b.value as B];
      b = bi.next();
    } else {
      yield [a.value as A, b.value as B];
      a = ai.next();
      b = bi.next();
    }
  }
}

export interface WalkOptions {
  /** May return false to skip a directory (status uses it to collapse untracked ones). */
  enter?: (dir: string) => boolean;
  /** What the staging index tracks: walked even where .shoalignore would hide it (as in git). */
  tracked?: Pick<Staging, 'has' | 'hasUnder'>;
  /**
   * Told of an untracked name that is not valid UTF-8 (with its bad bytes as \xNN) instead of
   * the walk refusing it: status lists such names, add refuses them.
   */
  badName?: (shown: string) => void;
  /**
   * Told of a directory that cannot be listed (permission denied) and holds nothing tracked,
   * instead of the walk failing: status passes it over with a warning, as git does.
   */
  unreadable?: (dir: string) => void;
}

/**
 * Walk the tree below `start` (repository-relative) in path order, yielding files and symlinks.
 * `onlyTracked` is set inside an ignored directory: only what is tracked there is walked.
 */
export function walk(
  root: string,
  start: string,
  rules: IgnoreRules,
  opts: WalkOptions = {},
): Generator<WorkEntry | { dir: string; skipped: true }> {
  // A walk that starts below the root (`add build`, build tracked) did not come through the
  // directories above: one of them, or the start, may be ignored, and then only what is tracked
  // there is walked, as when the walk reaches it from the root.
  const hidden = start !== '' && rules.hides(start, true);
  return walkFrom(root, start, rules, opts, hidden, false);
}

/** walk(), where `listed` says `start` was listed as a directory by the walk above it. */
function* walkFrom(
  root: string,
  start: string,
  rules: IgnoreRules,
  opts: WalkOptions,
  onlyTracked: boolean,
  listed: boolean,
): Generator<WorkEntry | { dir: string; skipped: true }> {
  const abs = start === '' ? root : join(root, start);
  const st = lstatInWalk(abs, start);
  if (!st) return;
  if (!st.isDirectory()) {
    // A directory replaced by a file since it was listed would come out of path order: passed
    // over, as if the walk had come a moment earlier.
    if (!listed && (st.isFile() || st.isSymbolicLink())) {
      yield { path: start, abs, stat: st, kind: st.isFile() ? 'file' : 'symlink' };
    }
    return;
  }
  const { enter, tracked } = opts;
  // Depth first with a stack of the directories being walked, not by recursion: a tree nested
  // a few thousand directories deep (a path of a few KiB, well within PATH_MAX) ran out of call
  // stack through the nested generators.
  const stack: DirFrame[] = [];
  const top = listDir(start, abs, rules, opts, onlyTracked);
  if (top) stack.push(top);
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    const child = frame.children[frame.next++];
    if (child === undefined) {
      stack.pop();
      continue;
    }
    const { name, dir } = child;
    const path = frame.path === '' ? name : `${frame.path}/${name}`;
    const childAbs = frame.prefix + name;
    if (dir) {
      const ignored = frame.onlyTracked || rules.ignored(path, true);
      if (ignored) {
        if (tracked?.hasUnder(path)) {
          const below = subdirFrame(path, childAbs, rules, opts, true);
          if (below) stack.push(below);
        }
        continue;
      }
      if (enter && !enter(path)) {
        // Reported as one entry, as git does, and only when it holds a file that is not ignored
        // (a name that is not UTF-8 counts: `add` of the directory then names it).
        let badName = false;
        let unreadable: string | undefined;
        const probe = walkFrom(
          root,
          path,
          rules,
          {
            badName: () => (badName = true),
            ...(opts.unreadable ? { unreadable: (d: string) => (unreadable ??= d) } : {}),
          },
          false,
          true,
        );
        const holds = !probe.next().done || badName;
        // A directory (or one below) that cannot be listed: said, and listed only for what the
        // walk could see in it.
        if (unreadable !== undefined) opts.unreadable!(unreadable);
        if (holds) yield { dir: path, skipped: true };
        continue;
      }
      const below = subdirFrame(path, childAbs, rules, opts, frame.onlyTracked);
      if (below) stack.push(below);
    } else {
      const ignored = frame.onlyTracked || rules.ignored(path, false);
      if (ignored && !tracked?.has(path)) continue;
      const cst = lstatInWalk(childAbs, path);
      // Gone since the listing, or now a directory (which would sort elsewhere): passed over,
      // as if the walk had come a moment later.
      if (!cst || !(cst.isFile() || cst.isSymbolicLink())) continue;
      yield { path, abs: childAbs, stat: cst, kind: cst.isFile() ? 'file' : 'symlink' };
    }
  }
}

/** A directory the walk is in: its children in path order, and the next one to take. */
interface DirFrame {
  path: string;
  prefix: string; // its absolute path and a separator: no join needed per child
  onlyTracked: boolean;
  children: { name: string; dir: boolean }[];
  next: number;
}

/**
 * The frame of a directory the walk listed, or null when it has gone or is no longer a
 * directory (one replaced by a file would come out of path order: passed over, as if the walk
 * had come a moment earlier), or when it cannot be listed and was reported as such.
 */
function subdirFrame(
  path: string,
  abs: string,
  rules: IgnoreRules,
  opts: WalkOptions,
  onlyTracked: boolean,
): DirFrame | null {
  const st = lstatInWalk(abs, path);
  if (!st?.isDirectory()) return null;
  return listDir(path, abs, rules, opts, onlyTracked);
}

/** The frame of directory `start`, its entries listed in path order (null: gone, or reported). */
function listDir(
  start: string,
  abs: string,
  rules: IgnoreRules,
  opts: WalkOptions,
  onlyTracked: boolean,
): DirFrame | null {
  let entries: { name: string; isDirectory(): boolean; isFile(): boolean; isSymbolicLink(): boolean }[];
  try {
    entries = readdirSync(abs, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES') {
      if (opts.unreadable && start !== '' && !opts.tracked?.hasUnder(start)) {
        opts.unreadable(start);
        return null;
      }
      throw new ShoalError('PERMISSION_DENIED', `cannot read directory '${start || '.'}': permission denied`);
    }
    if (code !== 'ENOENT') throw err;
    if (!lstatOrNull(abs)) return null; // the directory itself has just gone
    // Where the file system gives no entry types, Node lstats each entry itself and fails if one
    // has just gone: list the names instead and lstat them here, passing over the vanished.
    entries = [];
    for (const name of readdirSync(abs)) {
      const st = lstatOrNull(`${abs}${sep}${name}`);
      if (st) entries.push(Object.assign(st, { name }));
    }
  }
  // Sorted with a subdirectory as its name and a '/', so paths come out in byte order ('a.txt'
  // before 'a/b'), the order of the staging index and of flatten(). The entry types come with
  // the directory listing: a file is lstat'ed only when it is about to be yielded, so finding
  // the first file of an untracked directory does not stat all its siblings.
  const children: { name: string; dir: boolean }[] = [];
  // A name that is not UTF-8 comes out of the listing with U+FFFD in place of its bad bytes, a
  // name no file has: it can be neither read nor recorded (tree names are UTF-8). Said, rather
  // than passed over as if the file were not there.
  const undecodable = entries.some((d) => d.name.includes('\ufffd')) ? undecodableNames(abs) : undefined;
  for (const d of entries) {
    // The repository's own directory (and at the root, the names that are it on other file
    // systems), and that of a repository nested in the working tree: its index and packs change
    // under its own commands, and a checkout here writing an old copy of them back would lose
    // the nested repository's later commits. Deeper, only the exact name is a repository's: a
    // directory called `SHOAL~1` or `.SHOAL` there, or a file called `.shoal`, is the user's, and tracked.
    if (start === '' ? namesRepoDir(d.name) : d.name === REPO_DIR && d.isDirectory()) continue;
    // A file shoal is writing, or one a killed checkout left: never the user's, never tracked.
    if (!d.isDirectory() && isTempName(d.name)) continue;
    const bad = undecodable?.get(d.name);
    if (bad) {
      const path = start === '' ? d.name : `${start}/${d.name}`;
      if (onlyTracked || rules.ignored(path, d.isDirectory())) continue;
      const shown = start === '' ? bad : `${escapePath(start)}/${bad}`;
      if (opts.badName) {
        opts.badName(shown);
        continue;
      }
      throw new ShoalError(
        'INVALID_NAME',
        `cannot track '${shown}': its name is not valid UTF-8 (rename it, or list it in ${IGNORE_FILE})`,
        { path: shown },
      );
    }
    if (d.isDirectory()) children.push({ name: d.name, dir: true });
    else if (d.isFile() || d.isSymbolicLink()) children.push({ name: d.name, dir: false });
  }
  children.sort(comparePathKeys);
  return { path: start, prefix: abs.endsWith(sep) ? abs : abs + sep, onlyTracked, children, next: 0 };
}

/**
 * lstatOrNull() for the walk, which has the repository-relative path to name: a path longer than
 * the system lets a program open (PATH_MAX) can be neither read nor recorded, and is said, like
 * a name that is not UTF-8, rather than failing as an unexplained system error.
 */
export function lstatInWalk(abs: string, path: string): BigIntStats | null {
  try {
    return lstatOrNull(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENAMETOOLONG') throw err;
    // Too long as a whole (PATH_MAX), or one of its names is (NAME_MAX): the same to the user.
    throw new ShoalError(
      'INVALID_NAME',
      `cannot track '${path}': its path is too long to open (${Buffer.byteLength(abs)} bytes, or a name in it over 255); move it higher, or list it in ${IGNORE_FILE}`,
      { path },
    );
  }
}

/**
 * The names in directory `abs` that are not valid UTF-8: each as the listing decodes it (with
 * U+FFFD), to the name with its bad bytes written as \xNN.
 */
function undecodableNames(abs: string): Map<string, string> {
  const names = new Map<string, string>();
  for (const raw of readdirSync(abs, { encoding: 'buffer' })) {
    if (isUtf8(raw)) continue;
    names.set(raw.toString('utf8'), escapeNameBytes(raw));
  }
  return names;
}

/**
 * `path` (repository-relative) as a name that is not valid UTF-8 shows, with its bad bytes as
 * \xNN, when that is what it names: the command line reaches a program decoded, so such a name
 * given as an argument arrives with U+FFFD in place of its bytes and matches no file.
 */
export function undecodableNameAt(root: string, path: string): string | undefined {
  if (!path.includes('\ufffd')) return undefined;
  const slash = path.lastIndexOf('/');
  const dir = slash < 0 ? '' : path.slice(0, slash);
  let names: Map<string, string>;
  try {
    names = undecodableNames(join(root, dir));
  } catch {
    return undefined;
  }
  const shown = names.get(path.slice(slash + 1));
  return shown === undefined ? undefined : dir === '' ? shown : `${escapePath(dir)}/${shown}`;
}

/** `dir` with symbolic links resolved, as far as it exists (the rest appended as it is). */
function realDir(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    const parent = dirname(dir);
    return parent === dir ? dir : join(realDir(parent), basename(dir));
  }
}

/**
 * The lstat of `path` (repository-relative) when it is in the working tree: it exists, and no
 * file or symlink stands where one of its directories would be (what a symlink there points at
 * is not the repository's). Null otherwise.
 */
export function workingTreeStat(root: string, path: string): BigIntStats | null {
  return blockingAncestor(root, path) === undefined ? lstatOrNull(join(root, path)) : null;
}

/**
 * The first ancestor directory of `path` (repository-relative) that exists in the working tree
 * as something other than a directory (a file, or a symlink that must not be written through).
 */
export function blockingAncestor(root: string, path: string): string | undefined {
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
    const st = lstatOrNull(join(root, path.slice(0, i)));
    if (!st) return undefined;
    if (!st.isDirectory()) return path.slice(0, i);
  }
  return undefined;
}

/** The executable bit of a regular file; symlinks (whose lstat mode is 0777) never have one. */
export function isExecutable(st: StatFields): boolean {
  const regularFile = (st.mode & 0o170000n) === 0o100000n;
  return regularFile && (st.mode & 0o100n) !== 0n;
}

/** Remove the directories above `path` that are left empty, up to the repository root. */
export function removeEmptyParents(root: string, path: string): void {
  let dir = dirname(path);
  // The directory the command runs in stays, empty or not, as git keeps it: the shell that
  // started the command would be left in a directory that no longer exists.
  let here: string | undefined;
  try {
    here = process.cwd();
  } catch {
    here = undefined;
  }
  while (dir !== '.' && dir !== '') {
    try {
      if (join(root, dir) === here) return;
      if (readdirSync(join(root, dir)).length > 0) return;
      rmdirSync(join(root, dir));
    } catch {
      return;
    }
    dir = dirname(dir);
  }
}
