import { expect } from 'chai';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { parseAllDocuments } from 'yaml';
import { parseCortexYaml, type CortexApi } from '../config/cortex-yaml.js';
import { GRACEFUL_TIMEOUT_SECONDS } from './common.js';
import { kubernetesFiles, renderKubernetes, type KubernetesInput, type Manifest } from './kubernetes.js';

const DIGEST = `registry.example.com/iris@sha256:${'a'.repeat(64)}`;

function apis(): CortexApi[] {
  const r = parseCortexYaml(
    [
      '- name: iris',
      '  kind: RealtimeAPI',
      '  predictor: {path: iris.py, config: {threshold: 0.5}, processes_per_replica: 2, threads_per_process: 3}',
      '  compute: {cpu: 500m, mem: 1Gi, gpu: 1}',
      '  autoscaling: {min_replicas: 2, max_replicas: 5, init_replicas: 3, target_cpu_utilization: 60}',
      '  update_strategy: {max_surge: 1, max_unavailable: 0}',
      '- name: price',
      '  predictor: {path: price.py}',
      '  compute: {min_replicas: 2, max_replicas: 2}',
    ].join('\n'),
    'cortex.yaml',
    ['iris.py', 'price.py'],
  );
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
}

function input(over: Partial<KubernetesInput> = {}): KubernetesInput {
  return {
    project: 'shop',
    apis: apis(),
    images: { iris: DIGEST, price: 'registry.example.com/price:1' },
    envKeys: ['DB_PASSWORD'],
    envValues: { DB_PASSWORD: 's3cret-value' },
    modelsClaim: undefined,
    modelsSize: '1Gi',
    ...over,
  };
}

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  Deployment: Deployment as never,
  Service: Service as never,
  HorizontalPodAutoscaler: HorizontalPodAutoscaler as never,
  Secret: Secret as never,
  ConfigMap: ConfigMap as never,
  PersistentVolumeClaim: PersistentVolumeClaim as never,
};

function find(ms: Manifest[], kind: string, name: string): Record<string, any> {
  const m = ms.find((x) => x.kind === kind && x.metadata.name === name);
  if (!m) throw new Error(`no ${kind} ${name} in ${ms.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return m;
}

describe('renderKubernetes', () => {
  it('renders manifests that the Kubernetes schemas accept', () => {
    const ms = renderKubernetes(input());
    expect(ms.map((m) => `${m.kind}/${m.metadata.name}`)).to.have.members([
      'Secret/shop-env',
      'PersistentVolumeClaim/shop-models',
      'ConfigMap/api-iris-config',
      'Deployment/api-iris',
      'Service/api-iris',
      'HorizontalPodAutoscaler/api-iris',
      'Deployment/api-price',
      'Service/api-price',
    ]);
    for (const m of ms) {
      const Model = MODELS[m.kind]!;
      expect(() => new Model(m as never).validate(), `${m.kind}/${m.metadata.name}`).to.not.throw();
    }
  });

  it('the schema check catches a broken manifest (so the test above can fail)', () => {
    const d = find(renderKubernetes(input()), 'Deployment', 'api-iris');
    d.spec.template.spec.containers[0].ports[0].containerPort = 'http';
    expect(() => new Deployment(d as never).validate()).to.throw(/containerPort/);
  });

  it('sizes, probes and rolls the Deployment from the API', () => {
    const d = find(renderKubernetes(input()), 'Deployment', 'api-iris');
    expect(d.spec.replicas).to.equal(3);
    expect(d.spec.strategy).to.deep.equal({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    const c = d.spec.template.spec.containers[0];
    expect(c.image).to.equal(DIGEST);
    expect(c.resources).to.deep.equal({
      requests: { cpu: '500m', memory: '1Gi', 'nvidia.com/gpu': '1' },
      limits: { 'nvidia.com/gpu': '1' },
    });
    expect(c.readinessProbe.httpGet.path).to.equal('/ready');
    expect(c.livenessProbe.httpGet.path).to.equal('/health');
    expect(c.startupProbe.failureThreshold * c.startupProbe.periodSeconds).to.be.at.least(120);
    expect(d.spec.template.spec.terminationGracePeriodSeconds).to.be.above(GRACEFUL_TIMEOUT_SECONDS + 5);
    const env = Object.fromEntries(c.env.map((e: { name: string; value: string }) => [e.name, e.value]));
    expect(env).to.include({ WEB_CONCURRENCY: '2', THREADS: '3', GRACEFUL_TIMEOUT: String(GRACEFUL_TIMEOUT_SECONDS) });
    expect(c.envFrom).to.deep.equal([{ secretRef: { name: 'shop-env' } }]);
    expect(d.spec.template.spec.volumes[0].persistentVolumeClaim.claimName).to.equal('shop-models');
  });

  it('uses Cortex defaults: 25% rolling update and cpu 200m only', () => {
    const d = find(renderKubernetes(input()), 'Deployment', 'api-price');
    expect(d.spec.strategy.rollingUpdate).to.deep.equal({ maxSurge: '25%', maxUnavailable: '25%' });
    expect(d.spec.template.spec.containers[0].resources).to.deep.equal({ requests: { cpu: '200m' } });
  });

  it('autoscales on CPU only when min and max differ', () => {
    const ms = renderKubernetes(input());
    const hpa = find(ms, 'HorizontalPodAutoscaler', 'api-iris');
    expect(hpa.spec).to.deep.include({ minReplicas: 2, maxReplicas: 5 });
    expect(hpa.spec.metrics[0].resource.target).to.deep.equal({ type: 'Utilization', averageUtilization: 60 });
    expect(ms.some((m) => m.kind === 'HorizontalPodAutoscaler' && m.metadata.name === 'api-price')).to.equal(false);
  });

  it('keeps .env values in the Secret only, base64-encoded', () => {
    const i = input();
    const files = kubernetesFiles(i, renderKubernetes(i));
    const secret = find(renderKubernetes(i), 'Secret', 'shop-env');
    expect(Buffer.from(secret.data.DB_PASSWORD, 'base64').toString()).to.equal('s3cret-value');
    for (const f of files) expect(f.content).to.not.include('s3cret-value');
    const withSecret = files.filter((f) => f.content.includes(secret.data.DB_PASSWORD)).map((f) => f.path);
    expect(withSecret).to.deep.equal(['shop.yaml']);
  });

  it('renders no Secret without .env and no claim when the user gives one', () => {
    const ms = renderKubernetes(input({ envKeys: [], envValues: {}, modelsClaim: 'trained-models' }));
    expect(ms.map((m) => m.kind)).to.not.include.members(['Secret', 'PersistentVolumeClaim']);
    const d = find(ms, 'Deployment', 'api-iris');
    expect(d.spec.template.spec.volumes[0].persistentVolumeClaim.claimName).to.equal('trained-models');
    expect(d.spec.template.spec.containers[0].envFrom).to.equal(undefined);
  });

  it('puts the predictor config in a mounted ConfigMap', () => {
    const ms = renderKubernetes(input());
    expect(JSON.parse(find(ms, 'ConfigMap', 'api-iris-config').data['config.json'])).to.deep.equal({ threshold: 0.5 });
    expect(ms.some((m) => m.kind === 'ConfigMap' && m.metadata.name === 'api-price-config')).to.equal(false);
  });

  it('writes one file per API that parses back to the same manifests', () => {
    const i = input();
    const ms = renderKubernetes(i);
    const files = kubernetesFiles(i, ms);
    expect(files.map((f) => f.path)).to.deep.equal(['shop.yaml', 'api-iris.yaml', 'api-price.yaml']);
    // Plain YAML, no anchors and aliases: readable, and read the same by every tool.
    for (const f of files) expect(f.content).to.not.match(/[&*]a\d/);
    const back = files.flatMap((f) => parseAllDocuments(f.content).map((d) => d.toJSON()));
    expect(back).to.have.deep.members(ms);
  });
});
