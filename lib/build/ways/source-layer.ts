// The way that makes the source layer alone: a rebuild after only the source changed, without a
// build. The bundled builders' Dockerfile ends with the source step and the labels; when everything before the source step is what the
// last build built it from (the same lines, the same dependency files, the same builder image),
// the engine would take every one of those steps from its cache and run two: the copy, and the
// labels, which it commits through a container of their own. Instead the new image is made
// here, as the engine would have it: the image the last build put the source on, one layer with
// the source, the labels. It goes to the engine as an image archive holding that layer alone
// (context/image-archive.ts), which the engine takes in one request, with no step and no container.
//
// The image the source goes on is found through the engine, never from the cache alone: it must
// be the base of the image that carries the name now, which must be the one the last build made.
// Whenever anything is not so, or the engine will not load such an archive, the build builds.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { historySteps, imageArchive, newLayer, stepsToCount } from '../image-archive.js';
import { packContext } from '../../context/tar.js';
import { EngineError, type Engine, type HistoryItem, type ImageConfig } from '../../engine/engine.js';
import { contextUnreadable, formatProblem, interrupted } from '../../errors.js';
import type { BuildPlan } from '../../plan/plan.js';
import type { RenderedDockerfile } from '../../render/dockerfile.js';
import { compare } from '../../text.js';
import { madeLine, sentLine } from '../account.js';
import type { BuildRecord, SourceBase } from '../cache.js';
import { contextEntries } from '../context.js';
import { tagBuilt } from './engine-build.js';
import { answerUpToDate } from './up-to-date.js';
import type { Planned, Way } from './way.js';

/**
 * A bigger source layer goes through a build: the archive needs the layer's digest before the
 * layer is sent, so the layer is held in memory.
 */
const MAX_LAYER_BYTES = 64 * 1024 * 1024;

/**
 * The digest of everything that makes the image the source goes on: the Dockerfile's lines
 * before the source step, the files those lines copy (setup.sh, requirements), the builder image.
 * Undefined for a Dockerfile that does not end with the source step and the labels, and when
 * the requirements carry index credentials.
 */
export function sourceBaseKey(dockerfile: RenderedDockerfile, plan: BuildPlan, builderId: string): string | undefined {
  // A requirements file with index credentials is never digested into the cache, not even hashed.
  if (dockerfile.beforeSource === undefined || plan.dependencies.indexStage) return undefined;
  const hash = createHash('sha256').update(builderId).update('\0').update(dockerfile.beforeSource);
  for (const e of contextEntries(plan, '')) {
    if (e.name === 'Dockerfile' || e.name.startsWith(`${plan.sourceDir}/`)) continue;
    const content = e.content ?? (e.from !== undefined ? readFileSync(e.from) : Buffer.from(e.linkTarget ?? ''));
    hash.update(`\0${e.name}\0${e.executable}\0${e.linkTarget ?? ''}\0${content.length}\0`).update(content);
  }
  return `sha256:${hash.digest('hex')}`;
}

/**
 * After a build of the whole Dockerfile: the image its source step went on, for the next rebuild
 * of the source alone. Undefined when the engine does not show it for certain.
 */
export async function describeSourceBase(
  engine: Engine,
  imageId: string,
  key: string,
  plan: BuildPlan,
  mtime: Date,
  previous: SourceBase | undefined,
): Promise<SourceBase | undefined> {
  const labelled = await engine.imageConfig(imageId);
  const copied = labelled?.parent ? await engine.imageConfig(labelled.parent) : undefined;
  const base = copied?.parent ? await engine.imageConfig(copied.parent) : undefined;
  if (!labelled || !copied || !base || !addsOneLayer(base, copied) || labelled.layers.length !== copied.layers.length)
    return undefined;
  // The same base as recorded (the engine's cache gave the same image): its history is known.
  const emptyLayers =
    previous?.id === base.id && previous.key === key ? previous.emptyLayers : await emptyLayersOf(engine, base);
  const layer = emptyLayers && (await packSourceLayer(plan, mtime));
  return emptyLayers && layer && { key, id: base.id, emptyLayers, layer: newLayer(layer).diffId };
}

/** For each step of the image's history, oldest first, whether it made no layer (context/image-archive.ts historySteps). */
async function emptyLayersOf(engine: Engine, image: ImageConfig): Promise<boolean[] | undefined> {
  const history = (await engine.imageHistory(image.id)).reverse();
  const counted = await Promise.all(
    stepsToCount(history).map(async (id) => [id, (await engine.imageConfig(id))?.layers.length] as const),
  );
  const layersOf = new Map(counted.filter((c): c is readonly [string, number] => c[1] !== undefined));
  return historySteps(history, image.layers.length, layersOf)?.map((s) => s.emptyLayer);
}

export interface SourceRebuild {
  imageId: string;
  bytesSent: number;
  /** The image the source went on. */
  base: string;
  /**
   * The image that carries the name was made from this very source layer and has these labels:
   * the source is what it was (only a file time, or a file left out of the image, changed).
   * Nothing was sent, and the image is the one there.
   */
  unchanged: boolean;
  /** What to record for the next rebuild. */
  recorded: SourceBase;
}

/** What the engine has under the image's name, and the recorded base with its history. */
export interface SeenBase {
  named: ImageConfig | undefined;
  parent: ImageConfig | undefined;
  history: HistoryItem[] | undefined;
}

/** Asks the engine for what rebuildSource checks, at once: asked early, the answers overlap other work. */
export async function lookAtBase(engine: Engine, image: string, base: SourceBase): Promise<SeenBase> {
  const [named, parent, history] = await Promise.all([
    engine.imageConfig(image),
    engine.imageConfig(base.id),
    engine.imageHistory(base.id).catch(() => undefined),
  ]);
  return { named, parent, history };
}

/**
 * Makes the image `plan.image` from the recorded base and the plan's source, and tags it.
 * Undefined when the base is not what the last build left, or the engine will not load the
 * archive: the caller then builds. Rejects like a build (interrupted, tag failed).
 */
export async function rebuildSource(
  engine: Engine,
  plan: BuildPlan,
  dockerfile: RenderedDockerfile,
  record: BuildRecord,
  base: SourceBase,
  seen: SeenBase | undefined,
  options: { mtime: Date; compress: boolean; signal?: AbortSignal | undefined },
): Promise<SourceRebuild | undefined> {
  const { named, parent, history } = seen ?? {};
  if (
    !named ||
    !parent ||
    !history ||
    named.id !== record.id ||
    !addsOneLayer(parent, named) ||
    !sameRuntime(parent, named)
  )
    return undefined;
  if (history.length !== base.emptyLayers.length) return undefined;
  const baseHistory = [...history].reverse().map((h, i) => ({
    created: h.created,
    createdBy: h.createdBy,
    comment: h.comment,
    emptyLayer: base.emptyLayers[i]!,
  }));
  if (baseHistory.filter((h) => !h.emptyLayer).length !== parent.layers.length) return undefined;

  const layerTar = await packSourceLayer(plan, options.mtime).catch((err: unknown) => {
    throw contextUnreadable(plan.image, err as Error);
  });
  if (!layerTar) return undefined;
  const layer = newLayer(layerTar);
  const recorded = { ...base, layer: layer.diffId };
  if (base.layer === layer.diffId && sameLabels(named, { ...labelsOf(parent), ...Object.fromEntries(plan.labels) })) {
    return { imageId: named.id, bytesSent: 0, base: parent.id, unchanged: true, recorded };
  }
  const labelStep = dockerfile.text.trimEnd().split('\n').at(-1)!;
  const { archive } = await imageArchive({
    base: parent,
    baseHistory,
    layer,
    created: plan.labels.find(([k]) => k === CREATED_LABEL)?.[1] ?? new Date(options.mtime).toISOString(),
    labels: plan.labels,
    layerStep: `COPY ${plan.sourceDir}/ / # cortex-s2i: the source layer alone, on the image built before it`,
    labelStep,
  });
  // Level 1, as for a context: nearly all of gzip's gain on source text, quickly.
  const body = options.compress ? gzipSync(archive, { level: 1 }) : archive;
  let imageId: string;
  try {
    imageId = await engine.loadImage(body, options.signal);
  } catch (err) {
    if (options.signal?.aborted) throw interrupted(options.signal.reason);
    // An engine that wants every layer in an archive (Podman, containerd's image store).
    if (err instanceof EngineError) return undefined;
    throw err;
  }
  await tagBuilt(engine, imageId, plan.image, options.signal);
  return { imageId, bytesSent: body.length, base: parent.id, unchanged: false, recorded };
}

const CREATED_LABEL = 'org.opencontainers.image.created';

/** `upper` is `lower` with one more layer on top. */
function addsOneLayer(lower: ImageConfig, upper: ImageConfig): boolean {
  return upper.layers.length === lower.layers.length + 1 && lower.layers.every((l, i) => upper.layers[i] === l);
}

function labelsOf(image: ImageConfig): Record<string, unknown> {
  return (image.config.Labels ?? {}) as Record<string, unknown>;
}

function sameLabels(image: ImageConfig, labels: Record<string, unknown>): boolean {
  const sorted = (l: Record<string, unknown>) => JSON.stringify(Object.entries(l).sort(([a], [b]) => compare(a, b)));
  return sorted(labelsOf(image)) === sorted(labels);
}

/** What a container of each image would run, and how: the same, labels apart. */
function sameRuntime(a: ImageConfig, b: ImageConfig): boolean {
  const runtime = (c: ImageConfig) =>
    JSON.stringify(
      ['Env', 'Cmd', 'Entrypoint', 'User', 'WorkingDir', 'ExposedPorts', 'Volumes'].map((k) => c.config[k] ?? null),
    );
  return runtime(a) === runtime(b);
}

/**
 * The source layer's tar: the context's source folder as the source step copies it to the
 * image's root, with the same times, owners and modes. Undefined when it is too big to hold.
 */
async function packSourceLayer(plan: BuildPlan, mtime: Date): Promise<Buffer | undefined> {
  const prefix = `${plan.sourceDir}/`;
  const entries = contextEntries(plan, '')
    .filter((e) => e.name.startsWith(prefix))
    .map((e) => ({ ...e, name: e.name.slice(prefix.length) }));
  const packed = packContext(entries, { mtime });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of packed.stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_LAYER_BYTES) {
      packed.stream.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  const failure = packed.failure();
  if (failure) throw failure;
  return Buffer.concat(chunks);
}

export const sourceLayer: Way<Planned, { record: BuildRecord; base: SourceBase; seen: Promise<SeenBase | undefined> }> =
  {
    name: 'source layer',

    /**
     * When the last build recorded the image its source step went on, the same Dockerfile lines
     * before the source step (the key) may go on it. Whether the engine agrees is for make to see.
     */
    async can(build) {
      const { record, cache, request } = build;
      const base = record?.base;
      if (!cache || !record || !base || request.make.noCache || request.make.cacheFrom.length) return undefined;
      const engine = await build.engine();
      // Asked at once: the answers come while the builder is inspected.
      const seen = lookAtBase(engine, build.plan.image, base).catch(() => undefined);
      if (sourceBaseKey(build.dockerfile, build.plan, await build.builderId()) !== base.key) return undefined;
      return { record, base, seen };
    },

    async make(build, { record, base, seen }) {
      const { env, plan } = build;
      const engine = await build.engine();
      const rebuilt = await rebuildSource(engine, plan, build.dockerfile, record, base, await seen, {
        mtime: build.mtime,
        compress: build.request.make.compress,
        signal: env.signal,
      });
      if (!rebuilt) return undefined;
      const made = { builderId: await build.builderId(), base: rebuilt.recorded };
      if (rebuilt.unchanged) {
        const answer = answerUpToDate(
          build,
          rebuilt.imageId,
          'what goes into the image is what it has: the same source layer and labels',
        );
        return { ...answer, way: sourceLayer.name, record: made };
      }
      const seconds = (env.now().getTime() - build.started) / 1000;
      env.report({ type: 'line', text: `building ${plan.image}` });
      env.report({
        type: 'line',
        text: `  source        ${plan.source.length} files onto ${rebuilt.base.slice(0, 19)}, as the last build's source step: nothing before it changed`,
      });
      env.report({ type: 'line', text: sentLine(rebuilt.bytesSent, plan.sourceBytes) });
      env.report({ type: 'result', text: madeLine(plan.image, rebuilt.imageId, seconds, false) });
      return {
        kind: 'image',
        way: sourceLayer.name,
        how: 'source layer',
        image: plan.image,
        imageId: rebuilt.imageId,
        bytesSent: rebuilt.bytesSent,
        sourceBytes: plan.sourceBytes,
        seconds,
        steps: [],
        cacheFrom: [],
        warnings: build.plan.warnings.map(formatProblem),
        record: made,
      };
    },
  };
