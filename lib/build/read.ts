// The build's first step: reads the project as the plan needs it (its layout, what it serves, its
// requirements), the builder it names, and what git says of the source (the commit the labels
// name, and the time the image is dated by).

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  readCommittedFiles,
  readRevision,
  unchangedSince,
  type CommittedFile,
  type SourceRevision,
} from '../config/git.js';
import { readProject, SourceDirectoryError, type ProjectSource } from '../config/project.js';
import { listProjectFiles } from '../config/read-cortex-yaml.js';
import type { ProjectSnapshot } from '../config/scan.js';
import { ENVIRONMENT_FILE } from '../config/source-tree.js';
import { invalidProject, sourceNotFound } from '../errors.js';
import { builderKindOf, type Builder } from '../plan/builders.js';
import { servingStyleOf, type Served, type SourceFolder } from '../plan/serving/index.js';
import { inspectBuilder } from './builder.js';
import type { Looked } from './ways/way.js';

export interface SourceRead {
  project: ProjectSource;
  /** How the project says what the image serves (serving/), and what it declares. */
  served: Served;
  builder: Builder;
  revision: SourceRevision | undefined;
  /** RFC 3339: the image's org.opencontainers.image.created. */
  created: string;
  /** The snapshot the layout was decided from: what the build cache records the image was made from. */
  inputs: ProjectSnapshot | undefined;
}

export async function readSource(build: Looked): Promise<SourceRead> {
  const { request, env, cache } = build;
  const { source, sourceDateEpoch } = request.image;
  // git is asked now, so that it answers while the project is read: the commit for the labels,
  // and the files of HEAD when they can date the image.
  const fromGit = Promise.all([
    readRevision(source),
    sourceDateEpoch === undefined ? readCommittedFiles(source, 'HEAD') : undefined,
  ]);
  const kind = builderKindOf(request.image.builder);
  const asked = {
    builder: request.image.builder,
    kind,
    image: request.image.name,
    project: request.image.project,
    api: request.image.api,
  };
  const served = await servingStyleOf(sourceFolder(source), asked);
  const reading = served.style.reading(served.declared, asked);
  let inputs: ProjectSnapshot | undefined;
  const project = await readProject(source, reading.projectDir, {
    ...(env.home ? { home: env.home } : {}),
    extraEnv: request.image.env,
    ...(reading.environmentText !== undefined ? { environmentText: reading.environmentText } : {}),
    ...(reading.pythonPaths ? { pythonPaths: reading.pythonPaths } : {}),
    ...(build.firstLook ? { snapshot: build.firstLook } : {}),
    ...(cache ? { findImports: cache.findImports } : {}),
    onSnapshot: (snapshot) => (inputs = snapshot),
  }).catch((err: unknown) => {
    if (err instanceof SourceDirectoryError) throw sourceNotFound(source);
    throw err;
  });
  if (!project.ok) throw invalidProject(project.errors);

  // A bundled builder is known by name, so a dry run needs no engine; any other image is
  // inspected to learn where its s2i scripts are.
  const builder: Builder = kind
    ? { style: 'bundled', image: build.builderImage, kind }
    : await inspectBuilder(await build.engine(), request.image.builder, request.image.allowRoot);

  const [revision, committed] = await fromGit;
  const created =
    sourceDateEpoch === undefined ? await sourceTime(project.value, revision, committed) : sourceDateEpoch * 1000;
  return {
    project: project.value,
    served,
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

/** The source folder as the serving styles read it. */
function sourceFolder(dir: string): SourceFolder {
  return {
    dir,
    readText: (rel) =>
      readFile(path.join(dir, rel), 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        // The source is a file, not a folder.
        if (err.code === 'ENOTDIR') throw sourceNotFound(dir);
        throw err;
      }),
    files: () => listProjectFiles(dir),
  };
}
