// Says in plain lines what a build plan will do: the resolved layout a user checks before building.

import type { LeftOutPath } from '../config/project.js';
import { BUILT_IN } from '../config/ignore-rules.js';
import { builderStyle } from './builder-styles/index.js';
import { PROGRAM_DIR } from './builders.js';
import { DEPENDENCIES_DIR } from './dependencies.js';
import { MODELS_LINK, type BuildPlan } from './plan.js';
import { formatBytes } from '../text.js';

const MAX_LISTED = 10;

export function describePlan(plan: BuildPlan): string[] {
  const b = plan.builder;
  const lines: string[] = [];
  const row = (label: string, value: string) => lines.push(`  ${label.padEnd(14)} ${value}`);
  lines.push(`plan for ${plan.image}`);
  row('builder', builderStyle(b).describe(b));
  row('project root', `${plan.project.root} (${plan.project.why})`);
  const modelInImage = plan.project.standalone
    ? `${PROGRAM_DIR}/${plan.project.name}`
    : `${PROGRAM_DIR}/${plan.project.name}/${plan.model.path}`;
  row('model', `${plan.project.standalone ? plan.model.name : plan.model.path} -> ${modelInImage}`);
  row('shared code', plan.sharedFolders.length ? plan.sharedFolders.map((f) => `${f}/`).join(', ') : 'none');
  if (plan.skippedFolders.length)
    row('not included', `${plan.skippedFolders.map((f) => `${f}/`).join(', ')} (no Python code)`);
  if (plan.includedModels.length)
    row('other models', `${plan.includedModels.map((f) => `${f}/`).join(', ')} (served by this image)`);
  for (const [why, paths] of groupBy(plan.leftOut))
    row('left out', `${paths.map((p) => `${p}/`).join(', ')} (${LEFT_OUT_WORDS[why] ?? why})`);
  const modelsLinks = plan.links.filter((l) => l.target === MODELS_LINK);
  if (modelsLinks.length)
    row(
      'models',
      `${modelsLinks.map((l) => l.name.replace(/^src\/opt\/program\/[^/]+\//, '')).join(', ')} -> the mounted models (${MODELS_LINK})`,
    );
  const kept = plan.links.filter((l) => l.target !== MODELS_LINK);
  if (kept.length)
    row('links', kept.map((l) => `${l.name.replace(/^src\/opt\/program\/[^/]+\//, '')} -> ${l.target}`).join(', '));
  // What the user's .cortexignore left out, by name; the built-in rules (dot files, bytecode) by count.
  const byUser = plan.ignored.filter((i) => i.by !== BUILT_IN);
  const builtIn = plan.ignored.length - byUser.length;
  const shown = byUser.slice(0, MAX_LISTED).map((i) => `${i.path}${i.dir ? '/' : ''}`);
  if (byUser.length > MAX_LISTED) shown.push(`${byUser.length - MAX_LISTED} more`);
  row(
    'ignored',
    [
      ...(shown.length ? [`${shown.join(', ')} (${plan.ignoreFiles.join(', ')})`] : []),
      `${builtIn} by the built-in rules (dot files, bytecode)`,
    ].join('; '),
  );
  if (plan.pythonPath.length) row('PYTHONPATH', plan.pythonPath.join(':'));
  const deps = [plan.dependencies.setupScript, plan.dependencies.requirements].filter((f) => f !== undefined);
  row(
    'dependencies',
    deps.length
      ? deps.map((f) => `${f.from} -> ${f.name.replace(`${DEPENDENCIES_DIR}/`, '')}`).join(', ')
      : 'none (no setup.sh, no requirements file)',
  );
  for (const o of plan.dependencies.indexOptions ?? []) row('index option', o);
  if (plan.dependencies.indexStage)
    row('index credentials', 'installed in a build stage of its own; no layer of the image holds them');
  for (const r of plan.routes) row('route', `POST /${r.path} -> ${r.module}:${r.function}`);
  if (plan.train) row('train', `${plan.train.module}:${plan.train.function}`);
  row('environment', plan.env.map((e) => e.key).join(', ') || 'none');
  if (plan.runtimeVariables) {
    row(
      'run time',
      `${plan.runtimeVariables.keys.length} variable(s) in ${plan.runtimeVariables.file}: ${plan.runtimeVariables.keys.join(', ') || 'none'} (not in the image; pass it with docker run --env-file)`,
    );
  }
  const checked = [...plan.importCheck.strict, ...plan.importCheck.lenient];
  if (checked.length) row('imports', `${checked.join(', ')} (looked up in the image after the dependencies)`);
  if (plan.user) row('runs as', `user ${plan.user}`);
  row('source', `${plan.source.length} file${plan.source.length === 1 ? '' : 's'}, ${formatBytes(plan.sourceBytes)}`);
  for (const [label, text] of plan.serves) row(label, text);
  return lines;
}

const LEFT_OUT_WORDS: Record<string, string> = {
  'other model': 'other models',
  'other API': "other APIs' predictors",
  'use case': 'other use cases: folders of model folders',
  data: 'data',
  'trained models': 'trained models: mounted at run time',
  generated: 'generated: another image',
};

function groupBy(paths: LeftOutPath[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const p of paths) groups.set(p.why, [...(groups.get(p.why) ?? []), p.path]);
  return groups;
}
