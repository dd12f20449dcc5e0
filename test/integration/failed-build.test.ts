// A build that cannot succeed fails loudly and leaves nothing behind: no tag, no container.

import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Engine } from '../../lib/engine/engine.js';
import { ExitCode } from '../../lib/errors.js';
import { packageFile } from '../../lib/package-root.js';
import { Cleanup, PREFIX, realEngine } from './support.js';

const run = promisify(execFile);

async function allContainers(): Promise<string[]> {
  const { stdout } = await run('docker', ['ps', '-aq', '--no-trunc']);
  return stdout.trim().split('\n').filter(Boolean).sort();
}

describe('a build whose requirements cannot be installed', function () {
  this.timeout(5 * 60 * 1000);
  let engine: Engine;
  const cleanup = new Cleanup(() => engine);
  before(async function () {
    engine = await realEngine(this);
  });
  after(() => cleanup.run());

  it("fails with pip's message and status 3, tags nothing and leaves no container", async () => {
    const project = await cleanup.exampleCopy();
    const model = path.join(project, 'randomForest');
    await appendFile(path.join(model, 'requirements_predict.txt'), 'cortex-s2i-no-such-package==9.9.9\n');
    const ref = cleanup.image(`${PREFIX}-unsatisfiable`);
    const containersBefore = await allContainers();

    const result = await run(process.execPath, [packageFile('bin', 'cortex-s2i.js'), 'build', model, 'daemon', ref]).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );

    expect(result.code).to.equal(ExitCode.buildFailed);
    expect(result.stderr).to.match(/No matching distribution found for cortex-s2i-no-such-package==9\.9\.9/);
    expect(result.stderr).to.contain('nothing was tagged');
    expect(await engine.inspectImage(ref)).to.equal(undefined);
    expect(await allContainers()).to.deep.equal(containersBefore);
  });
});
