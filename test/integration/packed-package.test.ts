// The package as a user gets it: `npm pack`, installed into a scratch prefix, drives a generated
// Makefile of a project outside this repository with only the prefix's bin on PATH.

import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Engine } from '../../lib/engine/engine.js';
import { packageRoot, packageVersion } from '../../lib/package-root.js';
import { Cleanup, EXAMPLE, PREFIX, realEngine } from './support.js';

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
    const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], {
      cwd: packageRoot(),
      maxBuffer: 16 * 1024 * 1024,
    });
    tarball = path.join(scratch, (JSON.parse(packed.stdout) as Array<{ filename: string }>)[0]!.filename);
  });
  after(async () => {
    await run('docker', ['rm', '-f', `${prefix}adult-income-lr`]).catch(() => undefined);
    await cleanup.run();
  });

  it('holds what a user needs and no tests, benchmarks or fixtures', async () => {
    const files = (await run('tar', ['-tzf', tarball], { maxBuffer: 16 * 1024 * 1024 })).stdout
      .trim()
      .split('\n')
      .map((f) => f.replace(/^package\//, ''));
    for (const needed of [
      'bin/cortex-s2i.js',
      'dist/lib/cli/main.js',
      'dist/lib/index.js',
      'dist/lib/index.d.ts',
      'dist/lib/build/publish.d.ts',
      'dist/lib/build/index.js',
      'lib/render/templates/Dockerfile-bundled.hbs',
      'lib/render/templates/model-Makefile.hbs',
      'builder-image/Dockerfile',
      'builder-image/s2i/assemble',
      'builder-image/run/daemon',
      'builder-image/runtime/cortex_s2i_runtime/__init__.py',
    ]) {
      expect(files, needed).to.include(needed);
    }
    const unwanted = files.filter(
      (f) =>
        /(^|\/)(test|tests|bench|fixtures)\//.test(f) ||
        /\.test\.(js|d\.ts)$/.test(f) ||
        (f.endsWith('.ts') && !f.endsWith('.d.ts')),
    );
    expect(unwanted).to.deep.equal([]);
  });

  it("installed as a dependency, gives its code import { build, plan } from 'cortex-s2i', with types", async () => {
    const consumer = path.join(scratch, 'consumer');
    await mkdir(consumer);
    await writeFile(
      path.join(consumer, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
    );
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], {
      cwd: consumer,
      maxBuffer: 16 * 1024 * 1024,
    });
    // Typed use, checked against the declarations in the tarball: a wrong option type fails to compile.
    const typed = [
      "import { build, plan, CortexError, ExitCode, type BuildOptions, type BuildResult } from 'cortex-s2i';",
      "const options: BuildOptions = { source: process.argv[2]!, builder: 'daemon', image: 'consumer-model:1' };",
      'const planned = await plan(options);',
      'const later: (o: BuildOptions) => Promise<BuildResult> = build;',
      'const id: string | undefined = undefined as unknown as BuildResult["id"];',
      "try { await plan({ ...options, image: 'Bad Name' }); } catch (err) { if (err instanceof CortexError && err.exitCode === ExitCode.badInput) console.log('refused', err.exitCode); }",
      'console.log(JSON.stringify({ image: planned.image, from: planned.dockerfile.split("\\n").find((l) => l.startsWith("FROM ")), build: typeof later, id }));',
      '',
    ].join('\n');
    await writeFile(path.join(consumer, 'use.ts'), typed);
    await writeFile(
      path.join(consumer, 'wrong.ts'),
      "import { build } from 'cortex-s2i';\nawait build({ source: '.', builder: 'daemon', image: 1 });\n",
    );
    const tsc = path.join(packageRoot(), 'node_modules', 'typescript', 'bin', 'tsc');
    const flags = [
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--strict',
      '--skipLibCheck',
      '--typeRoots',
      path.join(packageRoot(), 'node_modules', '@types'),
      '--types',
      'node',
    ];
    await run(process.execPath, [tsc, ...flags, 'use.ts'], { cwd: consumer });
    // The example of docs/library.md compiles as it is written.
    const doc = /^```ts\n([\s\S]*?)^```$/m.exec(await readFile(path.join(packageRoot(), 'docs', 'library.md'), 'utf8'));
    expect(doc, 'docs/library.md has a ts example').to.not.equal(null);
    await writeFile(path.join(consumer, 'library-doc.ts'), doc![1]!);
    await run(process.execPath, [tsc, ...flags, '--noEmit', 'library-doc.ts'], { cwd: consumer }).catch(
      (err: { stdout: string }) => {
        throw new Error(`docs/library.md's example does not compile:\n${err.stdout}`);
      },
    );
    const wrong = await run(process.execPath, [tsc, ...flags, '--noEmit', 'wrong.ts'], { cwd: consumer }).then(
      () => undefined,
      (err: { stdout: string }) => err.stdout,
    );
    expect(wrong, 'a number for image does not compile').to.match(
      /wrong\.ts.*Type 'number' is not assignable to type 'string'/,
    );
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.CORTEX_S2I_BUILDER_REPO;
    const out = (
      await run(process.execPath, ['use.js', path.join(EXAMPLE, 'logisticRegression')], { cwd: consumer, env })
    ).stdout
      .trim()
      .split('\n');
    expect(out[0]).to.equal(`refused ${2}`);
    expect(JSON.parse(out[1]!)).to.deep.equal({
      image: 'consumer-model:1',
      from: `FROM cortex-s2i/builder-daemon:${packageVersion()}`,
      build: 'function',
    });
  });

  it("installed into a prefix, runs a model's Makefile in a project outside the repository", async () => {
    const prefixDir = path.join(scratch, 'prefix');
    await run('npm', ['install', '-g', '--prefix', prefixDir, '--prefer-offline', '--no-audit', '--no-fund', tarball], {
      maxBuffer: 16 * 1024 * 1024,
    });
    const project = await cleanup.exampleCopy();
    expect(path.relative(packageRoot(), project).startsWith('..'), 'the project is outside the repository').to.equal(
      true,
    );
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${path.join(prefixDir, 'bin')}:${process.env.PATH}` };
    delete env.CORTEX_S2I;
    const which = (await run('sh', ['-c', 'command -v cortex-s2i'], { env })).stdout.trim();
    expect(which).to.equal(path.join(prefixDir, 'bin', 'cortex-s2i'));
    const dir = path.join(project, 'logisticRegression');
    let out: string;
    try {
      out = (
        await run(
          'make',
          [
            '-C',
            dir,
            'build-train',
            'train',
            'build-predict',
            'predict',
            'test-endpoint',
            'stop',
            `CONTAINER_PREFIX=${prefix}`,
            `PORT=${port}`,
          ],
          { env, maxBuffer: 64 * 1024 * 1024 },
        )
      ).stdout;
    } catch (err) {
      const e = err as { stdout: string; stderr: string };
      throw new Error(`make failed:\n${e.stdout.slice(-3000)}\n${e.stderr.slice(-3000)}`);
    }
    expect((await stat(path.join(project, 'models/adult_income_lr.pkl'))).size).to.be.greaterThan(0);
    const answer = JSON.parse(
      out
        .split('\n')
        .filter((l) => l.startsWith('{"payload"'))
        .at(-1)!,
    ) as { payload: { predictions: string[] } };
    expect(answer.payload.predictions).to.have.length.greaterThan(0);
  });
});
