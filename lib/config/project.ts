// Reads a model directory and the project around it from disk into plain values: the parsed
// config files and the non-ignored files that may go into an image. Decides nothing about images.

import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseDotenvFile, type DotenvSummary } from './dotenv-file.js';
import { ignoreRules, type IgnoreFile, type IgnoreRules } from './ignore-rules.js';
import { parseRequirements, type RequirementsFile } from './requirements.js';
import { failed, ok, type Result } from './result.js';
import { readEntryPoints, type ModelEntryPoints } from './routes.js';
import { scanS2iEnvironment, type S2iEnvironment } from './s2i-environment.js';

export const ENVIRONMENT_FILE = '.s2i/environment';
export const IGNORE_FILE = '.cortexignore';
export const DOTENV_FILE = '.env';
export const SETUP_SCRIPT = 'setup.sh';
/** In .s2i/environment: other model folders of the project that go into this image (the all image). */
export const MODELS_KEY = 'CORTEX_S2I_MODELS';
export const REQUIREMENTS_FILES = ['requirements_train.txt', 'requirements_predict.txt', 'requirements.txt'] as const;
export type RequirementsFileName = (typeof REQUIREMENTS_FILES)[number];

// Folders at a project's root that hold data or generated output, never code to ship.
export const NOT_SHARED = new Set(['data', 'models', 'all']);

export interface SourceFile {
  /** Posix path relative to the project root. */
  path: string;
  abs: string;
  size: number;
  executable: boolean;
}

/** A path the ignore rules left out (a folder is not descended), and the rules that did. */
export interface IgnoredPath {
  path: string;
  dir: boolean;
  by: string;
}

export interface SharedFolder {
  name: string;
  files: SourceFile[];
}

export interface ProjectSource {
  root: string;
  name: string;
  /** True when the model directory is a project of its own, with no shared code around it. */
  standalone: boolean;
  model: { dir: string; path: string; name: string };
  /** Every model directory of the project, relative to its root. */
  modelPaths: string[];
  environment: S2iEnvironment;
  entryPoints: ModelEntryPoints;
  dotenv: DotenvSummary | undefined;
  ignore: IgnoreRules;
  modelFiles: SourceFile[];
  sharedFolders: SharedFolder[];
  /** Other models' folders this image includes, as MODELS_KEY lists them. */
  includedModels: SharedFolder[];
  /** Folders at the project root that hold data or output (data/, models/, all/). */
  dataFolders: string[];
  /** Python files directly in the project root, such as an __init__.py. */
  rootFiles: SourceFile[];
  requirements: Partial<Record<RequirementsFileName, RequirementsFile>>;
  setupScript: SourceFile | undefined;
  ignored: IgnoredPath[];
}

export class SourceDirectoryError extends Error {}

/**
 * Reads the model in `sourceDir`. The project is `projectDir` when given, else the parent folder
 * when it looks like a project (other models, .cortexignore, .env, data/ or models/ beside it, or
 * module names qualified with its name), else the model directory itself.
 */
export async function readProject(sourceDir: string, projectDir?: string): Promise<Result<ProjectSource>> {
  const modelDir = path.resolve(sourceDir);
  if (!(await isDirectory(modelDir))) throw new SourceDirectoryError(modelDir);

  const envPath = path.join(modelDir, ENVIRONMENT_FILE);
  const envText = await readOptional(envPath);
  if (envText === undefined) {
    return failed([{
      file: envPath,
      message: `${modelDir} is not a model directory: it has no ${ENVIRONMENT_FILE}`,
      hint: "create it with ROUTES and TRAIN_MODULE/TRAIN_FUNCTION, or run 'cortex-s2i init'",
    }]);
  }
  const { environment, errors } = scanS2iEnvironment(envText, envPath);
  const entries = readEntryPoints(environment);
  if (!entries.ok) errors.push(...entries.errors);

  const root = projectDir ? path.resolve(projectDir) : await findProjectRoot(modelDir, environment);
  if (modelDir !== root && !modelDir.startsWith(root + path.sep)) {
    return failed([{ file: modelDir, message: `the model directory is not inside the project ${root}`, hint: 'pass --project with a folder that contains the model' }]);
  }
  const standalone = root === modelDir;
  const modelPath = toPosix(path.relative(root, modelDir));

  const ignoreFiles: IgnoreFile[] = [];
  for (const base of standalone ? [''] : ['', modelPath]) {
    const file = path.join(root, base, IGNORE_FILE);
    const text = await readOptional(file);
    if (text !== undefined) ignoreFiles.push({ base, file, text });
  }
  const ignore = ignoreRules(ignoreFiles);
  const ignored: IgnoredPath[] = [];

  const modelFiles = await walk(root, modelPath, ignore, ignored);
  const rootEntries = standalone ? [] : await readdir(root, { withFileTypes: true });
  const modelPaths = standalone ? [''] : [];
  const sharedFolders: SharedFolder[] = [];
  const dataFolders: string[] = [];
  const rootFiles: SourceFile[] = [];
  for (const entry of rootEntries.sort((a, b) => compare(a.name, b.name))) {
    const name = entry.name;
    if (name.startsWith('.')) continue;
    if (entry.isDirectory()) {
      if (await exists(path.join(root, name, ENVIRONMENT_FILE))) {
        modelPaths.push(name);
        continue;
      }
      if (NOT_SHARED.has(name)) {
        dataFolders.push(name);
        continue;
      }
      if (name === modelPath) continue;
      const by = ignore.reason(name, true);
      if (by) {
        ignored.push({ path: name, dir: true, by });
        continue;
      }
      sharedFolders.push({ name, files: await walk(root, name, ignore, ignored) });
    } else if (entry.isFile() && name.endsWith('.py')) {
      const by = ignore.reason(name, false);
      if (by) ignored.push({ path: name, dir: false, by });
      else rootFiles.push(await sourceFile(root, name));
    }
  }
  // A model nested deeper than the root's children is still a model of this project.
  if (!standalone && !modelPaths.includes(modelPath)) modelPaths.push(modelPath);

  const includedModels: SharedFolder[] = [];
  const modelsEntry = environment.entries.find((e) => e.key === MODELS_KEY);
  for (const name of modelsEntry ? modelsEntry.value.split(',').map((m) => m.trim()).filter(Boolean) : []) {
    if (!modelPaths.includes(name) || name === modelPath) {
      errors.push({
        file: envPath,
        line: modelsEntry!.line,
        message: `${MODELS_KEY} names ${JSON.stringify(name)}, which is not another model folder of ${root}`,
        hint: `model folders here: ${modelPaths.filter((m) => m !== modelPath).join(', ') || 'none'}`,
      });
      continue;
    }
    includedModels.push({ name, files: await walk(root, name, ignore, ignored) });
  }

  let dotenv: DotenvSummary | undefined;
  const dotenvPath = path.join(root, DOTENV_FILE);
  const dotenvText = await readOptional(dotenvPath);
  if (dotenvText !== undefined) {
    const parsed = parseDotenvFile(dotenvText, dotenvPath);
    if (parsed.ok) dotenv = parsed.value;
    else errors.push(...parsed.errors);
  }

  const requirements: ProjectSource['requirements'] = {};
  for (const name of REQUIREMENTS_FILES) {
    const file = path.join(modelDir, name);
    const text = await readOptional(file);
    if (text === undefined) continue;
    const parsed = parseRequirements(text, file);
    if (parsed.ok) requirements[name] = parsed.value;
    else errors.push(...parsed.errors);
  }
  const setupPath = path.join(modelDir, SETUP_SCRIPT);
  const setupScript = (await exists(setupPath)) ? await sourceFile(root, toPosix(path.relative(root, setupPath))) : undefined;

  // One list in file and line order reads best, whichever check found each problem.
  if (errors.length) return failed(errors.sort((a, b) => compare(a.file, b.file) || (a.line ?? 0) - (b.line ?? 0)));
  return ok({
    root,
    name: path.basename(root),
    standalone,
    model: { dir: modelDir, path: modelPath, name: path.basename(modelDir) },
    modelPaths: modelPaths.sort(compare),
    environment,
    entryPoints: entries.ok ? entries.value : { routes: [], train: undefined },
    dotenv,
    ignore,
    modelFiles,
    sharedFolders,
    includedModels,
    dataFolders,
    rootFiles,
    requirements,
    setupScript,
    ignored: ignored.sort((a, b) => compare(a.path, b.path)),
  });
}

/** The model folders directly in a project's root, sorted; `except` names folders to pass over. */
export async function listModels(root: string, except: string[] = []): Promise<string[]> {
  const entries = await readdir(root, { withFileTypes: true });
  const models: string[] = [];
  for (const e of entries) {
    if (e.isDirectory() && !e.name.startsWith('.') && !except.includes(e.name) && (await exists(path.join(root, e.name, ENVIRONMENT_FILE)))) {
      models.push(e.name);
    }
  }
  return models.sort(compare);
}

async function findProjectRoot(modelDir: string, environment: S2iEnvironment): Promise<string> {
  const parent = path.dirname(modelDir);
  if (parent === modelDir) return modelDir;
  const parentName = path.basename(parent);
  const qualified = environment.entries.some(
    (e) => ['ROUTES', 'TRAIN_MODULE', 'PREDICT_MODULE'].includes(e.key) && new RegExp(`(^|[:,\\s])${escapeRegExp(parentName)}\\.`).test(e.value),
  );
  if (qualified) return parent;
  for (const marker of [IGNORE_FILE, DOTENV_FILE, 'data', 'models']) {
    if (await exists(path.join(parent, marker))) return parent;
  }
  for (const entry of await readdir(parent, { withFileTypes: true })) {
    if (entry.isDirectory() && path.join(parent, entry.name) !== modelDir && (await exists(path.join(parent, entry.name, ENVIRONMENT_FILE)))) {
      return parent;
    }
  }
  return modelDir;
}

/** Non-ignored files under `dir` (relative to root), sorted; ignored folders are not descended. */
export async function walk(root: string, dir: string, ignore: IgnoreRules, ignored: IgnoredPath[] = []): Promise<SourceFile[]> {
  const entries = (await readdir(path.join(root, dir), { withFileTypes: true })).sort((a, b) => compare(a.name, b.name));
  // A folder's entries are looked at concurrently, since most of the time goes into waiting for
  // stat; the results are put together in the sorted order.
  const parts = await Promise.all(
    entries.map(async (entry): Promise<SourceFile[]> => {
      const rel = dir === '' ? entry.name : `${dir}/${entry.name}`;
      // Symbolic links are followed for files; a linked folder could loop, so it is not walked.
      const isDir = entry.isDirectory();
      const by = ignore.reason(rel, isDir);
      if (by) {
        ignored.push({ path: rel, dir: isDir, by });
        return [];
      }
      if (isDir) return walk(root, rel, ignore, ignored);
      if (entry.isFile() || (entry.isSymbolicLink() && (await isFile(path.join(root, rel))))) return [await sourceFile(root, rel)];
      return [];
    }),
  );
  return parts.flat();
}

async function sourceFile(root: string, rel: string): Promise<SourceFile> {
  const abs = path.join(root, rel);
  const st = await stat(abs);
  return { path: rel, abs, size: st.size, executable: (st.mode & 0o111) !== 0 };
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}
async function isDirectory(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isDirectory(), () => false);
}
async function isFile(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isFile(), () => false);
}

function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}

/** Byte-order comparison, so that file order never depends on the locale. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
