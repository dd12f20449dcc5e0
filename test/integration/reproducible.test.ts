// Builds that depend on the source alone: the same files give the same source layer whatever
// their times on disk, SOURCE_DATE_EPOCH or a clean checkout's commit fixes the creation label,
// only non-ignored files are sent to the engine, and a rebuild with nothing changed is answered
// from the build cache with the same image.

import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { appendFile, open, readdir, rm, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { Engine } from '../../lib/engine/engine.js';
import { Cleanup, cliWith, PREFIX, realEngine, startContainer } from './support.js';

async function touchAll(dir: string, when: Date): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await touchAll(p, when);
    await utimes(p, when, when);
  }
}

function sentBytes(out: string): number {
  const m = /sent ([\d.]+) (B|KiB|MiB) to the engine/.exec(out);
  if (!m) throw new Error(`no byte count in:\n${out}`);
  return Number(m[1]) * { B: 1, KiB: 1024, MiB: 1024 * 1024 }[m[2] as 'B'];
}

describe('reproducible builds', function () {
  this.timeout(10 * 60 * 1000);
  let engine: Engine;
  const cleanup = new Cleanup(() => engine);
  before(async function () {
    engine = await realEngine(this);
  });
  after(() => cleanup.run());

  it('gives two clones with different file times the same source-layer digest, built afresh', async () => {
    const [a, b] = [await cleanup.exampleCopy(), await cleanup.exampleCopy()];
    await touchAll(a, new Date('2001-02-03T04:05:06Z'));
    await touchAll(b, new Date('2024-06-07T08:09:10Z'));
    const env = { ...process.env, SOURCE_DATE_EPOCH: '1700000000' };
    const layers: string[] = [];
    for (const [copy, name] of [
      [a, 'a'],
      [b, 'b'],
    ] as const) {
      const ref = cleanup.image(`${PREFIX}-repro-${name}`);
      const r = await cliWith(env, 'build', path.join(copy, 'randomForest'), 'daemon', ref, '--no-cache', '--quiet');
      expect(r.code, r.err).to.equal(0);
      const info = (await engine.inspectImage(ref))!;
      cleanup.image(info.id);
      expect(info.labels['org.opencontainers.image.created']).to.equal('2023-11-14T22:13:20.000Z');
      layers.push(info.layers.at(-1)!);
    }
    expect(layers[0]).to.equal(layers[1]);
  });

  it('gives a rebuild of unchanged sources the same image id, and no new image, with the creation time from the newest file', async () => {
    const project = await cleanup.exampleCopy();
    await touchAll(project, new Date('2022-03-04T05:06:07Z'));
    const env = { ...process.env };
    delete env.SOURCE_DATE_EPOCH;
    const model = path.join(project, 'logisticRegression');
    const ref = cleanup.image(`${PREFIX}-unchanged`);
    const ids: string[] = [];
    const reports: Array<{ id: string; upToDate?: boolean; bytesSent: number }> = [];
    for (let i = 0; i < 2; i++) {
      const r = await cliWith(env, 'build', model, 'daemon', ref, '--json');
      expect(r.code, r.err).to.equal(0);
      reports.push(JSON.parse(r.out) as (typeof reports)[number]);
      ids.push((await engine.inspectImage(ref))!.id);
    }
    expect(ids[1]).to.equal(ids[0]);
    expect((await engine.inspectImage(ref))!.labels['org.opencontainers.image.created']).to.equal(
      '2022-03-04T05:06:07.000Z',
    );
    // The second build knew from its cache that nothing changed, and sent nothing.
    expect(reports[0]!.upToDate).to.equal(undefined);
    expect(reports[1]).to.include({ id: ids[0], upToDate: true, bytesSent: 0 });
    // Without its cache the engine builds it again, every step cached: still the same image.
    await rm(path.join(model, '.cortex-s2i-cache'), { recursive: true });
    const again = await cliWith(env, 'build', model, 'daemon', ref, '--json');
    expect(again.code, again.err).to.equal(0);
    const report = JSON.parse(again.out) as {
      id: string;
      upToDate?: boolean;
      bytesSent: number;
      steps: Array<{ cached: boolean; instruction: string }>;
    };
    expect(report.upToDate).to.equal(undefined);
    expect(report.bytesSent).to.be.greaterThan(0);
    // FROM is never reported cached: there is nothing to build for it.
    expect(
      report.steps.filter((step) => !step.cached && !step.instruction.startsWith('FROM ')),
      JSON.stringify(report.steps),
    ).to.deep.equal([]);
    expect(report.id).to.equal(ids[0]);
  });

  it('dates a clean checkout by its commit: a rebuild after every file time changed gives the same image id, and clones the same label', async () => {
    const origin = await cleanup.exampleCopy();
    const gitEnv = {
      PATH: process.env.PATH,
      HOME: path.dirname(origin),
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_COMMITTER_DATE: '1650000000 +0000',
    };
    const git = (dir: string, ...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=Ada', '-c', 'user.email=ada@example.com', '-C', dir, ...args], {
        env: gitEnv,
      });
    git(origin, 'init', '-q');
    git(origin, 'add', '-A');
    git(origin, 'commit', '-qm', 'the example');
    const env = { ...process.env };
    delete env.SOURCE_DATE_EPOCH;
    const created: string[] = [];
    const ids: string[] = [];
    for (const [name, times] of [
      ['a', ['2001-02-03T04:05:06Z', '2024-06-07T08:09:10Z']],
      ['b', ['2012-01-01T00:00:00Z']],
    ] as const) {
      // The package is imported by its folder's name: the clone keeps it.
      const clone = path.join(await cleanup.tempDir(`clone-${name}`), 'finance_income_prediction');
      git(path.dirname(clone), 'clone', '-q', origin, clone);
      const ref = cleanup.image(`${PREFIX}-clone-${name}`);
      for (const when of times) {
        await touchAll(clone, new Date(when));
        const r = await cliWith(env, 'build', path.join(clone, 'logisticRegression'), 'daemon', ref, '--quiet');
        expect(r.code, r.err).to.equal(0);
        const info = (await engine.inspectImage(ref))!;
        cleanup.image(info.id);
        created.push(info.labels['org.opencontainers.image.created']!);
        if (name === 'a') ids.push(info.id);
      }
    }
    expect(ids[1], 'a rebuild after new file times').to.equal(ids[0]);
    expect(created).to.deep.equal(['2022-04-15T05:20:00.000Z', '2022-04-15T05:20:00.000Z', '2022-04-15T05:20:00.000Z']);
  });

  it('sends only non-ignored files: a 200 MB data file and an ignored notebook change nothing', async () => {
    const project = await cleanup.exampleCopy();
    const ref = cleanup.image(`${PREFIX}-ignored`);
    const before = await cliWith(process.env, 'build', path.join(project, 'xgBoost'), 'daemon', ref, '--quiet');
    expect(before.code, before.err).to.equal(0);
    // The second build takes the tag; the first image is left untagged unless removed.
    cleanup.image((await engine.inspectImage(ref))!.id);
    // A sparse file: 200 MB to anything that reads it, nothing on disk. data/ is never sent, so
    // the rebuild knows from its cache that the image is up to date.
    const big = await open(path.join(project, 'data', 'huge.csv'), 'w');
    await big.truncate(200 * 1024 * 1024);
    await big.close();
    const unchanged = await cliWith(process.env, 'build', path.join(project, 'xgBoost'), 'daemon', ref, '--quiet');
    expect(unchanged.code, unchanged.err).to.equal(0);
    expect(unchanged.err).to.contain('is up to date');
    // An edited notebook is in the model's folder, so the rebuild reads the project again; the
    // notebook is ignored, so what goes into the image is what it has, and nothing is sent.
    await appendFile(path.join(project, 'xgBoost', 'notebooks', 'tune_xgboost.ipynb'), '\n');
    const after = await cliWith(process.env, 'build', path.join(project, 'xgBoost'), 'daemon', ref, '--quiet');
    expect(after.code, after.err).to.equal(0);
    // Under --quiet the build's lines are on stderr: stdout carries only the image reference.
    expect(after.err).to.contain('what goes into the image is what it has').and.contain('is up to date');
    // Without its cache the whole Dockerfile is built: it sends what it sent the first time.
    await rm(path.join(project, 'xgBoost', '.cortex-s2i-cache'), { recursive: true });
    const whole = await cliWith(process.env, 'build', path.join(project, 'xgBoost'), 'daemon', ref, '--quiet');
    expect(whole.code, whole.err).to.equal(0);
    expect(sentBytes(whole.err)).to.equal(sentBytes(before.err));

    const c = await startContainer(engine, {
      image: ref,
      name: `${PREFIX}-ignored-find`,
      cmd: ['find', '/opt/program'],
    });
    await engine.waitContainer(c.id);
    const listing = (await engine.containerLogs(c.id)).stdout;
    await engine.removeContainer(c.id);
    expect(listing).to.contain('/opt/program/finance_income_prediction/xgBoost/predict.py');
    expect(listing).not.to.match(/notebooks|\.ipynb|huge\.csv/);
  });
});
