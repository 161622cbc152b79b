// The user's Ed25519 identity and global config, under the user's config directory
// ($SHOAL_CONFIG_DIR, else $XDG_CONFIG_HOME/shoal, else ~/.config/shoal). The key is created
// on first use with owner-only permissions.

import {
  chmodSync,
  closeSync,
  constants,
  fstatSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { generateKeyPair, type KeyPair, keyPairFromSeed, pathError, ShoalError } from '../core/index.ts';
import { makeUserDirs } from './dirs.ts';
import { withFileLock } from './lock.ts';

export function configDir(): string {
  return configDirFor(process.env, homedir());
}

/** The config directory an environment names, given its home directory. */
export function configDirFor(env: Record<string, string | undefined>, home: string): string {
  if (env.SHOAL_CONFIG_DIR) return env.SHOAL_CONFIG_DIR;
  return join(env.XDG_CONFIG_HOME || join(home, '.config'), 'shoal');
}

interface IdentityFile {
  version: 1;
  type: 'ed25519';
  seed: string; // base64
}

/**
 * A small file of the user's (config, identity, shares) as text, or undefined when there is none.
 * Anything but a regular file in its place is an error, said in one line: a FIFO would otherwise
 * block the command forever, and a directory fail with a bare EISDIR.
 */
export function readSmallFile(file: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw pathError(err, file) ?? err; // SHOAL_CONFIG_DIR naming a file, say
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new ShoalError('INVALID_ARGUMENT', `${file} is a directory, not a file`);
    if (!st.isFile()) throw new ShoalError('INVALID_ARGUMENT', `${file} is not a regular file`);
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

export function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    makeUserDirs(dirname(file));
    writeFileSync(tmp, data, { mode });
    renameSync(tmp, file);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {}
    throw pathError(err, file) ?? err; // the file the user knows, not the temporary beside it
  }
}

/** Load the user's key, creating it on first use. */
export function loadIdentity(): KeyPair {
  const dir = configDir();
  const file = join(dir, 'identity.json');
  const text = readSmallFile(file);
  if (text === undefined) {
    const pair = generateKeyPair();
    makeUserDirs(dir, 0o700);
    const doc: IdentityFile = {
      version: 1,
      type: 'ed25519',
      seed: Buffer.from(pair.seed).toString('base64'),
    };
    writeFileAtomic(file, JSON.stringify(doc, null, 2) + '\n', 0o600);
    chmodSync(file, 0o600);
    return pair;
  }
  let doc: Partial<IdentityFile> | null;
  try {
    doc = JSON.parse(text) as Partial<IdentityFile> | null;
  } catch {
    throw new ShoalError('CORRUPT_OBJECT', `identity file ${file} is not valid JSON`);
  }
  const seed = Buffer.from(typeof doc?.seed === 'string' ? doc.seed : '', 'base64');
  if (doc?.type !== 'ed25519' || seed.length !== 32) {
    throw new ShoalError('CORRUPT_OBJECT', `identity file ${file} does not hold an Ed25519 key`);
  }
  return keyPairFromSeed(seed);
}

/** A config file's JSON object as it is, or {} when there is none (`shoal config` edits it). */
export function readConfigObject(file: string): Record<string, unknown> {
  const text = readSmallFile(file);
  if (text === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new ShoalError('INVALID_ARGUMENT', `config file ${file} is not a JSON object`);
  return parsed as Record<string, unknown>;
}

function notAString(file: string, key: string): ShoalError {
  const cmd = file === globalConfigFile() ? 'shoal config --global' : 'shoal config';
  return new ShoalError(
    'INVALID_ARGUMENT',
    `config file ${file}: the value of '${key}' is not a string (fix it with: ${cmd} ${key} <value>, or ${cmd} unset ${key})`,
  );
}

/**
 * One setting of a config file. Every value must be a string: a number or an object would
 * otherwise reach the code that reads the setting (a commit's author name, say) and be written
 * into the history as is. Only the setting asked for is checked, so a bad one stops only what
 * reads it, and `shoal config` can still repair it.
 */
/**
 * As in git, a key's section and name are case-insensitive (stored in lower case) and what lies
 * between them is not: `Transfer.Max-Upload` is `transfer.max-upload`, `remote.Origin.url` stays.
 */
export function canonicalConfigKey(key: string): string {
  const parts = key.split('.');
  parts[0] = parts[0]!.toLowerCase();
  parts[parts.length - 1] = parts[parts.length - 1]!.toLowerCase();
  return parts.join('.');
}

/** `key` (canonical) from a config file, or from a spelling of it in another case. */
export function readConfigValue(file: string, key: string): string | undefined {
  const config = readConfigObject(file);
  // A key written in another case (before keys were folded, or by hand) still counts.
  const stored = key in config ? key : Object.keys(config).find((k) => canonicalConfigKey(k) === key);
  const value = stored === undefined ? undefined : config[stored];
  if (value !== undefined && typeof value !== 'string') throw notAString(file, stored!);
  return value;
}

/** Change a config file in place, holding its lock (see withFileLock): no change is lost. */
export function changeConfigFile(file: string, change: (config: Record<string, unknown>) => void): void {
  makeUserDirs(dirname(file));
  withFileLock(file, () => {
    const config = readConfigObject(file);
    change(config);
    writeConfigFile(file, config);
  });
}

export function writeConfigFile(file: string, config: Record<string, unknown>): void {
  const sorted = Object.fromEntries(Object.entries(config).sort(([a], [b]) => (a < b ? -1 : 1)));
  writeFileAtomic(file, JSON.stringify(sorted, null, 2) + '\n');
}

export function globalConfigFile(): string {
  return join(configDir(), 'config.json');
}
