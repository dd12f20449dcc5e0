// Executes a build plan against an engine: streams the context with the rendered Dockerfile,
// follows the build and tags the image only once the engine has reported it built.

import { packContext, type ContextEntry, type PackedContext } from '../context/tar.js';
import { buildFailed, contextUnreadable, interrupted, tagFailed } from '../errors.js';
import type { BuildPlan } from '../plan/build-plan.js';
import type { RenderedDockerfile } from '../render/dockerfile.js';
import {
  BuildError,
  EngineError,
  EngineInterruptedError,
  EngineTimeoutError,
  type BuildEvent,
  type Engine,
} from './engine.js';
import { engineUserError } from './user-errors.js';

export interface BuildOutcome {
  imageId: string;
  bytesSent: number;
}

export interface ExecuteOptions {
  /** Time stamped on every context entry. */
  mtime: Date;
  compress?: boolean;
  noCache?: boolean;
  /** Images the engine may take cached steps from (--cache-from). */
  cacheFrom?: string[];
  signal?: AbortSignal;
  onEvent?: (event: BuildEvent) => void;
}

export function contextEntries(plan: BuildPlan, dockerfile: string): ContextEntry[] {
  const { setupScript, requirements, indexStage } = plan.dependencies;
  return [
    { name: 'Dockerfile', content: Buffer.from(dockerfile), size: Buffer.byteLength(dockerfile), executable: false },
    ...[...(indexStage ?? []), setupScript, requirements, ...plan.source].filter((f) => f !== undefined),
    ...plan.links.map((l) => ({ name: l.name, linkTarget: l.target, size: 0, executable: false })),
  ];
}

/**
 * Builds `plan` from its rendered Dockerfile and tags the image once the engine reports it built
 * and the tool has checked its own side of the send: a context that failed or stopped short (a
 * file that changed while it was read) tags nothing, whatever the engine made of it.
 */
export async function executePlan(
  plan: BuildPlan,
  dockerfile: RenderedDockerfile,
  engine: Engine,
  options: ExecuteOptions,
): Promise<BuildOutcome> {
  const context = packContext(contextEntries(plan, dockerfile.text), {
    mtime: options.mtime,
    compress: options.compress ?? false,
  });
  let imageId: string;
  try {
    ({ imageId } = await engine.build({
      context: context.stream,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.noCache ? { noCache: true } : {}),
      ...(options.cacheFrom?.length ? { cacheFrom: options.cacheFrom } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    }));
  } catch (err) {
    context.stream.destroy();
    await removeQuietly(engine, createdImagesOf(err));
    throw asUserError(err, plan.image, options.signal, context);
  }
  const failure = context.failure();
  if (failure || !context.ended()) {
    await removeBuilt(engine, imageId);
    throw contextUnreadable(
      plan.image,
      failure ?? new Error(`the engine finished after reading ${context.bytes()} bytes, before the end of the context`),
    );
  }
  if (options.signal?.aborted) {
    await removeBuilt(engine, imageId);
    throw interrupted(options.signal.reason);
  }
  await tagBuilt(engine, imageId, plan.image, options.signal);
  return { imageId, bytesSent: context.bytes() };
}

/** Tags the image a build made; when that fails, the image goes too (removeBuilt), and the error says so. */
export async function tagBuilt(
  engine: Engine,
  imageId: string,
  image: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  try {
    await engine.tagImage(imageId, image);
  } catch (err) {
    const removed = await removeBuilt(engine, imageId);
    if (signal?.aborted) throw interrupted(signal.reason);
    if (err instanceof EngineError)
      throw tagFailed(
        image,
        imageId,
        `${err.message}${err.statusCode === undefined ? '' : ` (HTTP ${err.statusCode})`}`,
        removed,
      );
    throw engineUserError(err) ?? err;
  }
}

/** Step images the engine committed for a build that did not finish, whichever way it ended. */
function createdImagesOf(err: unknown): string[] {
  if (err instanceof BuildError || err instanceof EngineTimeoutError || err instanceof EngineInterruptedError)
    return err.createdImages;
  return [];
}

/**
 * Removes an image a build made but the tool will not tag, so that nothing untagged is left
 * behind; an image some tag already names existed before this build and is kept. Reports
 * whether the image is gone.
 */
async function removeBuilt(engine: Engine, imageId: string): Promise<boolean> {
  try {
    const info = await engine.inspectImage(imageId);
    if (!info) return true;
    if (info.tags.length > 0) return false;
    await engine.removeImage(imageId);
    return true;
  } catch {
    return false;
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
export function asUserError(
  err: unknown,
  image: string,
  signal: AbortSignal | undefined,
  context: PackedContext,
): unknown {
  if (signal?.aborted) return interrupted(signal.reason);
  // A context that failed to stream fails the request too; the context's reason is the real one.
  const failure = context.failure();
  if (failure) return contextUnreadable(image, failure);
  if (err instanceof BuildError && !err.malformed) return buildFailed(image, err.message, err.lastLines);
  return engineUserError(err, signal) ?? err;
}
