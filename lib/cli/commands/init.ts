// `cortex-s2i init <model-dir>`: the model's Makefile and, where missing, a working skeleton.

import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { readProject } from '../../config/project.js';
import { ExitCode, usageError } from '../../errors.js';
import type { GeneratedFile } from '../../render/all-files.js';
import { renderModelFiles, type ModelNames } from '../../render/model-files.js';
import type { Command } from '../args.js';
import type { CommandContext } from '../context.js';
import { writeGenerated } from './write-files.js';

type InitCommand = Extract<Command, { name: 'init' }>;

const MODEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DATASET = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(\/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$/;
const CONTAINER = /^[a-z0-9][a-z0-9_.-]*$/;

export async function initCommand(cmd: InitCommand, ctx: CommandContext): Promise<number> {
  const modelDir = path.resolve(cmd.modelDir);
  const names = await chooseNames(cmd, modelDir);
  const files = renderModelFiles(names);

  const toWrite: GeneratedFile[] = [];
  for (const f of files) {
    const exists = await stat(path.join(modelDir, f.path)).then(() => true, () => false);
    if (exists && !cmd.force) ctx.output.out(`kept ${f.path} (it exists; --force replaces it)`);
    else toWrite.push(f);
  }
  for (const line of await writeGenerated(modelDir, toWrite)) ctx.output.out(line);
  ctx.output.out(`${path.basename(modelDir)}: make build-train train build-predict predict test-endpoint`);
  return ExitCode.ok;
}

async function chooseNames(cmd: InitCommand, modelDir: string): Promise<ModelNames> {
  // An existing model says its own name through its first route: adult_income_lr/predict.
  let fromRoutes: string | undefined;
  let projectDir = path.dirname(modelDir);
  const project = await readProject(modelDir).catch(() => undefined);
  if (project?.ok) {
    fromRoutes = project.value.entryPoints.routes[0]?.path.split('/')[0];
    if (!project.value.standalone) projectDir = project.value.root;
  }
  const modelName = cmd.modelName ?? (fromRoutes && MODEL_NAME.test(fromRoutes) ? fromRoutes : snake(path.basename(modelDir)));
  const dataset = cmd.dataset ?? (await onlyCsv(path.join(projectDir, 'data'))) ?? `${modelName}.csv`;
  const containerName = cmd.container ?? modelName.toLowerCase().replace(/_/g, '-');
  if (!MODEL_NAME.test(modelName)) throw usageError(`model name ${JSON.stringify(modelName)} must be a Python identifier`, 'pass --model-name, e.g. --model-name adult_income_lr');
  if (!DATASET.test(dataset) || dataset.split('/').includes('..')) throw usageError(`dataset ${JSON.stringify(dataset)} must be a file name under data/`, 'e.g. --dataset adult_income-prepped.csv');
  if (!CONTAINER.test(containerName)) throw usageError(`container name ${JSON.stringify(containerName)} must be lower case letters, digits, '.', '_' and '-'`, 'e.g. --container adult-income-lr');
  const rel = path.relative(modelDir, projectDir).split(path.sep).join('/');
  return { modelName, datasetName: dataset, containerName, projectDir: rel === '' ? '.' : rel };
}

async function onlyCsv(dataDir: string): Promise<string | undefined> {
  const csvs = (await readdir(dataDir).catch(() => [] as string[])).filter((f) => f.endsWith('.csv'));
  return csvs.length === 1 ? csvs[0] : undefined;
}

function snake(name: string): string {
  const s = name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[^A-Za-z0-9_]+/g, '_').toLowerCase().replace(/^(\d)/, '_$1');
  return s || 'model';
}
