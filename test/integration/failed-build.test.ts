// A build that cannot succeed fails loudly and leaves nothing behind: no tag, no container.

import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import { appendFile, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Engine } from '../../lib/engine/engine.js';
import { ExitCode } from '../../lib/errors.js';
import { packageFile, packageVersion } from '../../lib/package-root.js';
import { bundledBuilderImage } from '../../lib/plan/builders.js';
import { main } from '../../lib/cli/main.js';
import { Cleanup, PREFIX, realEngine } from './support.js';

const run = promisify(execFile);

/** Containers of a build's dependency step (any state): what a failed build could leave behind. */
async function dependencyStepContainers(): Promise<string[]> {
  const { stdout } = await run('docker', ['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.Command}}']);
  return stdout
    .split('\n')
    .filter((l) => l.includes('cortex-s2i-deps'))
    .map((l) => l.split(' ')[0]!);
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

async function allDangling(): Promise<string[]> {
  const { stdout } = await run('docker', ['images', '-q', '--no-trunc', '--filter', 'dangling=true']);
  return stdout.trim().split('\n').filter(Boolean).sort();
}

/** Every image's parent, by the engine's parent links (which step images have): one inspect for all. */
async function parentLinks(): Promise<Map<string, string>> {
  const ids = (await run('docker', ['images', '-a', '-q', '--no-trunc'])).stdout.trim().split('\n').filter(Boolean);
  if (ids.length === 0) return new Map();
  // Images removed meanwhile make inspect fail for them only: what it printed still counts.
  const { stdout } = await run('docker', ['image', 'inspect', '--format', '{{.Id}} {{.Parent}}', ...new Set(ids)], {
    maxBuffer: 16 * 1024 * 1024,
  }).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }));
  return new Map(
    stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ') as [string, string]),
  );
}

/** Whether `image` descends from `ancestor`. */
function descendsFrom(image: string, ancestor: string, parents: Map<string, string>): boolean {
  let current: string | undefined = image;
  for (let depth = 0; depth < 100 && current; depth++) {
    if (current === ancestor) return true;
    current = parents.get(current);
  }
  return false;
}

/**
 * New untagged images on this suite's builder that stay: other engines' users build on an
 * identical builder meanwhile, and their step images are untagged for a moment, then gone.
 */
async function newDanglingThatStay(before: string[]): Promise<string[]> {
  let fresh: string[] = [];
  for (let i = 0; i < 30; i++) {
    fresh = (await danglingImages()).filter((id) => !before.includes(id));
    if (fresh.length === 0) return fresh;
    await new Promise((r) => setTimeout(r, 2000));
  }
  return fresh;
}

/**
 * Untagged images built on this suite's builder: what a failed build of ours could leave behind.
 * The engine is shared, so other untagged images come and go meanwhile; those are not ours.
 */
async function danglingImages(): Promise<string[]> {
  const builder = await run('docker', [
    'image',
    'inspect',
    '--format',
    '{{.Id}}',
    bundledBuilderImage('daemon', packageVersion(), process.env.CORTEX_S2I_BUILDER_REPO || undefined),
  ]);
  const parents = await parentLinks();
  return (await allDangling()).filter((id) => descendsFrom(id, builder.stdout.trim(), parents));
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
    const result = await run(process.execPath, [
      packageFile('bin', 'cortex-s2i.js'),
      'build',
      model,
      'daemon',
      ref,
    ]).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );

    expect(result.code).to.equal(ExitCode.buildFailed);
    expect(result.stderr).to.match(/No matching distribution found for cortex-s2i-no-such-package==9\.9\.9/);
    expect(result.stderr).to.contain('nothing was tagged');
    expect(await engine.inspectImage(ref)).to.equal(undefined);
    expect(await noneLeft()).to.deep.equal([]);
    // The step images the engine committed before pip failed are removed too.
    expect(await newDanglingThatStay(danglingBefore)).to.deep.equal([]);
  });

  for (const [signal, code] of [
    ['SIGINT', ExitCode.interrupted],
    ['SIGHUP', ExitCode.hangup],
  ] as const) {
    it(`stops on ${signal} during the dependency step: status ${code}, no tag, no container, no step image`, async () => {
      const project = await cleanup.exampleCopy();
      const model = path.join(project, 'randomForest');
      // Unique per run, so the engine cannot take the step from its cache.
      const marker = `slow-setup-${process.pid}-${Date.now()}`;
      await writeFile(path.join(model, 'setup.sh'), `#!/bin/sh\necho ${marker}\nsleep 60\n`);
      const ref = cleanup.image(`${PREFIX}-interrupted`);
      const danglingBefore = await danglingImages();

      const child = spawn(process.execPath, [packageFile('bin', 'cortex-s2i.js'), 'build', model, 'daemon', ref]);
      let output = '';
      const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
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
      child.kill(signal);

      expect(await exited).to.equal(code);
      expect(output).to.contain(`interrupted by ${signal}; nothing was tagged`);
      expect(await engine.inspectImage(ref)).to.equal(undefined);
      expect(await noneLeft()).to.deep.equal([]);
      expect(await newDanglingThatStay(danglingBefore)).to.deep.equal([]);
    });
  }

  it('fails with status 3 and tags nothing when a file grows between the plan and the send', async () => {
    const project = await cleanup.exampleCopy();
    const model = path.join(project, 'randomForest');
    const grows = path.join(model, 'features.py');
    const ref = cleanup.image(`${PREFIX}-grown`);
    // The builder check comes after the plan and before the send: the file grows by zeros there,
    // which the engine once took for the end of the archive, building an image without every
    // later file and exiting 0.
    let grown = false;
    const growing = new Proxy(engine, {
      get(target, prop) {
        if (prop === 'inspectImage') {
          return async (r: string) => {
            if (!grown) {
              grown = true;
              await truncate(grows, (await stat(grows)).size + 64 * 1024);
            }
            return target.inspectImage(r);
          };
        }
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const lines: string[] = [];
    const code = await main(['build', model, 'daemon', ref], {
      env: process.env,
      engine: () => growing,
      output: { out: (l) => lines.push(l), err: (l) => lines.push(l) },
    });
    expect(grown).to.equal(true);
    expect(code, lines.join('\n')).to.equal(ExitCode.buildFailed);
    expect(lines.join('\n')).to.match(/features\.py: its size changed/);
    expect(await engine.inspectImage(ref)).to.equal(undefined);
  });
});
