// The runner's logic without a daemon: an engine whose "containers" are local processes of the
// image's worker loop (builder-image/runtime's batch_worker), with bind mounts mapped to host paths.

import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { removeTree, writeTree } from '../../test/support/tree.js';
import type { ContainerSpec, ContainerState, Engine } from '../engine/engine.js';
import { packageFile } from '../package-root.js';
import { runJob } from './runner.js';
import type { Submission } from './submission.js';

const SCORER = `
import json, os, time

class Scorer:
    def __init__(self, config, job_spec):
        self.config = config
        self.out = config["OUT"]

    def predict(self, payload, batch_id):
        time.sleep(float(self.config.get("sleep", 0)))
        tries = os.path.join(self.out, "tries-" + batch_id)
        with open(tries, "a") as h:
            h.write("x")
        if batch_id in self.config.get("always", []):
            raise ValueError("always " + batch_id)
        if batch_id in self.config.get("once", []) and os.path.getsize(tries) == 1:
            raise ValueError("once " + batch_id)
        with open(os.path.join(self.out, "predictions.ndjson"), "a") as h:
            h.write("".join(json.dumps(i) + "\\n" for i in payload))

    def on_job_complete(self):
        with open(os.path.join(self.out, "complete"), "a") as h:
            h.write("called\\n")
`;

/** Runs each "container" as a local process of the worker loop; binds become host paths. */
class ProcessEngine {
  readonly address = 'process://';
  readonly children = new Map<string, { child: ChildProcess; exit: Promise<number>; stderr: string[] }>();
  started = 0;
  constructor(private readonly env: Record<string, string>) {}

  async inspectImage() {
    return { id: 'x', labels: {}, env: [], user: '', workingDir: '', cmd: [], layers: [], size: 0 };
  }

  async runContainer(spec: ContainerSpec) {
    const host = (value: string) => {
      for (const b of spec.binds ?? [])
        if (value.startsWith(b.container)) return b.host + value.slice(b.container.length);
      return value;
    };
    const env: Record<string, string> = {
      ...this.env,
      PYTHONPATH: `${packageFile('builder-image', 'runtime')}:${this.env.PYTHONPATH}`,
    };
    for (const pair of spec.env ?? []) {
      const eq = pair.indexOf('=');
      env[pair.slice(0, eq)] = host(pair.slice(eq + 1));
    }
    const child = spawn('python3', ['-m', 'cortex_s2i_runtime.batch_worker'], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const stderr: string[] = [];
    child.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
    const exit = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 137)));
    const id = `${spec.name}`;
    this.children.set(id, { child, exit, stderr });
    this.started++;
    return { id, ports: {} };
  }

  async waitContainer(id: string) {
    return this.children.get(id)!.exit;
  }

  async inspectContainer(): Promise<ContainerState> {
    return { running: false, exitCode: 0, oomKilled: false };
  }

  async containerLogs(id: string) {
    return { stdout: '', stderr: this.children.get(id)!.stderr.join('') };
  }

  async removeContainer(id: string) {
    this.children.get(id)?.child.kill('SIGKILL');
    this.children.delete(id);
  }
}

describe('runJob (the worker loop as local processes)', function () {
  this.timeout(30_000);
  let root: string;
  beforeEach(async () => {
    root = await writeTree({
      'code/jobscorer.py': SCORER,
      'out/.keep': '',
      'code/broken.py': 'raise ImportError("no model here")\n',
    });
  });
  afterEach(() => removeTree(root));

  function start(submission: Submission, engine: ProcessEngine, signal = new AbortController().signal) {
    return runJob(engine as unknown as Engine, {
      jobId: 'j1',
      image: 'scorer',
      submission,
      baseDir: root,
      jobsDir: path.join(root, 'jobs'),
      volumes: [],
      now: () => new Date(),
      signal,
      pollMilliseconds: 50,
    });
  }

  function engine(routes = 'score:jobscorer:Scorer') {
    return new ProcessEngine({
      ROUTES: routes,
      OUT: path.join(root, 'out'),
      PYTHONPATH: path.join(root, 'code'),
      PATH: process.env.PATH ?? '',
    });
  }

  const items = (n: number) => Array.from({ length: n }, (_, x) => ({ x }));

  it('counts retries, dead-letters what keeps failing, calls on_job_complete once, and removes every worker', async () => {
    const e = engine();
    const s = await start(
      {
        workers: 2,
        config: { once: ['000001'], always: ['000003'] },
        timeoutSeconds: undefined,
        maxReceiveCount: 2,
        input: { kind: 'item_list', items: items(9), batchSize: 2 },
      },
      e,
    );
    expect(s).to.include({
      status: 'completed_with_failures',
      total: 5,
      succeeded: 4,
      failed: 1,
      retries: 2,
      batches_in_queue: 0,
      on_job_complete: 'called',
    });
    expect(s.workers.map((w) => [w.state, w.succeeded, w.failed])).to.deep.equal([
      ['done', 3, 0],
      ['done', 1, 1],
    ]);
    const predicted = (await readFile(path.join(root, 'out', 'predictions.ndjson'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).x as number);
    expect(predicted.sort((a, b) => a - b)).to.deep.equal([0, 1, 2, 3, 4, 5, 8]);
    const dead = (await readFile(path.join(root, 'jobs', 'j1.dead-letter.ndjson'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(dead).to.deep.equal([
      { batch_id: '000003', items: [{ x: 6 }, { x: 7 }], error: 'ValueError: always 000003', attempts: 2 },
    ]);
    expect(await readFile(path.join(root, 'out', 'complete'), 'utf8')).to.equal('called\n');
    expect(JSON.parse(await readFile(path.join(root, 'jobs', 'j1.json'), 'utf8'))).to.deep.equal(s);
    expect(e.started).to.equal(3);
    expect(e.children.size).to.equal(0);
    expect(existsSync(path.join(root, 'jobs', 'j1')), 'the split and outcomes are removed').to.equal(false);
  });

  it('succeeds with every batch done and nothing dead-lettered', async () => {
    const s = await start(
      {
        workers: 3,
        config: {},
        timeoutSeconds: undefined,
        maxReceiveCount: 1,
        input: { kind: 'item_list', items: items(4), batchSize: 1 },
      },
      engine(),
    );
    expect(s).to.include({ status: 'succeeded', succeeded: 4, failed: 0 });
    expect(existsSync(path.join(root, 'jobs', 'j1.dead-letter.ndjson'))).to.equal(false);
  });

  it('is worker_error when the predictor cannot load, and never calls on_job_complete', async () => {
    const s = await start(
      {
        workers: 2,
        config: {},
        timeoutSeconds: undefined,
        maxReceiveCount: 1,
        input: { kind: 'item_list', items: items(4), batchSize: 1 },
      },
      engine('score:broken:Scorer'),
    );
    expect(s.status).to.equal('worker_error');
    expect(s.on_job_complete).to.equal('not_run');
    expect(s.error).to.match(/worker \d exited with status 3: .*no model here/);
    expect(existsSync(path.join(root, 'out', 'complete'))).to.equal(false);
  });

  it('stops when its signal aborts, and times out past its timeout', async () => {
    const stopping = new AbortController();
    const e = engine();
    const slow = {
      workers: 2,
      config: { sleep: 0.3 },
      maxReceiveCount: 1,
      input: { kind: 'item_list' as const, items: items(40), batchSize: 1 },
    };
    setTimeout(() => stopping.abort(), 1500);
    const stopped = await start({ ...slow, timeoutSeconds: undefined }, e, stopping.signal);
    expect(stopped.status).to.equal('stopped');
    expect(stopped.workers.map((w) => w.state)).to.deep.equal(['stopped', 'stopped']);
    expect(e.children.size).to.equal(0);
    await removeTree(path.join(root, 'jobs'));
    const timedOut = await start({ ...slow, timeoutSeconds: 1 }, engine());
    expect(timedOut.status).to.equal('timed_out');
    expect(timedOut.succeeded).to.be.lessThan(40);
  });
});
