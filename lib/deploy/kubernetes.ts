// Renders a project's APIs as Kubernetes manifests: per API a Deployment, a Service and (when it
// scales) an autoscaling/v2 HorizontalPodAutoscaler; per project a Secret from .env, a ConfigMap of
// each predictor's config and the models volume. Pure: the caller writes or applies the text.

import { stringify } from 'yaml';
import type { CortexApi } from '../config/cortex-yaml.js';
import {
  GRACEFUL_TIMEOUT_SECONDS,
  imageOf,
  KILL_MARGIN_SECONDS,
  LABEL_API,
  LABEL_PROJECT,
  MODELS_PATH,
  SERVER_PORT,
  serverEnv,
  type DeployInput,
} from './common.js';

export interface KubernetesInput extends DeployInput {
  /** .env's values: they go into the Secret object only, base64-encoded as Kubernetes stores them. */
  envValues: Record<string, string>;
  /** An existing PersistentVolumeClaim holding the models; without it one is rendered. */
  modelsClaim: string | undefined;
  /** Size of the rendered models claim. */
  modelsSize: string;
}

export type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
} & Record<string, unknown>;

/** Where a predictor's config is mounted, as JSON, from its ConfigMap. */
export const CONFIG_MOUNT = '/etc/cortex-s2i/predictor';
/** Seconds a terminating pod keeps serving so that Services stop sending to it first. */
export const PRE_STOP_SECONDS = 5;

export function deploymentName(api: CortexApi): string {
  return `api-${api.name}`;
}

export function secretName(project: string): string {
  return `${project}-env`;
}

export function modelsClaimName(project: string): string {
  return `${project}-models`;
}

export function renderKubernetes(input: KubernetesInput): Manifest[] {
  const manifests: Manifest[] = [];
  const projectLabels = {
    'app.kubernetes.io/part-of': input.project,
    'app.kubernetes.io/managed-by': 'cortex-s2i',
    [LABEL_PROJECT]: input.project,
  };
  if (input.envKeys.length) {
    manifests.push({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: secretName(input.project), labels: projectLabels },
      type: 'Opaque',
      data: Object.fromEntries(
        input.envKeys.map((k) => [k, Buffer.from(input.envValues[k] ?? '', 'utf8').toString('base64')]),
      ),
    });
  }
  if (input.modelsClaim === undefined) {
    manifests.push({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: modelsClaimName(input.project), labels: projectLabels },
      // Every replica of every API reads the same trained models; training writes them elsewhere.
      spec: { accessModes: ['ReadOnlyMany'], resources: { requests: { storage: input.modelsSize } } },
    });
  }
  for (const api of input.apis) manifests.push(...renderApi(input, api, projectLabels));
  return manifests;
}

function renderApi(input: KubernetesInput, api: CortexApi, projectLabels: Record<string, string>): Manifest[] {
  const name = deploymentName(api);
  const selector = { [LABEL_PROJECT]: input.project, [LABEL_API]: api.name };
  const labels = { ...projectLabels, 'app.kubernetes.io/name': api.name, [LABEL_API]: api.name };
  const requests: Record<string, string> = { cpu: api.compute.cpu };
  if (api.compute.mem !== undefined) requests.memory = api.compute.mem;
  const limits: Record<string, string> = {};
  if (api.compute.gpu > 0) {
    // Extended resources must be equal in requests and limits.
    requests['nvidia.com/gpu'] = String(api.compute.gpu);
    limits['nvidia.com/gpu'] = String(api.compute.gpu);
  }
  const env = Object.entries(serverEnv(api)).map(([k, value]) => ({ name: k, value }));
  const volumes: unknown[] = [
    {
      name: 'models',
      persistentVolumeClaim: { claimName: input.modelsClaim ?? modelsClaimName(input.project), readOnly: true },
    },
  ];
  const mounts: unknown[] = [{ name: 'models', mountPath: MODELS_PATH, readOnly: true }];
  const manifests: Manifest[] = [];
  if (Object.keys(api.predictor.config).length) {
    const configMap = `${name}-config`;
    manifests.push({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: configMap, labels },
      data: { 'config.json': `${JSON.stringify(api.predictor.config, null, 2)}\n` },
    });
    volumes.push({ name: 'predictor-config', configMap: { name: configMap } });
    mounts.push({ name: 'predictor-config', mountPath: CONFIG_MOUNT, readOnly: true });
    env.push({ name: 'CORTEX_S2I_PREDICTOR_CONFIG', value: `${CONFIG_MOUNT}/config.json` });
  }
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: 'http' },
    periodSeconds,
    timeoutSeconds: 2,
    failureThreshold,
  });
  const container = {
    name: 'api',
    image: imageOf(input, api),
    ports: [{ name: 'http', containerPort: SERVER_PORT, protocol: 'TCP' }],
    env,
    ...(input.envKeys.length ? { envFrom: [{ secretRef: { name: secretName(input.project) } }] } : {}),
    resources: Object.keys(limits).length ? { requests, limits } : { requests },
    // The server answers /health as soon as it listens and /ready once every worker has loaded its
    // predictor: readiness gates traffic on the load, liveness only on the process.
    readinessProbe: probe('/ready', 5, 3),
    livenessProbe: probe('/health', 10, 3),
    // Up to five minutes for imports of heavy frameworks before liveness starts counting.
    startupProbe: probe('/health', 5, 60),
    // Endpoints are removed from Services asynchronously: keep serving a moment before SIGTERM.
    lifecycle: { preStop: { exec: { command: ['sleep', String(PRE_STOP_SECONDS)] } } },
    volumeMounts: mounts,
  };
  manifests.push({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels },
    spec: {
      replicas: api.autoscaling.initReplicas,
      selector: { matchLabels: selector },
      strategy: {
        type: 'RollingUpdate',
        rollingUpdate: { maxSurge: api.updateStrategy.maxSurge, maxUnavailable: api.updateStrategy.maxUnavailable },
      },
      template: {
        metadata: { labels },
        spec: {
          // Above the preStop pause plus the server's drain, so that a drain is never cut short.
          terminationGracePeriodSeconds: PRE_STOP_SECONDS + GRACEFUL_TIMEOUT_SECONDS + KILL_MARGIN_SECONDS,
          containers: [container],
          volumes,
        },
      },
    },
  });
  manifests.push({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, labels },
    spec: { selector, ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }] },
  });
  if (api.autoscaling.minReplicas !== api.autoscaling.maxReplicas) {
    manifests.push({
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name, labels },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
        minReplicas: api.autoscaling.minReplicas,
        maxReplicas: api.autoscaling.maxReplicas,
        metrics: [
          {
            type: 'Resource',
            resource: {
              name: 'cpu',
              target: { type: 'Utilization', averageUtilization: api.autoscaling.targetCpuUtilization },
            },
          },
        ],
      },
    });
  }
  return manifests;
}

/** Files to write: one per API, and one for what the APIs share (the Secret and the models claim). */
export function kubernetesFiles(
  input: KubernetesInput,
  manifests: Manifest[],
): Array<{ path: string; content: string }> {
  const header = '# Generated by `cortex-s2i deploy --target kubernetes`; apply with kubectl apply -f <this folder>\n';
  const doc = (ms: Manifest[]) =>
    header + ms.map((m) => `---\n${stringify(m, { lineWidth: 0, aliasDuplicateObjects: false })}`).join('');
  const files: Array<{ path: string; content: string }> = [];
  const shared = manifests.filter((m) => m.kind === 'Secret' || m.kind === 'PersistentVolumeClaim');
  if (shared.length) files.push({ path: `${input.project}.yaml`, content: doc(shared) });
  for (const api of input.apis) {
    const own = manifests.filter((m) => m.metadata.labels?.[LABEL_API] === api.name);
    files.push({ path: `api-${api.name}.yaml`, content: doc(own) });
  }
  return files;
}
