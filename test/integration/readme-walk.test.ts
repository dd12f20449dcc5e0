// The README's five minutes from an empty folder to a prediction, run as it is written, against
// the real engine: only the names of what it makes carry the test prefix (the Makefile's own
// CONTAINER_PREFIX) and the port is a free one (its PORT).

import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { packageFile } from '../../lib/package-root.js';
import { Cleanup, PREFIX, realEngine } from './support.js';
import type { Engine } from '../../lib/engine/engine.js';

/** A port nothing listens on, on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe("the README's five-minute walk", function () {
  this.timeout(600_000);
  let engine: Engine;
  const cleanup = new Cleanup(() => engine);
  before(async function () {
    engine = await realEngine(this);
  });
  after(() => cleanup.run());

  it('goes from an empty folder to a prediction, as written', async () => {
    const readme = await readFile(packageFile('README.md'), 'utf8');
    const section = /^## Five minutes from an empty folder to a prediction\n([\s\S]*?)^## /m.exec(readme)?.[1];
    const walk = /^```sh\n([\s\S]*?)^```$/m.exec(section ?? '')?.[1];
    expect(walk, 'the walk in the README').to.be.a('string');
    const port = await freePort();
    for (const kind of ['train', 'predict']) cleanup.image(`${PREFIX}-churn-${kind}`);
    const script = walk!
      .split('\n')
      .map((line) =>
        line.startsWith('make ') ? line.replace(/ +#.*$/, '') + ` CONTAINER_PREFIX=${PREFIX}- PORT=${port}` : line,
      )
      .join('\n');
    const dir = await cleanup.tempDir('walk');
    // cortex-s2i on PATH, as an install puts it there.
    const bin = path.join(dir, 'bin');
    await mkdir(bin);
    await writeFile(
      path.join(bin, 'cortex-s2i'),
      `#!/bin/sh\nexec "${process.execPath}" "${packageFile('bin', 'cortex-s2i.js')}" "$@"\n`,
    );
    await chmod(path.join(bin, 'cortex-s2i'), 0o755);
    const run = spawnSync('bash', ['-euo', 'pipefail', '-c', script], {
      cwd: dir,
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      encoding: 'utf8',
    });
    // make stop ran: nothing of the walk is left running, whatever happened.
    spawnSync('docker', ['rm', '-f', `${PREFIX}-churn`]);
    expect(run.status, `${run.stdout}\n${run.stderr}`).to.equal(0);
    expect(run.stdout, run.stdout).to.contain('{"payload":{"predictions":["no"]}}');
  });
});
