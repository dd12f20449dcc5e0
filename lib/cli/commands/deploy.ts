// `cortex-s2i deploy <project> --target kubernetes|swarm`: the arguments as a deployment, its
// account on stdout.

import type { DeployRequest } from '../../deploy/deploy.js';
import { ExitCode, usageError } from '../../errors.js';
import { command, readOptions } from '../command.js';

const IMAGE_REF = /^[a-z0-9]+([._/:-][a-zA-Z0-9_.-]+)*(@sha256:[a-f0-9]{64})?$/;

export default command<DeployRequest>({
  name: 'deploy',
  synopsis: ['deploy <project> --target kubernetes|swarm [options]'],
  summary: "run a Cortex project's APIs on Kubernetes (manifests) or Docker Swarm (a stack)",
  usage: `Deploys the APIs of the project's cortex.yaml. Kubernetes: writes the manifests (needs --out).
Swarm: applies the stack with docker stack deploy and waits until every replica is ready.

Options:
  --image API=REF       the image API runs (repeatable; default <project>-<api>:latest)
  --out DIR             write the manifests or stack file into DIR instead of applying them
  --port N              first published port; the APIs take N, N+1, ... (default 8000)
  --host-ports          Swarm: publish on each node's port (mode: host), not the ingress mesh
  --models-volume NAME  the models: an existing PersistentVolumeClaim or Swarm volume
  --timeout SECONDS     Swarm: how long to wait for every replica to be ready (default 300)
  --delete              Swarm: remove the stack this command deployed, and nothing else`,

  parse(args) {
    const { values, positionals } = readOptions('deploy', args, {
      target: { type: 'string' },
      image: { type: 'string', multiple: true },
      out: { type: 'string' },
      port: { type: 'string' },
      'host-ports': { type: 'boolean' },
      'models-volume': { type: 'string' },
      timeout: { type: 'string' },
      delete: { type: 'boolean' },
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
    const request: DeployRequest = {
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
    if (request.delete && target !== 'swarm')
      throw usageError('--delete removes a Swarm stack; for Kubernetes, kubectl delete -f the folder --out wrote');
    if (request.delete && request.out !== undefined) throw usageError('--delete and --out do not go together');
    return request;
  },

  async run(request, ctx) {
    const { deploy } = await import('../../deploy/deploy.js');
    await deploy(request, {
      docker: ctx.docker(),
      now: ctx.now,
      signal: ctx.signal,
      report: (line) => ctx.output.out(line),
    });
    return ExitCode.ok;
  },
});
