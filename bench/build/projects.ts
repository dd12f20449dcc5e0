// The projects and hand-written build contexts the benchmark builds, all in a temporary folder:
// a copy of the example project, never the committed fixture.

import { chmod, cp, mkdir, open, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { must } from './commands.js';

export const BENCH_MODEL = 'xgBoost';

/**
 * setup.sh of the benchmark model: a real Debian package that the base image lacks, installed as
 * real projects install one. Removing apt's binary caches (/var/cache/apt/*.bin) is what the
 * official Debian images' docker-clean hook does after every apt-get; the locally bootstrapped
 * base has no such hook, and without it every setup.sh layer would carry 78 MB of them.
 */
const SETUP_SH = `#!/bin/sh
# Native dependencies of the benchmark model: jq, from Debian's archive.
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends jq
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
`;

export interface BenchProject {
  root: string;
  /** The project's folder name, as it appears under /opt/program. */
  name: string;
  modelDir: string;
}

/** Copies the example project, gives the benchmark model its setup.sh, and commits it, as a user's project is. */
export async function prepareBenchProject(
  fixture: string,
  into: string,
  env: NodeJS.ProcessEnv,
): Promise<BenchProject> {
  const name = path.basename(fixture);
  const root = path.join(into, name);
  await cp(fixture, root, { recursive: true });
  const modelDir = path.join(root, BENCH_MODEL);
  await writeFile(path.join(modelDir, 'setup.sh'), SETUP_SH);
  await chmod(path.join(modelDir, 'setup.sh'), 0o755);
  // readRevision runs git on every build; a user's project is a repository, so this one is too.
  const git = (...args: string[]) =>
    must(
      'git',
      [
        '-C',
        root,
        '-c',
        'user.name=cortex-s2i bench',
        '-c',
        'user.email=bench@localhost',
        '-c',
        'commit.gpgsign=false',
        ...args,
      ],
      { env },
    );
  await git('init', '-q');
  await git('add', '-A');
  await git('commit', '-q', '-m', 'benchmark copy of the example project');
  return { root, name, modelDir };
}

/** Appends a comment to predict.py: a source-only edit, unique to the run and the iteration. */
export async function editPredict(project: BenchProject, token: string): Promise<void> {
  const file = await open(path.join(project.modelDir, 'predict.py'), 'a');
  try {
    await file.write(`# cortex-s2i bench edit ${token}\n`);
  } finally {
    await file.close();
  }
}

/** A file of `bytes` that takes no disk space: it is never read, only (not) sent. */
export async function sparseFile(file: string, bytes: number): Promise<void> {
  const handle = await open(file, 'w');
  try {
    await handle.truncate(bytes);
  } finally {
    await handle.close();
  }
}

/** A file in the image, relative to /opt/program, and where it comes from in the project. */
export interface SourceFile {
  inImage: string;
  size: number;
}

/** Copies the listed files from the project into `dir`/opt/program/<project>/..., as the image has them. */
export async function placeSource(project: BenchProject, files: SourceFile[], dir: string): Promise<void> {
  await rm(path.join(dir, 'opt'), { recursive: true, force: true });
  for (const f of files) {
    const [projectName, ...rest] = f.inImage.split('/');
    if (projectName !== project.name) throw new Error(`unexpected file in the image: /opt/program/${f.inImage}`);
    const to = path.join(dir, 'opt', 'program', f.inImage);
    await mkdir(path.dirname(to), { recursive: true });
    await cp(path.join(project.root, ...rest), to, { preserveTimestamps: false });
  }
}

/** The model's dependency files, as cortex-s2i sends them: setup.sh, and the predict requirements as requirements.txt. */
export async function placeDependencies(project: BenchProject, dir: string): Promise<void> {
  await mkdir(path.join(dir, 'deps'), { recursive: true });
  await cp(path.join(project.modelDir, 'setup.sh'), path.join(dir, 'deps', 'setup.sh'));
  await cp(path.join(project.modelDir, 'requirements_predict.txt'), path.join(dir, 'deps', 'requirements.txt'));
}

/** The whole model folder, as `s2i build` uploads it to /tmp/src. */
/**
 * (b) what s2i is given: the project root, as the recipe for the stock s2i tool (docs/images.md) sends it
 * (a model folder alone lacks the shared code it imports), without data/ and models/ (what an
 * .s2iignore would leave out) and without git's or cortex-s2i's own folders.
 */
export async function placeProjectForS2i(project: BenchProject, dir: string): Promise<void> {
  const into = path.join(dir, 'src');
  await rm(into, { recursive: true, force: true });
  const skipped = new Set(['data', 'models', '.git', '.cortex-s2i-cache']);
  await cp(project.root, into, { recursive: true, filter: (src) => !skipped.has(path.basename(src)) });
}

export const HEADER = '# Hand-written for the cortex-s2i build benchmark (bench/build); not generated by cortex-s2i.';

/** (a) the floor's base: the builder with the model's dependencies installed, as cortex-s2i installs them. */
export function dependenciesDockerfile(builder: string): string {
  return [
    HEADER,
    `FROM ${builder}`,
    'USER root',
    'COPY deps/ /tmp/cortex-s2i-deps/',
    'RUN /usr/libexec/s2i/assemble --dependencies /tmp/cortex-s2i-deps',
    '',
  ].join('\n');
}

/** (a) the floor: only the source files, copied onto an image that already has the dependencies. */
export function floorDockerfile(withDependencies: string): string {
  return [HEADER, `FROM ${withDependencies}`, 'COPY opt/ /opt/', ''].join('\n');
}

/** (b) the s2i way (s2i build, s2i --as-dockerfile): the whole model folder, then the full assemble. */
export function s2iDockerfile(builder: string): string {
  // USER root for assemble, as s2i does for a builder labelled io.openshift.s2i.assemble-user=0
  // (the daemon builder runs as 1001): setup.sh installs a Debian package. CORTEX_S2I_MODEL names
  // the model in the project root, as `s2i build -e` does.
  return [
    HEADER,
    `FROM ${builder}`,
    'USER root',
    'COPY src/ /tmp/src/',
    `ENV CORTEX_S2I_MODEL=${BENCH_MODEL}`,
    'RUN /usr/libexec/s2i/assemble',
    'USER 1001',
    'CMD ["/usr/libexec/s2i/run"]',
    '',
  ].join('\n');
}

/** (c) what a user would write by hand for the same image: a dependency layer and a source layer. */
export function twoLayerDockerfile(builder: string, envLine: string): string {
  return [
    HEADER,
    `FROM ${builder}`,
    'USER root',
    'COPY deps/ /tmp/deps/',
    'RUN sh /tmp/deps/setup.sh && pip install -r /tmp/deps/requirements.txt && rm -rf /tmp/deps',
    envLine,
    'COPY opt/ /opt/',
    'USER 1001',
    'CMD ["/usr/libexec/s2i/run"]',
    '',
  ].join('\n');
}

/** The instruction that identifies the dependency layer of twoLayerDockerfile in `docker history`. */
export const TWO_LAYER_DEPENDENCY_STEP = 'sh /tmp/deps/setup.sh && pip install';

/**
 * (e) a project of exactly `count` files: a model with a route, a .cortexignore, and the rest as
 * Python modules in packages, four fifths in the model folder and a fifth in shared code, all of
 * which a build sends.
 */
export async function generateLargeProject(into: string, count: number): Promise<{ modelDir: string; files: number }> {
  const root = path.join(into, 'large_project');
  const modelDir = path.join(root, 'model');
  const core: Array<[string, string]> = [
    ['model/.s2i/environment', 'ROUTES=large/predict:predict:predict\n'],
    ['model/predict.py', 'def predict(msg):\n    return msg\n'],
    ['model/requirements.txt', 'numpy\n'],
    ['common_utils/__init__.py', '"""Shared code of the generated benchmark project."""\n'],
    // Marks the folder around the model as its project, so that common_utils/ is shared code.
    ['.cortexignore', 'notebooks/\n*.log\n'],
  ];
  const generated = count - core.length;
  const inModel = Math.round(generated * 0.8);
  const files = [...core];
  for (let k = 0; k < generated; k++) {
    const [base, n] = k < inModel ? ['model', k] : ['common_utils', k - inModel];
    const name = n % 100 === 0 ? '__init__.py' : `module_${n % 100}.py`;
    files.push([
      `${base}/pkg_${Math.floor(n / 100)}/${name}`,
      `"""Generated module ${k} of the cortex-s2i build benchmark."""\nVALUE = ${k}\n`,
    ]);
  }
  const dirs = new Set(files.map(([f]) => path.dirname(path.join(root, f))));
  for (const d of dirs) await mkdir(d, { recursive: true });
  for (const [f, content] of files) await writeFile(path.join(root, f), content);
  return { modelDir, files: files.length };
}
