import { expect } from 'chai';
import path from 'node:path';
import { parseCortexYaml, type CortexApi } from '../../config/cortex-yaml.js';
import { listProjectFiles } from '../../config/read-cortex-yaml.js';
import { readProject } from '../../config/project.js';
import { removeTree, writeTree } from '../../../test/support/tree.js';
import type { Builder } from '../builders.js';
import { APIS_ENV, APIS_FILE, planCortexBuild, selectApis, type ServedApi } from './cortex-apis.js';

const daemon: Builder = { style: 'bundled', image: 'cortex-s2i/builder-daemon:1', kind: 'daemon' };

const YAML = `- name: iris
  predictor:
    path: iris/predictor.py
    model: iris/v1
    metadata: {labels: [a, b]}
  tracker: {model_type: classification}
- kind: RealtimeAPI
  name: price
  predictor:
    type: python
    path: housing/predictor.py
    python_path: housing/lib
    config: {factor: 2}
  networking: {endpoint: /v1/price}
  monitoring: {key: price, model_type: regression}
`;

describe('planCortexBuild', () => {
  let root: string;
  let apis: CortexApi[];
  before(async () => {
    root = path.join(await writeTree({}), 'shop');
    await writeTree(
      {
        'cortex.yaml': YAML,
        '.env': 'TOKEN=secret\n',
        'setup.sh': 'apt-get install -y python3-torch\n',
        'iris/predictor.py':
          'import torch\nfrom iris.net import Net\ndef init(model_path, metadata):\n    pass\ndef predict(sample, metadata):\n    return 1\n',
        'iris/net.py': 'import torch\n',
        'iris/__pycache__/net.cpython-311.pyc': 'x',
        'housing/predictor.py': 'import numpy\nfrom pricing import price\nclass PythonPredictor:\n    pass\n',
        'housing/lib/pricing.py': 'def price(x):\n    return x\n',
        'models/iris/v1/weights.pth': 'binary',
      },
      root,
    );
    const parsed = parseCortexYaml(YAML, path.join(root, 'cortex.yaml'), await listProjectFiles(root));
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    apis = parsed.value;
  });
  after(async () => removeTree(path.dirname(root)));

  async function plan(only?: string) {
    const chosen = selectApis(apis, 'cortex.yaml', only);
    if (!chosen.ok) throw new Error(JSON.stringify(chosen.errors));
    const pythonPaths = chosen.value.flatMap((a) => (a.predictor.pythonPath ? [a.predictor.pythonPath] : []));
    const project = await readProject(root, root, { environmentText: '', pythonPaths });
    if (!project.ok) throw new Error(JSON.stringify(project.errors));
    const req = {
      project: project.value,
      image: 'shop',
      builder: daemon,
      extraEnv: [],
      revision: undefined,
      created: '2024-01-01T00:00:00.000Z',
      toolVersion: '1',
    };
    const r = planCortexBuild(req, chosen.value, apis);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return r.value;
  }
  const served = (p: Awaited<ReturnType<typeof plan>>): ServedApi[] =>
    JSON.parse(p.source.find((f) => f.name === `src${APIS_FILE}`)!.content!.toString());

  it('sends the predictors and their code, never cortex.yaml, .env, bytecode or the models', async () => {
    const p = await plan();
    expect(p.source.map((f) => f.name)).to.deep.equal([
      'src/opt/program/cortex-apis.json',
      'src/opt/program/shop/housing/lib/pricing.py',
      'src/opt/program/shop/housing/predictor.py',
      'src/opt/program/shop/iris/net.py',
      'src/opt/program/shop/iris/predictor.py',
      'src/opt/program/shop/setup.sh',
    ]);
    expect(p.dependencies.setupScript?.name).to.equal('deps/setup.sh');
    expect(p.importCheck.strict).to.deep.equal(['numpy', 'torch']);
    expect(p.env.find((e) => e.key === APIS_ENV)?.value).to.equal(APIS_FILE);
    expect(p.pythonPath[0]).to.equal('/opt/program/shop/housing/lib');
    expect(JSON.stringify(p.env)).to.not.include('secret');
  });

  it('lists each API for the runtime with its route, file, config as given, model and monitoring', async () => {
    expect(served(await plan())).to.deep.equal([
      {
        name: 'iris',
        route: 'iris',
        predictor: '/opt/program/shop/iris/predictor.py',
        python_path: null,
        config: { labels: ['a', 'b'] },
        model: 'iris/v1',
        monitoring: { key: null, model_type: 'classification' },
      },
      {
        name: 'price',
        route: 'v1/price',
        predictor: '/opt/program/shop/housing/predictor.py',
        python_path: '/opt/program/shop/housing/lib',
        config: { factor: 2 },
        model: null,
        monitoring: { key: 'price', model_type: 'regression' },
      },
    ]);
  });

  it("--api builds one API and leaves the other predictors' folders out", async () => {
    const p = await plan('price');
    expect(served(p).map((a) => a.name)).to.deep.equal(['price']);
    expect(p.source.some((f) => f.name.includes('/iris/'))).to.equal(false);
    expect(p.leftOut).to.deep.include({ path: 'iris', why: 'other API' });
    expect(p.importCheck.strict).to.deep.equal(['numpy']);
  });
});

describe('selectApis', () => {
  const api = (name: string, type: 'python' | 'tensorflow' | 'onnx', model?: string) =>
    ({ name, line: 3, endpoint: `/${name}`, predictor: { type, path: 'p.py', model } }) as unknown as CortexApi;

  it('refuses tensorflow and onnx predictors, naming what they need, before anything is built', () => {
    const r = selectApis([api('tf', 'tensorflow'), api('ox', 'onnx'), api('py', 'python')], 'cortex.yaml');
    expect(r.ok).to.equal(false);
    if (r.ok) return;
    expect(r.errors.map((e) => [e.line, e.message])).to.deep.equal([
      [
        3,
        'API tf: predictor type tensorflow needs TensorFlow Serving (tensorflow_model_server) and the tensorflow package, which the images do not carry; it is not served as anything else',
      ],
      [
        3,
        'API ox: predictor type onnx needs the onnxruntime package, which the images do not carry; it is not served as anything else',
      ],
    ]);
    const one = selectApis([api('tf', 'tensorflow'), api('py', 'python')], 'cortex.yaml', 'py');
    expect(one.ok && one.value.map((a) => a.name)).to.deep.equal(['py']);
  });

  it('refuses an endpoint that the server answers itself', () => {
    const r = selectApis([{ ...api('py', 'python'), endpoint: '/metrics' }], 'cortex.yaml');
    expect(!r.ok && r.errors[0]!.message).to.equal("API py: endpoint /metrics is the server's own GET /metrics");
  });

  it('refuses an unknown --api and a model outside the mounted models', () => {
    const unknown = selectApis([api('py', 'python')], 'cortex.yaml', 'nope');
    expect(!unknown.ok && unknown.errors[0]!.message).to.equal('--api nope: cortex.yaml has no API of that name');
    const remote = selectApis([api('py', 'python', 's3://bucket/model')], 'cortex.yaml');
    expect(!remote.ok && remote.errors[0]!.message).to.include('is not a folder under the mounted models');
  });
});
