// Bundles the compiled CLI (dist/lib/cli/main.js) into dist/cli/: the command's start loads a few
// files instead of every module and package one by one, which took a visible part of a rebuild.
// Commands and their heavy parts stay separate chunks, loaded when used, as in dist/lib. dockerode
// and the Python grammar are loaded at run time from node_modules (lib/engine/docker-engine.ts,
// lib/config/python-imports.ts), as they are without the bundle. The library (dist/lib) is not
// bundled. bin/cortex-s2i.js runs the bundle when it is there, dist/lib otherwise.

import { build } from 'esbuild';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist', 'cli');
await rm(outdir, { recursive: true, force: true });
await build({
  entryPoints: { 'cortex-s2i': path.join(root, 'dist', 'lib', 'cli', 'main.js') },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  // CommonJS packages in an ES module bundle call require for node's own modules.
  banner: {
    js: "import { createRequire as __cortexS2iRequire } from 'node:module'; const require = __cortexS2iRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
