// <project>/all/, the source of one image serving every model (`cortex-s2i all <project>`): each
// model read as its own build reads it, planned together, rendered, checked, and written beside
// whatever a person wrote there.

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { toPosix } from '../text.js';
import { listModels, readProject, type ProjectSource } from '../config/project.js';
import type { Problem } from '../config/result.js';
import { CortexError, ExitCode, formatProblem, invalidProject, usageError } from '../errors.js';
import { ALL_DIR, planAll } from '../plan/all-plan.js';
import { renderAllFiles } from '../render/all-files.js';
import { chooseNames } from './init.js';
import { writeGenerated } from './write.js';

export interface AllRequest {
  project: string;
  /** The models to serve; undefined: every model folder of the project. */
  models: string[] | undefined;
  force: boolean;
  home: string | undefined;
}

/** What `all` did: a line per file, the warnings, and the command that builds the image. */
export interface AllOutcome {
  lines: string[];
  warnings: string[];
  buildWith: string;
}

export async function generateAll(request: AllRequest): Promise<AllOutcome> {
  const root = path.resolve(request.project);
  const available = await listModels(root, [ALL_DIR]).catch(() => {
    throw usageError(`${root} is not a folder`, 'pass the project folder, the one holding the model folders');
  });
  const chosen = request.models ?? available;
  const unknown = chosen.filter((m) => !available.includes(m));
  if (unknown.length) {
    throw usageError(
      `--models names ${unknown.join(', ')}, not model folders of ${root}`,
      `the model folders are: ${available.join(', ') || 'none'}`,
    );
  }
  if (chosen.length === 0) throw usageError(`${root} has no model folders (folders with .s2i/environment)`);

  const problems: Problem[] = [];
  const models: ProjectSource[] = [];
  const setupScripts: Record<string, string> = {};
  for (const name of chosen) {
    // Each model read as its own build reads it: its root may be a package above this folder.
    const read = await readProject(path.join(root, name), undefined, request.home ? { home: request.home } : {});
    if (!read.ok) {
      problems.push(...read.errors);
      continue;
    }
    models.push(read.value);
    if (read.value.setupScript) setupScripts[name] = await readFile(read.value.setupScript.abs, 'utf8');
  }
  if (problems.length) throw invalidProject(problems);

  const planned = planAll({ root, name: path.basename(root), models, setupScripts });
  if (!planned.ok) throw invalidProject(planned.errors);
  const trains = [];
  // Named by their folders beside all/, whatever the root of each model's own layout.
  for (const m of models)
    trains.push({ model: toPosix(path.relative(root, m.model.dir)), ...(await chooseNames(m.model.dir, {}, m)) });
  const files = renderAllFiles(planned.value, trains);
  const predict = files.find((f) => f.path === `${ALL_DIR}/predict.py`)!;
  const checked = await checkPythonSyntax(predict.content, predict.path);

  const written = await writeGenerated(root, files, { force: request.force, ownedDir: ALL_DIR });
  const warnings = planned.value.warnings.map(formatProblem);
  if (written.kept.length)
    warnings.push(`kept ${written.kept.join(', ')}, written by hand: the all image is built from them as they are`);
  if (!checked) warnings.push('python3 is not on this machine: the generated all/predict.py was not syntax-checked');
  return {
    lines: written.lines,
    warnings,
    buildWith: `all/ serves ${planned.value.routes.length} route(s) of ${chosen.join(', ')}; build it with: cortex-s2i build ${path.join(request.project, ALL_DIR)} daemon ${planned.value.containerName}`,
  };
}

/**
 * Parses generated Python with the machine's python3, as a last guard behind the validation of
 * every name. Returns false when there is no python3 to ask.
 */
function checkPythonSyntax(source: string, name: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'python3',
      ['-c', 'import ast, sys; ast.parse(sys.stdin.read(), sys.argv[1])', name],
      (err, _stdout, stderr) => {
        if (!err) return resolve(true);
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return resolve(false);
        reject(
          new CortexError(`the generated ${name} is not valid Python; nothing was written`, {
            exitCode: ExitCode.internal,
            details: stderr.trim().split('\n'),
            hint: 'this is a bug in cortex-s2i: please report it with the message above',
          }),
        );
      },
    );
    child.stdin?.end(source);
  });
}
