// The rules of lib/'s layout, held against its imports (scripts/import-graph.mjs reads them): the
// command line only speaks to the person, so nothing else depends on it; the build sits above
// what it uses; only the engine adapter speaks to the engine through dockerode.

import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { packageFile } from '../lib/package-root.js';

interface Graph {
  fileEdges: Array<[string, string]>;
}

const { importGraph } = (await import(packageFile('scripts', 'import-graph.mjs'))) as {
  importGraph(root: string): Graph;
};

describe("lib/'s layout", () => {
  const { fileEdges } = importGraph(packageFile('lib'));
  const importers = (target: (file: string) => boolean) =>
    fileEdges.filter(([, to]) => target(to)).map(([from]) => from);

  it('has no file outside lib/cli/ that imports lib/cli/: the command line is on top', () => {
    expect(importers((f) => f.startsWith('cli/')).filter((f) => !f.startsWith('cli/'))).to.deep.equal([]);
  });

  it('has the build above the layers it uses: none of them imports lib/build/', () => {
    const below = ['config/', 'plan/', 'context/', 'render/', 'engine/'];
    expect(
      importers((f) => f.startsWith('build/')).filter((f) => below.some((folder) => f.startsWith(folder))),
    ).to.deep.equal([]);
  });

  it('keeps the planner pure of the build and the engine: lib/plan/ imports neither', () => {
    const planImports = fileEdges.filter(([from]) => from.startsWith('plan/')).map(([, to]) => to);
    expect(planImports.filter((t) => t.startsWith('build/') || t.startsWith('engine/'))).to.deep.equal([]);
  });

  it('loads dockerode in the engine adapter alone', () => {
    const { fileEdges: all } = importGraph(packageFile('lib'));
    const files = [...new Set(all.flatMap(([from, to]) => [from, to]))];
    const loading = files.filter((f) => /['"]dockerode['"]/.test(readFileSync(packageFile('lib', f), 'utf8')));
    expect(loading.sort()).to.deep.equal(['engine/docker-engine.ts', 'engine/dockerode-deferred.ts']);
  });
});
