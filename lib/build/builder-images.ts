// The bundled builder images (`cortex-s2i builders`): builder-image/ is their context, built for
// each kind on a Python base image through the engine build way, which removes the step images
// of a build that fails.

import { ignoreRules } from '../config/ignore-rules.js';
import { listFiles } from '../config/project.js';
import type { ContextEntry } from '../context/tar.js';
import type { Engine } from '../engine/engine.js';
import { baseImageMissing } from '../errors.js';
import { packageRoot } from '../package-root.js';
import { bundledBuilderImage, type BuilderKind } from '../plan/builders.js';
import type { BuildEnvironment } from './environment.js';
import { StepClock } from './steps.js';
import { buildOnEngine } from './ways/engine-build.js';

/** Bases tried in order: the official image where it exists, else the one bootstrapped offline. */
export const BASE_CANDIDATES = ['python:3.11-slim', 'cortex-s2i/python-base:bookworm'];
const KINDS: BuilderKind[] = ['train', 'daemon'];
/** The folder of the package that holds everything the builder images are made of. */
const BUILDER_IMAGE_DIR = 'builder-image';

/** Builds every bundled builder image on `base` (default: the first of BASE_CANDIDATES the engine has). */
export async function buildBuilderImages(
  env: BuildEnvironment,
  options: { base: string | undefined; repo: string },
): Promise<Array<{ tag: string; imageId: string }>> {
  const entries = await builderContext();
  const engine = await env.engine();
  const base = await chooseBase(engine, options.base);
  const built = [];
  for (const kind of KINDS) {
    const tag = bundledBuilderImage(kind, env.toolVersion, options.repo);
    env.report({ type: 'line', text: `building builder ${tag} on ${base}` });
    const steps = new StepClock(() => env.now(), env.report, undefined);
    const { imageId } = await buildOnEngine(engine, {
      image: tag,
      entries,
      target: kind,
      buildArgs: { BASE_IMAGE: base, CORTEX_S2I_VERSION: env.toolVersion },
      signal: env.signal,
      onEvent: steps.onEvent,
    });
    steps.finish();
    env.report({ type: 'result', text: `built ${tag} (${imageId})` });
    built.push({ tag, imageId });
  }
  return built;
}

/** The builder images' context: builder-image/, the Dockerfile and what it copies in, without the runtime's tests. */
async function builderContext(): Promise<ContextEntry[]> {
  const files = await listFiles(
    packageRoot(),
    BUILDER_IMAGE_DIR,
    ignoreRules([{ base: BUILDER_IMAGE_DIR, file: 'builder-images.ts', text: 'runtime/tests/\n' }]),
  );
  return files.map((f) => ({
    name: f.path.slice(BUILDER_IMAGE_DIR.length + 1),
    from: f.abs,
    size: f.size,
    executable: f.executable,
  }));
}

async function chooseBase(engine: Engine, asked: string | undefined): Promise<string> {
  if (asked) {
    if (!(await engine.inspectImage(asked))) throw baseImageMissing([asked]);
    return asked;
  }
  for (const candidate of BASE_CANDIDATES) if (await engine.inspectImage(candidate)) return candidate;
  throw baseImageMissing(BASE_CANDIDATES);
}
