// Renders a batch job for Kubernetes: an Indexed Job whose pod i runs the image's batch worker
// over share i of the split (the worker reads its index from JOB_COMPLETION_INDEX), the split in a
// ConfigMap or a volume claim, and a suspended Job for on_job_complete that is resumed once the
// workers' Job is complete. Pure: values in, manifests out.

import { SPLIT_MOUNT } from './runner.js';

/** A ConfigMap holds at most 1 MiB; this leaves room for its metadata. */
export const CONFIGMAP_LIMIT_BYTES = 900 * 1024;

export interface RenderInput {
  jobId: string;
  image: string;
  workers: number;
  timeoutSeconds: number | undefined;
  memoryBytes: number | undefined;
  /** The split's files (name to content), when it goes in a ConfigMap. */
  splitFiles?: Map<string, string>;
  /** Else a PersistentVolumeClaim holding the split's files at its root. */
  splitClaim?: string;
}

export type Manifest = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string } & Record<string, unknown>;
};

export function jobName(jobId: string): string {
  return `cortex-s2i-${jobId}`;
}

export function renderJob(r: RenderInput): Manifest[] {
  const name = jobName(r.jobId);
  const labels = { 'app.kubernetes.io/managed-by': 'cortex-s2i', 'io.cortex-s2i.job': r.jobId };
  const manifests: Manifest[] = [];
  const volume = r.splitFiles
    ? { name: 'split', configMap: { name: `${name}-split` } }
    : { name: 'split', persistentVolumeClaim: { claimName: r.splitClaim!, readOnly: true } };
  if (r.splitFiles) {
    manifests.push({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `${name}-split`, labels },
      data: Object.fromEntries(r.splitFiles),
    });
  }
  const container = (env: Array<{ name: string; value: string }>) => ({
    name: 'worker',
    image: r.image,
    env: [{ name: 'BATCH_SPLIT', value: SPLIT_MOUNT }, ...env],
    volumeMounts: [{ name: 'split', mountPath: SPLIT_MOUNT, readOnly: true }],
    ...(r.memoryBytes
      ? { resources: { requests: { memory: String(r.memoryBytes) }, limits: { memory: String(r.memoryBytes) } } }
      : {}),
  });
  const podSpec = (env: Array<{ name: string; value: string }>) => ({
    metadata: { labels },
    // Retries happen inside the worker (max_receive_count); a pod that dies is the job's failure,
    // as a worker container that dies is under `job run`.
    spec: { restartPolicy: 'Never', containers: [container(env)], volumes: [volume] },
  });
  manifests.push({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, labels },
    spec: {
      completionMode: 'Indexed',
      completions: r.workers,
      parallelism: r.workers,
      backoffLimit: 0,
      ...(r.timeoutSeconds ? { activeDeadlineSeconds: r.timeoutSeconds } : {}),
      template: podSpec([]),
    },
  });
  manifests.push({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: `${name}-complete`, labels, annotations: { 'io.cortex-s2i/resume-after': `job/${name}` } },
    spec: {
      // Resumed once the workers' Job is complete: see resumeCommand.
      suspend: true,
      completions: 1,
      parallelism: 1,
      backoffLimit: 0,
      template: podSpec([{ name: 'BATCH_ON_JOB_COMPLETE', value: '1' }]),
    },
  });
  return manifests;
}

/** The shell commands that apply the manifests and run on_job_complete after the last batch. */
export function applyCommands(jobId: string, manifestFile: string): string[] {
  const name = jobName(jobId);
  return [
    `kubectl apply -f ${manifestFile}`,
    `kubectl wait --for=condition=complete --timeout=-1s job/${name}`,
    `kubectl patch job ${name}-complete --type=merge -p '{"spec":{"suspend":false}}'`,
  ];
}

/** The manifests as one kubectl List document (JSON is YAML; kubectl apply -f reads it). */
export function manifestList(manifests: Manifest[]): string {
  return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: manifests }, null, 2)}\n`;
}
