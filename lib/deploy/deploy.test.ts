import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { removeTree, writeTree } from '../../test/support/tree.js';
import type { DockerCli } from '../engine/docker-cli.js';
import { CortexError, ExitCode } from '../errors.js';
import { deploy, type DeployRequest } from './deploy.js';

const CORTEX_YAML = [
  '- name: iris',
  '  kind: RealtimeAPI',
  '  predictor: {path: iris/predictor.py}',
  '  autoscaling: {min_replicas: 2, max_replicas: 4}',
  '- name: price',
  '  predictor: {path: price.py}',
].join('\n');

/** A docker command line that answers like a one-node swarm, recording each call. */
class FakeDocker {
  calls: string[][] = [];
  stackFile = '';
  swarm = 'active';
  services = new Map<string, string>(); // name -> image
  foreign: string[] = [];
  digests: Record<string, string[]> = {};
  lingering = 0;
  nodes = ['Ready Active', 'Ready Active', 'Down Active', 'Ready Drain'];
  readonly run = async (args: string[]): Promise<string> => {
    this.calls.push(args);
    const [a, b] = args;
    if (a === 'info') return `${this.swarm}\n`;
    if (a === 'stack' && b === 'deploy') {
      this.stackFile = await readFile(args[args.length - 2]!, 'utf8');
      const stack = args[args.length - 1]!;
      for (const [name, svc] of Object.entries(parse(this.stackFile).services as Record<string, { image: string }>))
        this.services.set(`${stack}_${name}`, svc.image);
      return '';
    }
    if (a === 'service' && b === 'inspect') return '\n';
    if (a === 'service' && b === 'ps')
      return `Running\tRunning 2 seconds ago\t${this.services.get(args[2]!)}\nShutdown\tShutdown 1 minute ago\told:1\n`.repeat(
        2,
      );
    if (a === 'service' && b === 'ls') {
      const filter = args[args.indexOf('--filter') + 1]!;
      const names = [
        ...this.services.keys(),
        ...(filter.startsWith('label=com.docker.stack.namespace') ? this.foreign : []),
      ];
      return names.join('\n');
    }
    if (a === 'stack' && b === 'rm') {
      this.services.clear();
      return '';
    }
    if (a === 'ps') {
      // Containers of removed services linger a moment after stack rm.
      return this.lingering-- > 0 ? 'c0ffee\n' : '';
    }
    if (a === 'node' && b === 'ls') return `${this.nodes.join('\n')}\n`;
    if (a === 'image' && b === 'inspect') {
      const digests = this.digests[args[args.length - 1]!];
      if (digests === undefined) throw new CortexError('No such image', { exitCode: ExitCode.buildFailed });
      return `${JSON.stringify(digests)}\n`;
    }
    throw new Error(`unexpected docker ${args.join(' ')}`);
  };
}

/** A Swarm deployment of `project`, as the command line reads `deploy <project> --target swarm`. */
function swarm(project: string, overrides: Partial<DeployRequest> = {}): DeployRequest {
  return {
    project,
    target: 'swarm',
    images: {},
    out: undefined,
    firstPort: 8000,
    hostPorts: false,
    modelsVolume: undefined,
    timeoutSeconds: 300,
    delete: false,
    ...overrides,
  };
}

/** Deploys with `docker`, its lines into `out`; resolves with 0 as the command exits. */
async function deployWith(request: DeployRequest, out: string[], docker: DockerCli, signal?: AbortSignal) {
  await deploy(request, {
    docker,
    now: () => new Date(),
    signal: signal ?? new AbortController().signal,
    report: (line) => out.push(line),
  });
  return 0;
}

describe('deploying to Docker Swarm', () => {
  let root: string;
  let project: string;
  beforeEach(async () => {
    root = await writeTree({
      'shop/cortex.yaml': CORTEX_YAML,
      'shop/iris/predictor.py': 'class PythonPredictor: pass\n',
      'shop/price.py': 'def predict(sample, metadata): return 1\n',
      'shop/.env': 'DB_PASSWORD=very-secret\n',
    });
    project = path.join(root, 'shop');
  });
  afterEach(() => removeTree(root));

  it('reports every problem of cortex.yaml with file and line, and deploys nothing', async () => {
    await writeTree({ 'shop/cortex.yaml': '- name: Iris\n  predictor: {path: nope.py}\n' }, root);
    const docker = new FakeDocker();
    const out: string[] = [];
    const err = await deployWith(swarm(project), out, docker.run).catch((e: CortexError) => e);
    expect(err).to.be.instanceOf(CortexError);
    const details = (err as CortexError).details;
    expect(details).to.have.length(2);
    expect(details[0]).to.match(/cortex\.yaml:1: name "Iris" is not a DNS-1035 label/);
    expect(details[1]).to.match(/cortex\.yaml:2: predictor.path nope.py does not exist/);
    expect(docker.calls).to.deep.equal([]);
  });

  it('applies the stack on Swarm, waits for the replicas and prints where each API answers', async () => {
    const docker = new FakeDocker();
    const out: string[] = [];
    const code = await deployWith(
      swarm(project, { hostPorts: true, firstPort: 5500, images: { iris: 'iris:2' } }),
      out,
      docker.run,
    );
    expect(code).to.equal(0);
    const deploy = docker.calls.find((c) => c[0] === 'stack' && c[1] === 'deploy')!;
    expect(deploy.slice(-1)).to.deep.equal(['shop']);
    expect(deploy).to.include.members(['--prune', '--resolve-image', 'never']);
    const stack = parse(docker.stackFile);
    expect(stack.services.iris.env_file).to.deep.equal([path.join(project, '.env')]);
    expect(stack.services.iris.ports[0].mode).to.equal('host');
    expect(out).to.include(
      'iris: ready, 2 replicas; answers at http://127.0.0.1:5500/iris (port 5500 of each node running a replica)',
    );
    expect(out.join('\n')).to.not.include('very-secret');
  });

  it('pins an image pushed to a registry to its digest, and leaves local and unknown images as given', async () => {
    const docker = new FakeDocker();
    const digest = `reg.io:5000/team/iris@sha256:${'c'.repeat(64)}`;
    docker.digests = { 'reg.io:5000/team/iris:3': [`other/iris@sha256:${'d'.repeat(64)}`, digest], 'price:1': [] };
    const out: string[] = [];
    await deployWith(
      swarm(project, { images: { iris: 'reg.io:5000/team/iris:3', price: 'price:1' } }),
      out,
      docker.run,
    );
    const stack = parse(docker.stackFile);
    expect([stack.services.iris.image, stack.services.price.image]).to.deep.equal([digest, 'price:1']);
    expect(out).to.include(`iris: reg.io:5000/team/iris:3 pinned to ${digest}`);
    // A pinned image needs no registry look-up at deploy time.
    expect(docker.calls.find((c) => c[1] === 'deploy')).to.include('never');
  });

  it('with --host-ports, refuses more replicas than ready nodes before deploying anything', async () => {
    const docker = new FakeDocker();
    docker.nodes = ['Ready Active', 'Down Active'];
    const err = await deployWith(swarm(project, { hostPorts: true }), [], docker.run).catch((e: CortexError) => e);
    expect(err)
      .to.be.instanceOf(CortexError)
      .and.to.have.property('message')
      .that.match(
        /API iris asks for 2 replicas, but with --host-ports each of the swarm's 1 ready node runs at most one/,
      );
    expect(docker.calls.some((c) => c[0] === 'stack')).to.equal(false);
  });

  it('says what stays deployed when interrupted while waiting', async () => {
    const docker = new FakeDocker();
    const controller = new AbortController();
    const run = async (args: string[]) => {
      if (args[0] === 'service' && args[1] === 'ps') {
        controller.abort();
        return 'Running\tStarting 1 second ago\tiris:2\n';
      }
      return docker.run(args);
    };
    const err = await deployWith(swarm(project), [], run, controller.signal).catch((e: CortexError) => e);
    expect(err).to.be.instanceOf(CortexError).and.to.include({ exitCode: ExitCode.interrupted });
    expect((err as CortexError).message).to.match(/waiting for stack shop; what was deployed stays deployed/);
  });

  it('fails when the replicas do not become ready in time', async () => {
    const docker = new FakeDocker();
    const slow = docker.run;
    const run = async (args: string[]) =>
      args[0] === 'service' && args[1] === 'ps' ? 'Running\tStarting 3 seconds ago\tiris:2\n' : slow(args);
    const err = await deployWith(swarm(project, { timeoutSeconds: 1, images: { iris: 'iris:2' } }), [], run).catch(
      (e: CortexError) => e,
    );
    expect(err)
      .to.be.instanceOf(CortexError)
      .and.to.have.property('message')
      .that.match(/not every replica was ready within 1s/);
    expect((err as CortexError).details).to.include('shop_iris: 0/2 ready');
  });

  it('refuses to apply when the engine is not in a swarm', async () => {
    const docker = new FakeDocker();
    docker.swarm = 'inactive';
    const err = await deployWith(swarm(project), [], docker.run).catch((e: CortexError) => e);
    expect(err)
      .to.be.instanceOf(CortexError)
      .and.to.have.property('message')
      .that.match(/not part of a swarm/);
  });

  it('--delete removes its stack, and refuses a stack with services it did not deploy', async () => {
    const docker = new FakeDocker();
    docker.services.set('shop_iris', 'iris:1');
    docker.foreign = ['shop_db'];
    const err = await deployWith(swarm(project, { delete: true }), [], docker.run).catch((e: CortexError) => e);
    expect(err)
      .to.be.instanceOf(CortexError)
      .and.to.have.property('message')
      .that.match(/services cortex-s2i did not deploy: shop_db/);
    expect(docker.calls.some((c) => c[0] === 'stack' && c[1] === 'rm')).to.equal(false);
    docker.foreign = [];
    docker.lingering = 1;
    const out: string[] = [];
    expect(await deployWith(swarm(project, { delete: true }), out, docker.run)).to.equal(0);
    expect(docker.calls.filter((c) => c[0] === 'stack' && c[1] === 'rm')).to.deep.equal([['stack', 'rm', 'shop']]);
    expect(out).to.deep.equal(['removed stack shop: shop_iris']);
    // It waited until no container of the stack was left, stopped ones included.
    expect(docker.calls.filter((c) => c[0] === 'ps')).to.have.length(2);
    expect(docker.calls.find((c) => c[0] === 'ps')).to.include('-a');
  });
});
