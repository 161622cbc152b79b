// Branch and tag names: the rules of `git check-ref-format`, so every name shoal accepts is one
// git would accept too (and the names shoal builds from them, like `<path>~<branch>`, stay sane).

import { ShoalError } from './errors.ts';

/** Why `name` is not a valid branch or tag name, or null when it is. */
export function refNameProblem(name: string): string | null {
  if (name === '') return 'it is empty';
  if (name === '@' || name === 'HEAD') return `'${name}' is reserved`;
  if (name.startsWith('-')) return 'it starts with a dash';
  if (name.startsWith('/') || name.endsWith('/')) return 'it starts or ends with a slash';
  if (name.includes('//')) return 'it contains an empty component';
  if (name.endsWith('.')) return 'it ends with a dot';
  if (name.includes('..')) return "it contains '..'";
  if (name.includes('@{')) return "it contains '@{'";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
  if (/[\x00-\x20\x7f]/.test(name)) return 'it contains a space or a control character';
  if (/[~^:?*[\\]/.test(name)) return 'it contains one of ~ ^ : ? * [ \\';
  for (const part of name.split('/')) {
    if (part.startsWith('.')) return 'a component starts with a dot';
    if (part.endsWith('.lock')) return "a component ends with '.lock'";
  }
  return null;
}

export function assertRefName(name: string, what: 'branch' | 'tag'): void {
  const problem = refNameProblem(name);
  if (problem) {
    throw new ShoalError('INVALID_NAME', `'${name}' is not a valid ${what} name: ${problem}`, { name });
  }
}
