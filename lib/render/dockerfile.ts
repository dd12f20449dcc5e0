// Renders a build plan's Dockerfile, and says which of its steps is the dependency step.

import { SCRIPTS_DIR } from '../plan/builders.js';
import type { BuildPlan } from '../plan/build-plan.js';
import { DEPENDENCIES_DIR } from '../plan/build-plan.js';
import { INDEX_STAGE_DIR } from '../plan/dependencies.js';
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
   * goes on (see cli/commands/source-rebuild.ts).
   */
  beforeSource: string | undefined;
}

export function renderDockerfile(plan: BuildPlan, toolVersion: string): RenderedDockerfile {
  const { builder } = plan;
  const text = template('Dockerfile.hbs')({
    version: toolVersion,
    source: plan.project.standalone ? plan.model.name : `${plan.project.name}/${plan.model.path}`,
    builderStyle: builder.style === 'cortex' ? builder.kind : 's2i',
    builder: builder.image,
    cortex: builder.style === 'cortex',
    dependencies: plan.dependencies.requirements !== undefined || plan.dependencies.setupScript !== undefined,
    dependenciesDir: DEPENDENCIES_DIR,
    indexStageDir: builder.style === 'cortex' && plan.dependencies.indexStage ? INDEX_STAGE_DIR : undefined,
    scriptsDir: builder.style === 'cortex' ? SCRIPTS_DIR : builder.scriptsDir,
    destination: builder.style === 's2i' ? builder.destination : undefined,
    sourceDir: plan.sourceDir,
    env: plan.env,
    labels: plan.labels,
    user: plan.user,
    checkImports: checkImportsCommand(plan),
  });
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

export const CHECK_IMPORTS = '--check-imports';
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `assemble --check-imports numpy ?xgboost`: a `?` marks a name whose absence is only a warning. */
function checkImportsCommand(plan: BuildPlan): string[] | undefined {
  const { strict, lenient } = plan.importCheck;
  if (plan.builder.style !== 'cortex' || strict.length + lenient.length === 0) return undefined;
  const names = [...strict, ...lenient.map((n) => `?${n}`)].filter((n) => IDENTIFIER.test(n.replace(/^\?/, '')));
  return [`${SCRIPTS_DIR}/assemble`, CHECK_IMPORTS, ...names];
}
