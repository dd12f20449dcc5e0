// The example project's Makefiles and all/ folder are what the generators write, committed:
// this fails when either drifts from the other.

import { expect } from 'chai';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { main } from '../lib/cli/main.js';
import { packageFile } from '../lib/package-root.js';

const EXAMPLE = packageFile('fixtures', 'finance_income_prediction');
const MODELS = ['logisticRegression', 'randomForest', 'xgBoost'];
const GENERATED = [
  'all/.s2i/environment',
  'all/predict.py',
  'all/requirements.txt',
  'all/setup.sh',
  'all/Makefile',
  ...MODELS.map((m) => `${m}/Makefile`),
];

describe("the example project's generated files", () => {
  let copy: string;
  before(async function () {
    // Three inits and an all, each asking git and python3: slow on a loaded machine.
    this.timeout(120_000);
    copy = path.join(await mkdtemp(path.join(tmpdir(), 'cortex-s2i-test-generated-')), 'finance_income_prediction');
    await cp(EXAMPLE, copy, { recursive: true });
    for (const f of GENERATED) await rm(path.join(copy, f));
    const quiet = { out: () => {}, err: () => {} };
    for (const m of MODELS) expect(await main(['init', path.join(copy, m)], { env: {}, output: quiet })).to.equal(0);
    expect(await main(['all', copy], { env: {}, output: quiet })).to.equal(0);
  });
  after(() => rm(path.dirname(copy), { recursive: true, force: true }));

  for (const f of GENERATED) {
    it(`${f} is what the generator writes (regenerate with make generated)`, async () => {
      expect(await readFile(path.join(EXAMPLE, f), 'utf8')).to.equal(await readFile(path.join(copy, f), 'utf8'));
    });
  }
});
