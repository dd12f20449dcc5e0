// A model's Makefile and, where missing, a working skeleton (`cortex-s2i init <model-dir>`): the
// names it uses, chosen from what the model already says, and the files written beside its code.

import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { readProject, type ProjectSource } from '../config/project.js';
import { usageError } from '../errors.js';
import { renderModelFiles, type ModelNames } from '../render/model-files.js';
import { readExisting } from '../safe-write.js';
import { writeGenerated } from './write.js';

export interface InitRequest {
  modelDir: string;
  modelName?: string | undefined;
  dataset?: string | undefined;
  container?: string | undefined;
  force: boolean;
}

const MODEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DATASET = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(\/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$/;
const CONTAINER = /^[a-z0-9][a-z0-9_.-]*$/;

/** Writes the model's files; resolves with what was done to each, and the make command to run next. */
export async function initModel(request: InitRequest): Promise<string[]> {
  const modelDir = path.resolve(request.modelDir);
  const names = await chooseNames(modelDir, request);
  const files = renderModelFiles(names);

  // One requirements.txt serves both images: a skeleton beside it would take its place.
  const hasShared = (await readExisting(modelDir, 'requirements.txt').catch(() => undefined))?.kind !== 'missing';
  const toWrite = files.filter((f) => !(hasShared && f.path.startsWith('requirements_')));
  const report = await writeGenerated(modelDir, toWrite, { force: request.force });
  return [...report.lines, await nextSteps(modelDir)];
}

const WORKFLOW = ['build-train', 'train', 'build-predict', 'predict', 'test-endpoint', 'stop'];

/** The make command to run next, from the targets of the Makefile that is there now. */
async function nextSteps(modelDir: string): Promise<string> {
  const name = path.basename(modelDir);
  const existing = await readExisting(modelDir, 'Makefile');
  if (existing.kind !== 'file') return `${name}: no Makefile`;
  const targets = makeTargets(existing.content.toString('utf8'));
  const steps = WORKFLOW.filter((t) => targets.has(t));
  if (steps.length) return `${name}: make ${steps.join(' ')}`;
  return `${name}: its Makefile (written by hand) has none of the targets ${WORKFLOW.join(', ')}; see its own targets${targets.size ? `: ${[...targets].join(', ')}` : ''}`;
}

/** The explicit targets a Makefile defines (rules, not variable assignments or special targets). */
export function makeTargets(makefile: string): Set<string> {
  const targets = new Set<string>();
  for (const line of makefile.replace(/\\\r?\n/g, ' ').split(/\r?\n/)) {
    const m = /^([A-Za-z0-9_./-][^:=#\t]*?)\s*::?(?!=)/.exec(line);
    if (!m) continue;
    for (const t of m[1]!.trim().split(/\s+/)) if (!t.startsWith('.') && !t.includes('%')) targets.add(t);
  }
  return targets;
}

/** The names a model's Makefile uses: given ones, else from its first route, folder and data/. */
export async function chooseNames(
  modelDir: string,
  given: Pick<InitRequest, 'modelName' | 'dataset' | 'container'> = {},
  read?: ProjectSource,
): Promise<ModelNames> {
  // An existing model says its own name through its first route: adult_income_lr/predict.
  let fromRoutes: string | undefined;
  let projectDir = path.dirname(modelDir);
  const project = read ? { ok: true as const, value: read } : await readProject(modelDir).catch(() => undefined);
  if (project?.ok) {
    fromRoutes = project.value.entryPoints.routes[0]?.path.split('/')[0];
    if (!project.value.standalone) projectDir = project.value.root;
  }
  const modelName =
    given.modelName ?? (fromRoutes && MODEL_NAME.test(fromRoutes) ? fromRoutes : snake(path.basename(modelDir)));
  // data/x.csv and x.csv name the same file: the Makefile mounts data/ and adds the prefix itself.
  const named = given.dataset?.replace(/^(\.\/)?data\//, '');
  const dataset = named ?? (await onlyCsv(path.join(projectDir, 'data'))) ?? `${modelName}.csv`;
  const containerName = given.container ?? modelName.toLowerCase().replace(/_/g, '-');
  if (!MODEL_NAME.test(modelName))
    throw usageError(
      `model name ${JSON.stringify(modelName)} must be a Python identifier`,
      'pass --model-name, e.g. --model-name adult_income_lr',
    );
  if (!DATASET.test(dataset) || dataset.split('/').includes('..'))
    throw usageError(
      `dataset ${JSON.stringify(dataset)} must be a file name under data/`,
      'e.g. --dataset adult_income-prepped.csv',
    );
  if (!CONTAINER.test(containerName))
    throw usageError(
      `container name ${JSON.stringify(containerName)} must be lower case letters, digits, '.', '_' and '-'`,
      'e.g. --container adult-income-lr',
    );
  const rel = path.relative(modelDir, projectDir).split(path.sep).join('/');
  return { modelName, datasetName: dataset, containerName, projectDir: rel === '' ? '.' : rel };
}

async function onlyCsv(dataDir: string): Promise<string | undefined> {
  const csvs = (await readdir(dataDir).catch(() => [] as string[])).filter((f) => f.endsWith('.csv'));
  return csvs.length === 1 ? csvs[0] : undefined;
}

function snake(name: string): string {
  const s = name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9_]+/g, '_')
    .toLowerCase()
    .replace(/^(\d)/, '_$1');
  return s || 'model';
}
