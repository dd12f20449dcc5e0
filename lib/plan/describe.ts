// Says in plain lines what a build plan will do: the resolved layout a user checks before building.

import { DEPENDENCIES_DIR, type BuildPlan } from './build-plan.js';
import { BUILT_IN } from '../config/ignore-rules.js';
import { PROGRAM_DIR } from './builders.js';

const MAX_LISTED = 10;

export function describePlan(plan: BuildPlan): string[] {
  const b = plan.builder;
  const lines: string[] = [];
  const row = (label: string, value: string) => lines.push(`  ${label.padEnd(14)} ${value}`);
  lines.push(`plan for ${plan.image}`);
  row('builder', b.style === 'cortex' ? `${b.image} (${b.kind})` : `${b.image} (s2i builder: its assemble script installs)`);
  row('project root', plan.project.standalone ? `${plan.project.root} (the model directory: no project around it)` : plan.project.root);
  const modelInImage = plan.project.standalone ? `${PROGRAM_DIR}/${plan.project.name}` : `${PROGRAM_DIR}/${plan.project.name}/${plan.model.path}`;
  row('model', `${plan.project.standalone ? plan.model.name : plan.model.path} -> ${modelInImage}`);
  row('shared code', plan.sharedFolders.length ? plan.sharedFolders.map((f) => `${f}/`).join(', ') : 'none');
  if (plan.skippedFolders.length) row('not included', `${plan.skippedFolders.map((f) => `${f}/`).join(', ')} (no Python code)`);
  if (plan.includedModels.length) row('other models', `${plan.includedModels.map((f) => `${f}/`).join(', ')} (served by this image)`);
  if (plan.leftOut.length) row('left out', `${plan.leftOut.map((f) => `${f}/`).join(', ')} (other models, data and output)`);
  // What the user's .cortexignore left out, by name; the built-in rules (dot files, bytecode) by count.
  const byUser = plan.ignored.filter((i) => i.by !== BUILT_IN);
  const builtIn = plan.ignored.length - byUser.length;
  const shown = byUser.slice(0, MAX_LISTED).map((i) => `${i.path}${i.dir ? '/' : ''}`);
  if (byUser.length > MAX_LISTED) shown.push(`${byUser.length - MAX_LISTED} more`);
  row('ignored', [...(shown.length ? [`${shown.join(', ')} (${plan.ignoreFiles.join(', ')})`] : []), `${builtIn} by the built-in rules (dot files, bytecode)`].join('; '));
  if (b.style === 'cortex') row('PYTHONPATH', plan.pythonPath.join(':'));
  const deps = [plan.dependencies.setupScript, plan.dependencies.requirements].filter((f) => f !== undefined);
  row('dependencies', deps.length ? deps.map((f) => `${f.from} -> ${f.name.replace(`${DEPENDENCIES_DIR}/`, '')}`).join(', ') : 'none (no setup.sh, no requirements file)');
  for (const o of plan.dependencies.indexOptions ?? []) row('index option', o);
  if (plan.dependencies.indexStage) row('index credentials', 'installed in a build stage of its own; no layer of the image holds them');
  for (const r of plan.routes) row('route', `POST /${r.path} -> ${r.module}:${r.function}`);
  if (plan.train) row('train', `${plan.train.module}:${plan.train.function}`);
  row('environment', plan.env.map((e) => e.key).join(', ') || 'none');
  if (plan.runtimeVariables) {
    row('run time', `${plan.runtimeVariables.keys.length} variable(s) in ${plan.runtimeVariables.file}: ${plan.runtimeVariables.keys.join(', ') || 'none'} (not in the image; pass it with docker run --env-file)`);
  }
  if (plan.user) row('runs as', `user ${plan.user}`);
  row('source', `${plan.source.length} file${plan.source.length === 1 ? '' : 's'}, ${formatBytes(plan.sourceBytes)}`);
  return lines;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
