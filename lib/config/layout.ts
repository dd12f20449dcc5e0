// Decides, from a snapshot of the file system (scan.ts) and nothing else, what a model's image
// holds: which folder is the root of the layout, which folders are import roots, which files and
// links go in, what is left out and why, and every problem found on the way. Pure: when it needs
// more of the tree than the snapshot holds, it says what to read, and the reader asks again.
//
// The root is chosen from what the code imports and what ROUTES/TRAIN_MODULE name, never from
// markers such as a data/ folder: an import whose first name is a folder or module of an
// ancestor makes that ancestor part of the layout, and with it the shared code at every level
// on the way (folders with Python code that hold no model folders). Other models, use cases
// (folders holding model folders), data/ and models/ at any depth never go in.

import path from 'node:path';
import { compare, toPosix } from '../text.js';
import { parseDotenvFile, type DotenvSummary } from './dotenv-file.js';
import { ignoreRules, type IgnoreFile, type IgnoreRules } from './ignore-rules.js';
import { findImports, type PythonImport } from './python-imports.js';
import { parseRequirements, type RequirementsFile } from './requirements.js';
import type { Problem } from './result.js';
import { readEntryPoints, type ModelEntryPoints } from './routes.js';
import { scanS2iEnvironment, type EnvironmentEntry, type S2iEnvironment } from './s2i-environment.js';
import type { ProjectSnapshot } from './scan.js';
import {
  DOTENV_FILE,
  ENTRY_KEYS,
  ENVIRONMENT_FILE,
  IGNORE_FILE,
  MODELS_KEY,
  REQUIREMENTS_FILES,
  SETUP_SCRIPT,
  sourceFile,
  Tree,
  type ExternalImport,
  type IgnoredPath,
  type LeftOutPath,
  type RequirementsFileName,
  type SharedFolder,
  type SourceFile,
  type SourceLink,
} from './source-tree.js';
import { STDLIB_MODULES } from './stdlib.js';

export * from './source-tree.js';

export interface ProjectSource {
  /** Absolute path of the layout's root: laid out in the image as /opt/program/<name>. */
  root: string;
  name: string;
  /** True when the model folder is the root: no package or shared code around it is needed. */
  standalone: boolean;
  /** Why the root is where it is, for the printed plan. */
  why: string;
  model: { dir: string; path: string; name: string };
  /** Import roots, model folder first, as paths relative to the root's parent ('' is the parent). */
  importRoots: string[];
  environment: S2iEnvironment;
  entryPoints: ModelEntryPoints;
  dotenv: DotenvSummary | undefined;
  ignore: IgnoreRules;
  modelFiles: SourceFile[];
  sharedFolders: SharedFolder[];
  /** Other models' folders this image includes, as MODELS_KEY lists them. */
  includedModels: SharedFolder[];
  /** Python files directly in the root or a folder on the way to the model, such as __init__.py. */
  rootFiles: SourceFile[];
  links: SourceLink[];
  /** models/ folders of the model, its use case and its packages: links to the mounted models in the image. */
  modelsLinks: string[];
  /** Every model folder found in the layout, relative to the root. */
  modelPaths: string[];
  leftOut: LeftOutPath[];
  requirements: Partial<Record<RequirementsFileName, RequirementsFile>>;
  setupScript: SourceFile | undefined;
  ignored: IgnoredPath[];
  externalImports: ExternalImport[];
  /** Every module name the image can import from the layout, by the import root it is found under. */
  moduleFiles: ReadonlySet<string>;
  warnings: Problem[];
}

export type Resolution =
  | { ok: true; value: ProjectSource }
  | { ok: false; errors: Problem[] }
  | { ok: 'more'; walk: string[]; read: string[] };

export interface ResolveOptions {
  /** --project: the root, as the user chose it. */
  projectDir?: string;
  /** -e KEY=VALUE from the command line: entry keys among them are read like .s2i/environment's. */
  extraEnv?: Array<{ key: string; value: string }>;
  /** What stands for .s2i/environment when the folder has none: a Cortex project names its APIs in cortex.yaml. */
  environmentText?: string;
  /** Folders of the root (relative to it) put first on the import path: a Cortex predictor's python_path. */
  pythonPaths?: string[];
  /** findImports itself, or the same answers from a cache (lib/build/cache.ts). */
  findImports?: (source: string) => PythonImport[];
}

/** Decides the layout of the model in `snap`, or says what more of the tree it needs to. */
export function resolveProject(snap: ProjectSnapshot, options: ResolveOptions = {}): Resolution {
  const { levels, modelDir } = snap;
  const at = (...parts: string[]) => path.join(...parts);
  const envPath = at(modelDir, ENVIRONMENT_FILE);
  const envText = snap.texts.get(envPath) ?? (snap.entries.has(envPath) ? undefined : options.environmentText);
  if (envText === undefined) {
    if (snap.entries.get(envPath)?.kind === 'file') return more([], [envPath]);
    return {
      ok: false,
      errors: [
        {
          file: envPath,
          message: `${modelDir} is not a model directory: it has no ${ENVIRONMENT_FILE}`,
          hint: "create it with ROUTES and TRAIN_MODULE/TRAIN_FUNCTION, or run 'cortex-s2i init'",
        },
      ],
    };
  }
  const errors: Problem[] = [];
  const warnings: Problem[] = [];
  const scanned = scanS2iEnvironment(envText, envPath);
  errors.push(...scanned.errors);
  const environment = withOverrides(scanned.environment, options.extraEnv ?? []);
  const entries = readEntryPoints(environment);
  if (!entries.ok) errors.push(...entries.errors);
  const entryPoints = entries.ok ? entries.value : { routes: [], train: undefined };

  // The top level of the layout: levels[top] is the root. --project fixes it; otherwise it grows
  // with what the code imports, until nothing imported lies above it.
  let top = 0;
  let why = 'the model folder: nothing its code imports lies above it';
  if (options.projectDir !== undefined) {
    top = levels.indexOf(options.projectDir);
    if (top < 0) {
      return {
        ok: false,
        errors: [
          {
            file: modelDir,
            message: `the model directory is not inside the project ${options.projectDir}`,
            hint: 'pass --project with a folder that contains the model (at most 8 levels up)',
          },
        ],
      };
    }
    why = 'chosen with --project';
  }

  // Config files read on the way: .cortexignore and .env of every level up to the root (and of the
  // model's parent, which holds them in the usual layout even when no code is shared).
  const configLevels = () => levels.slice(0, Math.max(top, 1) + 1);
  // Asked again whenever the root grows: a higher root brings its own .cortexignore and .env.
  const configWanted = () => {
    const wanted: string[] = [];
    const want = (file: string) => {
      if (snap.entries.get(file)?.kind === 'file' && !snap.texts.has(file)) wanted.push(file);
    };
    for (const level of configLevels()) {
      want(at(level, IGNORE_FILE));
      want(at(level, DOTENV_FILE));
    }
    for (const name of REQUIREMENTS_FILES) want(at(modelDir, name));
    return wanted;
  };

  const modelsKey = environment.entries.find((e) => e.key === MODELS_KEY);
  const includedNames = modelsKey
    ? modelsKey.value
        .split(',')
        .map((m) => m.trim())
        .filter(Boolean)
    : [];
  // The all image's folder names model folders beside it: their parent is in the layout.
  if (includedNames.length && top < 1 && options.projectDir === undefined && levels.length > 1) {
    top = 1;
    why = `${MODELS_KEY} in ${path.basename(modelDir)}/${ENVIRONMENT_FILE}:${modelsKey!.line} names model folders beside it`;
  }

  for (;;) {
    const wanted = configWanted();
    if (wanted.length) return more([], wanted);
    const ignore = ignoreRulesFor(snap, levels.slice(0, top + 1), Math.max(top, 1));
    const tree = new Tree(snap, levels[top]!, ignore);
    const layout = tree.layout(levels.slice(0, top + 1), includedNames);
    if (layout.walk.length || layout.read.length) return more(layout.walk, layout.read);

    // What the included code imports, and the entry points' modules, as imports too.
    const importsOf = options.findImports ?? findImports;
    const imports = layout.pythonFiles.flatMap((f) =>
      importsOf(snap.texts.get(f.abs) ?? '').map((i) => ({ ...i, file: f.abs, strict: f.strict })),
    );
    const named = [
      ...entryPoints.routes.map((r) => ({ module: r.module, line: r.line, what: 'ROUTES' })),
      ...(entryPoints.train
        ? [{ module: entryPoints.train.module, line: entryPoints.train.line, what: 'TRAIN_MODULE' }]
        : []),
    ];
    if (options.projectDir === undefined) {
      let grown = top;
      let reason = why;
      const consider = (module: string, what: string, file: string, line: number) => {
        const first = module.split('.')[0]!;
        if (STDLIB_MODULES.has(first)) return;
        const needed = levelNeeded(snap, first);
        if (needed !== undefined && needed > grown) {
          grown = needed;
          reason = `${what}${toPosix(path.relative(levels[needed]!, file))}:${line} imports ${module}`;
        }
      };
      for (const n of named) consider(n.module, `${n.what} in `, envPath, n.line);
      for (const i of imports) if (i.level === 0 && i.module) consider(i.module, '', i.file, i.line);
      if (grown > top) {
        top = grown;
        why = reason;
        continue;
      }
    }

    // The layout is settled: check it and describe it.
    const rootDir = levels[top]!;
    const rel = (abs: string) => toPosix(path.relative(rootDir, abs));
    const chain = levels.slice(0, top + 1);
    const importRoots = [
      ...(options.pythonPaths ?? []).map((p) => toPosix(path.join(path.basename(rootDir), p))),
      ...chain.map((l) => toPosix(path.join(path.basename(rootDir), path.relative(rootDir, l)))),
      '',
    ];
    for (const level of chain) {
      if (path.basename(level).includes(':')) {
        errors.push({
          file: level,
          message: `the folder name ${JSON.stringify(path.basename(level))} contains ':', which cannot be part of PYTHONPATH`,
          hint: 'rename the folder',
        });
      }
    }
    const moduleFiles = new Set(layout.files.map((f) => `${path.basename(rootDir)}/${f.path}`));
    for (const link of layout.links) moduleFiles.add(`${path.basename(rootDir)}/${link.path}`);
    // Every folder of the image, for the lookups of packages (with or without __init__.py).
    const moduleDirs = new Set<string>();
    for (const f of moduleFiles)
      for (let at = f.indexOf('/'); at >= 0; at = f.indexOf('/', at + 1)) moduleDirs.add(f.slice(0, at));
    errors.push(...layout.errors, ...shadowing(layout.files, layout.links, importRoots, path.basename(rootDir)));
    warnings.push(...layout.warnings, ...ignore.warnings);
    for (const bad of snap.badNames) {
      if (bad.startsWith(rootDir + path.sep))
        warnings.push({
          file: bad,
          message: 'skipped: the name is not valid UTF-8',
          hint: 'rename it if it belongs in the image',
        });
    }

    const externalImports: ExternalImport[] = [];
    for (const i of imports) {
      if (i.level !== 0 || !i.module) continue;
      const found = findModule(i.module, importRoots, moduleFiles, moduleDirs);
      if (found === 'found') continue;
      const first = i.module.split('.')[0]!;
      if (found === 'partial') {
        if (!i.optional) errors.push(importProblem(i, i.module, tree.whyMissing(i.module, chain)));
        continue;
      }
      const onDisk = levelNeeded(snap, first);
      if (onDisk !== undefined && onDisk <= top && !STDLIB_MODULES.has(first)) {
        if (!i.optional) errors.push(importProblem(i, i.module, tree.whyMissing(i.module, chain)));
        continue;
      }
      // The standard library is the image's Python's own: nothing a requirements file could add.
      if (!i.optional && !STDLIB_MODULES.has(first))
        externalImports.push({ name: first, file: i.file, line: i.line, strict: i.strict });
    }

    const dotenvFile = configLevels()
      .map((l) => at(l, DOTENV_FILE))
      .find((f) => snap.texts.has(f));
    let dotenv: DotenvSummary | undefined;
    if (dotenvFile) {
      const parsed = parseDotenvFile(snap.texts.get(dotenvFile)!, dotenvFile);
      if (parsed.ok) dotenv = parsed.value;
      else errors.push(...parsed.errors);
    }
    const requirements: ProjectSource['requirements'] = {};
    for (const name of REQUIREMENTS_FILES) {
      const file = at(modelDir, name);
      const text = snap.texts.get(file);
      if (text === undefined) continue;
      const parsed = parseRequirements(text, file);
      if (parsed.ok) requirements[name] = parsed.value;
      else errors.push(...parsed.errors);
    }
    const setupEntry = snap.entries.get(at(modelDir, SETUP_SCRIPT));
    const setupScript =
      setupEntry?.kind === 'file'
        ? sourceFile(at(modelDir, SETUP_SCRIPT), rel(at(modelDir, SETUP_SCRIPT)), setupEntry)
        : undefined;
    for (const name of includedNames) {
      if (!layout.includedModels.some((m) => path.basename(m.name) === name)) {
        errors.push({
          file: envPath,
          line: modelsKey!.line,
          message: `${MODELS_KEY} names ${JSON.stringify(name)}, which is not another model folder beside ${path.basename(modelDir)}`,
          hint: `model folders there: ${layout.siblingModels.join(', ') || 'none'}`,
        });
      }
    }

    if (errors.length) return { ok: false, errors: sortProblems(errors) };
    return {
      ok: true,
      value: {
        root: rootDir,
        name: path.basename(rootDir),
        standalone: top === 0,
        why,
        model: { dir: modelDir, path: rel(modelDir), name: path.basename(modelDir) },
        importRoots,
        environment,
        entryPoints,
        dotenv,
        ignore,
        modelFiles: layout.modelFiles,
        sharedFolders: layout.shared,
        includedModels: layout.includedModels,
        rootFiles: layout.rootFiles,
        links: layout.links,
        modelsLinks: layout.modelsLinks,
        modelPaths: layout.modelPaths,
        leftOut: layout.leftOut,
        requirements,
        setupScript,
        ignored: layout.ignored,
        externalImports,
        moduleFiles,
        warnings: sortProblems(warnings),
      },
    };
  }
}

function more(walk: string[], read: string[]): Resolution {
  return { ok: 'more', walk: [...new Set(walk)], read: [...new Set(read)] };
}

/** .s2i/environment with -e's entry keys in place of its own, so plan and labels show what is served. */
function withOverrides(env: S2iEnvironment, extra: Array<{ key: string; value: string }>): S2iEnvironment {
  const overrides = extra.filter((e) => ENTRY_KEYS.has(e.key) || e.key === MODELS_KEY);
  if (!overrides.length) return env;
  const entries: EnvironmentEntry[] = env.entries.filter((e) => !overrides.some((o) => o.key === e.key));
  overrides.forEach((o, i) => entries.push({ key: o.key, value: o.value, line: i + 1 }));
  return { file: env.file, entries };
}

/**
 * The lowest level at which `first` names a module or folder: 0 when the model folder has it; k
 * when levels[k-1] is that folder (so levels[k-1] must be in the layout); otherwise the k at whose
 * folder it is a module or package beside the way down (so levels[k] must be).
 */
// What it looks at in the levels above the root, only names that could be modules, is what a
// rebuild with nothing changed checks there (inputs.ts): keep the two in step.
function levelNeeded(snap: ProjectSnapshot, first: string): number | undefined {
  const { levels } = snap;
  // One step past the last level too: the top level scanned (a repository's top, say) may itself
  // be the package that the code names.
  for (let k = 0; k <= levels.length; k++) {
    if (k > 0 && path.basename(levels[k - 1]!) === first) return k - 1;
    if (k === levels.length) break;
    const dir = levels[k]!;
    const asFile = snap.entries.get(path.join(dir, `${first}.py`));
    const asDir = snap.entries.get(path.join(dir, first));
    if (asFile?.kind === 'file' || asDir?.kind === 'dir' || (asDir?.kind === 'link' && asDir.targetKind === 'dir'))
      return k;
  }
  return undefined;
}

/** 'found' when a file or package of the image is the module; 'partial' when only its first name is. */
function findModule(
  module: string,
  roots: string[],
  files: ReadonlySet<string>,
  dirs: ReadonlySet<string>,
): 'found' | 'partial' | 'missing' {
  const parts = module.split('.');
  let partial = false;
  for (const root of roots) {
    const base = (p: string[]) => (root === '' ? p.join('/') : `${root}/${p.join('/')}`);
    const first = base(parts.slice(0, 1));
    const hasDir = (dir: string) => dirs.has(dir);
    if (!files.has(`${first}.py`) && !hasDir(first)) continue;
    partial = true;
    const full = base(parts);
    if (files.has(`${full}.py`) || hasDir(full)) return 'found';
    // A module defined by a package's __init__.py is an attribute, not a file: `from a import b` of
    // a.b inside a/__init__.py. One level up being a module file means the rest is an attribute.
    for (let n = parts.length - 1; n >= 1; n--) {
      if (files.has(`${base(parts.slice(0, n))}.py`)) return 'found';
    }
  }
  return partial ? 'partial' : 'missing';
}

function importProblem(i: PythonImport & { file: string }, module: string, reason: string): Problem {
  return {
    file: i.file,
    line: i.line,
    message: `imports ${module}, which is not in the image: ${reason}`,
    hint: 'check the module name; the plan (--dry-run) shows what the image holds',
  };
}

function shadowing(files: SourceFile[], links: SourceLink[], roots: string[], rootName: string): Problem[] {
  const problems: Problem[] = [];
  const paths = [...files.map((f) => f.path), ...links.map((l) => l.path)].map((p) => `${rootName}/${p}`);
  for (const root of roots) {
    const prefix = root === '' ? '' : `${root}/`;
    const seen = new Set<string>();
    for (const p of paths) {
      if (!p.startsWith(prefix)) continue;
      const rest = p.slice(prefix.length).split('/');
      let name: string | undefined;
      if (rest.length === 1 && rest[0]!.endsWith('.py')) name = rest[0]!.slice(0, -3);
      else if (rest.length === 2 && rest[1] === '__init__.py') name = rest[0];
      if (name && STDLIB_MODULES.has(name) && !seen.has(name)) {
        seen.add(name);
        problems.push({
          file: p.split('/').slice(1).join('/') || p,
          message: `${rest.length === 1 ? `${name}.py` : `the package ${name}/`} would be imported in place of Python's own ${name} module (it is on PYTHONPATH, which comes first), breaking the server and libraries that import ${name}`,
          hint: `rename it, e.g. to ${name}_utils${rest.length === 1 ? '.py' : '/'}, and update its imports`,
        });
      }
    }
  }
  return problems;
}

function sortProblems(problems: Problem[]): Problem[] {
  // One list in file and line order reads best, whichever check found each problem.
  return problems.sort((a, b) => compare(a.file, b.file) || (a.line ?? 0) - (b.line ?? 0));
}

/** The .cortexignore rules of the given levels, each scoped to its own folder, relative to the root. */
function ignoreRulesFor(snap: ProjectSnapshot, chain: string[], upTo: number): IgnoreRules {
  const rootDir = chain[chain.length - 1]!;
  const files: IgnoreFile[] = [];
  for (const level of snap.levels.slice(0, upTo + 1)) {
    const file = path.join(level, IGNORE_FILE);
    const text = snap.texts.get(file);
    if (text === undefined) continue;
    const base = toPosix(path.relative(rootDir, level));
    // A .cortexignore above the root (the parent of a lone model) applies from the root down.
    files.push({ base: base.startsWith('..') ? '' : base, file, text });
  }
  return ignoreRules(files.sort((a, b) => a.base.length - b.base.length));
}
