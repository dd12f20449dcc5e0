// Runs a batch job on one engine: writes the split, starts one container of the predict image per
// worker (each runs the image's batch worker over its share), follows the outcomes they report,
// dead-letters batches that used up their tries, runs on_job_complete once, and keeps the status
// document. Every container it starts, and the split, are removed before it returns, whatever
// happened.

import { appendFile, mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Engine } from '../engine/engine.js';
import { batchFileName, batchId, writeSplit } from './split.js';
import { deadLetterFile, writeStatus, type JobStatus, type JobStatusCode, type WorkerStatus } from './status.js';
import type { Submission } from './submission.js';

/** Label on every container of a job, with the job id as value: leftovers can be found by it. */
export const JOB_LABEL = 'io.cortex-s2i.job';
/** Where a worker container finds the split and writes its outcomes. */
export const SPLIT_MOUNT = '/cortex-s2i/split';
export const OUTCOMES_MOUNT = '/cortex-s2i/outcomes';

export interface Bind {
  host: string;
  container: string;
  readOnly?: boolean;
}

export interface JobRunOptions {
  jobId: string;
  image: string;
  submission: Submission;
  /** Folder of job.json: relative input paths start there. */
  baseDir: string;
  /** The jobs/ folder: status, dead letters and the job's working files go there. */
  jobsDir: string;
  /** Given to every worker, as `docker run -v`. */
  volumes: Bind[];
  /** `uid:gid` the workers run as, so that what they write is the user's. */
  user?: string;
  memoryBytes?: number;
  now(): Date;
  signal: AbortSignal;
  /** Called after each change of the status document. */
  onChange?(status: JobStatus): void;
  pollMilliseconds?: number;
}

interface Outcome {
  batch: string;
  attempt: number;
  outcome: 'succeeded' | 'failed';
  final: boolean;
  error?: string;
  worker: number;
}

export async function runJob(engine: Engine, o: JobRunOptions): Promise<JobStatus> {
  const workDir = path.join(o.jobsDir, o.jobId);
  const splitDir = path.join(workDir, 'split');
  const outcomesDir = path.join(workDir, 'outcomes');
  await mkdir(outcomesDir, { recursive: true });
  const started = o.now();
  const status: JobStatus = {
    job_id: o.jobId,
    image: o.image,
    status: 'enqueuing',
    total: 0,
    succeeded: 0,
    failed: 0,
    batches_in_queue: 0,
    retries: 0,
    workers: [],
    on_job_complete: 'pending',
    start_time: started.toISOString(),
    end_time: null,
    dead_letter_file: path.relative(path.dirname(o.jobsDir), deadLetterFile(o.jobsDir, o.jobId)),
  };
  const save = async () => {
    await writeStatus(o.jobsDir, status);
    o.onChange?.(status);
  };
  await save();

  const split = await writeSplit(o.submission, o.baseDir, splitDir, { jobId: o.jobId, startTime: status.start_time });
  status.total = split.totalBatchCount;
  status.batches_in_queue = split.totalBatchCount;
  status.status = 'running';
  await save();

  const ids: string[] = [];
  const waits = new AbortController();
  const deadline =
    o.submission.timeoutSeconds === undefined ? undefined : started.getTime() + o.submission.timeoutSeconds * 1000;
  const follower = new OutcomeFollower(outcomesDir, splitDir, deadLetterFile(o.jobsDir, o.jobId), status);
  try {
    const exits: Array<{ code: number; oom: boolean } | undefined> = [];
    for (let i = 0; i < o.submission.workers && !o.signal.aborted; i++) {
      const worker: WorkerStatus = {
        index: i,
        container: `cortex-s2i-job-${o.jobId}-${i}`,
        state: 'starting',
        exit_code: null,
        succeeded: 0,
        failed: 0,
      };
      status.workers.push(worker);
      const c = await engine.runContainer(
        containerSpec(o, worker.container, [`BATCH_WORKER_INDEX=${i}`], splitDir, outcomesDir),
      );
      ids.push(c.id);
      worker.state = 'running';
      void waitForExit(engine, c.id, waits.signal).then(
        (exit) => (exits[i] = exit),
        () => undefined,
      );
    }
    await save();

    let ending: JobStatusCode | undefined;
    while (!ending) {
      await sleep(o.pollMilliseconds ?? 200, o.signal);
      if (await follower.drain()) await save();
      if (o.signal.aborted) ending = 'stopped';
      else if (deadline !== undefined && o.now().getTime() >= deadline) ending = 'timed_out';
      else {
        for (const [i, exit] of exits.entries()) {
          const w = status.workers[i]!;
          if (!exit || w.state !== 'running') continue;
          w.exit_code = exit.code;
          w.state = exit.oom ? 'oom_killed' : exit.code === 0 ? 'done' : 'failed';
          if (w.state !== 'done') status.error = await failureEvidence(engine, ids[i]!, `worker ${i}`, exit);
          await save();
        }
        const states = status.workers.map((w) => w.state);
        if (states.includes('oom_killed')) ending = 'worker_oom';
        else if (states.includes('failed')) ending = 'worker_error';
        else if (states.length === o.submission.workers && states.every((s) => s === 'done')) break;
      }
    }
    await follower.drain();

    if (!ending && status.succeeded + status.failed < status.total) {
      ending = 'worker_error';
      status.error = `the workers ended with ${status.batches_in_queue} batches never reported`;
    }
    if (!ending) {
      // Cortex's last placeholder message: on_job_complete runs once, after every batch is done.
      const name = `cortex-s2i-job-${o.jobId}-complete`;
      const c = await engine.runContainer(containerSpec(o, name, ['BATCH_ON_JOB_COMPLETE=1'], splitDir, outcomesDir));
      ids.push(c.id);
      const exit = await Promise.race([
        waitForExit(engine, c.id, waits.signal),
        aborted(AbortSignal.any([o.signal, waits.signal])),
      ]);
      if (!exit) ending = 'stopped';
      else if (exit.code !== 0 || exit.oom) {
        status.on_job_complete = 'failed';
        ending = exit.oom ? 'worker_oom' : 'worker_error';
        status.error = await failureEvidence(engine, c.id, 'on_job_complete', exit);
      } else status.on_job_complete = 'called';
    }
    status.status = ending ?? (status.failed > 0 ? 'completed_with_failures' : 'succeeded');
  } catch (err) {
    status.status = o.signal.aborted ? 'stopped' : 'unexpected_error';
    status.error = (err as Error).message;
    throw err;
  } finally {
    waits.abort();
    for (const id of ids) await engine.removeContainer(id).catch(() => undefined);
    // The split can be as large as the input: once the job has ended only the status document
    // and the dead letters are worth keeping.
    await rm(workDir, { recursive: true, force: true });
    for (const w of status.workers) if (w.state === 'running' || w.state === 'starting') w.state = 'stopped';
    if (status.on_job_complete === 'pending') status.on_job_complete = 'not_run';
    status.end_time = o.now().toISOString();
    await save();
  }
  return status;
}

function containerSpec(o: JobRunOptions, name: string, env: string[], splitDir: string, outcomesDir: string) {
  return {
    image: o.image,
    name,
    env: [`BATCH_SPLIT=${SPLIT_MOUNT}`, `BATCH_OUTCOMES=${OUTCOMES_MOUNT}`, ...env],
    binds: [
      { host: splitDir, container: SPLIT_MOUNT, readOnly: true },
      { host: outcomesDir, container: OUTCOMES_MOUNT },
      ...o.volumes,
    ],
    labels: { [JOB_LABEL]: o.jobId },
    ...(o.user ? { user: o.user } : {}),
    ...(o.memoryBytes ? { memoryBytes: o.memoryBytes } : {}),
  };
}

async function waitForExit(engine: Engine, id: string, signal: AbortSignal): Promise<{ code: number; oom: boolean }> {
  const code = await engine.waitContainer(id, signal);
  const state = await engine.inspectContainer(id);
  return { code, oom: state?.oomKilled ?? false };
}

async function failureEvidence(
  engine: Engine,
  id: string,
  who: string,
  exit: { code: number; oom: boolean },
): Promise<string> {
  const logs = await engine.containerLogs(id).catch(() => ({ stdout: '', stderr: '' }));
  const last = `${logs.stdout}${logs.stderr}`.trim().split('\n').slice(-3).join(' | ');
  const how = exit.oom ? 'was killed for exceeding its memory limit' : `exited with status ${exit.code}`;
  return `${who} ${how}${last ? `: ${last}` : ''}`;
}

/** Follows each worker's outcomes file from where it last read, updating the counts. */
class OutcomeFollower {
  private readonly offsets = new Map<string, number>();
  private readonly partial = new Map<string, string>();

  constructor(
    private readonly dir: string,
    private readonly splitDir: string,
    private readonly deadLetters: string,
    private readonly status: JobStatus,
  ) {}

  /** Reads what is new; true when the status changed. */
  async drain(): Promise<boolean> {
    let changed = false;
    for (const w of this.status.workers) {
      const file = path.join(this.dir, `worker-${w.index}.ndjson`);
      for (const line of await this.newLines(file)) {
        await this.apply(JSON.parse(line) as Outcome, w);
        changed = true;
      }
    }
    return changed;
  }

  private async newLines(file: string): Promise<string[]> {
    const size = (await stat(file).catch(() => undefined))?.size ?? 0;
    const offset = this.offsets.get(file) ?? 0;
    if (size <= offset) return [];
    const handle = await open(file);
    try {
      const buffer = Buffer.alloc(size - offset);
      await handle.read(buffer, 0, buffer.length, offset);
      this.offsets.set(file, size);
      const text = (this.partial.get(file) ?? '') + buffer.toString('utf8');
      const lines = text.split('\n');
      this.partial.set(file, lines.pop() ?? '');
      return lines.filter((l) => l.trim() !== '');
    } finally {
      await handle.close();
    }
  }

  private async apply(o: Outcome, w: WorkerStatus): Promise<void> {
    const s = this.status;
    if (o.outcome === 'succeeded') {
      s.succeeded++;
      w.succeeded++;
    } else if (!o.final) {
      s.retries++;
    } else {
      s.failed++;
      w.failed++;
      const text = await readFile(path.join(this.splitDir, batchFileName(Number(o.batch))), 'utf8');
      const items = text
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as unknown);
      await appendFile(
        this.deadLetters,
        `${JSON.stringify({ batch_id: batchId(Number(o.batch)), items, error: o.error ?? null, attempts: o.attempt })}\n`,
      );
    }
    s.batches_in_queue = s.total - s.succeeded - s.failed;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Resolves (with nothing) when `signal` aborts; the caller aborts it once done waiting. */
function aborted(signal: AbortSignal): Promise<undefined> {
  return sleep(2 ** 31 - 1, signal).then(() => undefined);
}
