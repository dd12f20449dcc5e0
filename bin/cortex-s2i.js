#!/usr/bin/env node
// The cortex-s2i command: runs the compiled CLI, bundled (dist/cli, scripts/bundle.mjs) when the
// bundle is as new as what tsc compiled (dist/lib), else dist/lib itself: a tsc run after the
// bundle must not leave the command running older code. npm run build makes both.
import { existsSync, statSync } from 'node:fs';

const bundled = new URL('../dist/cli/cortex-s2i.mjs', import.meta.url);
const compiled = new URL('../dist/lib/cli/main.js', import.meta.url);
const time = (url) => (existsSync(url) ? statSync(url).mtimeMs : -1);
const entry = time(bundled) >= time(compiled) && existsSync(bundled) ? bundled : compiled;
if (!existsSync(entry)) {
  process.stderr.write(
    "error: cortex-s2i is not compiled yet\nhint: run 'npm run build' (or 'make setup') in its folder\n",
  );
  process.exit(1);
}
const { run } = await import(entry.href);
await run();
