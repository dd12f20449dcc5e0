// A batch job's status document (jobs/<job_id>.json): Cortex's status codes and counts, written
// atomically so that `job status` never reads half a file.

import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Cortex's job status codes, those a local run can reach. */
export type JobStatusCode =
  | 'pending'
  | 'enqueuing'
  | 'running'
  | 'succeeded'
  | 'completed_with_failures'
  | 'worker_error'
  | 'worker_oom'
  | 'timed_out'
  | 'stopped'
  | 'unexpected_error';

export const FINAL_CODES: ReadonlySet<JobStatusCode> = new Set([
  'succeeded',
  'completed_with_failures',
  'worker_error',
  'worker_oom',
  'timed_out',
  'stopped',
  'unexpected_error',
]);

export interface WorkerStatus {
  index: number;
  container: string;
  state: 'starting' | 'running' | 'done' | 'failed' | 'oom_killed' | 'stopped';
  exit_code: number | null;
  succeeded: number;
  failed: number;
}

export interface JobStatus {
  job_id: string;
  image: string;
  status: JobStatusCode;
  /** Batches in the split. */
  total: number;
  succeeded: number;
  failed: number;
  batches_in_queue: number;
  /** Tries that failed and were given again. */
  retries: number;
  workers: WorkerStatus[];
  on_job_complete: 'pending' | 'called' | 'failed' | 'not_run';
  start_time: string;
  end_time: string | null;
  dead_letter_file: string;
  /** Why the job ended early: the failing worker's error and last log lines. */
  error?: string;
}

export function statusFile(jobsDir: string, jobId: string): string {
  return path.join(jobsDir, `${jobId}.json`);
}

export function deadLetterFile(jobsDir: string, jobId: string): string {
  return path.join(jobsDir, `${jobId}.dead-letter.ndjson`);
}

export async function writeStatus(jobsDir: string, status: JobStatus): Promise<void> {
  const file = statusFile(jobsDir, status.job_id);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(status, null, 2)}\n`);
  await rename(tmp, file);
}

export async function readStatus(jobsDir: string, jobId: string): Promise<JobStatus | undefined> {
  try {
    return JSON.parse(await readFile(statusFile(jobsDir, jobId), 'utf8')) as JobStatus;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The document as a few lines for a person. */
export function describeStatus(s: JobStatus): string[] {
  const lines = [
    `job ${s.job_id}: ${s.status}`,
    `  image:    ${s.image}`,
    `  batches:  ${s.total} total, ${s.succeeded} succeeded, ${s.failed} failed, ${s.batches_in_queue} in queue (${s.retries} retried)`,
    `  workers:  ${s.workers.map((w) => `${w.index} ${w.state}${w.exit_code === null ? '' : ` (exit ${w.exit_code})`}`).join(', ')}`,
    `  on_job_complete: ${s.on_job_complete}`,
    `  started:  ${s.start_time}`,
    `  ended:    ${s.end_time ?? '-'}`,
  ];
  if (s.failed > 0) lines.push(`  dead letters: ${s.dead_letter_file}`);
  if (s.error) lines.push(`  error:    ${s.error}`);
  return lines;
}

/** A one-line progress bar for a terminal, `width` characters of bar. */
export function progressLine(s: JobStatus, width = 30): string {
  const done = s.succeeded + s.failed;
  const filled = s.total === 0 ? width : Math.round((done / s.total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${s.total} batches, ${s.succeeded} ok, ${s.failed} failed  ${s.status}`;
}
