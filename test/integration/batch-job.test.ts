// `cortex-s2i job run` on a real engine with the batch_scorer fixture: every item predicted once,
// retries, dead letters, on_job_complete once, and the worker_oom, stopped and timed_out endings,
// with no container left behind. The CLI runs as a child process, in a folder of its own (jobs/
// goes there), so that Ctrl-C can be a real SIGINT.

import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Engine } from '../../lib/engine/engine.js';
import { JOB_LABEL } from '../../lib/job/runner.js';
import type { JobStatus } from '../../lib/job/status.js';
import { packageFile } from '../../lib/package-root.js';
import { Cleanup, cli, PREFIX, realEngine } from './support.js';
import { containersLabelled } from '../support/docker.js';

const IMAGE = `${PREFIX}-batch-scorer`;
const BIN = packageFile('bin', 'cortex-s2i.js');

interface Run {
  code: number | null;
  out: string;
  err: string;
}

describe('batch jobs on a real engine', function () {
  this.timeout(4 * 60 * 1000);
  let engine: Engine;
  const cleanup = new Cleanup(() => engine);
  const jobIds: string[] = [];

  before(async function () {
    engine = await realEngine(this);
    const built = await cli(
      'build',
      packageFile('fixtures', 'batch_scorer', 'scorer'),
      'daemon',
      cleanup.image(IMAGE),
      '-q',
    );
    expect(built.code, built.err).to.equal(0);
  });
  after(async () => {
    if (engine)
      for (const id of jobIds)
        for (const c of await containersLabelled(`${JOB_LABEL}=${id}`)) await engine.removeContainer(c);
    await cleanup.run();
  });

  /** A folder with job.json and an empty out/, and a job id with the test prefix. */
  async function prepare(name: string, job: object): Promise<{ dir: string; id: string }> {
    const dir = await cleanup.tempDir(name);
    await mkdir(path.join(dir, 'out'));
    await writeFile(path.join(dir, 'job.json'), JSON.stringify(job));
    const id = `${PREFIX}-${name}-${process.pid}`;
    jobIds.push(id);
    return { dir, id };
  }

  /** Starts `cortex-s2i job run` in `dir`; `whileRunning` may signal the child. */
  function jobRun(
    dir: string,
    id: string,
    extra: string[] = [],
    whileRunning?: (pid: number) => Promise<void>,
  ): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [BIN, 'job', 'run', IMAGE, 'job.json', '-v', './out:/action/out', '--id', id, ...extra],
        { cwd: dir, env: process.env },
      );
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, out, err }));
      if (whileRunning) whileRunning(child.pid!).catch(reject);
    });
  }

  async function status(dir: string, id: string): Promise<JobStatus> {
    return JSON.parse(await readFile(path.join(dir, 'jobs', `${id}.json`), 'utf8')) as JobStatus;
  }

  async function lines(file: string): Promise<Array<Record<string, any>>> {
    if (!existsSync(file)) return [];
    return (await readFile(file, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, any>);
  }

  async function leftovers(id: string): Promise<string[]> {
    return containersLabelled(`${JOB_LABEL}=${id}`);
  }

  it('predicts every item once with 3 workers, retries a once-failing batch, dead-letters an always-failing one, and calls on_job_complete once', async () => {
    // 10 batches of 3; batch 000004 fails its first try, 000007 every one of its 3 tries.
    const items = Array.from({ length: 30 }, (_, x) => ({ x }));
    const { dir, id } = await prepare('three', {
      workers: 3,
      max_receive_count: 3,
      config: { fail_once: ['000004'], fail_always: ['000007'] },
      item_list: { items, batch_size: 3 },
    });
    const run = await jobRun(dir, id);
    expect(run.code, run.err + run.out).to.equal(6);

    const s = await status(dir, id);
    expect(s).to.include({
      status: 'completed_with_failures',
      total: 10,
      succeeded: 9,
      failed: 1,
      batches_in_queue: 0,
      retries: 3,
      on_job_complete: 'called',
    });
    expect(s.workers.map((w) => [w.index, w.state, w.exit_code])).to.deep.equal([
      [0, 'done', 0],
      [1, 'done', 0],
      [2, 'done', 0],
    ]);
    expect(s.workers.map((w) => w.succeeded + w.failed)).to.deep.equal([4, 3, 3]);
    expect(Date.parse(s.end_time!)).to.be.greaterThan(Date.parse(s.start_time));

    const outFiles = (await readdir(path.join(dir, 'out'))).filter((f) => f.startsWith('predictions-'));
    expect(outFiles, 'one predictions file per worker container').to.have.length(3);
    const predicted = (await Promise.all(outFiles.map((f) => lines(path.join(dir, 'out', f))))).flat();
    const xs = predicted.map((p) => p.item.x as number).sort((a, b) => a - b);
    expect(xs, "every item but the dead-lettered batch's, each exactly once").to.deep.equal(
      items.map((i) => i.x).filter((x) => x < 21 || x > 23),
    );
    expect(predicted.every((p) => p.score === p.item.x * 2 && p.job_id === id)).to.equal(true);
    expect(predicted.filter((p) => p.batch_id === '000004').map((p) => p.item.x)).to.deep.equal([12, 13, 14]);

    expect(await lines(path.join(dir, 'jobs', `${id}.dead-letter.ndjson`))).to.deep.equal([
      {
        batch_id: '000007',
        items: [{ x: 21 }, { x: 22 }, { x: 23 }],
        error: 'ValueError: batch 000007 always fails',
        attempts: 3,
      },
    ]);
    expect(await lines(path.join(dir, 'out', 'on_job_complete.ndjson'))).to.deep.equal([
      { job_id: id, total_batch_count: 10 },
    ]);

    const shown = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'job', 'status', id], { cwd: dir });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', () => resolve(out));
    });
    expect(shown).to.contain(`job ${id}: completed_with_failures`).and.contain('10 total, 9 succeeded, 1 failed');
    expect(await leftovers(id)).to.deep.equal([]);
  });

  it('marks the job worker_oom when a worker is killed for exceeding its memory limit', async () => {
    const { dir, id } = await prepare('oom', {
      workers: 2,
      config: { exhaust_memory: ['000001'] },
      item_list: { items: [{ x: 1 }, { x: 2 }, { x: 3 }, { x: 4 }], batch_size: 1 },
    });
    const run = await jobRun(dir, id, ['--memory', '48m']);
    expect(run.code, run.err + run.out).to.equal(6);
    const s = await status(dir, id);
    expect(s.status).to.equal('worker_oom');
    expect(s.workers[1]).to.include({ state: 'oom_killed' });
    expect(s.on_job_complete).to.equal('not_run');
    expect(s.error).to.contain('worker 1 was killed for exceeding its memory limit');
    expect(await lines(path.join(dir, 'out', 'on_job_complete.ndjson'))).to.deep.equal([]);
    expect(await leftovers(id)).to.deep.equal([]);
  });

  it('stops the workers on Ctrl-C, marks the job stopped, exits 130 and leaves no container', async () => {
    const { dir, id } = await prepare('stop', {
      workers: 2,
      config: { sleep_seconds: 2 },
      item_list: { items: Array.from({ length: 20 }, (_, x) => ({ x })), batch_size: 1 },
    });
    let runningContainers = 0;
    const run = await jobRun(dir, id, [], async (pid) => {
      // Interrupt once both workers run and one batch is done.
      const until = Date.now() + 60_000;
      while (Date.now() < until) {
        await new Promise((r) => setTimeout(r, 200));
        const s = await status(dir, id).catch(() => undefined);
        if (s && s.succeeded >= 1) break;
      }
      runningContainers = (await leftovers(id)).length;
      process.kill(pid, 'SIGINT');
    });
    expect(runningContainers, 'workers ran when Ctrl-C came').to.equal(2);
    expect(run.code, run.err + run.out).to.equal(130);
    const s = await status(dir, id);
    expect(s.status).to.equal('stopped');
    expect(s.succeeded).to.be.within(1, 19);
    expect(s.workers.map((w) => w.state)).to.deep.equal(['stopped', 'stopped']);
    expect(s.end_time).to.be.a('string');
    expect(await leftovers(id)).to.deep.equal([]);
  });

  it('ends a job that outlasts its timeout as timed_out', async () => {
    const { dir, id } = await prepare('timeout', {
      workers: 1,
      timeout: 4,
      config: { sleep_seconds: 2 },
      item_list: { items: Array.from({ length: 30 }, (_, x) => ({ x })), batch_size: 1 },
    });
    const run = await jobRun(dir, id);
    expect(run.code, run.err + run.out).to.equal(6);
    const s = await status(dir, id);
    expect(s.status).to.equal('timed_out');
    expect(s.succeeded).to.be.lessThan(30);
    expect(await leftovers(id)).to.deep.equal([]);
  });
});
