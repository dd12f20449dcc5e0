// The way that builds: the engine builds the rendered Dockerfile from the context it is sent, and
// the image is tagged only once the engine has reported it built and the tool has checked its own
// side of the send. Whatever way a build fails, the step images it made are removed. The bundled
// builder images (builder-images.ts) are built the same way.

import { packContext, type ContextEntry, type PackedContext } from '../../context/tar.js';
import {
  BuildError,
  EngineError,
  EngineInterruptedError,
  EngineTimeoutError,
  type BuildEvent,
  type Engine,
} from '../../engine/engine.js';
import { engineUserError } from '../../engine/user-errors.js';
import { buildFailed, contextUnreadable, formatProblem, interrupted, tagFailed } from '../../errors.js';
import { madeLine, sentLine } from '../account.js';
import { contextEntries } from '../context.js';
import { ImportCheckReport } from '../import-check.js';
import { prepareCacheFrom } from '../registry.js';
import { requirementsFailure } from '../requirements-failure.js';
import { StepClock } from '../steps.js';
import { describeSourceBase, sourceBaseKey } from './source-layer.js';
import type { Planned, Way } from './way.js';

export const engineBuild: Way<Planned, true> = {
  name: 'engine build',

  // The engine can always be asked to build: it is the way every other one falls back on.
  async can() {
    return true;
  },

  async make(build) {
    const { env, plan, dockerfile, request } = build;
    const engine = await build.engine();
    const builderId = await build.builderId();
    const cacheFrom = await prepareCacheFrom(env, engine, request.make.cacheFrom, plan.image);
    env.report({ type: 'line', text: `building ${plan.image}` });
    const steps = new StepClock(() => env.now(), env.report, dockerfile.dependencyStep);
    const importCheck = new ImportCheckReport(plan);
    const logLines: string[] = [];
    const outcome = await buildOnEngine(engine, {
      image: plan.image,
      entries: contextEntries(plan, dockerfile.text),
      mtime: build.mtime,
      noCache: request.make.noCache,
      compress: request.make.compress,
      ...(cacheFrom.sources.length ? { cacheFrom: cacheFrom.sources } : {}),
      signal: env.signal,
      onEvent: (event) => {
        if (event.type === 'log') logLines.push(event.text);
        importCheck.onEvent(event);
        steps.onEvent(event);
      },
    }).catch((err: unknown) => {
      const requirementsFile = plan.dependencies.requirements
        ? Object.values(build.source.project.requirements).find((r) => r.file === plan.dependencies.requirements!.from)
        : undefined;
      throw importCheck.failure(err) ?? requirementsFailure(plan.image, err, requirementsFile, logLines) ?? err;
    });
    for (const w of importCheck.warnings()) env.report({ type: 'warning', text: formatProblem(w) });
    steps.finish();
    const seconds = (env.now().getTime() - build.started) / 1000;
    env.report({ type: 'line', text: sentLine(outcome.bytesSent, plan.sourceBytes) });
    env.report({ type: 'result', text: madeLine(plan.image, outcome.imageId, seconds, false) });
    // What the next rebuild of the source alone goes on (source-layer.ts), when the engine shows it for certain.
    const key = build.cache ? sourceBaseKey(dockerfile, plan, builderId) : undefined;
    const base =
      key === undefined
        ? undefined
        : await describeSourceBase(engine, outcome.imageId, key, plan, build.mtime, build.record?.base).catch(
            () => undefined,
          );
    return {
      kind: 'image',
      way: engineBuild.name,
      how: 'built',
      image: plan.image,
      imageId: outcome.imageId,
      bytesSent: outcome.bytesSent,
      sourceBytes: plan.sourceBytes,
      seconds,
      steps: steps.finished,
      cacheFrom: cacheFrom.sources,
      warnings: [...plan.warnings.map(formatProblem), ...cacheFrom.warnings],
      record: { builderId, base },
    };
  },
};

export interface EngineBuildOptions {
  /** The image to tag: only once the engine has built it and the whole context was sent. */
  image: string;
  entries: ContextEntry[];
  /** Time stamped on every context entry. */
  mtime?: Date;
  compress?: boolean;
  noCache?: boolean;
  /** Multi-stage target, for the builder images. */
  target?: string;
  buildArgs?: Record<string, string>;
  /** Images the engine may take cached steps from (--cache-from). */
  cacheFrom?: string[];
  signal?: AbortSignal;
  onEvent?: (event: BuildEvent) => void;
}

/**
 * Builds the context of `entries` and tags the image once the engine reports it built and the
 * tool has checked its own side of the send: a context that failed or stopped short (a file that
 * changed while it was read) tags nothing, whatever the engine made of it.
 */
export async function buildOnEngine(
  engine: Engine,
  options: EngineBuildOptions,
): Promise<{ imageId: string; bytesSent: number }> {
  const context = packContext(options.entries, {
    ...(options.mtime ? { mtime: options.mtime } : {}),
    compress: options.compress ?? false,
  });
  let imageId: string;
  try {
    ({ imageId } = await engine.build({
      context: context.stream,
      ...(options.target ? { target: options.target } : {}),
      ...(options.buildArgs ? { buildArgs: options.buildArgs } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.noCache ? { noCache: true } : {}),
      ...(options.cacheFrom?.length ? { cacheFrom: options.cacheFrom } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    }));
  } catch (err) {
    context.stream.destroy();
    await removeQuietly(engine, createdImagesOf(err));
    throw asUserError(err, options.image, options.signal, context);
  }
  const failure = context.failure();
  if (failure || !context.ended()) {
    await removeBuilt(engine, imageId);
    throw contextUnreadable(
      options.image,
      failure ?? new Error(`the engine finished after reading ${context.bytes()} bytes, before the end of the context`),
    );
  }
  if (options.signal?.aborted) {
    await removeBuilt(engine, imageId);
    throw interrupted(options.signal.reason);
  }
  await tagBuilt(engine, imageId, options.image, options.signal);
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
