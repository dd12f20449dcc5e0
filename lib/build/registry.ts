// Pushes and pulls through the engine with the user's registry credentials, and turns a registry's
// refusal into the one error a user can act on: down, unknown host, credentials, or the engine's
// reason. Also brings in the images a build takes cached steps from (--cache-from).

import { registryOf, repositoryOf } from '../config/docker-config.js';
import { credentialsFor, type CredentialOptions, type FoundCredentials } from '../engine/credentials.js';
import { EngineError, RegistryError, type Engine } from '../engine/engine.js';
import { diagnoseRegistry } from '../engine/registry-probe.js';
import {
  CortexError,
  ExitCode,
  imageNotFound,
  registryDown,
  registryFailed,
  registryNeedsCredentials,
  registryRefusedCredentials,
  registryUnknown,
} from '../errors.js';

/** What reaching a registry takes: where the credentials are, and the signal that stops a transfer. */
export interface RegistryAccess {
  credentials: CredentialOptions;
  signal: AbortSignal;
}

export interface PushedImage {
  /** The tag that was pushed (`registry:5000/team/model:1`). */
  tag: string;
  digest: string;
  /** `registry:5000/team/model@sha256:…`: what a later step pins. */
  reference: string;
}

export async function pushTag(access: RegistryAccess, engine: Engine, ref: string): Promise<PushedImage> {
  // Asked first: the engine reports a missing image inside the push stream, like a registry's refusal.
  if (!(await engine.inspectImage(ref))) throw imageNotFound(ref);
  const registry = registryOf(ref);
  const creds = await credentialsFor(registry, access.credentials);
  try {
    const { digest } = await engine.pushImage(ref, {
      ...(creds.auth ? { auth: creds.auth } : {}),
      signal: access.signal,
    });
    return { tag: ref, digest, reference: `${repositoryOf(ref)}@${digest}` };
  } catch (err) {
    if (err instanceof EngineError && err.statusCode === 404) throw imageNotFound(ref);
    throw await registryRefusal(access, err, ref, registry, creds);
  }
}

/** Pulls `ref`; a refusal is the same user error as for a push. */
export async function pullImage(access: RegistryAccess, engine: Engine, ref: string): Promise<void> {
  const registry = registryOf(ref);
  const creds = await credentialsFor(registry, access.credentials);
  try {
    await engine.pullImage(ref, { ...(creds.auth ? { auth: creds.auth } : {}), signal: access.signal });
  } catch (err) {
    throw await registryRefusal(access, err, ref, registry, creds);
  }
}

async function registryRefusal(
  access: RegistryAccess,
  err: unknown,
  ref: string,
  registry: string,
  creds: FoundCredentials,
): Promise<unknown> {
  if (access.signal.aborted)
    return new CortexError(`interrupted; ${ref} was not transferred`, { exitCode: ExitCode.interrupted });
  // The engine reports a registry's refusal inside the stream, or as a 500 before it; either way
  // its message mixes every cause, so the registry itself is asked why.
  const fromEngine =
    err instanceof RegistryError || (err instanceof EngineError && (err.statusCode === 500 || err.statusCode === 404));
  if (!fromEngine) return err;
  switch (await diagnoseRegistry(registry, creds.auth)) {
    case 'down':
      return registryDown(registry, ref);
    case 'unknown-host':
      return registryUnknown(registry, ref);
    case 'refused-credentials':
      return registryRefusedCredentials(registry, creds.source);
    case 'needs-credentials':
      return registryNeedsCredentials(registry, creds.source);
    default:
      return registryFailed(ref, (err as Error).message);
  }
}

/**
 * The images the engine may take cached steps from: each --cache-from image, pulled when it is not
 * on the engine, and the image's own previous build when there is one (with cache sources given,
 * the engine takes cached steps only from images descending from them). An image that cannot be
 * pulled is a warning: a pipeline's first run has no earlier build to reuse.
 */
export async function prepareCacheFrom(
  env: RegistryAccess & { report(event: { type: 'line' | 'warning'; text: string }): void },
  engine: Engine,
  cacheFrom: string[],
  image: string,
): Promise<{ sources: string[]; warnings: string[] }> {
  const sources: string[] = [];
  const warnings: string[] = [];
  if (!cacheFrom.length) return { sources, warnings };
  for (const ref of cacheFrom) {
    if (!(await engine.inspectImage(ref))) {
      env.report({ type: 'line', text: `pulling ${ref} for its cached layers` });
      try {
        await pullImage(env, engine, ref);
      } catch (err) {
        if (env.signal.aborted) throw err;
        warnings.push(`--cache-from ${ref}: not used (${(err as Error).message})`);
        env.report({ type: 'warning', text: warnings.at(-1)! });
        continue;
      }
    }
    sources.push(ref);
  }
  if (!sources.includes(image) && (await engine.inspectImage(image))) sources.push(image);
  return { sources, warnings };
}
