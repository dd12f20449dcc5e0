// Renders a build plan's Dockerfile from the template its builder's style names, and says which
// of its steps is the dependency step, which checks the imports, and what comes before the source.

import { builderStyle } from '../plan/builder-styles/index.js';
import { CHECK_IMPORTS } from '../plan/builders.js';
import type { BuildPlan } from '../plan/plan.js';
import { template } from './templates.js';

export interface RenderedDockerfile {
  text: string;
  /** 1-based number of the step that installs dependencies, as the engine counts steps. */
  dependencyStep: number | undefined;
  /** 1-based number of the step that checks the model's imports in the image, when there is one. */
  importStep: number | undefined;
  steps: number;
  /**
   * The text before the source step, when the source step and the labels are the last two steps
   * (the bundled builders' Dockerfile): the image these lines build is the one the source layer
   * goes on (see build/ways/source-layer.ts).
   */
  beforeSource: string | undefined;
}

export function renderDockerfile(plan: BuildPlan, toolVersion: string): RenderedDockerfile {
  const { template: name, values } = builderStyle(plan.builder).dockerfile(
    plan as BuildPlan & { builder: never },
    toolVersion,
  );
  const text = template(name)(values);
  const instructions = text.split('\n').filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
  const dep = instructions.findIndex((l) => l.startsWith('RUN ') && l.includes('assemble --dependencies'));
  const check = instructions.findIndex((l) => l.startsWith('RUN ') && l.includes(CHECK_IMPORTS));
  return {
    text,
    dependencyStep: dep >= 0 ? dep + 1 : undefined,
    importStep: check >= 0 ? check + 1 : undefined,
    steps: instructions.length,
    beforeSource: beforeSource(text, plan),
  };
}

/** The Dockerfile's text before `COPY src/ /` when only the LABEL step follows that line. */
function beforeSource(text: string, plan: BuildPlan): string | undefined {
  const lines = text.split('\n');
  const copy = lines.indexOf(`COPY ${plan.sourceDir}/ /`);
  if (copy < 0) return undefined;
  const after = lines.slice(copy + 1).filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
  return after.length === 1 && after[0]!.startsWith('LABEL ') ? `${lines.slice(0, copy).join('\n')}\n` : undefined;
}
