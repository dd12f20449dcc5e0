// An image archive as `docker save` writes it and `docker load` reads it (manifest.json, the
// image's config JSON, layer tars), for a new image made of an image the engine has plus one
// layer. The archive carries that layer alone: the engine finds the others by their digests, as
// it does for layers it already has when loading any archive. Nothing here talks to the engine.

import { createHash } from 'node:crypto';
import { pack as tarPack } from 'tar-stream';
import type { HistoryItem, ImageConfig } from '../engine/engine.js';

/** A layer's tar and its digest, which names it in the image's config (rootfs.diff_ids). */
export interface NewLayer {
  tar: Buffer;
  diffId: string;
}

export function newLayer(tar: Buffer): NewLayer {
  return { tar, diffId: `sha256:${createHash('sha256').update(tar).digest('hex')}` };
}

/** A step of the image's history, as its config JSON records it. */
export interface HistoryStep {
  /** Seconds since 1970. */
  created: number;
  createdBy: string;
  comment: string;
  /** The step made no layer (ENV, LABEL, a RUN that changed nothing). */
  emptyLayer: boolean;
}

// Steps that only change the configuration: the engine records them without a layer.
const CONFIG_ONLY =
  /^(?:\/bin\/sh -c #\(nop\)\s+)?(?:ENV|LABEL|CMD|USER|EXPOSE|ENTRYPOINT|ARG|VOLUME|STOPSIGNAL|HEALTHCHECK|SHELL|ONBUILD|MAINTAINER)\b/;

/**
 * Which steps of an image's history (oldest first) made no layer. The engine's history says how
 * big each step's layer is, not whether it has one: a RUN that changed nothing has none, and one
 * that only changed a folder's owner has a layer of 0 bytes. Steps with bytes have a layer;
 * configuration-only steps have none; for the others, `layersOf` (the layer count of a step's
 * local image, when the engine has it) decides. Undefined when the answer is not certain: the
 * layers counted must be exactly the image's.
 */
export function historySteps(
  history: HistoryItem[],
  layers: number,
  layersOf: ReadonlyMap<string, number>,
): HistoryStep[] | undefined {
  const empty: Array<boolean | undefined> = history.map((h, i) => {
    if (h.size > 0) return false;
    if (CONFIG_ONLY.test(h.createdBy)) return true;
    const mine = h.id === undefined ? undefined : layersOf.get(h.id);
    const before = i === 0 ? 0 : history[i - 1]!.id === undefined ? undefined : layersOf.get(history[i - 1]!.id!);
    return mine === undefined || before === undefined ? undefined : mine === before;
  });
  const withLayer = empty.filter((e) => e === false).length;
  const unknown = empty.filter((e) => e === undefined).length;
  // What is left unknown is certain only when all of it must go one way.
  const rest = withLayer === layers ? true : withLayer + unknown === layers ? false : undefined;
  if (rest === undefined) return undefined;
  return history.map((h, i) => ({
    created: h.created,
    createdBy: h.createdBy,
    comment: h.comment,
    emptyLayer: empty[i] ?? rest,
  }));
}

/** The steps whose local images historySteps needs to count layers of: unknown ones and their predecessors. */
export function stepsToCount(history: HistoryItem[]): string[] {
  const ids = new Set<string>();
  history.forEach((h, i) => {
    if (h.size > 0 || CONFIG_ONLY.test(h.createdBy)) return;
    if (h.id !== undefined) ids.add(h.id);
    const before = i > 0 ? history[i - 1]!.id : undefined;
    if (before !== undefined) ids.add(before);
  });
  return [...ids];
}

export interface LayeredImage {
  /** The image the layer goes on, and its history, oldest first. */
  base: ImageConfig;
  baseHistory: HistoryStep[];
  layer: NewLayer;
  /** The new image's time, ISO 8601: the source's, not the clock's. */
  created: string;
  /** Labels set on top of the base's. */
  labels: Array<[string, string]>;
  /** The history's words for the layer and for the labels. */
  layerStep: string;
  labelStep: string;
}

/** The archive and the id the engine will give the image (the digest of its config JSON). */
export async function imageArchive(image: LayeredImage): Promise<{ archive: Buffer; imageId: string }> {
  const { base, layer, created } = image;
  const baseLabels = (base.config.Labels ?? {}) as Record<string, string>;
  const config = {
    architecture: base.architecture,
    os: base.os,
    ...(base.variant ? { variant: base.variant } : {}),
    config: { ...base.config, Labels: { ...baseLabels, ...Object.fromEntries(image.labels) } },
    created,
    history: [
      ...image.baseHistory.map((h) => ({
        created: new Date(h.created * 1000).toISOString(),
        created_by: h.createdBy,
        ...(h.comment ? { comment: h.comment } : {}),
        ...(h.emptyLayer ? { empty_layer: true } : {}),
      })),
      { created, created_by: image.layerStep },
      { created, created_by: image.labelStep, empty_layer: true },
    ],
    rootfs: { type: 'layers', diff_ids: [...base.layers, layer.diffId] },
  };
  const configJson = Buffer.from(JSON.stringify(config));
  const configHex = createHash('sha256').update(configJson).digest('hex');
  const layerFile = (diffId: string) => `${diffId.replace(/^sha256:/, '')}/layer.tar`;
  const manifest = Buffer.from(
    JSON.stringify([
      { Config: `${configHex}.json`, RepoTags: null, Layers: [...base.layers, layer.diffId].map(layerFile) },
    ]),
  );
  const archive = await packFiles([
    [layerFile(layer.diffId), layer.tar],
    [`${configHex}.json`, configJson],
    ['manifest.json', manifest],
  ]);
  return { archive, imageId: `sha256:${configHex}` };
}

function packFiles(files: Array<[string, Buffer]>): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tar = tarPack();
    const chunks: Buffer[] = [];
    tar.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
    tar.on('end', () => resolve(Buffer.concat(chunks)));
    tar.on('error', reject);
    const header = { mtime: new Date(0), uid: 0, gid: 0, mode: 0o644 };
    const dirs = new Set(files.map(([name]) => name.split('/').slice(0, -1).join('/')).filter((d) => d !== ''));
    for (const dir of dirs) tar.entry({ ...header, name: `${dir}/`, type: 'directory', mode: 0o755 });
    for (const [name, content] of files) tar.entry({ ...header, name }, content);
    tar.finalize();
  });
}
