// Deploys a Cortex project's APIs (`cortex-s2i deploy <project> --target kubernetes|swarm`): renders
// them for a cluster engine and writes the files, or applies the stack on Swarm through the docker
// command line and waits until every replica is ready.

import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import type { CortexApi } from '../config/cortex-yaml.js';
import { parseDotenvFile } from '../config/dotenv-file.js';
import { readCortexYaml } from '../config/read-cortex-yaml.js';
import type { DockerCli } from '../engine/docker-cli.js';
import {
  deployInterrupted,
  deployNotReady,
  invalidProject,
  noCortexYaml,
  stackNotOurs,
  swarmInactive,
  tooFewNodes,
  usageError,
} from '../errors.js';
import { writeContained } from '../safe-write.js';
import { LABEL_PROJECT, projectName, type DeployInput } from './common.js';
import { kubernetesFiles, renderKubernetes } from './kubernetes.js';
import { renderSwarmStack, serviceName, type SwarmInput } from './swarm.js';

export interface DeployRequest {
  project: string;
  target: 'kubernetes' | 'swarm';
  /** The image each API runs, by API name; an API not named runs `<project>-<api>:latest`. */
  images: Record<string, string>;
  /** Write the manifests or the stack file into this folder instead of applying them. */
  out: string | undefined;
  /** Swarm: the first published port; the APIs take it and the ones after. */
  firstPort: number;
  /** Swarm: publish on each node's port (mode: host), not the ingress mesh. */
  hostPorts: boolean;
  /** An existing PersistentVolumeClaim or Swarm volume holding the models. */
  modelsVolume: string | undefined;
  /** Swarm: how long to wait for every replica to be ready. */
  timeoutSeconds: number;
  /** Swarm: remove the stack this command deployed, and nothing else. */
  delete: boolean;
}

/** What a deployment is given: the docker command line, the clock, the signal, where it reports. */
export interface DeployEnvironment {
  docker: DockerCli;
  now(): Date;
  signal: AbortSignal;
  report(line: string): void;
}

export const STACK_FILE = 'docker-stack.yml';

/** The image an API runs when no --image names one: `<project>-<api>:latest`, as a build would tag it. */
export function defaultImage(project: string, api: string): string {
  return `${project}-${api}:latest`;
}

export async function deploy(cmd: DeployRequest, ctx: DeployEnvironment): Promise<void> {
  const root = path.resolve(cmd.project);
  if (!(await stat(root).catch(() => undefined))?.isDirectory())
    throw usageError(`${root} is not a folder`, 'pass the folder holding cortex.yaml');
  const stack = projectName(path.basename(root));
  const run = ctx.docker;
  if (cmd.delete) return deleteStack(stack, run, ctx);

  const apis = await readCortexYaml(root);
  if (apis === undefined) throw noCortexYaml(root);
  const unknown = Object.keys(cmd.images).filter((a) => !apis.some((api) => api.name === a));
  if (unknown.length)
    throw usageError(
      `--image names ${unknown.join(', ')}, not APIs of cortex.yaml`,
      `the APIs are: ${apis.map((a) => a.name).join(', ')}`,
    );
  const images = await pinImages(
    Object.fromEntries(apis.map((a) => [a.name, cmd.images[a.name] ?? defaultImage(stack, a.name)])),
    run,
    ctx,
  );
  const envPath = path.join(root, '.env');
  const envText = await readFile(envPath, 'utf8').catch(() => undefined);
  let envKeys: string[] = [];
  if (envText !== undefined) {
    const summary = parseDotenvFile(envText, envPath);
    if (!summary.ok) throw invalidProject(summary.errors);
    envKeys = summary.value.keys;
  }
  const input: DeployInput = { project: stack, apis, images, envKeys };

  if (cmd.target === 'kubernetes') {
    if (cmd.out === undefined)
      throw usageError('--target kubernetes writes manifests: give --out <dir>', 'then kubectl apply -f <dir>');
    const out = path.resolve(cmd.out);
    // Values are read here, for the Secret object only; nothing printed below contains them.
    const envValues = envText === undefined ? {} : parseDotenv(Buffer.from(envText));
    const kin = { ...input, envValues, modelsClaim: cmd.modelsVolume, modelsSize: '1Gi' };
    for (const f of kubernetesFiles(kin, renderKubernetes(kin))) ctx.report(await writeOutput(out, f.path, f.content));
    if (envKeys.length)
      ctx.report(
        `${stack}.yaml holds the Secret made from .env (${envKeys.join(', ')}): keep it out of version control`,
      );
    return;
  }

  const ports = Object.fromEntries(apis.map((a, i) => [a.name, cmd.firstPort + i]));
  if (cmd.firstPort + apis.length - 1 > 65535)
    throw usageError(`--port ${cmd.firstPort} leaves no room for ${apis.length} APIs`);
  const models =
    cmd.modelsVolume !== undefined ? { kind: 'volume' as const, name: cmd.modelsVolume } : await modelsFolder(root);
  const swarm = (stackDir: string): SwarmInput => ({
    ...input,
    ports,
    hostPorts: cmd.hostPorts,
    envFile: envText === undefined ? undefined : path.relative(stackDir, envPath) || '.env',
    models,
  });
  if (cmd.out !== undefined) {
    const out = path.resolve(cmd.out);
    ctx.report(await writeOutput(out, STACK_FILE, renderSwarmStack(swarm(out))));
    return;
  }

  await requireSwarm(run);
  if (cmd.hostPorts) {
    // A host port is bound once per node: more replicas than nodes would wait forever.
    const nodes = (await run(['node', 'ls', '--format', '{{.Status}} {{.Availability}}']))
      .split('\n')
      .filter((l) => l.trim() === 'Ready Active').length;
    const crowded = apis.find((a) => a.autoscaling.initReplicas > nodes);
    if (crowded) throw tooFewNodes(crowded.name, crowded.autoscaling.initReplicas, nodes);
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'cortex-s2i-stack-'));
  try {
    const file = path.join(dir, STACK_FILE);
    await writeFile(file, renderSwarmStack({ ...swarm(dir), envFile: envText === undefined ? undefined : envPath }));
    // Images named without a registry are local to the engine: asking a registry for their digest
    // would only fail (or wait on a network that is not there).
    const resolve = Object.values(images).every((ref) => ref.includes('@sha256:') || !registryQualified(ref))
      ? 'never'
      : 'always';
    ctx.report(`deploying stack ${stack}: ${apis.map((a) => `${a.name} (${images[a.name]})`).join(', ')}`);
    await run(['stack', 'deploy', '--prune', '--resolve-image', resolve, '-c', file, stack]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  await waitReady(stack, apis, images, run, ctx, cmd.timeoutSeconds);
  for (const api of apis) {
    const where = cmd.hostPorts
      ? `port ${ports[api.name]} of each node running a replica`
      : `port ${ports[api.name]} of every node`;
    ctx.report(
      `${api.name}: ready, ${api.autoscaling.initReplicas} replica${api.autoscaling.initReplicas === 1 ? '' : 's'}; answers at http://127.0.0.1:${ports[api.name]}${api.endpoint} (${where})`,
    );
  }
}

/**
 * Pins each image that was pushed to a registry to the digest the registry gave it, so that every
 * replica runs the same bytes even when the tag moves. Images that were never pushed (no repo
 * digest) or that this engine does not have are left as given.
 */
async function pinImages(
  images: Record<string, string>,
  run: DockerCli,
  ctx: DeployEnvironment,
): Promise<Record<string, string>> {
  const pinned: Record<string, string> = {};
  for (const [api, ref] of Object.entries(images)) {
    pinned[api] = ref;
    if (ref.includes('@')) continue;
    const digests = await run(['image', 'inspect', '--format', '{{json .RepoDigests}}', ref]).then(
      (out) => JSON.parse(out.trim() || '[]') as string[] | null,
      () => null,
    );
    const repo = repository(ref);
    const digest = digests?.find((d) => d.slice(0, d.indexOf('@')) === repo);
    if (digest) {
      pinned[api] = digest;
      ctx.report(`${api}: ${ref} pinned to ${digest}`);
    }
  }
  return pinned;
}

/** An image reference without its tag. */
export function repository(ref: string): string {
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  return colon > slash ? ref.slice(0, colon) : ref;
}

function registryQualified(ref: string): boolean {
  const first = ref.split('/')[0]!;
  return ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
}

async function modelsFolder(root: string): Promise<SwarmInput['models']> {
  const dir = path.join(root, 'models');
  return (await stat(dir).catch(() => undefined))?.isDirectory() ? { kind: 'bind', source: dir } : undefined;
}

async function requireSwarm(run: DockerCli): Promise<void> {
  const state = (await run(['info', '--format', '{{.Swarm.LocalNodeState}}'])).trim();
  if (state !== 'active') throw swarmInactive(state);
}

interface TaskState {
  desired: string;
  current: string;
  image: string;
}

async function tasks(run: DockerCli, service: string): Promise<TaskState[]> {
  const out = await run([
    'service',
    'ps',
    service,
    '--no-trunc',
    '--format',
    '{{.DesiredState}}\t{{.CurrentState}}\t{{.Image}}',
  ]);
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [desired = '', current = '', image = ''] = l.split('\t');
      return { desired, current, image };
    });
}

/**
 * Waits until each service runs its desired number of replicas of the new image, all Running (a
 * task with a healthcheck turns Running only once /ready answers) and no update still rolling.
 */
async function waitReady(
  stack: string,
  apis: CortexApi[],
  images: Record<string, string>,
  run: DockerCli,
  ctx: DeployEnvironment,
  seconds: number,
): Promise<void> {
  const until = ctx.now().getTime() + seconds * 1000;
  let states: string[] = [];
  for (;;) {
    if (ctx.signal.aborted) throw deployInterrupted(stack);
    states = [];
    let ready = true;
    for (const api of apis) {
      const service = serviceName(stack, api);
      const update = (
        await run(['service', 'inspect', service, '--format', '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}'])
      ).trim();
      if (update === 'rollback_completed' || update === 'paused' || update === 'rollback_paused') {
        throw deployNotReady(stack, seconds, [
          `${service}: the rolling update ended ${update}`,
          ...(await tasks(run, service)).map((t) => `${service}: ${t.current} (${t.image})`),
        ]);
      }
      const running = (await tasks(run, service)).filter((t) => t.desired === 'Running');
      const ok = running.filter((t) => t.current.startsWith('Running') && sameImage(t.image, images[api.name]!));
      states.push(
        `${service}: ${ok.length}/${api.autoscaling.initReplicas} ready${update ? `, update ${update}` : ''}`,
      );
      if (
        ok.length < api.autoscaling.initReplicas ||
        running.length !== ok.length ||
        update === 'updating' ||
        update === 'rollback_started'
      )
        ready = false;
    }
    if (ready) return;
    if (ctx.now().getTime() > until) throw deployNotReady(stack, seconds, states);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** Swarm records an image as given, or with the digest it resolved appended. */
function sameImage(taskImage: string, wanted: string): boolean {
  const bare = (ref: string) => (ref.includes('@') ? ref.slice(0, ref.indexOf('@')) : ref);
  return taskImage === wanted || bare(taskImage) === bare(wanted) || taskImage === `${bare(wanted)}:latest`;
}

/** Removes the stack, only when every service in it is one this command deployed, and waits until it is gone. */
async function deleteStack(stack: string, run: DockerCli, ctx: DeployEnvironment): Promise<void> {
  await requireSwarm(run);
  const list = async (filter: string) =>
    (await run(['service', 'ls', '--filter', filter, '--format', '{{.Name}}'])).split('\n').filter(Boolean);
  const inStack = await list(`label=com.docker.stack.namespace=${stack}`);
  if (inStack.length === 0) {
    ctx.report(`no stack ${stack} is deployed; nothing to remove`);
    return;
  }
  const ours = new Set(await list(`label=${LABEL_PROJECT}=${stack}`));
  const foreign = inStack.filter((s) => !ours.has(s));
  if (foreign.length) throw stackNotOurs(stack, foreign);
  await run(['stack', 'rm', stack]);
  // stack rm returns before the containers are gone: wait until the last one (stopped ones too)
  // is removed, so that the ports are free and the images unused again.
  const until = ctx.now().getTime() + 120_000;
  while (ctx.now().getTime() < until) {
    const left = (await run(['ps', '-a', '-q', '--filter', `label=com.docker.stack.namespace=${stack}`])).trim();
    if (left === '' && (await list(`label=com.docker.stack.namespace=${stack}`)).length === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  ctx.report(`removed stack ${stack}: ${inStack.join(', ')}`);
}

/** Rendered files go where --out says, replacing earlier renders, never through a link. */
async function writeOutput(dir: string, file: string, content: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeContained(dir, file, content, false);
  return `wrote ${path.join(dir, file)}`;
}
