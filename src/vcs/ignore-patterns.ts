// One .shoalignore file's patterns (gitignore syntax), compiled for many paths. The `ignore`
// package tests a path against each pattern's regular expression in turn, which is what git
// does too; with thousands of patterns (a generated list of outputs) that cost a status of
// 10,000 files 6 s. Most such patterns are plain names (`model.ckpt`, `cache/`), plain paths
// (`runs/7/out.bin`) or extensions (`*.tmp`), and a file with no negation (`!`) ignores a path
// when any pattern matches it, in whatever order: those patterns go into sets looked up once
// per path, and only the others are left to the package. A file with a negation keeps the
// package's ordered matching for all its patterns.

import ignore, { type Ignore } from 'ignore';

export type Verdict = { ignored: boolean; unignored: boolean };

/** Characters of a pattern that matches only itself (no wildcard, escape, slash or space). */
const PLAIN = /^[^*?[\]\\/!#\s]+$/;

/**
 * What one file's patterns say of a path itself, leaving its parent directories out. `test()`
 * also says a path is ignored when one of its parents is, by that file alone; but whether a
 * parent is excluded is decided once, over every file (the walk does not enter one that is), and
 * a nearer file may bring back a directory a higher one excludes: with `build/` at the root and
 * `!build/` in `src/`, `src/build/gen.c` is not ignored, as in git. The package tests one path
 * without its parents internally; where that is not there (another version), `test()`.
 */
function ownVerdict(matcher: Ignore, rel: string): Verdict {
  const rules = (matcher as unknown as { _rules?: { test?: (path: string, mode: string) => Verdict } })
    ._rules;
  if (typeof rules?.test === 'function') return rules.test(rel, 'regex');
  return matcher.test(rel);
}

const NONE: Verdict = { ignored: false, unignored: false };
const IGNORED: Verdict = { ignored: true, unignored: false };

/**
 * The verdict of the patterns in `text` on a path relative to the file's directory, ending in
 * `/` for a directory. `ignorecase` matches names in any case.
 */
export function compileIgnore(text: string, ignorecase: boolean): (rel: string) => Verdict {
  const lines = text.split(/\r?\n/);
  const all = (): ((rel: string) => Verdict) => {
    const matcher = ignore({ ignorecase }).add(text);
    return (rel) => ownVerdict(matcher, rel);
  };
  if (lines.some((l) => l.startsWith('!'))) return all();
  const fold = ignorecase ? (s: string): string => s.toLowerCase() : (s: string): string => s;
  const names = new Set<string>(); // a name at any depth
  const dirNames = new Set<string>(); // a directory's name at any depth
  const paths = new Set<string>(); // a path from the file's directory
  const dirPaths = new Set<string>();
  const extensions = new Set<string>(); // `*.ext`: a name ending in `.ext`
  const rest: string[] = [];
  for (const line of lines) {
    if (line === '' || line.startsWith('#')) continue;
    if (line === '/') {
      rest.push(line);
      continue;
    }
    const dirOnly = line.endsWith('/');
    const body = dirOnly ? line.slice(0, -1) : line;
    const parts = body.split('/');
    if (body.startsWith('*.') && PLAIN.test(body.slice(1)) && !dirOnly) extensions.add(fold(body.slice(1)));
    else if (parts.length === 1 && PLAIN.test(body)) (dirOnly ? dirNames : names).add(fold(body));
    else if (parts.every((p, i) => (i === 0 && p === '') || (PLAIN.test(p) && p !== '.' && p !== '..')))
      // A separator at the start or in the middle anchors the pattern to the file's directory.
      (dirOnly ? dirPaths : paths).add(fold(body.startsWith('/') ? body.slice(1) : body));
    else rest.push(line);
  }
  const others = rest.length > 0 ? ignore({ ignorecase }).add(rest.join('\n')) : null;
  return (rel) => {
    const isDir = rel.endsWith('/');
    const path = fold(isDir ? rel.slice(0, -1) : rel);
    const name = path.slice(path.lastIndexOf('/') + 1);
    if (names.has(name) || paths.has(path)) return IGNORED;
    if (isDir && (dirNames.has(name) || dirPaths.has(path))) return IGNORED;
    for (let i = name.indexOf('.'); i >= 0; i = name.indexOf('.', i + 1)) {
      if (extensions.has(name.slice(i))) return IGNORED;
    }
    return others ? ownVerdict(others, rel) : NONE;
  };
}
