/**
 * The Node flags `command` runs with, and the variables its environment gains, less what the
 * caller already chose in `env` (NODE_OPTIONS included) or in `nodeArgs`.
 */
export function runtimeFor(
  command: string | undefined,
  env?: NodeJS.ProcessEnv,
  nodeArgs?: readonly string[],
): { flags: string[]; env: Record<string, string> };
