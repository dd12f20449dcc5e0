// What a builder style decides of a plan: the shape of the image's source (which files, under
// which names, which links), the import path, the dependency step, the user, the builder's line
// in the plan's account, and the Dockerfile. The planner asks the style of the plan's builder
// (index.ts); nothing else branches on it.

import type { ProjectSource, SourceFile } from '../../config/project.js';
import type { BuildPlan, PlannedLink } from '../plan.js';
import type { Builder, BuilderKind } from '../builders.js';

export interface BuilderStyle<B extends Builder> {
  /** The project's files the image's source holds, the name each has in the context, and the links. */
  source(project: ProjectSource, builder: B): { files: SourceFile[]; name(path: string): string; links: PlannedLink[] };
  /** The image folders on PYTHONPATH, in import order; empty: the builder's own scripts set it. */
  pythonPath(project: ProjectSource): string[];
  /** The shared folders sent beside the model, by name. */
  sharedFolders(project: ProjectSource): string[];
  /** The requirements files the dependency step installs, in the order looked for; undefined: no such step. */
  requirements(builder: B): readonly string[] | undefined;
  /** Whether the image looks up the model's imports once its dependencies are in. */
  checksImports: boolean;
  /** The user the image runs as; undefined keeps the builder's. */
  user(builder: B): string | undefined;
  /** The kind of image it makes, when the builder says: what the image calls (routes, or train). */
  kind(builder: B): BuilderKind | undefined;
  /** The builder's line in the plan's account. */
  describe(builder: B): string;
  /** The Dockerfile: its template (lib/render/templates/) and the values it is filled with. */
  dockerfile(plan: BuildPlan & { builder: B }, toolVersion: string): { template: string; values: object };
}
