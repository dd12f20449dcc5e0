import { expect } from 'chai';
import { parse } from 'yaml';
import { parseCortexYaml, type CortexApi } from '../config/cortex-yaml.js';
import { GRACEFUL_TIMEOUT_SECONDS } from './common.js';
import { bytes, cpus, renderSwarmStack, type SwarmInput } from './swarm.js';

function apis(): CortexApi[] {
  const r = parseCortexYaml(
    [
      '- name: iris',
      '  kind: RealtimeAPI',
      '  predictor: {path: iris.py, processes_per_replica: 2, threads_per_process: 3, env: {MODE: fast}}',
      '  compute: {cpu: 1500m, mem: 512Mi, gpu: 2}',
      '  autoscaling: {min_replicas: 4, max_replicas: 4}',
      '  update_strategy: {max_surge: 50%, max_unavailable: 25%}',
      '- name: price',
      '  predictor: {path: price.py}',
    ].join('\n'),
    'cortex.yaml',
    ['iris.py', 'price.py'],
  );
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
}

function input(over: Partial<SwarmInput> = {}): SwarmInput {
  return {
    project: 'shop',
    apis: apis(),
    images: { iris: 'iris:2', price: 'price:1' },
    envKeys: ['DB_PASSWORD'],
    ports: { iris: 5500, price: 5501 },
    hostPorts: false,
    envFile: '../.env',
    models: { kind: 'bind', source: '/srv/shop/models' },
    ...over,
  };
}

describe('renderSwarmStack', () => {
  it('renders a service per API with replicas, resources and the readiness healthcheck', () => {
    const stack = parse(renderSwarmStack(input()));
    expect(stack.version).to.equal('3.8');
    const iris = stack.services.iris;
    expect(iris.image).to.equal('iris:2');
    expect(iris.environment).to.deep.equal({
      MODE: 'fast',
      CORTEX_S2I_API: 'iris',
      WEB_CONCURRENCY: '2',
      THREADS: '3',
      GRACEFUL_TIMEOUT: String(GRACEFUL_TIMEOUT_SECONDS),
    });
    expect(iris.deploy.replicas).to.equal(4);
    expect(iris.deploy.resources.reservations).to.deep.equal({
      cpus: '1.5',
      memory: 512 * 2 ** 20,
      generic_resources: [{ discrete_resource_spec: { kind: 'NVIDIA-GPU', value: 2 } }],
    });
    expect(iris.deploy.resources.limits).to.deep.equal({ cpus: '1.5', memory: 512 * 2 ** 20 });
    expect(iris.healthcheck.test.join(' ')).to.include('/ready');
    expect(Number.parseInt(iris.stop_grace_period, 10)).to.be.above(GRACEFUL_TIMEOUT_SECONDS);
    expect(iris.volumes).to.deep.equal([
      { type: 'bind', source: '/srv/shop/models', target: '/action/models', read_only: true },
    ]);
    expect(stack.services.price.deploy.replicas).to.equal(1);
    expect(stack.services.price.deploy.resources.reservations).to.deep.equal({ cpus: '0.2' });
  });

  it('publishes through the ingress mesh by default, and rolls start-first within the surge', () => {
    const iris = parse(renderSwarmStack(input())).services.iris;
    expect(iris.ports).to.deep.equal([{ target: 5000, published: 5500, protocol: 'tcp', mode: 'ingress' }]);
    expect(iris.deploy.update_config).to.deep.include({
      parallelism: 2,
      order: 'start-first',
      failure_action: 'rollback',
    });
    expect(iris.deploy.placement).to.equal(undefined);
  });

  it('with host ports, publishes on each node and replaces replicas stop-first, one per node', () => {
    const iris = parse(renderSwarmStack(input({ hostPorts: true }))).services.iris;
    expect(iris.ports[0].mode).to.equal('host');
    expect(iris.deploy.update_config.order).to.equal('stop-first');
    expect(iris.deploy.placement).to.deep.equal({ max_replicas_per_node: 1 });
  });

  it('names the .env file without reading it, and leaves it out when .env is empty', () => {
    const text = renderSwarmStack(input());
    expect(parse(text).services.iris.env_file).to.deep.equal(['../.env']);
    expect(parse(renderSwarmStack(input({ envKeys: [] }))).services.iris.env_file).to.equal(undefined);
  });

  it('mounts a named models volume as external', () => {
    const stack = parse(renderSwarmStack(input({ models: { kind: 'volume', name: 'trained' } })));
    expect(stack.volumes).to.deep.equal({ models: { external: true, name: 'trained' } });
    expect(stack.services.price.volumes[0]).to.deep.include({ type: 'volume', source: 'models' });
  });

  it('converts Kubernetes quantities to what compose takes', () => {
    expect([cpus('200m'), cpus('1'), cpus('0.5')]).to.deep.equal(['0.2', '1', '0.5']);
    expect([bytes('1Gi'), bytes('2G'), bytes('100')]).to.deep.equal([2 ** 30, 2e9, 100]);
  });
});
