// A build that cannot succeed fails loudly and leaves nothing behind: no tag, no container.

import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import { appendFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Engine } from '../../lib/engine/engine.js';
import { ExitCode } from '../../lib/errors.js';
import { packageFile } from '../../lib/package-root.js';
import { Cleanup, PREFIX, realEngine } from './support.js';

const run = promisify(execFile);

/** Containers of a build's dependency step (any state): what a failed build could leave behind. */
async function dependencyStepContainers(): Promise<string[]> {
  const { stdout } = await run('docker', ['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.Command}}']);
  return stdout.split('\n').filter((l) => l.includes('cortex-s2i-deps')).map((l) => l.split(' ')[0]!);
}

async function noneLeft(): Promise<string[]> {
  // The engine removes a cancelled step's container a moment after the client has gone.
  for (let i = 0; i < 40; i++) {
    const left = await dependencyStepContainers();
    if (left.length === 0) return left;
    await new Promise((r) => setTimeout(r, 250));
  }
  return dependencyStepContainers();
}

async function danglingImages(): Promise<string[]> {
  const { stdout } = await run('docker', ['images', '-q', '--no-trunc', '--filter', 'dangling=true']);
  return stdout.trim().split('\n').filter(Boolean).sort();
}

describe('a build that fails or is interrupted', function () {
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
    const danglingBefore = await danglingImages();
    const result = await run(process.execPath, [packageFile('bin', 'cortex-s2i.js'), 'build', model, 'daemon', ref]).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );

    expect(result.code).to.equal(ExitCode.buildFailed);
    expect(result.stderr).to.match(/No matching distribution found for cortex-s2i-no-such-package==9\.9\.9/);
    expect(result.stderr).to.contain('nothing was tagged');
    expect(await engine.inspectImage(ref)).to.equal(undefined);
    expect(await noneLeft()).to.deep.equal([]);
    // The step images the engine committed before pip failed are removed too.
    expect(await danglingImages()).to.deep.equal(danglingBefore);
  });

  it('stops on Ctrl-C during the dependency step: status 130, no tag, no container', async () => {
    const project = await cleanup.exampleCopy();
    const model = path.join(project, 'randomForest');
    // Unique per run, so the engine cannot take the step from its cache.
    const marker = `slow-setup-${process.pid}-${Date.now()}`;
    await writeFile(path.join(model, 'setup.sh'), `#!/bin/sh\necho ${marker}\nsleep 60\n`);
    const ref = cleanup.image(`${PREFIX}-interrupted`);
    const danglingBefore = await danglingImages();

    const child = spawn(process.execPath, [packageFile('bin', 'cortex-s2i.js'), 'build', model, 'daemon', ref]);
    let output = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`setup.sh never started:\n${output}`)), 120_000);
      const watch = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes(marker)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout.on('data', watch);
      child.stderr.on('data', watch);
    });
    child.kill('SIGINT');

    expect(await exited).to.equal(ExitCode.interrupted);
    expect(output).to.contain('interrupted; nothing was tagged');
    expect(await engine.inspectImage(ref)).to.equal(undefined);
    expect(await noneLeft()).to.deep.equal([]);
    expect(await danglingImages()).to.deep.equal(danglingBefore);
  });
});
