import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { FakeEngine } from '../../lib/engine/fake-engine.js';
import { ExitCode } from '../../lib/errors.js';
import { packageVersion } from '../../lib/package-root.js';
import { bundledBuilderImage } from '../../lib/plan/builders.js';
import { removeTree, sampleProject, writeTree } from '../support/tree.js';
import { main } from '../../lib/cli/main.js';
import type { BuildReport } from '../../lib/build/publish.js';

describe("a build's results on stdout (--json, -q, --push)", () => {
  let root: string;
  let model: string;
  let engine: FakeEngine;
  let env: NodeJS.ProcessEnv;
  // main() is given its own environment below: the builder repository is the default one there.
  const builder = bundledBuilderImage('daemon', packageVersion());

  async function run(...argv: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(argv, {
      env,
      output: { out: (l) => out.push(l), err: (l) => err.push(l) },
      engine: () => engine,
    });
    return { code, out, err: err.join('\n') };
  }

  beforeEach(async () => {
    root = await writeTree(sampleProject());
    model = path.join(root, 'shop/churn');
    engine = new FakeEngine();
    engine.addImage(builder, { 'io.cortex-s2i.builder': 'daemon' });
    // No config.json there: no credentials, and none of the user's own read.
    env = { DOCKER_CONFIG: path.join(root, 'docker-config') };
  });
  afterEach(() => removeTree(root));

  it('--json prints one JSON document on stdout and every log line on stderr', async () => {
    const r = await run('build', model, 'daemon', 'churn-predict', '--json');
    expect(r.code, r.err).to.equal(ExitCode.ok);
    const report = JSON.parse(r.out.join('\n')) as BuildReport;
    expect(report.image).to.equal('churn-predict');
    expect(report.id).to.equal(engine.tags.get('churn-predict'));
    expect(report.tags).to.deep.equal(['churn-predict']);
    expect(report.digest).to.equal(undefined);
    expect(report.bytesSent).to.be.greaterThan(0);
    expect(report.steps.length).to.be.greaterThan(3);
    expect(report.steps.filter((s) => s.dependencies)).to.have.length(1);
    for (const s of report.steps) expect(s).to.have.keys('step', 'instruction', 'seconds', 'cached', 'dependencies');
    expect(r.err).to.contain('plan for churn-predict').and.contain('built churn-predict');
  });

  it('--cache-from an image no registry gives is a warning, in the JSON document too', async () => {
    // Port 1 on 127.0.0.1: nothing listens, so the registry is down at once.
    const r = await run('build', model, 'daemon', 'churn-predict', '--json', '--cache-from', '127.0.0.1:1/none:1');
    expect(r.code, r.err).to.equal(ExitCode.ok);
    const report = JSON.parse(r.out.join('\n')) as BuildReport;
    expect(report.cacheFrom).to.deep.equal([]);
    expect(report.warnings).to.have.length(1);
    expect(report.warnings[0]).to.contain(
      '--cache-from 127.0.0.1:1/none:1: not used (no registry answers at 127.0.0.1:1',
    );
    expect(r.err).to.contain('warning: --cache-from 127.0.0.1:1/none:1: not used');
  });

  it('-q prints only the image reference on stdout', async () => {
    const r = await run('build', model, 'daemon', 'churn-predict', '-q');
    expect(r.code, r.err).to.equal(ExitCode.ok);
    expect(r.out).to.deep.equal(['churn-predict']);
  });

  it('--push prints repo@digest, writes --digest-file, and -q prints the pinned reference', async () => {
    const digestFile = path.join(root, 'digest');
    const r = await run('build', model, 'daemon', 'r:5000/churn:1', '--push', '--digest-file', digestFile, '-q');
    expect(r.code, r.err).to.equal(ExitCode.ok);
    expect(engine.registry.has('r:5000/churn:1')).to.equal(true);
    expect(r.out).to.have.length(1);
    expect(r.out[0]).to.match(/^r:5000\/churn@sha256:[0-9a-f]{64}$/);
    expect(await readFile(digestFile, 'utf8')).to.equal(r.out[0]!.split('@')[1]);
  });

  it('push refuses an image the engine does not have, with exit status 2', async () => {
    const r = await run('push', 'r:5000/nothing:1');
    expect(r.code).to.equal(ExitCode.badInput);
    expect(r.err).to.contain('r:5000/nothing:1 is not on the engine');
  });
});
