// Parses the command line into a command and its options; anything malformed is a usage error.

import { parseArgs } from 'node:util';
import { parseImageReference } from '../engine/reference.js';
import { usageError } from '../errors.js';
import { PROGRESS_MODES, type ProgressMode } from './progress.js';

export const USAGE = `cortex-s2i: build container images for Python machine-learning models

Usage:
  cortex-s2i build <source-dir> <builder> <image> [options]
      Builds <image> from the model in <source-dir>. <builder> is train (alias model),
      daemon (alias predict), or the reference of any s2i builder image.
      A <source-dir> with a cortex.yaml is a Cortex project: the daemon builder makes one image
      serving every API at its endpoint (deploy runs it as <project>-<api>:latest per API).
        --api NAME            build one API of cortex.yaml only (tag it <project>-<api>:latest)
        -e, --env KEY=VALUE   add to the image's environment (repeatable)
        --project DIR         the project folder around the model (default: found by looking around)
        --dry-run             print the plan and the Dockerfile; build nothing
        -q, --quiet           do not print the engine's build log
        --progress MODE       auto (default), tty, plain or quiet: live steps with a running clock
                              (tty), one line per finished step and no control characters (plain),
                              or only errors and the result (quiet); auto is tty on a terminal
                              unless CI is set, else plain. NO_COLOR turns colours off
        --no-cache            build every step afresh, as docker build --no-cache
        --compress            gzip the context sent to the engine (helps a remote DOCKER_HOST)
        --allow-root          accept an s2i builder image that runs as root
        --push                push every tag built to its registry; prints repo@sha256:… on stdout
        --json                print one JSON document on stdout at the end (logs go to stderr)
        --digest-file PATH    write the pushed digest (sha256:…) to PATH (needs --push)
        --cache-from IMAGE    reuse the dependency layer of IMAGE (pulled when missing; repeatable)
      With -q, stdout carries only the image reference (repo@sha256:… when pushed).
        --as-dockerfile DIR   write the Dockerfile and every file it copies into DIR (new or
                              empty); build it with docker build or buildah bud, no engine needed
  cortex-s2i push <image> [--digest-file PATH]
      Pushes an image on the engine to its registry and prints repo@sha256:… on stdout.
      Credentials: DOCKER_CONFIG/config.json (default ~/.docker): auths, credsStore, credHelpers.
  cortex-s2i all <project> [--models a,b,c] [--force]
      Writes <project>/all/: one image's source serving every model's routes (ROUTES, a generated
      predict.py, merged requirements, combined setup.sh, a Makefile). Build it with the daemon builder.
      A file without the generator's header is kept; --force replaces a hand-written Makefile
      and .s2i/environment.
  cortex-s2i init <model-dir> [--model-name N] [--dataset D] [--container C] [--force]
      Writes the model's Makefile (build-train, train, build-predict, predict, test-endpoint) and,
      where missing, a working skeleton: .s2i/environment, train.py, predict.py, requirements,
      test/test_instances.json. A Makefile without the generator's header is kept unless --force
      is given; model code and test instances are never replaced.
  cortex-s2i builders [--base IMAGE]
      Builds the bundled train and daemon builder images on a Python base image
      (default: python:3.11-slim if present, else the locally bootstrapped base).
  cortex-s2i deploy <project> --target kubernetes|swarm [options]
      Deploys the APIs of the project's cortex.yaml. Kubernetes: writes the manifests (needs --out).
      Swarm: applies the stack with docker stack deploy and waits until every replica is ready.
        --image API=REF       the image API runs (repeatable; default <project>-<api>:latest)
        --out DIR             write the manifests or stack file into DIR instead of applying them
        --port N              first published port; the APIs take N, N+1, ... (default 8000)
        --host-ports          Swarm: publish on each node's port (mode: host), not the ingress mesh
        --models-volume NAME  the models: an existing PersistentVolumeClaim or Swarm volume
        --timeout SECONDS     Swarm: how long to wait for every replica to be ready (default 300)
        --delete              Swarm: remove the stack this command deployed, and nothing else
  cortex-s2i job run <image> <job.json> [-v HOST:CONTAINER[:ro]]... [--memory SIZE] [--id ID]
      Runs a Cortex batch job with the predict image's batch predictor: splits job.json's input
      (item_list, delimited_files, file_path_lister) into batches for its workers, retries failed
      batches, and keeps jobs/<id>.json and jobs/<id>.dead-letter.ndjson in the current folder.
        -v, --volume H:C[:ro]  mount into every worker, as docker run -v (repeatable)
        -m, --memory SIZE      each worker's memory limit (e.g. 512m, 2g)
        --id ID                the job's id (default: random)
  cortex-s2i job status <id> [--json]
      Prints jobs/<id>.json: status, batch counts, workers.
  cortex-s2i job render <image> <job.json> [--out DIR] [--split-claim PVC] [--memory SIZE] [--id ID]
      Writes the split and the same job as a Kubernetes Indexed Job (DIR/kubernetes.json, default
      DIR jobs/<id>); the split goes in a ConfigMap, or with --split-claim in that volume claim.
  cortex-s2i --help | --version

Exit status: 0 success, 2 bad input, 3 build failed (also: a file changed while it was sent),
4 no engine answers, or it stopped answering (see the timeouts below), 5 the engine refused a
request or gave an answer the tool cannot read, 6 a batch job did not succeed,
129/130/143 stopped by SIGHUP/SIGINT/SIGTERM;
registries: 10 refused (the engine's reason), 11 down, 12 unknown host, 13 credentials refused or missing.
Environment: DOCKER_HOST (engine address: unix://, or tcp:// as the docker CLI reads it),
DOCKER_TLS_VERIFY and DOCKER_CERT_PATH (TLS to a tcp:// engine: ca.pem, cert.pem, key.pem,
default ~/.docker), DOCKER_CONFIG (registry credentials), SOURCE_DATE_EPOCH (fixed image timestamps),
CORTEX_S2I_BUILDER_REPO (repository of the bundled builder images, default cortex-s2i),
CORTEX_S2I_ENGINE_TIMEOUT (seconds an engine call may take, default 60),
CORTEX_S2I_BUILD_SILENCE_TIMEOUT (seconds a build may go without a byte from the engine, default 1800),
CI (set to anything but false or 0: --progress auto prints plain lines), NO_COLOR (non-empty: no colours).`;

export type Command =
  | { name: 'help' }
  | { name: 'version' }
  | ({
      name: 'build';
      source: string;
      builder: string;
      image: string;
      env: Array<{ key: string; value: string }>;
      project: string | undefined;
      dryRun: boolean;
      quiet: boolean;
      noCache: boolean;
      compress: boolean;
      allowRoot: boolean;
      progress: ProgressMode;
      asDockerfile?: string | undefined;
      api?: string | undefined;
    } & PublishOptions)
  | { name: 'push'; image: string; digestFile: string | undefined }
  | { name: 'builders'; base: string | undefined }
  | { name: 'all'; project: string; models: string[] | undefined; force: boolean }
  | DeployCommand
  | {
      name: 'job-run';
      image: string;
      jobFile: string;
      volumes: Array<{ host: string; container: string; readOnly: boolean }>;
      memoryBytes: number | undefined;
      id: string | undefined;
    }
  | { name: 'job-status'; id: string; json: boolean }
  | {
      name: 'job-render';
      image: string;
      jobFile: string;
      out: string | undefined;
      splitClaim: string | undefined;
      memoryBytes: number | undefined;
      id: string | undefined;
    }
  | {
      name: 'init';
      modelDir: string;
      modelName: string | undefined;
      dataset: string | undefined;
      container: string | undefined;
      force: boolean;
    };

/** What a build does with its result beyond tagging it; each key is present only when given. */
export interface PublishOptions {
  push?: boolean;
  json?: boolean;
  digestFile?: string;
  cacheFrom?: string[];
}

export interface DeployCommand {
  name: 'deploy';
  project: string;
  target: 'kubernetes' | 'swarm';
  images: Record<string, string>;
  out: string | undefined;
  firstPort: number;
  hostPorts: boolean;
  modelsVolume: string | undefined;
  timeoutSeconds: number;
  delete: boolean;
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function parseCommand(argv: string[]): Command {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') return { name: 'help' };
  if (name === '--version' || name === '-v') return { name: 'version' };
  try {
    switch (name) {
      case 'build':
        return parseBuild(rest);
      case 'push':
        return parsePush(rest);
      case 'builders': {
        const { values, positionals } = parseArgs({
          args: rest,
          options: { base: { type: 'string' } },
          allowPositionals: true,
          strict: true,
        });
        if (positionals.length) throw usageError(`builders takes no arguments, got ${positionals.join(' ')}`);
        return { name: 'builders', base: values.base };
      }
      case 'all': {
        const { values, positionals } = parseArgs({
          args: rest,
          options: { models: { type: 'string' }, force: { type: 'boolean' } },
          allowPositionals: true,
          strict: true,
        });
        if (positionals.length !== 1)
          throw usageError('all needs the project folder: cortex-s2i all <project> [--models a,b,c]');
        const models = values.models
          ?.split(',')
          .map((m) => m.trim())
          .filter(Boolean);
        return { name: 'all', project: positionals[0]!, models, force: values.force ?? false };
      }
      case 'init': {
        const { values, positionals } = parseArgs({
          args: rest,
          options: {
            'model-name': { type: 'string' },
            dataset: { type: 'string' },
            container: { type: 'string' },
            force: { type: 'boolean' },
          },
          allowPositionals: true,
          strict: true,
        });
        if (positionals.length !== 1) throw usageError('init needs the model folder: cortex-s2i init <model-dir>');
        return {
          name: 'init',
          modelDir: positionals[0]!,
          modelName: values['model-name'],
          dataset: values.dataset,
          container: values.container,
          force: values.force ?? false,
        };
      }
      case 'deploy':
        return parseDeploy(rest);
      case 'job':
        return parseJob(rest);
      default:
        throw usageError(`unknown command ${JSON.stringify(name)}`);
    }
  } catch (err) {
    // parseArgs throws TypeErrors with a code for unknown or malformed options.
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw usageError((err as Error).message);
    throw err;
  }
}

function parseBuild(args: string[]): Command {
  const { values, positionals } = parseArgs({
    args,
    options: {
      env: { type: 'string', short: 'e', multiple: true },
      project: { type: 'string' },
      'dry-run': { type: 'boolean' },
      quiet: { type: 'boolean', short: 'q' },
      'no-cache': { type: 'boolean' },
      compress: { type: 'boolean' },
      'allow-root': { type: 'boolean' },
      progress: { type: 'string' },
      ...PUBLISH_OPTIONS,
      'as-dockerfile': { type: 'string' },
      api: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 3) {
    throw usageError(
      `build needs <source-dir> <builder> <image>, got ${positionals.length} argument${positionals.length === 1 ? '' : 's'}`,
    );
  }
  const [source, builder, image] = positionals as [string, string, string];
  checkImageName(image);
  const env = (values.env ?? []).map((pair) => {
    const eq = pair.indexOf('=');
    const key = eq > 0 ? pair.slice(0, eq) : '';
    if (!ENV_KEY.test(key)) throw usageError(`-e ${JSON.stringify(pair)} is not KEY=VALUE`, 'e.g. -e LOG_LEVEL=debug');
    const value = pair.slice(eq + 1);
    if (/[\r\n]/.test(value)) throw usageError(`-e ${key}: the value cannot span lines`);
    return { key, value };
  });
  const progress = values.progress ?? 'auto';
  if (!(PROGRESS_MODES as readonly string[]).includes(progress))
    throw usageError(`--progress must be ${PROGRESS_MODES.join(', ')}; got ${JSON.stringify(progress)}`);
  const asDockerfile = values['as-dockerfile'];
  if (asDockerfile !== undefined && asDockerfile.trim() === '')
    throw usageError('--as-dockerfile needs a folder', 'e.g. --as-dockerfile ./context');
  if (asDockerfile !== undefined && values['dry-run'])
    throw usageError(
      '--as-dockerfile and --dry-run do not go together',
      '--as-dockerfile already builds nothing; it writes the context',
    );
  return {
    name: 'build',
    source,
    builder,
    image,
    env,
    project: values.project,
    dryRun: values['dry-run'] ?? false,
    quiet: values.quiet ?? false,
    noCache: values['no-cache'] ?? false,
    compress: values.compress ?? false,
    allowRoot: values['allow-root'] ?? false,
    progress: progress as ProgressMode,
    ...(asDockerfile !== undefined ? { asDockerfile } : {}),
    ...(values.api !== undefined ? { api: values.api } : {}),
    ...publishOptions(values),
  };
}

const PUBLISH_OPTIONS = {
  push: { type: 'boolean' },
  json: { type: 'boolean' },
  'digest-file': { type: 'string' },
  'cache-from': { type: 'string', multiple: true },
} as const;

function publishOptions(values: {
  push?: boolean;
  json?: boolean;
  quiet?: boolean;
  'digest-file'?: string;
  'cache-from'?: string[];
}): PublishOptions {
  if (values.json && values.quiet) throw usageError('-q and --json both choose what stdout carries; give one of them');
  if (values['digest-file'] !== undefined && !values.push)
    throw usageError('--digest-file needs --push: an image has a registry digest only once pushed');
  if (values['digest-file'] === '') throw usageError('--digest-file needs a path');
  for (const ref of values['cache-from'] ?? []) checkReference(ref, '--cache-from');
  return {
    ...(values.push ? { push: true } : {}),
    ...(values.json ? { json: true } : {}),
    ...(values['digest-file'] !== undefined ? { digestFile: values['digest-file'] } : {}),
    ...(values['cache-from']?.length ? { cacheFrom: values['cache-from'] } : {}),
  };
}

function parsePush(args: string[]): Command {
  const { values, positionals } = parseArgs({
    args,
    options: { 'digest-file': { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) throw usageError('push needs the image: cortex-s2i push <image> [--digest-file PATH]');
  if (values['digest-file'] === '') throw usageError('--digest-file needs a path');
  checkReference(positionals[0]!, 'push');
  return { name: 'push', image: positionals[0]!, digestFile: values['digest-file'] };
}

/** An existing image to push or pull: the reference grammar, a digest allowed. */
function checkReference(ref: string, what: string): void {
  const parsed = parseImageReference(ref);
  if (!parsed.ok)
    throw usageError(
      `${what}: ${JSON.stringify(ref)} is not a valid image reference: ${parsed.reason}`,
      'e.g. registry.example.com:5000/team/model:1.0',
    );
}

const IMAGE_REF = /^[a-z0-9]+([._/:-][a-zA-Z0-9_.-]+)*(@sha256:[a-f0-9]{64})?$/;

function parseDeploy(args: string[]): DeployCommand {
  const { values, positionals } = parseArgs({
    args,
    options: {
      target: { type: 'string' },
      image: { type: 'string', multiple: true },
      out: { type: 'string' },
      port: { type: 'string' },
      'host-ports': { type: 'boolean' },
      'models-volume': { type: 'string' },
      timeout: { type: 'string' },
      delete: { type: 'boolean' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1)
    throw usageError('deploy needs the project folder: cortex-s2i deploy <project> --target kubernetes|swarm');
  const target = values.target;
  if (target !== 'kubernetes' && target !== 'swarm')
    throw usageError(`--target must be kubernetes or swarm, got ${JSON.stringify(target ?? '')}`);
  const images: Record<string, string> = {};
  for (const pair of values.image ?? []) {
    const eq = pair.indexOf('=');
    const api = pair.slice(0, eq);
    const ref = pair.slice(eq + 1);
    if (eq <= 0 || !IMAGE_REF.test(ref))
      throw usageError(
        `--image ${JSON.stringify(pair)} is not API=IMAGE`,
        'e.g. --image iris=registry.example.com/iris@sha256:<digest>',
      );
    images[api] = ref;
  }
  const whole = (flag: string, raw: string | undefined, fallback: number, min: number, max: number) => {
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max)
      throw usageError(`--${flag} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    return Number(raw);
  };
  const cmd: DeployCommand = {
    name: 'deploy',
    project: positionals[0]!,
    target,
    images,
    out: values.out,
    firstPort: whole('port', values.port, 8000, 1, 65535),
    hostPorts: values['host-ports'] ?? false,
    modelsVolume: values['models-volume'],
    timeoutSeconds: whole('timeout', values.timeout, 300, 1, 86400),
    delete: values.delete ?? false,
  };
  if (cmd.delete && target !== 'swarm')
    throw usageError('--delete removes a Swarm stack; for Kubernetes, kubectl delete -f the folder --out wrote');
  if (cmd.delete && cmd.out !== undefined) throw usageError('--delete and --out do not go together');
  return cmd;
}

/** The image to build must be a name the engine reads as written: [registry[:port]/]path[:tag]. */
function checkImageName(image: string): void {
  const hint = 'image names are lower case, e.g. adult-income-lr-predict or registry:5000/team/model:1.0';
  const parsed = parseImageReference(image);
  if (!parsed.ok) throw usageError(`${JSON.stringify(image)} is not a valid image name: ${parsed.reason}`, hint);
  if (parsed.value.digest)
    throw usageError(
      `${JSON.stringify(image)} is not a valid image name: a digest names existing content, so a new image cannot be given one`,
      'give a tag instead, e.g. model:1.0',
    );
}

const JOB_ID = /^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/;

function parseJob(args: string[]): Command {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      volume: { type: 'string', short: 'v', multiple: true },
      memory: { type: 'string', short: 'm' },
      id: { type: 'string' },
      out: { type: 'string' },
      'split-claim': { type: 'string' },
      json: { type: 'boolean' },
    },
    allowPositionals: true,
    strict: true,
  });
  const only = (allowed: string[]) => {
    for (const key of Object.keys(values)) if (!allowed.includes(key)) throw usageError(`job ${sub} takes no --${key}`);
  };
  if (values.id !== undefined && !JOB_ID.test(values.id)) {
    throw usageError(
      `--id ${JSON.stringify(values.id)} is not a job id`,
      'lower-case letters, digits and -, at most 40 characters, e.g. --id scores-2024-06',
    );
  }
  const memoryBytes = values.memory === undefined ? undefined : parseMemory(values.memory);
  switch (sub) {
    case 'run': {
      only(['volume', 'memory', 'id']);
      if (positionals.length !== 2) throw usageError('job run needs <image> <job.json>');
      const volumes = (values.volume ?? []).map(parseVolume);
      return { name: 'job-run', image: positionals[0]!, jobFile: positionals[1]!, volumes, memoryBytes, id: values.id };
    }
    case 'status':
      only(['json']);
      if (positionals.length !== 1 || !JOB_ID.test(positionals[0]!))
        throw usageError('job status needs a job id: cortex-s2i job status <id>');
      return { name: 'job-status', id: positionals[0]!, json: values.json ?? false };
    case 'render':
      only(['out', 'split-claim', 'memory', 'id']);
      if (positionals.length !== 2) throw usageError('job render needs <image> <job.json>');
      return {
        name: 'job-render',
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
}

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
