// A build plan: plain data saying which files go where in the image, what its dependency step
// installs, its environment, labels and user, what it serves, and why each part of the project is
// in or out. The planner (build-plan.ts, with the builder and serving styles) makes one; the
// Dockerfile is rendered from it and the ways of making the image send what it lists.

import type { IgnoredPath, LeftOutPath, ProjectSource } from '../config/project.js';
import type { Problem } from '../config/result.js';
import type { EntryPoint, Route } from '../config/routes.js';
import type { SourceRevision } from '../config/git.js';
import type { Builder } from './builders.js';

/** What a plan is made from: the project as read, the image's name, the builder, and what the labels say. */
export interface PlanRequest {
  project: ProjectSource;
  image: string;
  builder: Builder;
  /** -e KEY=VALUE from the command line; they win over .s2i/environment. */
  extraEnv: Array<{ key: string; value: string }>;
  revision: SourceRevision | undefined;
  /** RFC 3339 time for org.opencontainers.image.created. */
  created: string;
  toolVersion: string;
}

/** A file of the build context: `name` is its path in the context, `from` where it is read. */
export interface PlannedFile {
  name: string;
  from: string;
  size: number;
  executable: boolean;
  /** Content made by the plan (a requirements file without credentials), sent instead of `from`. */
  content?: Buffer;
}

/** A symbolic link of the context: `target` as the link in the image holds it. */
export interface PlannedLink {
  name: string;
  target: string;
}

/** The dependency step: what it copies in and installs (dependencies.ts plans it). */
export interface PlannedDependencies {
  setupScript: PlannedFile | undefined;
  /** The requirements file as the image's dependency layer holds it: without credentials. */
  requirements: PlannedFile | undefined;
  /**
   * When an index option carries credentials: the files of a separate build stage that installs
   * with the file as written, and whose /opt/venv the image copies. Undefined otherwise.
   */
  indexStage?: PlannedFile[] | undefined;
  /** The requirements file's option lines, credentials shown as ***. */
  indexOptions?: string[];
}

export interface EnvVar {
  key: string;
  value: string;
  from: string;
}

/**
 * Where the left-out models/ folders of a model's package and use case point in the image; the
 * builder images point it at the mounted models (the runtime's staging.py keeps the same path).
 */
export const MODELS_LINK = '/opt/cortex-s2i/models';

/** The context folder whose content the source step copies. */
export const SOURCE_DIR = 'src';

export interface BuildPlan {
  image: string;
  builder: Builder;
  project: { root: string; name: string; standalone: boolean; why: string };
  model: { path: string; name: string };
  /** Image folder each path of PYTHONPATH points at, in import order. */
  pythonPath: string[];
  sharedFolders: string[];
  /** Folders at the project root left out because they hold no Python code. */
  skippedFolders: string[];
  /** Other models' folders included on purpose (the all image serves them). */
  includedModels: string[];
  /** Other models, use cases, data and output folders of the project: not in this image, and why. */
  leftOut: LeftOutPath[];
  /** Links in the source layer: links of the project that stay inside it, and models/ folders. */
  links: PlannedLink[];
  /**
   * Top-level names the model's code imports from outside the layout: checked in the image after
   * the dependency step. `strict` ones (the model's own code) fail the build when missing.
   */
  importCheck: { strict: string[]; lenient: string[]; where: Record<string, Array<{ file: string; line: number }>> };
  ignoreFiles: string[];
  ignored: IgnoredPath[];
  dependencies: PlannedDependencies;
  /** Context folder whose content is copied to the program folder (or the s2i source folder). */
  sourceDir: string;
  source: PlannedFile[];
  sourceBytes: number;
  env: EnvVar[];
  labels: Array<[string, string]>;
  user: string | undefined;
  routes: Route[];
  train: EntryPoint | undefined;
  /** Names of .env variables: given at run time with --env-file, never put in the image. */
  runtimeVariables: { file: string; keys: string[] } | undefined;
  /** Rows the serving style adds to the plan's account, label and text (`api`, `POST /iris -> iris ...`). */
  serves: Array<[string, string]>;
  warnings: Problem[];
}
