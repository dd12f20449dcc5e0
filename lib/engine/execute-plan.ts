// Executes a build plan against an engine: streams the context with the rendered Dockerfile,
// follows the build and tags the image only once the engine has reported it built.

import { packContext, type ContextEntry, type PackedContext } from '../context/tar.js';
import { buildFailed, contextUnreadable, engineUnreachable, interrupted } from '../errors.js';
import type { BuildPlan } from '../plan/build-plan.js';
import type { RenderedDockerfile } from '../render/dockerfile.js';
import { BuildError, EngineError, EngineUnreachableError, type BuildEvent, type Engine } from './engine.js';

export interface BuildOutcome {
  imageId: string;
  bytesSent: number;
}

export interface ExecuteOptions {
  /** Time stamped on every context entry. */
  mtime: Date;
  compress?: boolean;
  noCache?: boolean;
  signal?: AbortSignal;
  onEvent?: (event: BuildEvent) => void;
}

export function contextEntries(plan: BuildPlan, dockerfile: string): ContextEntry[] {
  const { setupScript, requirements, indexStage } = plan.dependencies;
  return [
    { name: 'Dockerfile', content: Buffer.from(dockerfile), size: Buffer.byteLength(dockerfile), executable: false },
    ...[...(indexStage ?? []), setupScript, requirements, ...plan.source].filter((f) => f !== undefined),
  ];
}

/** Builds `plan` from its rendered Dockerfile and tags the image once the engine reports it built. */
export async function executePlan(plan: BuildPlan, dockerfile: RenderedDockerfile, engine: Engine, options: ExecuteOptions): Promise<BuildOutcome> {
  const context = packContext(contextEntries(plan, dockerfile.text), { mtime: options.mtime, compress: options.compress ?? false });
  try {
    const { imageId } = await engine.build({
      context: context.stream,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.noCache ? { noCache: true } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    });
    if (options.signal?.aborted) throw interrupted();
    await engine.tagImage(imageId, plan.image);
    return {
      imageId,
      bytesSent: context.bytes(),
    };
  } catch (err) {
    context.stream.destroy();
    if (err instanceof BuildError) await removeQuietly(engine, err.createdImages);
    throw asUserError(err, plan.image, options.signal, context);
  }
}

/**
 * Removes a failed build's step images, newest first (each is the parent of the next). Best
 * effort: the build's own error is what the user needs to see, not a failure to tidy up.
 */
async function removeQuietly(engine: Engine, images: string[]): Promise<void> {
  for (const id of [...images].reverse()) {
    // After an interrupted build the engine is still removing the cancelled step's container,
    // whose image it is: that is a 409 conflict for a moment.
    for (let waited = 0; ; waited += CONFLICT_RETRY_MS) {
      try {
        await engine.removeImage(id);
        break;
      } catch (err) {
        if (!(err instanceof EngineError && err.statusCode === 409) || waited >= CONFLICT_WAIT_MS) break;
        await new Promise((resolve) => setTimeout(resolve, CONFLICT_RETRY_MS));
      }
    }
  }
}

const CONFLICT_RETRY_MS = 200;
const CONFLICT_WAIT_MS = 5000;

/** The error a user can act on for a failed build; the engine's own error otherwise. */
export function asUserError(err: unknown, image: string, signal: AbortSignal | undefined, context: PackedContext): unknown {
  if (signal?.aborted) return interrupted();
  // A context that failed to stream fails the request too; the context's reason is the real one.
  const failure = context.failure();
  if (failure) return contextUnreadable(image, failure);
  if (err instanceof EngineUnreachableError) return engineUnreachable(err.address, err);
  if (err instanceof BuildError) return buildFailed(image, err.message, err.lastLines);
  return err;
}
