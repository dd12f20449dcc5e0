// Plans a project's "all" image: every chosen model's routes served from one container, the
// models' requirements merged and their setup.sh steps combined. Pure: the caller reads the
// models and writes the files that lib/render makes of this plan.

import path from 'node:path';
import type { ProjectSource } from '../config/project.js';
import { compare, toPosix } from '../text.js';
import { failed, ok, type Problem, type Result } from '../config/result.js';
import { BUILDER_KINDS } from './builders.js';
import { mergeRequirements, type MergedRequirements, type ModelRequirements } from './requirements-merge.js';

export const ALL_DIR = 'all';

export interface AllRoute {
  path: string;
  /** Name of the route's callable in the generated all/predict.py. */
  alias: string;
  model: string;
  module: string;
  function: string;
}

export interface SetupStep {
  models: string[];
  script: string;
}

export interface AllPlan {
  project: { root: string; name: string };
  models: string[];
  routes: AllRoute[];
  requirements: MergedRequirements;
  setupSteps: SetupStep[];
  /** Each route with the test instances of its model, for `make test-all`. */
  tests: Array<{ model: string; route: string }>;
  containerName: string;
  warnings: Problem[];
}

export interface AllInput {
  root: string;
  name: string;
  /** The chosen models, each read as its own build would read it. */
  models: ProjectSource[];
  /** setup.sh contents by model path. */
  setupScripts: Record<string, string>;
}

// Folder names reach Python string literals and Makefile words: keep them plain.
const FOLDER = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const TEST_INSTANCES = 'test/test_instances.json';

export function planAll(input: AllInput): Result<AllPlan> {
  const errors: Problem[] = [];
  const warnings: Problem[] = [];
  const routes: AllRoute[] = [];
  const claimed = new Map<string, { model: string; file: string; line: number }>();
  const aliases = new Set<string>();
  const tests: AllPlan['tests'] = [];

  // Models are named by their folder beside all/: the use case's own names, whatever the root of
  // their layout (a package above the use case, say).
  const folderOf = (model: ProjectSource) => toPosix(path.relative(input.root, model.model.dir));
  for (const model of input.models) {
    const name = folderOf(model);
    const envFile = model.environment.file;
    if (!FOLDER.test(name) || name.includes('..')) {
      errors.push({
        file: model.model.dir,
        message: `model folder ${JSON.stringify(name)} must be one folder of letters, digits, '_', '.' and '-' at the project root`,
      });
      continue;
    }
    if (model.entryPoints.routes.length === 0) {
      errors.push({
        file: envFile,
        message: `${name} has no ROUTES, so the all image would serve nothing of it`,
        hint: 'add ROUTES, or leave the model out with --models',
      });
    }
    const hasTests = model.modelFiles.some((f) => f.abs === path.join(model.model.dir, TEST_INSTANCES));
    if (!hasTests)
      warnings.push({
        file: path.join(model.model.dir, TEST_INSTANCES),
        message: `missing: make test-all will not test ${name}`,
      });
    for (const route of model.entryPoints.routes) {
      const earlier = claimed.get(route.path);
      if (earlier) {
        errors.push({
          file: route.file,
          line: route.line,
          message: `route ${route.path} is claimed by both ${earlier.model} (${earlier.file}:${earlier.line}) and ${name}`,
          hint: 'give one of the two routes another path',
        });
        continue;
      }
      claimed.set(route.path, { model: name, file: route.file, line: route.line });
      routes.push({
        path: route.path,
        alias: uniqueAlias(route.path, aliases),
        model: name,
        module: route.module,
        function: route.function,
      });
      if (hasTests) tests.push({ model: name, route: route.path });
    }
  }

  const requirementSources: ModelRequirements[] = [];
  for (const model of input.models) {
    const chosen = BUILDER_KINDS.daemon.requirements.find((r) => r in model.requirements);
    if (chosen)
      requirementSources.push({
        model: folderOf(model),
        file: model.requirements[chosen as keyof typeof model.requirements]!,
      });
  }
  const merged = mergeRequirements(requirementSources);
  errors.push(...merged.errors);

  // One step per distinct script: models sharing a setup.sh word for word run it once.
  const setupSteps: SetupStep[] = [];
  for (const model of input.models) {
    const script = input.setupScripts[folderOf(model)];
    if (script === undefined) continue;
    const normalised = script.replace(/\r\n/g, '\n').replace(/\n*$/, '\n');
    const same = setupSteps.find((s) => s.script === normalised);
    if (same) same.models.push(folderOf(model));
    else setupSteps.push({ models: [folderOf(model)], script: normalised });
  }

  if (errors.length) return failed(errors.sort((a, b) => compare(a.file, b.file) || (a.line ?? 0) - (b.line ?? 0)));
  return ok({
    project: { root: input.root, name: input.name },
    models: input.models.map(folderOf),
    routes,
    requirements: merged.value,
    setupSteps,
    tests,
    containerName: `${
      input.name
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-+|-+$/g, '') || 'project'
    }-all`,
    warnings,
  });
}

/** `adult_income_lr/predict` -> `route_adult_income_lr_predict`, unique within the file. */
function uniqueAlias(routePath: string, taken: Set<string>): string {
  const base = `route_${routePath.replace(/[^A-Za-z0-9_]/g, '_')}`;
  let alias = base;
  for (let n = 2; taken.has(alias); n++) alias = `${base}_${n}`;
  taken.add(alias);
  return alias;
}
