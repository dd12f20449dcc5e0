// What a build is asked for, in two parts: the image (every field of it decides what the image
// is, and the build cache's identity is the whole of it: cache.ts buildIdentity), and how to make
// it and hand it on (nothing there changes a byte of the image). A new option that shapes the
// image goes into ImageRequest, and nowhere else: the cache tells builds that differ in it apart.

import { builderKindOf, bundledBuilderImage } from '../plan/builders.js';

export interface ImageRequest {
  /** The model folder, an absolute path (`build <source-dir>`). */
  source: string;
  /** `train` (alias `model`), `daemon` (alias `predict`), or the reference of an s2i builder image. */
  builder: string;
  /** The repository of the bundled builder images (CORTEX_S2I_BUILDER_REPO). */
  builderRepo: string;
  /** The image to make: `[registry[:port]/]path[:tag]`. */
  name: string;
  /** `-e KEY=VALUE`: baked into the image's ENV, winning over .s2i/environment. */
  env: Array<{ key: string; value: string }>;
  /** `--project`: the project folder around the model, an absolute path; undefined: found by looking around. */
  project: string | undefined;
  /** `--api`: the one API of a Cortex project to serve; undefined: every API. */
  api: string | undefined;
  /**
   * `--allow-root`: accept an s2i builder image that runs as root. It decides whether the image may
   * be made at all, so a build that was allowed is never taken as the answer to one that is not.
   */
  allowRoot: boolean;
  /** SOURCE_DATE_EPOCH: the image's timestamps; undefined: from the source (the commit, or its files). */
  sourceDateEpoch: number | undefined;
}

export interface MakeOptions {
  /** Print the plan and the Dockerfile; make nothing. */
  dryRun: boolean;
  /** Write the Dockerfile and its context into this folder instead of building (`--as-dockerfile`). */
  asDockerfile: string | undefined;
  /** Build every step afresh: no answer from the build cache, no source layer alone, none of the engine's cache. */
  noCache: boolean;
  /** gzip the context sent to the engine. */
  compress: boolean;
  /** Images the engine may take cached steps from, pulled when missing (`--cache-from`). */
  cacheFrom: string[];
  /** Push the image to its registry once made. */
  push: boolean;
  /** Where to write the pushed digest (needs push). */
  digestFile: string | undefined;
}

export interface BuildRequest {
  image: ImageRequest;
  make: MakeOptions;
}

/** The builder image a request names: a bundled builder by its kind, any other by its reference. */
export function builderImageOf(image: ImageRequest, toolVersion: string): string {
  const kind = builderKindOf(image.builder);
  return kind ? bundledBuilderImage(kind, toolVersion, image.builderRepo) : image.builder;
}
