import { expect } from 'chai';
import { resolveInMemory, type MemoryTree } from '../../test/support/snapshot.js';
import type { ProjectSource } from './layout.js';

/** A real project's shape: a package, use cases holding model folders, ancestor imports, data and models everywhere. */
function nested(overrides: MemoryTree = {}): MemoryTree {
  return {
    'repo/README.md': '# the repository\n',
    'repo/tools/lint.py': 'import os\n',
    'repo/scoring/__init__.py': '',
    'repo/scoring/.env': 'STORE_TOKEN=do-not-bake\n',
    'repo/scoring/utils/__init__.py': '',
    'repo/scoring/utils/store.py': 'import pickle\nfrom scoring.utils import paths\n',
    'repo/scoring/utils/paths.py': 'import os\n',
    'repo/scoring/models/big.pkl': 'binary',
    'repo/scoring/data/raw.csv': 'a,b\n',
    'repo/scoring/docs/guide.md': '# guide\n',
    'repo/scoring/insurance/__init__.py': '',
    'repo/scoring/insurance/common_utils/__init__.py': '',
    'repo/scoring/insurance/common_utils/encode.py': 'import numpy as np\n',
    'repo/scoring/insurance/data/claims.csv': 'x\n',
    'repo/scoring/insurance/models/rf.pkl': 'binary',
    'repo/scoring/insurance/all/Makefile': '# hand-written\n',
    'repo/scoring/insurance/randomForest/.s2i/environment':
      'ROUTES=insurance/rf:scoring.insurance.randomForest.predict:predict\nTRAIN_MODULE=scoring.insurance.randomForest.train\nTRAIN_FUNCTION=train\n',
    'repo/scoring/insurance/randomForest/predict.py':
      'from scoring.utils.store import load\nfrom scoring.insurance.common_utils.encode import encode\nimport sklearn\ntry:\n    import ujson\nexcept ImportError:\n    ujson = None\n',
    'repo/scoring/insurance/randomForest/train.py': 'import common_utils.encode\n',
    'repo/scoring/insurance/randomForest/requirements.txt': 'scikit-learn\n',
    'repo/scoring/insurance/randomForest/data/local.csv': 'y\n',
    'repo/scoring/insurance/xgBoost/.s2i/environment':
      'ROUTES=insurance/xgb:scoring.insurance.xgBoost.predict:predict\n',
    'repo/scoring/insurance/xgBoost/predict.py': 'def predict(x):\n    return x\n',
    'repo/scoring/churn/common_utils/helpers.py': '',
    'repo/scoring/churn/lr/.s2i/environment': 'ROUTES=churn/lr:scoring.churn.lr.predict:predict\n',
    'repo/scoring/churn/lr/predict.py': '',
    ...overrides,
  };
}

function must(r: ReturnType<typeof resolveInMemory>): ProjectSource {
  if (!r.ok) throw new Error(JSON.stringify(r.errors, null, 2));
  return r.value;
}

function errorsOf(r: ReturnType<typeof resolveInMemory>): string[] {
  if (r.ok) throw new Error('expected problems');
  return r.errors.map((e) => `${e.file.replace('/mem/', '')}${e.line ? `:${e.line}` : ''}: ${e.message}`);
}

const MODEL = 'repo/scoring/insurance/randomForest';

describe('resolveProject', () => {
  it('roots a nested model at the package its code imports, with the shared code of every level on the way', () => {
    const p = must(resolveInMemory(nested(), MODEL));
    expect(p.root).to.equal('/mem/repo/scoring');
    expect(p.why).to.equal(
      'ROUTES in insurance/randomForest/.s2i/environment:1 imports scoring.insurance.randomForest.predict',
    );
    expect(p.importRoots).to.deep.equal(['scoring/insurance/randomForest', 'scoring/insurance', 'scoring', '']);
    const files = [...p.modelFiles, ...p.rootFiles, ...p.sharedFolders.flatMap((s) => s.files)]
      .map((f) => f.path)
      .sort();
    expect(files).to.deep.equal([
      '__init__.py',
      'insurance/__init__.py',
      'insurance/common_utils/__init__.py',
      'insurance/common_utils/encode.py',
      'insurance/randomForest/predict.py',
      'insurance/randomForest/requirements.txt',
      'insurance/randomForest/train.py',
      'utils/__init__.py',
      'utils/paths.py',
      'utils/store.py',
    ]);
    expect(p.leftOut.map((l) => `${l.path} (${l.why})`)).to.deep.equal([
      'churn (use case)',
      'data (data)',
      'docs (no Python code)',
      'insurance/all (no Python code)',
      'insurance/data (data)',
      'insurance/models (trained models)',
      'insurance/randomForest/data (data)',
      'insurance/xgBoost (other model)',
      'models (trained models)',
    ]);
    expect(p.modelsLinks).to.deep.equal(['insurance/models', 'models']);
    expect(p.dotenv?.keys).to.deep.equal(['STORE_TOKEN']);
  });

  it('names what the image must provide: the model code strictly, shared code leniently, optional imports not at all', () => {
    const p = must(resolveInMemory(nested(), MODEL));
    expect(
      p.externalImports
        .map((i) => `${i.name} ${i.strict ? 'strict' : 'lenient'} ${i.file.replace('/mem/', '')}:${i.line}`)
        .sort(),
    ).to.deep.equal([
      'numpy lenient repo/scoring/insurance/common_utils/encode.py:1',
      'sklearn strict repo/scoring/insurance/randomForest/predict.py:3',
    ]);
  });

  it('refuses an import of a project module that does not exist, with file and line', () => {
    const r = resolveInMemory(
      nested({ 'repo/scoring/insurance/randomForest/predict.py': 'import os\nfrom scoring.utils.nope import load\n' }),
      MODEL,
    );
    expect(errorsOf(r)).to.deep.equal([
      'repo/scoring/insurance/randomForest/predict.py:2: imports scoring.utils.nope, which is not in the image: no scoring/utils/nope.py or scoring/utils/nope/ exists there',
    ]);
  });

  it('refuses an import of another use case, saying why it is not in the image', () => {
    const r = resolveInMemory(
      nested({ 'repo/scoring/insurance/randomForest/predict.py': 'from scoring.churn.common_utils import helpers\n' }),
      MODEL,
    );
    expect(errorsOf(r)[0]).to.match(
      /predict\.py:1: imports scoring\.churn\.common_utils, which is not in the image: .*churn\/, another use case/,
    );
  });

  it('keeps a lone model beside data/ and unrelated code alone', () => {
    const r = must(
      resolveInMemory(
        {
          'home/mymodel/.s2i/environment': 'ROUTES=m/predict:predict:predict\n',
          'home/mymodel/predict.py': 'import json\ndef predict(x):\n    return x\n',
          'home/data/train.csv': 'x\n',
          'home/.env': 'AWS_SECRET=x\n',
          'home/scripts/aws_creds.py': 'KEY = "secret"\n',
        },
        'home/mymodel',
      ),
    );
    expect(r.standalone).to.equal(true);
    expect(r.root).to.equal('/mem/home/mymodel');
    expect(
      [...r.modelFiles, ...r.rootFiles, ...r.sharedFolders.flatMap((s) => s.files)].map((f) => f.path),
    ).to.deep.equal(['predict.py']);
  });

  it('takes in the folder beside the model that a bare import names', () => {
    const p = must(
      resolveInMemory(
        {
          'proj/common_utils/__init__.py': '',
          'proj/other/helper.py': '',
          'proj/m/.s2i/environment': 'ROUTES=m/predict:predict:predict\n',
          'proj/m/predict.py': 'from common_utils import x\n',
        },
        'proj/m',
      ),
    );
    expect(p.root).to.equal('/mem/proj');
    expect(p.sharedFolders.map((s) => s.name)).to.deep.equal(['common_utils', 'other']);
  });

  it('keeps links that stay inside what is sent and refuses every other link by name', () => {
    const ok = must(
      resolveInMemory(
        nested({ 'repo/scoring/insurance/randomForest/store.py': { link: '../../utils/store.py' } }),
        MODEL,
      ),
    );
    expect(ok.links).to.deep.equal([{ path: 'insurance/randomForest/store.py', target: '../../utils/store.py' }]);
    const bad = errorsOf(
      resolveInMemory(
        nested({
          'repo/scoring/insurance/randomForest/settings.txt': { link: '../../.env' },
          'repo/scoring/insurance/randomForest/key.pem': { link: '../../../../outside/key.pem' },
          'repo/scoring/insurance/randomForest/gone.py': { link: 'nowhere.py' },
          'repo/scoring/insurance/randomForest/weights': { link: '../models' },
          'outside/key.pem': 'PRIVATE',
        }),
        MODEL,
      ),
    );
    expect(bad).to.have.length(4);
    expect(bad.join('\n'))
      .to.contain('settings.txt -> ../../.env ends at .env, which is not sent')
      .and.contain('key.pem -> ../../../../outside/key.pem leaves the project')
      .and.contain('gone.py -> nowhere.py points at nothing')
      .and.contain('weights -> ../models ends at insurance/models, which is not sent');
  });

  it('refuses modules and packages that would shadow the standard library, and colons in import roots', () => {
    const r = errorsOf(
      resolveInMemory(
        nested({
          'repo/scoring/insurance/randomForest/json.py': '',
          'repo/scoring/insurance/common_utils/logging.py': '',
          'repo/scoring/email/__init__.py': '',
        }),
        MODEL,
      ),
    );
    expect(r.join('\n'))
      .to.contain("json.py would be imported in place of Python's own json")
      .and.contain('the package email/ would be imported');
    expect(r.join('\n')).not.to.contain('logging');
    const colon = errorsOf(
      resolveInMemory(
        {
          'a:b/m/.s2i/environment': 'ROUTES=r:a_b.m.predict:p\n',
          'a:b/m/predict.py': 'import common\n',
          'a:b/common.py': '',
        },
        'a:b/m',
      ),
    );
    expect(colon.join('\n')).to.contain("contains ':', which cannot be part of PYTHONPATH");
  });

  it('reads ROUTES given with -e like those of .s2i/environment', () => {
    const p = must(
      resolveInMemory(nested(), MODEL, {
        extraEnv: [{ key: 'ROUTES', value: 'other/path:scoring.insurance.randomForest.predict:predict' }],
      }),
    );
    expect(p.entryPoints.routes.map((r) => r.path)).to.deep.equal(['other/path']);
  });

  it('warns about special files and leaves them out', () => {
    const p = must(resolveInMemory(nested({ 'repo/scoring/insurance/randomForest/fifo': { special: true } }), MODEL));
    expect(p.warnings.map((w) => w.message)).to.include(
      'skipped: not a regular file, folder or link (a socket, pipe or device)',
    );
  });

  it('uses the root --project names, and refuses a model outside it', () => {
    const p = must(resolveInMemory(nested(), MODEL, { projectDir: 'repo' }));
    expect(p.root).to.equal('/mem/repo');
    expect(p.sharedFolders.map((s) => s.name)).to.deep.equal([
      'scoring/insurance/common_utils',
      'scoring/utils',
      'tools',
    ]);
    expect(errorsOf(resolveInMemory(nested(), MODEL, { projectDir: 'repo/scoring/churn' }))[0]).to.contain(
      'is not inside the project',
    );
  });
  it('takes the models an all/ folder names from beside it, and the root their code imports', () => {
    const p = must(
      resolveInMemory(
        nested({
          'repo/scoring/insurance/all/.s2i/environment':
            'ROUTES=insurance/rf:predict:route_rf\nCORTEX_S2I_MODELS=randomForest\n',
          'repo/scoring/insurance/all/predict.py':
            'import os\nfrom cortex_s2i_runtime.isolation import load_model_route\n',
        }),
        'repo/scoring/insurance/all',
      ),
    );
    expect(p.root).to.equal('/mem/repo/scoring');
    expect(p.includedModels.map((m) => m.name)).to.deep.equal(['insurance/randomForest']);
    expect(p.leftOut.map((l) => l.path)).to.include('insurance/xgBoost');
  });
});
