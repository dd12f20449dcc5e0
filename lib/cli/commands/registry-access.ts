// Pushes and pulls through the engine with the user's registry credentials, and turns a registry's
// refusal into the one error a user can act on: down, unknown host, credentials, or the engine's reason.

import { registryOf, repositoryOf } from '../../config/docker-config.js';
import { credentialsFor, type FoundCredentials } from '../../engine/credentials.js';
import { EngineError, RegistryError, type Engine } from '../../engine/engine.js';
import { diagnoseRegistry } from '../../engine/registry-probe.js';
import {
  CortexError,
  ExitCode,
  imageNotFound,
  registryDown,
  registryFailed,
  registryNeedsCredentials,
  registryRefusedCredentials,
  registryUnknown,
} from '../../errors.js';
import type { CommandContext } from '../context.js';

function credentialOptions(ctx: CommandContext) {
  // Only main() builds a context for a command that pushes or pulls, and it always sets these.
  if (!ctx.credentials) throw new Error('registry access needs the credential options of the command context');
  return ctx.credentials;
}

export interface PushedImage {
  /** The tag that was pushed (`registry:5000/team/model:1`). */
  tag: string;
  digest: string;
  /** `registry:5000/team/model@sha256:…`: what a later step pins. */
  reference: string;
}

export async function pushTag(ctx: CommandContext, engine: Engine, ref: string): Promise<PushedImage> {
  // Asked first: the engine reports a missing image inside the push stream, like a registry's refusal.
  if (!(await engine.inspectImage(ref))) throw imageNotFound(ref);
  const registry = registryOf(ref);
  const creds = await credentialsFor(registry, credentialOptions(ctx));
  try {
    const { digest } = await engine.pushImage(ref, { ...(creds.auth ? { auth: creds.auth } : {}), signal: ctx.signal });
    return { tag: ref, digest, reference: `${repositoryOf(ref)}@${digest}` };
  } catch (err) {
    if (err instanceof EngineError && err.statusCode === 404) throw imageNotFound(ref);
    throw await registryRefusal(ctx, err, ref, registry, creds);
  }
}

/** Pulls `ref`; a refusal is the same user error as for a push. */
export async function pullImage(ctx: CommandContext, engine: Engine, ref: string): Promise<void> {
  const registry = registryOf(ref);
  const creds = await credentialsFor(registry, credentialOptions(ctx));
  try {
    await engine.pullImage(ref, { ...(creds.auth ? { auth: creds.auth } : {}), signal: ctx.signal });
  } catch (err) {
    throw await registryRefusal(ctx, err, ref, registry, creds);
  }
}

async function registryRefusal(
  ctx: CommandContext,
  err: unknown,
  ref: string,
  registry: string,
  creds: FoundCredentials,
): Promise<unknown> {
  if (ctx.signal.aborted)
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
