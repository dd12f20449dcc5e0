#!/usr/bin/env node
// The cortex-s2i command: runs the compiled CLI (npm run build compiles it into dist/).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/lib/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write("error: cortex-s2i is not compiled yet\nhint: run 'npm run build' (or 'make setup') in its folder\n");
  process.exit(1);
}
const { run } = await import(entry.href);
await run();
