// What the Kubernetes and Swarm renderings share: the server's port and drain time, the names and
// labels of what a deployment creates, and the resolution of replica counts and percentages.

import type { CortexApi } from '../config/cortex-yaml.js';

/** The predict server's port (PORT's default in the image). */
export const SERVER_PORT = 5000;
/** Where the predict image reads trained models from. */
export const MODELS_PATH = '/action/models';
/**
 * The server's GRACEFUL_TIMEOUT default (builder-image/runtime settings.py): requests in flight get this long
 * after SIGTERM. Set explicitly in what is rendered, so the grace periods below stay above it.
 */
export const GRACEFUL_TIMEOUT_SECONDS = 8;
/** Seconds the orchestrator waits beyond the drain before it kills: interpreter exit, log flush. */
export const KILL_MARGIN_SECONDS = 5;
export const LABEL_API = 'io.cortex-s2i.api';
export const LABEL_PROJECT = 'io.cortex-s2i.project';

export interface DeployInput {
  /** The project's name: a DNS-1123 label, prefix of the names of everything rendered. */
  project: string;
  apis: CortexApi[];
  /** The image each API runs, by API name. */
  images: Record<string, string>;
  /** The names of the variables in the project's .env; values are never rendered into text here. */
  envKeys: string[];
}

/** A project folder's name made into a DNS-1123 label (lower case, digits, -). */
export function projectName(folder: string): string {
  const name = folder
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .replace(/-+$/, '')
    .slice(0, 30)
    .replace(/-+$/, '');
  return name === '' ? 'cortex' : name;
}

/**
 * The environment the server reads for its concurrency and drain (never .env: that is separate),
 * and CORTEX_S2I_API: an image built from the whole cortex.yaml serves only this API here.
 */
export function serverEnv(api: CortexApi): Record<string, string> {
  return {
    ...api.predictor.env,
    CORTEX_S2I_API: api.name,
    WEB_CONCURRENCY: String(api.predictor.processesPerReplica),
    THREADS: String(api.predictor.threadsPerProcess),
    GRACEFUL_TIMEOUT: String(GRACEFUL_TIMEOUT_SECONDS),
  };
}

/** A count or percentage of `replicas`, rounded as Kubernetes rounds it (up for surge, down for unavailable). */
export function resolveCount(value: string | number, replicas: number, round: 'up' | 'down'): number {
  if (typeof value === 'number') return value;
  const share = (Number(value.slice(0, -1)) * replicas) / 100;
  return round === 'up' ? Math.ceil(share) : Math.floor(share);
}

/** The image an API runs: the one given, or an error naming what is missing. */
export function imageOf(input: DeployInput, api: CortexApi): string {
  const image = input.images[api.name];
  if (image === undefined) throw new Error(`no image for API ${api.name}`);
  return image;
}
