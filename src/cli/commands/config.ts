// shoal config get|set|unset|list [--global]: repository or user configuration.

import { ShoalError } from '../../core/index.ts';
import {
  canonicalConfigKey,
  changeConfigFile,
  globalConfigFile,
  Repository,
  readConfigObject,
  readConfigValue,
  repoConfigFile,
} from '../../store/index.ts';
import { type Context, type Options, parse, usage } from '../context.ts';
import type { Command } from '../main.ts';

const USAGE = 'shoal config [--global] get <key> | set <key> <value> | unset <key> | list';
const KEY = /^[a-z][a-z0-9-]*(\.[a-z0-9-]+)+$/i;

const OPTIONS = { global: { type: 'boolean' } } satisfies Options;

/**
 * Settings whose mistakes would pass unnoticed (a key list that names nobody, a yes that reads
 * as no) are checked when set; the others where they are read.
 */
async function checkValue(key: string, value: string): Promise<void> {
  if (key === 'access.readers' || key === 'access.writers') {
    const { accessKey } = await import('../../swarm/index.ts');
    for (const entry of value.split(/[\s,]+/).filter(Boolean)) {
      if (accessKey(entry) === null)
        throw new ShoalError(
          'INVALID_ARGUMENT',
          `${key}: '${entry}' is neither a public key in hex nor a peer id (see 'shoal id')`,
        );
    }
  }
  const booleans = ['access.allow-force', 'daemon.mdns', 'net.mdns'];
  if (booleans.includes(key) && value !== 'true' && value !== 'false')
    throw new ShoalError('INVALID_ARGUMENT', `${key}: '${value}' must be true or false`);
  if (key === 'daemon.listen') {
    const { checkListenAddress } = await import('../../net/index.ts');
    for (const addr of value.split(/\s+/).filter(Boolean)) {
      try {
        checkListenAddress(addr);
      } catch (err) {
        throw new ShoalError('INVALID_ARGUMENT', `daemon.listen: ${(err as Error).message}`);
      }
    }
  }
}

export const command: Command = {
  summary: 'read and write configuration (repository, or --global for the user)',
  usage: USAGE,
  options: OPTIONS,
  printsData: true,
  async run(ctx: Context, args: string[]) {
    const { values, positionals } = parse(args, OPTIONS, USAGE);
    // git-style shorthands: `config <key>` reads, `config <key> <value>` writes.
    const words =
      positionals[0] && KEY.test(positionals[0])
        ? [positionals.length === 1 ? 'get' : 'set', ...positionals]
        : positionals;
    const [verb, key, value] = words;
    if (!verb) usage(USAGE);
    const arity: Record<string, number> = { get: 2, set: 3, unset: 2, list: 1 };
    if (arity[verb] !== undefined && words.length > arity[verb]) usage(USAGE);
    // `config` is how a value that is not a string gets repaired, so the repository is found,
    // not opened (opening reads settings: core.compression), and set, unset and list read the
    // file leniently, keeping every other value as it is (a setting is otherwise refused only
    // where it is read).
    const root = values.global ? undefined : Repository.find(ctx.cwd);
    if (!values.global && !root) {
      throw new ShoalError('NOT_A_REPOSITORY', `not a shoal repository (or any parent): ${ctx.cwd}`);
    }
    const file = root ? repoConfigFile(root) : globalConfigFile();
    const needKey = (): string => {
      if (!key || !KEY.test(key))
        throw new ShoalError('USAGE', `invalid config key '${key ?? ''}' (expected section.name)`);
      return canonicalConfigKey(key);
    };
    // Spellings of the key in other cases (written before keys were folded) go with it.
    const dropVariants = (config: Record<string, unknown>, k: string): void => {
      for (const other of Object.keys(config))
        if (KEY.test(other) && canonicalConfigKey(other) === k) delete config[other];
    };
    switch (verb) {
      case 'get': {
        const k = needKey();
        const v = readConfigValue(file, k) ?? (root ? readConfigValue(globalConfigFile(), k) : undefined);
        if (v === undefined) {
          // As git: no value is exit 1 and no output; --json says why (stdout is never empty).
          if (ctx.json) ctx.emit({ error: { code: 'NOT_FOUND', message: `'${k}' is not set` } });
          return 1;
        }
        if (ctx.json) ctx.emit({ key: k, value: v });
        else ctx.out(v);
        return 0;
      }
      case 'set': {
        if (value === undefined) usage(USAGE);
        const k = needKey();
        await checkValue(k, value);
        // Read, changed and written under the file's lock: settings made at once are all kept.
        changeConfigFile(file, (config) => {
          dropVariants(config, k);
          config[k] = value;
        });
        if (ctx.json) ctx.emit({ key: k, value, file });
        return 0;
      }
      case 'unset': {
        const k = needKey();
        let was: unknown;
        changeConfigFile(file, (config) => {
          was = Object.entries(config).find(
            ([other]) => KEY.test(other) && canonicalConfigKey(other) === k,
          )?.[1];
          dropVariants(config, k);
        });
        if (ctx.json) ctx.emit({ key: k, removed: was !== undefined, file });
        return 0;
      }
      case 'list': {
        const config = readConfigObject(file);
        if (ctx.json) ctx.emit(config);
        else
          for (const [k, v] of Object.entries(config))
            ctx.out(`${k}=${typeof v === 'string' ? v : `${JSON.stringify(v)} (not a string)`}`);
        return 0;
      }
      default:
        return usage(USAGE);
    }
  },
};
