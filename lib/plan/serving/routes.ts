// ROUTES models: a model folder whose .s2i/environment names what its images call: ROUTES
// (`route:module:function` triples) for the predict image, TRAIN_MODULE and TRAIN_FUNCTION for
// the train image. The project's default style: a folder of no other style is one of these.

import { failed, ok, type Problem, type Result } from '../../config/result.js';
import { CORTEX_YAML } from '../../config/source-tree.js';
import { usageError } from '../../errors.js';
import { builderStyle } from '../builder-styles/index.js';
import { BUILDER_KINDS } from '../builders.js';
import { planImage } from '../build-plan.js';
import { resolveModule, suggestModule } from '../modules.js';
import type { BuildPlan, PlanRequest } from '../plan.js';
import type { ServingStyle } from './style.js';

export const routes: ServingStyle<Record<string, never>> = {
  name: 'ROUTES models',

  async declared(source, request) {
    if (request.api !== undefined)
      throw usageError(
        `--api ${request.api}: ${source.dir} has no ${CORTEX_YAML}`,
        '--api picks one API of a Cortex project',
      );
    return {};
  },

  reading: (_declared, request) => ({ projectDir: request.project }),

  plan(req) {
    return planRoutes(req);
  },
};

/**
 * The plan of a ROUTES model's image. What its builder calls must resolve to a file in the
 * image; what it never calls (TRAIN_MODULE in a predict image, ROUTES in a train image) is only
 * worth a warning.
 */
export function planRoutes(req: PlanRequest): Result<BuildPlan> {
  const { plan, inImage } = planImage(req);
  const { project, builder } = req;
  const envFile = project.environment.file;
  const { routes, train } = project.entryPoints;
  const kind = builderStyle(builder).kind(builder);
  const needs = kind ? BUILDER_KINDS[kind].needs : undefined;
  const errors: Problem[] = [];
  const warnings: Problem[] = [];
  if (needs === 'routes' && routes.length === 0) {
    errors.push({
      file: envFile,
      message: 'ROUTES is not set: the daemon builder serves the routes it lists',
      hint: 'e.g. ROUTES=my_model/predict:predict:predict',
    });
  }
  if (needs === 'train' && !train) {
    errors.push({
      file: envFile,
      message: 'TRAIN_MODULE and TRAIN_FUNCTION are not set: the train builder calls them',
      hint: 'e.g. TRAIN_MODULE=train and TRAIN_FUNCTION=train',
    });
  }
  const toResolve = [
    ...routes.map((r) => ({
      module: r.module,
      file: r.file,
      line: r.line,
      what: `route ${r.path}`,
      needed: needs !== 'train',
    })),
    ...(train
      ? [{ module: train.module, file: train.file, line: train.line, what: 'TRAIN_MODULE', needed: needs !== 'routes' }]
      : []),
  ];
  for (const m of toResolve) {
    const resolved = resolveModule(m.module, project.importRoots, inImage);
    if (resolved.ok) continue;
    const suggestion = suggestModule(m.module, project.importRoots, inImage);
    (m.needed ? errors : warnings).push({
      file: m.file,
      line: m.line,
      message: `${m.what}: module ${m.module} does not resolve to a file in the image (looked for ${resolved.tried.join(', ')})${suggestion ? `; did you mean ${suggestion}?` : ''}`,
      hint:
        needs && !m.needed
          ? `a ${kind} image never calls it, so this build goes on`
          : 'check the module name, and that the file is not excluded by .cortexignore',
    });
  }
  if (errors.length) return failed(errors);
  const labels: Array<[string, string]> = routes.length
    ? [...plan.labels, ['io.cortex-s2i.routes', routes.map((r) => r.path).join(',')]]
    : plan.labels;
  return ok({ ...plan, labels, warnings: [...plan.warnings, ...warnings] });
}
