// Cortex APIs: a project with a cortex.yaml at its root, built into the predict image of its APIs:
// which APIs it serves, the list of them the runtime reads (cortex_s2i_runtime/cortex_api.py), and
// which files go in. It builds on the plan a model folder gets (build-plan.ts); cortex.yaml is read
// through the build's SourceFolder, and the planning is pure.
//
// The project's root is laid out as a standalone model folder: /opt/program/<project>/, on the
// import path, with its setup.sh and requirements file as the dependency step. The APIs come from
// cortex.yaml instead of ROUTES; a one-API image (--api) leaves out the folders of the other APIs'
// predictors. Models are never sent: `model` names a folder under the models mounted at run time.

import path from 'node:path';
import type { CortexApi } from '../../config/cortex-yaml.js';
import { CORTEX_YAML } from '../../config/source-tree.js';
import type { ProjectSource } from '../../config/project.js';
import { failed, ok, type Problem, type Result } from '../../config/result.js';
import { RESERVED_PATHS } from '../../config/routes.js';
import { invalidProject, usageError } from '../../errors.js';
import { compare } from '../../text.js';
import { PROGRAM_DIR } from '../builders.js';
import { planImage } from '../build-plan.js';
import { SOURCE_DIR, type BuildPlan, type PlanRequest } from '../plan.js';
import type { ServingStyle } from './style.js';

/** What a cortex.yaml declares: the APIs this image serves, and every API the file lists. */
export interface DeclaredApis {
  /** The folder holding cortex.yaml: the project's root. */
  dir: string;
  served: CortexApi[];
  all: CortexApi[];
}

export const cortexApis: ServingStyle<DeclaredApis> = {
  name: 'Cortex APIs',

  async declared(source, request) {
    const text = await source.readText(CORTEX_YAML);
    if (text === undefined) return undefined;
    const file = path.join(source.dir, CORTEX_YAML);
    // The parser (and the yaml library) load only for projects that have a cortex.yaml.
    const { parseCortexYaml } = await import('../../config/cortex-yaml.js');
    const parsed = parseCortexYaml(text, file, await source.files());
    if (!parsed.ok) throw invalidProject(parsed.errors);
    const chosen = selectApis(parsed.value, file, request.api);
    if (!chosen.ok) throw invalidProject(chosen.errors);
    if (request.kind !== 'daemon')
      throw usageError(
        `${source.dir} is a Cortex project (${CORTEX_YAML}): it builds with the daemon builder, not ${request.builder}`,
        `cortex-s2i build ${source.dir} daemon ${request.image}`,
      );
    return { dir: source.dir, served: chosen.value, all: parsed.value };
  },

  // The folder holding cortex.yaml is the project's root, and its APIs, not ROUTES, say what is served.
  reading: ({ dir, served }) => ({
    projectDir: dir,
    environmentText: '',
    pythonPaths: [...new Set(served.flatMap((a) => (a.predictor.pythonPath ? [a.predictor.pythonPath] : [])))],
  }),

  plan: (req, { served, all }) => planCortexBuild(req, served, all),
};

/** Where the image keeps the list of the APIs it serves, and the variable that points the runtime at it. */
export const APIS_FILE = `${PROGRAM_DIR}/cortex-apis.json`;
export const APIS_ENV = 'CORTEX_S2I_APIS';
export const APIS_LABEL = 'io.cortex-s2i.apis';

/** One API as the runtime reads it; keys in the runtime's (Python's) spelling. */
export interface ServedApi {
  name: string;
  /** The URL path served, without its leading slash. */
  route: string;
  /** The predictor's file in the image. */
  predictor: string;
  /** The python_path folder in the image, put first on the import path. */
  python_path: string | null;
  config: Record<string, unknown>;
  /** A folder under the mounted models, given to init as a local path. */
  model: string | null;
  monitoring: { key: string | null; model_type: string } | null;
}

// What a predictor type other than python would need, none of which a cortex-s2i image carries.
const MISSING: Record<string, string> = {
  tensorflow: 'TensorFlow Serving (tensorflow_model_server) and the tensorflow package, which the images do not carry',
  onnx: 'the onnxruntime package, which the images do not carry',
};

/**
 * The APIs a build serves: every API, or the one `only` names. Problems (an unknown name, a
 * tensorflow or onnx predictor, a model that is not a folder under the mounted models) point at
 * cortex.yaml's lines, so the build stops before anything reaches the engine.
 */
export function selectApis(apis: CortexApi[], file: string, only?: string): Result<CortexApi[]> {
  const chosen = only === undefined ? apis : apis.filter((a) => a.name === only);
  if (only !== undefined && chosen.length === 0) {
    return failed([
      {
        file,
        message: `--api ${only}: cortex.yaml has no API of that name`,
        hint: `its APIs: ${apis.map((a) => a.name).join(', ')}`,
      },
    ]);
  }
  const problems: Problem[] = [];
  for (const api of chosen) {
    const missing = MISSING[api.predictor.type];
    if (missing) {
      problems.push({
        file,
        line: api.line,
        message: `API ${api.name}: predictor type ${api.predictor.type} needs ${missing}; it is not served as anything else`,
        hint: 'load the model in a type: python predictor, or build the other APIs with --api <name>',
      });
    }
    const route = api.endpoint.replace(/^\/+/, '').replace(/\/+$/, '');
    if (RESERVED_PATHS.has(route)) {
      problems.push({
        file,
        line: api.line,
        message: `API ${api.name}: endpoint ${api.endpoint} is the server's own GET /${route}`,
        hint: `e.g. endpoint: /${api.name}`,
      });
    }
    const model = api.predictor.model;
    if (model !== undefined && (model.includes('://') || model.startsWith('/') || model.split('/').includes('..'))) {
      problems.push({
        file,
        line: api.line,
        message: `API ${api.name}: model ${model} is not a folder under the mounted models`,
        hint: 'give a path relative to the models folder, e.g. model: iris',
      });
    }
  }
  return problems.length ? failed(problems) : ok(chosen);
}

/** The plan of an image serving `apis` (chosen from `all`, the whole cortex.yaml) from the project. */
export function planCortexBuild(req: PlanRequest, apis: CortexApi[], all: CortexApi[]): Result<BuildPlan> {
  const { project } = req;
  const left = otherApiFolders(apis, all);
  const under = (p: string) => left.some((d) => p === d || p.startsWith(`${d}/`));
  const pythonFile = (f: string) => f.endsWith('.py');
  const trimmed: ProjectSource = {
    ...project,
    modelFiles: project.modelFiles.filter((f) => !under(f.path)),
    externalImports: project.externalImports.filter(
      (i) => !under(path.relative(project.root, i.file).split(path.sep).join('/')),
    ),
    leftOut: [...project.leftOut, ...left.map((p) => ({ path: p, why: 'other API' as const }))],
  };
  const { plan } = planImage({ ...req, project: trimmed });
  const inImage = (p: string) => `${PROGRAM_DIR}/${project.name}/${p}`;
  const served: ServedApi[] = apis.map((api) => ({
    name: api.name,
    route: api.endpoint.replace(/^\/+/, '').replace(/\/+$/, ''),
    predictor: inImage(api.predictor.path),
    python_path: api.predictor.pythonPath === undefined ? null : inImage(api.predictor.pythonPath).replace(/\/$/, ''),
    config: api.predictor.config,
    model: api.predictor.model ?? null,
    monitoring: api.monitoring ? { key: api.monitoring.key ?? null, model_type: api.monitoring.modelType } : null,
  }));
  const content = Buffer.from(`${JSON.stringify(served, null, 2)}\n`);
  const listFile = {
    name: `${SOURCE_DIR}${APIS_FILE}`,
    from: path.join(project.root, CORTEX_YAML),
    size: content.length,
    executable: false,
    content,
  };
  const source = [...plan.source, listFile].sort((a, b) => compare(a.name, b.name));
  // Every predictor file is in the image (cortex.yaml checked it exists; .cortexignore could still drop it).
  const names = new Set(source.map((f) => f.name));
  const problems: Problem[] = apis
    .filter((a) => !names.has(`${SOURCE_DIR}${inImage(a.predictor.path)}`))
    .map((a) => ({
      file: path.join(project.root, CORTEX_YAML),
      line: a.line,
      message: `API ${a.name}: predictor ${a.predictor.path} is not in the image`,
      hint: pythonFile(a.predictor.path)
        ? 'check that .cortexignore does not exclude it'
        : 'predictor.path must name a Python file',
    }));
  if (problems.length) return failed(problems);
  return ok({
    ...plan,
    project: { ...plan.project, why: `the folder holding ${CORTEX_YAML}` },
    source,
    sourceBytes: plan.sourceBytes + content.length,
    env: [...plan.env, { key: APIS_ENV, value: APIS_FILE, from: CORTEX_YAML }],
    labels: [...plan.labels, [APIS_LABEL, apis.map((a) => `${a.name}=${a.endpoint}`).join(',')]],
    serves: apis.map((api) => [
      'api',
      `POST ${api.endpoint} -> ${api.name} (${api.predictor.path}${api.monitoring ? `, monitoring ${api.monitoring.modelType}` : ''})`,
    ]),
  });
}

/** Folders holding other APIs' predictors, which an image of `apis` does not need. */
function otherApiFolders(apis: CortexApi[], all: CortexApi[]): string[] {
  const needed = apis.flatMap((a) => [
    path.posix.dirname(a.predictor.path),
    ...(a.predictor.pythonPath === undefined ? [] : [a.predictor.pythonPath]),
  ]);
  const overlaps = (a: string, b: string) =>
    a === '.' || b === '.' || a === '' || b === '' || a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
  const out = new Set<string>();
  for (const api of all) {
    if (apis.includes(api)) continue;
    const dir = path.posix.dirname(api.predictor.path);
    if (!needed.some((n) => overlaps(n, dir))) out.add(dir);
  }
  return [...out].sort(compare);
}
