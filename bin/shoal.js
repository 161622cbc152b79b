#!/usr/bin/env node
// Entry point: hands over to the TypeScript CLI, which Node runs with type stripping. The
// compile cache keeps start-up short after the first run.
import module from 'node:module';

module.enableCompileCache?.();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
