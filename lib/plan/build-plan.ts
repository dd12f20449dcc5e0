// The planner's common part: a project, a model and a builder as a build plan (plan.ts), with the
// builder's style (builder-styles/) deciding the source's shape, the import path, the dependency
// step and the user. What the image serves, and the checks that go with it, are the serving
// style's (serving/), which starts from this plan. No I/O.

import { DOTENV_FILE, type SourceFile } from '../config/project.js';
import type { Problem } from '../config/result.js';
import { compare } from '../text.js';
import { builderStyle } from './builder-styles/index.js';
import { planDependencies, withoutIndexCredentials } from './dependencies.js';
import { SOURCE_DIR, type BuildPlan, type EnvVar, type PlannedFile, type PlanRequest } from './plan.js';

/** A plan of the image before its serving style has added to it, and the files the image holds. */
export interface PlannedImage {
  plan: BuildPlan;
  /** The project's files as the image holds them, `<root>/<path>`: what module names resolve against. */
  inImage: ReadonlySet<string>;
}

export function planImage(req: PlanRequest): PlannedImage {
  const { project, builder } = req;
  const style = builderStyle(builder);
  const warnings: Problem[] = [...(project.dotenv?.warnings ?? []), ...project.warnings];
  const envFile = project.environment.file;

  const layout = style.source(project, builder);
  const source = withoutIndexCredentials(
    project,
    layout.files.map((f) => planned(f, layout.name(f.path))).sort((a, b) => compare(a.name, b.name)),
  );
  const inImage = new Set([...layout.files, ...project.links].map((f) => `${project.name}/${f.path}`));
  const dependencies = planDependencies(project, style.requirements(builder), project.setupScript, warnings);

  const pythonPath = style.pythonPath(project);
  const env: EnvVar[] = [];
  const setEnv = (key: string, value: string, from: string) => {
    const i = env.findIndex((e) => e.key === key);
    if (i >= 0) env.splice(i, 1);
    env.push({ key, value, from });
  };
  if (pythonPath.length) setEnv('PYTHONPATH', pythonPath.join(':'), 'cortex-s2i');
  for (const e of project.environment.entries) {
    const from = e.line === undefined ? '-e' : `${envFile}:${e.line}`;
    // The project's own PYTHONPATH comes after the import roots, which must win.
    if (e.key === 'PYTHONPATH' && pythonPath.length) setEnv('PYTHONPATH', `${pythonPath.join(':')}:${e.value}`, from);
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
  if (style.checksImports) {
    for (const i of project.externalImports) {
      (importCheck.where[i.name] ??= []).push({ file: i.file, line: i.line });
      if (i.strict && !importCheck.strict.includes(i.name)) importCheck.strict.push(i.name);
    }
    importCheck.lenient = Object.keys(importCheck.where)
      .filter((n) => !importCheck.strict.includes(n))
      .sort(compare);
    importCheck.strict.sort(compare);
  }

  const plan: BuildPlan = {
    image: req.image,
    builder,
    project: { root: project.root, name: project.name, standalone: project.standalone, why: project.why },
    model: { path: project.model.path, name: project.model.name },
    pythonPath,
    sharedFolders: style.sharedFolders(project),
    skippedFolders: project.leftOut.filter((l) => l.why === 'no Python code').map((l) => l.path),
    includedModels: project.includedModels.map((m) => m.name),
    leftOut: project.leftOut.filter((l) => l.why !== 'no Python code'),
    links: layout.links,
    importCheck,
    ignoreFiles: project.ignore.files,
    ignored: project.ignored,
    dependencies,
    sourceDir: SOURCE_DIR,
    source,
    sourceBytes: source.reduce((n, f) => n + f.size, 0),
    env,
    labels: labels(req),
    user: style.user(builder),
    routes: project.entryPoints.routes,
    train: project.entryPoints.train,
    runtimeVariables: project.dotenv ? { file: project.dotenv.file, keys: project.dotenv.keys } : undefined,
    serves: [],
    warnings,
  };
  return { plan, inImage };
}

function planned(f: Pick<SourceFile, 'abs' | 'size' | 'executable'>, name: string): PlannedFile {
  return { name, from: f.abs, size: f.size, executable: f.executable };
}

/** The s2i and OCI labels every image carries: where it came from, what built it, when. */
function labels(req: PlanRequest): Array<[string, string]> {
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
  return out;
}
