import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { chmod, lstat, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ExitCode } from '../../lib/errors.js';
import { removeTree, writeTree, type Tree } from '../support/tree.js';
import { main } from '../../lib/cli/main.js';

async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, {
    env: {},
    output: { out: (l) => out.push(l), err: (l) => err.push(l) },
    engine: () => {
      throw new Error('no engine');
    },
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

function model(name: string, route: string, extra: Tree = {}): Tree {
  return {
    [`shop/${name}/.s2i/environment`]: `ROUTES=${route}:shop.${name}.predict:predict\n`,
    [`shop/${name}/predict.py`]: 'import features\n\ndef predict(msg):\n    return features.NAME\n',
    [`shop/${name}/features.py`]: `NAME = ${JSON.stringify(name)}\n`,
    [`shop/${name}/requirements_predict.txt`]: 'numpy>=1.21\n',
    [`shop/${name}/test/test_instances.json`]: '{}\n',
    ...extra,
  };
}

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out[path.relative(dir, p)] = await readFile(p, 'utf8');
    }
  };
  await walk(dir).catch(() => undefined);
  return out;
}

describe('cortex-s2i all', function () {
  // Each run asks git and python3, which a loaded machine starts slowly.
  this.timeout(60_000);
  let root: string;
  let project: string;
  beforeEach(async () => {
    root = await writeTree({
      'shop/data/sales.csv': 'a,b\n1,2\n',
      ...model('churn', 'churn/predict', { 'shop/churn/setup.sh': '#!/bin/sh\napt-get install -y libgomp1\n' }),
      ...model('upsell', 'upsell/v1/predict', {
        'shop/upsell/setup.sh': '#!/bin/sh\r\napt-get install -y libgomp1\r\n',
      }),
      ...model('ranker', 'ranker/predict', { 'shop/ranker/requirements_predict.txt': 'numpy>=1.22,<2\npandas\n' }),
    });
    project = path.join(root, 'shop');
  });
  afterEach(() => removeTree(root));

  it('writes all/ with every route, a loader per route, merged requirements and one copy of a shared setup step', async () => {
    const r = await run('all', project);
    expect(r.code, r.err).to.equal(0);
    const files = await snapshot(path.join(project, 'all'));
    expect(Object.keys(files).sort()).to.deep.equal([
      '.s2i/environment',
      'Makefile',
      'predict.py',
      'requirements.txt',
      'setup.sh',
    ]);
    expect(files['.s2i/environment']).to.contain(
      'ROUTES=churn/predict:predict:route_churn_predict,ranker/predict:predict:route_ranker_predict,upsell/v1/predict:predict:route_upsell_v1_predict\nCORTEX_S2I_MODELS=churn,ranker,upsell\n',
    );
    expect(files['predict.py']).to.contain(
      'route_upsell_v1_predict = load_model_route(\n    os.path.join(PROJECT, "upsell"),\n    "upsell/v1/predict",\n    "shop.upsell.predict",\n    "predict",\n)',
    );
    expect(files['requirements.txt']).to.contain('numpy>=1.21,>=1.22,<2  # churn, ranker, upsell\npandas  # ranker\n');
    expect(files['setup.sh']!.match(/apt-get install -y libgomp1/g)).to.have.length(1);
    expect(files['setup.sh']).to.contain('---> setup.sh of churn, upsell');
    expect(files['Makefile']).to.contain('TESTS = churn:churn/predict ranker:ranker/predict upsell:upsell/v1/predict');
    expect((await stat(path.join(project, 'all/setup.sh'))).mode & 0o111).to.not.equal(0);
    // The generated Python parses, and so does the combined shell script.
    execFileSync('python3', [
      '-c',
      'import ast,sys; ast.parse(open(sys.argv[1]).read())',
      path.join(project, 'all/predict.py'),
    ]);
    execFileSync('sh', ['-n', path.join(project, 'all/setup.sh')]);
  });

  it('is deterministic: a second run leaves every byte as it was', async () => {
    await run('all', project);
    const first = await snapshot(path.join(project, 'all'));
    const again = await run('all', project);
    expect(again.out).to.match(/unchanged all\/predict.py/);
    expect(await snapshot(path.join(project, 'all'))).to.deep.equal(first);
  });

  it('serves only the models --models names', async () => {
    await run('all', project, '--models', 'upsell,churn');
    const env = await readFile(path.join(project, 'all/.s2i/environment'), 'utf8');
    expect(env).to.contain('CORTEX_S2I_MODELS=upsell,churn').and.not.contain('ranker');
  });

  for (const [what, line, expected] of [
    ['a statement smuggled into a module name', 'ROUTES=churn/predict:os; import x:predict', 'not a Python identifier'],
    ['a keyword as the function', 'ROUTES=churn/predict:predict:lambda', 'is a Python keyword'],
    ['a route with a quote', 'ROUTES=churn/pre"dict:predict:predict', 'must be path segments'],
  ] as const) {
    it(`refuses ${what} with the file and line, and writes nothing`, async () => {
      await writeFile(path.join(project, 'churn/.s2i/environment'), `# churn\n${line}\n`);
      const r = await run('all', project);
      expect(r.code).to.equal(ExitCode.badInput);
      expect(r.err).to.contain('churn/.s2i/environment:2').and.contain(expected);
      expect(await snapshot(path.join(project, 'all'))).to.deep.equal({});
    });
  }

  it('refuses two models claiming one route, naming both', async () => {
    await writeFile(
      path.join(project, 'ranker/.s2i/environment'),
      'ROUTES=churn/predict:shop.ranker.predict:predict\n',
    );
    const r = await run('all', project);
    expect(r.code).to.equal(ExitCode.badInput);
    expect(r.err).to.match(
      /ranker\/\.s2i\/environment:1: route churn\/predict is claimed by both churn \(.*churn\/\.s2i\/environment:1\) and ranker/,
    );
    expect(await snapshot(path.join(project, 'all'))).to.deep.equal({});
  });

  it('refuses conflicting pins, naming both models and lines, and writes nothing', async () => {
    await writeFile(path.join(project, 'churn/requirements_predict.txt'), 'scikit-learn==1.2\n');
    await writeFile(path.join(project, 'upsell/requirements_predict.txt'), 'numpy\nscikit-learn==1.3\n');
    const r = await run('all', project);
    expect(r.code).to.equal(ExitCode.badInput);
    expect(r.err)
      .to.contain('churn and upsell need scikit-learn')
      .and.contain('churn/requirements_predict.txt:1')
      .and.contain('upsell/requirements_predict.txt:2');
    expect(await snapshot(path.join(project, 'all'))).to.deep.equal({});
  });

  it('removes a setup.sh it wrote once no model has one', async () => {
    await run('all', project);
    await rm(path.join(project, 'churn/setup.sh'));
    await rm(path.join(project, 'upsell/setup.sh'));
    const r = await run('all', project);
    expect(r.out).to.contain('removed all/setup.sh');
    expect(Object.keys(await snapshot(path.join(project, 'all')))).not.to.include('setup.sh');
  });

  it('keeps hand-written all/ files, naming them; --force replaces only the Makefile and .s2i/environment', async () => {
    const mine = {
      'shop/all/Makefile': 'train-all:\n\techo mine\n',
      'shop/all/.s2i/environment': 'ROUTES=x:predict:x\n',
      'shop/all/predict.py': '# mine\n',
    };
    await writeTree(mine, root);
    const r = await run('all', project);
    expect(r.code, r.err).to.equal(0);
    expect(r.out)
      .to.contain('kept all/Makefile: written by hand')
      .and.contain('kept all/.s2i/environment')
      .and.contain('kept all/predict.py')
      .and.contain('wrote all/requirements.txt');
    expect(r.err).to.contain('kept all/.s2i/environment, all/predict.py, all/Makefile');
    for (const [rel, content] of Object.entries(mine))
      expect(await readFile(path.join(root, rel), 'utf8'), rel).to.equal(content);
    const forced = await run('all', project, '--force');
    expect(forced.code, forced.err).to.equal(0);
    expect(forced.out)
      .to.contain('replaced all/Makefile')
      .and.contain('replaced all/.s2i/environment')
      .and.contain('kept all/predict.py');
    expect(await readFile(path.join(project, 'all/Makefile'), 'utf8')).to.contain('Generated by `cortex-s2i all`');
    expect(await readFile(path.join(project, 'all/predict.py'), 'utf8')).to.equal('# mine\n');
  });

  it('trains every model in make train-all: through its generated Makefile, or directly without one', async () => {
    expect((await run('init', path.join(project, 'churn'), '--dataset', 'data/sales.csv')).code).to.equal(0);
    await writeFile(path.join(project, 'upsell/Makefile'), 'build:\n\techo hand-written\n');
    expect((await run('all', project)).code).to.equal(0);
    // Stand-ins for cortex-s2i and docker that log how they were called.
    const bin = await writeTree({
      'cortex-s2i': { content: '#!/bin/sh\necho "cortex-s2i $*" >> "$CALLS"\n', mode: 0o755 },
      docker: { content: '#!/bin/sh\necho "docker $*" >> "$CALLS"\n', mode: 0o755 },
    });
    try {
      const calls = path.join(bin, 'calls.log');
      execFileSync('make', ['-C', path.join(project, 'all'), 'train-all', 'CONTAINER_PREFIX=t-'], {
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, CALLS: calls },
        stdio: 'pipe',
      });
      const log = (await readFile(calls, 'utf8')).trim().split('\n');
      expect(log.filter((l) => l.startsWith('cortex-s2i build'))).to.deep.equal([
        'cortex-s2i build . train t-churn-train',
        `cortex-s2i build ${project}/ranker train t-ranker-train`,
        `cortex-s2i build ${project}/upsell train t-upsell-train`,
      ]);
      const runs = log.filter((l) => l.startsWith('docker run'));
      expect(runs).to.have.length(3);
      expect(runs[0]).to.contain('"$ref": "data/sales.csv", "model_name": "churn"').and.contain('t-churn-train');
      expect(runs[1]).to.contain('"$ref": "data/sales.csv", "model_name": "ranker"').and.contain('t-ranker-train');
      expect(runs[2]).to.contain('"$ref": "data/sales.csv", "model_name": "upsell"').and.contain('t-upsell-train');
      expect(await readFile(path.join(project, 'upsell/Makefile'), 'utf8')).to.equal('build:\n\techo hand-written\n');
    } finally {
      await removeTree(bin);
    }
  });

  it('keeps the mode of a file it updates: a 0600 Makefile stays 0600', async () => {
    await run('all', project);
    const makefile = path.join(project, 'all/Makefile');
    await writeFile(makefile, (await readFile(makefile, 'utf8')) + '# old\n');
    await chmod(makefile, 0o600);
    const r = await run('all', project);
    expect(r.out).to.contain('updated all/Makefile');
    expect((await stat(makefile)).mode & 0o777).to.equal(0o600);
  });

  describe('never writes through a link', () => {
    let outside: string;
    beforeEach(async () => {
      outside = await writeTree({ Makefile: 'outside\n' });
      await mkdir(path.join(project, 'all'), { recursive: true });
    });
    afterEach(() => removeTree(outside));

    it('refuses all/Makefile linked to a file outside the project, with --force too', async () => {
      await symlink(path.join(outside, 'Makefile'), path.join(project, 'all/Makefile'));
      for (const args of [[], ['--force']]) {
        const r = await run('all', project, ...args);
        expect(r.code).to.equal(ExitCode.badInput);
        expect(r.err).to.contain('all/Makefile is a symbolic link').and.contain(path.join(outside, 'Makefile'));
        expect(await readFile(path.join(outside, 'Makefile'), 'utf8')).to.equal('outside\n');
        expect((await lstat(path.join(project, 'all/Makefile'))).isSymbolicLink()).to.equal(true);
      }
    });

    it('refuses a dangling link and creates nothing outside', async () => {
      await symlink(path.join(outside, 'new/.s2i-env'), path.join(project, 'all/predict.py'));
      const r = await run('all', project, '--force');
      expect(r.code).to.equal(ExitCode.badInput);
      expect(r.err).to.contain('all/predict.py is a symbolic link');
      expect(await readdir(outside)).to.deep.equal(['Makefile']);
    });

    it('refuses a linked folder on the way, naming it, and writes nothing into it', async () => {
      await rm(path.join(project, 'all'), { recursive: true });
      await mkdir(path.join(outside, 'elsewhere'));
      await symlink(path.join(outside, 'elsewhere'), path.join(project, 'all'));
      const r = await run('all', project);
      expect(r.code).to.equal(ExitCode.badInput);
      // Reading the models already refuses the link beside them, before anything is written.
      expect(r.err).to.match(/all is a symbolic link|the link all -> .* leaves the project/);
      expect(await readdir(path.join(outside, 'elsewhere'))).to.deep.equal([]);
    });

    it('refuses a linked .s2i folder inside all/', async () => {
      await mkdir(path.join(outside, 's2i'));
      await symlink(path.join(outside, 's2i'), path.join(project, 'all/.s2i'));
      const r = await run('all', project);
      expect(r.code).to.equal(ExitCode.badInput);
      expect(r.err).to.contain('all/.s2i is a symbolic link');
      expect(await readdir(path.join(outside, 's2i'))).to.deep.equal([]);
    });
  });
});

describe('cortex-s2i init', function () {
  this.timeout(60_000);
  let root: string;
  beforeEach(async () => {
    root = await writeTree({
      'shop/data/sales.csv': 'region,amount,label\neu,3,yes\nus,1,no\neu,5,yes\n',
      'shop/.env': 'A=1\n',
    });
  });
  afterEach(() => removeTree(root));

  it('writes a Makefile and a skeleton that trains and predicts as it is', async () => {
    const r = await run('init', path.join(root, 'shop/salesModel'));
    expect(r.code, r.err).to.equal(0);
    const files = await snapshot(path.join(root, 'shop/salesModel'));
    expect(Object.keys(files).sort()).to.deep.equal([
      '.s2i/environment',
      'Makefile',
      'predict.py',
      'requirements_predict.txt',
      'requirements_train.txt',
      'test/test_instances.json',
      'train.py',
    ]);
    expect(files['Makefile'])
      .to.contain('MODEL_NAME = sales_model\nDATASET_NAME = sales.csv\n')
      .and.contain('CONTAINER_NAME = $(CONTAINER_PREFIX)sales-model');
    // The skeleton runs: train on the project's data, then predict the test instances.
    const out = execFileSync(
      'python3',
      [
        '-c',
        [
          'import json, os, sys',
          'sys.path.insert(0, "salesModel")',
          'os.makedirs("models", exist_ok=True)',
          'import train, predict',
          'print(json.dumps(train.train({"payload": {"$ref": "data/sales.csv", "model_name": "sales_model"}})))',
          'print(json.dumps(predict.predict(json.load(open("salesModel/test/test_instances.json")))))',
        ].join('\n'),
      ],
      { cwd: path.join(root, 'shop') },
    ).toString();
    expect(out.trim().split('\n')).to.deep.equal([
      '{"model_name": "sales_model", "rows": 3, "prediction": "yes"}',
      '{"predictions": ["yes"]}',
    ]);
  });

  it('keeps a hand-written Makefile unless --force, and never replaces model code, even with --force', async () => {
    const mine = {
      'shop/m/predict.py': '# mine\n',
      'shop/m/train.py': '# my train\n',
      'shop/m/test/test_instances.json': '{"mine": 1}\n',
      'shop/m/.s2i/environment': 'ROUTES=scorer/predict:predict:predict\n',
    };
    await writeTree({ ...mine, 'shop/m/Makefile': 'build:\n\techo mine\n' }, root);
    const r = await run('init', path.join(root, 'shop/m'), '--dataset', 'sales.csv');
    expect(r.code, r.err).to.equal(0);
    expect(r.out)
      .to.contain('kept .s2i/environment, train.py, predict.py,')
      .and.contain("test/test_instances.json (the model's own")
      .and.contain('kept Makefile: written by hand');
    expect(await readFile(path.join(root, 'shop/m/Makefile'), 'utf8')).to.equal('build:\n\techo mine\n');
    // The next steps are those of the Makefile that is there, not of the one that was not written.
    expect(r.out).not.to.contain('make build-train');
    expect(r.out).to.contain('see its own targets: build');
    const forced = await run('init', path.join(root, 'shop/m'), '--force');
    expect(forced.code, forced.err).to.equal(0);
    expect(forced.out)
      .to.contain('replaced Makefile')
      .and.contain('make build-train train build-predict predict test-endpoint stop');
    // The model's first route names it.
    expect(await readFile(path.join(root, 'shop/m/Makefile'), 'utf8')).to.contain('MODEL_NAME = scorer');
    for (const [rel, content] of Object.entries(mine))
      expect(await readFile(path.join(root, rel), 'utf8'), rel).to.equal(content);
  });

  it('updates a Makefile it generated without --force, keeping its mode', async () => {
    const dir = path.join(root, 'shop/m');
    expect((await run('init', dir, '--dataset', 'sales.csv')).code).to.equal(0);
    await chmod(path.join(dir, 'Makefile'), 0o600);
    const r = await run('init', dir, '--dataset', 'other.csv');
    expect(r.out).to.contain('updated Makefile');
    expect(await readFile(path.join(dir, 'Makefile'), 'utf8')).to.contain('DATASET_NAME = other.csv');
    expect((await stat(path.join(dir, 'Makefile'))).mode & 0o777).to.equal(0o600);
  });

  it('takes --dataset data/x.csv and x.csv as the same file', async () => {
    await run('init', path.join(root, 'shop/a'), '--dataset', 'data/sales.csv');
    await run('init', path.join(root, 'shop/b'), '--dataset', 'sales.csv', '--model-name', 'a', '--container', 'a');
    const a = await readFile(path.join(root, 'shop/a/Makefile'), 'utf8');
    expect(a).to.contain('DATASET_NAME = sales.csv\n');
    expect(a).to.equal(await readFile(path.join(root, 'shop/b/Makefile'), 'utf8'));
  });

  it('writes no skeleton requirements beside a requirements.txt', async () => {
    await writeTree({ 'shop/m/requirements.txt': 'numpy\n' }, root);
    await run('init', path.join(root, 'shop/m'));
    const files = Object.keys(await snapshot(path.join(root, 'shop/m')));
    expect(files)
      .to.include('Makefile')
      .and.not.include('requirements_train.txt')
      .and.not.include('requirements_predict.txt');
  });

  it('refuses to write through a link to a file outside the project, and leaves that file alone', async () => {
    const outside = await writeTree({ 'secret.txt': 'outside\n' });
    try {
      await mkdir(path.join(root, 'shop/m'), { recursive: true });
      await symlink(path.join(outside, 'secret.txt'), path.join(root, 'shop/m/Makefile'));
      const r = await run('init', path.join(root, 'shop/m'), '--force');
      expect(r.code).to.equal(ExitCode.badInput);
      expect(r.err).to.contain('Makefile is a symbolic link').and.contain(path.join(outside, 'secret.txt'));
      expect(await readFile(path.join(outside, 'secret.txt'), 'utf8')).to.equal('outside\n');
    } finally {
      await removeTree(outside);
    }
  });
  it('refuses names that would break the Makefile', async () => {
    const r = await run('init', path.join(root, 'shop/m'), '--container', 'Bad Name;rm');
    expect(r.code).to.equal(ExitCode.badInput);
  });
});
