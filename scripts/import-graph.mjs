// The shape of lib/ as its imports draw it: the lines of each folder, and which folder imports
// which (how many of its files do). `node scripts/import-graph.mjs [DIR]` prints both for DIR
// (default lib); ARCHITECTURE.md shows the picture, test/architecture.test.ts holds its rules.
// Tests (*.test.ts) are left out: they may reach anywhere.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Every non-test TypeScript file under `root`, as paths relative to it with forward slashes. */
function sources(root, rel = '') {
  const out = [];
  for (const name of readdirSync(path.join(root, rel)).sort()) {
    const child = rel === '' ? name : `${rel}/${name}`;
    if (statSync(path.join(root, child)).isDirectory()) out.push(...sources(root, child));
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(child);
  }
  return out;
}

/** The files of `root` a file imports (static and dynamic imports of relative paths). */
function importsOf(root, file) {
  const text = readFileSync(path.join(root, file), 'utf8');
  const found = new Set();
  for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*)'(\.{1,2}\/[^']+)'/g)) {
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1])).replace(/\.js$/, '.ts');
    if (!target.startsWith('..')) found.add(target);
  }
  return [...found];
}

/** The folder a file belongs to: its first folder under the root, or the file itself at the top. */
function folderOf(file) {
  const slash = file.indexOf('/');
  return slash < 0 ? file : `${file.slice(0, slash)}/`;
}

/** Lines per folder, and the folder-to-folder imports with how many files make each. */
export function importGraph(root) {
  const files = sources(root);
  const lines = new Map();
  const edges = new Map();
  const fileEdges = [];
  for (const file of files) {
    const from = folderOf(file);
    const count = readFileSync(path.join(root, file), 'utf8').split('\n').length - 1;
    lines.set(from, (lines.get(from) ?? 0) + count);
    for (const target of importsOf(root, file)) {
      fileEdges.push([file, target]);
      const to = folderOf(target);
      if (to === from) continue;
      const key = `${from} -> ${to}`;
      edges.set(key, (edges.get(key) ?? new Set()).add(file));
    }
  }
  return {
    lines: [...lines].sort((a, b) => b[1] - a[1]),
    edges: [...edges].map(([key, set]) => [key, set.size]).sort((a, b) => (a[0] < b[0] ? -1 : 1)),
    fileEdges,
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = path.resolve(process.argv[2] ?? 'lib');
  const { lines, edges } = importGraph(root);
  const total = lines.reduce((n, [, l]) => n + l, 0);
  console.log(`lines of ${path.basename(root)}/ (tests left out): ${total}`);
  for (const [folder, count] of lines) console.log(`  ${folder.padEnd(20)} ${String(count).padStart(6)}`);
  console.log('imports between folders (files importing):');
  for (const [edge, count] of edges) console.log(`  ${edge.padEnd(34)} ${count}`);
}
