// Plans the dependency step: which requirements file goes in, with package-index credentials kept
// out of every layer of the image, and what the plan shows of the index options.

import path from 'node:path';
import type { ProjectSource, SourceFile } from '../config/project.js';
import type { Problem } from '../config/result.js';
import { redactCredentials, type RequirementsFile } from '../config/requirements.js';
import type { PlannedDependencies, PlannedFile } from './plan.js';

export const DEPENDENCIES_DIR = 'deps';
/** The context folder of the build stage that alone sees the requirements file as written. */
export const INDEX_STAGE_DIR = 'deps-index';

export function planDependencies(
  project: ProjectSource,
  candidates: readonly string[] | undefined,
  setupScript: SourceFile | undefined,
  warnings: Problem[],
): PlannedDependencies {
  const name = candidates?.find((n) => n in project.requirements);
  const file = name ? (project.requirements as Record<string, RequirementsFile>)[name] : undefined;
  const setup = setupScript
    ? { name: `${DEPENDENCIES_DIR}/setup.sh`, from: setupScript.abs, size: setupScript.size, executable: true }
    : undefined;
  if (!name || !file) return { setupScript: setup, requirements: undefined, indexStage: undefined, indexOptions: [] };
  const inModel = project.standalone ? name : `${project.model.path}/${name}`;
  if (!project.modelFiles.some((f) => f.path === inModel)) {
    // Ignored by .cortexignore, yet it is a build input: it is sent from what was read.
    warnings.push({
      file: path.join(project.model.dir, name),
      message: 'ignored by .cortexignore, but still used to install dependencies',
    });
  }
  const requirements = inline(`${DEPENDENCIES_DIR}/requirements.txt`, file.withoutCredentials, file.file);
  const indexStage = file.credentialLines.length
    ? [
        ...(setup ? [{ ...setup, name: `${INDEX_STAGE_DIR}/setup.sh` }] : []),
        inline(`${INDEX_STAGE_DIR}/requirements.txt`, file.text, file.file),
      ]
    : undefined;
  return { setupScript: setup, requirements, indexStage, indexOptions: file.options.map(redactCredentials) };
}

/** The source files, each requirements file with credentials replaced by its copy without them. */
export function withoutIndexCredentials(project: ProjectSource, source: PlannedFile[]): PlannedFile[] {
  const byPath = new Map<string, RequirementsFile>();
  for (const file of Object.values(project.requirements)) if (file?.credentialLines.length) byPath.set(file.file, file);
  return source.map((f) => {
    const file = byPath.get(f.from);
    return file ? inline(f.name, file.withoutCredentials, f.from) : f;
  });
}

function inline(name: string, text: string, from: string): PlannedFile {
  const content = Buffer.from(text);
  return { name, from, size: content.length, executable: false, content };
}
