// `cortex-s2i job run | status | render`: a Cortex batch job on the local engine, its status
// document, and the same job as Kubernetes manifests.

import path from 'node:path';
import { ExitCode, jobFailed, usageError } from '../../errors.js';
import type { RenderRequest, RunRequest } from '../../job/local.js';
import { command, readOptions } from '../command.js';

type JobArgs =
  | ({ sub: 'run' } & Omit<RunRequest, 'user'>)
  | { sub: 'status'; id: string; json: boolean }
  | ({ sub: 'render' } & RenderRequest);

const JOB_ID = /^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/;

export default command<JobArgs>({
  name: 'job',
  synopsis: [
    'job run <image> <job.json> [-v HOST:CONTAINER[:ro]]... [--memory SIZE] [--id ID]',
    'job status <id> [--json]',
    'job render <image> <job.json> [--out DIR] [--split-claim PVC] [--memory SIZE] [--id ID]',
  ],
  summary: "run a Cortex batch job with a predict image's batch predictor, follow it, or render it for Kubernetes",
  usage: `job run: runs a Cortex batch job with the predict image's batch predictor: splits job.json's
input (item_list, delimited_files, file_path_lister) into batches for its workers, retries failed
batches, and keeps jobs/<id>.json and jobs/<id>.dead-letter.ndjson in the current folder.
  -v, --volume H:C[:ro]  mount into every worker, as docker run -v (repeatable)
  -m, --memory SIZE      each worker's memory limit (e.g. 512m, 2g)
  --id ID                the job's id (default: random)
job status: prints jobs/<id>.json: status, batch counts, workers (--json: the document itself).
job render: writes the split and the same job as a Kubernetes Indexed Job (DIR/kubernetes.json,
default DIR jobs/<id>); the split goes in a ConfigMap, or with --split-claim in that volume claim.`,

  parse(args) {
    const [sub, ...rest] = args;
    const { values, positionals } = readOptions(`job ${sub ?? ''}`.trim(), rest, {
      volume: { type: 'string', short: 'v', multiple: true },
      memory: { type: 'string', short: 'm' },
      id: { type: 'string' },
      out: { type: 'string' },
      'split-claim': { type: 'string' },
      json: { type: 'boolean' },
    });
    const only = (allowed: string[]) => {
      for (const key of Object.keys(values))
        if (!allowed.includes(key)) throw usageError(`job ${sub} takes no --${key}`);
    };
    if (values.id !== undefined && !JOB_ID.test(values.id)) {
      throw usageError(
        `--id ${JSON.stringify(values.id)} is not a job id`,
        'lower-case letters, digits and -, at most 40 characters, e.g. --id scores-2024-06',
      );
    }
    const memoryBytes = values.memory === undefined ? undefined : parseMemory(values.memory);
    switch (sub) {
      case 'run':
        only(['volume', 'memory', 'id']);
        if (positionals.length !== 2) throw usageError('job run needs <image> <job.json>');
        return {
          sub,
          image: positionals[0]!,
          jobFile: positionals[1]!,
          volumes: (values.volume ?? []).map(parseVolume),
          memoryBytes,
          id: values.id,
        };
      case 'status':
        only(['json']);
        if (positionals.length !== 1 || !JOB_ID.test(positionals[0]!))
          throw usageError('job status needs a job id: cortex-s2i job status <id>');
        return { sub, id: positionals[0]!, json: values.json ?? false };
      case 'render':
        only(['out', 'split-claim', 'memory', 'id']);
        if (positionals.length !== 2) throw usageError('job render needs <image> <job.json>');
        return {
          sub,
          image: positionals[0]!,
          jobFile: positionals[1]!,
          out: values.out,
          splitClaim: values['split-claim'],
          memoryBytes,
          id: values.id,
        };
      default:
        throw usageError(`job needs run, status or render, got ${JSON.stringify(sub ?? '')}`);
    }
  },

  async run(args, ctx) {
    const [local, { describeStatus, progressLine }] = await Promise.all([
      import('../../job/local.js'),
      import('../../job/status.js'),
    ]);
    switch (args.sub) {
      case 'status': {
        const status = await local.jobStatus(args.id);
        if (args.json) ctx.output.out(JSON.stringify(status, null, 2));
        else for (const line of describeStatus(status)) ctx.output.out(line);
        return ExitCode.ok;
      }
      case 'render':
        for (const line of await local.renderLocalJob(args, ctx)) ctx.output.out(line);
        return ExitCode.ok;
      case 'run': {
        const terminal = ctx.terminal;
        const status = await local.runLocalJob(
          // As `docker run --user $(id -u):$(id -g)`: what the workers write is the user's own.
          { ...args, user: process.getuid && process.getgid ? `${process.getuid()}:${process.getgid()}` : undefined },
          {
            engine: await ctx.engine(),
            now: ctx.now,
            signal: ctx.signal,
            started: (jobId, workers, statusPath) =>
              ctx.output.err(
                `job ${jobId}: ${workers} worker${workers === 1 ? '' : 's'} of ${args.image}; status in ${statusPath}`,
              ),
            ...(terminal ? { onChange: (s) => terminal.write(`\r${progressLine(s)}\u001b[K`) } : {}),
          },
        );
        if (terminal) terminal.write('\n');
        for (const line of describeStatus(status)) ctx.output.out(line);
        if (status.status === 'succeeded') return ExitCode.ok;
        if (status.status === 'stopped') return ExitCode.interrupted;
        throw jobFailed(status.job_id, status.status, path.join(local.JOBS_DIR, `${status.job_id}.json`));
      }
    }
  },
});

function parseVolume(spec: string): { host: string; container: string; readOnly: boolean } {
  const parts = spec.split(':');
  const mode = parts.length === 3 ? parts[2] : 'rw';
  if (
    parts.length < 2 ||
    parts.length > 3 ||
    !parts[0] ||
    !parts[1]?.startsWith('/') ||
    (mode !== 'ro' && mode !== 'rw')
  ) {
    throw usageError(
      `-v ${JSON.stringify(spec)} is not HOST:CONTAINER[:ro]`,
      'e.g. -v ./out:/action/out or -v /data:/data:ro (the container path is absolute)',
    );
  }
  return { host: parts[0], container: parts[1], readOnly: mode === 'ro' };
}

function parseMemory(value: string): number {
  const m = /^(\d+)([kmg]?)b?$/i.exec(value.trim());
  const bytes = m ? Number(m[1]) * 1024 ** ['', 'k', 'm', 'g'].indexOf(m[2]!.toLowerCase()) : 0;
  // The engine refuses limits under 6 MiB.
  if (!m || bytes < 6 * 1024 * 1024)
    throw usageError(
      `--memory ${JSON.stringify(value)} is not a memory size of at least 6m`,
      'e.g. --memory 512m or --memory 2g',
    );
  return bytes;
}
