/** The Node flags `command` runs with, and the variables its environment gains. */
export function runtimeFor(
  command: string | undefined,
  env?: NodeJS.ProcessEnv,
): { flags: string[]; env: Record<string, string> };
