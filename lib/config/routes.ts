// Reads ROUTES (route:module:function triples) and the train entry point out of .s2i/environment.

import { identifierProblem, moduleNameProblem } from './python-names.js';
import { failed, ok, type Problem, type Result } from './result.js';
import type { S2iEnvironment } from './s2i-environment.js';
import { truncate } from '../text.js';

export interface Route {
  /** URL path served, without the leading slash: `adult_income_lr/predict`. */
  path: string;
  module: string;
  function: string;
  file: string;
  line: number;
}

export interface EntryPoint {
  module: string;
  function: string;
  file: string;
  line: number;
}

export interface ModelEntryPoints {
  routes: Route[];
  train: EntryPoint | undefined;
}

// Paths the predict server answers itself; a route may not shadow them.
export const RESERVED_PATHS = new Set(['health', 'ready', 'metrics']);
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function readEntryPoints(env: S2iEnvironment): Result<ModelEntryPoints> {
  const errors: Problem[] = [];
  const get = (key: string) => env.entries.find((e) => e.key === key);

  const routes: Route[] = [];
  const routesEntry = get('ROUTES');
  if (routesEntry) {
    const where = { file: env.file, line: routesEntry.line };
    const triples = routesEntry.value.split(',').map((t) => t.trim());
    triples.forEach((triple, index) => {
      if (triple === '' && triples.length > 1) {
        errors.push({
          ...where,
          message: `ROUTES has an empty triple at position ${index + 1}`,
          hint: 'remove the extra comma',
        });
        return;
      }
      const route = parseTriple(triple, where, errors);
      if (!route) return;
      const clash = routes.find((r) => r.path === route.path);
      if (clash) {
        errors.push({
          ...where,
          message: `route ${route.path} is listed twice in ROUTES (${clash.module}:${clash.function} and ${route.module}:${route.function})`,
        });
        return;
      }
      routes.push(route);
    });
  }

  let train: EntryPoint | undefined;
  const trainModule = get('TRAIN_MODULE');
  const trainFunction = get('TRAIN_FUNCTION');
  if (trainModule || trainFunction) {
    if (!trainModule || !trainFunction) {
      const present = (trainModule ?? trainFunction)!;
      errors.push({
        file: env.file,
        line: present.line,
        message: `${present.key} is set but ${trainModule ? 'TRAIN_FUNCTION' : 'TRAIN_MODULE'} is not`,
        hint: 'the train entry point needs both TRAIN_MODULE and TRAIN_FUNCTION',
      });
    } else {
      const moduleProblem = moduleNameProblem(trainModule.value);
      const functionProblem = identifierProblem(trainFunction.value);
      if (moduleProblem)
        errors.push({ file: env.file, line: trainModule.line, message: `TRAIN_MODULE: ${moduleProblem}` });
      if (functionProblem)
        errors.push({ file: env.file, line: trainFunction.line, message: `TRAIN_FUNCTION: ${functionProblem}` });
      if (!moduleProblem && !functionProblem) {
        train = { module: trainModule.value, function: trainFunction.value, file: env.file, line: trainModule.line };
      }
    }
  }

  return errors.length ? failed(errors) : ok({ routes, train });
}

function parseTriple(triple: string, where: { file: string; line: number }, errors: Problem[]): Route | undefined {
  const parts = triple.split(':');
  if (parts.length !== 3 || parts.some((p) => p.trim() === '')) {
    errors.push({
      ...where,
      message: `ROUTES entry ${JSON.stringify(truncate(triple))} is not route:module:function`,
      hint: 'e.g. ROUTES=adult_income_lr/predict:predict:predict_adult_income_lr',
    });
    return undefined;
  }
  const [rawPath, module, fn] = parts.map((p) => p.trim()) as [string, string, string];
  // A leading slash is how people write URL paths; accept it and keep one canonical form.
  const path = rawPath.replace(/^\/+/, '');
  const problems: string[] = [];
  const segments = path.split('/');
  if (segments.some((s) => !SEGMENT.test(s))) {
    problems.push(
      `route ${JSON.stringify(rawPath)} must be path segments of letters, digits, '_', '.' and '-' separated by '/'`,
    );
  } else if (RESERVED_PATHS.has(path)) {
    problems.push(`route ${JSON.stringify(path)} is answered by the server itself`);
  }
  const moduleProblem = moduleNameProblem(module);
  if (moduleProblem) problems.push(moduleProblem);
  const functionProblem = identifierProblem(fn);
  if (functionProblem) problems.push(`function ${functionProblem}`);
  if (problems.length) {
    for (const message of problems)
      errors.push({ ...where, message: `ROUTES entry ${JSON.stringify(truncate(triple))}: ${message}` });
    return undefined;
  }
  return { path, module, function: fn, ...where };
}
