// Turns a project, a model and a builder into a build plan: plain data saying which files go where,
// what the dependency step installs, the image's environment and labels. No I/O.

import type { IgnoredPath, LeftOutPath, ProjectSource, SourceFile } from '../config/project.js';
import { DOTENV_FILE } from '../config/project.js';
import { compare } from '../text.js';
import { failed, ok, type Problem, type Result } from '../config/result.js';
import type { EntryPoint, Route } from '../config/routes.js';
import { BUILDER_KINDS, PROGRAM_DIR, type Builder } from './builders.js';
import { resolveModule } from './modules.js';
import { planDependencies, withoutIndexCredentials, type PlannedDependencies } from './dependencies.js';
import type { SourceRevision } from '../config/git.js';

export type { SourceRevision } from '../config/git.js';

export interface BuildRequest {
  project: ProjectSource;
  image: string;
  builder: Builder;
  /** -e KEY=VALUE from the command line; they win over .s2i/environment. */
  extraEnv: Array<{ key: string; value: string }>;
  revision: SourceRevision | undefined;
  /** RFC 3339 time for org.opencontainers.image.created. */
  created: string;
  toolVersion: string;
  /** The image serves the Cortex APIs of cortex.yaml (cortex-plan.ts), not ROUTES. */
  servesApis?: boolean;
}

/** A file of the build context: `name` is its path in the context, `from` where it is read. */
export interface PlannedFile {
  name: string;
  from: string;
  size: number;
  executable: boolean;
  /** Content made by the plan (a requirements file without credentials), sent instead of `from`. */
  content?: Buffer;
}

/** A symbolic link of the context: `target` as the link in the image holds it. */
export interface PlannedLink {
  name: string;
  target: string;
}

/**
 * Where the left-out models/ folders of a model's package and use case point in the image; the
 * builder images point it at the mounted models (the runtime's staging.py keeps the same path).
 */
export const MODELS_LINK = '/opt/cortex-s2i/models';

export interface EnvVar {
  key: string;
  value: string;
  from: string;
}

export interface BuildPlan {
  image: string;
  builder: Builder;
  project: { root: string; name: string; standalone: boolean; why: string };
  model: { path: string; name: string };
  /** Image folder each path of PYTHONPATH points at, in import order. */
  pythonPath: string[];
  sharedFolders: string[];
  /** Folders at the project root left out because they hold no Python code. */
  skippedFolders: string[];
  /** Other models' folders included on purpose (the all image serves them). */
  includedModels: string[];
  /** Other models, use cases, data and output folders of the project: not in this image, and why. */
  leftOut: LeftOutPath[];
  /** Links in the source layer: links of the project that stay inside it, and models/ folders. */
  links: PlannedLink[];
  /**
   * Top-level names the model's code imports from outside the layout: checked in the image after
   * the dependency step. `strict` ones (the model's own code) fail the build when missing.
   */
  importCheck: { strict: string[]; lenient: string[]; where: Record<string, Array<{ file: string; line: number }>> };
  ignoreFiles: string[];
  ignored: IgnoredPath[];
  dependencies: PlannedDependencies;
  /** Context folder whose content is copied to the program folder (or the s2i source folder). */
  sourceDir: string;
  source: PlannedFile[];
  sourceBytes: number;
  env: EnvVar[];
  labels: Array<[string, string]>;
  user: string | undefined;
  routes: Route[];
  train: EntryPoint | undefined;
  /** Names of .env variables: given at run time with --env-file, never put in the image. */
  runtimeVariables: { file: string; keys: string[] } | undefined;
  warnings: Problem[];
}

export { DEPENDENCIES_DIR } from './dependencies.js';
export const SOURCE_DIR = 'src';

export function planBuild(req: BuildRequest): Result<BuildPlan> {
  const { project, builder } = req;
  const errors: Problem[] = [];
  const warnings: Problem[] = [...(project.dotenv?.warnings ?? []), ...project.warnings];
  const envFile = project.environment.file;
  const { routes, train } = project.entryPoints;
  const cortex = builder.style === 'cortex';

  // The root is laid out under the program folder as /opt/program/<root>, so that module names
  // import as written from the import roots: the model folder, each folder on the way up, and
  // the program folder itself.
  const imageRoot = project.name;
  const pythonRoots = project.importRoots;
  const pythonPath = pythonRoots.map((r) => (r === '' ? PROGRAM_DIR : `${PROGRAM_DIR}/${r}`));

  const sourceFiles: SourceFile[] = cortex
    ? [
        ...project.modelFiles,
        ...project.rootFiles,
        ...[...project.sharedFolders, ...project.includedModels].flatMap((f) => f.files),
      ]
    : project.modelFiles;
  // s2i builders receive the model folder alone as their source, as `s2i build` would send it.
  // For cortex builders the context's src/ mirrors the image from its root: src/opt/program/...
  // is copied to /, so that /opt and /opt/program are entries of the tar too, with its fixed time,
  // rather than folders the engine creates or touches at build time, which would put the build's
  // time into the source layer and change its digest on every fresh build.
  const prefix = cortex ? `${SOURCE_DIR}${PROGRAM_DIR}/${imageRoot}/` : `${SOURCE_DIR}/`;
  const strip = cortex || project.standalone ? '' : `${project.model.path}/`;
  const inContext = (p: string) => `${prefix}${p.slice(strip.length)}`;
  const source = withoutIndexCredentials(
    project,
    sourceFiles.map((f) => planned(f, inContext(f.path))).sort((a, b) => compare(a.name, b.name)),
  );
  const links: PlannedLink[] = cortex
    ? [
        ...project.links.map((l) => ({ name: inContext(l.path), target: l.target })),
        ...project.modelsLinks.map((m) => ({ name: inContext(m), target: MODELS_LINK })),
      ].sort((a, b) => compare(a.name, b.name))
    : project.links.filter((l) => l.path.startsWith(strip)).map((l) => ({ name: inContext(l.path), target: l.target }));
  const imagePaths = new Set([...sourceFiles, ...project.links].map((f) => `${imageRoot}/${f.path}`));

  // What each builder calls must resolve; what it never calls (TRAIN_MODULE in a predict image,
  // ROUTES in a train image) is only worth a warning.
  const needs = cortex && !req.servesApis ? BUILDER_KINDS[builder.kind].needs : undefined;
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
    const resolved = resolveModule(m.module, pythonRoots, imagePaths);
    if (resolved.ok) continue;
    const suggestion = suggestModule(m.module, pythonRoots, imagePaths);
    const problem: Problem = {
      file: m.file,
      line: m.line,
      message: `${m.what}: module ${m.module} does not resolve to a file in the image (looked for ${resolved.tried.join(', ')})${suggestion ? `; did you mean ${suggestion}?` : ''}`,
      hint:
        needs && !m.needed
          ? `a ${builder.style === 'cortex' ? builder.kind : ''} image never calls it, so this build goes on`
          : 'check the module name, and that the file is not excluded by .cortexignore',
    };
    (m.needed ? errors : warnings).push(problem);
  }

  const kindInfo = cortex ? BUILDER_KINDS[builder.kind] : undefined;
  const dependencies = planDependencies(project, kindInfo?.requirements, project.setupScript, warnings);

  const env: EnvVar[] = [];
  const setEnv = (key: string, value: string, from: string) => {
    const i = env.findIndex((e) => e.key === key);
    if (i >= 0) env.splice(i, 1);
    env.push({ key, value, from });
  };
  if (cortex) setEnv('PYTHONPATH', pythonPath.join(':'), 'cortex-s2i');
  for (const e of project.environment.entries) {
    const from = e.line === undefined ? '-e' : `${envFile}:${e.line}`;
    if (e.key === 'PYTHONPATH' && cortex) setEnv('PYTHONPATH', `${pythonPath.join(':')}:${e.value}`, from);
    else setEnv(e.key, e.value, from);
  }
  for (const e of req.extraEnv) setEnv(e.key, e.value, '-e');
  const dotenvKeys = new Set(project.dotenv?.keys ?? []);
  for (const e of env) {
    if (dotenvKeys.has(e.key) && e.from !== '-e') {
      warnings.push({
        file: e.from.replace(/:\d+$/, ''),
        message: `${e.key} is also in ${DOTENV_FILE}; the value here is baked into the image, the ${DOTENV_FILE} one wins at run time`,
      });
    }
  }

  const importCheck: BuildPlan['importCheck'] = { strict: [], lenient: [], where: {} };
  if (cortex) {
    for (const i of project.externalImports) {
      (importCheck.where[i.name] ??= []).push({ file: i.file, line: i.line });
      if (i.strict && !importCheck.strict.includes(i.name)) importCheck.strict.push(i.name);
    }
    importCheck.lenient = Object.keys(importCheck.where)
      .filter((n) => !importCheck.strict.includes(n))
      .sort(compare);
    importCheck.strict.sort(compare);
  }

  if (errors.length) return failed(errors);
  return ok({
    image: req.image,
    builder,
    project: { root: project.root, name: project.name, standalone: project.standalone, why: project.why },
    model: { path: project.model.path, name: project.model.name },
    pythonPath,
    sharedFolders: cortex ? project.sharedFolders.map((f) => f.name) : [],
    skippedFolders: project.leftOut.filter((l) => l.why === 'no Python code').map((l) => l.path),
    includedModels: project.includedModels.map((m) => m.name),
    leftOut: project.leftOut.filter((l) => l.why !== 'no Python code'),
    links,
    importCheck,
    ignoreFiles: project.ignore.files,
    ignored: project.ignored,
    dependencies,
    sourceDir: SOURCE_DIR,
    source,
    sourceBytes: source.reduce((n, f) => n + f.size, 0),
    env,
    labels: labels(req),
    user: cortex ? BUILDER_KINDS[builder.kind].user : builder.user,
    routes,
    train,
    runtimeVariables: project.dotenv ? { file: project.dotenv.file, keys: project.dotenv.keys } : undefined,
    warnings,
  });
}

/** The module of the image whose last names match `module`'s best: `did you mean ...?`. */
function suggestModule(module: string, roots: string[], files: ReadonlySet<string>): string | undefined {
  const wanted = module.split('.');
  let best: { name: string; score: number } | undefined;
  for (const file of files) {
    if (!file.endsWith('.py')) continue;
    for (const root of roots) {
      const prefix = root === '' ? '' : `${root}/`;
      if (!file.startsWith(prefix)) continue;
      const parts = file.slice(prefix.length, -3).split('/');
      if (parts.at(-1) === '__init__') parts.pop();
      if (!parts.length || parts.some((p) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(p))) continue;
      let score = 0;
      while (
        score < Math.min(parts.length, wanted.length) &&
        parts[parts.length - 1 - score] === wanted[wanted.length - 1 - score]
      )
        score++;
      // A typo in the module's own name (trian for train) still points at it.
      if (score === 0 && closeEnough(parts.at(-1)!, wanted.at(-1)!)) score = 0.5;
      if (
        score > 0 &&
        (!best || score > best.score || (score === best.score && parts.join('.').length < best.name.length))
      )
        best = { name: parts.join('.'), score };
    }
  }
  return best?.name;
}

/** Within two single-letter edits (insertions, deletions, substitutions or swaps of neighbours). */
function closeEnough(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 2) return false;
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]! <= 2;
}

function planned(f: Pick<SourceFile, 'abs' | 'size' | 'executable'>, name: string): PlannedFile {
  return { name, from: f.abs, size: f.size, executable: f.executable };
}

function labels(req: BuildRequest): Array<[string, string]> {
  const { project, revision } = req;
  const out: Array<[string, string]> = [
    ['io.openshift.s2i.build.image', req.builder.image],
    ['io.openshift.s2i.build.source-location', project.root],
  ];
  if (!project.standalone) out.push(['io.openshift.s2i.build.source-context-dir', project.model.path]);
  if (revision) {
    out.push(['io.openshift.s2i.build.commit.id', revision.commit]);
    if (revision.ref) out.push(['io.openshift.s2i.build.commit.ref', revision.ref]);
    if (revision.author) out.push(['io.openshift.s2i.build.commit.author', revision.author]);
    if (revision.date) out.push(['io.openshift.s2i.build.commit.date', revision.date]);
    if (revision.message) out.push(['io.openshift.s2i.build.commit.message', revision.message]);
  }
  out.push(
    ['org.opencontainers.image.created', req.created],
    ['org.opencontainers.image.title', project.model.name],
    ['org.opencontainers.image.base.name', req.builder.image],
  );
  if (revision) out.push(['org.opencontainers.image.revision', revision.commit]);
  if (revision?.remote) out.push(['org.opencontainers.image.source', revision.remote]);
  out.push(['io.cortex-s2i.version', req.toolVersion]);
  const routes = project.entryPoints.routes.map((r) => r.path);
  if (routes.length) out.push(['io.cortex-s2i.routes', routes.join(',')]);
  return out;
}
