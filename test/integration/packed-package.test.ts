// The package as a user gets it: `npm pack`, installed into a scratch prefix, drives a generated
// Makefile of a project outside this repository with only the prefix's bin on PATH.

import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Engine } from '../../lib/engine/engine.js';
import { packageRoot } from '../../lib/package-root.js';
import { Cleanup, PREFIX, realEngine } from './support.js';

const run = promisify(execFile);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

describe('the packed package', function () {
  this.timeout(20 * 60 * 1000);
  let engine: Engine;
  const cleanup = new Cleanup(() => engine);
  const prefix = `${PREFIX}-packed-`;
  let tarball: string;
  let scratch: string;
  before(async function () {
    engine = await realEngine(this);
    scratch = await cleanup.tempDir('packed');
    cleanup.image(`${prefix}adult-income-lr-train`);
    cleanup.image(`${prefix}adult-income-lr-predict`);
    // dist/ is what these tests run from, built already: prepare would build it again.
    const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], { cwd: packageRoot(), maxBuffer: 16 * 1024 * 1024 });
    tarball = path.join(scratch, (JSON.parse(packed.stdout) as Array<{ filename: string }>)[0]!.filename);
  });
  after(async () => {
    await run('docker', ['rm', '-f', `${prefix}adult-income-lr`]).catch(() => undefined);
    await cleanup.run();
  });

  it('holds what a user needs and no tests, benchmarks or fixtures', async () => {
    const files = (await run('tar', ['-tzf', tarball], { maxBuffer: 16 * 1024 * 1024 })).stdout.trim().split('\n').map((f) => f.replace(/^package\//, ''));
    for (const needed of ['bin/cortex-s2i.js', 'dist/lib/cli/main.js', 'lib/render/templates/model-Makefile.hbs', 'builders/Dockerfile', 'assemble/assemble', 'run/daemon', 'run/runtime/cortex_s2i_runtime/__init__.py']) {
      expect(files, needed).to.include(needed);
    }
    const unwanted = files.filter((f) => /(^|\/)(test|tests|bench|fixtures)\//.test(f) || /\.test\.(js|d\.ts)$/.test(f) || f.endsWith('.ts'));
    expect(unwanted).to.deep.equal([]);
  });

  it('installed into a prefix, runs a model\'s Makefile in a project outside the repository', async () => {
    const prefixDir = path.join(scratch, 'prefix');
    await run('npm', ['install', '-g', '--prefix', prefixDir, '--prefer-offline', '--no-audit', '--no-fund', tarball], { maxBuffer: 16 * 1024 * 1024 });
    const project = await cleanup.exampleCopy();
    expect(path.relative(packageRoot(), project).startsWith('..'), 'the project is outside the repository').to.equal(true);
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${path.join(prefixDir, 'bin')}:${process.env.PATH}` };
    delete env.CORTEX_S2I;
    const which = (await run('sh', ['-c', 'command -v cortex-s2i'], { env })).stdout.trim();
    expect(which).to.equal(path.join(prefixDir, 'bin', 'cortex-s2i'));
    const dir = path.join(project, 'logisticRegression');
    let out: string;
    try {
      out = (await run('make', ['-C', dir, 'build-train', 'train', 'build-predict', 'predict', 'test-endpoint', 'stop', `CONTAINER_PREFIX=${prefix}`, `PORT=${port}`], { env, maxBuffer: 64 * 1024 * 1024 })).stdout;
    } catch (err) {
      const e = err as { stdout: string; stderr: string };
      throw new Error(`make failed:\n${e.stdout.slice(-3000)}\n${e.stderr.slice(-3000)}`);
    }
    expect((await stat(path.join(project, 'models/adult_income_lr.pkl'))).size).to.be.greaterThan(0);
    const answer = JSON.parse(out.split('\n').filter((l) => l.startsWith('{"payload"')).at(-1)!) as { payload: { predictions: string[] } };
    expect(answer.payload.predictions).to.have.length.greaterThan(0);
  });
});
