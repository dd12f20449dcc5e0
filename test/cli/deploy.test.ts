import { expect } from 'chai';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { removeTree, writeTree } from '../support/tree.js';
import type { DeployRequest } from '../../lib/deploy/deploy.js';
import { CortexError, ExitCode } from '../../lib/errors.js';
import { main, parseCommandLine } from '../../lib/cli/main.js';

const CORTEX_YAML = [
  '- name: iris',
  '  kind: RealtimeAPI',
  '  predictor: {path: iris/predictor.py}',
  '  autoscaling: {min_replicas: 2, max_replicas: 4}',
  '- name: price',
  '  predictor: {path: price.py}',
].join('\n');

function command(argv: string[]): DeployRequest {
  return parseCommandLine(['deploy', ...argv]).args as DeployRequest;
}

async function run(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['deploy', ...argv], {
    env: {},
    output: { out: (l) => out.push(l), err: (l) => err.push(l) },
    docker: () => async (args) => {
      throw new Error(`no docker command in these tests: docker ${args.join(' ')}`);
    },
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('cortex-s2i deploy', () => {
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

  describe('arguments', () => {
    it('reads the target, images, ports and flags', () => {
      expect(
        command([
          'p',
          '--target',
          'swarm',
          '--image',
          'iris=reg.io/iris:1',
          '--image',
          `price=price@sha256:${'b'.repeat(64)}`,
          '--port',
          '5500',
          '--host-ports',
        ]),
      ).to.deep.include({
        project: 'p',
        target: 'swarm',
        images: { iris: 'reg.io/iris:1', price: `price@sha256:${'b'.repeat(64)}` },
        firstPort: 5500,
        hostPorts: true,
        delete: false,
        out: undefined,
        timeoutSeconds: 300,
      });
    });
    for (const [argv, message] of [
      [['p'], /--target must be kubernetes or swarm/],
      [['p', '--target', 'nomad'], /--target must be kubernetes or swarm/],
      [['p', '--target', 'swarm', '--image', 'iris'], /is not API=IMAGE/],
      [['p', '--target', 'swarm', '--image', 'iris=Bad Image'], /is not API=IMAGE/],
      [['p', '--target', 'swarm', '--port', '70000'], /--port must be a whole number/],
      [['p', '--target', 'kubernetes', '--delete'], /--delete removes a Swarm stack/],
      [['--target', 'swarm'], /deploy needs the project folder/],
    ] as Array<[string[], RegExp]>) {
      it(`refuses ${argv.join(' ')}`, () => {
        expect(() => command(argv)).to.throw(CortexError, message);
      });
    }
  });

  it('writes schema-valid Kubernetes manifests, printing .env names but never values', async () => {
    const out = path.join(root, 'k8s');
    const r = await run([project, '--target', 'kubernetes', '--out', out, '--image', 'iris=reg.io/iris:7']);
    expect(r.code, r.err).to.equal(0);
    expect((await readdir(out)).sort()).to.deep.equal(['api-iris.yaml', 'api-price.yaml', 'shop.yaml']);
    expect(r.out).to.include('DB_PASSWORD').and.not.include('very-secret');
    const iris = parseAllDocuments(await readFile(path.join(out, 'api-iris.yaml'), 'utf8')).map((d) => d.toJSON());
    const deployment = iris.find((m) => m.kind === 'Deployment');
    expect(() => new Deployment(deployment).validate()).to.not.throw();
    expect(deployment.spec.template.spec.containers[0].image).to.equal('reg.io/iris:7');
    const price = parseAllDocuments(await readFile(path.join(out, 'api-price.yaml'), 'utf8')).map((d) => d.toJSON());
    // The default naming rule: <project>-<api>:latest.
    expect(price.find((m) => m.kind === 'Deployment').spec.template.spec.containers[0].image).to.equal(
      'shop-price:latest',
    );
    expect(await readFile(path.join(out, 'shop.yaml'), 'utf8')).to.include(
      Buffer.from('very-secret').toString('base64'),
    );
  });

  it('refuses Kubernetes without --out: applying is kubectl apply', async () => {
    const r = await run([project, '--target', 'kubernetes']);
    expect([r.code, r.err]).to.satisfy(
      ([code, err]: [number, string]) => code === ExitCode.badInput && err.includes('give --out'),
    );
  });

  it('writes the Swarm stack file naming .env by a path relative to it', async () => {
    const out = path.join(root, 'out');
    const r = await run([project, '--target', 'swarm', '--out', out, '--port', '5500']);
    expect(r.code, r.err).to.equal(0);
    const stack = parse(await readFile(path.join(out, 'docker-stack.yml'), 'utf8'));
    expect(stack.services.iris.env_file).to.deep.equal(['../shop/.env']);
    expect(stack.services.iris.ports[0].published).to.equal(5500);
    expect(stack.services.price.ports[0].published).to.equal(5501);
    expect(JSON.stringify(stack)).to.not.include('very-secret');
  });

  it('refuses an --image for an API that cortex.yaml does not list', async () => {
    const r = await run([project, '--target', 'swarm', '--out', path.join(root, 'o'), '--image', 'irs=x:1']);
    expect(r.code).to.equal(ExitCode.badInput);
    expect(r.err).to.include('--image names irs, not APIs of cortex.yaml');
  });

  it('writes the Swarm stack file naming .env by a path relative to it', async () => {
    const out = path.join(root, 'out');
    const r = await run([project, '--target', 'swarm', '--out', out, '--port', '5500']);
    expect(r.code, r.err).to.equal(0);
    const stack = parse(await readFile(path.join(out, 'docker-stack.yml'), 'utf8'));
    expect(stack.services.iris.env_file).to.deep.equal(['../shop/.env']);
    expect(stack.services.iris.ports[0].published).to.equal(5500);
    expect(stack.services.price.ports[0].published).to.equal(5501);
    expect(JSON.stringify(stack)).to.not.include('very-secret');
  });
});
