// Parses the command line into a command and its options; anything malformed is a usage error.

import { parseArgs } from 'node:util';
import { usageError } from '../errors.js';

export const USAGE = `cortex-s2i: build container images for Python machine-learning models

Usage:
  cortex-s2i build <source-dir> <builder> <image> [options]
      Builds <image> from the model in <source-dir>. <builder> is train (alias model),
      daemon (alias predict), or the reference of any s2i builder image.
        -e, --env KEY=VALUE   add to the image's environment (repeatable)
        --project DIR         the project folder around the model (default: found by looking around)
        --dry-run             print the plan and the Dockerfile; build nothing
        -q, --quiet           do not print the engine's build log
        --no-cache            build every step afresh, as docker build --no-cache
        --compress            gzip the context sent to the engine (helps a remote DOCKER_HOST)
        --allow-root          accept an s2i builder image that runs as root
        --as-dockerfile DIR   write the Dockerfile and every file it copies into DIR (new or
                              empty); build it with docker build or buildah bud, no engine needed
  cortex-s2i all <project> [--models a,b,c]
      Writes <project>/all/: one image's source serving every model's routes (ROUTES, a generated
      predict.py, merged requirements, combined setup.sh, a Makefile). Build it with the daemon builder.
  cortex-s2i init <model-dir> [--model-name N] [--dataset D] [--container C] [--force]
      Writes the model's Makefile (build-train, train, build-predict, predict, test-endpoint) and,
      where missing, a working skeleton: .s2i/environment, train.py, predict.py, requirements,
      test/test_instances.json. Existing files are kept unless --force is given.
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
  cortex-s2i --help | --version

Exit status: 0 success, 2 bad input, 3 build failed, 4 no engine answers, 130 interrupted.
Environment: DOCKER_HOST (engine address), SOURCE_DATE_EPOCH (fixed image timestamps),
CORTEX_S2I_BUILDER_REPO (repository of the bundled builder images, default cortex-s2i).`;

export type Command =
  | { name: 'help' }
  | { name: 'version' }
  | { name: 'build'; source: string; builder: string; image: string; env: Array<{ key: string; value: string }>; project: string | undefined; dryRun: boolean; quiet: boolean; noCache: boolean; compress: boolean; allowRoot: boolean; asDockerfile?: string | undefined }
  | { name: 'builders'; base: string | undefined }
  | { name: 'all'; project: string; models: string[] | undefined }
  | DeployCommand
  | { name: 'init'; modelDir: string; modelName: string | undefined; dataset: string | undefined; container: string | undefined; force: boolean };

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
      case 'builders': {
        const { values, positionals } = parseArgs({ args: rest, options: { base: { type: 'string' } }, allowPositionals: true, strict: true });
        if (positionals.length) throw usageError(`builders takes no arguments, got ${positionals.join(' ')}`);
        return { name: 'builders', base: values.base };
      }
      case 'all': {
        const { values, positionals } = parseArgs({ args: rest, options: { models: { type: 'string' } }, allowPositionals: true, strict: true });
        if (positionals.length !== 1) throw usageError('all needs the project folder: cortex-s2i all <project> [--models a,b,c]');
        const models = values.models?.split(',').map((m) => m.trim()).filter(Boolean);
        return { name: 'all', project: positionals[0]!, models };
      }
      case 'init': {
        const { values, positionals } = parseArgs({
          args: rest,
          options: { 'model-name': { type: 'string' }, dataset: { type: 'string' }, container: { type: 'string' }, force: { type: 'boolean' } },
          allowPositionals: true,
          strict: true,
        });
        if (positionals.length !== 1) throw usageError('init needs the model folder: cortex-s2i init <model-dir>');
        return { name: 'init', modelDir: positionals[0]!, modelName: values['model-name'], dataset: values.dataset, container: values.container, force: values.force ?? false };
      }
      case 'deploy':
        return parseDeploy(rest);
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
      'as-dockerfile': { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 3) {
    throw usageError(`build needs <source-dir> <builder> <image>, got ${positionals.length} argument${positionals.length === 1 ? '' : 's'}`);
  }
  const [source, builder, image] = positionals as [string, string, string];
  if (!/^[a-z0-9]+([._/:@-][a-zA-Z0-9_.-]+)*$/.test(image) || /[A-Z]/.test(image.split(':')[0] ?? '')) {
    throw usageError(`${JSON.stringify(image)} is not a valid image name`, 'image names are lower case, e.g. adult-income-lr-predict or registry:5000/team/model:1.0');
  }
  const env = (values.env ?? []).map((pair) => {
    const eq = pair.indexOf('=');
    const key = eq > 0 ? pair.slice(0, eq) : '';
    if (!ENV_KEY.test(key)) throw usageError(`-e ${JSON.stringify(pair)} is not KEY=VALUE`, 'e.g. -e LOG_LEVEL=debug');
    const value = pair.slice(eq + 1);
    if (/[\r\n]/.test(value)) throw usageError(`-e ${key}: the value cannot span lines`);
    return { key, value };
  });
  const asDockerfile = values['as-dockerfile'];
  if (asDockerfile !== undefined && asDockerfile.trim() === '') throw usageError('--as-dockerfile needs a folder', 'e.g. --as-dockerfile ./context');
  if (asDockerfile !== undefined && values['dry-run']) throw usageError('--as-dockerfile and --dry-run do not go together', '--as-dockerfile already builds nothing; it writes the context');
  return { name: 'build', source, builder, image, env, project: values.project, dryRun: values['dry-run'] ?? false, quiet: values.quiet ?? false, noCache: values['no-cache'] ?? false, compress: values.compress ?? false, allowRoot: values['allow-root'] ?? false, ...(asDockerfile !== undefined ? { asDockerfile } : {}) };
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
  if (positionals.length !== 1) throw usageError('deploy needs the project folder: cortex-s2i deploy <project> --target kubernetes|swarm');
  const target = values.target;
  if (target !== 'kubernetes' && target !== 'swarm') throw usageError(`--target must be kubernetes or swarm, got ${JSON.stringify(target ?? '')}`);
  const images: Record<string, string> = {};
  for (const pair of values.image ?? []) {
    const eq = pair.indexOf('=');
    const api = pair.slice(0, eq);
    const ref = pair.slice(eq + 1);
    if (eq <= 0 || !IMAGE_REF.test(ref)) throw usageError(`--image ${JSON.stringify(pair)} is not API=IMAGE`, 'e.g. --image iris=registry.example.com/iris@sha256:<digest>');
    images[api] = ref;
  }
  const whole = (flag: string, raw: string | undefined, fallback: number, min: number, max: number) => {
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw usageError(`--${flag} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
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
  if (cmd.delete && target !== 'swarm') throw usageError('--delete removes a Swarm stack; for Kubernetes, kubectl delete -f the folder --out wrote');
  if (cmd.delete && cmd.out !== undefined) throw usageError('--delete and --out do not go together');
  return cmd;
}
