// What a serving style is: how a project says what its image serves (ROUTES in .s2i/environment,
// the APIs of a cortex.yaml, ...), how the project is read for it, and its part of the plan. The
// build asks each style in turn (index.ts) whether the source is of it; the first that says so
// plans the image. A new style is one module of this folder and its line in index.ts.

import type { ResolveOptions } from '../../config/project.js';
import type { Result } from '../../config/result.js';
import type { BuildPlan, PlanRequest } from '../plan.js';

/** The source folder, read for a style: it only asks, the build's reading does the I/O. */
export interface SourceFolder {
  /** The folder, an absolute path. */
  dir: string;
  /** A file's text, by its path relative to the folder; undefined when there is no such file. */
  readText(rel: string): Promise<string | undefined>;
  /** Every file of the project as a slash-separated relative path, dot files and folders left out. */
  files(): Promise<string[]>;
}

/** What of the build request a style may look at. */
export interface ServingRequest {
  /** The builder as the user named it (`daemon`, or an image). */
  builder: string;
  /** The bundled builder's kind, when the builder is one. */
  kind: 'train' | 'daemon' | undefined;
  /** The image's name. */
  image: string;
  /** `--project`, an absolute path, or undefined. */
  project: string | undefined;
  /** `--api`, or undefined. */
  api: string | undefined;
}

/** How the project around the model is read for a style. */
export interface Reading extends Pick<ResolveOptions, 'environmentText' | 'pythonPaths'> {
  /** The project's root, when the style says where it is; undefined: found by looking around. */
  projectDir: string | undefined;
}

export interface ServingStyle<Declared> {
  /** In the user's words: `ROUTES models`, `Cortex APIs`. */
  readonly name: string;
  /**
   * What the source declares it serves in this style; undefined when it is not of this style. A
   * declaration with problems, or a request the style cannot take (another builder, an option
   * for another style), is the user's error, thrown.
   */
  declared(source: SourceFolder, request: ServingRequest): Promise<Declared | undefined>;
  /** How the project is read for it. */
  reading(declared: Declared, request: ServingRequest): Reading;
  /** The plan of an image serving what was declared (pure). */
  plan(req: PlanRequest, declared: Declared): Result<BuildPlan>;
}
