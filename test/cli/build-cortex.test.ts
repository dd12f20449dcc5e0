import { expect } from 'chai';
import path from 'node:path';
import { removeTree, sampleProject, writeTree } from '../support/tree.js';
import { main } from '../../lib/cli/main.js';

async function run(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const engine = () => {
    throw new Error('the engine must not be used');
  };
  const code = await main(argv, { env: {}, output: { out: (l) => out.push(l), err: (l) => err.push(l) }, engine });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('cortex-s2i build of a Cortex project', () => {
  let root: string;
  beforeEach(async () => {
    root = await writeTree({
      'predictor.py':
        'class PythonPredictor:\n    def __init__(self, config):\n        pass\n    def predict(self, payload):\n        return 1\n',
      'tf/model.py': 'x = 1\n',
    });
  });
  afterEach(() => removeTree(root));
  const yaml = (text: string) => writeTree({ 'cortex.yaml': text }, root);

  it('reports every problem of cortex.yaml with file and line before the engine is reached', async () => {
    await yaml(
      '- name: Bad_Name\n  predictor: {path: missing.py}\n  compute: {min_replicas: 3, max_replicas: 1}\n- name: ok\n  predictor: {path: predictor.py}\n  tracker: {model_type: clustering}\n',
    );
    const r = await run(['build', root, 'daemon', 'x']);
    expect(r.code).to.equal(2);
    const file = path.join(root, 'cortex.yaml');
    for (const line of [1, 2, 3, 6]) expect(r.err).to.include(`${file}:${line}`);
    expect(r.err).to.include('nothing was built');
  });

  it('refuses a tensorflow or onnx API by name and what it needs, unless --api leaves it out', async () => {
    await yaml(
      '- name: py\n  predictor: {path: predictor.py}\n- name: tf\n  predictor: {type: tensorflow, path: tf/model.py}\n',
    );
    const refused = await run(['build', root, 'daemon', 'x']);
    expect(refused.code).to.equal(2);
    expect(refused.err)
      .to.include(`${path.join(root, 'cortex.yaml')}:3`)
      .and.include('API tf: predictor type tensorflow needs TensorFlow Serving');
    const one = await run(['build', root, 'daemon', 'x', '--api', 'py', '--dry-run']);
    expect(one.code, one.err).to.equal(0);
    expect(one.out)
      .to.include('  api            POST /py -> py (predictor.py)')
      .and.include('CORTEX_S2I_APIS')
      .and.not.include('tf/model.py');
  });

  it('builds Cortex projects with the daemon builder only, and --api only for them', async () => {
    await yaml('- name: py\n  predictor: {path: predictor.py}\n');
    const train = await run(['build', root, 'train', 'x', '--dry-run']);
    expect([train.code, train.err]).to.satisfy(
      ([c, e]: [number, string]) => c === 2 && e.includes('builds with the daemon builder'),
    );
    const model = await writeTree(sampleProject());
    try {
      const r = await run(['build', path.join(model, 'shop/churn'), 'daemon', 'x', '--api', 'py', '--dry-run']);
      expect(r.code).to.equal(2);
      expect(r.err).to.include('--api py:').and.include('has no cortex.yaml');
    } finally {
      await removeTree(model);
    }
  });
});
