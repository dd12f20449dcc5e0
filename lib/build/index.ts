// The build, as the command line and the library both run it: read the project, plan the image,
// render its Dockerfile, pick a way of making it, make it, record what it was made from, publish
// it. Each way of making an image is a file of ways/; this file is the order they come in.

import { revisionStamp } from '../config/git.js';
import { scanModel } from '../config/scan.js';
import { DEFAULT_MTIME } from '../context/tar.js';
import { engineUserError } from '../engine/user-errors.js';
import { formatProblem, invalidProject, unknownBuilder } from '../errors.js';
import { describePlan } from '../plan/describe.js';
import { renderDockerfile } from '../render/dockerfile.js';
import type { DockerfileFolder } from './account.js';
import { BuildCache, buildIdentity, recordOf } from './cache.js';
import type { BuildEnvironment } from './environment.js';
import { publish, type BuildReport, type PushedImage } from './publish.js';
import { readSource } from './read.js';
import { builderImageOf, type BuildRequest } from './request.js';
import { dockerfileFolder } from './ways/dockerfile-folder.js';
import { dryRun } from './ways/dry-run.js';
import { engineBuild } from './ways/engine-build.js';
import { sourceLayer } from './ways/source-layer.js';
import { upToDate } from './ways/up-to-date.js';
import type { Looked, Made, MadeImage, Planned, Way } from './ways/way.js';

export type { BuildEnvironment, BuildEvent, FinishedStep } from './environment.js';
export type { BuildRequest, ImageRequest, MakeOptions } from './request.js';
export type { BuildReport, PushedImage } from './publish.js';

/** What a build ended with: an image on the engine (and its report), a dry run's answer, or a written folder. */
export type BuildOutcome =
  | { kind: 'image'; how: MadeImage['how']; way: string; report: BuildReport; pushed: PushedImage[] }
  | { kind: 'dry-run'; image: string; dockerfile: string; plan: string[]; warnings: string[] }
  | ({ kind: 'dockerfile-folder'; warnings: string[] } & DockerfileFolder);

/**
 * The ways of making an image once it is planned, in the order they are asked: the first that
 * can, makes it. The engine's build can always; the others make less, or nothing. (The way that
 * finds the image up to date is asked before the project is read: it needs only a first look.)
 */
const WAYS: ReadonlyArray<Way<Planned, unknown>> = [dryRun, dockerfileFolder, sourceLayer, engineBuild];

export async function build(request: BuildRequest, env: BuildEnvironment): Promise<BuildOutcome> {
  try {
    // A first look at the folder, held against what the build cache remembers of this image: a
    // rebuild with nothing changed is answered here, before a source file is read.
    const looked = await look(request, env);
    const current = await upToDate.can(looked);
    if (current) return await finish(looked, (await upToDate.make(looked, current))!);

    // Read the project, plan the image, render its Dockerfile.
    const source = await readSource(looked);
    const planRequest = {
      project: source.project,
      image: request.image.name,
      builder: source.builder,
      extraEnv: request.image.env,
      revision: source.revision,
      created: source.created,
      toolVersion: env.toolVersion,
    };
    const planned = source.served.style.plan(planRequest, source.served.declared);
    if (!planned.ok) throw invalidProject(planned.errors);
    const plan = planned.value;
    const planLines = describePlan(plan);
    for (const text of planLines) env.report({ type: 'line', text });
    for (const w of plan.warnings) env.report({ type: 'warning', text: formatProblem(w) });
    const dockerfile = renderDockerfile(plan, env.toolVersion);
    const epoch = request.image.sourceDateEpoch;
    const build: Planned = {
      ...looked,
      source,
      plan,
      planLines,
      dockerfile,
      mtime: epoch === undefined ? DEFAULT_MTIME : new Date(epoch * 1000),
    };

    // Pick a way and make the image; record what it was made from; publish it.
    return await finish(build, await make(build));
  } catch (err) {
    throw engineUserError(err, env.signal) ?? err;
  }
}

/** The first way that can make the image, and what it made. */
async function make(build: Planned): Promise<Made> {
  for (const way of WAYS) {
    const found = await way.can(build);
    if (found === undefined) continue;
    const made = await way.make(build, found);
    if (made) return made;
  }
  throw new Error('no way made the image: the engine build always does');
}

/** Records an image a way made in the build cache, and publishes it; anything else is the outcome as made. */
async function finish(build: Looked | Planned, made: Made): Promise<BuildOutcome> {
  if (made.kind !== 'image') return made;
  const { env, cache, request } = build;
  const inputs = 'source' in build ? build.source.inputs : undefined;
  if (cache && inputs && made.record) {
    await cache.save(
      request.image.name,
      recordOf(inputs, await build.identity(), {
        imageId: made.imageId,
        builderId: made.record.builderId,
        at: env.now().getTime(),
        base: made.record.base,
      }),
    );
  }
  const { report, pushed } = await publish(env, await build.engine(), request.make, made);
  return { kind: 'image', how: made.how, way: made.way, report, pushed };
}

/** The build before its project is read: the cache, its record of this image, a first look at the folder. */
async function look(request: BuildRequest, env: BuildEnvironment): Promise<Looked> {
  const started = env.now().getTime();
  const { source, name } = request.image;
  const makesImage = !request.make.dryRun && request.make.asDockerfile === undefined;
  // A build that will talk to the engine starts loading its adapter now, so that the loading
  // overlaps the reading of files and git rather than following it.
  if (makesImage) void import('../engine/docker-engine.js').catch(() => undefined);
  // What git would say of the commit, from the repository's files: no git process to start.
  const revision = revisionStamp(source).catch(() => 'unreadable');
  const cache = makesImage ? await BuildCache.open(source) : undefined;
  const record = cache?.record(name);
  const firstLook =
    record && !request.make.noCache
      ? await scanModel(source, env.home === undefined ? {} : { home: env.home }).catch(() => undefined)
      : undefined;
  const builderImage = builderImageOf(request.image, env.toolVersion);
  const engine = once(env.engine);
  const builderId = once(async () => {
    const info = await (await engine()).inspectImage(builderImage);
    if (!info) throw unknownBuilder(builderImage);
    return info.id;
  });
  return {
    request,
    env,
    started,
    builderImage,
    cache,
    record,
    firstLook,
    identity: once(async () => buildIdentity(request.image, env.toolVersion, await revision)),
    engine,
    builderId,
  };
}

/** `fn`, called once: later calls get the first call's promise. */
function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let result: Promise<T> | undefined;
  return () => (result ??= fn());
}
