// `cortex-s2i job run | status | render`: a Cortex batch job on the local engine, its status
// document, and the same job as Kubernetes manifests.

import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ExitCode, imageNotFound, invalidJob, jobExists, jobNotFound, splitTooLarge } from '../../errors.js';
import { applyCommands, CONFIGMAP_LIMIT_BYTES, manifestList, renderJob } from '../../job/render.js';
import { runJob } from '../../job/runner.js';
import { readSplitFiles, writeSplit } from '../../job/split.js';
import { describeStatus, progressLine, readStatus, statusFile, type JobStatus } from '../../job/status.js';
import { parseSubmission, type Submission } from '../../job/submission.js';
import type { Command } from '../args.js';
import type { CommandContext } from '../context.js';
import { withEngine } from './engine-access.js';

type JobCommand = Extract<Command, { name: 'job-run' | 'job-status' | 'job-render' }>;

/** Where jobs live: jobs/ under the folder the command runs in. */
const JOBS_DIR = 'jobs';

export async function jobCommand(cmd: JobCommand, ctx: CommandContext): Promise<number> {
  const jobsDir = path.resolve(JOBS_DIR);
  switch (cmd.name) {
    case 'job-status': {
      const status = await readStatus(jobsDir, cmd.id);
      if (!status) throw jobNotFound(cmd.id, path.join(JOBS_DIR, `${cmd.id}.json`));
      if (cmd.json) ctx.output.out(JSON.stringify(status, null, 2));
      else for (const line of describeStatus(status)) ctx.output.out(line);
      return ExitCode.ok;
    }
    case 'job-render':
      return renderCommand(cmd, ctx, jobsDir);
    case 'job-run':
      return runCommand(cmd, ctx, jobsDir);
  }
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

async function runCommand(
  cmd: Extract<JobCommand, { name: 'job-run' }>,
  ctx: CommandContext,
  jobsDir: string,
): Promise<number> {
  const submission = await readSubmission(cmd.jobFile);
  const jobId = newJobId(cmd.id, jobsDir);
  const volumes = cmd.volumes.map((v) => ({ ...v, host: path.resolve(v.host) }));
  // As `docker run --user $(id -u):$(id -g)`: what the workers write is the user's own.
  const user = process.getuid && process.getgid ? `${process.getuid()}:${process.getgid()}` : undefined;
  const terminal = ctx.terminal;
  const status = await withEngine(ctx, async (engine) => {
    if (!(await engine.inspectImage(cmd.image))) throw imageNotFound(cmd.image);
    ctx.output.err(
      `job ${jobId}: ${submission.workers} worker${submission.workers === 1 ? '' : 's'} of ${cmd.image}; status in ${path.join(JOBS_DIR, `${jobId}.json`)}`,
    );
    return runJob(engine, {
      jobId,
      image: cmd.image,
      submission,
      baseDir: path.dirname(path.resolve(cmd.jobFile)),
      jobsDir,
      volumes,
      ...(user ? { user } : {}),
      ...(cmd.memoryBytes ? { memoryBytes: cmd.memoryBytes } : {}),
      now: ctx.now,
      signal: ctx.signal,
      ...(terminal ? { onChange: (s: JobStatus) => terminal.write(`\r${progressLine(s)}\u001b[K`) } : {}),
    });
  });
  if (terminal) terminal.write('\n');
  for (const line of describeStatus(status)) ctx.output.out(line);
  if (status.status === 'succeeded') return ExitCode.ok;
  if (status.status === 'stopped') return ExitCode.interrupted;
  return ExitCode.jobFailed;
}

async function renderCommand(
  cmd: Extract<JobCommand, { name: 'job-render' }>,
  ctx: CommandContext,
  jobsDir: string,
): Promise<number> {
  const submission = await readSubmission(cmd.jobFile);
  const jobId = newJobId(cmd.id, jobsDir);
  const out = path.resolve(cmd.out ?? path.join(JOBS_DIR, jobId));
  const splitDir = path.join(out, 'split');
  const summary = await writeSplit(submission, path.dirname(path.resolve(cmd.jobFile)), splitDir, {
    jobId,
    startTime: ctx.now().toISOString(),
  });
  let splitFiles: Map<string, string> | undefined;
  if (!cmd.splitClaim) {
    splitFiles = await readSplitFiles(splitDir, CONFIGMAP_LIMIT_BYTES);
    if (!splitFiles) throw splitTooLarge(CONFIGMAP_LIMIT_BYTES, CONFIGMAP_LIMIT_BYTES);
  }
  const manifests = renderJob({
    jobId,
    image: cmd.image,
    workers: submission.workers,
    timeoutSeconds: submission.timeoutSeconds,
    memoryBytes: cmd.memoryBytes,
    ...(splitFiles ? { splitFiles } : { splitClaim: cmd.splitClaim! }),
  });
  const manifestFile = path.join(out, 'kubernetes.json');
  await writeFile(manifestFile, manifestList(manifests));
  const shown = path.relative(process.cwd(), manifestFile) || manifestFile;
  ctx.output.out(
    `job ${jobId}: ${summary.totalBatchCount} batches (${summary.items} items) for ${submission.workers} workers`,
  );
  ctx.output.out(
    `wrote ${path.relative(process.cwd(), splitDir) || splitDir}/ and ${shown}${cmd.splitClaim ? ` (copy the split's files to the root of volume claim ${cmd.splitClaim})` : ''}`,
  );
  ctx.output.out('run it, and on_job_complete once its workers are done, with:');
  for (const line of applyCommands(jobId, shown)) ctx.output.out(`  ${line}`);
  return ExitCode.ok;
}
