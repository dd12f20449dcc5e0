// Batch jobs kept in the folder they run from (jobs/<id>.json and the job's files): one run on
// the local engine, its status, and the same job rendered as Kubernetes manifests.

import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Engine } from '../engine/engine.js';
import { imageNotFound, invalidJob, jobExists, jobNotFound, splitTooLarge } from '../errors.js';
import { applyCommands, CONFIGMAP_LIMIT_BYTES, manifestList, renderJob } from './render.js';
import { runJob } from './runner.js';
import { readSplitFiles, writeSplit } from './split.js';
import { readStatus, statusFile, type JobStatus } from './status.js';
import { parseSubmission, type Submission } from './submission.js';

/** Where jobs live: jobs/ under the folder the command runs in. */
export const JOBS_DIR = 'jobs';

export interface RunRequest {
  image: string;
  jobFile: string;
  volumes: Array<{ host: string; container: string; readOnly: boolean }>;
  memoryBytes: number | undefined;
  id: string | undefined;
  /** The user the workers run as (`uid:gid`), so that what they write is the caller's. */
  user: string | undefined;
}

export interface RenderRequest {
  image: string;
  jobFile: string;
  out: string | undefined;
  splitClaim: string | undefined;
  memoryBytes: number | undefined;
  id: string | undefined;
}

/** The status document of job `id`. */
export async function jobStatus(id: string): Promise<JobStatus> {
  const status = await readStatus(path.resolve(JOBS_DIR), id);
  if (!status) throw jobNotFound(id, path.join(JOBS_DIR, `${id}.json`));
  return status;
}

async function readSubmission(file: string): Promise<Submission> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw invalidJob(file, [
      { file, message: `cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` },
    ]);
  }
  const parsed = parseSubmission(text, file);
  if (!parsed.ok) throw invalidJob(file, parsed.errors);
  return parsed.value;
}

function newJobId(given: string | undefined, jobsDir: string): string {
  const id = given ?? randomBytes(8).toString('hex');
  const file = statusFile(jobsDir, id);
  if (existsSync(file) || existsSync(path.join(jobsDir, id))) throw jobExists(id, path.relative(process.cwd(), file));
  return id;
}

/**
 * Runs the job on the engine: `started` hears of it once its workers are about to start, and
 * `onChange` of every change of its status. Resolves with its status once it has ended.
 */
export async function runLocalJob(
  request: RunRequest,
  env: {
    engine: Engine;
    now(): Date;
    signal: AbortSignal;
    started(jobId: string, workers: number, statusPath: string): void;
    onChange?: (status: JobStatus) => void;
  },
): Promise<JobStatus> {
  const jobsDir = path.resolve(JOBS_DIR);
  const submission = await readSubmission(request.jobFile);
  const jobId = newJobId(request.id, jobsDir);
  const volumes = request.volumes.map((v) => ({ ...v, host: path.resolve(v.host) }));
  const { engine } = env;
  if (!(await engine.inspectImage(request.image))) throw imageNotFound(request.image);
  env.started(jobId, submission.workers, path.join(JOBS_DIR, `${jobId}.json`));
  return runJob(engine, {
    jobId,
    image: request.image,
    submission,
    baseDir: path.dirname(path.resolve(request.jobFile)),
    jobsDir,
    volumes,
    ...(request.user ? { user: request.user } : {}),
    ...(request.memoryBytes ? { memoryBytes: request.memoryBytes } : {}),
    now: env.now,
    signal: env.signal,
    ...(env.onChange ? { onChange: env.onChange } : {}),
  });
}

/** Writes the job's split and its Kubernetes manifests; resolves with what was written and how to run it. */
export async function renderLocalJob(request: RenderRequest, env: { now(): Date }): Promise<string[]> {
  const jobsDir = path.resolve(JOBS_DIR);
  const submission = await readSubmission(request.jobFile);
  const jobId = newJobId(request.id, jobsDir);
  const out = path.resolve(request.out ?? path.join(JOBS_DIR, jobId));
  const splitDir = path.join(out, 'split');
  const summary = await writeSplit(submission, path.dirname(path.resolve(request.jobFile)), splitDir, {
    jobId,
    startTime: env.now().toISOString(),
  });
  let splitFiles: Map<string, string> | undefined;
  if (!request.splitClaim) {
    splitFiles = await readSplitFiles(splitDir, CONFIGMAP_LIMIT_BYTES);
    if (!splitFiles) throw splitTooLarge(CONFIGMAP_LIMIT_BYTES, CONFIGMAP_LIMIT_BYTES);
  }
  const manifests = renderJob({
    jobId,
    image: request.image,
    workers: submission.workers,
    timeoutSeconds: submission.timeoutSeconds,
    memoryBytes: request.memoryBytes,
    ...(splitFiles ? { splitFiles } : { splitClaim: request.splitClaim! }),
  });
  const manifestFile = path.join(out, 'kubernetes.json');
  await writeFile(manifestFile, manifestList(manifests));
  const shown = path.relative(process.cwd(), manifestFile) || manifestFile;
  return [
    `job ${jobId}: ${summary.totalBatchCount} batches (${summary.items} items) for ${submission.workers} workers`,
    `wrote ${path.relative(process.cwd(), splitDir) || splitDir}/ and ${shown}${request.splitClaim ? ` (copy the split's files to the root of volume claim ${request.splitClaim})` : ''}`,
    'run it, and on_job_complete once its workers are done, with:',
    ...applyCommands(jobId, shown).map((line) => `  ${line}`),
  ];
}
