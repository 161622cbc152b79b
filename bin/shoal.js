#!/usr/bin/env node
// Entry point: hands over to the TypeScript CLI, which Node runs with type stripping.
import { main } from '../src/cli/main.ts';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
