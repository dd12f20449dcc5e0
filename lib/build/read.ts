// The build's first step: reads the project as the plan needs it (its layout, what it serves, its
// requirements), the builder it names, and what git says of the source (the commit the labels
// name, and the time the image is dated by).

import path from 'node:path';
import type { CortexApi } from '../config/cortex-yaml.js';
import {
  readCommittedFiles,
  readRevision,
  unchangedSince,
  type CommittedFile,
  type SourceRevision,
} from '../config/git.js';
import { readProject, SourceDirectoryError, type ProjectSource } from '../config/project.js';
import { readCortexYaml } from '../config/read-cortex-yaml.js';
import type { ProjectSnapshot } from '../config/scan.js';
import { CORTEX_YAML, ENVIRONMENT_FILE } from '../config/source-tree.js';
import { invalidProject, sourceNotFound, usageError } from '../errors.js';
import { builderKindOf, type Builder } from '../plan/builders.js';
import { selectApis } from '../plan/cortex-plan.js';
import { inspectBuilder } from './builder.js';
import type { Looked } from './ways/way.js';

export interface SourceRead {
  project: ProjectSource;
  /** The Cortex APIs the image serves (cortex.yaml), and every API the file lists; undefined for ROUTES models. */
  apis: { served: CortexApi[]; all: CortexApi[] } | undefined;
  builder: Builder;
  revision: SourceRevision | undefined;
  /** RFC 3339: the image's org.opencontainers.image.created. */
  created: string;
  /** The snapshot the layout was decided from: what the build cache records the image was made from. */
  inputs: ProjectSnapshot | undefined;
}

export async function readSource(build: Looked): Promise<SourceRead> {
  const { request, env, cache } = build;
  const { source, api, sourceDateEpoch } = request.image;
  // git is asked now, so that it answers while the project is read: the commit for the labels,
  // and the files of HEAD when they can date the image.
  const fromGit = Promise.all([
    readRevision(source),
    sourceDateEpoch === undefined ? readCommittedFiles(source, 'HEAD') : undefined,
  ]);
  // A folder with cortex.yaml is a Cortex project: its APIs are served, and the folder is the root.
  const allApis = await readCortexYaml(source).catch((err: unknown) => {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw sourceNotFound(source);
    throw err;
  });
  if (api !== undefined && allApis === undefined)
    throw usageError(`--api ${api}: ${source} has no ${CORTEX_YAML}`, '--api picks one API of a Cortex project');
  let served: CortexApi[] | undefined;
  if (allApis) {
    const chosen = selectApis(allApis, path.join(source, CORTEX_YAML), api);
    if (!chosen.ok) throw invalidProject(chosen.errors);
    served = chosen.value;
  }
  let inputs: ProjectSnapshot | undefined;
  const project = await readProject(source, served ? source : request.image.project, {
    ...(env.home ? { home: env.home } : {}),
    extraEnv: request.image.env,
    ...(served
      ? {
          environmentText: '',
          pythonPaths: [...new Set(served.flatMap((a) => (a.predictor.pythonPath ? [a.predictor.pythonPath] : [])))],
        }
      : {}),
    ...(build.firstLook ? { snapshot: build.firstLook } : {}),
    ...(cache ? { findImports: cache.findImports } : {}),
    onSnapshot: (snapshot) => (inputs = snapshot),
  }).catch((err: unknown) => {
    if (err instanceof SourceDirectoryError) throw sourceNotFound(source);
    throw err;
  });
  if (!project.ok) throw invalidProject(project.errors);

  const kind = builderKindOf(request.image.builder);
  if (served && kind !== 'daemon')
    throw usageError(
      `${source} is a Cortex project (${CORTEX_YAML}): it builds with the daemon builder, not ${request.image.builder}`,
      `cortex-s2i build ${source} daemon ${request.image.name}`,
    );
  // A bundled builder is known by name, so a dry run needs no engine; any other image is
  // inspected to learn where its s2i scripts are.
  const builder: Builder = kind
    ? { style: 'cortex', image: build.builderImage, kind }
    : await inspectBuilder(await build.engine(), request.image.builder, request.image.allowRoot);

  const [revision, committed] = await fromGit;
  const created =
    sourceDateEpoch === undefined ? await sourceTime(project.value, revision, committed) : sourceDateEpoch * 1000;
  return {
    project: project.value,
    apis: served && allApis ? { served, all: allApis } : undefined,
    builder,
    revision,
    created: new Date(created).toISOString(),
    inputs,
  };
}

/**
 * The image's creation time, from the source rather than the clock, so that the same source
 * gives the same image (SOURCE_DATE_EPOCH, when set, wins over both): the commit's time when the
 * files sent are exactly the commit's, which a fresh clone or a CI checkout keeps whatever its
 * file times; else the newest file that goes into the image.
 */
async function sourceTime(
  project: ProjectSource,
  revision: SourceRevision | undefined,
  committed: ReadonlyMap<string, CommittedFile> | undefined,
): Promise<number> {
  const files = [
    ...project.modelFiles,
    ...project.rootFiles,
    ...project.sharedFolders.flatMap((f) => f.files),
    ...project.includedModels.flatMap((f) => f.files),
  ];
  if (revision?.time !== undefined && committed) {
    // .s2i/environment is not sent, but its values are baked into the image.
    const environment = { abs: path.join(project.model.dir, ENVIRONMENT_FILE) };
    const links = project.links.map((l) => ({ abs: path.join(project.root, ...l.path.split('/')), target: l.target }));
    if (await unchangedSince(committed, [...files, environment], links)) return revision.time * 1000;
  }
  // Whole seconds: file systems keep finer times than a label needs, and not all the same ones.
  return Math.floor(Math.max(0, ...files.map((f) => f.mtimeMs)) / 1000) * 1000;
}
