// The library API on the real engine, imported by the package's name as a user's code imports it:
// the image it reports is on the engine under the tag asked for.

import { expect } from 'chai';
import path from 'node:path';
import type { Engine } from '../../lib/engine/engine.js';
import type * as Api from '../../lib/index.js';
import { Cleanup, EXAMPLE, PREFIX, realEngine } from './support.js';

const PACKAGE = 'cortex-s2i';

describe("the library API on the real engine (import { build } from 'cortex-s2i')", function () {
  this.timeout(10 * 60 * 1000);
  let engine: Engine;
  const cleanup = new Cleanup(() => engine);
  before(async function () {
    engine = await realEngine(this);
  });
  after(() => cleanup.run());

  it('builds the example model and resolves with an image id the engine has', async () => {
    const { build } = (await import(PACKAGE)) as typeof Api;
    const image = cleanup.image(`${PREFIX}-library:1`);
    const lines: string[] = [];
    const report = await build({
      source: path.join(EXAMPLE, 'logisticRegression'),
      builder: 'daemon',
      image,
      onEvent: (e) => {
        if (e.type === 'output') lines.push(e.text);
      },
    });
    expect(report.image).to.equal(image);
    expect(report.id).to.match(/^sha256:[0-9a-f]{64}$/);
    const info = await engine.inspectImage(image);
    expect(info?.id, lines.join('\n')).to.equal(report.id);
    expect(report.size).to.equal(info!.size);
    expect(report.steps.length).to.be.greaterThan(3);
    expect(lines.some((l) => l.startsWith(`built ${image} (${report.id})`))).to.equal(true);
  });
});
