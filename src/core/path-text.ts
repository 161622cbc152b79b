// Paths as text for people: C-style escapes for the characters that could make one path read as
// several, or drive a terminal. The CLI quotes a path that needs them (as git does); the working
// tree walk uses the same escapes to name a file whose name is not UTF-8.

// What is escaped: a double quote, a backslash, C0 and C1 control characters, DEL, the line and
// paragraph separators, and the bidirectional overrides and isolates (which can make a line read
// differently from its bytes).
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const ESCAPED = /["\\\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\t': '\\t', '\r': '\\r', '"': '\\"', '\\': '\\\\' };

function escapeChar(c: string): string {
  const named = NAMED[c];
  if (named) return named;
  const code = c.charCodeAt(0);
  return code < 0x100
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `path` with every character that needs it escaped; the same string when none does. */
export function escapePath(path: string): string {
  return path.replace(ESCAPED, escapeChar); // every escape differs from its character
}

/** `text` with control characters other than tab and newline escaped (as escapePath writes them). */
export function escapeControls(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, escapeChar);
}

/**
 * A name that is not valid UTF-8, from its bytes: printable ASCII as it is (a double quote and a
 * backslash escaped), every other byte as `\xNN`. Read inside double quotes like escapePath's
 * output.
 */
export function escapeNameBytes(name: Uint8Array): string {
  let shown = '';
  for (const byte of name) {
    if (byte === 0x22 || byte === 0x5c) shown += `\\${String.fromCharCode(byte)}`;
    else if (byte >= 0x20 && byte < 0x7f) shown += String.fromCharCode(byte);
    else shown += `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return shown;
}
