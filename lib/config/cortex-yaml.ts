// Reads a project's cortex.yaml, in either of Cortex's shapes, into one list of APIs; every problem
// is reported at once with its file and line, and nothing here touches the disk.
//
// Both shapes Cortex published are accepted: the early `kind: api` (or no `kind`) list, with
// `endpoint`, `tracker` or `monitoring`, and scaling under `compute`; and the later
// `kind: RealtimeAPI` list, with `networking.endpoint`, `autoscaling` and `update_strategy`. The
// defaults are the ones Cortex documented (cpu 200m, 1 to 100 replicas starting at the minimum,
// 80% CPU target, 25% surge and unavailability, endpoint /<name>).

import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type Pair, type YAMLMap } from 'yaml';
import { failed, ok, type Problem, type Result } from './result.js';

export type PredictorType = 'python' | 'tensorflow' | 'onnx';
export type ModelType = 'classification' | 'regression';

export interface CortexApi {
  name: string;
  /** Line of the API's entry in cortex.yaml, for messages about it later on. */
  line: number;
  endpoint: string;
  predictor: {
    type: PredictorType;
    /** The predictor's file, relative to the project root. */
    path: string;
    /** A folder under the mounted models, given to `init` as a local path. */
    model: string | undefined;
    /** A folder, relative to the project root, put on the Python path. */
    pythonPath: string | undefined;
    /** `config` (or the early `metadata`) exactly as given: the predictor receives it. */
    config: Record<string, unknown>;
    /** Which key the config came from: the predictor styles name it differently. */
    configKey: 'config' | 'metadata';
    /** Plain environment variables for the predictor (not secrets: those are in .env). */
    env: Record<string, string>;
    processesPerReplica: number;
    threadsPerProcess: number;
  };
  monitoring: { key: string | undefined; modelType: ModelType } | undefined;
  compute: { cpu: string; mem: string | undefined; gpu: number };
  autoscaling: { minReplicas: number; maxReplicas: number; initReplicas: number; targetCpuUtilization: number };
  updateStrategy: { maxSurge: string | number; maxUnavailable: string | number };
}

export { CORTEX_YAML } from './source-tree.js';
/** Kubernetes adds 21 characters to a pod's name; 42 keeps Cortex's limit. */
export const MAX_API_NAME = 42;
const DNS_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
// A Kubernetes resource quantity: a number with an optional decimal or binary suffix.
const QUANTITY = /^([0-9]+(\.[0-9]*)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const PERCENT_OR_COUNT = /^(100|[1-9]?[0-9])%$/;

const DEFAULTS = {
  cpu: '200m',
  minReplicas: 1,
  maxReplicas: 100,
  targetCpuUtilization: 80,
  maxSurge: '25%',
  maxUnavailable: '25%',
  processesPerReplica: 1,
  threadsPerProcess: 1,
} as const;

// The keys each shape allows, section by section. Keys Cortex used for what cortex-s2i does not do
// (autoscaling on request concurrency, API gateways, custom serving images) are still known, so a
// Cortex project reads without edits; they are listed apart and have no effect.
const LEGACY_KEYS = ['kind', 'name', 'endpoint', 'predictor', 'tracker', 'monitoring', 'compute'];
const LEGACY_PREDICTOR = ['type', 'path', 'model', 'python_path', 'metadata', 'config', 'env', 'signature_key'];
const LEGACY_COMPUTE = [
  'cpu',
  'mem',
  'gpu',
  'min_replicas',
  'max_replicas',
  'init_replicas',
  'target_cpu_utilization',
  'max_surge',
  'max_unavailable',
];
const REALTIME_KEYS = [
  'kind',
  'name',
  'predictor',
  'networking',
  'compute',
  'autoscaling',
  'update_strategy',
  'monitoring',
];
const REALTIME_PREDICTOR = [
  'type',
  'path',
  'model_path',
  'models',
  'python_path',
  'config',
  'env',
  'processes_per_replica',
  'threads_per_process',
  'signature_key',
  'image',
  'tensorflow_serving_image',
  'log_level',
  'shm_size',
];
const REALTIME_NETWORKING = ['endpoint', 'api_gateway'];
const REALTIME_COMPUTE = ['cpu', 'mem', 'gpu', 'inf'];
const REALTIME_AUTOSCALING = [
  'min_replicas',
  'max_replicas',
  'init_replicas',
  'target_cpu_utilization',
  'target_replica_concurrency',
  'max_replica_concurrency',
  'window',
  'downscale_stabilization_period',
  'upscale_stabilization_period',
  'max_downscale_factor',
  'max_upscale_factor',
  'downscale_tolerance',
  'upscale_tolerance',
];
const MONITORING_KEYS = ['key', 'model_type'];
const UPDATE_KEYS = ['max_surge', 'max_unavailable'];

/**
 * Parses cortex.yaml. `projectFiles` lists the project's files as slash-separated paths relative to
 * its root, so that predictor paths can be checked without this module reading the disk.
 */
export function parseCortexYaml(text: string, file: string, projectFiles: Iterable<string>): Result<CortexApi[]> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true });
  const problems: Problem[] = [];
  for (const e of doc.errors) problems.push({ file, line: e.linePos?.[0].line, message: e.message.split('\n')[0]! });
  if (problems.length) return failed(problems);

  const files = new Set(projectFiles);
  const r = new Reader(file, lineCounter, problems);
  const root = doc.contents;
  if (!isSeq(root)) {
    problems.push({
      file,
      line: root ? r.line(root) : 1,
      message: 'cortex.yaml must be a list of APIs',
      hint: 'start each API with "- name: my-api"',
    });
    return failed(problems);
  }
  const apis: CortexApi[] = [];
  for (const item of root.items) {
    const api = readApi(r, item as Node, files);
    if (api) apis.push(api);
  }
  if (apis.length === 0 && root.items.length === 0)
    problems.push({ file, line: 1, message: 'cortex.yaml lists no API' });
  const seenName = new Map<string, number>();
  const seenEndpoint = new Map<string, number>();
  for (const api of apis) {
    const n = seenName.get(api.name);
    if (n !== undefined)
      problems.push({ file, line: api.line, message: `API name ${api.name} is already used on line ${n}` });
    else seenName.set(api.name, api.line);
    const e = seenEndpoint.get(api.endpoint);
    if (e !== undefined)
      problems.push({
        file,
        line: api.line,
        message: `endpoint ${api.endpoint} is already served by the API on line ${e}`,
      });
    else seenEndpoint.set(api.endpoint, api.line);
  }
  return problems.length ? failed(problems) : ok(apis);
}

/** Reads typed values out of YAML nodes, recording a problem (with its line) for each mismatch. */
class Reader {
  constructor(
    readonly file: string,
    private readonly lines: LineCounter,
    readonly problems: Problem[],
  ) {}

  line(node: Node | Pair | null | undefined): number | undefined {
    const n = node && 'range' in node ? node : (node as Pair | undefined)?.key;
    const start = (n as Node | undefined)?.range?.[0];
    return start === undefined ? undefined : this.lines.linePos(start).line;
  }

  problem(node: Node | null | undefined, message: string, hint?: string): void {
    this.problems.push(
      hint
        ? { file: this.file, line: this.line(node), message, hint }
        : { file: this.file, line: this.line(node), message },
    );
  }

  /** The entries of a mapping, each known key once; unknown keys are problems. */
  section(
    node: Node | null | undefined,
    where: string,
    allowed: readonly string[],
  ): Map<string, Node | null> | undefined {
    if (!isMap(node)) {
      this.problem(node, `${where} must be a mapping of keys to values`);
      return undefined;
    }
    const out = new Map<string, Node | null>();
    for (const pair of (node as YAMLMap<Node, Node | null>).items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
      if (key === undefined || !allowed.includes(key)) {
        this.problem(
          pair.key,
          `unknown key ${JSON.stringify(key ?? String(pair.key))} in ${where}`,
          `known keys: ${allowed.join(', ')}`,
        );
        continue;
      }
      out.set(key, pair.value);
    }
    return out;
  }

  string(node: Node | null | undefined, where: string): string | undefined {
    if (node === undefined) return undefined;
    if (isScalar(node) && typeof node.value === 'string' && node.value !== '') return node.value;
    this.problem(node, `${where} must be a non-empty string`);
    return undefined;
  }

  wholeNumber(node: Node | null | undefined, where: string, min: number, max?: number): number | undefined {
    if (node === undefined) return undefined;
    if (
      isScalar(node) &&
      typeof node.value === 'number' &&
      Number.isInteger(node.value) &&
      node.value >= min &&
      (max === undefined || node.value <= max)
    )
      return node.value;
    this.problem(
      node,
      `${where} must be a whole number ${max === undefined ? `of at least ${min}` : `from ${min} to ${max}`}`,
    );
    return undefined;
  }

  /** A Kubernetes quantity such as 200m, 1, 0.5, 512Mi or 2G. */
  quantity(node: Node | null | undefined, where: string, example: string): string | undefined {
    if (node === undefined) return undefined;
    const v =
      isScalar(node) && (typeof node.value === 'string' || typeof node.value === 'number')
        ? String(node.value)
        : undefined;
    if (v !== undefined && QUANTITY.test(v)) return v;
    this.problem(node, `${where} must be a quantity such as ${example}`);
    return undefined;
  }

  /** A replica count or a percentage, as Kubernetes takes for max_surge and max_unavailable. */
  countOrPercent(node: Node | null | undefined, where: string): string | number | undefined {
    if (node === undefined) return undefined;
    if (isScalar(node) && typeof node.value === 'number' && Number.isInteger(node.value) && node.value >= 0)
      return node.value;
    if (isScalar(node) && typeof node.value === 'string' && PERCENT_OR_COUNT.test(node.value)) return node.value;
    this.problem(node, `${where} must be a whole number of replicas or a percentage such as 25%`);
    return undefined;
  }

  mapping(node: Node | null | undefined, where: string): Record<string, unknown> | undefined {
    if (node === undefined) return undefined;
    if (isMap(node)) return node.toJSON() as Record<string, unknown>;
    if (isScalar(node) && node.value === null) return {};
    this.problem(node, `${where} must be a mapping`);
    return undefined;
  }

  stringMap(node: Node | null | undefined, where: string): Record<string, string> | undefined {
    const m = this.mapping(node, where);
    if (!m || !isMap(node)) return m as Record<string, string> | undefined;
    const out: Record<string, string> = {};
    for (const pair of (node as YAMLMap<Node, Node | null>).items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      const value = pair.value;
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key))
        this.problem(pair.key, `${where}: ${JSON.stringify(key)} is not an environment variable name`);
      else if (isScalar(value) && value.value !== null && typeof value.value !== 'object')
        out[key] = String(value.value);
      else this.problem(value ?? pair.key, `${where}.${key} must be a string, number or boolean`);
    }
    return out;
  }
}

function readApi(r: Reader, node: Node, files: Set<string>): CortexApi | undefined {
  if (!isMap(node)) {
    r.problem(node, 'each API must be a mapping with at least name and predictor');
    return undefined;
  }
  const kindNode = node.get('kind', true) as Node | undefined;
  const kind = kindNode === undefined ? 'api' : isScalar(kindNode) ? String(kindNode.value) : undefined;
  if (kind === 'BatchAPI' || kind === 'TrafficSplitter' || kind === 'TaskAPI' || kind === 'AsyncAPI') {
    r.problem(kindNode, `kind ${kind} is not supported`, 'cortex-s2i serves kind: RealtimeAPI (or kind: api)');
    return undefined;
  }
  if (kind !== 'api' && kind !== 'RealtimeAPI') {
    r.problem(kindNode, `kind must be api or RealtimeAPI, got ${JSON.stringify(kind ?? kindNode?.toJSON())}`);
    return undefined;
  }
  const realtime = kind === 'RealtimeAPI';
  const apiLine = r.line(node) ?? 1;
  const top = r.section(node, 'the API', realtime ? REALTIME_KEYS : LEGACY_KEYS);
  if (!top) return undefined;
  const before = r.problems.length;

  const nameNode = top.get('name');
  const name = r.string(nameNode, 'name');
  if (nameNode === undefined) r.problem(node, 'the API has no name', 'add e.g. name: iris-classifier');
  else if (name !== undefined) {
    if (!DNS_1035.test(name))
      r.problem(
        nameNode,
        `name ${JSON.stringify(name)} is not a DNS-1035 label`,
        'lower-case letters, digits and -, starting with a letter and not ending with -',
      );
    else if (name.length > MAX_API_NAME)
      r.problem(
        nameNode,
        `name ${name} is ${name.length} characters long; at most ${MAX_API_NAME} are allowed`,
        'Kubernetes adds 21 characters to the pod name',
      );
  }

  // Sections that each shape spells differently.
  let endpointNode: Node | null | undefined;
  let scaling: Map<string, Node | null> | undefined;
  let update: Map<string, Node | null> | undefined;
  let compute: Map<string, Node | null> | undefined;
  if (realtime) {
    const networking = top.has('networking')
      ? r.section(top.get('networking'), 'networking', REALTIME_NETWORKING)
      : undefined;
    endpointNode = networking?.get('endpoint');
    scaling = top.has('autoscaling')
      ? r.section(top.get('autoscaling'), 'autoscaling', REALTIME_AUTOSCALING)
      : new Map();
    update = top.has('update_strategy')
      ? r.section(top.get('update_strategy'), 'update_strategy', UPDATE_KEYS)
      : new Map();
    compute = top.has('compute') ? r.section(top.get('compute'), 'compute', REALTIME_COMPUTE) : new Map();
  } else {
    endpointNode = top.get('endpoint');
    compute = top.has('compute') ? r.section(top.get('compute'), 'compute', LEGACY_COMPUTE) : new Map();
    scaling = compute;
    update = compute;
  }

  let endpoint = r.string(endpointNode, 'endpoint');
  if (endpoint !== undefined && !/^\/[A-Za-z0-9._~\-/]*$/.test(endpoint)) {
    r.problem(
      endpointNode,
      `endpoint ${JSON.stringify(endpoint)} must be a path starting with /`,
      'e.g. /iris-classifier',
    );
  }
  endpoint ??= name === undefined ? undefined : `/${name}`;

  // The predictor.
  const predictorNode = top.get('predictor');
  let predictor: CortexApi['predictor'] | undefined;
  if (predictorNode === undefined)
    r.problem(node, 'the API has no predictor', 'add predictor: {type: python, path: predictor.py}');
  else {
    const p = r.section(predictorNode, 'predictor', realtime ? REALTIME_PREDICTOR : LEGACY_PREDICTOR);
    if (p) predictor = readPredictor(r, p, predictorNode ?? node, files, realtime);
  }

  // Monitoring (`tracker` before Cortex 0.18).
  let monitoring: CortexApi['monitoring'];
  const monitoringKey = top.has('monitoring') ? 'monitoring' : top.has('tracker') ? 'tracker' : undefined;
  if (!realtime && top.has('monitoring') && top.has('tracker'))
    r.problem(top.get('tracker'), 'give monitoring or tracker, not both');
  if (monitoringKey) {
    const m = r.section(top.get(monitoringKey), monitoringKey, MONITORING_KEYS);
    if (m) {
      const key = r.string(m.get('key'), `${monitoringKey}.key`);
      const typeNode = m.get('model_type');
      const modelType = isScalar(typeNode) ? typeNode.value : undefined;
      if (typeNode === undefined)
        r.problem(top.get(monitoringKey), `${monitoringKey} needs model_type: classification or regression`);
      else if (modelType !== 'classification' && modelType !== 'regression') {
        r.problem(
          typeNode,
          `${monitoringKey}.model_type must be classification or regression, got ${JSON.stringify(typeNode?.toJSON() ?? null)}`,
        );
      } else monitoring = { key, modelType };
    }
  }

  // Compute and scaling.
  const cpu = r.quantity(compute?.get('cpu'), 'compute.cpu', '200m or 1') ?? DEFAULTS.cpu;
  const mem = r.quantity(compute?.get('mem'), 'compute.mem', '512Mi or 2G');
  const gpu = r.wholeNumber(compute?.get('gpu'), 'compute.gpu', 0) ?? 0;
  const where = realtime ? 'autoscaling' : 'compute';
  const minNode = scaling?.get('min_replicas');
  const maxNode = scaling?.get('max_replicas');
  const initNode = scaling?.get('init_replicas');
  const minReplicas = r.wholeNumber(minNode, `${where}.min_replicas`, 1) ?? DEFAULTS.minReplicas;
  const maxReplicas = r.wholeNumber(maxNode, `${where}.max_replicas`, 1) ?? DEFAULTS.maxReplicas;
  const initReplicas = r.wholeNumber(initNode, `${where}.init_replicas`, 1) ?? minReplicas;
  if (minReplicas > maxReplicas)
    r.problem(
      minNode ?? maxNode,
      `${where}.min_replicas (${minReplicas}) is greater than max_replicas (${maxReplicas})`,
    );
  else if (initReplicas > maxReplicas || initReplicas < minReplicas) {
    r.problem(
      initNode,
      `${where}.init_replicas (${initReplicas}) must be between min_replicas (${minReplicas}) and max_replicas (${maxReplicas})`,
    );
  }
  const targetCpuUtilization =
    r.wholeNumber(scaling?.get('target_cpu_utilization'), `${where}.target_cpu_utilization`, 1, 100) ??
    DEFAULTS.targetCpuUtilization;
  const uwhere = realtime ? 'update_strategy' : 'compute';
  const maxSurge = r.countOrPercent(update?.get('max_surge'), `${uwhere}.max_surge`) ?? DEFAULTS.maxSurge;
  const maxUnavailable =
    r.countOrPercent(update?.get('max_unavailable'), `${uwhere}.max_unavailable`) ?? DEFAULTS.maxUnavailable;
  if (isZero(maxSurge) && isZero(maxUnavailable)) {
    r.problem(
      update?.get('max_surge') ?? node,
      `${uwhere}.max_surge and max_unavailable cannot both be 0`,
      'a rolling update could then never replace a replica',
    );
  }

  if (r.problems.length > before || name === undefined || endpoint === undefined || predictor === undefined)
    return undefined;
  return {
    name,
    line: apiLine,
    endpoint,
    predictor,
    monitoring,
    compute: { cpu, mem, gpu },
    autoscaling: { minReplicas, maxReplicas, initReplicas, targetCpuUtilization },
    updateStrategy: { maxSurge, maxUnavailable },
  };
}

function readPredictor(
  r: Reader,
  p: Map<string, Node | null>,
  node: Node,
  files: Set<string>,
  realtime: boolean,
): CortexApi['predictor'] | undefined {
  const before = r.problems.length;
  const typeNode = p.get('type');
  const type = typeNode === undefined ? 'python' : isScalar(typeNode) ? typeNode.value : undefined;
  if (type !== 'python' && type !== 'tensorflow' && type !== 'onnx') {
    r.problem(typeNode, `predictor.type must be python, tensorflow or onnx, got ${JSON.stringify(typeNode?.toJSON())}`);
  }
  const pathNode = p.get('path');
  const path = r.string(pathNode, 'predictor.path');
  if (pathNode === undefined) r.problem(node, 'the predictor has no path', 'e.g. path: predictor.py');
  else if (path !== undefined) {
    const rel = normalise(path);
    if (rel === undefined) r.problem(pathNode, `predictor.path ${JSON.stringify(path)} must stay inside the project`);
    else if (!files.has(rel))
      r.problem(
        pathNode,
        `predictor.path ${path} does not exist in the project`,
        'paths are relative to the folder holding cortex.yaml',
      );
  }
  const pythonPathNode = p.get('python_path');
  const pythonPath = r.string(pythonPathNode, 'predictor.python_path');
  if (pythonPath !== undefined) {
    const rel = normalise(pythonPath);
    const prefix = rel === '' ? '' : `${rel}/`;
    if (rel === undefined || ![...files].some((f) => f.startsWith(prefix))) {
      r.problem(pythonPathNode, `predictor.python_path ${pythonPath} is not a folder of the project`);
    }
  }
  const modelKey = realtime ? 'model_path' : 'model';
  const model = r.string(p.get(modelKey), `predictor.${modelKey}`);
  if (realtime && p.has('models'))
    r.problem(p.get('models'), 'predictor.models (several models per API) is not supported', 'give one model_path');
  if (type === 'python' && p.has('signature_key')) {
    r.problem(
      p.get('signature_key'),
      'predictor.signature_key is for tensorflow predictors; a python predictor cannot have it',
    );
  }
  if (p.has('config') && p.has('metadata')) r.problem(p.get('metadata'), 'give config or metadata, not both');
  const configKey = p.has('metadata') ? 'metadata' : 'config';
  const config = r.mapping(p.get(configKey), `predictor.${configKey}`) ?? {};
  const env = r.stringMap(p.get('env'), 'predictor.env') ?? {};
  const processesPerReplica =
    r.wholeNumber(p.get('processes_per_replica'), 'predictor.processes_per_replica', 1, 100) ??
    DEFAULTS.processesPerReplica;
  const threadsPerProcess =
    r.wholeNumber(p.get('threads_per_process'), 'predictor.threads_per_process', 1) ?? DEFAULTS.threadsPerProcess;
  if (r.problems.length > before || path === undefined) return undefined;
  return {
    type: type as PredictorType,
    path: normalise(path)!,
    model,
    pythonPath: pythonPath === undefined ? undefined : normalise(pythonPath),
    config,
    configKey,
    env,
    processesPerReplica,
    threadsPerProcess,
  };
}

function isZero(v: string | number): boolean {
  return v === 0 || v === '0%';
}

/** A relative path in slash form without ./ or trailing slash; undefined when it leaves the project. */
function normalise(p: string): string | undefined {
  const parts: string[] = [];
  if (p.startsWith('/')) return undefined;
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return undefined;
    parts.push(part);
  }
  return parts.join('/');
}
