// A rebuild after an edit of the source alone makes its image without a build, on the real
// engine: the image has what a build of the whole Dockerfile gives, the same sources give the
// same image, and whatever else changed (the dependencies, the image under the name, a record
// that names another base) builds as usual.

import { expect } from 'chai';
import { appendFile, readFile, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Engine } from '../../lib/engine/engine.js';
import { Cleanup, cliWith, PREFIX, realEngine, runInImage } from './support.js';

interface Report {
  id: string;
  sourceOnly?: boolean;
  upToDate?: boolean;
  bytesSent: number;
  steps: Array<{ cached: boolean; dependencies: boolean; instruction: string }>;
}

const LISTING = ['find', '/opt', '/action', '-xdev', '-printf', '%p %m %u %g %s %T@ %l\\n'];

describe('rebuilds of the source alone', function () {
  this.timeout(10 * 60 * 1000);
  let engine: Engine;
  const cleanup = new Cleanup(() => engine);
  const env = { ...process.env };
  delete env.SOURCE_DATE_EPOCH;
  before(async function () {
    engine = await realEngine(this);
  });
  after(() => cleanup.run());

  async function build(model: string, ref: string): Promise<Report> {
    const r = await cliWith(env, 'build', model, 'daemon', ref, '--json');
    expect(r.code, r.err).to.equal(0);
    const report = JSON.parse(r.out) as Report;
    cleanup.image(report.id);
    return report;
  }

  it('gives the image a build of the whole Dockerfile gives: files, owners, modes, times, configuration', async () => {
    const project = await cleanup.exampleCopy();
    const model = path.join(project, 'logisticRegression');
    const ref = cleanup.image(`${PREFIX}-source-only`);
    expect((await build(model, ref)).sourceOnly).to.equal(undefined);
    await appendFile(path.join(model, 'predict.py'), 'EDITED = "source only"\n');

    const rebuilt = await build(model, ref);
    expect(rebuilt).to.include({ sourceOnly: true });
    expect(rebuilt.steps).to.deep.equal([]);
    expect(rebuilt.bytesSent).to.be.greaterThan(0);
    // The same sources under another name, which has no record: a build of the whole Dockerfile.
    const whole = await build(model, cleanup.image(`${PREFIX}-source-whole`));
    expect(whole.sourceOnly).to.equal(undefined);
    expect(whole.steps.filter((s) => !s.cached).map((s) => s.instruction.split(' ')[0])).to.deep.equal([
      'FROM',
      'COPY',
      'LABEL',
    ]);

    const [a, b] = [(await engine.imageConfig(ref))!, (await engine.imageConfig(whole.id))!];
    expect(a.layers.slice(0, -1)).to.deep.equal(b.layers.slice(0, -1));
    for (const key of ['Env', 'Cmd', 'Entrypoint', 'User', 'WorkingDir', 'ExposedPorts', 'Labels'])
      expect(a.config[key], key).to.deep.equal(b.config[key]);
    expect(await runInImage(engine, ref, LISTING)).to.equal(await runInImage(engine, whole.id, LISTING));
    // The code runs: it imports, edit included, as the server will import it.
    const imported = await runInImage(engine, ref, [
      'python3',
      '-c',
      'import finance_income_prediction.logisticRegression.predict as p; print(p.EDITED)',
    ]);
    expect(imported.trim()).to.equal('source only');
    const history = (await engine.imageHistory(ref)).map((h) => h.createdBy);
    expect(history[1]).to.contain('the source layer alone');
    expect(history[0]).to.match(/^LABEL /);
  });

  it('gives the same sources the same image, and a touched file that goes in no new one', async () => {
    const project = await cleanup.exampleCopy();
    const model = path.join(project, 'logisticRegression');
    const predict = path.join(model, 'predict.py');
    const original = await readFile(predict, 'utf8');
    const ref = cleanup.image(`${PREFIX}-source-same`);
    await build(model, ref);
    const edit = async (text: string, when: string) => {
      await writeFile(predict, text);
      await utimes(predict, new Date(when), new Date(when));
      return build(model, ref);
    };
    const first = await edit(`${original}# one\n`, '2030-01-01T00:00:00Z');
    const second = await edit(`${original}# two\n`, '2030-01-02T00:00:00Z');
    const again = await edit(`${original}# one\n`, '2030-01-01T00:00:00Z');
    expect([first.sourceOnly, second.sourceOnly, again.sourceOnly]).to.deep.equal([true, true, true]);
    expect(second.id).not.to.equal(first.id);
    expect(again.id).to.equal(first.id);
    // A file that goes in, touched to a time older than the newest: what goes in is the same.
    await utimes(path.join(model, 'train.py'), new Date('2001-01-01T00:00:00Z'), new Date('2001-01-01T00:00:00Z'));
    const touched = await build(model, ref);
    expect(touched).to.include({ id: first.id, upToDate: true, bytesSent: 0 });
  });

  it('builds as usual when the dependencies change, another image has the name, or the record names another base', async () => {
    const project = await cleanup.exampleCopy();
    const model = path.join(project, 'logisticRegression');
    const ref = cleanup.image(`${PREFIX}-source-not`);
    await build(model, ref);

    // The requirements changed: the dependency step runs.
    await appendFile(path.join(model, 'requirements_predict.txt'), '# pinned later\n');
    await appendFile(path.join(model, 'predict.py'), '# with new requirements\n');
    const deps = await build(model, ref);
    expect(deps.sourceOnly).to.equal(undefined);
    expect(deps.steps.find((s) => s.dependencies)?.cached).to.equal(false);

    // Another image (the builder) carries the name now: the image built before is not the base to trust.
    const state = path.join(model, '.cortex-s2i-cache', 'state.json');
    const recorded = () =>
      readFile(state, 'utf8').then(
        (t) => JSON.parse(t) as { images: Record<string, { builder: string; base?: { id: string } }> },
      );
    const builder = (await recorded()).images[ref]!.builder;
    await engine.tagImage(builder, ref);
    await appendFile(path.join(model, 'predict.py'), '# after a retag\n');
    const retagged = await build(model, ref);
    expect(retagged.sourceOnly).to.equal(undefined);

    // A record whose base is another image (here the builder): never used, whatever it says.
    const json = await recorded();
    json.images[ref]!.base!.id = builder;
    await writeFile(state, JSON.stringify(json));
    await appendFile(path.join(model, 'predict.py'), 'MARK = "after a forged record"\n');
    const forged = await build(model, ref);
    expect(forged.sourceOnly).to.equal(undefined);
    const imported = await runInImage(engine, ref, [
      'python3',
      '-c',
      'import finance_income_prediction.logisticRegression.predict as p; print(p.MARK)',
    ]);
    expect(imported.trim()).to.equal('after a forged record');
  });
});
