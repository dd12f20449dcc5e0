// Turns a project, a model and a builder into a build plan: plain data saying which files go where,
// what the dependency step installs, the image's environment and labels. No I/O.

import type { IgnoredPath, ProjectSource, SourceFile } from '../config/project.js';
import { compare, DOTENV_FILE } from '../config/project.js';
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

export interface EnvVar {
  key: string;
  value: string;
  from: string;
}

export interface BuildPlan {
  image: string;
  builder: Builder;
  project: { root: string; name: string; standalone: boolean };
  model: { path: string; name: string };
  /** Image folder each path of PYTHONPATH points at, in import order. */
  pythonPath: string[];
  sharedFolders: string[];
  /** Folders at the project root left out because they hold no Python code. */
  skippedFolders: string[];
  /** Other models' folders included on purpose (the all image serves them). */
  includedModels: string[];
  /** Other models and data folders of the project: not in this image. */
  leftOut: string[];
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
  const warnings: Problem[] = [...(project.dotenv?.warnings ?? [])];
  const envFile = project.environment.file;
  const { routes, train } = project.entryPoints;

  // Everything is laid out under the program folder as <project>/<model>, so that module names
  // import as written: bare from the model folder, qualified from the project or its parent.
  const imageRoot = project.name;
  const pythonRoots = importRoots(project);
  const pythonPath = pythonRoots.map((r) => (r === '' ? PROGRAM_DIR : `${PROGRAM_DIR}/${r}`));

  const shared = project.sharedFolders.filter((f) => f.files.some((file) => file.path.endsWith('.py')));
  const sourceFiles: SourceFile[] =
    builder.style === 'cortex'
      ? [...project.modelFiles, ...project.rootFiles, ...[...shared, ...project.includedModels].flatMap((f) => f.files)]
      : project.modelFiles;
  // s2i builders receive the model folder alone as their source, as `s2i build` would send it.
  // For cortex builders the context's src/ mirrors the image from its root: src/opt/program/...
  // is copied to /, so that /opt and /opt/program are entries of the tar too, with its fixed time,
  // rather than folders the engine creates or touches at build time, which would put the build's
  // time into the source layer and change its digest on every fresh build.
  const prefix = builder.style === 'cortex' ? `${SOURCE_DIR}${PROGRAM_DIR}/${imageRoot}/` : `${SOURCE_DIR}/`;
  const strip = builder.style === 'cortex' || project.standalone ? '' : `${project.model.path}/`;
  const source = withoutIndexCredentials(project, sourceFiles
    .map((f) => planned(f, `${prefix}${f.path.slice(strip.length)}`))
    .sort((a, b) => compare(a.name, b.name)));
  const imagePaths = new Set(sourceFiles.map((f) => `${imageRoot}/${f.path}`));

  if (builder.style === 'cortex') {
    const needs = BUILDER_KINDS[builder.kind].needs;
    if (needs === 'routes' && routes.length === 0) {
      errors.push({ file: envFile, message: 'ROUTES is not set: the daemon builder serves the routes it lists', hint: 'e.g. ROUTES=my_model/predict:predict:predict' });
    }
    if (needs === 'train' && !train) {
      errors.push({ file: envFile, message: 'TRAIN_MODULE and TRAIN_FUNCTION are not set: the train builder calls them', hint: 'e.g. TRAIN_MODULE=train and TRAIN_FUNCTION=train' });
    }
  }
  const toResolve: Array<{ module: string; file: string; line: number; what: string }> = [
    ...routes.map((r) => ({ module: r.module, file: r.file, line: r.line, what: `route ${r.path}` })),
    ...(train ? [{ module: train.module, file: train.file, line: train.line, what: 'TRAIN_MODULE' }] : []),
  ];
  for (const m of toResolve) {
    const resolved = resolveModule(m.module, pythonRoots, imagePaths);
    if (!resolved.ok) {
      errors.push({
        file: m.file,
        line: m.line,
        message: `${m.what}: module ${m.module} does not resolve to a file in the image (looked for ${resolved.tried.join(', ')})`,
        hint: 'check the module name, and that the file is not excluded by .cortexignore',
      });
    }
  }

  const kindInfo = builder.style === 'cortex' ? BUILDER_KINDS[builder.kind] : undefined;
  const dependencies = planDependencies(project, kindInfo?.requirements, project.setupScript, warnings);

  const env: EnvVar[] = [];
  const setEnv = (key: string, value: string, from: string) => {
    const i = env.findIndex((e) => e.key === key);
    if (i >= 0) env.splice(i, 1);
    env.push({ key, value, from });
  };
  if (builder.style === 'cortex') setEnv('PYTHONPATH', pythonPath.join(':'), 'cortex-s2i');
  for (const e of project.environment.entries) {
    if (e.key === 'PYTHONPATH' && builder.style === 'cortex') setEnv('PYTHONPATH', `${pythonPath.join(':')}:${e.value}`, `${envFile}:${e.line}`);
    else setEnv(e.key, e.value, `${envFile}:${e.line}`);
  }
  for (const e of req.extraEnv) setEnv(e.key, e.value, '-e');
  const dotenvKeys = new Set(project.dotenv?.keys ?? []);
  for (const e of env) {
    if (dotenvKeys.has(e.key) && e.from !== '-e') {
      warnings.push({ file: e.from.replace(/:\d+$/, ''), message: `${e.key} is also in ${DOTENV_FILE}; the value here is baked into the image, the ${DOTENV_FILE} one wins at run time` });
    }
  }

  if (errors.length) return failed(errors);
  return ok({
    image: req.image,
    builder,
    project: { root: project.root, name: project.name, standalone: project.standalone },
    model: { path: project.model.path, name: project.model.name },
    pythonPath,
    sharedFolders: builder.style === 'cortex' ? shared.map((f) => f.name) : [],
    skippedFolders: project.sharedFolders.filter((f) => !shared.includes(f)).map((f) => f.name),
    includedModels: project.includedModels.map((m) => m.name),
    leftOut: [
      ...project.modelPaths.filter((m) => m !== project.model.path && m !== '' && !project.includedModels.some((i) => i.name === m)),
      ...project.dataFolders,
    ].sort(compare),
    ignoreFiles: project.ignore.files,
    ignored: project.ignored,
    dependencies,
    sourceDir: SOURCE_DIR,
    source,
    sourceBytes: source.reduce((n, f) => n + f.size, 0),
    env,
    labels: labels(req),
    user: builder.style === 'cortex' ? BUILDER_KINDS[builder.kind].user : builder.user,
    routes,
    train,
    runtimeVariables: project.dotenv ? { file: project.dotenv.file, keys: project.dotenv.keys } : undefined,
    warnings,
  });
}

/**
 * The import roots of a model's image, relative to the program folder ('' is the folder itself):
 * the model folder, then the project, then the project's parent, so that module names import
 * bare, project-relative or package-qualified, as in the model's own checkout.
 */
export function importRoots(project: Pick<ProjectSource, 'name' | 'standalone' | 'model'>): string[] {
  const modelInImage = project.standalone ? project.name : `${project.name}/${project.model.path}`;
  return project.standalone ? [modelInImage, ''] : [modelInImage, project.name, ''];
}

function planned(f: SourceFile, name: string): PlannedFile {
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
